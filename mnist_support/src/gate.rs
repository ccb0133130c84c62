//! Whether a picture holds a digit at all: the server's `digit_like` flag.
//!
//! The seven models each read *some* digit in a letter, a face or a
//! scribble, often with full confidence; their agreement flags too few of
//! them. The gate is a small convolutional network ([`params`]: the CNN's
//! kind, smaller) trained on two labels: 0 for a picture that holds no
//! digit, 1 for a digit. (It keeps the networks' ten outputs; the eight
//! others are never a target and stay near zero.) [`Gate::scores`] is the
//! probability of 1 between the two; `digit_like` is a score of at least
//! the gate's [threshold](GateCard::threshold).
//!
//! It learns from what the server's models see: every picture put through
//! the server's [`preprocess`](crate::preprocess). Digits: MNIST training
//! digits, and generated pictures of other training digits ([`Set::Train`]:
//! drawn on the pad, scanned, photographed, marker, typed and bold in the
//! *training* fonts), each also cropped close. Non-digits:
//! [`non_digits`](crate::real_inputs::non_digits) of [`Set::Train`]:
//! letters in the training fonts, shapes, faces, scribbles, cropped too.
//! A sixth of each is held out to choose the training epoch and the
//! threshold (the score that flags [`FLAG_DIGITS`] of those digits). The
//! benchmark's dev and held-out sets and MNIST's test split are never seen;
//! `mnist bench-inputs` reports the flag on them.
//!
//! Saved in its own directory, `models/gate/` (`gate.bin`, a model file of
//! the crate's format, and `card.json`, [`GateCard`]), so the model store
//! and the summary keep listing the seven models alone.

use std::path::{Path, PathBuf};

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::models::{codec, Classifier, ModelKind, NetParams, Network};
use crate::scale::{Scaler, Scaling};

/// The gate's directory inside a models directory.
pub const GATE_DIR: &str = "gate";
const MODEL_FILE: &str = "gate.bin";
const CARD_FILE: &str = "card.json";

/// The share of held-out training digits the threshold flags.
pub const FLAG_DIGITS: f64 = 0.01;

/// The gate's network: two conv stages (16, 32), 64 hidden units, the
/// networks' handwriting distortions.
pub fn params() -> NetParams {
    NetParams {
        conv: vec![vec![16], vec![32]],
        hidden: vec![64],
        dropout: 0.2,
        epochs: 6,
        batch_size: 128,
        learning_rate: 3e-3,
        weight_decay: 0.0,
        distort: crate::augment::Distort::handwriting(),
        typed: 0,
        patience: 0,
        mixed_precision: true,
        seed: 0x6a7e,
        scaling: Scaling::Unit,
    }
}

/// What a saved gate is: its network, scaler and threshold, and how it did
/// on its own held-out data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateCard {
    pub crate_version: String,
    pub hyperparameters: NetParams,
    pub scaler: Scaler,
    /// MD5 of `gate.bin`.
    pub model_md5: String,
    /// The least score of a digit.
    pub threshold: f32,
    /// Training pictures: digits, non-digits.
    pub trained_on: (usize, usize),
    /// Held-out pictures: digits, non-digits.
    pub held_out: (usize, usize),
    /// Shares of the held-out digits and non-digits the threshold flags.
    pub flagged: (f64, f64),
}

/// A loaded gate.
pub struct Gate {
    pub card: GateCard,
    net: Network,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").field("card", &self.card).finish()
    }
}

impl Gate {
    /// The probability that each row of raw pixels (n×784) holds a digit,
    /// between "no digit" and "a digit".
    pub fn scores(&self, x: ArrayView2<f32>) -> Result<Vec<f32>> {
        digit_scores(&self.net, x)
    }

    /// Whether a score is a digit's.
    pub fn digit_like(&self, score: f32) -> bool {
        score >= self.card.threshold
    }

    /// The library that runs it.
    pub fn runtime(&self) -> &'static str {
        self.net.runtime()
    }

    /// The gate saved in `models_dir` (`gate/`), or `None` when there is
    /// none; a gate that is there but unreadable is an error. The network
    /// runs on candle where it is built in, as the server's do.
    pub fn load(models_dir: &Path) -> Result<Option<Gate>> {
        if !is_saved(models_dir) {
            return Ok(None);
        }
        let dir = gate_dir(models_dir);
        let card_path = dir.join(CARD_FILE);
        let text = std::fs::read_to_string(&card_path).map_err(|e| Error::io(&card_path, e))?;
        let card: GateCard = serde_json::from_str(&text).map_err(|e| Error::Decode {
            what: card_path.display().to_string(),
            reason: e.to_string(),
        })?;
        let model_path = dir.join(MODEL_FILE);
        let file = std::fs::read(&model_path).map_err(|e| Error::io(&model_path, e))?;
        let md5 = format!("{:x}", md5::compute(&file));
        if md5 != card.model_md5 {
            return Err(Error::Decode {
                what: model_path.display().to_string(),
                reason: format!(
                    "its MD5 is {md5}, the card says {}: the files are from two trainings",
                    card.model_md5
                ),
            });
        }
        let payload = codec::decode_file(&model_path, ModelKind::Cnn, &file)?;
        let (params, scaler) = (card.hyperparameters.clone(), card.scaler.clone());
        #[cfg(feature = "candle")]
        let net = Network::load_on_candle(params, scaler, payload)?;
        #[cfg(not(feature = "candle"))]
        let net = crate::models::Model::load(params, scaler, payload)?;
        Ok(Some(Gate { net, card }))
    }
}

/// What [`Gate::scores`] says, from the network alone.
fn digit_scores(net: &Network, x: ArrayView2<f32>) -> Result<Vec<f32>> {
    let p = net.predict_proba(x)?;
    Ok(p.rows()
        .into_iter()
        .map(|r| r[1] / (r[0] + r[1]).max(f32::MIN_POSITIVE))
        .collect())
}

/// The directory of the gate in `models_dir`.
pub fn gate_dir(models_dir: &Path) -> PathBuf {
    models_dir.join(GATE_DIR)
}

/// Whether a gate is saved in `models_dir` (its card, written last, is there).
pub fn is_saved(models_dir: &Path) -> bool {
    gate_dir(models_dir).join(CARD_FILE).exists()
}

/// The files of a saved gate, relative to the models directory.
pub fn gate_files() -> [String; 2] {
    [
        format!("{GATE_DIR}/{MODEL_FILE}"),
        format!("{GATE_DIR}/{CARD_FILE}"),
    ]
}

#[cfg(feature = "torch")]
pub use train::{train, train_if_missing, GateData, Trained};

#[cfg(feature = "torch")]
mod train {
    use ndarray::{Array1, Array2};
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    use rayon::prelude::*;

    use super::*;
    use crate::data::{Split, PIXELS};
    use crate::display::write_atomic;
    use crate::models::Progress;
    use crate::real_inputs::{generate_with_crops, non_digits_with_crops, Crop, Sample, Set};

    /// How much the gate learns from.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct GateData {
        /// Generated pictures of each drawn and typed source (each in five crops).
        pub per_source: usize,
        /// Generated non-digits (each in five crops).
        pub non_digits: usize,
        /// MNIST training digits, as they are.
        pub mnist: usize,
    }

    impl GateData {
        /// Quick mode's (`MNIST_SUBSET`): a little of each, for test runs.
        pub const QUICK: GateData = GateData {
            per_source: 30,
            non_digits: 300,
            mnist: 2_000,
        };
    }

    impl Default for GateData {
        /// What `mnist train-gate` uses.
        fn default() -> Self {
            GateData {
                per_source: 500,
                non_digits: 6_000,
                mnist: 15_000,
            }
        }
    }

    /// One in this many of each kind is held out.
    const HOLD_OUT: usize = 6;

    /// A trained and saved gate.
    pub struct Trained {
        pub gate: Gate,
        pub dir: PathBuf,
        pub seconds: f64,
    }

    /// Pictures through the server's preprocessing, in order (`None`: refused).
    fn preprocessed(samples: &[Sample]) -> Vec<Option<Vec<f32>>> {
        samples.par_iter().map(Sample::to_mnist).collect()
    }

    /// Rows and labels, split into training and held-out parts.
    #[derive(Default)]
    struct Parts {
        train: (Vec<f32>, Vec<u8>),
        held: (Vec<f32>, Vec<u8>),
    }

    impl Parts {
        /// `rows` come `per` at a time (one picture's crops, as the
        /// generators give them): every [`HOLD_OUT`]-th picture is held out
        /// whole, so no crop of it is trained on.
        fn add(&mut self, rows: Vec<Option<Vec<f32>>>, per: usize, label: u8) {
            for (i, row) in rows.into_iter().enumerate() {
                let Some(row) = row else { continue };
                let part = if (i / per).is_multiple_of(HOLD_OUT) {
                    &mut self.held
                } else {
                    &mut self.train
                };
                part.0.extend(row);
                part.1.push(label);
            }
        }
    }

    fn arrays((x, y): (Vec<f32>, Vec<u8>)) -> Result<(Array2<f32>, Array1<u8>)> {
        let n = y.len();
        let x = Array2::from_shape_vec((n, PIXELS), x).map_err(|e| Error::Shape(e.to_string()))?;
        Ok((x, Array1::from(y)))
    }

    /// The gate in `models_dir` when one is saved by this crate version and
    /// loads; otherwise one trained with the defaults (fewer epochs in quick
    /// mode, as the models) and saved: what the notebooks, `mnist train` and
    /// `serve --train` do, so that a models directory they filled is whole.
    pub fn train_if_missing(
        split: &Split,
        models_dir: &Path,
        progress: &dyn Progress,
    ) -> Result<Option<Trained>> {
        match Gate::load(models_dir) {
            Ok(Some(gate)) if gate.card.crate_version == env!("CARGO_PKG_VERSION") => {
                progress.note(&format!(
                    "the digit gate in {} is up to date",
                    gate_dir(models_dir).display()
                ));
                return Ok(None);
            }
            Ok(Some(gate)) => progress.note(&format!(
                "the digit gate is from mnist_support {}: training it again",
                gate.card.crate_version
            )),
            Ok(None) => progress.note("no digit gate saved yet: training it"),
            Err(e) => progress.note(&format!(
                "the saved digit gate cannot be used ({e}): training it again"
            )),
        }
        let data = match crate::data::quick_mode() {
            true => GateData::QUICK,
            false => GateData::default(),
        };
        train(
            split,
            data,
            super::params().quick_from_env(),
            models_dir,
            progress,
        )
        .map(Some)
    }

    /// Generate the gate's data (`data`) from `split`'s training digits,
    /// train a network of `params` (normally [`params()`](super::params)) on
    /// it, choose its threshold, and save it in `models_dir/gate/`.
    pub fn train(
        split: &Split,
        data: GateData,
        params: NetParams,
        models_dir: &Path,
        progress: &dyn Progress,
    ) -> Result<Trained> {
        let t = std::time::Instant::now();
        progress.note("gate: generating digits and non-digits (training digits and fonts)");
        let per = Crop::ALL.len();
        let digits = preprocessed(&generate_with_crops(split, Set::Train, data.per_source)?);
        let non = preprocessed(&non_digits_with_crops(
            Set::Train,
            data.non_digits,
            &Crop::ALL,
        )?);
        let mut order: Vec<usize> = (0..split.x_train.nrows()).collect();
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(0x6a7e));
        let mnist = order
            .iter()
            .take(data.mnist)
            .map(|&i| Some(split.x_train.row(i).to_vec()))
            .collect();
        let mut parts = Parts::default();
        parts.add(digits, per, 1);
        parts.add(non, per, 0);
        parts.add(mnist, 1, 1);
        let (x, y) = arrays(parts.train)?;
        let (hx, hy) = arrays(parts.held)?;
        let count = |y: &Array1<u8>| {
            let d = y.iter().filter(|&&v| v == 1).count();
            (d, y.len() - d)
        };
        let (trained_on, held_out) = (count(&y), count(&hy));
        progress.note(&format!(
            "gate: {} training pictures ({} digits, {} non-digits), {} held out, in {:.0} s",
            y.len(),
            trained_on.0,
            trained_on.1,
            hy.len(),
            t.elapsed().as_secs_f64()
        ));
        let scaler = Scaler::fit(params.scaling, &x.view())?;
        let xs = scaler.transform(&x.view())?;
        let hxs = scaler.transform(&hx.view())?;
        let mut net = Network::new(params.clone());
        net.fit_scaled(
            scaler.clone(),
            xs.view(),
            y.view(),
            Some((hxs.view(), hy.view())),
            progress,
        )?;
        let scores = digit_scores(&net, hx.view())?;
        let mut of_digits: Vec<f32> = scores
            .iter()
            .zip(&hy)
            .filter(|(_, &l)| l == 1)
            .map(|(&s, _)| s)
            .collect();
        of_digits.sort_by(f32::total_cmp);
        let threshold = of_digits
            .get((FLAG_DIGITS * of_digits.len() as f64) as usize)
            .copied()
            .unwrap_or(0.5);
        let share = |label: u8| {
            let (n, f) = scores
                .iter()
                .zip(&hy)
                .filter(|(_, &l)| l == label)
                .fold((0usize, 0usize), |(n, f), (&s, _)| {
                    (n + 1, f + (s < threshold) as usize)
                });
            f as f64 / n.max(1) as f64
        };
        let flagged = (share(1), share(0));
        let dir = gate_dir(models_dir);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let file = codec::encode_file(ModelKind::Cnn, &net.to_bytes()?);
        write_atomic(&dir.join(MODEL_FILE), &file)?;
        let card = GateCard {
            crate_version: env!("CARGO_PKG_VERSION").into(),
            hyperparameters: params,
            scaler,
            model_md5: format!("{:x}", md5::compute(&file)),
            threshold,
            trained_on,
            held_out,
            flagged,
        };
        let json = serde_json::to_string_pretty(&card).expect("plain data serializes");
        write_atomic(&dir.join(CARD_FILE), json.as_bytes())?;
        Ok(Trained {
            gate: Gate { card, net },
            dir,
            seconds: t.elapsed().as_secs_f64(),
        })
    }
}

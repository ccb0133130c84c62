//! Whether a picture holds a digit at all: the server's `digit_like` flag.
//!
//! The seven models each read *some* digit in a letter, a face or a
//! scribble, often with full confidence; their agreement flags too few of
//! them. The gate is a model of its own kind, [`ModelKind::Gate`]: a small
//! convolutional network with a two-class head ([`NetParams::gate`]: 0 for a
//! picture that holds no digit, 1 for a digit). [`Gate::scores`] is the
//! probability of 1; `digit_like` is a score of at least the gate's
//! [threshold](GateFigures::threshold).
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
//! The [`Store`] saves it as the other models, under the name `gate`
//! (`gate.bin`, and `gate.json`: a [`ModelCard`] whose report has its
//! training and held-out pictures and whose [`gate`](ModelCard::gate) holds
//! the threshold), and says when it is fresh; the summary, the server's
//! models and the Space's table list the seven models ([`ModelKind::ALL`]).

use std::path::Path;

use ndarray::ArrayView2;

use crate::error::{Error, Result};
use crate::models::{Classifier, ModelKind};
use crate::store::{GateFigures, ModelCard, Store};

#[cfg(doc)]
use crate::{models::NetParams, real_inputs::Set};

/// The gate's name in a models directory (its files are `gate.*`).
pub const NAME: &str = "gate";

/// The share of held-out training digits the threshold flags.
pub const FLAG_DIGITS: f64 = 0.01;

/// A loaded gate.
#[derive(Debug)]
pub struct Gate {
    pub card: ModelCard,
    pub figures: GateFigures,
    model: Box<dyn Classifier>,
}

impl Gate {
    /// A gate from a model loaded by the store and its card.
    fn new(model: Box<dyn Classifier>, card: ModelCard) -> Result<Gate> {
        let not_a_gate = |reason: String| Error::Decode {
            what: format!("{NAME}.json"),
            reason,
        };
        if card.kind != ModelKind::Gate {
            return Err(not_a_gate(format!(
                "it describes a {} model, not the digit gate",
                card.kind
            )));
        }
        let figures = card
            .gate
            .ok_or_else(|| not_a_gate("it has no threshold (its `gate` figures)".into()))?;
        Ok(Gate {
            card,
            figures,
            model,
        })
    }

    /// The probability that each row of raw pixels (n×784) holds a digit.
    pub fn scores(&self, x: ArrayView2<f32>) -> Result<Vec<f32>> {
        digit_scores(self.model.as_ref(), x)
    }

    /// Whether a score is a digit's.
    pub fn digit_like(&self, score: f32) -> bool {
        score >= self.figures.threshold
    }

    /// The library that runs it.
    pub fn runtime(&self) -> &'static str {
        self.model.runtime()
    }

    /// The gate saved in `models_dir`, or `None` when there is none; a gate
    /// that is there but unreadable is an error. The network runs on candle
    /// where it is built in, as the server's do
    /// ([`Store::load_for_serving`]).
    pub fn load(models_dir: &Path) -> Result<Option<Gate>> {
        if !is_saved(models_dir) {
            return Ok(None);
        }
        let (model, card) = Store::new(models_dir).load_for_serving(NAME)?;
        Gate::new(model, card).map(Some)
    }
}

/// What [`Gate::scores`] says, from the network alone (raw pixels).
fn digit_scores(model: &dyn Classifier, x: ArrayView2<f32>) -> Result<Vec<f32>> {
    let p = model.predict_proba(x)?;
    Ok(p.rows().into_iter().map(|r| r[1]).collect())
}

/// Whether a gate is saved in `models_dir` (its card, written last, is there).
pub fn is_saved(models_dir: &Path) -> bool {
    models_dir.join(format!("{NAME}.json")).exists()
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
    use crate::data::{Labelled, Part, Split, PIXELS};
    use crate::experiment::evaluate_parts;
    use crate::models::{Estimator, NetParams, Network, Progress};
    use crate::real_inputs::{generate_with_crops, non_digits_with_crops, Crop, Sample, Set};
    use crate::scale::Scaler;
    use crate::store::{Freshness, Saved};

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
        /// Its files.
        pub saved: Saved,
        pub seconds: f64,
    }

    /// Pictures through the server's preprocessing, in order (`None`: refused).
    fn preprocessed(samples: &[Sample]) -> Vec<Option<Vec<f32>>> {
        samples.par_iter().map(Sample::to_mnist).collect()
    }

    /// Rows and labels, split into training and held-out pictures.
    #[derive(Default)]
    struct Pictures {
        train: (Vec<f32>, Vec<u8>),
        held: (Vec<f32>, Vec<u8>),
    }

    impl Pictures {
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

    /// The gate in `store` when it is up to date for `split` (the store's
    /// [`freshness`](Store::freshness), as every model's); otherwise one
    /// trained with the defaults (smaller data and one epoch when `quick`)
    /// and saved: what the notebooks, `mnist train` and `serve --train` do,
    /// so that a models directory they filled is whole.
    pub fn train_if_missing(
        split: &Split,
        store: &Store,
        quick: bool,
        progress: &dyn Progress,
    ) -> Result<Option<Trained>> {
        match store.freshness(NAME, ModelKind::Gate, split) {
            Freshness::Fresh(_) => {
                progress.note(&format!(
                    "the digit gate in {} is up to date",
                    store.dir().display()
                ));
                return Ok(None);
            }
            Freshness::Stale(why) => progress.note(&format!("the digit gate: {why}: training it")),
            Freshness::Missing(_) => progress.note("no digit gate saved yet: training it"),
        }
        let data = if quick {
            GateData::QUICK
        } else {
            GateData::default()
        };
        train(split, data, NetParams::gate().quick(quick), store, progress).map(Some)
    }

    /// Generate the gate's data (`data`) from `split`'s training digits,
    /// train a network of `params` (normally [`NetParams::gate`]) on it,
    /// choose its threshold, and save it in `store`.
    pub fn train(
        split: &Split,
        data: GateData,
        params: NetParams,
        store: &Store,
        progress: &dyn Progress,
    ) -> Result<Trained> {
        if params.kind() != ModelKind::Gate {
            return Err(Error::InvalidHyperparameter {
                model: ModelKind::Gate.name(),
                name: "classes",
                reason: format!("the gate has 2 classes, not {}", params.classes),
            });
        }
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
        let mut pictures = Pictures::default();
        pictures.add(digits, per, 1);
        pictures.add(non, per, 0);
        pictures.add(mnist, 1, 1);
        let (x, y) = arrays(pictures.train)?;
        let (hx, hy) = arrays(pictures.held)?;
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
        let mut net = Network::new(params);
        let fit_start = std::time::Instant::now();
        net.fit_scaled(
            scaler,
            xs.view(),
            y.view(),
            Some((hxs.view(), hy.view())),
            progress,
        )?;
        let fit_seconds = fit_start.elapsed().as_secs_f64();
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
        let figures = GateFigures {
            threshold,
            trained_on,
            held_out,
            flagged: (share(1), share(0)),
        };
        let parts = [
            (Part::Train, Labelled::new(&xs, &y)),
            (Part::Valid, Labelled::new(&hxs, &hy)),
        ];
        let mut report = evaluate_parts(&net, &parts, fit_seconds, progress)?;
        let (saved, card) = store.save_card(&net, &mut report, split, Some(figures))?;
        Ok(Trained {
            gate: Gate::new(Box::new(net), card)?,
            saved,
            seconds: t.elapsed().as_secs_f64(),
        })
    }
}

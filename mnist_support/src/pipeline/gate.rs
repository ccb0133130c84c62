//! The digit gate's training ([`crate::gate`] is the gate itself): digits
//! and non-digits generated from the training split and the training fonts,
//! a sixth of each held out to choose the epoch and the threshold.

use ndarray::{Array1, Array2};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;

use crate::data::{Labelled, Part, Split, PIXELS};
use crate::error::{Error, Result};
use crate::experiment::evaluate_parts;
use crate::gate::{digit_scores, Gate, FLAG_DIGITS, NAME};
use crate::models::{Learner, ModelKind, NetParams, Network, Params, Progress, Training};
use crate::real_inputs::{generate_with_crops, non_digits_with_crops, Crop, Sample, Set};
use crate::scale::Scaler;
use crate::store::{Freshness, GateFigures, Saved, Store};

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
    let fit_start = std::time::Instant::now();
    let net: Network = params.fit_scaled(
        Training {
            scaler: &scaler,
            x: xs.view(),
            y: y.view(),
            valid: Some((hxs.view(), hy.view())),
        },
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

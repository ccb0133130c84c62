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
//! Its training is [`crate::pipeline::gate`] (feature `torch`).

use std::path::Path;

use ndarray::ArrayView2;

use crate::error::{Error, Result};
use crate::models::{Classifier, ModelKind, Networks};
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
    pub(crate) fn new(model: Box<dyn Classifier>, card: ModelCard) -> Result<Gate> {
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
    /// ([`Networks::Candle`]).
    pub fn load(models_dir: &Path) -> Result<Option<Gate>> {
        if !is_saved(models_dir) {
            return Ok(None);
        }
        let (model, card) = Store::new(models_dir)
            .networks_on(Networks::Candle)
            .load(NAME)?;
        Gate::new(model, card).map(Some)
    }
}

/// What [`Gate::scores`] says, from the network alone (raw pixels).
pub(crate) fn digit_scores(model: &dyn Classifier, x: ArrayView2<f32>) -> Result<Vec<f32>> {
    let p = model.predict_proba(x)?;
    Ok(p.rows().into_iter().map(|r| r[1]).collect())
}

/// Whether a gate is saved in `models_dir` (its card, written last, is there).
pub fn is_saved(models_dir: &Path) -> bool {
    models_dir.join(format!("{NAME}.json")).exists()
}

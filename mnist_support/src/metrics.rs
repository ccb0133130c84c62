//! Accuracy, per-class accuracy, confusion matrices and the per-epoch history of a network's training.

use serde::{Deserialize, Serialize};

use crate::consts::CLASSES;
use crate::error::{Error, Result};

fn check(y_true: &[u8], y_pred: &[u8]) -> Result<()> {
    if y_true.len() != y_pred.len() {
        return Err(Error::Shape(format!(
            "{} true labels but {} predictions",
            y_true.len(),
            y_pred.len()
        )));
    }
    if let Some(&bad) = y_true
        .iter()
        .chain(y_pred)
        .find(|&&l| l as usize >= CLASSES)
    {
        return Err(Error::InvalidData(format!(
            "label {bad} is not a digit 0-9"
        )));
    }
    Ok(())
}

/// An accuracy (a fraction) as a percentage with two decimals: `0.9234` → `92.34%`.
pub fn percent(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}

/// Fraction of predictions equal to the truth (0 for no samples).
pub fn accuracy(y_true: &[u8], y_pred: &[u8]) -> Result<f64> {
    Ok(ConfusionMatrix::new(y_true, y_pred)?.accuracy())
}

/// A 10×10 confusion matrix: `counts[true][predicted]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    pub counts: [[usize; CLASSES]; CLASSES],
}

impl ConfusionMatrix {
    pub fn new(y_true: &[u8], y_pred: &[u8]) -> Result<Self> {
        check(y_true, y_pred)?;
        let mut counts = [[0usize; CLASSES]; CLASSES];
        for (&t, &p) in y_true.iter().zip(y_pred) {
            counts[t as usize][p as usize] += 1;
        }
        Ok(ConfusionMatrix { counts })
    }

    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    pub fn correct(&self) -> usize {
        (0..CLASSES).map(|d| self.counts[d][d]).sum()
    }

    /// Fraction correct (0 for an empty matrix).
    pub fn accuracy(&self) -> f64 {
        self.correct() as f64 / self.total().max(1) as f64
    }

    /// Per class: (correct, total in class).
    pub fn per_class(&self) -> [(usize, usize); CLASSES] {
        let mut out = [(0, 0); CLASSES];
        for (d, o) in out.iter_mut().enumerate() {
            *o = (self.counts[d][d], self.counts[d].iter().sum());
        }
        out
    }

    /// Per-class accuracy, "correct / total in class" (0 for an absent class).
    pub fn per_class_accuracy(&self) -> [f64; CLASSES] {
        let mut out = [0.0; CLASSES];
        for (d, (c, t)) in self.per_class().into_iter().enumerate() {
            out[d] = if t == 0 { 0.0 } else { c as f64 / t as f64 };
        }
        out
    }
}

/// One epoch of a network's training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss (cross-entropy) over the epoch's batches.
    pub loss: f64,
    /// Accuracy on the training batches during the epoch (in training mode:
    /// with dropout and augmentation, as Keras reports it).
    pub train_accuracy: f64,
    /// Accuracy on the validation split after the epoch (eval mode), when
    /// a validation split was given.
    pub valid_accuracy: Option<f64>,
    /// Learning rate at the end of the epoch.
    pub learning_rate: f64,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
}

/// Per-epoch record of a network's training and the epoch whose weights were kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub epochs: Vec<Epoch>,
    /// The epoch whose weights are the model's: the latest epoch within one
    /// validation image of the best validation accuracy, or the last epoch
    /// when there was no validation split.
    pub best_epoch: usize,
    /// libtorch's intra-op threads during training.
    pub threads: usize,
    /// `cpu` or `cuda:N`, with ` (bfloat16 convolutions)` under mixed precision.
    pub device: String,
}

impl History {
    /// Seconds per epoch, on average.
    pub fn seconds_per_epoch(&self) -> f64 {
        self.epochs.iter().map(|e| e.seconds).sum::<f64>() / self.epochs.len().max(1) as f64
    }
}

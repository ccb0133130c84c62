//! The records of `mnist compare`: one side's figures for one model
//! ([`Side`], ours measured by [`measure`], the other side's read from
//! `scripts/compare.py`'s JSON), the means of several seeds' runs and the
//! time a network takes to reach an accuracy. The command holds its
//! arguments, runs the Python side and prints.

use std::time::Instant;

use crate::data::Split;
use crate::error::Result;
use crate::experiment::{self, ScaledSplit};
use crate::models::{Classifier, Learner, ModelKind, Progress};

/// One side's figures for one model.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Side {
    pub model: String,
    /// The seed of a seeded model's run (the forest, the networks).
    #[serde(default)]
    pub seed: Option<u64>,
    pub tool: String,
    pub fit_s: f64,
    /// Seconds to predict all train, valid and test images.
    pub predict_s: f64,
    pub test_acc: f64,
    /// The networks' validation accuracy after each epoch, with its seconds.
    #[serde(default)]
    pub epochs: Vec<EpochTime>,
}

/// A network's validation accuracy after one epoch, and the epoch's seconds.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct EpochTime {
    pub epoch: usize,
    pub valid_acc: f64,
    pub seconds: f64,
}

/// The models whose runs depend on a seed (bootstrap and feature draws,
/// initial weights, shuffles, dropout): `--seeds` repeats them.
pub const SEEDED: [ModelKind; 3] = [ModelKind::Forest, ModelKind::Dnn, ModelKind::Cnn];

impl Side {
    /// The mean accuracy and times of several runs.
    pub fn mean<'a>(runs: impl Iterator<Item = &'a Side>) -> Side {
        let runs: Vec<&Side> = runs.collect();
        let n = runs.len().max(1) as f64;
        let mean = |f: fn(&Side) -> f64| runs.iter().map(|s| f(s)).sum::<f64>() / n;
        Side {
            model: runs.first().map(|s| s.model.clone()).unwrap_or_default(),
            tool: runs.first().map(|s| s.tool.clone()).unwrap_or_default(),
            seed: None,
            fit_s: mean(|s| s.fit_s),
            predict_s: mean(|s| s.predict_s),
            test_acc: mean(|s| s.test_acc),
            epochs: vec![],
        }
    }

    /// Seconds from the start of fitting until the end of the first epoch
    /// whose validation accuracy reaches `target` (what comes before the
    /// first epoch, like making the typed digits, counted), if one does.
    pub fn time_to(&self, target: f64) -> Option<(usize, f64)> {
        let before: f64 = self.fit_s - self.epochs.iter().map(|e| e.seconds).sum::<f64>();
        let mut t = before.max(0.0);
        for e in &self.epochs {
            t += e.seconds;
            if e.valid_acc >= target {
                return Some((e.epoch, t));
            }
        }
        None
    }
}

/// Fit `params` from raw pixels and time it as `compare.py` times its
/// side: the fit covers scaling, any added training images and fitting (the
/// networks score the validation split after every epoch and keep the best
/// epoch's weights, on both sides); the prediction covers scaling and
/// predicting all three parts.
pub fn measure<L: Learner + ?Sized>(
    params: &L,
    split: &Split,
    progress: &dyn Progress,
) -> Result<Side> {
    let kind = params.kind();
    let t = Instant::now();
    let data = ScaledSplit::new(split, params.scaling())?;
    let (model, _) = experiment::fit(params, &data, progress)?;
    let fit_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    model.predict(split.x_train.view())?;
    model.predict(split.x_valid.view())?;
    let pred = model.predict(split.x_test.view())?;
    let predict_s = t.elapsed().as_secs_f64();
    let test_acc = crate::metrics::accuracy(&split.y_test.to_vec(), &pred.to_vec())?;
    let epochs = model
        .history()
        .map(|h| {
            h.epochs
                .iter()
                .map(|e| EpochTime {
                    epoch: e.epoch,
                    valid_acc: e.valid_accuracy.unwrap_or(f64::NAN),
                    seconds: e.seconds,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Side {
        model: kind.name().into(),
        seed: None,
        tool: format!("mnist_support {}", env!("CARGO_PKG_VERSION")),
        fit_s,
        predict_s,
        test_acc,
        epochs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(fit_s: f64, epochs: &[(f64, f64)]) -> Side {
        Side {
            model: "cnn".into(),
            seed: Some(42),
            tool: "t".into(),
            fit_s,
            predict_s: 1.0,
            test_acc: 0.5,
            epochs: (epochs.iter().enumerate())
                .map(|(i, &(valid_acc, seconds))| EpochTime {
                    epoch: i + 1,
                    valid_acc,
                    seconds,
                })
                .collect(),
        }
    }

    #[test]
    fn time_to_counts_what_comes_before_the_first_epoch() {
        // 2 s before the first epoch, then epochs of 3 s.
        let s = side(11.0, &[(0.90, 3.0), (0.95, 3.0), (0.97, 3.0)]);
        assert_eq!(s.time_to(0.95), Some((2, 8.0)));
        assert_eq!(s.time_to(0.99), None);
        let m = Side::mean([side(2.0, &[]), side(4.0, &[])].iter());
        assert_eq!((m.fit_s, m.seed), (3.0, None));
    }
}

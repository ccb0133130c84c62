//! The checks every fit starts with: data, labels, hyperparameters and
//! sample weights.

use crate::data::CLASSES;
use crate::error::{Error, Result};

use super::{Binned, TreeParams, MAX_TREE_FEATURES};

/// The data, the labels and the hyperparameters fit together.
pub(super) fn check_data(data: &Binned, y: &[u8], params: &TreeParams) -> Result<()> {
    if data.n == 0 || data.d == 0 {
        return Err(Error::Shape(format!(
            "cannot grow a tree on {}×{} data",
            data.n, data.d
        )));
    }
    if data.d > MAX_TREE_FEATURES {
        return Err(Error::InvalidData(format!(
            "{} features: a tree handles at most {MAX_TREE_FEATURES}",
            data.d
        )));
    }
    if data.n > i32::MAX as usize {
        return Err(Error::InvalidData(format!(
            "{} samples: at most {} are supported",
            data.n,
            i32::MAX
        )));
    }
    if y.len() != data.n {
        return Err(Error::Shape(format!(
            "{} labels for {} samples",
            y.len(),
            data.n
        )));
    }
    if let Some(i) = y.iter().position(|&c| usize::from(c) >= CLASSES) {
        return Err(Error::InvalidData(format!(
            "label {} at index {i} is not a class 0-{}",
            y[i],
            CLASSES - 1
        )));
    }
    params.validate(data.d)
}

/// Check the weights and return their total.
pub(super) fn check_weights(weights: &[u32], n: usize) -> Result<u64> {
    if weights.len() != n {
        return Err(Error::Shape(format!(
            "{} weights for {n} samples",
            weights.len()
        )));
    }
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return Err(Error::InvalidData("all sample weights are 0".into()));
    }
    if total > u64::from(u32::MAX) {
        return Err(Error::InvalidData(format!(
            "sample weights sum to {total}, more than {}",
            u32::MAX
        )));
    }
    Ok(total)
}

//! Feature scaling, fit on the training split only and saved with each model.

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Standardization: `(x - mean) / std` per column. Columns with zero variance
/// (MNIST's always-blank border pixels) keep scale 1, as scikit-learn does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandardScaler {
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
}

/// Min-max scaling to [0, 1] per column; constant columns keep range 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinMaxScaler {
    pub min: Vec<f32>,
    pub range: Vec<f32>,
}

fn check_fit_input(x: &ArrayView2<f32>) -> Result<()> {
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(Error::Shape(format!(
            "cannot fit a scaler on an empty {}x{} matrix",
            x.nrows(),
            x.ncols()
        )));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(Error::Param(
            "cannot fit a scaler on non-finite values".into(),
        ));
    }
    Ok(())
}

fn check_width(expected: usize, x: &ArrayView2<f32>) -> Result<()> {
    if x.ncols() != expected {
        return Err(Error::Shape(format!(
            "scaler was fit on {expected} columns, got {}",
            x.ncols()
        )));
    }
    Ok(())
}

impl StandardScaler {
    pub fn fit(x: &ArrayView2<f32>) -> Result<Self> {
        check_fit_input(x)?;
        let n = x.nrows() as f64;
        let mut mean = vec![0f64; x.ncols()];
        let mut sq = vec![0f64; x.ncols()];
        for row in x.axis_iter(Axis(0)) {
            for (j, &v) in row.iter().enumerate() {
                mean[j] += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        for row in x.axis_iter(Axis(0)) {
            for (j, &v) in row.iter().enumerate() {
                let d = v as f64 - mean[j];
                sq[j] += d * d;
            }
        }
        let scale = sq
            .iter()
            .map(|s| {
                let sd = (s / n).sqrt();
                if sd < 1e-8 {
                    1.0
                } else {
                    sd as f32
                }
            })
            .collect();
        Ok(StandardScaler {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            scale,
        })
    }
}

impl MinMaxScaler {
    pub fn fit(x: &ArrayView2<f32>) -> Result<Self> {
        check_fit_input(x)?;
        let mut min = vec![f32::INFINITY; x.ncols()];
        let mut max = vec![f32::NEG_INFINITY; x.ncols()];
        for row in x.axis_iter(Axis(0)) {
            for (j, &v) in row.iter().enumerate() {
                min[j] = min[j].min(v);
                max[j] = max[j].max(v);
            }
        }
        let range = min
            .iter()
            .zip(&max)
            .map(|(lo, hi)| if hi - lo > 0.0 { hi - lo } else { 1.0 })
            .collect();
        Ok(MinMaxScaler { min, range })
    }
}

/// A fitted scaler, as saved with a model. `None` passes pixels through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scaler {
    #[default]
    None,
    /// Divide by 255 (pixels to [0, 1]); nothing to fit.
    Unit,
    Standard(StandardScaler),
    MinMax(MinMaxScaler),
}

/// Which scaling to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    None,
    Unit,
    Standard,
    MinMax,
}

impl Scaler {
    /// Which scaling this is.
    pub fn scaling(&self) -> Scaling {
        match self {
            Scaler::None => Scaling::None,
            Scaler::Unit => Scaling::Unit,
            Scaler::Standard(_) => Scaling::Standard,
            Scaler::MinMax(_) => Scaling::MinMax,
        }
    }

    /// Fit the chosen scaling on `x` (the training split only).
    pub fn fit(kind: Scaling, x: &ArrayView2<f32>) -> Result<Self> {
        Ok(match kind {
            Scaling::None => Scaler::None,
            Scaling::Unit => Scaler::Unit,
            Scaling::Standard => Scaler::Standard(StandardScaler::fit(x)?),
            Scaling::MinMax => Scaler::MinMax(MinMaxScaler::fit(x)?),
        })
    }

    /// (offset, factor) per column so that `scaled = (x - offset) * factor`.
    fn affine(&self, ncols: usize) -> Option<(Vec<f32>, Vec<f32>)> {
        match self {
            Scaler::None => None,
            Scaler::Unit => Some((vec![0.0; ncols], vec![1.0 / 255.0; ncols])),
            Scaler::Standard(s) => {
                Some((s.mean.clone(), s.scale.iter().map(|v| 1.0 / v).collect()))
            }
            Scaler::MinMax(s) => Some((s.min.clone(), s.range.iter().map(|v| 1.0 / v).collect())),
        }
    }

    fn width(&self) -> Option<usize> {
        match self {
            Scaler::None | Scaler::Unit => None,
            Scaler::Standard(s) => Some(s.mean.len()),
            Scaler::MinMax(s) => Some(s.min.len()),
        }
    }

    /// Apply `f(value, offset, factor)` to every element of a copy of `x`.
    fn map(&self, x: &ArrayView2<f32>, f: impl Fn(f32, f32, f32) -> f32) -> Result<Array2<f32>> {
        if let Some(w) = self.width() {
            check_width(w, x)?;
        }
        let mut out = x.to_owned();
        if let Some((off, fac)) = self.affine(x.ncols()) {
            for mut row in out.axis_iter_mut(Axis(0)) {
                for ((v, o), k) in row.iter_mut().zip(&off).zip(&fac) {
                    *v = f(*v, *o, *k);
                }
            }
        }
        Ok(out)
    }

    /// Scale `x` (any number of rows, the fitted number of columns).
    pub fn transform(&self, x: &ArrayView2<f32>) -> Result<Array2<f32>> {
        self.map(x, |v, o, k| (v - o) * k)
    }

    /// Undo [`transform`](Self::transform).
    pub fn inverse_transform(&self, x: &ArrayView2<f32>) -> Result<Array2<f32>> {
        self.map(x, |v, o, k| v / k + o)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data serializes")
    }

    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| Error::Decode {
            what: "scaler JSON".into(),
            reason: e.to_string(),
        })
    }
}

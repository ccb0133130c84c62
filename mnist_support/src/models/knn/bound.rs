//! The lower bound on distances from the training set's principal directions.

use super::*;
use crate::models::pca::Pca;

/// Principal directions of the training rows: dimensions kept for the bound.
pub(super) const BOUND_DIMS: usize = 80;
/// Candidates per query whose exact distances are computed.
pub(super) const CANDIDATES: usize = 128;
/// Below this many training rows the bound is not built (the product is cheap).
pub(super) const BOUND_MIN_ROWS: usize = 4096;
/// The directions are found from about this many training rows, evenly
/// spaced (`bench knn` in pixels, 2026-12-06, 2 cores: the fit took 2.4 s with the
/// covariance of all 55,000 rows, 1.2 s with every 7th row's).
pub(super) const BOUND_SAMPLE_ROWS: usize = 8192;

/// A cheap lower bound on `‖q − t‖²` from the `BOUND_DIMS` principal
/// directions `P` of the training rows (about the mean `μ`):
/// `‖q − t‖² = ‖P(q − t)‖² + ‖r_q − r_t‖² ≥ ‖P(q − t)‖² + (‖r_q‖ − ‖r_t‖)²`,
/// with `r` the part of `x − μ` outside the directions. `P` only has to be
/// orthonormal for the bound to hold; being the principal directions makes
/// it tight.
#[derive(Debug, Clone)]
pub(super) struct Bound {
    pub(super) directions: Directions,
    /// The training rows, projected.
    pub(super) train: Projected,
}

/// The mean `μ` and the directions `P` of a [`Bound`].
#[derive(Debug, Clone)]
pub(super) struct Directions {
    pub(super) mean: Array1<f32>,
    /// `‖μ‖²` and `Pμ`.
    pub(super) mean_norm: f32,
    pub(super) mean_proj: Array1<f32>,
    /// Columns × `BOUND_DIMS`, orthonormal columns.
    pub(super) basis: Array2<f32>,
}

/// Rows `x` seen through a [`Bound`]: `P(x − μ)`, its squared norm, and
/// `‖r_x‖`, the norm of the rest of `x − μ`.
#[derive(Debug, Clone)]
pub(super) struct Projected {
    pub(super) proj: Array2<f32>,
    pub(super) norms: Array1<f32>,
    pub(super) resid: Array1<f32>,
}

impl Bound {
    /// The directions by six steps of subspace iteration ([`Pca`]) on every
    /// k-th training row (about [`BOUND_SAMPLE_ROWS`]): any orthonormal
    /// directions keep the bound exact, and a sample's are as tight.
    pub(super) fn new(train: &Array2<f32>) -> Option<Bound> {
        let (n, c) = train.dim();
        let d = BOUND_DIMS;
        // Short rows (kNN's principal coordinates) search in full: a bound
        // in a third of 50 columns was too loose to pay (7.1 s against 4.4 s).
        if n < BOUND_MIN_ROWS || c <= 2 * d {
            return None;
        }
        let step = n.div_ceil(BOUND_SAMPLE_ROWS);
        let sample = train.slice(s![..;step, ..]);
        let Pca { mean, basis: q } = Pca::fit(sample, d, 6).ok()?;
        let directions = Directions {
            mean_norm: mean.dot(&mean),
            mean_proj: mean.dot(&q),
            mean,
            basis: q,
        };
        let train = directions.project(train.view());
        Some(Bound { directions, train })
    }
}

impl Directions {
    /// Rows (over the index's columns) seen through the bound.
    pub(super) fn project(&self, x: ArrayView2<f32>) -> Projected {
        let mut proj = x.dot(&self.basis);
        proj -= &self.mean_proj;
        let norms = proj.map_axis(Axis(1), |r| r.dot(&r));
        let resid = Zip::from(x.rows()).and(&norms).map_collect(|r, &pn| {
            (r.dot(&r) - 2.0 * r.dot(&self.mean) + self.mean_norm - pn)
                .max(0.0)
                .sqrt()
        });
        Projected { proj, norms, resid }
    }
}

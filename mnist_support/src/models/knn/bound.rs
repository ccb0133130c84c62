//! The lower bound on distances from the training set's principal directions.

use super::*;

/// Principal directions of the training rows: dimensions kept for the bound.
pub(super) const BOUND_DIMS: usize = 80;
/// Candidates per query whose exact distances are computed.
pub(super) const CANDIDATES: usize = 128;
/// Below this many training rows the bound is not built (the product is cheap).
pub(super) const BOUND_MIN_ROWS: usize = 4096;

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
    /// The directions by subspace iteration on the covariance (six products
    /// with it, each followed by Gram–Schmidt in f64), from a seeded start.
    pub(super) fn new(train: &Array2<f32>) -> Option<Bound> {
        let (n, c) = train.dim();
        let d = BOUND_DIMS;
        if n < BOUND_MIN_ROWS || c <= 2 * d {
            return None;
        }
        let mean = train.mean_axis(Axis(0))?;
        // Covariance (up to the factor n): XᵀX − n μμᵀ.
        let mut cov = train.t().dot(train);
        for i in 0..c {
            for j in 0..c {
                cov[[i, j]] -= n as f32 * mean[i] * mean[j];
            }
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut q = Array2::from_shape_fn((c, d), |_| rng.gen_range(-1.0f32..1.0));
        for _ in 0..6 {
            q = orthonormal(&cov.dot(&q));
        }
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

/// Orthonormal columns spanning those of `z` (modified Gram–Schmidt in f64).
pub(super) fn orthonormal(z: &Array2<f32>) -> Array2<f32> {
    let mut q = z.mapv(f64::from);
    for j in 0..q.ncols() {
        for i in 0..j {
            let r = q.column(i).dot(&q.column(j));
            let qi = q.column(i).to_owned();
            q.column_mut(j).scaled_add(-r, &qi);
        }
        let norm = q.column(j).dot(&q.column(j)).sqrt();
        // A degenerate column (rank below d) becomes zero: still a valid bound.
        q.column_mut(j)
            .mapv_inplace(|v| if norm > 1e-12 { v / norm } else { 0.0 });
    }
    q.mapv(|v| v as f32)
}

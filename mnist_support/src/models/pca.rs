//! Principal directions of the training rows: kNN and the SVM measure
//! distances in the span of the leading principal directions of the
//! (deskewed, scaled) training digits instead of in 784 pixels, and kNN's
//! exact pixel search bounds distances with them.
//!
//! The directions come from subspace iteration on the covariance (a few
//! products with it, each followed by Gram–Schmidt in f64) from a seeded
//! start: the span of the leading directions, which is all a distance needs
//! (distances, and so kNN's neighbours and the RBF kernel, do not change under
//! a rotation inside the span). The same rows give the same directions, so a
//! model that stores its training rows can rebuild them when it is loaded.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};

use super::codec;
use crate::error::{Error, Result};

/// The mean `μ` of the training rows and `d` orthonormal directions `P`
/// (columns × `d`) spanning (about) their `d` leading principal directions.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    pub mean: Array1<f32>,
    pub basis: Array2<f32>,
}

impl Pca {
    /// Steps of subspace iteration for the directions a model measures
    /// distances in (kNN's and the SVM's `components`).
    pub(crate) const ITERATIONS: usize = 8;

    /// The `d` leading directions of the rows of `x` after `iterations`
    /// products with their covariance.
    pub fn fit(x: ArrayView2<f32>, d: usize, iterations: usize) -> Result<Pca> {
        let (n, c) = x.dim();
        if d == 0 || d > c || n == 0 {
            return Err(Error::Shape(format!(
                "cannot take {d} principal directions of {n} rows of {c} columns"
            )));
        }
        let mean = x
            .mean_axis(Axis(0))
            .ok_or_else(|| Error::Shape("no rows".into()))?;
        // Covariance (up to the factor n): XᵀX − n μμᵀ.
        let mut cov = x.t().dot(&x);
        for i in 0..c {
            for j in 0..c {
                cov[[i, j]] -= n as f32 * mean[i] * mean[j];
            }
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut q = Array2::from_shape_fn((c, d), |_| rng.gen_range(-1.0f32..1.0));
        for _ in 0..iterations {
            q = orthonormal(&cov.dot(&q));
        }
        Ok(Pca { mean, basis: q })
    }

    /// A model's `components` hyperparameter: 0 (pixels) up to one direction per pixel.
    pub(crate) fn check(model: super::ModelKind, components: usize) -> Result<()> {
        if components > crate::data::PIXELS {
            return Err(super::invalid(
                model,
                "components",
                format!(
                    "at most {} principal directions (0: pixels), got {components}",
                    crate::data::PIXELS
                ),
            ));
        }
        Ok(())
    }

    /// Dimensions after projection.
    pub fn dims(&self) -> usize {
        self.basis.ncols()
    }

    /// Columns the rows must have.
    pub fn width(&self) -> usize {
        self.basis.nrows()
    }

    /// `(x − μ) P`: rows in the directions' coordinates.
    pub fn project(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        if x.ncols() != self.width() {
            return Err(Error::Shape(format!(
                "the principal directions take rows of {} columns, got {}",
                self.width(),
                x.ncols()
            )));
        }
        let mut z = x.dot(&self.basis);
        z -= &self.mean.dot(&self.basis);
        Ok(z)
    }

    /// Appended to a model's bytes.
    pub(crate) fn put(&self, out: &mut Vec<u8>) {
        use codec::Put;
        out.put_u64(self.width() as u64);
        out.put_u64(self.dims() as u64);
        out.put_f32s(self.mean.as_slice().expect("contiguous"));
        out.put_f32s(&self.basis.iter().copied().collect::<Vec<_>>());
    }

    /// What [`put`](Pca::put) wrote.
    pub(crate) fn read(r: &mut codec::Reader<'_>) -> Result<Pca> {
        let c = r.count(1 << 16, "principal direction width")?;
        let d = r.count(c, "principal directions")?;
        let mean = Array1::from(r.f32s(c)?);
        let basis = Array2::from_shape_vec((c, d), r.f32s(c.saturating_mul(d))?)
            .map_err(|e| r.error(e.to_string()))?;
        if mean.iter().chain(&basis).any(|v| !v.is_finite()) {
            return Err(r.error("non-finite principal directions"));
        }
        Ok(Pca { mean, basis })
    }
}

/// Orthonormal columns spanning those of `z` (modified Gram–Schmidt in f64).
fn orthonormal(z: &Array2<f32>) -> Array2<f32> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_span_of_a_low_rank_cloud_and_round_trips() {
        // Rows in a 3-dimensional subspace of 20 columns, plus a little noise.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let dirs = Array2::from_shape_fn((3, 20), |_| rng.gen_range(-1.0f32..1.0));
        let coords = Array2::from_shape_fn((500, 3), |(_, j)| {
            rng.gen_range(-1.0f32..1.0) * [10.0, 5.0, 3.0][j]
        });
        let noise = Array2::from_shape_fn((500, 20), |_| rng.gen_range(-0.01f32..0.01));
        let x = coords.dot(&dirs) + 2.0 + noise;
        let pca = Pca::fit(x.view(), 3, 8).unwrap();
        assert_eq!((pca.width(), pca.dims()), (20, 3));
        // Orthonormal.
        let g = pca.basis.t().dot(&pca.basis);
        for i in 0..3 {
            for j in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((g[[i, j]] - want).abs() < 1e-4, "{g:?}");
            }
        }
        // Distances between rows are kept (the rows lie in the span).
        let z = pca.project(x.view()).unwrap();
        for (a, b) in [(0, 1), (5, 300), (42, 499)] {
            let dx = (&x.row(a) - &x.row(b)).mapv(|v| v * v).sum().sqrt();
            let dz = (&z.row(a) - &z.row(b)).mapv(|v| v * v).sum().sqrt();
            assert!((dx - dz).abs() < 0.05 * dx.max(1.0), "{dx} vs {dz}");
        }
        // Centred.
        let m = z.mean_axis(Axis(0)).unwrap();
        assert!(m.iter().all(|v| v.abs() < 1e-3), "{m:?}");
        // Bytes and back; a wrong width is an error, not a panic.
        let mut bytes = Vec::new();
        pca.put(&mut bytes);
        let back = Pca::read(&mut codec::Reader::new(&bytes, "test")).unwrap();
        assert_eq!(back, pca);
        assert!(pca.project(Array2::<f32>::zeros((2, 19)).view()).is_err());
        assert!(Pca::read(&mut codec::Reader::new(&bytes[..bytes.len() - 3], "test")).is_err());
        assert!(Pca::fit(x.view(), 0, 3).is_err());
        assert!(Pca::fit(x.view(), 21, 3).is_err());
    }
}

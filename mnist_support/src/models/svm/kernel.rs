//! The RBF kernel, from one matrix product: `K = exp(−γ(‖a‖² + ‖b‖² − 2·a·b))`.

use super::*;

/// Squared norms of rows.
pub(super) fn row_norms(x: &ArrayView2<f32>) -> Array1<f32> {
    x.map_axis(Axis(1), |r| r.dot(&r))
}

/// RBF kernel between the rows of `a` and `b` (norms given), into `out`.
pub(super) fn rbf_into(
    a: &ArrayView2<f32>,
    na: &ArrayView1<f32>,
    b: &ArrayView2<f32>,
    nb: &ArrayView1<f32>,
    gamma: f32,
    out: &mut ndarray::ArrayViewMut2<f32>,
) {
    general_mat_mul(1.0, a, &b.t(), 0.0, out);
    finish_rbf(out, na, nb, gamma);
}

/// Dot products `a·b` in `out` → `exp(−γ(‖a‖² + ‖b‖² − 2·a·b))`.
pub(super) fn finish_rbf(
    out: &mut ndarray::ArrayViewMut2<f32>,
    na: &ArrayView1<f32>,
    nb: &ArrayView1<f32>,
    gamma: f32,
) {
    Zip::from(out.rows_mut())
        .and(na)
        .par_for_each(|mut row, &ni| {
            for (k, &nj) in row.iter_mut().zip(nb) {
                *k = (-gamma * (ni + nj - 2.0 * *k).max(0.0)).exp();
            }
        });
}

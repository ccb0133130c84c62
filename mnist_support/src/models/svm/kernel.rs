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
    let nb_slice = nb.as_slice();
    Zip::from(out.rows_mut())
        .and(na)
        .par_for_each(|mut row, &ni| match (row.as_slice_mut(), nb_slice) {
            (Some(row), Some(nb)) => rbf_row(row, ni, nb, gamma),
            _ => {
                for (k, &nj) in row.iter_mut().zip(nb) {
                    *k = exp_neg(-gamma * (ni + nj - 2.0 * *k).max(0.0));
                }
            }
        });
}

/// One row of [`finish_rbf`], with AVX2 + FMA when the CPU has them (the
/// loop vectorizes: eight exponentials at a time).
fn rbf_row(row: &mut [f32], ni: f32, nb: &[f32], gamma: f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function was compiled for.
        return unsafe { rbf_row_avx2(row, ni, nb, gamma) };
    }
    rbf_row_portable(row, ni, nb, gamma)
}

#[inline(always)]
fn rbf_row_portable(row: &mut [f32], ni: f32, nb: &[f32], gamma: f32) {
    for (k, &nj) in row.iter_mut().zip(nb) {
        *k = exp_neg(-gamma * (ni + nj - 2.0 * *k).max(0.0));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rbf_row_avx2(row: &mut [f32], ni: f32, nb: &[f32], gamma: f32) {
    rbf_row_portable(row, ni, nb, gamma)
}

/// `e^x` for `x ≤ 0` (the kernel's exponent), within 4·10⁻⁷ relative error
/// of `f32::exp` down to −87, without a branch or a library call, so that loops over it
/// vectorize (the library's `expf` took 30% of the SVM's fit). Cephes' `expf`:
/// `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`, a degree-7 polynomial for `e^r`,
/// and `2^n` put into the exponent bits; below −87 it is `e^−87` (≈ 10⁻³⁸,
/// 0 for every purpose here).
#[inline(always)]
pub(super) fn exp_neg(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 0.0);
    let n = (x * LOG2_E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let e = p * r * r + r + 1.0;
    // n is in [−126, 0]: a normal power of two.
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_exponential_matches_the_library_one() {
        let mut worst = 0f32;
        for i in 0..=200_000 {
            let x = -(i as f32) * 4e-4;
            let (a, b) = (exp_neg(x), x.exp());
            worst = worst.max((a - b).abs() / b.max(f32::MIN_POSITIVE));
        }
        assert!(worst < 4e-7, "worst relative error {worst}");
        assert_eq!(exp_neg(0.0), 1.0);
        assert!(exp_neg(-200.0) < 1e-37 && exp_neg(-200.0) >= 0.0);
        assert!(exp_neg(f32::NEG_INFINITY) < 1e-37);
        // The vectorized row is the scalar formula.
        let nb: Vec<f32> = (0..37).map(|j| j as f32 * 0.7).collect();
        let mut row: Vec<f32> = (0..37).map(|j| (j % 5) as f32 * 0.3).collect();
        let want: Vec<f32> = row
            .iter()
            .zip(&nb)
            .map(|(&k, &nj)| exp_neg(-0.05 * (1.5 + nj - 2.0 * k).max(0.0)))
            .collect();
        rbf_row(&mut row, 1.5, &nb, 0.05);
        assert_eq!(row, want);
    }
}

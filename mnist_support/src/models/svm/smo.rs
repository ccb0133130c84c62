//! One binary machine and libsvm's SMO solver that trains it.

use super::*;

/// A trained binary SVM: `f(x) = Σ coef_i K(sv_i, x) − rho`, positive for class `a`.
#[derive(Debug, Clone, PartialEq)]
pub struct Binary {
    pub a: u8,
    pub b: u8,
    /// Indices into the model's support-vector table, with `y_i α_i`.
    pub sv: Vec<u32>,
    pub coef: Vec<f32>,
    pub rho: f32,
    pub iterations: usize,
}

/// SMO on a precomputed kernel `k` (n×n) with labels ±1. Returns (α, rho, iterations).
pub(crate) fn smo(
    k: &Array2<f32>,
    y: &[f32],
    c: f32,
    tol: f32,
    max_iter: usize,
) -> (Vec<f32>, f32, usize) {
    let n = y.len();
    let mut alpha = vec![0f32; n];
    // Gradient of ½αᵀQα − eᵀα with Q_ij = y_i y_j K_ij, at α = 0.
    let mut grad = vec![-1f32; n];
    let diag: Vec<f32> = (0..n).map(|i| k[[i, i]]).collect();
    let tau = 1e-12f32;
    let mut iter = 0;
    while iter < max_iter {
        // i: the most violating index in I_up.
        let mut gmax = f32::NEG_INFINITY;
        let mut i = usize::MAX;
        for t in 0..n {
            let up = if y[t] > 0.0 {
                alpha[t] < c
            } else {
                alpha[t] > 0.0
            };
            if up && -y[t] * grad[t] >= gmax {
                gmax = -y[t] * grad[t];
                i = t;
            }
        }
        if i == usize::MAX {
            break;
        }
        // j: second-order choice in I_low.
        let ki = k.row(i);
        let mut gmax2 = f32::NEG_INFINITY;
        let mut j = usize::MAX;
        let mut best = f32::INFINITY;
        for t in 0..n {
            let low = if y[t] > 0.0 {
                alpha[t] > 0.0
            } else {
                alpha[t] < c
            };
            if !low {
                continue;
            }
            let v = y[t] * grad[t];
            if v > gmax2 {
                gmax2 = v;
            }
            let b = gmax + v;
            if b > 0.0 {
                let a = (diag[i] + diag[t] - 2.0 * ki[t]).max(tau);
                let score = -(b * b) / a;
                if score <= best {
                    best = score;
                    j = t;
                }
            }
        }
        if gmax + gmax2 < tol || j == usize::MAX {
            break;
        }
        iter += 1;
        // Analytic update of (α_i, α_j), libsvm's Solver::Solve.
        let kj = k.row(j);
        let (yi, yj) = (y[i], y[j]);
        let (old_i, old_j) = (alpha[i], alpha[j]);
        let quad = (diag[i] + diag[j] - 2.0 * ki[j]).max(tau);
        if yi != yj {
            let delta = (-grad[i] - grad[j]) / quad;
            let diff = alpha[i] - alpha[j];
            alpha[i] += delta;
            alpha[j] += delta;
            if diff > 0.0 {
                if alpha[j] < 0.0 {
                    alpha[j] = 0.0;
                    alpha[i] = diff;
                }
            } else if alpha[i] < 0.0 {
                alpha[i] = 0.0;
                alpha[j] = -diff;
            }
            if diff > 0.0 {
                if alpha[i] > c {
                    alpha[i] = c;
                    alpha[j] = c - diff;
                }
            } else if alpha[j] > c {
                alpha[j] = c;
                alpha[i] = c + diff;
            }
        } else {
            let delta = (grad[i] - grad[j]) / quad;
            let sum = alpha[i] + alpha[j];
            alpha[i] -= delta;
            alpha[j] += delta;
            if sum > c {
                if alpha[i] > c {
                    alpha[i] = c;
                    alpha[j] = sum - c;
                }
            } else if alpha[j] < 0.0 {
                alpha[j] = 0.0;
                alpha[i] = sum;
            }
            if sum > c {
                if alpha[j] > c {
                    alpha[j] = c;
                    alpha[i] = sum - c;
                }
            } else if alpha[i] < 0.0 {
                alpha[i] = 0.0;
                alpha[j] = sum;
            }
        }
        // grad_t += Q_ti Δα_i + Q_tj Δα_j, with Q_ti = y_t y_i K_ti.
        let di = (alpha[i] - old_i) * yi;
        let dj = (alpha[j] - old_j) * yj;
        for t in 0..n {
            grad[t] += y[t] * (ki[t] * di + kj[t] * dj);
        }
    }
    // rho: average of y_t grad_t over free vectors, else the middle of the bounds.
    let (mut sum, mut count) = (0f64, 0usize);
    let (mut ub, mut lb) = (f32::INFINITY, f32::NEG_INFINITY);
    for t in 0..n {
        let yg = y[t] * grad[t];
        if alpha[t] > 0.0 && alpha[t] < c {
            sum += yg as f64;
            count += 1;
        } else {
            let at_upper = alpha[t] >= c;
            // libsvm: bounds from the vectors at 0 or C.
            if (y[t] > 0.0) == at_upper {
                lb = lb.max(yg);
            } else {
                ub = ub.min(yg);
            }
        }
    }
    let rho = if count > 0 {
        (sum / count as f64) as f32
    } else {
        (ub + lb) / 2.0
    };
    (alpha, rho, iter)
}

//! Multinomial logistic (softmax) regression with L2 regularization, trained
//! by full-batch L-BFGS in f32 with one fused loss-and-gradient pass per
//! evaluation (two matrix products).
//!
//! The objective is scikit-learn's `LogisticRegression(multi_class="multinomial")`:
//! `Σᵢ −log softmax(xᵢW + b)[yᵢ] + α/2 ‖W‖²` (α = 1/C, the intercept is not
//! penalized), divided by the number of samples so that the loss is an
//! average. Why not linfa-logistic: on these 55,000 images it needs about
//! 3 s per L-BFGS iteration in f64 (297 s for 100 iterations) and does not
//! converge in f32; see the README's dependency table. [`SoftmaxParams`]
//! still implements linfa's `Fit` and the fitted model linfa's `Predict`.

use ndarray::{s, Array1, Array2, ArrayBase, ArrayView1, ArrayView2, Data, Ix2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::top_two;
use super::{codec, invalid, Estimator, ModelKind, Params, Progress, Training};
use crate::api::why::{ClassEvidence, SoftmaxWhy, Why};
use crate::data::CLASSES;
use crate::error::{Error, Result};
use crate::scale::{Scaler, Scaling};

/// Hyperparameters of softmax regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftmaxParams {
    /// L2 penalty α on the weights (scikit-learn's 1/C).
    pub alpha: f32,
    /// L-BFGS iterations at most.
    pub max_iter: usize,
    /// Stop when the largest gradient entry (of the averaged loss) falls below this.
    pub tol: f64,
    /// Pixel scaling fit on the training split.
    pub scaling: Scaling,
    /// Train on the digits plus distorted copies of them (handwriting
    /// distortions; see [`crate::augment`]).
    #[serde(default)]
    pub augment: crate::augment::Augment,
}

impl Default for SoftmaxParams {
    fn default() -> Self {
        SoftmaxParams {
            // Chosen on the validation split from 1, 10, 30, 100, 300, 1000
            // (standardized pixels): see notebooks/04_1_softmax.ipynb.
            alpha: 300.0,
            // Validation accuracy by L-BFGS iterations (`bench softmax --params`):
            // 40 and 60: 96.14%; 80, 100, 130 and until convergence (~177): 96.16%.
            // 100: the converged accuracy in 7.5 s instead of 13.3 s.
            max_iter: 100,
            tol: 1e-6,
            // Deskewed first: 96.18% validation against 93.60%, and 80–87% →
            // 89–91% on the pad, scan and photo inputs of the dev set.
            scaling: Scaling::DeskewStandard,
            // One distorted copy cost this linear model 2.2 points on
            // validation (91.38% against 93.60%), below the bar: none.
            augment: crate::augment::Augment::NONE.with_typed(crate::augment::TYPED_PER_CLASS),
        }
    }
}

/// A fitted softmax regression: weights and intercepts, `proba = softmax(x·W + b)`.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedSoftmax {
    pub w: Array2<f32>,
    pub b: Array1<f32>,
    /// Iterations run and final (averaged, regularized) loss.
    pub iterations: usize,
    pub loss: f64,
}

/// Logits `x·W + b` turned into probabilities row by row (in place).
pub(crate) fn softmax_rows(h: &mut Array2<f32>) {
    for mut row in h.rows_mut() {
        let m = row.fold(f32::NEG_INFINITY, |a, &v| a.max(v));
        row.mapv_inplace(|v| (v - m).exp());
        let s = row.sum();
        row.mapv_inplace(|v| v / s);
    }
}

impl FittedSoftmax {
    pub fn predict_proba<S: Data<Elem = f32>>(&self, x: &ArrayBase<S, Ix2>) -> Result<Array2<f32>> {
        if x.ncols() != self.w.nrows() {
            return Err(Error::Shape(format!(
                "softmax model has {} inputs, got rows of {}",
                self.w.nrows(),
                x.ncols()
            )));
        }
        let mut h = x.dot(&self.w) + &self.b;
        softmax_rows(&mut h);
        Ok(h)
    }
}

/// Rows per task of [`loss_grad`]'s pass.
const ROWS_PER_TASK: usize = 512;

/// Averaged loss and its gradient with respect to `(W, b)` stacked as a
/// (d+1)×10 matrix, in one pass over the rows (standard layout): each row's
/// ten logits, its softmax and loss, and its share `xᵢ ⊗ (pᵢ − e_yᵢ)` of the
/// gradient, summed per block of rows in parallel and then in the blocks'
/// order (the same sums whatever the threads). Two matrix products with ten
/// columns computed the same but spent most of their time copying (packing)
/// the 56,500×784 matrix, twice per evaluation.
fn loss_grad(x: &ArrayView2<f32>, y: &[u8], alpha: f32, theta: &Array2<f32>) -> (f64, Array2<f32>) {
    let (n, d) = x.dim();
    let flat = x.as_slice().expect("rows in standard layout");
    // Wᵀ: the d weights of each class, contiguous.
    let wt: Vec<f32> = (0..CLASSES)
        .flat_map(|c| theta.slice(s![..d, c]).to_vec())
        .collect();
    let b = theta.row(d).to_vec();
    let parts: Vec<(f64, Vec<f32>)> = flat
        .par_chunks(ROWS_PER_TASK * d.max(1))
        .zip(y.par_chunks(ROWS_PER_TASK))
        .map(|(rows, labels)| rows_loss_grad(rows, labels, d, &wt, &b))
        .collect();
    let mut loss = 0.0f64;
    let mut sums = vec![0.0f64; CLASSES * (d + 1)];
    for (l, part) in parts {
        loss += l;
        sums.iter_mut().zip(part).for_each(|(s, v)| *s += v as f64);
    }
    let nf = n as f64;
    let mut grad = Array2::<f32>::zeros(theta.raw_dim());
    for c in 0..CLASSES {
        let class = &sums[c * (d + 1)..(c + 1) * (d + 1)];
        for j in 0..d {
            grad[[j, c]] = (class[j] / nf) as f32 + alpha / n as f32 * theta[[j, c]];
        }
        grad[[d, c]] = (class[d] / nf) as f32;
    }
    let w = theta.slice(s![..d, ..]);
    let penalty = 0.5 * alpha as f64 * w.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>();
    ((loss + penalty) / nf, grad)
}

/// [`loss_grad`] over one block of rows: the summed loss, and the summed
/// gradient class by class (`d` weights then the intercept).
fn rows_loss_grad(rows: &[f32], labels: &[u8], d: usize, wt: &[f32], b: &[f32]) -> (f64, Vec<f32>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function was compiled for.
        return unsafe { rows_loss_grad_avx2(rows, labels, d, wt, b) };
    }
    rows_loss_grad_portable(rows, labels, d, wt, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_loss_grad_avx2(
    rows: &[f32],
    labels: &[u8],
    d: usize,
    wt: &[f32],
    b: &[f32],
) -> (f64, Vec<f32>) {
    rows_loss_grad_portable(rows, labels, d, wt, b)
}

#[inline(always)]
fn rows_loss_grad_portable(
    rows: &[f32],
    labels: &[u8],
    d: usize,
    wt: &[f32],
    b: &[f32],
) -> (f64, Vec<f32>) {
    let mut acc = vec![0f32; CLASSES * (d + 1)];
    let mut loss = 0.0f64;
    for (row, &label) in rows.chunks_exact(d.max(1)).zip(labels) {
        let mut h = logits(row, wt, b, d);
        let m = h.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
        let logit = h[label as usize];
        let mut sum = 0.0f32;
        for v in h.iter_mut() {
            *v = (*v - m).exp();
            sum += *v;
        }
        // −log softmax = log Σ exp(h) − h_y, computed with the max shifted out.
        loss += (sum.ln() + m - logit) as f64;
        for v in h.iter_mut() {
            *v /= sum;
        }
        h[label as usize] -= 1.0;
        for (c, &hc) in h.iter().enumerate() {
            let class = &mut acc[c * (d + 1)..(c + 1) * (d + 1)];
            for (a, &xv) in class[..d].iter_mut().zip(row) {
                *a += hc * xv;
            }
            class[d] += hc;
        }
    }
    (loss, acc)
}

/// The ten logits `b + Wᵀx` of one row: ten sums of eight lanes each, side
/// by side, so that each eight pixels are loaded once and the ten chains of
/// multiply-adds overlap (the compiler keeps them in vector registers).
#[inline(always)]
fn logits(row: &[f32], wt: &[f32], b: &[f32], d: usize) -> [f32; CLASSES] {
    let mut acc = [[0f32; 8]; CLASSES];
    let whole = d / 8 * 8;
    for k in (0..whole).step_by(8) {
        let xs: &[f32; 8] = row[k..k + 8].try_into().expect("eight");
        for (c, a) in acc.iter_mut().enumerate() {
            let w: &[f32; 8] = wt[c * d + k..c * d + k + 8].try_into().expect("eight");
            for l in 0..8 {
                a[l] += xs[l] * w[l];
            }
        }
    }
    let mut h = [0f32; CLASSES];
    for (c, hc) in h.iter_mut().enumerate() {
        let tail: f32 = (whole..d).map(|j| row[j] * wt[c * d + j]).sum();
        *hc = b[c] + acc[c].iter().sum::<f32>() + tail;
    }
    h
}

fn dot(a: &Array2<f32>, b: &Array2<f32>) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Train by L-BFGS (memory 10, Armijo backtracking) on checked data.
/// `on_iter(iteration, loss)` is called after every iteration.
fn train(
    x: ArrayView2<f32>,
    y: ArrayView1<u8>,
    params: &SoftmaxParams,
    mut on_iter: impl FnMut(usize, f64),
) -> FittedSoftmax {
    let y: Vec<u8> = y.to_vec();
    let x = x.as_standard_layout();
    let x = x.view();
    let d = x.ncols();
    const MEMORY: usize = 10;
    let mut theta = Array2::<f32>::zeros((d + 1, CLASSES));
    let (mut f, mut g) = loss_grad(&x, &y, params.alpha, &theta);
    let mut history: std::collections::VecDeque<(Array2<f32>, Array2<f32>, f64)> =
        Default::default();
    let mut iterations = 0;
    while iterations < params.max_iter {
        let gmax = g.fold(0.0f32, |a, &v| a.max(v.abs()));
        if (gmax as f64) < params.tol {
            break;
        }
        // Two-loop recursion: direction = -H·g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, yv, rho) in history.iter().rev() {
            let a = rho * dot(s, &q);
            q.scaled_add(-a as f32, yv);
            alphas.push(a);
        }
        let gamma = match history.back() {
            Some((s, yv, _)) => dot(s, yv) / dot(yv, yv),
            None => 1.0 / (dot(&g, &g).sqrt().max(1e-12)),
        };
        q.mapv_inplace(|v| v * gamma as f32);
        for ((s, yv, rho), a) in history.iter().zip(alphas.iter().rev()) {
            let beta = rho * dot(yv, &q);
            q.scaled_add((a - beta) as f32, s);
        }
        let dir = q.mapv(|v| -v);
        let mut slope = dot(&g, &dir);
        let dir = if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            history.clear();
            slope = -dot(&g, &g);
            g.mapv(|v| -v)
        } else {
            dir
        };
        let mut step = 1.0f32;
        let (mut f_new, mut g_new, mut theta_new);
        loop {
            theta_new = &theta + &(&dir * step);
            (f_new, g_new) = loss_grad(&x, &y, params.alpha, &theta_new);
            if f_new <= f + 1e-4 * step as f64 * slope || step < 1e-10 {
                break;
            }
            step *= 0.5;
        }
        iterations += 1;
        let s_vec = &theta_new - &theta;
        let y_vec = &g_new - &g;
        let sy = dot(&s_vec, &y_vec);
        let progress = f - f_new;
        theta = theta_new;
        f = f_new;
        g = g_new;
        on_iter(iterations, f);
        if sy > 1e-12 {
            if history.len() == MEMORY {
                history.pop_front();
            }
            history.push_back((s_vec, y_vec, 1.0 / sy));
        }
        if progress.abs() <= 1e-12 * f.abs().max(1.0) {
            break;
        }
    }
    FittedSoftmax {
        w: theta.slice(s![..d, ..]).to_owned(),
        b: theta.row(d).to_owned(),
        iterations,
        loss: f,
    }
}

impl SoftmaxParams {
    /// The configuration `mnist compare` gives scikit-learn's
    /// `LogisticRegression` too (`scripts/compare.py`): C = 1/300, standardized
    /// pixels, nothing added to the training digits.
    pub fn as_scikit_learn() -> Self {
        SoftmaxParams {
            alpha: 300.0,
            max_iter: 300,
            tol: 1e-6,
            scaling: Scaling::Standard,
            augment: crate::augment::Augment::NONE,
        }
    }
}

impl Params for SoftmaxParams {
    fn kind(&self) -> ModelKind {
        ModelKind::Softmax
    }

    fn scaling(&self) -> Scaling {
        self.scaling
    }

    fn augmentation(&self) -> crate::augment::Augment {
        self.augment
    }
}

impl Estimator for SoftmaxParams {
    type Fitted = FittedSoftmax;

    fn check(&self) -> Result<()> {
        if !(self.alpha >= 0.0 && self.alpha.is_finite()) {
            return Err(invalid(
                ModelKind::Softmax,
                "alpha",
                format!("must be ≥ 0, got {}", self.alpha),
            ));
        }
        if self.tol.is_nan() || self.tol < 0.0 {
            return Err(invalid(
                ModelKind::Softmax,
                "tol",
                format!("must be ≥ 0, got {}", self.tol),
            ));
        }
        Ok(())
    }

    fn learn(
        &self,
        data: Training<'_>,
        progress: &dyn Progress,
    ) -> Result<(FittedSoftmax, Option<super::History>)> {
        progress.begin(
            "softmax regression: L-BFGS iterations",
            self.max_iter as u64,
        );
        let fitted = train(data.x, data.y, self, |_, _| progress.advance(1));
        progress.end();
        progress.note(&format!(
            "stopped after {} iterations, loss {:.5}",
            fitted.iterations, fitted.loss
        ));
        Ok((fitted, None))
    }

    /// The logits of the answer and the runner-up, pixel by pixel.
    fn why(&self, m: &FittedSoftmax, scaler: &Scaler, pixels: ArrayView2<f32>) -> Result<Why> {
        let scaled = scaler.transform(&pixels)?;
        let x = scaled.view();
        if x.dim() != (1, m.w.nrows()) {
            return Err(Error::Shape(format!(
                "softmax explains one row of {} features, got {:?}",
                m.w.nrows(),
                x.dim()
            )));
        }
        let row = x.row(0);
        let logits = (row.dot(&m.w) + &m.b).to_vec();
        let (answer, runner_up) = top_two(&logits);
        let side = |c: usize| ClassEvidence {
            digit: c as u8,
            template: m.w.column(c).to_vec(),
            contributions: (&row * &m.w.column(c)).to_vec(),
            bias: m.b[c],
        };
        Ok(Why::Softmax(SoftmaxWhy {
            logits,
            classes: [side(answer), side(runner_up)],
        }))
    }

    fn predict_proba(&self, fitted: &FittedSoftmax, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        fitted.predict_proba(&x)
    }

    fn to_bytes(&self, m: &FittedSoftmax) -> Result<Vec<u8>> {
        use codec::Put;
        let mut out = Vec::new();
        out.put_u64(m.w.nrows() as u64);
        out.put_u64(m.w.ncols() as u64);
        out.put_f32s(&m.w.iter().copied().collect::<Vec<_>>());
        out.put_f32s(&m.b.to_vec());
        out.put_u64(m.iterations as u64);
        out.put_u64(m.loss.to_bits());
        Ok(out)
    }

    fn fitted_from_bytes(&self, _scaler: &Scaler, payload: &[u8]) -> Result<FittedSoftmax> {
        let mut r = codec::Reader::new(payload, "softmax parameters");
        let d = r.count(1 << 20, "inputs")?;
        let k = r.count(CLASSES, "classes")?;
        if k != CLASSES {
            return Err(r.error(format!("{k} classes, expected {CLASSES}")));
        }
        let w =
            Array2::from_shape_vec((d, k), r.f32s(d * k)?).map_err(|e| r.error(e.to_string()))?;
        let b = Array1::from(r.f32s(k)?);
        let iterations = r.count(usize::MAX, "iterations")?;
        let loss = f64::from_bits(r.u64()?);
        r.finish()?;
        Ok(FittedSoftmax {
            w,
            b,
            iterations,
            loss,
        })
    }
}

super::linfa_fit!(SoftmaxParams);

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Axis;
    use rand::{Rng, SeedableRng};

    /// The loss and gradient as two matrix products (what `loss_grad` computed before).
    fn by_products(
        x: &Array2<f32>,
        y: &[u8],
        alpha: f32,
        theta: &Array2<f32>,
    ) -> (f64, Array2<f32>) {
        let d = x.ncols();
        let n = x.nrows() as f32;
        let w = theta.slice(s![..d, ..]);
        let mut h = x.dot(&w) + theta.row(d);
        let mut loss = 0.0f64;
        for (mut row, &label) in h.rows_mut().into_iter().zip(y) {
            let m = row.fold(f32::NEG_INFINITY, |a, &v| a.max(v));
            let logit = row[label as usize];
            row.mapv_inplace(|v| (v - m).exp());
            let s = row.sum();
            loss += (s.ln() + m - logit) as f64;
            row.mapv_inplace(|v| v / s);
            row[label as usize] -= 1.0;
        }
        let mut grad = Array2::<f32>::zeros(theta.raw_dim());
        let gw = x.t().dot(&h) / n + &(&w * (alpha / n));
        grad.slice_mut(s![..d, ..]).assign(&gw);
        grad.row_mut(d).assign(&(h.sum_axis(Axis(0)) / n));
        let penalty = 0.5 * alpha as f64 * w.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>();
        ((loss + penalty) / n as f64, grad)
    }

    #[test]
    fn the_one_pass_loss_and_gradient_equal_the_matrix_products() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        // More rows than one block, a width that is no multiple of 8.
        let (n, d) = (1300, 37);
        let x = Array2::from_shape_fn((n, d), |_| rng.gen_range(-2.0f32..2.0));
        let y: Vec<u8> = (0..n).map(|_| rng.gen_range(0..CLASSES as u8)).collect();
        let theta = Array2::from_shape_fn((d + 1, CLASSES), |_| rng.gen_range(-0.3f32..0.3));
        let (f1, g1) = loss_grad(&x.view(), &y, 3.0, &theta);
        let (f2, g2) = by_products(&x, &y, 3.0, &theta);
        assert!((f1 - f2).abs() < 1e-5 * f2.abs(), "{f1} vs {f2}");
        let worst = g1
            .iter()
            .zip(&g2)
            .fold(0f32, |a, (p, q)| a.max((p - q).abs()));
        assert!(worst < 1e-5, "largest gradient difference {worst}");
    }
}

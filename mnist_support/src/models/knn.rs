//! Exact k-nearest neighbours with distances from matrix products.
//!
//! For a block of queries `Q` and a chunk of training images `T`,
//! `‖q − t‖² = ‖q‖² + ‖t‖² − 2·q·t`; the `q·t` for the whole block come from
//! one f32 matrix product (ndarray → matrixmultiply, both cores), and the
//! neighbours are then picked row by row in parallel (rayon). `‖q‖²` is the
//! same for every candidate of a query, so ranking uses `‖t‖² − 2·q·t` and
//! adds `‖q‖²` back at the end. Pixels that are 0 in every training image
//! add nothing to any `q·t` and are left out of the products.
//!
//! Blocks of queries against a large training set first go through a lower
//! bound ([`Bound`]): the distance in the training set's 80 principal
//! directions plus the difference of the norms of what lies outside them.
//! The bound comes from a matrix product in 80 dimensions instead of ~750;
//! each query's 128 smallest bounds get exact distances (over the byte copy
//! of the rows), and when the largest bound kept is at least the k-th exact
//! distance no other row can be nearer, so the search stays exact. The ~4%
//! of queries where that does not hold are searched in full. On the 65,000
//! images against the 56,500 training rows: about 10 s instead of about 40 s
//! (`mnist bench knn`), the same neighbours.
//!
//! Why not linfa-nn: its linear search handles one query at a time with scalar
//! distances, and its ball/KD trees do not prune at 784 dimensions; see the
//! README's dependency table.

use std::io::{Read, Write};

use ndarray::{linalg::general_mat_mul, s, Array1, Array2, ArrayView1, ArrayView2, Axis, Zip};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{codec, invalid, Estimator, Model, ModelKind, Progress, Training};
use crate::data::CLASSES;
use crate::error::{Error, Result};
use crate::scale::{Scaler, Scaling};

/// How neighbours vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// One vote each.
    Uniform,
    /// Votes weighted by 1 / distance (an exact match wins outright).
    Distance,
}

/// Hyperparameters of kNN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnnParams {
    pub k: usize,
    pub weighting: Weighting,
    /// `unit` (pixels / 255) or `none`, deskewed or not: the training set is stored as bytes.
    pub scaling: Scaling,
    /// Train on the digits plus distorted copies of them (handwriting
    /// distortions; see [`crate::augment`]).
    #[serde(default)]
    pub augment: crate::augment::Augment,
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams {
            // Chosen on the validation split (notebooks/04_2_knn.ipynb): k from
            // 1-8 and 10, uniform or distance-weighted votes.
            k: 4,
            weighting: Weighting::Uniform,
            // Deskewed first: 99.14% validation against 98.36%, and 82–91% →
            // 93–97% on the real inputs of the dev set.
            scaling: Scaling::DeskewUnit,
            // One distorted copy: 97.24% test (below the bar) and three times
            // the prediction time (110,000 rows to search): none.
            augment: crate::augment::Augment::NONE.with_typed(crate::augment::TYPED_PER_CLASS),
        }
    }
}

/// Queries per block and training rows per chunk of one matrix product.
const QUERY_BLOCK: usize = 512;
const TRAIN_CHUNK: usize = 4096;
/// Below this many queries, distances come from dot products (the web server's case).
const FEW_QUERIES: usize = 8;

/// The `kmax` nearest training rows of each query: indices and squared
/// distances, nearest first (ties: smaller index first).
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbours {
    pub index: Array2<u32>,
    pub dist2: Array2<f32>,
}

/// A searchable training set (features already scaled).
#[derive(Debug, Clone)]
pub(crate) struct Index {
    /// Training rows restricted to the columns that are not always 0.
    train: Array2<f32>,
    /// Squared norms of the training rows.
    norms: Array1<f32>,
    /// The columns kept, in order.
    columns: Vec<usize>,
    /// Total columns of the input rows.
    width: usize,
    /// The same rows as bytes with the factor back (`train = bytes × unit`),
    /// when the features are scaled whole pixel values: a quarter of the
    /// memory traffic for single queries.
    bytes: Option<(Array2<u8>, f32)>,
    /// Lower bounds on the distances, for blocks of queries (large training sets).
    bound: Option<Bound>,
}

/// Principal directions of the training rows: dimensions kept for the bound.
const BOUND_DIMS: usize = 80;
/// Candidates per query whose exact distances are computed.
const CANDIDATES: usize = 128;
/// Below this many training rows the bound is not built (the product is cheap).
const BOUND_MIN_ROWS: usize = 4096;

/// A cheap lower bound on `‖q − t‖²` from the `BOUND_DIMS` principal
/// directions `P` of the training rows (about the mean `μ`):
/// `‖q − t‖² = ‖P(q − t)‖² + ‖r_q − r_t‖² ≥ ‖P(q − t)‖² + (‖r_q‖ − ‖r_t‖)²`,
/// with `r` the part of `x − μ` outside the directions. `P` only has to be
/// orthonormal for the bound to hold; being the principal directions makes
/// it tight.
#[derive(Debug, Clone)]
struct Bound {
    directions: Directions,
    /// The training rows, projected.
    train: Projected,
}

/// The mean `μ` and the directions `P` of a [`Bound`].
#[derive(Debug, Clone)]
struct Directions {
    mean: Array1<f32>,
    /// `‖μ‖²` and `Pμ`.
    mean_norm: f32,
    mean_proj: Array1<f32>,
    /// Columns × `BOUND_DIMS`, orthonormal columns.
    basis: Array2<f32>,
}

/// Rows `x` seen through a [`Bound`]: `P(x − μ)`, its squared norm, and
/// `‖r_x‖`, the norm of the rest of `x − μ`.
#[derive(Debug, Clone)]
struct Projected {
    proj: Array2<f32>,
    norms: Array1<f32>,
    resid: Array1<f32>,
}

impl Bound {
    /// The directions by subspace iteration on the covariance (six products
    /// with it, each followed by Gram–Schmidt in f64), from a seeded start.
    fn new(train: &Array2<f32>) -> Option<Bound> {
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
    fn project(&self, x: ArrayView2<f32>) -> Projected {
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

/// Keep the `m` smallest `(bound, index)` of `b` (in any order) and return
/// the largest of them (the new cut).
fn prune(b: &mut Vec<(f32, u32)>, m: usize) -> f32 {
    if b.len() > m {
        b.select_nth_unstable_by(m - 1, |x, y| {
            x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal)
        });
        b.truncate(m);
    }
    b.iter().fold(f32::NEG_INFINITY, |x, &(lb, _)| x.max(lb))
}

/// Keep the `kmax` smallest `(score, index)` of `b` (sorted ascending) with `item`.
#[inline]
fn keep(b: &mut Vec<(f32, u32)>, kmax: usize, item: (f32, u32)) {
    if b.len() < kmax || item.0 < b[kmax - 1].0 {
        let pos = b.partition_point(|&(s, _)| s <= item.0);
        b.insert(pos, item);
        b.truncate(kmax);
    }
}

/// `Σ q_j b_j` with eight independent sums, which the compiler vectorizes.
#[inline(always)]
fn dot_bytes_portable(q: &[f32], b: &[u8]) -> f32 {
    let mut acc = [0f32; 8];
    let mut qc = q.chunks_exact(8);
    let mut bc = b.chunks_exact(8);
    for (qs, bs) in (&mut qc).zip(&mut bc) {
        for l in 0..8 {
            acc[l] += qs[l] * bs[l] as f32;
        }
    }
    let tail: f32 = qc
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(q, &b)| q * b as f32)
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// The same, compiled for AVX2 + FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_bytes_avx2(q: &[f32], b: &[u8]) -> f32 {
    dot_bytes_portable(q, b)
}

/// `Σ q_j b_j`, with AVX2 when the CPU has it.
fn dot_bytes(q: &[f32], b: &[u8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function was compiled for.
        return unsafe { dot_bytes_avx2(q, b) };
    }
    dot_bytes_portable(q, b)
}

impl Index {
    /// Keep a byte copy of the rows when `train = bytes × unit` exactly
    /// (kNN on pixels / 255 or raw pixels), for fast single queries.
    pub fn with_bytes(mut self, unit: f32) -> Self {
        let bytes = self
            .train
            .mapv(|v| (v / unit).round().clamp(0.0, 255.0) as u8);
        let exact = Zip::from(&bytes)
            .and(&self.train)
            .all(|&b, &v| b as f32 * unit == v);
        self.bytes = exact.then_some((bytes, unit));
        self
    }

    pub fn new(x: ArrayView2<f32>) -> Self {
        // One pass over the rows (walking columns of a row-major matrix is slow).
        let mut used = vec![false; x.ncols()];
        for row in x.rows() {
            used.iter_mut().zip(row).for_each(|(u, &v)| *u |= v != 0.0);
        }
        let columns: Vec<usize> = (0..x.ncols()).filter(|&j| used[j]).collect();
        // `select` along columns yields a column-major array; rows must be contiguous.
        let train = x
            .select(Axis(1), &columns)
            .as_standard_layout()
            .into_owned();
        let norms = train.map_axis(Axis(1), |r| r.dot(&r));
        let bound = Bound::new(&train);
        Index {
            train,
            norms,
            columns,
            width: x.ncols(),
            bytes: None,
            bound,
        }
    }

    pub fn len(&self) -> usize {
        self.train.nrows()
    }

    /// The `kmax` nearest training rows of every query row. `on_block(rows)`
    /// is called after each block of queries.
    pub fn search(
        &self,
        q: ArrayView2<f32>,
        kmax: usize,
        on_block: &(dyn Fn(usize) + Sync),
    ) -> Result<Neighbours> {
        if q.ncols() != self.width {
            return Err(Error::Shape(format!(
                "kNN index has {} columns, queries have {}",
                self.width,
                q.ncols()
            )));
        }
        if kmax == 0 || kmax > self.len() {
            return Err(invalid(
                ModelKind::Knn,
                "k",
                format!(
                    "k = {kmax} must be between 1 and the {} training rows",
                    self.len()
                ),
            ));
        }
        match &self.bound {
            Some(bound) if q.nrows() >= FEW_QUERIES && kmax <= CANDIDATES => {
                self.bounded(bound, q, kmax, on_block)
            }
            _ => Ok(self.brute(q, kmax, on_block)),
        }
    }

    /// Blocks of queries with the bound: each query's `CANDIDATES` smallest
    /// bounds from a matrix product in `BOUND_DIMS` dimensions, then their
    /// exact distances. When the largest bound kept is at least the `kmax`-th
    /// exact distance, no other training row can be nearer, so these are the
    /// exact neighbours; the queries where it is not are searched in full.
    fn bounded(
        &self,
        bound: &Bound,
        q: ArrayView2<f32>,
        kmax: usize,
        on_block: &(dyn Fn(usize) + Sync),
    ) -> Result<Neighbours> {
        let n = q.nrows();
        let mut index = Array2::<u32>::zeros((n, kmax));
        let mut dist2 = Array2::<f32>::zeros((n, kmax));
        let m = CANDIDATES;
        let mut g = Array2::<f32>::zeros((QUERY_BLOCK.min(n), TRAIN_CHUNK));
        let mut unsure: Vec<usize> = Vec::new();
        for start in (0..n).step_by(QUERY_BLOCK) {
            let end = (start + QUERY_BLOCK).min(n);
            let rows = end - start;
            let qb = q.slice(s![start..end, ..]).select(Axis(1), &self.columns);
            let pq = bound.directions.project(qb.view());
            // Per query: candidates whose bound is below the cut, and the cut
            // (the m-th smallest bound kept so far).
            let mut cands: Vec<(Vec<(f32, u32)>, f32)> =
                vec![(Vec::with_capacity(2 * m), f32::INFINITY); rows];
            for c0 in (0..self.len()).step_by(TRAIN_CHUNK) {
                let c1 = (c0 + TRAIN_CHUNK).min(self.len());
                let mut gb = g.slice_mut(s![..rows, ..c1 - c0]);
                let chunk = bound.train.proj.slice(s![c0..c1, ..]);
                general_mat_mul(1.0, &pq.proj, &chunk.t(), 0.0, &mut gb);
                let pn = &bound.train.norms.as_slice().expect("contiguous")[c0..c1];
                let rt = &bound.train.resid.as_slice().expect("contiguous")[c0..c1];
                let (qn, rq) = (pq.norms.as_slice(), pq.resid.as_slice());
                cands
                    .par_iter_mut()
                    .zip(gb.axis_iter(Axis(0)).into_par_iter())
                    .zip(
                        qn.expect("contiguous")
                            .par_iter()
                            .zip(rq.expect("contiguous")),
                    )
                    .for_each(|(((b, cut), dots), (&qn, &r))| {
                        let dots = dots.to_slice().expect("rows of a standard-layout matrix");
                        for (j, ((&dot, &tn), &t)) in dots.iter().zip(pn).zip(rt).enumerate() {
                            let lb = qn + tn - 2.0 * dot + (r - t) * (r - t);
                            if lb < *cut {
                                b.push((lb, (c0 + j) as u32));
                                if b.len() == 2 * m {
                                    *cut = prune(b, m);
                                }
                            }
                        }
                    });
            }
            // Exact distances of the candidates, and whether they are sure.
            let exact: Vec<(Vec<(f32, u32)>, bool)> = cands
                .into_par_iter()
                .zip(qb.axis_iter(Axis(0)).into_par_iter())
                .map(|((mut b, _), qr)| {
                    prune(&mut b, m);
                    let qv = qr.to_vec();
                    let qn: f32 = qv.iter().map(|v| v * v).sum();
                    let mut best = Vec::with_capacity(kmax + 1);
                    for &(_, i) in &b {
                        let i = i as usize;
                        let dot = match &self.bytes {
                            Some((bytes, unit)) => match bytes.row(i).as_slice() {
                                Some(row) => unit * dot_bytes(&qv, row),
                                None => self.train.row(i).dot(&qr),
                            },
                            None => self.train.row(i).dot(&qr),
                        };
                        keep(
                            &mut best,
                            kmax,
                            ((qn + self.norms[i] - 2.0 * dot).max(0.0), i as u32),
                        );
                    }
                    // No training row outside the candidates has a bound below
                    // the largest kept. Bounds carry f32 rounding: a margin
                    // well above it.
                    let last = b.iter().fold(0f32, |x, &(lb, _)| x.max(lb));
                    let sure = b.len() < m || last * (1.0 - 1e-4) - 1e-4 >= best[kmax - 1].0;
                    (best, sure)
                })
                .collect();
            for (r, (best, sure)) in exact.into_iter().enumerate() {
                if !sure {
                    unsure.push(start + r);
                }
                for (k, (d, i)) in best.into_iter().enumerate() {
                    index[[start + r, k]] = i;
                    dist2[[start + r, k]] = d;
                }
            }
            on_block(rows);
        }
        if !unsure.is_empty() {
            let nb = self.brute(q.select(Axis(0), &unsure).view(), kmax, &|_| {});
            for (r, &qi) in unsure.iter().enumerate() {
                index.row_mut(qi).assign(&nb.index.row(r));
                dist2.row_mut(qi).assign(&nb.dist2.row(r));
            }
        }
        Ok(Neighbours { index, dist2 })
    }

    /// Every query against every training row, by blocks of matrix products.
    fn brute(
        &self,
        q: ArrayView2<f32>,
        kmax: usize,
        on_block: &(dyn Fn(usize) + Sync),
    ) -> Neighbours {
        let n = q.nrows();
        let mut index = Array2::<u32>::zeros((n, kmax));
        let mut dist2 = Array2::<f32>::zeros((n, kmax));
        let mut g = Array2::<f32>::zeros((QUERY_BLOCK.min(n.max(1)), TRAIN_CHUNK));
        for start in (0..n).step_by(QUERY_BLOCK) {
            let end = (start + QUERY_BLOCK).min(n);
            let qb = q.slice(s![start..end, ..]).select(Axis(1), &self.columns);
            let rows = end - start;
            // Per query: the best `kmax` (score, index) so far, sorted ascending.
            let mut best: Vec<Vec<(f32, u32)>> = vec![Vec::with_capacity(kmax + 1); rows];
            for c0 in (0..self.len()).step_by(TRAIN_CHUNK) {
                let c1 = (c0 + TRAIN_CHUNK).min(self.len());
                let mut gb = g.slice_mut(s![..rows, ..c1 - c0]);
                let chunk = self.train.slice(s![c0..c1, ..]);
                if rows < FEW_QUERIES {
                    // A matrix product would first copy (pack) the whole chunk;
                    // for a handful of queries plain dot products are faster,
                    // over the byte copy when there is one.
                    for (mut out, q) in gb.rows_mut().into_iter().zip(qb.rows()) {
                        match &self.bytes {
                            Some((bytes, unit)) => {
                                // Sequential: the server runs many such queries at once.
                                let q = q.to_vec();
                                let rows = bytes.slice(s![c0..c1, ..]);
                                Zip::from(&mut out).and(rows.rows()).for_each(|o, b| {
                                    *o = match b.as_slice() {
                                        Some(b) => unit * dot_bytes(&q, b),
                                        None => unit * dot_bytes(&q, &b.to_vec()),
                                    };
                                });
                            }
                            None => out.assign(&chunk.dot(&q)),
                        }
                    }
                } else {
                    general_mat_mul(1.0, &qb, &chunk.t(), 0.0, &mut gb);
                }
                let norms = self.norms.slice(s![c0..c1]);
                let select = |b: &mut Vec<(f32, u32)>, dots: ndarray::ArrayView1<f32>| {
                    for (j, (&dot, &nt)) in dots.iter().zip(norms.iter()).enumerate() {
                        keep(b, kmax, (nt - 2.0 * dot, (c0 + j) as u32));
                    }
                };
                if rows < FEW_QUERIES {
                    // Stay on this thread: the server runs many single queries at once.
                    best.iter_mut()
                        .zip(gb.axis_iter(Axis(0)))
                        .for_each(|(b, dots)| select(b, dots));
                } else {
                    best.par_iter_mut()
                        .zip(gb.axis_iter(Axis(0)).into_par_iter())
                        .for_each(|(b, dots)| select(b, dots));
                }
            }
            for (r, b) in best.iter().enumerate() {
                let qn = qb.row(r).dot(&qb.row(r));
                for (k, &(score, i)) in b.iter().enumerate() {
                    index[[start + r, k]] = i;
                    dist2[[start + r, k]] = (score + qn).max(0.0);
                }
            }
            on_block(rows);
        }
        Neighbours { index, dist2 }
    }
}

/// Class probabilities from the first `k` neighbours: vote shares (uniform) or
/// shares of 1/distance (distance; exact matches take all the weight).
pub(crate) fn vote(
    nb: &Neighbours,
    labels: &[u8],
    k: usize,
    weighting: Weighting,
) -> Result<Array2<f32>> {
    if k == 0 || k > nb.index.ncols() {
        return Err(invalid(
            ModelKind::Knn,
            "k",
            format!("k = {k} but {} neighbours were searched", nb.index.ncols()),
        ));
    }
    let mut p = Array2::<f32>::zeros((nb.index.nrows(), CLASSES));
    let one = |mut p: ndarray::ArrayViewMut1<f32>,
               idx: ndarray::ArrayView1<u32>,
               d2: ndarray::ArrayView1<f32>| {
        let exact = d2.iter().take(k).any(|&d| d == 0.0);
        for (&i, &d) in idx.iter().zip(d2.iter()).take(k) {
            let w = match weighting {
                Weighting::Uniform => 1.0,
                Weighting::Distance if exact => (d == 0.0) as u8 as f32,
                Weighting::Distance => 1.0 / d.sqrt(),
            };
            p[labels[i as usize] as usize] += w;
        }
        let total = p.sum();
        p.mapv_inplace(|v| v / total);
    };
    let rows = Zip::from(p.rows_mut())
        .and(nb.index.rows())
        .and(nb.dist2.rows());
    if nb.index.nrows() < FEW_QUERIES {
        rows.for_each(one);
    } else {
        rows.par_for_each(one);
    }
    Ok(p)
}

/// Labels from vote shares; ties go to the class of the nearest neighbour
/// among the tied classes.
pub(crate) fn decide(p: &Array2<f32>, nb: &Neighbours, labels: &[u8]) -> Array1<u8> {
    Array1::from_iter(p.rows().into_iter().zip(nb.index.rows()).map(|(p, idx)| {
        let top = p.fold(0.0f32, |a, &v| a.max(v));
        idx.iter()
            .map(|&i| labels[i as usize])
            .find(|&c| p[c as usize] == top)
            .unwrap_or(0)
    }))
}

/// Validation accuracy per (k, weighting) and the best choice.
#[derive(Debug, Clone, PartialEq)]
pub struct KChoice {
    pub rows: Vec<(usize, Weighting, f64)>,
    pub k: usize,
    pub weighting: Weighting,
    pub accuracy: f64,
}

impl KChoice {
    pub fn table(&self) -> crate::display::Table {
        let mut ks: Vec<usize> = self.rows.iter().map(|r| r.0).collect();
        ks.dedup();
        let acc = |k: usize, w: Weighting| {
            self.rows
                .iter()
                .find(|r| r.0 == k && r.1 == w)
                .map(|r| crate::metrics::percent(r.2))
                .unwrap_or_default()
        };
        crate::display::Table::new(
            vec![
                "k".into(),
                "uniform votes".into(),
                "distance-weighted".into(),
            ],
            ks.iter()
                .map(|&k| {
                    vec![
                        k.to_string(),
                        acc(k, Weighting::Uniform),
                        acc(k, Weighting::Distance),
                    ]
                })
                .collect(),
        )
        .with_caption(format!(
            "Validation accuracy; best: k = {}, {:?} votes ({:.2}%)",
            self.k,
            self.weighting,
            100.0 * self.accuracy
        ))
    }
}

impl crate::display::Rich for KChoice {
    fn bundle(&self) -> crate::display::Bundle {
        self.table().bundle()
    }
}

crate::display::inherent_rich!(KChoice);

/// The value of one pixel step after scaling (kNN allows unit or no scaling).
fn unit(scaler: &Scaler) -> f32 {
    match scaler {
        Scaler::Unit => 1.0 / 255.0,
        _ => 1.0,
    }
}

/// A fitted kNN: the searchable training set and its labels.
#[derive(Debug, Clone)]
pub struct FittedKnn {
    index: Index,
    labels: Vec<u8>,
    /// The scaling of the stored rows after any deskewing (unit or none),
    /// to write them back as bytes.
    base: Scaler,
}

impl FittedKnn {
    /// The labels of the training rows.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }
}

impl Model<KnnParams> {
    /// Neighbours of scaled query rows (the `kmax` nearest), for choosing k.
    pub fn neighbours(
        &self,
        x: ArrayView2<f32>,
        kmax: usize,
        progress: &dyn Progress,
    ) -> Result<Neighbours> {
        let index = &self.fitted()?.index;
        progress.begin("kNN: queries", x.nrows() as u64);
        let nb = index.search(x, kmax, &|rows| progress.advance(rows as u64));
        progress.end();
        nb
    }

    /// Validation accuracy for every k in `ks` and both weightings, from one
    /// search of the `max(ks)` nearest neighbours.
    pub fn choose_k(
        &self,
        x_valid: ArrayView2<f32>,
        y_valid: ArrayView1<u8>,
        ks: &[usize],
    ) -> Result<KChoice> {
        let kmax = ks.iter().copied().max().unwrap_or(1);
        let nb = self.neighbours(x_valid, kmax, &super::Silent)?;
        let labels = &self.fitted()?.labels;
        let mut rows = Vec::new();
        for &k in ks {
            for w in [Weighting::Uniform, Weighting::Distance] {
                let pred = decide(&vote(&nb, labels, k, w)?, &nb, labels);
                let acc = crate::metrics::accuracy(&y_valid.to_vec(), &pred.to_vec())?;
                rows.push((k, w, acc));
            }
        }
        // Best accuracy; ties go to the smaller k, then uniform votes.
        let (k, weighting, accuracy) =
            rows.iter()
                .fold(rows[0], |best, &r| if r.2 > best.2 { r } else { best });
        Ok(KChoice {
            rows,
            k,
            weighting,
            accuracy,
        })
    }

    /// Vote as `choice` says from now on (the stored training set does not
    /// depend on k or the weighting, so nothing is refitted).
    pub fn vote_as(&mut self, choice: &KChoice) -> Result<()> {
        self.adjust(|p| {
            p.k = choice.k;
            p.weighting = choice.weighting;
        })
    }
}

impl Estimator for KnnParams {
    type Fitted = FittedKnn;

    fn kind(&self) -> ModelKind {
        ModelKind::Knn
    }

    fn scaling(&self) -> Scaling {
        self.scaling
    }

    fn augmentation(&self) -> crate::augment::Augment {
        self.augment
    }

    fn check(&self) -> Result<()> {
        if self.k == 0 {
            return Err(invalid(ModelKind::Knn, "k", "must be at least 1"));
        }
        if !matches!(
            self.scaling,
            Scaling::Unit | Scaling::None | Scaling::DeskewUnit | Scaling::Deskew
        ) {
            return Err(invalid(
                ModelKind::Knn,
                "scaling",
                "kNN stores its training set as bytes: use unit or no scaling, deskewed or not",
            ));
        }
        Ok(())
    }

    /// "Training" stores the training set.
    fn fit(
        &self,
        data: Training<'_>,
        progress: &dyn Progress,
    ) -> Result<(FittedKnn, Option<super::History>)> {
        let base = data.scaler.base().clone();
        let raw = data.scaler.inverse_transform(&data.x)?;
        if raw
            .iter()
            .any(|&v| !(0.0..=255.0).contains(&v) || (v - v.round()).abs() > 1e-3)
        {
            return Err(Error::InvalidData(
                "kNN stores its training images as bytes: pixel values must be whole numbers 0-255"
                    .into(),
            ));
        }
        if self.k > data.x.nrows() {
            return Err(invalid(
                ModelKind::Knn,
                "k",
                format!(
                    "k = {} must be between 1 and the {} training rows",
                    self.k,
                    data.x.nrows()
                ),
            ));
        }
        let index = Index::new(data.x).with_bytes(unit(&base));
        progress.note(&format!(
            "stored {} training images ({} of {} pixels used)",
            index.len(),
            index.columns.len(),
            index.width
        ));
        Ok((
            FittedKnn {
                index,
                labels: data.y.to_vec(),
                base,
            },
            None,
        ))
    }

    fn predict_proba(&self, m: &FittedKnn, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        let nb = m.index.search(x, self.k, &|_| {})?;
        vote(&nb, &m.labels, self.k, self.weighting)
    }

    fn predict(&self, m: &FittedKnn, x: ArrayView2<f32>) -> Result<Array1<u8>> {
        let nb = m.index.search(x, self.k, &|_| {})?;
        let p = vote(&nb, &m.labels, self.k, self.weighting)?;
        Ok(decide(&p, &nb, &m.labels))
    }

    fn to_bytes(&self, m: &FittedKnn) -> Result<Vec<u8>> {
        use codec::Put;
        let index = &m.index;
        // Back to bytes: the inverse of the unit (or no) scaling, over all columns.
        let mut full = Array2::<f32>::zeros((index.len(), index.width));
        for (k, &j) in index.columns.iter().enumerate() {
            full.column_mut(j).assign(&index.train.column(k));
        }
        let raw = m.base.inverse_transform(&full.view())?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let io = |e: std::io::Error| Error::Encode {
            what: "kNN parameters".into(),
            reason: e.to_string(),
        };
        gz.write_all(&m.labels).map_err(io)?;
        let bytes: Vec<u8> = raw
            .iter()
            .map(|&v| v.round().clamp(0.0, 255.0) as u8)
            .collect();
        gz.write_all(&bytes).map_err(io)?;
        let mut out = Vec::new();
        out.put_u64(index.len() as u64);
        out.put_u64(index.width as u64);
        out.extend_from_slice(&gz.finish().map_err(io)?);
        Ok(out)
    }

    fn fitted_from_bytes(&self, scaler: &Scaler, payload: &[u8]) -> Result<FittedKnn> {
        let mut r = codec::Reader::new(payload, "kNN parameters");
        let n = r.count(10_000_000, "training rows")?;
        let d = r.count(1 << 16, "columns")?;
        let mut zipped = r.rest();
        let mut raw = Vec::new();
        let limit = (n * (d + 1)) as u64 + 1;
        let mut decoder = flate2::bufread::GzDecoder::new(&mut zipped);
        (&mut decoder)
            .take(limit)
            .read_to_end(&mut raw)
            .map_err(|e| Error::Decode {
                what: "kNN parameters".into(),
                reason: format!("bad compressed data: {e}"),
            })?;
        drop(decoder);
        if !zipped.is_empty() {
            return Err(Error::Decode {
                what: "kNN parameters".into(),
                reason: format!("{} unexpected trailing bytes", zipped.len()),
            });
        }
        if raw.len() != n * (d + 1) {
            return Err(Error::Decode {
                what: "kNN parameters".into(),
                reason: format!(
                    "{} bytes of training data, expected {}",
                    raw.len(),
                    n * (d + 1)
                ),
            });
        }
        let (labels, pixels) = raw.split_at(n);
        if labels.iter().any(|&l| l as usize >= CLASSES) {
            return Err(Error::Decode {
                what: "kNN parameters".into(),
                reason: "label out of range".into(),
            });
        }
        let x = Array2::from_shape_vec((n, d), pixels.iter().map(|&v| v as f32).collect())
            .map_err(|e| Error::Shape(e.to_string()))?;
        // The stored images are the training images as the model saw them
        // (deskewed already, when the scaler deskews): only scale them.
        let base = scaler.base().clone();
        let x = base.transform(&x.view())?;
        Ok(FittedKnn {
            index: Index::new(x.view()).with_bytes(unit(&base)),
            labels: labels.to_vec(),
            base,
        })
    }
}

super::linfa_fit!(KnnParams);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(n: usize, d: usize, seed: u64) -> Array2<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        // Some columns always zero in the training set, as with MNIST's border.
        Array2::from_shape_fn((n, d), |(_, j)| {
            if j % 7 == 0 {
                0.0
            } else {
                rng.gen_range(0.0..1.0)
            }
        })
    }

    #[test]
    fn matrix_product_distances_equal_naive_distances() {
        // More rows than one block and one chunk, so block edges are crossed.
        let train = random(5000, 40, 1);
        let queries = random(700, 40, 2);
        let index = Index::new(train.view());
        let nb = index.search(queries.view(), 5, &|_| {}).unwrap();
        for (qi, q) in queries.rows().into_iter().enumerate() {
            let mut naive: Vec<(f32, usize)> = train
                .rows()
                .into_iter()
                .enumerate()
                .map(|(i, t)| {
                    (
                        q.iter().zip(t).map(|(a, b)| (a - b) * (a - b)).sum::<f32>(),
                        i,
                    )
                })
                .collect();
            naive.sort_by(|a, b| a.partial_cmp(b).unwrap());
            for k in 0..5 {
                let (d_naive, _) = naive[k];
                let d = nb.dist2[[qi, k]];
                assert!(
                    (d - d_naive).abs() <= 1e-3 * d_naive.max(1.0),
                    "query {qi}, neighbour {k}: {d} vs {d_naive}"
                );
                // The index found is at the naive distance (ties may permute equal distances).
                let i = nb.index[[qi, k]] as usize;
                let di: f32 = q
                    .iter()
                    .zip(train.row(i))
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum();
                assert!((di - d_naive).abs() <= 1e-3 * d_naive.max(1.0));
            }
        }
        assert!(index.search(queries.view(), 0, &|_| {}).is_err());
        assert!(index.search(random(3, 39, 3).view(), 1, &|_| {}).is_err());
    }

    /// Rows near a 12-dimensional subspace plus noise, in 200 columns (as
    /// digits lie near a low-dimensional set): enough rows for the bound.
    fn clustered(n: usize, seed: u64) -> Array2<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut base = rand_chacha::ChaCha8Rng::seed_from_u64(99);
        let factors = Array2::from_shape_fn((12, 200), |_| base.gen_range(-1.0f32..1.0));
        let w = Array2::from_shape_fn((n, 12), |_| rng.gen_range(-1.0f32..1.0));
        let mut x = w.dot(&factors);
        x.mapv_inplace(|v| v + rng.gen_range(-0.3f32..0.3));
        x
    }

    #[test]
    fn the_bounded_search_finds_exactly_the_brute_force_neighbours() {
        let train = clustered(6000, 1);
        let index = Index::new(train.view());
        let bound = index
            .bound
            .as_ref()
            .expect("6000 rows × 200 columns get a bound");
        // The basis is orthonormal, so the bound holds.
        let gram = bound.directions.basis.t().dot(&bound.directions.basis);
        let eye = Array2::<f32>::eye(BOUND_DIMS);
        assert!(gram.iter().zip(&eye).all(|(a, b)| (a - b).abs() < 1e-4));
        // Queries from the same distribution, and some far from it (where
        // the bound is loose and the full search takes over).
        let mut queries = clustered(900, 2);
        queries
            .slice_mut(s![..50, ..])
            .mapv_inplace(|v| v * 3.0 + 1.0);
        for kmax in [1, 4, 10] {
            let fast = index.search(queries.view(), kmax, &|_| {}).unwrap();
            let slow = index.brute(queries.view(), kmax, &|_| {});
            assert_eq!(fast.index, slow.index, "k = {kmax}");
            assert!(fast
                .dist2
                .iter()
                .zip(&slow.dist2)
                .all(|(a, b)| (a - b).abs() <= 1e-3 * b.max(1.0)));
        }
        // Small training sets and few columns search in full.
        assert!(Index::new(train.slice(s![..1000, ..])).bound.is_none());
        assert!(Index::new(random(5000, 40, 1).view()).bound.is_none());
    }

    #[test]
    fn knn_votes_and_ties() {
        // 1-D: training points at 0, 1, 2, 10 with labels 0, 1, 1, 2.
        let mut x = Array2::<f32>::zeros((4, 2));
        for (i, v) in [0.0, 1.0, 2.0, 10.0].iter().enumerate() {
            x[[i, 0]] = *v;
        }
        let labels = [0u8, 1, 1, 2];
        let index = Index::new(x.view());
        let q = Array2::from_shape_vec((2, 2), vec![0.4, 0.0, 9.0, 0.0]).unwrap();
        let nb = index.search(q.view(), 2, &|_| {}).unwrap();
        assert_eq!(nb.index.row(0).to_vec(), vec![0, 1]);
        // k = 2 at 0.4: one vote each for 0 and 1 → tie, the nearest (label 0) wins.
        let p = vote(&nb, &labels, 2, Weighting::Uniform).unwrap();
        assert_eq!(p.row(0).to_vec()[..2], [0.5, 0.5]);
        assert_eq!(decide(&p, &nb, &labels)[0], 0);
        // Distance weighting: 1/0.4 for label 0 beats 1/0.6 for label 1.
        let p = vote(&nb, &labels, 2, Weighting::Distance).unwrap();
        assert!(p[[0, 0]] > p[[0, 1]]);
        assert!((p.row(1).sum() - 1.0).abs() < 1e-6);
    }
}

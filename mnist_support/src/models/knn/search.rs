//! The search: training rows and queries as matrix products, and the
//! bounded search over the [`Bound`](super::bound::Bound)'s candidates.

use super::*;

/// Queries per block and training rows per chunk of one matrix product.
pub(super) const QUERY_BLOCK: usize = 512;
pub(super) const TRAIN_CHUNK: usize = 4096;
/// Below this many queries, distances come from dot products (the web server's case).
pub(super) const FEW_QUERIES: usize = 8;

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
    pub(super) train: Array2<f32>,
    /// Squared norms of the training rows.
    pub(super) norms: Array1<f32>,
    /// The columns kept, in order.
    pub(super) columns: Vec<usize>,
    /// Total columns of the input rows.
    pub(super) width: usize,
    /// The same rows as bytes with the factor back (`train = bytes × unit`),
    /// when the features are scaled whole pixel values: a quarter of the
    /// memory traffic for single queries.
    pub(super) bytes: Option<(Array2<u8>, f32)>,
    /// Lower bounds on the distances, for blocks of queries (large training sets).
    pub(super) bound: Option<Bound>,
}

/// Keep the `m` smallest `(bound, index)` of `b` (in any order) and return
/// the largest of them (the new cut).
pub(super) fn prune(b: &mut Vec<(f32, u32)>, m: usize) -> f32 {
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
pub(super) fn keep(b: &mut Vec<(f32, u32)>, kmax: usize, item: (f32, u32)) {
    if b.len() < kmax || item.0 < b[kmax - 1].0 {
        let pos = b.partition_point(|&(s, _)| s <= item.0);
        b.insert(pos, item);
        b.truncate(kmax);
    }
}

/// [`keep`] every `(‖t‖² − 2·q·t, index)` of a chunk whose score can enter
/// `b`, the same as calling it on each: blocks of 16 scores are first
/// compared with the current cut (the `kmax`-th score so far) without a
/// branch per score, which the compiler vectorizes; almost every block has
/// no score below it once `b` is full.
#[inline]
pub(super) fn select_below_cut(
    b: &mut Vec<(f32, u32)>,
    kmax: usize,
    dots: &[f32],
    norms: &[f32],
    first: usize,
) {
    const BLOCK: usize = 16;
    let mut cut = if b.len() < kmax {
        f32::INFINITY
    } else {
        b[kmax - 1].0
    };
    for (k, (d, n)) in dots.chunks(BLOCK).zip(norms.chunks(BLOCK)).enumerate() {
        let below = d
            .iter()
            .zip(n)
            .fold(false, |any, (&dot, &nt)| any | (nt - 2.0 * dot < cut));
        if below || b.len() < kmax {
            for (i, (&dot, &nt)) in d.iter().zip(n).enumerate() {
                keep(b, kmax, (nt - 2.0 * dot, (first + k * BLOCK + i) as u32));
            }
            if b.len() >= kmax {
                cut = b[kmax - 1].0;
            }
        }
    }
}

/// `Σ q_j b_j` with eight independent sums, which the compiler vectorizes.
#[inline(always)]
pub(super) fn dot_bytes_portable(q: &[f32], b: &[u8]) -> f32 {
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
pub(super) fn dot_bytes(q: &[f32], b: &[u8]) -> f32 {
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
        let bytes = self.train.mapv(|v| crate::data::to_byte(v / unit));
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
    pub(super) fn bounded(
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
    pub(super) fn brute(
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
                let select = |b: &mut Vec<(f32, u32)>, dots: ndarray::ArrayView1<f32>| match (
                    dots.as_slice(),
                    norms.as_slice(),
                ) {
                    (Some(dots), Some(norms)) => select_below_cut(b, kmax, dots, norms, c0),
                    _ => {
                        for (j, (&dot, &nt)) in dots.iter().zip(norms.iter()).enumerate() {
                            keep(b, kmax, (nt - 2.0 * dot, (c0 + j) as u32));
                        }
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

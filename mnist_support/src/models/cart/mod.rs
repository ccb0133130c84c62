//! Fast CART decision trees and random forests for byte-valued features.
//!
//! # The histogram split search
//!
//! Classic CART sorts a node's samples by every feature to find the best
//! threshold (`O(m log m)` per feature and node). MNIST pixels are bytes, so
//! here a feature's values are counted instead: one pass over the node's `m`
//! samples fills a class histogram `hist[v][c]` (weighted number of samples
//! with value `v` and class `c`) and records in a 256-bit mask which values
//! occur. Walking the set bits of the mask in increasing order visits the
//! present values already sorted; every boundary between two consecutive
//! present values is a candidate threshold, scored from the running left
//! counts and `total - left`. Only the touched bins are cleared afterwards, so
//! a node costs `O(m + present values)` per feature, never `256 × 10`.
//!
//! Making it fast:
//! * [`Binned`] stores the quantized features column-major (`cols[f * n + i]`)
//!   for the gathers of large nodes, whose sample lists are partitioned
//!   *stably* so that they stay sorted and the gather walks a column forwards.
//! * Small nodes would gather from scattered cache lines of a long column, so
//!   a node holding at most 1/8 of the samples of its data block copies its
//!   rows (row-major copy of the data, whole cache lines) into a node-local
//!   column-major block and grows its whole subtree there.
//! * The histogram is filled in four interleaved copies, so that runs of equal
//!   (value, class) pairs, the background pixels of MNIST, do not wait on one
//!   counter's store-to-load latency.
//! * A feature constant in a node is constant in all its descendants: nodes
//!   hand their children the features still varying, and a local block drops
//!   the features constant in it, which prunes most border pixels early.
//! * Boundary-point rule: between two values whose samples are all of one and
//!   the same class the score is convex in the cut position, so such cuts are
//!   skipped (the ends of the run, and the first and last cuts allowed by
//!   `min_samples_leaf`, are still scored; the chosen split is unchanged).
//! * A single tree without `max_features` grows the two subtrees of large
//!   nodes in parallel with `rayon::join`; the result is identical to
//!   sequential growth. Below, an explicit stack is used, so adversarial data
//!   cannot overflow the call stack.
//! * A forest grows its trees in parallel, tree `t` drawing its bootstrap and
//!   its per-split feature subsets from its own ChaCha8 stream `(seed, t)`, so
//!   the forest does not depend on the number of threads.
//!
//! Semantics:
//! * Thresholds are the midpoint between the two present values they separate
//!   (as in scikit-learn); a sample goes left when `value <= threshold`.
//! * Everything is weighted by integer sample weights (bootstrap counts): class
//!   counts, impurities, `min_samples_split`, `min_samples_leaf` and the leaf
//!   distributions. A weight of 2 is exactly a duplicated sample; weight 0
//!   removes the sample.
//! * Ties are broken deterministically: the first best threshold in scan order
//!   (features in candidate order, values increasing) wins.

use std::ops::Range;

use ndarray::{Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::CLASSES;
use crate::error::{Error, Result};

/// Class counts live in 16 lanes (the first [`CLASSES`] used, the rest 0) so
/// that adding and scoring them compiles to whole-vector operations.
const LANES: usize = 16;
const _: () = assert!(CLASSES <= LANES);
type Counts = [u32; LANES];

/// One histogram bin per byte value.
const BINS: usize = 256;
/// Interleaved copies of the histogram (see [`Hist`]).
const WAYS: usize = 4;
/// Most features a tree can address (split features are stored as `u16`).
pub const MAX_TREE_FEATURES: usize = 1 << 16;
/// Columns quantized per parallel task in [`Binned::from_pixels`].
const COL_BLOCK: usize = 16;
/// Most rows per parallel task in [`predict_proba`]: every tree walks all the
/// rows of a chunk before the next tree, so a tree is fetched into the cache
/// once per chunk (fewer, larger chunks are faster for large forests).
const PREDICT_ROWS: usize = 1024;
/// A single tree grows the subtrees of a node in parallel when the node holds
/// at least this many distinct samples...
const PAR_MIN_SAMPLES: usize = 1024;
/// ...and is shallower than this (below, an explicit stack takes over).
const PAR_MAX_DEPTH: usize = 32;
/// A node holding at most `1 / LOCAL_SHRINK` of the samples of its data block
/// (and at least `LOCAL_MIN`) copies them into a node-local block and grows its
/// whole subtree there: the per-feature gathers then hit a short, dense column
/// instead of missing the cache all over a long one. On MNIST (55,000 samples)
/// nodes of 1,024 to 6,875 samples move to local blocks; on larger data blocks
/// nest. (Tuned on MNIST: 1/4, 1/8, 1/16 and a 256 minimum are all within 10%.)
const LOCAL_SHRINK: usize = 8;
const LOCAL_MIN: usize = 1024;
/// Rows transposed per pass when building a local block (they stay in L1).
const LOCAL_ROW_BLOCK: usize = 32;
/// `x ln x` is tabulated up to this count for the entropy criterion.
const XLOGX_TABLE: u64 = 1 << 20;

/// Round and clamp a feature value to a byte: `v.round()` saturated to
/// `0..=255`; NaN maps to 0. Used for training data ([`Binned::from_pixels`])
/// and at prediction time, so both see the same bins.
#[inline]
pub fn quantize(v: f32) -> u8 {
    // Equals `v.round()` clamped (ties away from zero): `v + 0.5` is exact in
    // f64, `as` truncates toward zero, saturates, and maps NaN to 0. Unlike
    // `round`, which is a libm call without SSE4.1, this vectorizes.
    (f64::from(v) + 0.5) as u8
}

/// Features quantized to bytes, stored twice: column-major (`cols[f * n + i]`)
/// so that building one feature's histogram over a large node's samples reads
/// one column, and row-major (`rows[i * d + f]`) so that the few hundred rows
/// of a small node can be copied into a compact node-local block.
#[derive(Clone, PartialEq)]
pub struct Binned {
    n: usize,
    d: usize,
    cols: Vec<u8>,
    rows: Vec<u8>,
}

impl Binned {
    /// Quantize an `n × d` matrix (raw pixel values 0-255) with [`quantize`].
    /// Any NaN or infinite value is an error.
    pub fn from_pixels(x: ArrayView2<f32>) -> Result<Binned> {
        if let Some(((i, j), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::InvalidData(format!(
                "feature value at row {i}, column {j} is {v}: features must be finite"
            )));
        }
        let (n, d) = x.dim();
        let mut rows = vec![0u8; n * d];
        let mut cols = vec![0u8; n * d];
        if n > 0 && d > 0 {
            rows.par_chunks_mut(d)
                .zip(x.axis_iter(Axis(0)))
                .for_each(|(dst, src)| {
                    dst.iter_mut().zip(src).for_each(|(b, &v)| *b = quantize(v));
                });
            // Each task fills COL_BLOCK whole columns.
            cols.par_chunks_mut(n * COL_BLOCK)
                .enumerate()
                .for_each(|(b, block)| {
                    let f0 = b * COL_BLOCK;
                    let width = block.len() / n;
                    for (i, row) in rows.chunks_exact(d).enumerate() {
                        for (j, &v) in row[f0..f0 + width].iter().enumerate() {
                            block[j * n + i] = v;
                        }
                    }
                });
        }
        Ok(Binned { n, d, cols, rows })
    }

    /// Number of samples.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of features.
    pub fn d(&self) -> usize {
        self.d
    }

    fn block(&self) -> Block<'_> {
        Block {
            cols: &self.cols,
            rows: &self.rows,
            n: self.n,
            d: self.d,
        }
    }
}

impl std::fmt::Debug for Binned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binned")
            .field("n", &self.n)
            .field("d", &self.d)
            .finish_non_exhaustive()
    }
}

/// `n` samples of `d` byte features, column-major and row-major: either all of
/// [`Binned`] or a node-local copy made by [`Grower::grow_local`], whose
/// sample indices then count the subtree's samples.
#[derive(Clone, Copy)]
struct Block<'a> {
    cols: &'a [u8],
    rows: &'a [u8],
    n: usize,
    d: usize,
}

impl<'a> Block<'a> {
    fn col(&self, f: u16) -> &'a [u8] {
        let start = usize::from(f) * self.n;
        &self.cols[start..start + self.n]
    }

    fn row(&self, i: usize) -> &'a [u8] {
        &self.rows[i * self.d..(i + 1) * self.d]
    }
}

/// Impurity criterion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    Gini,
    Entropy,
}

/// Growth parameters, with scikit-learn's meaning (counts are weighted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreeParams {
    pub criterion: Criterion,
    /// Depth limit (the root has depth 0); `None` grows until the leaves are
    /// pure or the `min_samples_*` limits stop it.
    pub max_depth: Option<usize>,
    /// A node with fewer (weighted) samples is a leaf.
    pub min_samples_split: usize,
    /// Each child of a split must hold at least this many (weighted) samples.
    pub min_samples_leaf: usize,
    /// Features examined per split, drawn afresh at every split; `None` = all.
    /// Features found constant in the node do not count, and drawing goes on
    /// past the quota until some feature gives a valid split or all were tried.
    pub max_features: Option<usize>,
}

impl Default for TreeParams {
    fn default() -> Self {
        TreeParams {
            criterion: Criterion::Gini,
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            max_features: None,
        }
    }
}

impl TreeParams {
    /// The checks that do not depend on the data, for the `model` these
    /// parameters grow trees of.
    pub(crate) fn check(&self, model: crate::models::Kind) -> Result<()> {
        let invalid = |name, reason: &str| Err(crate::models::invalid(model, name, reason));
        if self.min_samples_split == 0 {
            return invalid("min_samples_split", "must be at least 1");
        }
        if self.min_samples_leaf == 0 {
            return invalid("min_samples_leaf", "must be at least 1");
        }
        if self.max_features == Some(0) {
            return invalid("max_features", "must be at least 1");
        }
        Ok(())
    }

    fn validate(&self, d: usize) -> Result<()> {
        self.check(crate::models::Kind::Tree)?;
        match self.max_features {
            Some(k) if k > d => Err(Error::InvalidHyperparameter {
                model: "tree",
                name: "max_features",
                reason: format!("must be between 1 and the number of features ({d}), got {k}"),
            }),
            _ => Ok(()),
        }
    }
}

/// A tree node, stored in preorder: a split's left child is the next node.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Node {
    /// Go to the next node if `row[feature] <= threshold`, else to `right`.
    Split {
        feature: u16,
        threshold: u8,
        right: u32,
    },
    /// Index into [`Tree::leaves`].
    Leaf(u32),
}

/// A grown classification tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    /// Preorder; leaves are numbered in preorder too.
    nodes: Vec<Node>,
    /// Class distribution of each leaf (weighted class fractions, sum 1).
    leaves: Vec<[f32; CLASSES]>,
    /// Number of features the tree was grown on.
    d: usize,
    /// Depth of the deepest leaf (a lone root leaf has depth 0).
    depth: usize,
}

impl Tree {
    /// Grow one tree on `data` with labels `y` (0-9) and integer sample
    /// `weights` (bootstrap counts; all ones for a plain tree, 0 leaves a
    /// sample out). `rng` is used only when `params.max_features` is set.
    pub fn grow(
        data: &Binned,
        y: &[u8],
        weights: &[u32],
        params: &TreeParams,
        rng: &mut impl Rng,
    ) -> Result<Tree> {
        check_data(data, y, params)?;
        let total = check_weights(weights, data.n)?;
        let grower = Grower::new(data, y, params, total);
        Ok(if params.max_features.is_none() {
            grower.grow(weights, None::<&mut ChaCha8Rng>, true)
        } else {
            grower.grow(weights, Some(rng), false)
        })
    }

    /// Class distribution of the leaf `row` (one sample's `d` quantized
    /// features, see [`quantize`]) falls in.
    pub fn proba_row(&self, row: &[u8]) -> Result<&[f32; CLASSES]> {
        if row.len() != self.d {
            return Err(Error::Shape(format!(
                "row has {} features, the tree was grown on {}",
                row.len(),
                self.d
            )));
        }
        Ok(self.leaf(row))
    }

    /// `row.len() == self.d` is the caller's business.
    #[inline]
    fn leaf(&self, row: &[u8]) -> &[f32; CLASSES] {
        let mut i = 0;
        loop {
            match self.nodes[i] {
                Node::Split {
                    feature,
                    threshold,
                    right,
                } => {
                    i = if row[usize::from(feature)] <= threshold {
                        i + 1
                    } else {
                        right as usize
                    };
                }
                Node::Leaf(l) => return &self.leaves[l as usize],
            }
        }
    }

    /// Number of nodes, splits and leaves together.
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Number of leaves.
    pub fn n_leaves(&self) -> usize {
        self.leaves.len()
    }

    /// Depth of the deepest leaf (0 for a tree that is a single leaf).
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Number of features the tree expects per row.
    pub fn n_features(&self) -> usize {
        self.d
    }

    /// Append the tree to `out`: node count (u32 LE), then the nodes in
    /// preorder, each a tag byte followed by either `feature u16, threshold u8,
    /// right u32` (split, tag 0) or ten `f32` class probabilities (leaf, tag 1);
    /// all little-endian.
    pub fn write_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.nodes.len() as u32).to_le_bytes());
        for node in &self.nodes {
            match *node {
                Node::Split {
                    feature,
                    threshold,
                    right,
                } => {
                    out.push(TAG_SPLIT);
                    out.extend_from_slice(&feature.to_le_bytes());
                    out.push(threshold);
                    out.extend_from_slice(&right.to_le_bytes());
                }
                Node::Leaf(l) => {
                    out.push(TAG_LEAF);
                    for p in &self.leaves[l as usize] {
                        out.extend_from_slice(&p.to_le_bytes());
                    }
                }
            }
        }
    }

    /// Read a tree written by [`Tree::write_bytes`] from `bytes[*pos..]` for
    /// rows of `d` features, advancing `*pos` past it on success. Validates
    /// everything (exact preorder structure, features below `d`, finite
    /// distributions summing to 1); corrupt or truncated input is an
    /// [`Error::Decode`], and the allocation is bounded by the input length.
    pub fn read_bytes(bytes: &[u8], pos: &mut usize, d: usize) -> Result<Tree> {
        let mut r = Reader { bytes, pos: *pos };
        let count = u32::from_le_bytes(r.take()?) as usize;
        let available = bytes.len().saturating_sub(r.pos);
        if count == 0 || count > available / SPLIT_BYTES {
            return Err(corrupt(format!(
                "node count {count} is impossible with {available} bytes left"
            )));
        }
        let mut nodes = Vec::with_capacity(count);
        let mut leaves = Vec::new();
        for i in 0..count {
            let [tag] = r.take()?;
            match tag {
                TAG_SPLIT => {
                    let feature = u16::from_le_bytes(r.take()?);
                    let [threshold] = r.take()?;
                    let right = u32::from_le_bytes(r.take()?);
                    if usize::from(feature) >= d {
                        return Err(corrupt(format!(
                            "node {i} splits on feature {feature}, rows have {d}"
                        )));
                    }
                    nodes.push(Node::Split {
                        feature,
                        threshold,
                        right,
                    });
                }
                TAG_LEAF => {
                    let mut dist = [0f32; CLASSES];
                    for p in &mut dist {
                        *p = f32::from_le_bytes(r.take()?);
                    }
                    let sum: f32 = dist.iter().sum();
                    if dist.iter().any(|p| !p.is_finite() || *p < 0.0) || (sum - 1.0).abs() > 1e-3 {
                        return Err(corrupt(format!(
                            "leaf {i} is not a probability distribution: {dist:?}"
                        )));
                    }
                    nodes.push(Node::Leaf(leaves.len() as u32));
                    leaves.push(dist);
                }
                _ => return Err(corrupt(format!("node {i} has unknown tag {tag}"))),
            }
        }
        let depth = preorder_depth(&nodes)?;
        *pos = r.pos;
        Ok(Tree {
            nodes,
            leaves,
            d,
            depth,
        })
    }
}

const TAG_SPLIT: u8 = 0;
const TAG_LEAF: u8 = 1;
/// Bytes of the smaller node encoding (a split): bounds a claimed node count.
const SPLIT_BYTES: usize = 8;

fn corrupt(reason: String) -> Error {
    Error::Decode {
        what: "decision tree".into(),
        reason,
    }
}

/// Little-endian reader that reports truncation instead of panicking.
struct Reader<'b> {
    bytes: &'b [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let src = self
            .pos
            .checked_add(N)
            .and_then(|end| self.bytes.get(self.pos..end))
            .ok_or_else(|| corrupt(format!("truncated at byte {}", self.pos)))?;
        let mut out = [0u8; N];
        out.copy_from_slice(src);
        self.pos += N;
        Ok(out)
    }
}

/// Check that `nodes` is exactly a binary tree in preorder (each split's left
/// child follows it, its right child follows the left subtree, every node is
/// reached once) and return its depth. Runs in `O(len)` whatever the input.
fn preorder_depth(nodes: &[Node]) -> Result<usize> {
    let mut stack = vec![(0usize, 0usize)];
    let mut next = 0;
    let mut depth = 0;
    while let Some((p, dp)) = stack.pop() {
        if p != next || p >= nodes.len() {
            return Err(corrupt(format!(
                "node {p} is not where preorder expects node {next}"
            )));
        }
        next += 1;
        depth = depth.max(dp);
        if let Node::Split { right, .. } = nodes[p] {
            stack.push((right as usize, dp + 1));
            stack.push((p + 1, dp + 1));
        }
    }
    if next != nodes.len() {
        return Err(corrupt(format!(
            "{} of {} nodes are unreachable",
            nodes.len() - next,
            nodes.len()
        )));
    }
    Ok(depth)
}

/// Average class distribution over `trees` for every row of `x` (raw feature
/// values, quantized with [`quantize`]): an `n × 10` matrix whose rows sum to 1.
/// One tree gives its own leaf distributions. Parallel over row chunks.
pub fn predict_proba(trees: &[Tree], x: ArrayView2<f32>) -> Result<Array2<f32>> {
    if trees.is_empty() {
        return Err(Error::InvalidData(
            "predict_proba needs at least one tree".into(),
        ));
    }
    let (n, d) = x.dim();
    if let Some(t) = trees.iter().find(|t| t.d != d) {
        return Err(Error::Shape(format!(
            "x has {d} columns, a tree was grown on {} features",
            t.d
        )));
    }
    let scale = 1.0 / trees.len() as f32;
    // At least four chunks per thread, to balance the load.
    let chunk_rows = n
        .div_ceil(4 * rayon::current_num_threads())
        .clamp(1, PREDICT_ROWS);
    let mut out = vec![0f32; n * CLASSES];
    out.par_chunks_mut(chunk_rows * CLASSES)
        .enumerate()
        .for_each(|(b, chunk)| {
            let r0 = b * chunk_rows;
            let rows = chunk.len() / CLASSES;
            let mut q = vec![0u8; rows * d];
            for r in 0..rows {
                for (dst, &v) in q[r * d..(r + 1) * d].iter_mut().zip(x.row(r0 + r)) {
                    *dst = quantize(v);
                }
            }
            for tree in trees {
                for (r, acc) in chunk.chunks_exact_mut(CLASSES).enumerate() {
                    let p = tree.leaf(&q[r * d..(r + 1) * d]);
                    acc.iter_mut().zip(p).for_each(|(a, p)| *a += p);
                }
            }
            chunk.iter_mut().for_each(|v| *v *= scale);
        });
    Array2::from_shape_vec((n, CLASSES), out).map_err(|e| Error::Shape(e.to_string()))
}

/// Grow a random forest of `n_trees` trees in parallel. Tree `t` uses its own
/// ChaCha8 stream seeded from `(seed, t)`: with `bootstrap`, `n` draws with
/// replacement become its sample weights; `params.max_features` features are
/// drawn at each split. The result does not depend on the thread count.
/// `on_tree` is called after each finished tree (progress bars).
pub fn grow_forest(
    data: &Binned,
    y: &[u8],
    params: &TreeParams,
    n_trees: usize,
    bootstrap: bool,
    seed: u64,
    on_tree: &(dyn Fn() + Sync),
) -> Result<Vec<Tree>> {
    check_data(data, y, params)?;
    if n_trees == 0 {
        return Err(crate::models::invalid(
            crate::models::Kind::Forest,
            "n_trees",
            "must be at least 1",
        ));
    }
    let n = data.n;
    // Bootstrap or not, the weights of each tree sum to n.
    let grower = Grower::new(data, y, params, n as u64);
    Ok((0..n_trees)
        .into_par_iter()
        .map(|t| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(t as u64);
            let weights = if bootstrap {
                let mut w = vec![0u32; n];
                for _ in 0..n {
                    w[rng.gen_range(0..n as u32) as usize] += 1;
                }
                w
            } else {
                vec![1u32; n]
            };
            let tree = grower.grow(&weights, Some(&mut rng), false);
            on_tree();
            tree
        })
        .collect())
}

fn check_data(data: &Binned, y: &[u8], params: &TreeParams) -> Result<()> {
    if data.n == 0 || data.d == 0 {
        return Err(Error::Shape(format!(
            "cannot grow a tree on {}×{} data",
            data.n, data.d
        )));
    }
    if data.d > MAX_TREE_FEATURES {
        return Err(Error::InvalidData(format!(
            "{} features: a tree handles at most {MAX_TREE_FEATURES}",
            data.d
        )));
    }
    if data.n > i32::MAX as usize {
        return Err(Error::InvalidData(format!(
            "{} samples: at most {} are supported",
            data.n,
            i32::MAX
        )));
    }
    if y.len() != data.n {
        return Err(Error::Shape(format!(
            "{} labels for {} samples",
            y.len(),
            data.n
        )));
    }
    if let Some(i) = y.iter().position(|&c| usize::from(c) >= CLASSES) {
        return Err(Error::InvalidData(format!(
            "label {} at index {i} is not a class 0-{}",
            y[i],
            CLASSES - 1
        )));
    }
    params.validate(data.d)
}

/// Check the weights and return their total.
fn check_weights(weights: &[u32], n: usize) -> Result<u64> {
    if weights.len() != n {
        return Err(Error::Shape(format!(
            "{} weights for {n} samples",
            weights.len()
        )));
    }
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return Err(Error::InvalidData("all sample weights are 0".into()));
    }
    if total > u64::from(u32::MAX) {
        return Err(Error::InvalidData(format!(
            "sample weights sum to {total}, more than {}",
            u32::MAX
        )));
    }
    Ok(total)
}

/// Scores a candidate split; larger is better.
enum Scorer {
    /// `Σ_c cL²/nL + Σ_c cR²/nR` (scikit-learn's proxy for the Gini decrease).
    Gini,
    /// `Σ_c (cL ln cL + cR ln cR) - nL ln nL - nR ln nR` = `-(nL·H(L) + nR·H(R))`,
    /// with `x ln x` tabulated for small counts.
    Entropy(Vec<f64>),
}

fn xlogx(x: f64) -> f64 {
    if x > 0.0 {
        x * x.ln()
    } else {
        0.0
    }
}

impl Scorer {
    fn new(criterion: Criterion, total_weight: u64) -> Scorer {
        match criterion {
            Criterion::Gini => Scorer::Gini,
            Criterion::Entropy => Scorer::Entropy(
                (0..=total_weight.min(XLOGX_TABLE))
                    .map(|x| xlogx(x as f64))
                    .collect(),
            ),
        }
    }

    /// `left` ⊆ `tot` class by class; `nl`, `nr` > 0 are the side totals.
    #[inline]
    fn score(&self, left: &Counts, tot: &Counts, nl: u32, nr: u32) -> f64 {
        match self {
            Scorer::Gini => {
                // Exact: Σ c² ≤ (Σ c)² < 2^64 since totals fit in u32.
                let (mut sl, mut sr) = (0u64, 0u64);
                for c in 0..CLASSES {
                    let l = u64::from(left[c]);
                    let r = u64::from(tot[c] - left[c]);
                    sl += l * l;
                    sr += r * r;
                }
                sl as f64 / f64::from(nl) + sr as f64 / f64::from(nr)
            }
            Scorer::Entropy(table) => {
                let f = |x: u32| {
                    table
                        .get(x as usize)
                        .copied()
                        .unwrap_or_else(|| xlogx(f64::from(x)))
                };
                let mut s = -f(nl) - f(nr);
                for c in 0..CLASSES {
                    s += f(left[c]) + f(tot[c] - left[c]);
                }
                s
            }
        }
    }
}

/// The samples of one node: indices into the data, with their labels and
/// weights alongside so the histogram loop reads three sequential arrays.
struct Samples<'s> {
    idx: &'s mut [u32],
    lab: &'s mut [u8],
    wt: &'s mut [u32],
}

impl<'s> Samples<'s> {
    fn len(&self) -> usize {
        self.idx.len()
    }

    fn range(&mut self, r: Range<usize>) -> Samples<'_> {
        Samples {
            idx: &mut self.idx[r.clone()],
            lab: &mut self.lab[r.clone()],
            wt: &mut self.wt[r],
        }
    }

    fn split_at(self, k: usize) -> (Samples<'s>, Samples<'s>) {
        let (il, ir) = self.idx.split_at_mut(k);
        let (ll, lr) = self.lab.split_at_mut(k);
        let (wl, wr) = self.wt.split_at_mut(k);
        (
            Samples {
                idx: il,
                lab: ll,
                wt: wl,
            },
            Samples {
                idx: ir,
                lab: lr,
                wt: wr,
            },
        )
    }
}

/// Class histogram of one feature over a node's samples, in `WAYS`
/// interleaved copies (sample `k` counts into copy `k % WAYS`, a tail of fewer
/// than `WAYS` samples into copy 0): runs of samples with the same value and
/// class, the rule in MNIST (background pixels), would otherwise wait on one
/// counter's store-to-load latency at every step.
/// All zero between uses: [`Hist::take`] clears what [`Hist::fill`] touched.
struct Hist {
    ways: [[Counts; BINS]; WAYS],
    /// Presence flags (stores only, no read-modify-write chain).
    seen: [u8; BINS],
}

impl Hist {
    /// Count the samples; return the set of values present as a 256-bit mask.
    fn fill(&mut self, col: &[u8], samples: &Samples) -> [u64; BINS / 64] {
        let Hist { ways, seen } = self;
        let mut count = |way: usize, i: u32, c: u8, w: u32| {
            let v = usize::from(col[i as usize]);
            ways[way][v][usize::from(c) & (LANES - 1)] += w;
            seen[v] = 1;
        };
        let idx = samples.idx.chunks_exact(WAYS);
        let lab = samples.lab.chunks_exact(WAYS);
        let wt = samples.wt.chunks_exact(WAYS);
        let tail = idx
            .remainder()
            .iter()
            .zip(lab.remainder())
            .zip(wt.remainder());
        for ((&i, &c), &w) in tail {
            count(0, i, c, w);
        }
        for ((i, c), w) in idx.zip(lab).zip(wt) {
            for way in 0..WAYS {
                count(way, i[way], c[way], w[way]);
            }
        }
        let mut present = [0u64; BINS / 64];
        for (word, flags) in present.iter_mut().zip(seen.chunks_exact(64)) {
            for (byte, eight) in flags.chunks_exact(8).enumerate() {
                // Eight 0/1 flag bytes to eight bits: the multiplication sums
                // byte j's bit into bit 56 + j (checked for all 256 patterns).
                let packed = u64::from_le_bytes(eight.try_into().unwrap_or_default());
                *word |= (packed.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * byte);
            }
        }
        seen.fill(0);
        present
    }

    /// The counts of value `v`, summed over the copies, which are cleared.
    #[inline]
    fn take(&mut self, v: usize) -> Counts {
        let mut bin = [0; LANES];
        for way in self.ways.iter_mut() {
            let counts = std::mem::replace(&mut way[v], [0; LANES]);
            for (b, k) in bin.iter_mut().zip(counts) {
                *b += k;
            }
        }
        bin
    }
}

/// Per-thread working memory.
struct Scratch {
    /// All zero between uses: only touched bins are written, and they are cleared.
    hist: Box<Hist>,
    /// Right-hand side buffers of the stable partition.
    idx: Vec<u32>,
    lab: Vec<u8>,
    wt: Vec<u32>,
    /// Candidate features of the node being split.
    feats: Vec<u16>,
    /// Spare (column-major, row-major) buffers for node-local blocks.
    blocks: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            hist: Box::new(Hist {
                ways: [[[0; LANES]; BINS]; WAYS],
                seen: [0; BINS],
            }),
            idx: Vec::new(),
            lab: Vec::new(),
            wt: Vec::new(),
            feats: Vec::new(),
            blocks: Vec::new(),
        }
    }
}

/// A node waiting to be split.
struct NodeTask {
    depth: usize,
    /// Weighted class counts.
    counts: Counts,
    /// Features not known to be constant in this node.
    active: Vec<u16>,
}

/// The best threshold found so far.
struct Candidate {
    score: f64,
    feature: u16,
    threshold: u8,
    /// Weighted class counts of the left side.
    left: Counts,
}

enum FeatureScan {
    /// One value only: this feature can never split the node or its descendants.
    Constant,
    /// The best valid threshold, if any respects `min_samples_leaf`.
    Varies(Option<Candidate>),
}

/// A split node whose samples are partitioned: the first `n_left` go left.
struct Children {
    feature: u16,
    threshold: u8,
    n_left: usize,
    left: NodeTask,
    right: NodeTask,
}

/// Nodes of a subtree under construction, in preorder, with `right` and leaf
/// indices relative to this buffer.
#[derive(Default)]
struct TreeBuf {
    nodes: Vec<Node>,
    leaves: Vec<[f32; CLASSES]>,
    depth: usize,
}

impl TreeBuf {
    fn push_leaf(&mut self, counts: &Counts, depth: usize) {
        let total: f64 = counts.iter().map(|&c| f64::from(c)).sum();
        let dist = std::array::from_fn(|c| (f64::from(counts[c]) / total) as f32);
        self.nodes.push(Node::Leaf(self.leaves.len() as u32));
        self.leaves.push(dist);
        self.depth = self.depth.max(depth);
    }

    fn push_split(&mut self, feature: u16, threshold: u8, depth: usize) -> usize {
        self.nodes.push(Node::Split {
            feature,
            threshold,
            right: 0,
        });
        self.depth = self.depth.max(depth);
        self.nodes.len() - 1
    }

    /// Point the split at `parent` to the next node to be pushed.
    fn link_right(&mut self, parent: usize) {
        let here = self.nodes.len() as u32;
        if let Some(Node::Split { right, .. }) = self.nodes.get_mut(parent) {
            *right = here;
        }
    }

    fn append(&mut self, other: TreeBuf) {
        let node_off = self.nodes.len() as u32;
        let leaf_off = self.leaves.len() as u32;
        self.nodes
            .extend(other.nodes.into_iter().map(|node| match node {
                Node::Split {
                    feature,
                    threshold,
                    right,
                } => Node::Split {
                    feature,
                    threshold,
                    right: right + node_off,
                },
                Node::Leaf(l) => Node::Leaf(l + leaf_off),
            }));
        self.leaves.extend(other.leaves);
        self.depth = self.depth.max(other.depth);
    }
}

/// What every node of every tree of one fit shares.
struct Grower<'a> {
    data: &'a Binned,
    y: &'a [u8],
    params: &'a TreeParams,
    scorer: Scorer,
}

impl<'a> Grower<'a> {
    /// Inputs are validated; `total_weight` bounds the weight of any tree's root.
    fn new(data: &'a Binned, y: &'a [u8], params: &'a TreeParams, total_weight: u64) -> Self {
        Grower {
            data,
            y,
            params,
            scorer: Scorer::new(params.criterion, total_weight),
        }
    }

    /// Grow one tree; `parallel` grows large subtrees with `rayon::join` and
    /// requires `max_features == None` (the feature draws must be sequential).
    fn grow<R: Rng>(&self, weights: &[u32], rng: Option<&mut R>, parallel: bool) -> Tree {
        let kept = weights.iter().filter(|&&w| w > 0).count();
        let (mut idx, mut lab, mut wt) = (
            Vec::with_capacity(kept),
            Vec::with_capacity(kept),
            Vec::with_capacity(kept),
        );
        let mut counts = [0u32; LANES];
        for (i, (&w, &c)) in weights.iter().zip(self.y).enumerate() {
            if w > 0 {
                idx.push(i as u32);
                lab.push(c);
                wt.push(w);
                counts[usize::from(c)] += w;
            }
        }
        let root = NodeTask {
            depth: 0,
            counts,
            active: (0..self.data.d).map(|f| f as u16).collect(),
        };
        let samples = Samples {
            idx: &mut idx,
            lab: &mut lab,
            wt: &mut wt,
        };
        let mut scratch = Scratch::new();
        let buf = if parallel && self.params.max_features.is_none() {
            self.grow_par(&mut scratch, samples, root)
        } else {
            self.grow_seq(&mut scratch, self.data.block(), samples, root, rng)
        };
        Tree {
            nodes: buf.nodes,
            leaves: buf.leaves,
            d: self.data.d,
            depth: buf.depth,
        }
    }

    /// Grow the subtree of `node` with subtrees of large nodes in parallel;
    /// nodes small enough for a local block go to [`Grower::grow_seq`].
    fn grow_par(&self, s: &mut Scratch, mut samples: Samples, node: NodeTask) -> TreeBuf {
        let data = self.data.block();
        let m = samples.len();
        if m < PAR_MIN_SAMPLES || m * LOCAL_SHRINK <= data.n || node.depth >= PAR_MAX_DEPTH {
            return self.grow_seq(s, data, samples, node, None::<&mut ChaCha8Rng>);
        }
        let mut buf = TreeBuf::default();
        match self.split_node(s, data, &mut samples, &node, None::<&mut ChaCha8Rng>) {
            None => buf.push_leaf(&node.counts, node.depth),
            Some(ch) => {
                let parent = buf.push_split(ch.feature, ch.threshold, node.depth);
                let (ls, rs) = samples.split_at(ch.n_left);
                let (lbuf, rbuf) = rayon::join(
                    || self.grow_par(s, ls, ch.left),
                    || self.grow_par(&mut Scratch::new(), rs, ch.right),
                );
                buf.append(lbuf);
                buf.link_right(parent);
                buf.append(rbuf);
            }
        }
        buf
    }

    /// Grow the subtree of `root` depth-first with an explicit stack; small
    /// enough subtrees move to a local block ([`Grower::grow_local`]).
    fn grow_seq<R: Rng>(
        &self,
        s: &mut Scratch,
        data: Block,
        mut samples: Samples,
        root: NodeTask,
        mut rng: Option<&mut R>,
    ) -> TreeBuf {
        let mut buf = TreeBuf::default();
        // (sample range, node, split whose right child this node is)
        let mut stack = vec![(0..samples.len(), root, None)];
        while let Some((range, node, parent)) = stack.pop() {
            if let Some(p) = parent {
                buf.link_right(p);
            }
            let mut sub = samples.range(range.clone());
            if sub.len() >= LOCAL_MIN && sub.len() * LOCAL_SHRINK <= data.n {
                let subtree = self.grow_local(s, data, &sub, node, rng.as_deref_mut());
                buf.append(subtree);
                continue;
            }
            match self.split_node(s, data, &mut sub, &node, rng.as_deref_mut()) {
                None => buf.push_leaf(&node.counts, node.depth),
                Some(ch) => {
                    let here = buf.push_split(ch.feature, ch.threshold, node.depth);
                    let mid = range.start + ch.n_left;
                    stack.push((mid..range.end, ch.right, Some(here)));
                    stack.push((range.start..mid, ch.left, None));
                }
            }
        }
        buf
    }

    /// Copy the samples of `node` from `data` into a local block (features
    /// constant there leave the candidate list for good) and grow its subtree
    /// on that block.
    fn grow_local<R: Rng>(
        &self,
        s: &mut Scratch,
        data: Block,
        samples: &Samples,
        mut node: NodeTask,
        rng: Option<&mut R>,
    ) -> TreeBuf {
        let (m, d) = (samples.len(), data.d);
        let (mut cols, mut rows) = s.blocks.pop().unwrap_or_default();
        // Copy the rows (whole cache lines), note which features vary...
        rows.clear();
        for &i in samples.idx.iter() {
            rows.extend_from_slice(data.row(i as usize));
        }
        let mut varies = vec![0u8; d];
        let mut chunks = rows.chunks_exact(d);
        if let Some(first) = chunks.next() {
            for row in chunks {
                for ((acc, &a), &b) in varies.iter_mut().zip(row).zip(first) {
                    *acc |= a ^ b;
                }
            }
        }
        node.active.retain(|&f| varies[usize::from(f)] != 0);
        // ...and transpose those still candidates, LOCAL_ROW_BLOCK rows at a time.
        cols.resize(m * d, 0);
        for k0 in (0..m).step_by(LOCAL_ROW_BLOCK) {
            let k1 = (k0 + LOCAL_ROW_BLOCK).min(m);
            let chunk = &rows[k0 * d..k1 * d];
            for &f in &node.active {
                let f = usize::from(f);
                let dst = &mut cols[f * m + k0..f * m + k1];
                for (v, row) in dst.iter_mut().zip(chunk.chunks_exact(d)) {
                    *v = row[f];
                }
            }
        }
        let block = Block {
            cols: &cols,
            rows: &rows,
            n: m,
            d,
        };
        let mut idx: Vec<u32> = (0..m as u32).collect();
        let (mut lab, mut wt) = (samples.lab.to_vec(), samples.wt.to_vec());
        let local = Samples {
            idx: &mut idx,
            lab: &mut lab,
            wt: &mut wt,
        };
        let buf = self.grow_seq(s, block, local, node, rng);
        s.blocks.push((cols, rows));
        buf
    }

    /// Decide whether `node` splits; if so, partition its samples.
    fn split_node<R: Rng>(
        &self,
        s: &mut Scratch,
        data: Block,
        samples: &mut Samples,
        node: &NodeTask,
        rng: Option<&mut R>,
    ) -> Option<Children> {
        let p = self.params;
        let total: u64 = node.counts.iter().map(|&c| u64::from(c)).sum();
        let stop = p.max_depth.is_some_and(|m| node.depth >= m)
            || total < p.min_samples_split as u64
            || total < (p.min_samples_leaf as u64).saturating_mul(2)
            || node.counts.iter().filter(|&&c| c > 0).count() < 2;
        if stop {
            return None;
        }
        let (best, active) = self.find_split(s, data, samples, node, rng);
        let best = best?;
        let n_left = partition(s, data.col(best.feature), samples, best.threshold);
        let right_counts = std::array::from_fn(|c| node.counts[c] - best.left[c]);
        Some(Children {
            feature: best.feature,
            threshold: best.threshold,
            n_left,
            left: NodeTask {
                depth: node.depth + 1,
                counts: best.left,
                active: active.clone(),
            },
            right: NodeTask {
                depth: node.depth + 1,
                counts: right_counts,
                active,
            },
        })
    }

    /// Best split over the candidate features, and the features the children
    /// should still consider (those not found constant here).
    fn find_split<R: Rng>(
        &self,
        s: &mut Scratch,
        data: Block,
        samples: &Samples,
        node: &NodeTask,
        mut rng: Option<&mut R>,
    ) -> (Option<Candidate>, Vec<u16>) {
        let mut feats = std::mem::take(&mut s.feats);
        feats.clear();
        feats.extend_from_slice(&node.active);
        let quota = self.params.max_features.unwrap_or(usize::MAX);
        let mut varying = Vec::with_capacity(feats.len());
        let mut best: Option<Candidate> = None;
        let mut j = 0;
        while j < feats.len() && (varying.len() < quota || best.is_none()) {
            if let (Some(_), Some(r)) = (self.params.max_features, rng.as_deref_mut()) {
                // Partial Fisher-Yates: feats[j] becomes a uniform draw from the rest.
                let k = r.gen_range(j as u32..feats.len() as u32) as usize;
                feats.swap(j, k);
            }
            let f = feats[j];
            if let FeatureScan::Varies(found) =
                self.scan_feature(&mut s.hist, data.col(f), f, samples, &node.counts)
            {
                varying.push(f);
                if let Some(c) = found {
                    if best.as_ref().is_none_or(|b| c.score > b.score) {
                        best = Some(c);
                    }
                }
            }
            j += 1;
        }
        varying.extend_from_slice(&feats[j..]);
        s.feats = feats;
        (best, varying)
    }

    /// Histogram feature `f` (column `col`) over the node's samples and find its best threshold.
    fn scan_feature(
        &self,
        hist: &mut Hist,
        col: &[u8],
        f: u16,
        samples: &Samples,
        tot: &Counts,
    ) -> FeatureScan {
        let present = hist.fill(col, samples);
        let constant = present.iter().map(|w| w.count_ones()).sum::<u32>() == 1;
        let total: u32 = tot.iter().sum();
        let msl = self.params.min_samples_leaf as u64;
        let mut left = [0u32; LANES];
        let mut nl = 0u32;
        // Previous present value, its classes (bit mask) and weight.
        let mut prev: Option<(usize, u16, u32)> = None;
        let mut best: Option<Candidate> = None;
        for (word_index, &word) in present.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let v = word_index * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let bin = hist.take(v);
                let (classes, weight) = class_mask(&bin);
                if let Some((p, p_classes, p_weight)) = prev {
                    let nr = total - nl;
                    let valid = |l: u32, r: u32| u64::from(l) >= msl && u64::from(r) >= msl;
                    // Boundary-point rule: between two bins pure in the same class the
                    // score is convex in the cut position, so it cannot beat both ends
                    // of the run of such bins; those ends (or the first and last valid
                    // cuts when min_samples_leaf binds) are evaluated instead.
                    let inside_run = classes == p_classes
                        && classes.is_power_of_two()
                        && valid(nl - p_weight, nr + p_weight)
                        && valid(nl + weight, nr - weight);
                    if valid(nl, nr) && !inside_run {
                        let score = self.scorer.score(&left, tot, nl, nr);
                        if best.as_ref().is_none_or(|b| score > b.score) {
                            // p < v, so the midpoint keeps p left and v right.
                            let threshold = (p + (v - p) / 2) as u8;
                            best = Some(Candidate {
                                score,
                                feature: f,
                                threshold,
                                left,
                            });
                        }
                    }
                }
                for c in 0..LANES {
                    left[c] += bin[c];
                }
                nl += weight;
                prev = Some((v, classes, weight));
            }
        }
        if constant {
            FeatureScan::Constant
        } else {
            FeatureScan::Varies(best)
        }
    }
}

/// Bit mask of the classes present in a histogram bin, and its total weight.
#[inline]
fn class_mask(bin: &Counts) -> (u16, u32) {
    let mut mask = 0;
    for (c, &k) in bin[..CLASSES].iter().enumerate() {
        mask |= u16::from(k != 0) << c;
    }
    (mask, bin.iter().sum())
}

/// Stable in-place partition of a node's samples on `col[i] <= threshold`;
/// returns the number that go left. Keeps each side's indices increasing.
fn partition(s: &mut Scratch, col: &[u8], samples: &mut Samples, threshold: u8) -> usize {
    let m = samples.len();
    s.idx.resize(m, 0);
    s.lab.resize(m, 0);
    s.wt.resize(m, 0);
    let (mut l, mut r) = (0, 0);
    for k in 0..m {
        let (i, c, w) = (samples.idx[k], samples.lab[k], samples.wt[k]);
        let go_left = col[i as usize] <= threshold;
        // Branch-free: write to both sides, advance one (l <= k: no clobbering).
        samples.idx[l] = i;
        samples.lab[l] = c;
        samples.wt[l] = w;
        s.idx[r] = i;
        s.lab[r] = c;
        s.wt[r] = w;
        l += usize::from(go_left);
        r += usize::from(!go_left);
    }
    samples.idx[l..].copy_from_slice(&s.idx[..r]);
    samples.lab[l..].copy_from_slice(&s.lab[..r]);
    samples.wt[l..].copy_from_slice(&s.wt[..r]);
    l
}

/// Trees as model-file bytes: features per row, tree count, then each tree.
pub(crate) fn write_trees(trees: &[Tree], d: usize) -> Vec<u8> {
    use super::codec::Put;
    let mut out = Vec::new();
    out.put_u64(d as u64);
    out.put_u64(trees.len() as u64);
    for t in trees {
        t.write_bytes(&mut out);
    }
    out
}

/// Inverse of [`write_trees`]; every byte must be used.
pub(crate) fn read_trees(payload: &[u8], what: &str) -> Result<(Vec<Tree>, usize)> {
    let mut r = super::codec::Reader::new(payload, what);
    let d = r.count(MAX_TREE_FEATURES, "features")?;
    let n = r.count(payload.len(), "trees")?;
    if n == 0 {
        return Err(r.error("no trees"));
    }
    let mut pos = r.position();
    let mut trees = Vec::with_capacity(n);
    for _ in 0..n {
        trees.push(Tree::read_bytes(payload, &mut pos, d)?);
    }
    if pos != payload.len() {
        return Err(r.error(format!("{} unexpected trailing bytes", payload.len() - pos)));
    }
    Ok((trees, d))
}

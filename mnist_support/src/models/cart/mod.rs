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
//!
//! Layout: this module holds the parameters, the [`Tree`] and prediction;
//! `binned` the quantized features, `grow` the grower, `hist` the class
//! histograms and split scores, and `format` the tree file format.

use ndarray::{Array2, ArrayView2};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::why::PixelTest;
use crate::data::CLASSES;
use crate::error::{Error, Result};

mod bagging;
mod binned;
mod check;
mod format;
mod grow;
mod hist;
#[cfg(test)]
mod tests;

pub(crate) use bagging::grow_forest;
pub(crate) use binned::{quantize, Binned};
use check::{check_data, check_weights};
pub(crate) use format::{read_trees, write_trees};
use grow::Grower;

/// Class counts live in 16 lanes (the first [`CLASSES`] used, the rest 0) so
/// that adding and scoring them compiles to whole-vector operations.
const LANES: usize = 16;
const _: () = assert!(CLASSES <= LANES);
type Counts = [u32; LANES];
/// Most features a tree can address (split features are stored as `u16`).
pub const MAX_TREE_FEATURES: usize = 1 << 16;
/// Most rows per parallel task in [`predict_proba`]: every tree walks all the
/// rows of a chunk before the next tree, so a tree is fetched into the cache
/// once per chunk (fewer, larger chunks are faster for large forests).
const PREDICT_ROWS: usize = 1024;

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
    pub(crate) fn check(&self, model: crate::models::ModelKind) -> Result<()> {
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

    /// A tree splits pixel levels 0–255 (one byte each): no scaling, or
    /// deskewing alone (which keeps the levels).
    pub(crate) fn check_scaling(
        model: crate::models::ModelKind,
        scaling: crate::scale::Scaling,
    ) -> Result<()> {
        use crate::scale::Scaling;
        if matches!(scaling, Scaling::None | Scaling::Deskew) {
            Ok(())
        } else {
            Err(crate::models::invalid(
                model,
                "scaling",
                "trees split pixel levels 0–255: use none or deskew",
            ))
        }
    }

    fn validate(&self, d: usize) -> Result<()> {
        self.check(crate::models::ModelKind::Tree)?;
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

    /// The tests from the root to the leaf `row` (as for
    /// [`proba_row`](Tree::proba_row)) falls in, and that leaf's class
    /// distribution.
    pub fn path(&self, row: &[u8]) -> Result<(Vec<PixelTest>, &[f32; CLASSES])> {
        self.proba_row(row)?;
        let mut tests = Vec::new();
        let leaf = self.walk(row, |test| tests.push(test));
        Ok((tests, leaf))
    }

    /// `row.len() == self.d` is the caller's business.
    #[inline]
    fn leaf(&self, row: &[u8]) -> &[f32; CLASSES] {
        self.walk(row, |_| {})
    }

    /// The leaf `row` falls in, `visit`ing each test on the way there.
    #[inline]
    fn walk(&self, row: &[u8], mut visit: impl FnMut(PixelTest)) -> &[f32; CLASSES] {
        let mut i = 0;
        loop {
            match self.nodes[i] {
                Node::Split {
                    feature,
                    threshold,
                    right,
                } => {
                    let value = row[usize::from(feature)];
                    let left = value <= threshold;
                    visit(PixelTest {
                        pixel: feature,
                        threshold,
                        value,
                        left,
                    });
                    i = if left { i + 1 } else { right as usize };
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
}

/// The one row of `x` quantized as the trees read it ([`quantize`]), to
/// explain it.
pub(crate) fn one_row(x: ArrayView2<f32>) -> Result<Vec<u8>> {
    if x.nrows() != 1 {
        return Err(Error::Shape(format!(
            "a tree explains one row at a time, got {}",
            x.nrows()
        )));
    }
    Ok(x.row(0).iter().map(|&v| quantize(v)).collect())
}

/// Average class distribution over `trees` for every row of `x` (raw feature
/// values, quantized with [`quantize`]): an `n × 10` matrix whose rows sum to 1.
/// One tree gives its own leaf distributions. Parallel over row chunks.
pub(crate) fn predict_proba(trees: &[Tree], x: ArrayView2<f32>) -> Result<Array2<f32>> {
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

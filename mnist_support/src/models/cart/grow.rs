//! Growing trees: the [`Grower`] that
//! builds a tree node by node (subtrees of large nodes in parallel, an
//! explicit stack below, small nodes moved to node-local blocks), scanning
//! each candidate feature's class [`Hist`] for the best threshold and
//! partitioning the node's samples stably on it.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::data::CLASSES;

use super::binned::Block;
use super::hist::{class_mask, Hist, Samples, Scorer};
use super::{Binned, Counts, Node, Tree, TreeParams, LANES};

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
            hist: Hist::zeroed(),
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
pub(super) struct Grower<'a> {
    data: &'a Binned,
    y: &'a [u8],
    params: &'a TreeParams,
    scorer: Scorer,
}

impl<'a> Grower<'a> {
    /// Inputs are validated; `total_weight` bounds the weight of any tree's root.
    pub(super) fn new(
        data: &'a Binned,
        y: &'a [u8],
        params: &'a TreeParams,
        total_weight: u64,
    ) -> Self {
        Grower {
            data,
            y,
            params,
            scorer: Scorer::new(params.criterion, total_weight),
        }
    }

    /// Grow one tree; `parallel` grows large subtrees with `rayon::join` and
    /// requires `max_features == None` (the feature draws must be sequential).
    pub(super) fn grow<R: Rng>(
        &self,
        weights: &[u32],
        rng: Option<&mut R>,
        parallel: bool,
    ) -> Tree {
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

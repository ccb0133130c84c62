//! The tree file format: [`Tree::write_bytes`] and [`Tree::read_bytes`] for
//! one tree (a node count, then the nodes in preorder, each a tag byte and its
//! fields, all little-endian), and [`write_trees`]/[`read_trees`] for the
//! parameter payload of a tree or forest model file. Reading goes through
//! [`codec::Reader`](crate::models::codec::Reader) and validates everything
//! (structure, feature indices, leaf distributions), so a corrupt or truncated
//! file is an [`Error::Decode`] naming what is wrong, never a panic.

use crate::data::CLASSES;
use crate::error::{Error, Result};
use crate::models::codec::{Put, Reader};

use super::{Node, Tree, MAX_TREE_FEATURES};

impl Tree {
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
        let mut r = Reader::new(bytes, WHAT);
        // Skip what precedes the tree, so that errors give offsets in `bytes`.
        r.take(*pos)?;
        let count = r.u32()? as usize;
        let available = bytes.len().saturating_sub(r.position());
        if count == 0 || count > available / SPLIT_BYTES {
            return Err(corrupt(format!(
                "node count {count} is impossible with {available} bytes left"
            )));
        }
        let mut nodes = Vec::with_capacity(count);
        let mut leaves = Vec::new();
        for i in 0..count {
            let tag = r.u8()?;
            match tag {
                TAG_SPLIT => {
                    let feature = u16::from_le_bytes(array(&mut r)?);
                    let threshold = r.u8()?;
                    let right = r.u32()?;
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
                        *p = f32::from_le_bytes(array(&mut r)?);
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
        *pos = r.position();
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

/// What decoding errors name (see [`Error::Decode`]).
const WHAT: &str = "decision tree";

fn corrupt(reason: String) -> Error {
    Error::Decode {
        what: WHAT.into(),
        reason,
    }
}

/// The next `N` bytes of `r` as an array (a truncation error if fewer are left).
fn array<const N: usize>(r: &mut Reader<'_>) -> Result<[u8; N]> {
    Ok(r.take(N)?.try_into().expect("take returns N bytes"))
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

/// Trees as model-file bytes: features per row, tree count, then each tree.
pub(crate) fn write_trees(trees: &[Tree], d: usize) -> Vec<u8> {
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
    let mut r = Reader::new(payload, what);
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

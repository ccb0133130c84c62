//! Training features quantized to bytes: [`quantize`], the [`Binned`] matrix
//! (stored column-major for the histogram gathers of large nodes and
//! row-major for copying the rows of small nodes), and the [`Block`] view
//! that the grower works on, either all of a [`Binned`] or a node-local copy.

use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Columns quantized per parallel task in [`Binned::from_pixels`].
const COL_BLOCK: usize = 16;

/// Round and clamp a feature value to a byte ([`crate::data::to_byte`]).
/// Used for training data ([`Binned::from_pixels`]) and at prediction time,
/// so both see the same bins.
pub use crate::data::to_byte as quantize;

/// Features quantized to bytes, stored twice: column-major (`cols[f * n + i]`)
/// so that building one feature's histogram over a large node's samples reads
/// one column, and row-major (`rows[i * d + f]`) so that the few hundred rows
/// of a small node can be copied into a compact node-local block.
#[derive(Clone, PartialEq)]
pub struct Binned {
    pub(super) n: usize,
    pub(super) d: usize,
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

    pub(super) fn block(&self) -> Block<'_> {
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
/// [`Binned`] or a node-local copy made by
/// [`Grower::grow_local`](super::grow::Grower::grow_local), whose sample
/// indices then count the subtree's samples.
#[derive(Clone, Copy)]
pub(super) struct Block<'a> {
    pub(super) cols: &'a [u8],
    pub(super) rows: &'a [u8],
    pub(super) n: usize,
    pub(super) d: usize,
}

impl<'a> Block<'a> {
    pub(super) fn col(&self, f: u16) -> &'a [u8] {
        let start = usize::from(f) * self.n;
        &self.cols[start..start + self.n]
    }

    pub(super) fn row(&self, i: usize) -> &'a [u8] {
        &self.rows[i * self.d..(i + 1) * self.d]
    }
}

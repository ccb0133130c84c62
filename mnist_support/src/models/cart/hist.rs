//! The per-feature class histogram ([`Hist`]) that the split search fills
//! for each candidate feature of a node, the [`Scorer`] that rates a
//! candidate threshold (Gini or entropy), and [`class_mask`], which the
//! boundary-point rule uses to skip cuts inside runs of one class; [`Samples`],
//! the node's samples the histograms are filled from.

use std::ops::Range;

use crate::data::CLASSES;

use super::{Counts, Criterion, LANES};

/// The samples of one node: indices into the data, with their labels and
/// weights alongside so the histogram loop reads three sequential arrays.
pub(super) struct Samples<'s> {
    pub(super) idx: &'s mut [u32],
    pub(super) lab: &'s mut [u8],
    pub(super) wt: &'s mut [u32],
}

impl<'s> Samples<'s> {
    pub(super) fn len(&self) -> usize {
        self.idx.len()
    }

    pub(super) fn range(&mut self, r: Range<usize>) -> Samples<'_> {
        Samples {
            idx: &mut self.idx[r.clone()],
            lab: &mut self.lab[r.clone()],
            wt: &mut self.wt[r],
        }
    }

    pub(super) fn split_at(self, k: usize) -> (Samples<'s>, Samples<'s>) {
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

/// One histogram bin per byte value.
const BINS: usize = 256;
/// Interleaved copies of the histogram (see [`Hist`]).
const WAYS: usize = 4;
/// `x ln x` is tabulated up to this count for the entropy criterion.
const XLOGX_TABLE: u64 = 1 << 20;

/// Scores a candidate split; larger is better.
pub(super) enum Scorer {
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
    pub(super) fn new(criterion: Criterion, total_weight: u64) -> Scorer {
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
    pub(super) fn score(&self, left: &Counts, tot: &Counts, nl: u32, nr: u32) -> f64 {
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

/// Class histogram of one feature over a node's samples, in `WAYS`
/// interleaved copies (sample `k` counts into copy `k % WAYS`, a tail of fewer
/// than `WAYS` samples into copy 0): runs of samples with the same value and
/// class, the rule in MNIST (background pixels), would otherwise wait on one
/// counter's store-to-load latency at every step.
/// All zero between uses: [`Hist::take`] clears what [`Hist::fill`] touched.
pub(super) struct Hist {
    ways: [[Counts; BINS]; WAYS],
    /// Presence flags (stores only, no read-modify-write chain).
    seen: [u8; BINS],
}

impl Hist {
    /// An all-zero histogram, on the heap (it is 64 KiB).
    pub(super) fn zeroed() -> Box<Hist> {
        Box::new(Hist {
            ways: [[[0; LANES]; BINS]; WAYS],
            seen: [0; BINS],
        })
    }

    /// Count the samples; return the set of values present as a 256-bit mask.
    pub(super) fn fill(&mut self, col: &[u8], samples: &Samples) -> [u64; BINS / 64] {
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
    pub(super) fn take(&mut self, v: usize) -> Counts {
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

/// Bit mask of the classes present in a histogram bin, and its total weight.
#[inline]
pub(super) fn class_mask(bin: &Counts) -> (u16, u32) {
    let mut mask = 0;
    for (c, &k) in bin[..CLASSES].iter().enumerate() {
        mask |= u16::from(k != 0) << c;
    }
    (mask, bin.iter().sum())
}

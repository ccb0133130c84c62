//! The histogram trees against a plain exhaustive CART written apart from them.

use super::*;

/// Plain exhaustive CART, written independently of the histogram code: per
/// node and feature, the distinct values in order, every midpoint threshold
/// scored with the same formulas; first best (feature order, then value) wins.
enum RefNode {
    Leaf([f32; 10]),
    Split {
        f: usize,
        t: u8,
        left: Box<RefNode>,
        right: Box<RefNode>,
    },
}

impl RefNode {
    fn proba(&self, row: &[u8]) -> [f32; 10] {
        match self {
            RefNode::Leaf(p) => *p,
            RefNode::Split { f, t, left, right } => {
                if row[*f] <= *t {
                    left.proba(row)
                } else {
                    right.proba(row)
                }
            }
        }
    }

    fn leaves(&self) -> usize {
        match self {
            RefNode::Leaf(_) => 1,
            RefNode::Split { left, right, .. } => left.leaves() + right.leaves(),
        }
    }
}

fn ref_score(criterion: Criterion, left: &[u64; 10], tot: &[u64; 10], nl: u64, nr: u64) -> f64 {
    let xlogx = |x: u64| {
        if x == 0 {
            0.0
        } else {
            x as f64 * (x as f64).ln()
        }
    };
    match criterion {
        Criterion::Gini => {
            let sl: u64 = left.iter().map(|l| l * l).sum();
            let sr: u64 = left.iter().zip(tot).map(|(l, t)| (t - l) * (t - l)).sum();
            sl as f64 / nl as f64 + sr as f64 / nr as f64
        }
        Criterion::Entropy => {
            let mut s = -xlogx(nl) - xlogx(nr);
            for c in 0..10 {
                s += xlogx(left[c]) + xlogx(tot[c] - left[c]);
            }
            s
        }
    }
}

#[allow(clippy::needless_range_loop)] // f is a feature number, not just an index
fn ref_grow(
    rows: &[Vec<u8>],
    y: &[u8],
    w: &[u32],
    idx: Vec<usize>,
    depth: usize,
    p: &TreeParams,
) -> RefNode {
    let mut tot = [0u64; 10];
    for &i in &idx {
        tot[usize::from(y[i])] += u64::from(w[i]);
    }
    let n: u64 = tot.iter().sum();
    let leaf = || RefNode::Leaf(std::array::from_fn(|c| (tot[c] as f64 / n as f64) as f32));
    let msl = p.min_samples_leaf as u64;
    if p.max_depth.is_some_and(|m| depth >= m)
        || n < p.min_samples_split as u64
        || n < 2 * msl
        || tot.iter().filter(|&&c| c > 0).count() < 2
    {
        return leaf();
    }
    let mut best: Option<(f64, usize, u8)> = None;
    let d = rows[0].len();
    for f in 0..d {
        let mut by_value = std::collections::BTreeMap::<u8, [u64; 10]>::new();
        for &i in &idx {
            by_value.entry(rows[i][f]).or_default()[usize::from(y[i])] += u64::from(w[i]);
        }
        let values: Vec<(u8, [u64; 10])> = by_value.into_iter().collect();
        let mut left = [0u64; 10];
        for pair in values.windows(2) {
            left.iter_mut().zip(pair[0].1).for_each(|(l, k)| *l += k);
            let nl: u64 = left.iter().sum();
            if nl >= msl && n - nl >= msl {
                let score = ref_score(p.criterion, &left, &tot, nl, n - nl);
                if best.is_none_or(|b| score > b.0) {
                    best = Some((score, f, pair[0].0 + (pair[1].0 - pair[0].0) / 2));
                }
            }
        }
    }
    let Some((_, f, t)) = best else { return leaf() };
    let (l, r): (Vec<usize>, Vec<usize>) = idx.into_iter().partition(|&i| rows[i][f] <= t);
    RefNode::Split {
        f,
        t,
        left: Box::new(ref_grow(rows, y, w, l, depth + 1, p)),
        right: Box::new(ref_grow(rows, y, w, r, depth + 1, p)),
    }
}

#[test]
fn matches_exhaustive_reference() {
    // Large enough for parallel subtrees and node-local blocks to kick in.
    let n = 20_000;
    let mut r = rng(11);
    let (x, y) = synthetic(n, 6, 12, |row| {
        if r.gen_bool(0.3) {
            r.gen_range(0..10)
        } else {
            ((row[0] / 52.0) as u8 + 5 * u8::from(row[1] > 100.0 && row[2] < 200.0)) % 10
        }
    });
    // Few distinct values per feature: many ties between thresholds.
    let x = x.mapv(|v| (v / 32.0).floor() * 32.0);
    let q = rows(&x);
    let data = Binned::from_pixels(x.view()).unwrap();
    let weights: Vec<u32> = (0..n).map(|_| r.gen_range(0..4)).collect();
    let cases = [
        (TreeParams::default(), vec![1; n]),
        (
            TreeParams {
                criterion: Criterion::Entropy,
                min_samples_leaf: 3,
                ..TreeParams::default()
            },
            weights.clone(),
        ),
        (
            TreeParams {
                max_depth: Some(9),
                min_samples_split: 40,
                ..TreeParams::default()
            },
            weights,
        ),
    ];
    for (params, w) in cases {
        let tree = Tree::grow(&data, &y, &w, &params, &mut rng(0)).unwrap();
        let kept = (0..n).filter(|&i| w[i] > 0).collect();
        let reference = ref_grow(&q, &y, &w, kept, 0, &params);
        assert_eq!(tree.n_leaves(), reference.leaves(), "{params:?}");
        for row in &q {
            assert_eq!(
                tree.proba_row(row).unwrap(),
                &reference.proba(row),
                "{params:?}"
            );
        }
    }
}

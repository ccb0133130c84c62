//! Histogram CART on small synthetic data: tree structure, exact agreement
//! with an exhaustive reference CART, parameters, weights, forest determinism,
//! serialization robustness and input validation.

use std::collections::HashMap;

use super::{self as cart, quantize, Binned, Criterion, Tree, TreeParams};
use crate::Error;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod reference;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n × d` random bytes (as f32) and labels computed from each row.
fn synthetic(
    n: usize,
    d: usize,
    seed: u64,
    mut label: impl FnMut(&[f32]) -> u8,
) -> (Array2<f32>, Vec<u8>) {
    let mut r = rng(seed);
    let x = Array2::from_shape_fn((n, d), |_| f32::from(r.gen::<u8>()));
    let y = x
        .outer_iter()
        .map(|row| label(row.as_slice().expect("standard layout")))
        .collect();
    (x, y)
}

/// Noisy 10-class data: the class mostly follows feature 0, with 20% random labels.
fn noisy(n: usize, d: usize, seed: u64) -> (Array2<f32>, Vec<u8>) {
    let mut r = rng(seed ^ 0xabcd);
    synthetic(n, d, seed, move |row| {
        if r.gen_bool(0.2) {
            r.gen_range(0..10)
        } else {
            (row[0] / 25.6) as u8
        }
    })
}

fn rows(x: &Array2<f32>) -> Vec<Vec<u8>> {
    x.outer_iter()
        .map(|r| r.iter().map(|&v| quantize(v)).collect())
        .collect()
}

fn argmax(p: &[f32]) -> u8 {
    p.iter()
        .enumerate()
        .fold(0, |b, (c, &v)| if v > p[b] { c } else { b }) as u8
}

fn grow(x: &Array2<f32>, y: &[u8], params: &TreeParams) -> Tree {
    let data = Binned::from_pixels(x.view()).unwrap();
    Tree::grow(&data, y, &vec![1; y.len()], params, &mut rng(0)).unwrap()
}

fn train_accuracy(tree: &Tree, x: &Array2<f32>, y: &[u8]) -> f64 {
    let hits = rows(x)
        .iter()
        .zip(y)
        .filter(|(r, &c)| argmax(tree.proba_row(r).unwrap()) == c)
        .count();
    hits as f64 / y.len() as f64
}

#[test]
fn quantize_rounds_and_clamps() {
    for k in -3000..30000 {
        let v = k as f32 * 0.01;
        assert_eq!(quantize(v), v.round().clamp(0.0, 255.0) as u8, "{v}");
    }
    for v in [
        0.49999997f32,
        -0.5,
        -0.50000006,
        254.5,
        255.49998,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ] {
        assert_eq!(quantize(v), v.round().clamp(0.0, 255.0) as u8, "{v}");
    }
    assert_eq!(quantize(0.49), 0);
    assert_eq!(quantize(0.5), 1);
    assert_eq!(quantize(254.6), 255);
    assert_eq!(quantize(1e9), 255);
    assert_eq!(quantize(-7.0), 0);
    assert_eq!(quantize(f32::NAN), 0);
    let x = Array2::from_shape_vec((2, 3), vec![0.2, 17.5, 300.0, -1.0, 99.4, 255.0]).unwrap();
    let b = Binned::from_pixels(x.view()).unwrap();
    assert_eq!((b.n(), b.d()), (2, 3));
}

#[test]
fn one_threshold_gives_one_split() {
    let (x, y) = synthetic(400, 5, 1, |r| u8::from(r[3] > 100.0));
    for criterion in [Criterion::Gini, Criterion::Entropy] {
        let tree = grow(
            &x,
            &y,
            &TreeParams {
                criterion,
                ..TreeParams::default()
            },
        );
        assert_eq!(
            (tree.n_nodes(), tree.n_leaves(), tree.depth()),
            (3, 2, 1),
            "{criterion:?}"
        );
        assert_eq!(train_accuracy(&tree, &x, &y), 1.0);
        // Unseen values: 100 and below go left, 101 and above right.
        let mut row = vec![0u8; 5];
        row[3] = 100;
        assert_eq!(argmax(tree.proba_row(&row).unwrap()), 0);
        row[3] = 101;
        assert_eq!(argmax(tree.proba_row(&row).unwrap()), 1);
    }
}

#[test]
fn xor_needs_depth_two() {
    let (x, y) = synthetic(400, 4, 2, |r| u8::from((r[0] > 127.0) != (r[2] > 127.0)));
    let tree = grow(&x, &y, &TreeParams::default());
    assert_eq!(train_accuracy(&tree, &x, &y), 1.0);
    let stump = grow(
        &x,
        &y,
        &TreeParams {
            max_depth: Some(1),
            ..TreeParams::default()
        },
    );
    assert!(train_accuracy(&stump, &x, &y) < 0.7);
    // Clean quadrants: exactly four leaves at depth two.
    let (xq, yq) = synthetic(400, 2, 3, |r| u8::from((r[0] > 127.0) != (r[1] > 127.0)));
    let quad = Array2::from_shape_fn(
        xq.dim(),
        |(i, j)| if xq[[i, j]] > 127.0 { 200.0 } else { 50.0 },
    );
    let tree = grow(&quad, &yq, &TreeParams::default());
    assert_eq!((tree.n_leaves(), tree.depth()), (4, 2));
    assert_eq!(train_accuracy(&tree, &quad, &yq), 1.0);
}

#[test]
fn feature_draws_go_on_past_constant_features() {
    // Features 0-3 are constant; only feature 4 separates the classes. With
    // max_features 1, every split must keep drawing until it reaches feature 4.
    let (x, y) = synthetic(300, 5, 13, |r| {
        u8::from(r[4] > 60.0) + u8::from(r[4] > 180.0)
    });
    let x = Array2::from_shape_fn(x.dim(), |(i, j)| if j < 4 { 7.0 } else { x[[i, j]] });
    let data = Binned::from_pixels(x.view()).unwrap();
    let params = TreeParams {
        max_features: Some(1),
        ..TreeParams::default()
    };
    let forest = cart::grow_forest(&data, &y, &params, 4, false, 5, &|| {}).unwrap();
    for tree in &forest {
        assert_eq!((tree.n_leaves(), tree.depth()), (3, 2));
        assert_eq!(train_accuracy(tree, &x, &y), 1.0);
    }
}

#[test]
fn probabilities_sum_to_one() {
    let (x, y) = noisy(500, 6, 4);
    let data = Binned::from_pixels(x.view()).unwrap();
    let params = TreeParams {
        min_samples_leaf: 7,
        max_features: Some(3),
        ..TreeParams::default()
    };
    let forest = cart::grow_forest(&data, &y, &params, 5, true, 9, &|| {}).unwrap();
    for trees in [&forest[..1], &forest[..]] {
        let p = cart::predict_proba(trees, x.view()).unwrap();
        assert_eq!(p.dim(), (500, 10));
        for row in p.outer_iter() {
            assert!((row.sum() - 1.0).abs() < 1e-5, "{row}");
            assert!(row.iter().all(|&v| (0.0..=1.0).contains(&v)));
        }
    }
    // Any memory layout: a column-major view of the same matrix.
    let fortran = x.t().to_owned();
    assert_eq!(
        Binned::from_pixels(fortran.t()).unwrap(),
        data,
        "quantized column-major input"
    );
    assert_eq!(
        cart::predict_proba(&forest, fortran.t()).unwrap(),
        cart::predict_proba(&forest, x.view()).unwrap()
    );
    // One tree: predict_proba is its own leaf distribution.
    let p = cart::predict_proba(&forest[..1], x.view()).unwrap();
    for (row, q) in p.outer_iter().zip(rows(&x)) {
        assert_eq!(row.as_slice().unwrap(), forest[0].proba_row(&q).unwrap());
    }
}

#[test]
fn depth_and_leaf_size_limits_hold() {
    let (x, y) = noisy(600, 5, 5);
    let full = grow(&x, &y, &TreeParams::default());
    assert!(full.depth() > 4);
    for max_depth in [0, 1, 3] {
        let tree = grow(
            &x,
            &y,
            &TreeParams {
                max_depth: Some(max_depth),
                ..TreeParams::default()
            },
        );
        assert_eq!(tree.depth(), max_depth);
    }
    let q = rows(&x);
    for min_samples_leaf in [1, 5, 40] {
        let tree = grow(
            &x,
            &y,
            &TreeParams {
                min_samples_leaf,
                ..TreeParams::default()
            },
        );
        // Group the training rows by the leaf they reach.
        let mut per_leaf: HashMap<*const [f32; 10], usize> = HashMap::new();
        for r in &q {
            *per_leaf.entry(tree.proba_row(r).unwrap()).or_default() += 1;
        }
        assert_eq!(per_leaf.len(), tree.n_leaves());
        assert!(
            per_leaf.values().all(|&k| k >= min_samples_leaf),
            "min_samples_leaf {min_samples_leaf}"
        );
    }
    let tree = grow(
        &x,
        &y,
        &TreeParams {
            min_samples_split: 601,
            ..TreeParams::default()
        },
    );
    assert_eq!(tree.n_nodes(), 1);
}

#[test]
fn zero_weights_drop_samples_and_two_duplicates() {
    let (x, y) = noisy(300, 4, 6);
    let data = Binned::from_pixels(x.view()).unwrap();
    let params = TreeParams {
        min_samples_leaf: 2,
        ..TreeParams::default()
    };
    let base = Tree::grow(&data, &y, &vec![1; 300], &params, &mut rng(0)).unwrap();

    // 100 junk samples with weight 0 change nothing.
    let (junk, junk_y) = synthetic(100, 4, 7, |r| (r[1] as u8) % 10);
    let xj = ndarray::concatenate![ndarray::Axis(0), x, junk];
    let yj: Vec<u8> = y.iter().chain(&junk_y).copied().collect();
    let mut wj = vec![1; 400];
    wj[300..].fill(0);
    let with_junk = Tree::grow(
        &Binned::from_pixels(xj.view()).unwrap(),
        &yj,
        &wj,
        &params,
        &mut rng(0),
    )
    .unwrap();
    assert_eq!(with_junk, base);

    // Weight 2 on the first 50 samples equals appending copies of them.
    let mut w2 = vec![1; 300];
    w2[..50].fill(2);
    let weighted = Tree::grow(&data, &y, &w2, &params, &mut rng(0)).unwrap();
    let xd = ndarray::concatenate![ndarray::Axis(0), x, x.slice(ndarray::s![..50, ..])];
    let yd: Vec<u8> = y.iter().chain(&y[..50]).copied().collect();
    let duplicated = grow(&xd, &yd, &params);
    assert_eq!(weighted, duplicated);
    assert_ne!(weighted, base);
}

#[test]
fn forest_is_reproducible_and_thread_independent() {
    let (x, y) = noisy(2500, 12, 8);
    let data = Binned::from_pixels(x.view()).unwrap();
    let params = TreeParams {
        max_features: Some(3),
        ..TreeParams::default()
    };
    let done = std::sync::atomic::AtomicUsize::new(0);
    let count = || {
        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    let a = cart::grow_forest(&data, &y, &params, 6, true, 42, &count).unwrap();
    assert_eq!(done.into_inner(), 6);
    let b = cart::grow_forest(&data, &y, &params, 6, true, 42, &|| {}).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        cart::predict_proba(&a, x.view()).unwrap(),
        cart::predict_proba(&b, x.view()).unwrap()
    );
    let c = cart::grow_forest(&data, &y, &params, 6, true, 43, &|| {}).unwrap();
    assert_ne!(a, c);
    assert_ne!(a[0], a[1], "trees of one forest differ");

    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let serial = one
        .install(|| cart::grow_forest(&data, &y, &params, 6, true, 42, &|| {}))
        .unwrap();
    assert_eq!(serial, a);
    // A single tree grows big subtrees in parallel: same tree on one thread.
    let w = vec![1; y.len()];
    let tree = Tree::grow(&data, &y, &w, &TreeParams::default(), &mut rng(0)).unwrap();
    let serial = one
        .install(|| Tree::grow(&data, &y, &w, &TreeParams::default(), &mut rng(0)))
        .unwrap();
    assert_eq!(serial, tree);
    // Without bootstrap and with all features every tree is the plain tree.
    let bagless =
        cart::grow_forest(&data, &y, &TreeParams::default(), 2, false, 1, &|| {}).unwrap();
    assert!(bagless.iter().all(|t| *t == tree));
}

#[test]
fn serialization_round_trips_and_rejects_damage() {
    let (x, y) = noisy(400, 6, 9);
    let data = Binned::from_pixels(x.view()).unwrap();
    let trees = cart::grow_forest(&data, &y, &TreeParams::default(), 2, true, 3, &|| {}).unwrap();
    let mut bytes = vec![7u8]; // something before
    for t in &trees {
        t.write_bytes(&mut bytes);
    }
    let mut pos = 1;
    let back: Vec<Tree> = (0..2)
        .map(|_| Tree::read_bytes(&bytes, &mut pos, 6).unwrap())
        .collect();
    assert_eq!(pos, bytes.len());
    assert_eq!(back, trees);
    assert_eq!(
        cart::predict_proba(&back, x.view()).unwrap(),
        cart::predict_proba(&trees, x.view()).unwrap()
    );

    let mut one = Vec::new();
    trees[0].write_bytes(&mut one);
    for cut in 0..one.len() {
        let mut pos = 0;
        assert!(
            matches!(
                Tree::read_bytes(&one[..cut], &mut pos, 6),
                Err(Error::Decode { .. })
            ),
            "cut {cut}"
        );
        assert_eq!(pos, 0);
    }
    // Wrong feature count for the reader.
    assert!(Tree::read_bytes(&one, &mut 0, 1).is_err());

    // Layout: count (4 bytes), root split: tag, feature (2), threshold, right (4).
    let damaged = |at: usize, with: &[u8]| {
        let mut b = one.clone();
        b[at..at + with.len()].copy_from_slice(with);
        Tree::read_bytes(&b, &mut 0, 6)
    };
    assert_eq!(one[4], 0, "root is a split");
    for bad in [
        &u32::MAX.to_le_bytes()[..],
        &0u32.to_le_bytes(),
        &(one.len() as u32).to_le_bytes(),
    ] {
        assert!(
            matches!(damaged(0, bad), Err(Error::Decode { .. })),
            "node count {bad:?}"
        );
    }
    assert!(
        damaged(5, &6u16.to_le_bytes()).is_err(),
        "feature out of range"
    );
    let right = u32::from_le_bytes([one[8], one[9], one[10], one[11]]);
    for right in [0, 1, right - 1, right + 1, u32::MAX] {
        assert!(
            damaged(8, &right.to_le_bytes()).is_err(),
            "right child {right}"
        );
    }
    assert!(damaged(4, &[9]).is_err(), "unknown tag");
    let last_leaf = one.len() - 40;
    assert!(
        damaged(last_leaf, &f32::NAN.to_le_bytes()).is_err(),
        "NaN probability"
    );
    assert!(
        damaged(last_leaf, &2f32.to_le_bytes()).is_err(),
        "probabilities not summing to 1"
    );

    // Any single damaged byte: an error or a tree that still predicts.
    let q = rows(&x);
    for at in 0..one.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut b = one.clone();
            b[at] ^= flip;
            if let Ok(t) = Tree::read_bytes(&b, &mut 0, 6) {
                for r in &q[..20] {
                    t.proba_row(r).unwrap();
                }
            }
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let (x, y) = noisy(50, 3, 10);
    let data = Binned::from_pixels(x.view()).unwrap();
    let ones = vec![1; 50];
    let p = TreeParams::default();
    let grow = |y: &[u8], w: &[u32], p: &TreeParams| Tree::grow(&data, y, w, p, &mut rng(0));

    let mut bad_label = y.clone();
    bad_label[17] = 10;
    assert!(matches!(
        grow(&bad_label, &ones, &p),
        Err(Error::InvalidData(_))
    ));
    assert!(matches!(grow(&y[..49], &ones, &p), Err(Error::Shape(_))));
    assert!(matches!(grow(&y, &ones[..49], &p), Err(Error::Shape(_))));
    assert!(matches!(grow(&y, &[0; 50], &p), Err(Error::InvalidData(_))));
    for bad in [
        TreeParams {
            min_samples_leaf: 0,
            ..TreeParams::default()
        },
        TreeParams {
            min_samples_split: 0,
            ..TreeParams::default()
        },
        TreeParams {
            max_features: Some(0),
            ..TreeParams::default()
        },
        TreeParams {
            max_features: Some(4),
            ..TreeParams::default()
        },
    ] {
        assert!(
            matches!(
                grow(&y, &ones, &bad),
                Err(Error::InvalidHyperparameter { .. })
            ),
            "{bad:?}"
        );
        assert!(cart::grow_forest(&data, &y, &bad, 1, true, 0, &|| {}).is_err());
    }
    assert!(matches!(
        cart::grow_forest(&data, &y, &p, 0, true, 0, &|| {}),
        Err(Error::InvalidHyperparameter {
            name: "n_trees",
            ..
        })
    ));
    assert!(matches!(
        cart::grow_forest(&data, &bad_label, &p, 1, true, 0, &|| {}),
        Err(Error::InvalidData(_))
    ));

    let empty = Binned::from_pixels(Array2::<f32>::zeros((0, 3)).view()).unwrap();
    assert!(Tree::grow(&empty, &[], &[], &p, &mut rng(0)).is_err());
    let mut nan = x.clone();
    nan[[3, 1]] = f32::NAN;
    assert!(matches!(
        Binned::from_pixels(nan.view()),
        Err(Error::InvalidData(_))
    ));
    nan[[3, 1]] = f32::INFINITY;
    assert!(matches!(
        Binned::from_pixels(nan.view()),
        Err(Error::InvalidData(_))
    ));

    let tree = grow(&y, &ones, &p).unwrap();
    assert!(matches!(tree.proba_row(&[0, 0]), Err(Error::Shape(_))));
    assert!(matches!(
        cart::predict_proba(&[tree], Array2::<f32>::zeros((2, 4)).view()),
        Err(Error::Shape(_))
    ));
    assert!(matches!(
        cart::predict_proba(&[], x.view()),
        Err(Error::InvalidData(_))
    ));
}

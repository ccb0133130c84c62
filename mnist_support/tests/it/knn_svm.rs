//! kNN's matrix-product search against brute force, and the SVM solver on
//! small problems whose answer is known.

use crate::common;

use mnist_support::experiment::{self, Scaled};
use mnist_support::models::knn::{self, Index, Weighting};
use mnist_support::models::svm::{self, smo};
use mnist_support::models::{Classifier, Knn, KnnParams, Silent, Svm, SvmParams};
use ndarray::{Array1, Array2};
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
    let p = knn::vote(&nb, &labels, 2, Weighting::Uniform).unwrap();
    assert_eq!(p.row(0).to_vec()[..2], [0.5, 0.5]);
    assert_eq!(knn::decide(&p, &nb, &labels)[0], 0);
    // Distance weighting: 1/0.4 for label 0 beats 1/0.6 for label 1.
    let p = knn::vote(&nb, &labels, 2, Weighting::Distance).unwrap();
    assert!(p[[0, 0]] > p[[0, 1]]);
    assert!((p.row(1).sum() - 1.0).abs() < 1e-6);
}

#[test]
fn knn_chooses_k_on_validation_and_rejects_non_byte_pixels() {
    let split = common::synthetic_split(400, 100, 9);
    let mut model = Knn::new(KnnParams::default());
    let data = Scaled::new(&split, model.scaling()).unwrap();
    experiment::fit(&mut model, &data, &Silent).unwrap();
    let choice = model
        .choose_k(data.x_valid.view(), data.y_valid.view(), &[1, 3, 5])
        .unwrap();
    assert_eq!(choice.rows.len(), 6);
    let best = choice.rows.iter().map(|r| r.2).fold(0.0, f64::max);
    assert_eq!(choice.accuracy, best);
    assert_eq!(choice.table().rows.len(), 3);
    // Fractional pixels cannot be stored as bytes: a clear error, not a lossy save.
    let mut x = split.x_train.clone();
    x[[0, 0]] = 0.5;
    // (Without deskewing: a deskewing scaler rounds what it interpolates.)
    let err = Knn::new(KnnParams {
        scaling: mnist_support::scale::Scaling::Unit,
        ..KnnParams::default()
    })
    .fit(x.view(), split.y_train.view(), &Silent)
    .unwrap_err();
    assert!(err.to_string().contains("whole numbers"), "{err}");
}

#[test]
fn smo_solves_a_small_problem_and_meets_the_kkt_conditions() {
    // Two Gaussian blobs in 2-D, RBF kernel.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let n = 200;
    let pts: Vec<[f32; 2]> = (0..n)
        .map(|i| {
            let c = if i % 2 == 0 { 1.0 } else { -1.0 };
            [c + rng.gen_range(-0.8..0.8), c + rng.gen_range(-0.8..0.8)]
        })
        .collect();
    let y: Vec<f32> = (0..n)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let gamma = 0.5;
    let k = Array2::from_shape_fn((n, n), |(i, j)| {
        let d = (pts[i][0] - pts[j][0]).powi(2) + (pts[i][1] - pts[j][1]).powi(2);
        (-gamma * d).exp()
    });
    let c = 1.0;
    let (alpha, rho, iterations) = smo(&k, &y, c, 1e-4, 100_000);
    assert!(iterations > 0);
    assert!(alpha.iter().all(|&a| (0.0..=c).contains(&a)));
    let balance: f32 = alpha.iter().zip(&y).map(|(a, y)| a * y).sum();
    assert!(balance.abs() < 1e-3, "Σ α y = {balance}");
    // KKT: y f(x) ≥ 1 where α = 0, = 1 for free vectors, ≤ 1 at C (within tolerance).
    for i in 0..n {
        let f: f32 = (0..n).map(|j| alpha[j] * y[j] * k[[i, j]]).sum::<f32>() - rho;
        let m = y[i] * f;
        if alpha[i] == 0.0 {
            assert!(m >= 1.0 - 1e-2, "{i}: margin {m} with α = 0");
        } else if alpha[i] < c {
            assert!((m - 1.0).abs() < 1e-2, "{i}: margin {m} for a free vector");
        } else {
            assert!(m <= 1.0 + 1e-2, "{i}: margin {m} at C");
        }
    }
}

#[test]
fn svm_separates_synthetic_digits_and_reloads_identically() {
    let split = common::synthetic_split(500, 200, 21);
    let mut model = Svm::new(SvmParams::default());
    model
        .fit(split.x_train.view(), split.y_train.view(), &Silent)
        .unwrap();
    let pred = model.predict(split.x_test.view()).unwrap();
    let acc = pred
        .iter()
        .zip(&split.y_test)
        .filter(|(p, y)| p == y)
        .count() as f64
        / 200.0;
    assert!(acc > 0.95, "accuracy {acc}");
    let machine = model.fitted().unwrap();
    assert_eq!(machine.pairs.len(), 45);
    // The prediction is the majority of the 45 pairwise votes.
    let scaled = model.scaler().transform(&split.x_test.view()).unwrap();
    let f = machine
        .decision(scaled.view(), model.params().gamma as f32)
        .unwrap();
    for (i, row) in f.rows().into_iter().enumerate() {
        let mut votes = [0; 10];
        for (pair, &v) in machine.pairs.iter().zip(row) {
            votes[if v > 0.0 { pair.a } else { pair.b } as usize] += 1;
        }
        let top = *votes.iter().max().unwrap();
        assert_eq!(votes[pred[i] as usize], top, "row {i}");
    }
    let payload = model.to_bytes().unwrap();
    let back = Svm::restore(model.params().clone(), model.scaler().clone(), &payload).unwrap();
    assert_eq!(
        back.predict_proba(split.x_test.view()).unwrap(),
        model.predict_proba(split.x_test.view()).unwrap()
    );
    // Training needs two digits and positive C/gamma.
    let y1 = Array1::from_elem(500, 3u8);
    assert!(svm::train(
        split.x_train.view(),
        y1.view(),
        &SvmParams::default(),
        &Silent
    )
    .is_err());
    let bad = SvmParams {
        gamma: 0.0,
        ..SvmParams::default()
    };
    assert!(matches!(
        svm::train(split.x_train.view(), split.y_train.view(), &bad, &Silent),
        Err(mnist_support::Error::InvalidHyperparameter { name: "gamma", .. })
    ));
}

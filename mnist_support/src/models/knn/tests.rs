//! Tests of the search, the bound and the vote.

use super::*;
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

/// Rows near a 12-dimensional subspace plus noise, in 200 columns (as
/// digits lie near a low-dimensional set): enough rows for the bound.
fn clustered(n: usize, seed: u64) -> Array2<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut base = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let factors = Array2::from_shape_fn((12, 200), |_| base.gen_range(-1.0f32..1.0));
    let w = Array2::from_shape_fn((n, 12), |_| rng.gen_range(-1.0f32..1.0));
    let mut x = w.dot(&factors);
    x.mapv_inplace(|v| v + rng.gen_range(-0.3f32..0.3));
    x
}

#[test]
fn the_bounded_search_finds_exactly_the_brute_force_neighbours() {
    // More rows than the bound's directions are found from: they come
    // from a sample, and the search must stay exact all the same.
    let train = clustered(9000, 1);
    assert!(train.nrows() > BOUND_SAMPLE_ROWS);
    let index = Index::new(train.view());
    let bound = index
        .bound
        .as_ref()
        .expect("9000 rows × 200 columns get a bound");
    // The basis is orthonormal, so the bound holds.
    let gram = bound.directions.basis.t().dot(&bound.directions.basis);
    let eye = Array2::<f32>::eye(BOUND_DIMS);
    assert!(gram.iter().zip(&eye).all(|(a, b)| (a - b).abs() < 1e-4));
    // Queries from the same distribution, and some far from it (where
    // the bound is loose and the full search takes over).
    let mut queries = clustered(900, 2);
    queries
        .slice_mut(s![..50, ..])
        .mapv_inplace(|v| v * 3.0 + 1.0);
    for kmax in [1, 4, 10] {
        let fast = index.search(queries.view(), kmax, &|_| {}).unwrap();
        let slow = index.brute(queries.view(), kmax, &|_| {});
        assert_eq!(fast.index, slow.index, "k = {kmax}");
        assert!(fast
            .dist2
            .iter()
            .zip(&slow.dist2)
            .all(|(a, b)| (a - b).abs() <= 1e-3 * b.max(1.0)));
    }
    // Small training sets and few columns search in full.
    assert!(Index::new(train.slice(s![..1000, ..])).bound.is_none());
    assert!(Index::new(random(5000, 50, 1).view()).bound.is_none());
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
    let p = vote(&nb, &labels, 2, Weighting::Uniform).unwrap();
    assert_eq!(p.row(0).to_vec()[..2], [0.5, 0.5]);
    assert_eq!(decide(&p, &nb, &labels)[0], 0);
    // Distance weighting: 1/0.4 for label 0 beats 1/0.6 for label 1.
    let p = vote(&nb, &labels, 2, Weighting::Distance).unwrap();
    assert!(p[[0, 0]] > p[[0, 1]]);
    assert!((p.row(1).sum() - 1.0).abs() < 1e-6);
}

#[test]
fn selecting_below_the_cut_keeps_what_keep_keeps() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for (n, kmax) in [(5, 3), (100, 1), (1000, 4), (4096, 10), (37, 37)] {
        // Few distinct values, so that ties to the last bit are common.
        let dots: Vec<f32> = (0..n).map(|_| rng.gen_range(0..50) as f32 * 0.5).collect();
        let norms: Vec<f32> = (0..n).map(|_| rng.gen_range(0..80) as f32).collect();
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        // Two chunks in a row, as the search calls it.
        for (first, half) in [(0, 0..n / 2), (n / 2, n / 2..n)] {
            select_below_cut(
                &mut fast,
                kmax,
                &dots[half.clone()],
                &norms[half.clone()],
                first,
            );
            for j in half {
                keep(&mut slow, kmax, (norms[j] - 2.0 * dots[j], j as u32));
            }
        }
        assert_eq!(fast, slow, "n = {n}, k = {kmax}");
    }
}

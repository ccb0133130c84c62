//! The split of the real MNIST files (`MNIST_DIR`) equals the seed's exactly.

use crate::common;

use mnist_support::data::Split;

const TRAIN: [usize; 10] = [5406, 6202, 5510, 5579, 5362, 4962, 5439, 5743, 5334, 5463];
const VALID: [usize; 10] = [517, 540, 448, 552, 480, 459, 479, 522, 517, 486];

#[test]
#[ignore = "needs MNIST_DIR"]
fn real_split_matches_the_seed() {
    let dir = common::real_data_dir();
    let s = Split::load_from(&dir).expect("real MNIST loads with verified checksums");
    assert_eq!(s.x_train.dim(), (55_000, 784));
    assert_eq!(s.x_valid.dim(), (5_000, 784));
    assert_eq!(s.x_test.dim(), (5_000, 784));
    assert_eq!(
        (s.y_train.len(), s.y_valid.len(), s.y_test.len()),
        (55_000, 5_000, 5_000)
    );
    let sum = s.summary();
    assert_eq!(sum.train.class_counts, TRAIN);
    assert_eq!(sum.valid.class_counts, VALID);
    assert_eq!(sum.test.class_counts.iter().sum::<usize>(), 5_000);
    assert!(s.x_train.iter().all(|&v| (0.0..=255.0).contains(&v)));
    assert_eq!(s.x_train.iter().cloned().fold(0f32, f32::max), 255.0);
    assert_eq!(s.checksums.len(), 4);
    let freq = s.class_frequency();
    assert!(freq.verdicts().iter().all(|v| v.contains(": balanced")));
}

/// All 10,000 official test images; our test split is their even-indexed half.
#[test]
#[ignore = "needs MNIST_DIR"]
fn official_test_holds_the_test_split() {
    let dir = common::real_data_dir();
    let (x, y) = mnist_support::data::official_test(&dir).unwrap();
    assert_eq!((x.dim(), y.len()), ((10_000, 784), 10_000));
    let s = Split::load_from(&dir).unwrap();
    let even = ndarray::s![..;2, ..];
    assert_eq!(x.slice(even), s.x_test);
    assert_eq!(y.slice(ndarray::s![..;2]), s.y_test);
}

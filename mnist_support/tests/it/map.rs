//! The map of the training digits (`mnist_support::map`): its axes are the
//! directions the training digits vary most along, it places pictures
//! where their training digits lie, it is saved once and read back as it
//! was, and a corrupt file is a clear error.

use crate::common;

use mnist_support::map::{DigitMap, FILE, POINTS_PER_DIGIT};
use mnist_support::models::Progress;
use mnist_support::store::Store;
use ndarray::{Array1, Axis};
use rand::{Rng, SeedableRng};

/// The notes a task printed.
#[derive(Default)]
struct Notes(std::sync::Mutex<Vec<String>>);
impl Progress for Notes {
    fn note(&self, line: &str) {
        self.0.lock().unwrap().push(line.to_string());
    }
}
impl Notes {
    fn last(&self) -> String {
        self.0.lock().unwrap().last().cloned().unwrap_or_default()
    }
}

/// The share of the training pixels' (0–1) variance along unit direction `d`.
fn share_along(x: &ndarray::Array2<f32>, d: &Array1<f32>) -> f32 {
    let unit = x.mapv(|v| v / 255.0);
    let total: f32 = unit.var_axis(Axis(0), 0.0).sum();
    let z = unit.dot(d);
    z.var(0.0) / total
}

/// The first axis carries more of the variance than any pixel alone and any
/// of 200 random directions, the second less than the first; the points are
/// the first training digits of each class, placed where `place` puts them.
#[test]
fn the_map_spreads_the_training_digits_most() {
    let split = common::synthetic_split(600, 40, 5);
    let map = DigitMap::fit(&split).unwrap();
    let [first, second] = map.explained;
    assert!(
        first >= second && second > 0.0 && first + second <= 1.0,
        "{:?}",
        map.explained
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut best_random = 0f32;
    for _ in 0..200 {
        let mut d = Array1::from_shape_fn(784, |_| rng.gen_range(-1.0f32..1.0));
        d /= d.dot(&d).sqrt();
        best_random = best_random.max(share_along(&split.x_train, &d));
    }
    let mut best_pixel = 0f32;
    for p in 0..784 {
        let mut d = Array1::zeros(784);
        d[p] = 1.0;
        best_pixel = best_pixel.max(share_along(&split.x_train, &d));
    }
    assert!(
        first > best_random && first > best_pixel,
        "first axis {first:.4}, best random direction {best_random:.4}, best pixel {best_pixel:.4}"
    );
    // 600 digits cycling 0..9: 60 of each, all kept (at most POINTS_PER_DIGIT).
    assert_eq!(map.points.len(), 10 * 60.min(POINTS_PER_DIGIT));
    for (i, point) in map.points.iter().take(10).enumerate() {
        let place = map.place(split.x_train.row(i)).unwrap();
        assert_eq!(
            (point.digit, point.x, point.y),
            (split.y_train[i], place.x, place.y)
        );
    }
    assert!(map.place(ndarray::Array1::zeros(10).view()).is_err());
    let response = map.response();
    assert_eq!(response.points, map.points);
    let figure = map
        .figure(&[("digit 0".into(), split.x_valid.row(0))])
        .unwrap();
    assert!(figure.png.len() > 1000);
}

/// Saved once, read back equal; kept while the data is the same, computed
/// again for other data; a corrupt, truncated or foreign file is an error
/// that names the file, and `map_or_fit` replaces it.
#[test]
fn a_saved_map_is_read_back_and_a_corrupt_one_is_an_error() {
    let split = common::synthetic_split(300, 40, 9);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    assert_eq!(DigitMap::load(dir.path()).unwrap(), None);
    let notes = Notes::default();
    let map = store.map_or_fit(&split, &notes).unwrap();
    assert!(
        notes.last().contains("saved the digit map"),
        "{}",
        notes.last()
    );
    assert_eq!(DigitMap::load(dir.path()).unwrap(), Some(map.clone()));
    assert!(map.is_for(&split));
    let again = store.map_or_fit(&split, &notes).unwrap();
    assert!(
        notes.last().contains("using the digit map"),
        "{}",
        notes.last()
    );
    assert_eq!(again, map);

    let other = split.head(200, 40);
    assert!(!map.is_for(&other));
    let theirs = store.map_or_fit(&other, &notes).unwrap();
    assert!(theirs.is_for(&other) && theirs != map);

    let path = dir.path().join(FILE);
    let good = std::fs::read(&path).unwrap();
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("flipped", flipped, "corrupt"),
        ("truncated", good[..good.len() / 2].to_vec(), "corrupt"),
        (
            "foreign",
            b"{\"not\": \"a map\"}".to_vec(),
            "not a digit map",
        ),
    ];
    for (what, bytes, says) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let e = DigitMap::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains(says) && e.contains(FILE), "{what}: {e}");
        let fixed = store.map_or_fit(&other, &notes).unwrap();
        assert!(notes
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|n| n.contains("cannot use the saved digit map")));
        assert_eq!(fixed, theirs, "{what}");
    }
}

//! IDX parsing of good and bad files, locating data, and the split rule on fixtures.

use crate::common;

use common::*;
use mnist_support::data::{self, RawMnist, Split};
use mnist_support::Error;

#[test]
fn reads_raw_and_gzipped_files_alike() {
    let dir = tempfile::tempdir().unwrap();
    let raw = write(dir.path(), "imgs", &idx_images(3, 28, 28));
    let gzd = write(dir.path(), "imgs.gz", &gz(&idx_images(3, 28, 28)));
    let a = data::read_images(&raw).unwrap();
    let b = data::read_images(&gzd).unwrap();
    assert_eq!(a, b);
    assert_eq!((a.count, a.rows, a.cols), (3, 28, 28));
    assert_eq!(a.pixels[784 + 5], (7 + 5) as u8);
    let labels = write(dir.path(), "labels.gz", &gz(&idx_labels(&[0, 9, 4])));
    assert_eq!(data::read_labels(&labels).unwrap(), vec![0, 9, 4]);
}

fn assert_names_file(e: &Error, path: &std::path::Path) {
    let msg = e.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "error {msg:?} should name {}",
        path.display()
    );
}

#[test]
fn wrong_magic_is_a_typed_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // a label file where an image file is expected, and garbage
    let p = write(dir.path(), "imgs", &idx_labels(&[1, 2, 3]));
    let e = data::read_images(&p).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadMagic {
                found: 0x801,
                expected: 0x803,
                ..
            }
        ),
        "{e:?}"
    );
    assert_names_file(&e, &p);
    let p = write(dir.path(), "junk", b"hello world, not idx");
    assert!(matches!(
        data::read_labels(&p).unwrap_err(),
        Error::BadMagic { .. }
    ));
}

#[test]
fn truncated_payload_and_header_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let full = idx_images(4, 28, 28);
    let p = write(dir.path(), "cut.gz", &gz(&full[..full.len() - 100]));
    let e = data::read_images(&p).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Truncated {
                expected: 3136,
                found: 3036,
                ..
            }
        ),
        "{e:?}"
    );
    assert_names_file(&e, &p);
    let p = write(dir.path(), "header", &full[..10]);
    assert!(matches!(
        data::read_images(&p).unwrap_err(),
        Error::Truncated { .. }
    ));
    let p = write(dir.path(), "empty", b"");
    assert!(matches!(
        data::read_labels(&p).unwrap_err(),
        Error::Truncated { .. }
    ));
    let mut long = idx_labels(&[1, 2]);
    long.push(3);
    let p = write(dir.path(), "long", &long);
    assert!(matches!(
        data::read_labels(&p).unwrap_err(),
        Error::TrailingBytes { found: 1, .. }
    ));
}

#[test]
fn huge_dimensions_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = vec![0, 0, 8, 3];
    for _ in 0..3 {
        b.extend_from_slice(&u32::MAX.to_be_bytes());
    }
    let p = write(dir.path(), "huge", &b);
    assert!(matches!(
        data::read_images(&p).unwrap_err(),
        Error::Truncated { .. }
    ));
}

#[test]
fn label_above_nine_is_rejected_with_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "labels", &idx_labels(&[1, 2, 12, 3]));
    let e = data::read_labels(&p).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadLabel {
                index: 2,
                label: 12,
                ..
            }
        ),
        "{e:?}"
    );
    assert_names_file(&e, &p);
}

#[test]
fn corrupt_gzip_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = gz(&idx_images(2, 28, 28));
    let n = bytes.len();
    for b in &mut bytes[12..n - 8] {
        *b ^= 0x5a;
    }
    let p = write(dir.path(), "bad.gz", &bytes);
    let e = data::read_images(&p).unwrap_err();
    assert!(matches!(e, Error::Gzip { .. }), "{e:?}");
    assert_names_file(&e, &p);
}

#[test]
fn missing_file_is_a_typed_error() {
    let p = std::path::PathBuf::from("/nonexistent/dir/train-images-idx3-ubyte.gz");
    let e = data::read_images(&p).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert_names_file(&e, &p);
}

#[test]
fn image_label_count_mismatch_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let i = write(dir.path(), "i", &idx_images(5, 28, 28));
    let l = write(dir.path(), "l", &idx_labels(&[1, 2, 3, 4]));
    let e = data::read_pair(&i, &l).unwrap_err();
    assert!(
        matches!(
            e,
            Error::CountMismatch {
                n_images: 5,
                n_labels: 4,
                ..
            }
        ),
        "{e:?}"
    );
    assert_names_file(&e, &i);
    assert_names_file(&e, &l);
    let small = write(dir.path(), "s", &idx_images(4, 20, 20));
    assert!(matches!(
        data::read_pair(&small, &l).unwrap_err(),
        Error::BadImageSize { rows: 20, .. }
    ));
}

#[test]
fn empty_data_dir_names_all_four_files_and_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let e = RawMnist::load_dir(dir.path(), true).unwrap_err();
    assert!(matches!(e, Error::DataMissing { .. }));
    let msg = e.to_string();
    for f in data::FILES {
        assert!(msg.contains(&f.gz_name()), "{msg}");
        assert!(msg.contains(f.md5_gz), "{msg}");
    }
    assert!(msg.contains("MNIST_DIR"), "{msg}");
}

#[test]
fn one_missing_file_is_named() {
    let dir = fixture_dir(24, 4);
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let msg = RawMnist::load_dir(dir.path(), false)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("Missing: t10k-labels-idx1-ubyte.gz."), "{msg}");
}

#[test]
fn checksums_are_verified_when_asked() {
    let dir = fixture_dir(24, 4);
    let e = RawMnist::load_dir(dir.path(), true).unwrap_err();
    assert!(matches!(e, Error::Checksum { .. }), "{e:?}");
    assert!(e.to_string().contains(data::TRAIN_IMAGES.md5_gz));
    assert!(RawMnist::load_dir(dir.path(), false).is_ok());
}

#[test]
fn raw_files_are_found_when_no_gz() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "train-images-idx3-ubyte",
        &idx_images(12, 28, 28),
    );
    write(dir.path(), "train-labels-idx1-ubyte", &idx_labels(&[3; 12]));
    write(dir.path(), "t10k-images-idx3-ubyte", &idx_images(2, 28, 28));
    write(dir.path(), "t10k-labels-idx1-ubyte", &idx_labels(&[4, 5]));
    let raw = RawMnist::load_dir(dir.path(), false).unwrap();
    assert_eq!(raw.train_images.count, 12);
    assert_eq!(raw.test_labels, vec![4, 5]);
}

#[test]
fn split_rule_on_fixture() {
    let dir = fixture_dir(36, 7);
    let s = Split::from_raw(RawMnist::load_dir(dir.path(), false).unwrap());
    // positions 12, 24, 36 (1-based) are validation: 0-based 11, 23, 35
    assert_eq!(s.x_valid.nrows(), 3);
    assert_eq!(s.x_train.nrows(), 33);
    assert_eq!(s.y_valid.to_vec(), vec![1, 3, 5]);
    // first pixel of image i is (i*7) % 256
    assert_eq!(s.x_valid[[0, 0]], (11 * 7) as f32);
    assert_eq!(
        s.x_train[[11, 0]],
        (12 * 7) as f32,
        "train keeps original order, skipping 11"
    );
    // test: even indices 0, 2, 4, 6 of 7
    assert_eq!(s.x_test.nrows(), 4);
    assert_eq!(s.y_test.to_vec(), vec![0, 6, 2, 8]);
    assert_eq!(s.x_test.ncols(), 784);
    let sum = s.summary();
    assert_eq!(sum.train.rows + sum.valid.rows, 36);
    assert_eq!(sum.valid.class_counts.iter().sum::<usize>(), 3);
    let json: serde_json::Value = serde_json::from_str(&sum.to_json()).unwrap();
    assert_eq!(json["valid"]["rows"], 3);
    assert_eq!(json["test"]["class_counts"][6], 1);
}

#[test]
fn balance_verdict() {
    use mnist_support::data::ClassFrequency;
    let even = [100; 10];
    let mut skewed = [100; 10];
    skewed[3] = 10;
    let f = ClassFrequency::new(vec![("a".into(), even), ("b".into(), skewed)]);
    let v = f.verdicts();
    assert!(v[0].starts_with("a: balanced"), "{v:?}");
    assert!(v[1].starts_with("b: imbalanced"), "{v:?}");
    assert_eq!(ClassFrequency::ratio(&skewed), 10.0);
    let mut absent = even;
    absent[0] = 0;
    assert!(!ClassFrequency::is_balanced(&absent));
}

//! MNIST data: IDX reading (raw or gzip), checksums, locating and fetching the
//! four canonical files, and the train/valid/test split.
//!
//! The split is the seed's own rule:
//! * valid = training images whose 1-based position is a multiple of 12 (5,000),
//! * train = the other 55,000, in their original order,
//! * test  = official test images with an even 0-based index (5,000).
//!
//! The code is split by concern: `idx` reads the IDX format, `files` locates,
//! verifies and downloads the four files, `split` applies the split rule, and
//! `describe` presents a split (shapes, class frequencies); everything is
//! re-exported here.

pub use crate::consts::{to_byte, CLASSES, PIXELS, SIDE};

pub use crate::config::{project_root, SUBSET_ENV};

mod describe;
mod files;
mod idx;
mod npy;
mod split;

pub use describe::{ClassFrequency, PartSummary, SplitSummary, BALANCE_THRESHOLD};
pub use files::{
    default_data_dir, locate, locate_all, md5_file, missing_help, print_arrived, verify, MnistFile,
    RawMnist, FILES, MIRRORS, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS,
};
#[cfg(feature = "download")]
pub use files::{ensure, fetch, fetch_from};
pub use idx::{read_images, read_labels, read_maybe_gz, read_pair, Images};
pub use npy::write_npy;
pub use split::{
    class_counts, is_test_index, is_valid_index, official_test, Labelled, Part, Parts, Split,
};

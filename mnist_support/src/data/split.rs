//! The train/valid/test split ([`Split`]) by the seed's rule
//! ([`is_valid_index`], [`is_test_index`]), quick runs on a subset
//! ([`Config::quick`](crate::config::Config::quick), [`Split::limit`]), all 10,000 official test
//! images ([`official_test`]), and [`class_counts`].

use std::path::Path;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::Result;

use super::describe::{ClassFrequency, PartSummary, SplitSummary};
use super::files::{locate_all, verify, RawMnist, TEST_IMAGES, TEST_LABELS};
use super::idx::{read_pair, Images};
use super::{CLASSES, PIXELS, SUBSET_ENV};

/// One of the split's three parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Train,
    Valid,
    Test,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Train, Part::Valid, Part::Test];

    /// `train`, `valid`, `test`.
    pub fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Valid => "valid",
            Part::Test => "test",
        }
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Images (n×784) and their labels: one part of a split.
#[derive(Debug, Clone, Copy)]
pub struct Labelled<'a> {
    pub x: ArrayView2<'a, f32>,
    pub y: ArrayView1<'a, u8>,
}

impl<'a> Labelled<'a> {
    pub fn new(x: &'a Array2<f32>, y: &'a Array1<u8>) -> Self {
        Labelled {
            x: x.view(),
            y: y.view(),
        }
    }

    /// Part `part` of the three (train, valid, test) images and labels.
    pub fn pick(part: Part, xs: [&'a Array2<f32>; 3], ys: [&'a Array1<u8>; 3]) -> Self {
        let i = part as usize;
        Labelled::new(xs[i], ys[i])
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Anything split into train, valid and test parts of images with labels
/// ([`Split`], and its scaled features `ScaledSplit`).
pub trait Parts {
    /// One part's images and labels.
    fn part(&self, part: Part) -> Labelled<'_>;

    /// MD5 of the data files the parts came from.
    fn checksums(&self) -> &[(String, String)];

    /// The number of images of each part (train, valid, test).
    fn sizes(&self) -> [usize; 3] {
        Part::ALL.map(|p| self.part(p).len())
    }

    /// The three parts in order.
    fn parts(&self) -> [(Part, Labelled<'_>); 3] {
        Part::ALL.map(|p| (p, self.part(p)))
    }
}

/// Is 0-based training index `i` in the validation split?
pub fn is_valid_index(i: usize) -> bool {
    (i + 1).is_multiple_of(12)
}

/// Is 0-based test index `i` in the test split?
pub fn is_test_index(i: usize) -> bool {
    i.is_multiple_of(2)
}

/// All 10,000 official test images and labels (from `dir`, checksums
/// verified), for comparison with published results; our test split is the
/// even-indexed half of them.
pub fn official_test(dir: &Path) -> Result<(Array2<f32>, Array1<u8>)> {
    let paths = locate_all(dir)?;
    for (p, f) in paths[2..].iter().zip([TEST_IMAGES, TEST_LABELS]) {
        verify(p, &f)?;
    }
    let (images, labels) = read_pair(&paths[2], &paths[3])?;
    Ok(gather(&images, &labels, |_| true))
}

/// X_train/X_valid/X_test (f32 pixels 0–255, n×784) and y_train/y_valid/y_test (u8).
#[derive(Debug, Clone)]
pub struct Split {
    pub x_train: Array2<f32>,
    pub x_valid: Array2<f32>,
    pub x_test: Array2<f32>,
    pub y_train: Array1<u8>,
    pub y_valid: Array1<u8>,
    pub y_test: Array1<u8>,
    /// `(file name, md5)` of the source files.
    pub checksums: Vec<(String, String)>,
}

fn gather(
    images: &Images,
    labels: &[u8],
    keep: impl Fn(usize) -> bool,
) -> (Array2<f32>, Array1<u8>) {
    let idx: Vec<usize> = (0..images.count).filter(|&i| keep(i)).collect();
    let mut x = Vec::with_capacity(idx.len() * PIXELS);
    let mut y = Vec::with_capacity(idx.len());
    for &i in &idx {
        x.extend(
            images.pixels[i * PIXELS..(i + 1) * PIXELS]
                .iter()
                .map(|&p| p as f32),
        );
        y.push(labels[i]);
    }
    let x =
        Array2::from_shape_vec((idx.len(), PIXELS), x).expect("length is rows*784 by construction");
    (x, Array1::from(y))
}

impl Split {
    /// Load the canonical files from the configured MNIST directory
    /// ([`Config::data_dir`](crate::config::Config::data_dir), checksums
    /// verified) and split them.
    pub fn load(config: &crate::config::Config) -> Result<Self> {
        Self::load_from(&config.data_dir)
    }

    /// Load the canonical files from `dir` (checksums verified) and split them.
    pub fn load_from(dir: &Path) -> Result<Self> {
        Ok(Self::from_raw(RawMnist::load_dir(dir, true)?))
    }

    /// Apply the seed's split rule to already-read files.
    pub fn from_raw(raw: RawMnist) -> Self {
        let (x_train, y_train) =
            gather(&raw.train_images, &raw.train_labels, |i| !is_valid_index(i));
        let (x_valid, y_valid) = gather(&raw.train_images, &raw.train_labels, is_valid_index);
        let (x_test, y_test) = gather(&raw.test_images, &raw.test_labels, is_test_index);
        Split {
            x_train,
            x_valid,
            x_test,
            y_train,
            y_valid,
            y_test,
            checksums: raw.checksums,
        }
    }

    /// The first `n_train` training images and the first `n_eval` validation
    /// and test images (for quick runs; never used silently).
    pub fn head(&self, n_train: usize, n_eval: usize) -> Split {
        let cut = |x: &Array2<f32>, y: &Array1<u8>, n: usize| {
            let n = n.min(x.nrows());
            (
                x.slice(ndarray::s![..n, ..]).to_owned(),
                y.slice(ndarray::s![..n]).to_owned(),
            )
        };
        let (x_train, y_train) = cut(&self.x_train, &self.y_train, n_train);
        let (x_valid, y_valid) = cut(&self.x_valid, &self.y_valid, n_eval);
        let (x_test, y_test) = cut(&self.x_test, &self.y_test, n_eval);
        Split {
            x_train,
            x_valid,
            x_test,
            y_train,
            y_valid,
            y_test,
            checksums: self.checksums.clone(),
        }
    }

    /// Quick mode for test runs of the notebooks: with `MNIST_SUBSET=n` set
    /// in `config`, keep the first n training images and n/5 (at least 100)
    /// validation and test images, and say so on stdout. Without it, the
    /// full split.
    pub fn limit(self, config: &crate::config::Config) -> Result<Split> {
        self.limit_with(config, |banner| println!("{banner}"))
    }

    /// [`limit`](Self::limit), saying so through `say` (a command whose
    /// stdout is JSON says it on stderr).
    pub fn limit_with(
        self,
        config: &crate::config::Config,
        say: impl FnOnce(&str),
    ) -> Result<Split> {
        let Some(n) = config.subset()? else {
            return Ok(self);
        };
        let small = self.head(n, (n / 5).max(100));
        say(&format!(
            "QUICK MODE ({SUBSET_ENV}={n}): using the first {} training, {} validation and {} test images. Unset {SUBSET_ENV} for the full data.",
            small.x_train.nrows(),
            small.x_valid.nrows(),
            small.x_test.nrows()
        ));
        Ok(small)
    }

    /// Shapes and class counts of the three splits.
    pub fn summary(&self) -> SplitSummary {
        let part = |p: Part| {
            let l = self.part(p);
            PartSummary {
                rows: l.x.nrows(),
                cols: l.x.ncols(),
                class_counts: class_counts(l.y),
            }
        };
        SplitSummary {
            train: part(Part::Train),
            valid: part(Part::Valid),
            test: part(Part::Test),
        }
    }

    /// Class frequencies of the three splits, with a balance verdict.
    pub fn class_frequency(&self) -> ClassFrequency {
        let s = self.summary();
        ClassFrequency::new(
            s.parts()
                .into_iter()
                .map(|(p, summary)| (p.name().into(), summary.class_counts))
                .collect(),
        )
    }
}

impl Parts for Split {
    fn part(&self, part: Part) -> Labelled<'_> {
        Labelled::pick(
            part,
            [&self.x_train, &self.x_valid, &self.x_test],
            [&self.y_train, &self.y_valid, &self.y_test],
        )
    }

    fn checksums(&self) -> &[(String, String)] {
        &self.checksums
    }
}

/// How many of each digit.
pub fn class_counts<'a>(labels: impl IntoIterator<Item = &'a u8>) -> [usize; CLASSES] {
    let mut c = [0usize; CLASSES];
    for &l in labels {
        if (l as usize) < CLASSES {
            c[l as usize] += 1;
        }
    }
    c
}

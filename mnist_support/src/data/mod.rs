//! MNIST data: IDX reading (raw or gzip), checksums, locating and fetching the
//! four canonical files, and the train/valid/test split.
//!
//! The split is the seed's own rule:
//! * valid = training images whose 1-based position is a multiple of 12 (5,000),
//! * train = the other 55,000, in their original order,
//! * test  = official test images with an even 0-based index (5,000).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Side of an MNIST image.
pub const SIDE: usize = 28;
/// Pixels per image.
pub const PIXELS: usize = SIDE * SIDE;
/// Number of classes.
pub const CLASSES: usize = 10;

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// One of the four canonical MNIST files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MnistFile {
    /// File name without `.gz`.
    pub name: &'static str,
    /// md5 of the gzipped file (`<name>.gz`) as distributed.
    pub md5_gz: &'static str,
    /// md5 of the decompressed file (`<name>`), for people who keep raw files.
    pub md5_raw: &'static str,
}

impl MnistFile {
    pub fn gz_name(&self) -> String {
        format!("{}.gz", self.name)
    }
}

pub const TRAIN_IMAGES: MnistFile = MnistFile {
    name: "train-images-idx3-ubyte",
    md5_gz: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    md5_raw: "6bbc9ace898e44ae57da46a324031adb",
};
pub const TRAIN_LABELS: MnistFile = MnistFile {
    name: "train-labels-idx1-ubyte",
    md5_gz: "d53e105ee54ea40749a09fcbcd1e9432",
    md5_raw: "a25bea736e30d166cdddb491f175f624",
};
pub const TEST_IMAGES: MnistFile = MnistFile {
    name: "t10k-images-idx3-ubyte",
    md5_gz: "9fb629c4189551a2d022fa330f9573f3",
    md5_raw: "2646ac647ad5339dbf082846283269ea",
};
pub const TEST_LABELS: MnistFile = MnistFile {
    name: "t10k-labels-idx1-ubyte",
    md5_gz: "ec29112dd5afa0611ce80d1b7f02629c",
    md5_raw: "27ae3e4e09519cfbb04c329615203637",
};

/// The four canonical files, in the order train images, train labels, test images, test labels.
pub const FILES: [MnistFile; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// Public mirrors holding the four `.gz` files under their canonical names.
pub const MIRRORS: [&str; 3] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];

pub use crate::config::{project_root, SUBSET_ENV};

/// `<project>/data/mnist`, where `mnist fetch-data` puts the files.
pub fn default_data_dir() -> PathBuf {
    project_root().join("data").join("mnist")
}

/// Where the data is read from: `$MNIST_DIR` if set, else `<project>/data/mnist`
/// ([`Config`](crate::config::Config)).
pub fn data_dir() -> PathBuf {
    crate::config::Config::get().data_dir.clone()
}

/// A decoded IDX image file.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    /// `count * rows * cols` bytes, row-major, 0 = background, 255 = ink.
    pub pixels: Vec<u8>,
}

/// Read a file fully; gzip is detected by its magic bytes, so both
/// `foo.gz` and a raw `foo` work whatever they are called.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b {
        let mut out = Vec::with_capacity(bytes.len() * 5);
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::Gzip {
                path: path.to_path_buf(),
                source: e,
            })?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Parse an IDX file's header with `ndims` dimensions and check its payload length.
fn parse_idx<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    what: &'static str,
) -> Result<(Vec<usize>, &'a [u8])> {
    let ndims = (magic & 0xff) as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < 4 {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            expected: header,
            found: bytes.len(),
        });
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(Error::BadMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
            what,
        });
    }
    if bytes.len() < header {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            expected: header,
            found: bytes.len(),
        });
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|i| be_u32(bytes, 4 + 4 * i) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::Truncated {
            path: path.to_path_buf(),
            expected: usize::MAX,
            found: bytes.len() - header,
        })?;
    let payload = &bytes[header..];
    if payload.len() < expected {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            expected,
            found: payload.len(),
        });
    }
    if payload.len() > expected {
        return Err(Error::TrailingBytes {
            path: path.to_path_buf(),
            expected,
            found: payload.len() - expected,
        });
    }
    Ok((dims, payload))
}

/// Read an IDX3 image file (raw or gzip).
pub fn read_images(path: &Path) -> Result<Images> {
    let bytes = read_maybe_gz(path)?;
    let (dims, payload) = parse_idx(path, &bytes, IMAGES_MAGIC, "IDX3 unsigned-byte images")?;
    Ok(Images {
        count: dims[0],
        rows: dims[1],
        cols: dims[2],
        pixels: payload.to_vec(),
    })
}

/// Read an IDX1 label file (raw or gzip); every label must be a digit 0–9.
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    let bytes = read_maybe_gz(path)?;
    let (_, payload) = parse_idx(path, &bytes, LABELS_MAGIC, "IDX1 unsigned-byte labels")?;
    if let Some((index, &label)) = payload
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= CLASSES)
    {
        return Err(Error::BadLabel {
            path: path.to_path_buf(),
            index,
            label,
        });
    }
    Ok(payload.to_vec())
}

/// Read an image file and its label file, checking they agree.
pub fn read_pair(images: &Path, labels: &Path) -> Result<(Images, Vec<u8>)> {
    let imgs = read_images(images)?;
    if imgs.rows != SIDE || imgs.cols != SIDE {
        return Err(Error::BadImageSize {
            path: images.to_path_buf(),
            rows: imgs.rows,
            cols: imgs.cols,
        });
    }
    let labs = read_labels(labels)?;
    if imgs.count != labs.len() {
        return Err(Error::CountMismatch {
            images: images.to_path_buf(),
            labels: labels.to_path_buf(),
            n_images: imgs.count,
            n_labels: labs.len(),
        });
    }
    Ok((imgs, labs))
}

/// md5 of a file's bytes, as lowercase hex.
pub fn md5_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(format!("{:x}", md5::compute(&bytes)))
}

/// The help text naming the four files, their checksums and where to put them.
pub fn missing_help(dir: &Path) -> String {
    let mut s = String::from(
        "Put the four canonical MNIST files (gzipped or not) in that directory, or point \
         MNIST_DIR at a directory that holds them, or run `cargo run --release -- fetch-data` \
         to download them:\n",
    );
    for f in FILES {
        s.push_str(&format!("  {:<30} md5 {}\n", f.gz_name(), f.md5_gz));
    }
    s.push_str(&format!("(currently looking in {})", dir.display()));
    s
}

/// Path of `file` in `dir`: the `.gz` if present, else the raw file.
pub fn locate(dir: &Path, file: &MnistFile) -> Option<PathBuf> {
    let gz = dir.join(file.gz_name());
    if gz.is_file() {
        return Some(gz);
    }
    let raw = dir.join(file.name);
    raw.is_file().then_some(raw)
}

/// Paths of the four files in `dir`, or the error naming the missing ones,
/// their checksums and where to put them.
pub fn locate_all(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    let mut missing = Vec::new();
    for f in FILES {
        match locate(dir, &f) {
            Some(p) => paths.push(p),
            None => missing.push(f.gz_name()),
        }
    }
    if missing.is_empty() {
        Ok(paths)
    } else {
        Err(Error::DataMissing {
            dir: dir.to_path_buf(),
            help: format!("Missing: {}.\n{}", missing.join(", "), missing_help(dir)),
        })
    }
}

/// Verify a located file against the canonical checksum (gz or raw, by content).
pub fn verify(path: &Path, file: &MnistFile) -> Result<String> {
    let found = md5_file(path)?;
    if found == file.md5_gz || found == file.md5_raw {
        Ok(found)
    } else {
        Err(Error::Checksum {
            path: path.to_path_buf(),
            expected: file.md5_gz.to_string(),
            found,
        })
    }
}

/// The four files as read, before splitting.
#[derive(Debug, Clone)]
pub struct RawMnist {
    pub train_images: Images,
    pub train_labels: Vec<u8>,
    pub test_images: Images,
    pub test_labels: Vec<u8>,
    /// `(file name, md5)` of each file read, for model metadata.
    pub checksums: Vec<(String, String)>,
}

impl RawMnist {
    /// Read the four files from `dir`. With `check = true` each must match its
    /// canonical md5 (use `false` for small synthetic fixtures).
    pub fn load_dir(dir: &Path, check: bool) -> Result<Self> {
        let paths = locate_all(dir)?;
        let mut checksums = Vec::new();
        for (p, f) in paths.iter().zip(FILES) {
            let sum = if check { verify(p, &f)? } else { md5_file(p)? };
            checksums.push((f.name.to_string(), sum));
        }
        let (train_images, train_labels) = read_pair(&paths[0], &paths[1])?;
        let (test_images, test_labels) = read_pair(&paths[2], &paths[3])?;
        Ok(RawMnist {
            train_images,
            train_labels,
            test_images,
            test_labels,
            checksums,
        })
    }
}

/// Is 0-based training index `i` in the validation split?
pub fn is_valid_index(i: usize) -> bool {
    (i + 1) % 12 == 0
}

/// Is 0-based test index `i` in the test split?
pub fn is_test_index(i: usize) -> bool {
    i % 2 == 0
}

/// Whether the quick mode of the project's tests is on (`MNIST_SUBSET` set).
pub fn quick_mode() -> bool {
    crate::config::Config::get().quick()
}

/// All 10,000 official test images and labels (from [`data_dir`], checksums
/// verified), for comparison with published results; our test split is the
/// even-indexed half of them.
pub fn official_test() -> Result<(Array2<f32>, Array1<u8>)> {
    let paths = locate_all(&data_dir())?;
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
    /// Load the canonical files from [`data_dir`] (checksums verified) and split them.
    pub fn load() -> Result<Self> {
        Self::load_from(&data_dir())
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

    /// Quick mode for test runs of the notebooks: with `MNIST_SUBSET=n` set,
    /// keep the first n training images and n/5 (at least 100) validation and
    /// test images, and say so on stdout. Without it, the full split.
    pub fn limit_from_env(self) -> Result<Split> {
        let Some(n) = crate::config::Config::get().subset()? else {
            return Ok(self);
        };
        let small = self.head(n, (n / 5).max(100));
        println!(
            "QUICK MODE ({SUBSET_ENV}={n}): using the first {} training, {} validation and {} test images. Unset {SUBSET_ENV} for the full data.",
            small.x_train.nrows(),
            small.x_valid.nrows(),
            small.x_test.nrows()
        );
        Ok(small)
    }

    /// Shapes and class counts of the three splits.
    pub fn summary(&self) -> SplitSummary {
        let part = |x: &Array2<f32>, y: &Array1<u8>| PartSummary {
            rows: x.nrows(),
            cols: x.ncols(),
            class_counts: class_counts(y),
        };
        SplitSummary {
            train: part(&self.x_train, &self.y_train),
            valid: part(&self.x_valid, &self.y_valid),
            test: part(&self.x_test, &self.y_test),
        }
    }

    /// Class frequencies of the three splits, with a balance verdict.
    pub fn class_frequency(&self) -> ClassFrequency {
        let s = self.summary();
        ClassFrequency::new(vec![
            ("train".into(), s.train.class_counts),
            ("valid".into(), s.valid.class_counts),
            ("test".into(), s.test.class_counts),
        ])
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

/// Rows and class counts of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartSummary {
    pub rows: usize,
    #[serde(skip, default = "pixels")]
    pub cols: usize,
    pub class_counts: [usize; CLASSES],
}

fn pixels() -> usize {
    PIXELS
}

/// The seed's step-1 summary: shapes and class counts of train/valid/test.
/// Serializes as `{"train": {"rows": .., "class_counts": [..]}, "valid": .., "test": ..}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSummary {
    pub train: PartSummary,
    pub valid: PartSummary,
    pub test: PartSummary,
}

impl SplitSummary {
    pub fn parts(&self) -> [(&'static str, &PartSummary); 3] {
        [
            ("train", &self.train),
            ("valid", &self.valid),
            ("test", &self.test),
        ]
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data serializes")
    }

    /// The summary as a table: one row per split.
    pub fn table(&self) -> crate::display::Table {
        let mut header = vec!["split".to_string(), "X shape".into(), "y shape".into()];
        header.extend((0..CLASSES).map(|d| d.to_string()));
        let rows = self
            .parts()
            .iter()
            .map(|(name, p)| {
                let mut r = vec![
                    name.to_string(),
                    format!("({}, {})", p.rows, p.cols),
                    format!("({},)", p.rows),
                ];
                r.extend(p.class_counts.iter().map(|c| c.to_string()));
                r
            })
            .collect();
        crate::display::Table::new(header, rows)
            .with_caption("MNIST split: shapes and images per class")
    }
}

impl fmt::Display for SplitSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, p) in self.parts() {
            writeln!(
                f,
                "X_{name:<5} shape: ({}, {})   y_{name:<5} shape: ({},)",
                p.rows, p.cols, p.rows
            )?;
        }
        writeln!(f, "images per class (digits 0-9):")?;
        for (name, p) in self.parts() {
            let counts: Vec<String> = p.class_counts.iter().map(|c| format!("{c:>5}")).collect();
            writeln!(f, "  {name:<5} {}", counts.join(" "))?;
        }
        Ok(())
    }
}

/// A split counts as balanced when its largest class is at most this many
/// times its smallest.
pub const BALANCE_THRESHOLD: f64 = 1.5;

/// Class frequencies of named splits with a balanced/imbalanced verdict each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassFrequency {
    pub splits: Vec<(String, [usize; CLASSES])>,
}

impl ClassFrequency {
    pub fn new(splits: Vec<(String, [usize; CLASSES])>) -> Self {
        ClassFrequency { splits }
    }

    /// max/min class count (infinite when a class is absent).
    pub fn ratio(counts: &[usize; CLASSES]) -> f64 {
        let max = *counts.iter().max().unwrap_or(&0) as f64;
        let min = *counts.iter().min().unwrap_or(&0) as f64;
        if min == 0.0 {
            f64::INFINITY
        } else {
            max / min
        }
    }

    pub fn is_balanced(counts: &[usize; CLASSES]) -> bool {
        Self::ratio(counts) <= BALANCE_THRESHOLD
    }

    /// One line per split: "train: balanced (max/min = 1.25 ≤ 1.5)".
    pub fn verdicts(&self) -> Vec<String> {
        self.splits
            .iter()
            .map(|(name, c)| {
                let r = Self::ratio(c);
                if Self::is_balanced(c) {
                    format!("{name}: balanced (largest/smallest class = {r:.2} ≤ {BALANCE_THRESHOLD})")
                } else {
                    format!("{name}: imbalanced (largest/smallest class = {r:.2} > {BALANCE_THRESHOLD})")
                }
            })
            .collect()
    }

    /// Digit rows; per split the count and its share.
    pub fn table(&self) -> crate::display::Table {
        let mut header = vec!["digit".to_string()];
        for (name, _) in &self.splits {
            header.push(format!("{name} count"));
            header.push(format!("{name} %"));
        }
        let mut rows = Vec::new();
        for d in 0..CLASSES {
            let mut r = vec![d.to_string()];
            for (_, c) in &self.splits {
                let total: usize = c.iter().sum();
                r.push(c[d].to_string());
                r.push(format!("{:.2}", 100.0 * c[d] as f64 / total.max(1) as f64));
            }
            rows.push(r);
        }
        let mut total = vec!["total".to_string()];
        let mut ratio = vec!["max/min".to_string()];
        let mut verdict = vec!["verdict".to_string()];
        for (_, c) in &self.splits {
            total.push(c.iter().sum::<usize>().to_string());
            total.push("100.00".into());
            ratio.push(format!("{:.3}", Self::ratio(c)));
            ratio.push(String::new());
            verdict.push(
                if Self::is_balanced(c) {
                    "balanced"
                } else {
                    "imbalanced"
                }
                .into(),
            );
            verdict.push(String::new());
        }
        rows.extend([total, ratio, verdict]);
        crate::display::Table::new(header, rows).with_caption("Class frequency per split")
    }
}

impl fmt::Display for ClassFrequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.table().to_text())?;
        for v in self.verdicts() {
            writeln!(f, "{v}")?;
        }
        Ok(())
    }
}

/// Download the four files into `dir` (temp file, checksum, rename). Files
/// already present with the right checksum are kept. `progress(file, done, total)`
/// is called as bytes arrive.
#[cfg(feature = "download")]
pub fn fetch(dir: &Path, progress: impl FnMut(&str, u64, Option<u64>)) -> Result<Vec<PathBuf>> {
    fetch_from(dir, &MIRRORS, progress)
}

/// [`fetch`] from the given mirrors (base URLs ending in `/`), tried in order per file.
#[cfg(feature = "download")]
pub fn fetch_from(
    dir: &Path,
    mirrors: &[&str],
    mut progress: impl FnMut(&str, u64, Option<u64>),
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for f in FILES {
        let target = dir.join(f.gz_name());
        if target.is_file() && verify(&target, &f).is_ok() {
            out.push(target);
            continue;
        }
        let mut reasons = Vec::new();
        let mut done = false;
        for mirror in mirrors {
            let url = format!("{mirror}{}", f.gz_name());
            match download_one(&url, &target, &f, &mut progress) {
                Ok(()) => {
                    done = true;
                    break;
                }
                Err(e) => reasons.push(format!("  {e}")),
            }
        }
        if !done {
            return Err(Error::Download {
                file: f.gz_name(),
                reasons: format!("\n{}\n{}", reasons.join("\n"), missing_help(dir)),
            });
        }
        out.push(target);
    }
    Ok(out)
}

#[cfg(feature = "download")]
fn download_one(
    url: &str,
    target: &Path,
    file: &MnistFile,
    progress: &mut impl FnMut(&str, u64, Option<u64>),
) -> std::result::Result<(), String> {
    use std::io::Write;
    let resp = ureq::get(url)
        .timeout(std::time::Duration::from_secs(60))
        .call()
        .map_err(|e| e.to_string())?;
    let total = resp
        .header("Content-Length")
        .and_then(|v| v.parse::<u64>().ok());
    let tmp = target.with_extension("gz.part");
    let mut w = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e).to_string())?;
    let mut r = resp.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0u64;
    loop {
        let n = r.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        w.write_all(&buf[..n])
            .map_err(|e| Error::io(&tmp, e).to_string())?;
        got += n as u64;
        progress(file.name, got, total);
    }
    w.sync_all().map_err(|e| Error::io(&tmp, e).to_string())?;
    drop(w);
    if let Err(e) = verify(&tmp, file) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.to_string());
    }
    std::fs::rename(&tmp, target).map_err(|e| Error::io(target, e).to_string())
}

//! The four canonical MNIST files: their names and checksums ([`FILES`]),
//! where they are looked for ([`data_dir`]), locating and verifying them,
//! reading all four ([`RawMnist`]), and, with the `download` feature,
//! fetching them from public mirrors.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use super::idx::{read_pair, Images};
use super::project_root;

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

/// `<project>/data/mnist`, where `mnist fetch-data` puts the files.
pub fn default_data_dir() -> PathBuf {
    project_root().join("data").join("mnist")
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

/// Download the four files into `dir` (temp file, checksum, rename). Files
/// already present with the right checksum are kept. `progress(file, done, total)`
/// is called as bytes arrive.
#[cfg(feature = "download")]
pub fn fetch(dir: &Path, progress: impl FnMut(&str, u64, Option<u64>)) -> Result<Vec<PathBuf>> {
    fetch_from(dir, &MIRRORS, progress)
}

/// The four files, downloaded when they are missing: found in
/// `config.data_dir` (`$MNIST_DIR`, else data/mnist/), or, when `$MNIST_DIR`
/// is not set, fetched into data/mnist/ ([`fetch`], with `progress`). A
/// `$MNIST_DIR` that lacks them is an error naming the files: nothing is
/// downloaded into a directory the user chose.
#[cfg(feature = "download")]
pub fn ensure(
    config: &crate::config::Config,
    progress: impl FnMut(&str, u64, Option<u64>),
) -> Result<Vec<PathBuf>> {
    match locate_all(&config.data_dir) {
        Ok(files) => Ok(files),
        Err(e) if config.data_dir_set => Err(e),
        Err(_) => fetch(&config.data_dir, progress),
    }
}

/// A [`fetch`] progress for a notebook: one printed line per file, when it has arrived.
pub fn print_arrived(file: &str, done: u64, total: Option<u64>) {
    if total == Some(done) {
        println!("  downloaded {file} ({done} bytes)");
    }
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
    use std::io::{Read, Write};
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

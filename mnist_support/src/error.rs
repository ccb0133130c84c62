//! The one error type of the library. Every variant that concerns a file names it.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: not a gzip stream or corrupt gzip data: {source}")]
    Gzip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: bad IDX magic number 0x{found:08x} (expected 0x{expected:08x}, {what})")]
    BadMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
        what: &'static str,
    },

    #[error("{path}: truncated IDX file: header promises {expected} bytes of data, found {found}")]
    Truncated {
        path: PathBuf,
        expected: usize,
        found: usize,
    },

    #[error("{path}: {found} trailing bytes after the {expected} bytes the IDX header describes")]
    TrailingBytes {
        path: PathBuf,
        expected: usize,
        found: usize,
    },

    #[error("{path}: label {label} at index {index} is not a digit 0-9")]
    BadLabel {
        path: PathBuf,
        index: usize,
        label: u8,
    },

    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    CountMismatch {
        images: PathBuf,
        labels: PathBuf,
        n_images: usize,
        n_labels: usize,
    },

    #[error("{path}: images are {rows}x{cols}, expected 28x28")]
    BadImageSize {
        path: PathBuf,
        rows: usize,
        cols: usize,
    },

    #[error("{path}: checksum mismatch: md5 {found}, expected {expected} (delete it and fetch it again: `cargo run --release -- fetch-data`)")]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },

    #[error("MNIST data not found in {dir}.\n{help}")]
    DataMissing { dir: PathBuf, help: String },

    #[error("download of {file} failed from every mirror:{reasons}")]
    Download { file: String, reasons: String },

    #[error("shape mismatch: {0}")]
    Shape(String),

    #[error("invalid parameter: {0}")]
    Param(String),

    #[error("cannot decode {what}: {reason}")]
    Decode { what: String, reason: String },

    /// An image with no digit in it (blank, or blank once the paper is removed).
    #[error("no digit found: {0}")]
    NoDigit(String),

    #[error("plotting failed: {0}")]
    Plot(String),

    #[error(transparent)]
    Linfa(#[from] linfa::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

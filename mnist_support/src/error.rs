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

    /// A hyperparameter out of its range, reported before any work is done.
    #[error("{model}: invalid hyperparameter {name}: {reason}")]
    InvalidHyperparameter {
        model: &'static str,
        name: &'static str,
        reason: String,
    },

    #[error("unknown model {name:?}; available: {available}")]
    UnknownModel { name: String, available: String },

    /// A name on a command line or in a query that is none of the choices.
    #[error("unknown {what} {name:?}: {choices}")]
    UnknownName {
        what: &'static str,
        name: String,
        choices: String,
    },

    /// Training data a model cannot learn from: non-finite values, labels
    /// that are not digits, too few rows or classes.
    #[error("invalid training data: {0}")]
    InvalidData(String),

    /// A notebook run that misses items of the grader's checklist.
    #[error("{0}")]
    Incomplete(String),

    #[error("the {model} model wants {wants} scaling but the data was scaled with {got}")]
    ScalingMismatch {
        model: &'static str,
        wants: String,
        got: String,
    },

    #[error("training diverged (loss {loss}) in epoch {epoch}: lower learning_rate")]
    Diverged { epoch: usize, loss: f64 },

    /// Something this build of the crate leaves out.
    #[error("{what} needs the crate's `{feature}` feature{hint}")]
    MissingFeature {
        what: String,
        feature: &'static str,
        hint: String,
    },

    /// A setting read from the environment (see [`crate::config`]).
    #[error("{var}={value:?}: {reason}")]
    Config {
        var: &'static str,
        value: String,
        reason: String,
    },

    #[error("no saved models in {dir}: run the model notebooks (or `cargo run --release -- run-all`) first")]
    NoSavedModels { dir: PathBuf },

    /// A helper process (the server, Chromium) or runtime that failed.
    #[error("{what}: {reason}")]
    Process { what: String, reason: String },

    #[error("cannot start worker threads: {0}")]
    Threads(#[from] rayon::ThreadPoolBuildError),

    #[cfg(feature = "torch")]
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),

    #[cfg(feature = "polars")]
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),

    #[error("cannot decode {what}: {reason}")]
    Decode { what: String, reason: String },

    #[error("cannot encode {what}: {reason}")]
    Encode { what: String, reason: String },

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

//! Support crate for the mnist-rs notebooks.
//!
//! Everything the notebooks call lives here, so `cargo test` covers it. In
//! layers, bottom to top, each using only its own and the ones below
//! (`docs/architecture.md` draws them; `tests/it/layers.rs` checks the imports):
//! * [`error`], [`config`] (the environment, read once), [`progress`], [`consts`];
//! * [`display`]: rich inline output for evcxr and saving, for every figure and table;
//! * [`metrics`], [`scale`]: accuracy and confusion matrices; scalers and deskewing;
//!   [`plot`]: figures drawn with plotters;
//! * [`data`]: IDX reading (raw or gzip), checksums, fetching, the train/valid/test split;
//! * [`api`]: the web API's types and its one client;
//! * [`preprocess`], [`fonts`] (feature `inputs`): any picture of a digit to an
//!   MNIST-like 28×28; the training and benchmark fonts;
//! * [`real_inputs`]: the inputs people send, generated (drawings, scans, photos, typed, non-digits);
//! * [`augment`]: distortions, typed digits and generated pictures for training;
//! * [`models`]: `Estimator`/`Learner` (hyperparameters), `Model<E>` (always fitted) and the
//!   [`models::Classifier`] trait, one file per algorithm;
//! * [`experiment`] (scale → fit → evaluate → [`experiment::Report`]); [`explain`]: why a
//!   model answered as it did, in its own terms and as a saliency map;
//! * [`store`]: save, load, fresh or stale;
//! * [`summary`] (step 4.7); `gate` (features `inputs` and a network library):
//!   whether a picture holds a digit at all;
//! * [`pipeline`]: steps 4.1–4.7 over the store, and the gate's training;
//!   [`comparison`]: the records of `mnist compare` (ours measured, the peers' read);
//! * `serve` (feature `serve`: the server, its inference pool, and the server on a
//!   thread of a notebook's process, shown inline); [`serve_bench`]: a load test of a
//!   running server over the API;
//! * `bench_inputs` (feature `serve`): the real-inputs benchmark over the server;
//!   `space` (feature `space`): a Hugging Face Space written as a directory.
//!
//! Installing and running the toolchain is the `mnist_setup` crate's, never the library's.
//!
//! Notebooks start with
//! ```text
//! :dep mnist_support = { path = "../mnist_support", default-features = false, features = ["notebook"] }
//! use mnist_support::prelude::*;
//! ```

pub mod api;
pub mod augment;
#[cfg(feature = "serve")]
pub mod bench_inputs;
pub mod checklist;
pub mod comparison;
pub mod config;
pub mod consts;
pub mod data;
pub mod display;
pub mod error;
pub mod experiment;
pub mod explain;
#[cfg(feature = "inputs")]
pub mod fonts;
#[cfg(all(feature = "inputs", any(feature = "torch", feature = "candle")))]
pub mod gate;
pub mod map;
pub mod metrics;
pub mod models;
pub mod pipeline;
pub mod plot;
#[cfg(feature = "inputs")]
pub mod preprocess;
pub mod progress;
pub mod real_inputs;
pub mod scale;
pub mod serve_bench;
#[cfg(all(feature = "space", any(feature = "torch", feature = "candle")))]
pub mod space;
pub mod store;
pub mod summary;

/// polars, for the summary's DataFrame (feature `polars`).
#[cfg(feature = "polars")]
pub use polars;

#[cfg(feature = "serve")]
pub mod serve;

pub use error::{Error, Result};

/// What a notebook needs in scope.
pub mod prelude {
    pub use crate::config::Config;
    pub use crate::data::{
        ClassFrequency, Labelled, Part, Parts, Split, SplitSummary, CLASSES, PIXELS, SIDE,
    };
    pub use crate::display::{Figure, Panel, Rich, Table};
    pub use crate::error::{Error, Result};
    pub use crate::experiment::{self, Report, ScaledSplit};
    pub use crate::explain::{self, Explanation};
    pub use crate::map::DigitMap;
    pub use crate::models::{self, Classifier, Learner, ModelKind, Params, PrintProgress, Silent};
    pub use crate::models::{
        DecisionTree, DecisionTreeParams, Forest, ForestParams, Knn, KnnParams, Softmax,
        SoftmaxParams, Svm, SvmParams,
    };
    #[cfg(feature = "torch")]
    pub use crate::models::{NetParams, Network};
    pub use crate::plot;
    pub use crate::scale::{Scaler, Scaling};
    pub use crate::store::{ModelCard, Store};
    pub use crate::summary::{self, Summary};
    pub use ndarray::{s, Array1, Array2, Axis};
    #[cfg(feature = "polars")]
    pub use polars::prelude::DataFrame;

    /// `<project>/notebooks/figures/<name>`: where notebooks save their figures.
    pub fn figure_path(name: &str) -> std::path::PathBuf {
        crate::data::project_root()
            .join("notebooks")
            .join("figures")
            .join(name)
    }
}

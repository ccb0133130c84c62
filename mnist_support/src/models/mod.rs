//! The classifiers and the one trait they share.
//!
//! Every model implements [`Classifier`]: fit on (x, y), predict labels and
//! class probabilities, serialize its parameters. Models take **raw pixels**
//! (0–255) at their public entry points and apply their own fitted [`Scaler`],
//! so the experiment runner, the CLI and the web server treat all of them
//! alike. [`Kind`] names the models and is the one place that knows how to
//! build or load each of them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::data::{CLASSES, PIXELS};
use crate::error::{Error, Result};
use crate::scale::{Scaler, Scaling};

pub mod cart;
pub mod codec;
pub mod forest;
pub mod knn;
#[cfg(feature = "torch")]
pub mod net;
pub mod softmax;
pub mod svm;
pub mod tree;

pub use forest::{Forest, ForestParams};
pub use knn::{Knn, KnnParams};
#[cfg(feature = "torch")]
pub use net::{NetParams, Network};
pub use softmax::{Softmax, SoftmaxParams};
pub use svm::{Svm, SvmParams};
pub use tree::{DecisionTree, DecisionTreeParams};

/// linfa's `Fit` for a model's hyperparameters and `Predict` for the model,
/// on features that are already scaled (linfa's interface has no progress
/// output, and its `Predict` cannot return errors: rows of the wrong width
/// panic there, while [`Classifier::predict`] returns an error).
macro_rules! linfa_traits {
    ($params:ty, $model:ident) => {
        impl<D: ndarray::Data<Elem = f32>, T: linfa::dataset::AsTargets<Elem = u8>>
            linfa::traits::Fit<ndarray::ArrayBase<D, ndarray::Ix2>, T, crate::error::Error>
            for $params
        {
            type Object = $model;

            fn fit(
                &self,
                dataset: &linfa::DatasetBase<ndarray::ArrayBase<D, ndarray::Ix2>, T>,
            ) -> crate::error::Result<$model> {
                let y: ndarray::Array1<u8> = linfa::dataset::AsTargets::as_targets(dataset)
                    .iter()
                    .copied()
                    .collect();
                let mut model = $model::new(self.clone());
                let scaler = crate::scale::Scaler::None;
                crate::models::Classifier::fit_scaled(
                    &mut model,
                    scaler,
                    dataset.records.view(),
                    y.view(),
                    &crate::models::Silent,
                )?;
                Ok(model)
            }
        }

        impl<D: ndarray::Data<Elem = f32>>
            linfa::traits::PredictInplace<ndarray::ArrayBase<D, ndarray::Ix2>, ndarray::Array1<u8>>
            for $model
        {
            fn predict_inplace(
                &self,
                x: &ndarray::ArrayBase<D, ndarray::Ix2>,
                y: &mut ndarray::Array1<u8>,
            ) {
                let labels = crate::models::Classifier::predict_scaled(self, x.view());
                y.assign(&labels.expect("rows of the fitted width"));
            }

            fn default_target(
                &self,
                x: &ndarray::ArrayBase<D, ndarray::Ix2>,
            ) -> ndarray::Array1<u8> {
                ndarray::Array1::zeros(x.nrows())
            }
        }
    };
}
pub(crate) use linfa_traits;

/// Progress of long work: a progress bar in the CLI, lines in a notebook,
/// nothing in tests.
pub trait Progress: Sync {
    /// A task of `total` steps starts.
    fn begin(&self, _task: &str, _total: u64) {}
    /// `n` more steps are done.
    fn advance(&self, _n: u64) {}
    /// A line worth showing (e.g. the loss after an epoch).
    fn note(&self, _line: &str) {}
    /// The task is over.
    fn end(&self) {}
}

/// No progress output.
pub struct Silent;
impl Progress for Silent {}

/// Plain printed lines — what a notebook shows: the task, every `note`, and
/// the progress at each tenth of the way with the time so far.
#[derive(Debug, Default)]
pub struct Lines {
    total: AtomicU64,
    done: AtomicU64,
    start: Mutex<Option<Instant>>,
}

impl Lines {
    pub fn new() -> Self {
        Self::default()
    }

    fn elapsed(&self) -> f64 {
        let start = self.start.lock().unwrap_or_else(|e| e.into_inner());
        start.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0)
    }
}

impl Progress for Lines {
    fn begin(&self, task: &str, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        *self.start.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        println!("{task} ({total} steps)");
    }
    fn advance(&self, n: u64) {
        let total = self.total.load(Ordering::Relaxed).max(1);
        let before = self.done.fetch_add(n, Ordering::Relaxed);
        let after = before + n;
        if after * 10 / total > before * 10 / total {
            println!("  {after}/{total} done ({:.1} s)", self.elapsed());
        }
    }
    fn note(&self, line: &str) {
        println!("  {line}");
    }
}

/// One epoch of a network's training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss (cross-entropy) over the epoch's batches.
    pub loss: f64,
    /// Accuracy on the training batches during the epoch (in training mode:
    /// with dropout and augmentation, as Keras reports it).
    pub train_accuracy: f64,
    /// Accuracy on the validation split after the epoch (eval mode), when
    /// a validation split was given.
    pub valid_accuracy: Option<f64>,
    /// Learning rate at the end of the epoch.
    pub learning_rate: f64,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
}

/// Per-epoch record of a network's training and the epoch whose weights were kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub epochs: Vec<Epoch>,
    /// The epoch with the best validation accuracy (its weights are the model's),
    /// or the last epoch when there was no validation split.
    pub best_epoch: usize,
    /// libtorch's intra-op threads during training.
    pub threads: usize,
    /// `cpu` or `cuda:N`.
    pub device: String,
}

impl History {
    /// Seconds per epoch, on average.
    pub fn seconds_per_epoch(&self) -> f64 {
        self.epochs.iter().map(|e| e.seconds).sum::<f64>() / self.epochs.len().max(1) as f64
    }
}

/// The seven models of the assignment, in the seed's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Softmax,
    Knn,
    Dnn,
    Svm,
    Tree,
    Forest,
    Cnn,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[
        Kind::Softmax,
        Kind::Knn,
        Kind::Dnn,
        Kind::Svm,
        Kind::Tree,
        Kind::Forest,
        Kind::Cnn,
    ];

    /// The networks need libtorch (the `torch` feature).
    pub fn needs_torch(self) -> bool {
        matches!(self, Kind::Dnn | Kind::Cnn)
    }

    /// Short name: CLI argument, default model file name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Softmax => "softmax",
            Kind::Knn => "knn",
            Kind::Dnn => "dnn",
            Kind::Svm => "svm",
            Kind::Tree => "tree",
            Kind::Forest => "forest",
            Kind::Cnn => "cnn",
        }
    }

    /// Name for tables and titles.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Softmax => "Softmax regression",
            Kind::Knn => "k-nearest neighbours",
            Kind::Dnn => "Deep neural network (fully connected)",
            Kind::Svm => "SVM (RBF kernel)",
            Kind::Tree => "Decision tree",
            Kind::Forest => "Random forest",
            Kind::Cnn => "Convolutional neural network",
        }
    }

    /// The model with its default (validation-chosen) hyperparameters.
    pub fn default_model(self) -> Result<Box<dyn Classifier>> {
        Ok(match self {
            Kind::Softmax => Box::new(Softmax::new(SoftmaxParams::default())),
            Kind::Knn => Box::new(Knn::new(KnnParams::default())),
            Kind::Svm => Box::new(Svm::new(SvmParams::default())),
            Kind::Tree => Box::new(DecisionTree::new(DecisionTreeParams::default())),
            Kind::Forest => Box::new(Forest::new(ForestParams::default())),
            #[cfg(feature = "torch")]
            Kind::Dnn => Box::new(Network::new(NetParams::dnn())),
            #[cfg(feature = "torch")]
            Kind::Cnn => Box::new(Network::new(NetParams::cnn())),
            #[cfg(not(feature = "torch"))]
            Kind::Dnn | Kind::Cnn => return Err(no_torch(self)),
        })
    }

    /// Rebuild a fitted model from its saved hyperparameters, scaler and parameter bytes.
    pub fn restore(
        self,
        hyperparameters: &serde_json::Value,
        scaler: Scaler,
        payload: &[u8],
    ) -> Result<Box<dyn Classifier>> {
        Ok(match self {
            Kind::Softmax => Box::new(Softmax::restore(
                params(self, hyperparameters)?,
                scaler,
                payload,
            )?),
            Kind::Knn => Box::new(Knn::restore(
                params(self, hyperparameters)?,
                scaler,
                payload,
            )?),
            Kind::Svm => Box::new(Svm::restore(
                params(self, hyperparameters)?,
                scaler,
                payload,
            )?),
            Kind::Tree => Box::new(DecisionTree::restore(
                params(self, hyperparameters)?,
                scaler,
                payload,
            )?),
            Kind::Forest => Box::new(Forest::restore(
                params(self, hyperparameters)?,
                scaler,
                payload,
            )?),
            #[cfg(feature = "torch")]
            Kind::Dnn | Kind::Cnn => Box::new(Network::restore(
                self,
                params(self, hyperparameters)?,
                scaler,
                payload,
            )?),
            #[cfg(not(feature = "torch"))]
            Kind::Dnn | Kind::Cnn => return Err(no_torch(self)),
        })
    }
}

#[cfg(not(feature = "torch"))]
fn no_torch(kind: Kind) -> Error {
    Error::Param(format!(
        "the {kind} model needs libtorch: build mnist_support with the `torch` feature \
         (notebooks: `:dep mnist_support = {{ path = \"../mnist_support\", default-features = false, features = [\"torch\"] }}`)"
    ))
}

fn params<P: serde::de::DeserializeOwned>(kind: Kind, v: &serde_json::Value) -> Result<P> {
    serde_json::from_value(v.clone()).map_err(|e| Error::Decode {
        what: format!("{} hyperparameters", kind.name()),
        reason: e.to_string(),
    })
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Kind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Kind> {
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                Error::Param(format!(
                    "unknown model {s:?}; available: {}",
                    names.join(", ")
                ))
            })
    }
}

/// What every model does. Public entry points take raw pixels (n×784, 0–255);
/// the `_scaled` methods take features already passed through [`scaler`](Classifier::scaler).
pub trait Classifier: Send + Sync {
    fn kind(&self) -> Kind;

    /// Hyperparameters, as saved in the model's metadata.
    fn hyperparameters(&self) -> serde_json::Value;

    /// The scaling this model is trained with (step 4.1).
    fn scaling(&self) -> Scaling;

    /// Distorted copies of the training digits to train on as well (the
    /// classical models; the networks distort on the fly instead).
    fn augmentation(&self) -> crate::augment::Augment {
        crate::augment::Augment::NONE
    }

    /// The fitted scaler (`Scaler::None` before fitting).
    fn scaler(&self) -> &Scaler;

    fn is_fitted(&self) -> bool;

    /// Fit on features produced by `scaler` from the training pixels; the model keeps `scaler`.
    fn fit_scaled(
        &mut self,
        scaler: Scaler,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        progress: &dyn Progress,
    ) -> Result<()>;

    /// Fit with the validation split at hand. Models trained by epochs use it
    /// to keep the epoch with the best validation accuracy; the others ignore it.
    fn fit_scaled_validated(
        &mut self,
        scaler: Scaler,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        _valid: Option<(ArrayView2<f32>, ArrayView1<u8>)>,
        progress: &dyn Progress,
    ) -> Result<()> {
        self.fit_scaled(scaler, x, y, progress)
    }

    /// Become the fitted model saved as `payload` (parameter bytes from
    /// [`to_bytes`](Classifier::to_bytes)) with this model's hyperparameters;
    /// networks also take back their training history.
    fn restore_in_place(
        &mut self,
        scaler: Scaler,
        payload: &[u8],
        history: Option<History>,
    ) -> Result<()>;

    /// Per-epoch training record (networks only).
    fn history(&self) -> Option<&History> {
        None
    }

    /// Class probabilities (n×10, rows sum to 1) of scaled features.
    fn predict_proba_scaled(&self, x: ArrayView2<f32>) -> Result<Array2<f32>>;

    /// Labels of scaled features: the most probable class (ties → smaller digit).
    fn predict_scaled(&self, x: ArrayView2<f32>) -> Result<Array1<u8>> {
        Ok(argmax_rows(&self.predict_proba_scaled(x)?))
    }

    /// Extension of the model file (`models/<name>.<ext>`).
    fn extension(&self) -> &'static str {
        "bin"
    }

    /// The fitted parameters as bytes (the body of the model file).
    fn to_bytes(&self) -> Result<Vec<u8>>;

    /// Fit on raw training pixels: fit the scaler on them, then the model.
    fn fit(
        &mut self,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        progress: &dyn Progress,
    ) -> Result<()> {
        check_pixels(&x)?;
        check_xy(&x, &y)?;
        let scaler = Scaler::fit(self.scaling(), &x)?;
        let aug = self.augmentation();
        aug.check()?;
        if aug.is_none() {
            let xs = scaler.transform(&x)?;
            return self.fit_scaled(scaler, xs.view(), y, progress);
        }
        let (xa, ya) = aug.expand(x, y)?;
        let xs = scaler.transform(&xa.view())?;
        self.fit_scaled(scaler, xs.view(), ya.view(), progress)
    }

    /// Class probabilities of raw pixels.
    fn predict_proba(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        check_pixels(&x)?;
        self.predict_proba_scaled(self.scaler().transform(&x)?.view())
    }

    /// Labels of raw pixels.
    fn predict(&self, x: ArrayView2<f32>) -> Result<Array1<u8>> {
        check_pixels(&x)?;
        self.predict_scaled(self.scaler().transform(&x)?.view())
    }
}

/// Index of the largest entry of each row (first one on ties).
pub fn argmax_rows(p: &Array2<f32>) -> Array1<u8> {
    p.map_axis(Axis(1), |row| {
        let mut best = 0;
        for (i, &v) in row.iter().enumerate() {
            if v > row[best] {
                best = i;
            }
        }
        best as u8
    })
}

/// Raw pixel input: 784 finite columns.
pub fn check_pixels(x: &ArrayView2<f32>) -> Result<()> {
    if x.ncols() != PIXELS {
        return Err(Error::Shape(format!(
            "expected 784 pixels per image, got {}",
            x.ncols()
        )));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(Error::Param("pixel values contain NaN or infinity".into()));
    }
    Ok(())
}

/// Training input: as many labels as rows, labels are digits, at least one row.
pub fn check_xy(x: &ArrayView2<f32>, y: &ArrayView1<u8>) -> Result<()> {
    if x.nrows() != y.len() {
        return Err(Error::Shape(format!(
            "{} rows but {} labels",
            x.nrows(),
            y.len()
        )));
    }
    if x.nrows() == 0 {
        return Err(Error::Shape("no training rows".into()));
    }
    if let Some(&bad) = y.iter().find(|&&l| l as usize >= CLASSES) {
        return Err(Error::Param(format!("label {bad} is not a digit 0-9")));
    }
    Ok(())
}

pub(crate) fn not_fitted(kind: Kind) -> Error {
    Error::Param(format!(
        "the {} model is not fitted yet: call fit first",
        kind.name()
    ))
}

/// `models/` in the project (or `MNIST_MODELS_DIR`).
pub fn models_dir() -> PathBuf {
    match std::env::var_os("MNIST_MODELS_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => crate::data::project_root().join("models"),
    }
}

/// Path of the model file and metadata of model `name` in `dir`.
pub fn model_paths(dir: &Path, name: &str, ext: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.{ext}")),
        dir.join(format!("{name}.json")),
    )
}

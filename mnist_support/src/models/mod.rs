//! The classifiers and the one trait they share.
//!
//! Each algorithm's file holds its hyperparameters (an [`Estimator`]: checked,
//! fitted into the algorithm's fitted state, which predicts and becomes bytes)
//! and nothing else; [`Model<E>`] adds the fitted scaler and implements
//! [`Classifier`] once for all of them: fit on (x, y), predict labels and class
//! probabilities, serialize the parameters. Models take **raw pixels** (0–255)
//! at their public entry points and apply their own fitted [`Scaler`], so the
//! runner, the store, the CLI and the web server treat all of them alike.
//! [`ModelKind`] names the models and is the one place that knows how to build
//! or load each of them.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::data::{CLASSES, PIXELS};
use crate::error::{Error, Result};
use crate::scale::{Scaler, Scaling};

pub mod cart;
pub(crate) mod codec;
pub mod forest;
pub mod knn;
mod model;
#[cfg(any(feature = "torch", feature = "candle"))]
pub mod net;
pub mod pca;
pub mod softmax;
pub mod svm;
pub mod tree;

pub use crate::metrics::{Epoch, History};
pub use crate::progress::{PrintProgress, Progress, Silent};
pub use forest::ForestParams;
pub use knn::KnnParams;
pub(crate) use model::{invalid, linfa_fit};
pub use model::{Estimator, Model, Training};
#[cfg(any(feature = "torch", feature = "candle"))]
pub use net::NetParams;
pub use softmax::SoftmaxParams;
pub use svm::SvmParams;
pub use tree::DecisionTreeParams;

/// Softmax regression ([`softmax`]).
pub type Softmax = Model<SoftmaxParams>;
/// k-nearest neighbours ([`knn`]).
pub type Knn = Model<KnnParams>;
/// The RBF support vector machine ([`svm`]).
pub type Svm = Model<SvmParams>;
/// One decision tree ([`tree`]).
pub type DecisionTree = Model<DecisionTreeParams>;
/// The random forest ([`forest`]).
pub type Forest = Model<ForestParams>;
/// The DNN or the CNN ([`net`]).
#[cfg(any(feature = "torch", feature = "candle"))]
pub type Network = Model<NetParams>;

/// The seven models of the assignment, in the seed's order ([`ALL`](ModelKind::ALL)),
/// and the digit gate: a network with a two-class head that says whether a
/// picture holds a digit at all ([`crate::gate`]), saved, loaded and kept
/// fresh by the same [`Store`](crate::store::Store), but not one of the seven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Softmax,
    Knn,
    Dnn,
    Svm,
    Tree,
    Forest,
    Cnn,
    Gate,
}

impl ModelKind {
    pub const ALL: &'static [ModelKind] = &[
        ModelKind::Softmax,
        ModelKind::Knn,
        ModelKind::Dnn,
        ModelKind::Svm,
        ModelKind::Tree,
        ModelKind::Forest,
        ModelKind::Cnn,
    ];

    /// The DNN, the CNN and the gate: [`NetParams`] models (trained with
    /// libtorch, the `torch` feature).
    pub fn is_network(self) -> bool {
        matches!(self, ModelKind::Dnn | ModelKind::Cnn | ModelKind::Gate)
    }

    /// Short name: CLI argument, default model file name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Softmax => "softmax",
            ModelKind::Knn => "knn",
            ModelKind::Dnn => "dnn",
            ModelKind::Svm => "svm",
            ModelKind::Tree => "tree",
            ModelKind::Forest => "forest",
            ModelKind::Cnn => "cnn",
            ModelKind::Gate => "gate",
        }
    }

    /// Name for tables and titles.
    pub fn title(self) -> &'static str {
        match self {
            ModelKind::Softmax => "Softmax regression",
            ModelKind::Knn => "k-nearest neighbours",
            ModelKind::Dnn => "Deep neural network (fully connected)",
            ModelKind::Svm => "SVM (RBF kernel)",
            ModelKind::Tree => "Decision tree",
            ModelKind::Forest => "Random forest",
            ModelKind::Cnn => "Convolutional neural network",
            ModelKind::Gate => "Digit gate",
        }
    }

    /// The model with its default (validation-chosen) hyperparameters.
    pub fn default_model(self) -> Result<Box<dyn Classifier>> {
        Ok(match self {
            ModelKind::Softmax => Box::new(Softmax::new(SoftmaxParams::default())),
            ModelKind::Knn => Box::new(Knn::new(KnnParams::default())),
            ModelKind::Svm => Box::new(Svm::new(SvmParams::default())),
            ModelKind::Tree => Box::new(DecisionTree::new(DecisionTreeParams::default())),
            ModelKind::Forest => Box::new(Forest::new(ForestParams::default())),
            #[cfg(feature = "torch")]
            ModelKind::Dnn => Box::new(Network::new(NetParams::dnn())),
            #[cfg(feature = "torch")]
            ModelKind::Cnn => Box::new(Network::new(NetParams::cnn())),
            #[cfg(feature = "torch")]
            ModelKind::Gate => Box::new(Network::new(NetParams::gate())),
            #[cfg(not(feature = "torch"))]
            ModelKind::Dnn | ModelKind::Cnn | ModelKind::Gate => return Err(no_torch(self)),
        })
    }

    /// The model in the configuration `mnist compare` gives scikit-learn or
    /// PyTorch too (each model's `as_scikit_learn`, [`NetParams::as_pytorch`]):
    /// the same hyperparameters and scaling, nothing added to the training
    /// digits; `epochs` for the networks when given, `seed` for the seeded ones.
    pub fn as_peers(self, epochs: Option<usize>, seed: u64) -> Result<Box<dyn Classifier>> {
        Ok(match self {
            ModelKind::Softmax => Box::new(Softmax::new(SoftmaxParams::as_scikit_learn())),
            ModelKind::Knn => Box::new(Knn::new(KnnParams::as_scikit_learn())),
            ModelKind::Svm => Box::new(Svm::new(SvmParams::as_scikit_learn())),
            ModelKind::Tree => Box::new(DecisionTree::new(DecisionTreeParams::as_scikit_learn())),
            ModelKind::Forest => Box::new(Forest::new(ForestParams::as_scikit_learn(seed))),
            #[cfg(feature = "torch")]
            ModelKind::Dnn => Box::new(Network::new(NetParams::dnn().as_pytorch(epochs, seed))),
            #[cfg(feature = "torch")]
            ModelKind::Cnn => Box::new(Network::new(NetParams::cnn().as_pytorch(epochs, seed))),
            #[cfg(feature = "torch")]
            ModelKind::Gate => Box::new(Network::new(NetParams::gate().as_pytorch(epochs, seed))),
            #[cfg(not(feature = "torch"))]
            ModelKind::Dnn | ModelKind::Cnn | ModelKind::Gate => {
                let _ = (epochs, seed);
                return Err(no_torch(self));
            }
        })
    }

    /// The default hyperparameters, as a card holds them (`None` for a
    /// network where neither libtorch nor candle is built in).
    pub fn default_hyperparameters(self) -> Option<serde_json::Value> {
        fn json<E: Estimator>(params: E) -> serde_json::Value {
            serde_json::to_value(params).expect("plain data serializes")
        }
        Some(match self {
            ModelKind::Softmax => json(SoftmaxParams::default()),
            ModelKind::Knn => json(KnnParams::default()),
            ModelKind::Svm => json(SvmParams::default()),
            ModelKind::Tree => json(DecisionTreeParams::default()),
            ModelKind::Forest => json(ForestParams::default()),
            #[cfg(any(feature = "torch", feature = "candle"))]
            ModelKind::Dnn => json(NetParams::dnn()),
            #[cfg(any(feature = "torch", feature = "candle"))]
            ModelKind::Cnn => json(NetParams::cnn()),
            #[cfg(any(feature = "torch", feature = "candle"))]
            ModelKind::Gate => json(NetParams::gate()),
            #[cfg(not(any(feature = "torch", feature = "candle")))]
            ModelKind::Dnn | ModelKind::Cnn | ModelKind::Gate => return None,
        })
    }

    /// The model with its default hyperparameters changed by `changes`, a JSON
    /// object holding only the keys to change; nested objects merge, so
    /// `{"n_trees": 100, "tree": {"max_features": 40}}` changes two values of
    /// the forest. A key the model does not have, a value of the wrong type
    /// or out of range is an error, before any work is done.
    pub fn model_with(self, changes: &serde_json::Value) -> Result<Box<dyn Classifier>> {
        fn build<E: Estimator>(
            kind: ModelKind,
            v: serde_json::Value,
        ) -> Result<Box<dyn Classifier>> {
            let params: E = params_of(kind, v)?;
            params.check()?;
            Ok(Box::new(Model::new(params)))
        }
        fn merge(
            base: &mut serde_json::Value,
            changes: &serde_json::Value,
            path: &str,
        ) -> Result<()> {
            let (Some(base), Some(changes)) = (base.as_object_mut(), changes.as_object()) else {
                return Err(Error::Decode {
                    what: format!("hyperparameters {path}"),
                    reason: "expected a JSON object of the values to change".into(),
                });
            };
            for (key, value) in changes {
                let name = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let choices = base.keys().cloned().collect::<Vec<_>>().join(", ");
                let slot = base.get_mut(key).ok_or_else(|| Error::UnknownName {
                    what: "hyperparameter",
                    name: name.clone(),
                    choices: format!("the model has {choices}"),
                })?;
                if slot.is_object() && value.is_object() {
                    merge(slot, value, &name)?;
                } else {
                    *slot = value.clone();
                }
            }
            Ok(())
        }
        let mut v = self.default_model()?.hyperparameters();
        merge(&mut v, changes, "")?;
        match self {
            ModelKind::Softmax => build::<SoftmaxParams>(self, v),
            ModelKind::Knn => build::<KnnParams>(self, v),
            ModelKind::Svm => build::<SvmParams>(self, v),
            ModelKind::Tree => build::<DecisionTreeParams>(self, v),
            ModelKind::Forest => build::<ForestParams>(self, v),
            #[cfg(feature = "torch")]
            ModelKind::Dnn | ModelKind::Cnn | ModelKind::Gate => build::<NetParams>(self, v),
            #[cfg(not(feature = "torch"))]
            ModelKind::Dnn | ModelKind::Cnn | ModelKind::Gate => Err(no_torch(self)),
        }
    }

    /// Rebuild a fitted model from its saved hyperparameters, scaler and parameter bytes.
    pub fn load(
        self,
        hyperparameters: &serde_json::Value,
        scaler: Scaler,
        payload: &[u8],
    ) -> Result<Box<dyn Classifier>> {
        fn load<E: Estimator>(
            kind: ModelKind,
            v: &serde_json::Value,
            scaler: Scaler,
            payload: &[u8],
        ) -> Result<Box<dyn Classifier>> {
            let params: E = params_of(kind, v.clone())?;
            Ok(Box::new(Model::load(params, scaler, payload)?))
        }
        let v = hyperparameters;
        match self {
            ModelKind::Softmax => load::<SoftmaxParams>(self, v, scaler, payload),
            ModelKind::Knn => load::<KnnParams>(self, v, scaler, payload),
            ModelKind::Svm => load::<SvmParams>(self, v, scaler, payload),
            ModelKind::Tree => load::<DecisionTreeParams>(self, v, scaler, payload),
            ModelKind::Forest => load::<ForestParams>(self, v, scaler, payload),
            #[cfg(any(feature = "torch", feature = "candle"))]
            ModelKind::Dnn | ModelKind::Cnn | ModelKind::Gate => {
                load::<NetParams>(self, v, scaler, payload)
            }
            #[cfg(not(any(feature = "torch", feature = "candle")))]
            ModelKind::Dnn | ModelKind::Cnn | ModelKind::Gate => Err(no_torch(self)),
        }
    }
}

impl ModelKind {
    /// [`load`](ModelKind::load) for the prediction server: the same,
    /// except that the networks run on candle where it is built in, even
    /// beside libtorch (so every server runs the same arithmetic).
    pub fn load_for_serving(
        self,
        hyperparameters: &serde_json::Value,
        scaler: Scaler,
        payload: &[u8],
    ) -> Result<Box<dyn Classifier>> {
        match self {
            #[cfg(feature = "candle")]
            ModelKind::Dnn | ModelKind::Cnn | ModelKind::Gate => {
                let params: NetParams = params_of(self, hyperparameters.clone())?;
                Ok(Box::new(Network::load_on_candle(params, scaler, payload)?))
            }
            _ => self.load(hyperparameters, scaler, payload),
        }
    }
}

/// `v` decoded as the hyperparameters of a `kind` model (for
/// [`ModelKind::model_with`] and [`ModelKind::load`]).
pub(crate) fn params_of<E: Estimator>(kind: ModelKind, v: serde_json::Value) -> Result<E> {
    let params: E = serde_json::from_value(v).map_err(|e| Error::Decode {
        what: format!("{} hyperparameters", kind.name()),
        reason: e.to_string(),
    })?;
    if params.kind() != kind {
        return Err(Error::Decode {
            what: format!("{kind} model"),
            reason: format!("its hyperparameters describe a {} model", params.kind()),
        });
    }
    Ok(params)
}

#[cfg(not(feature = "torch"))]
fn no_torch(kind: ModelKind) -> Error {
    Error::MissingFeature {
        what: format!("the {kind} model (libtorch)"),
        feature: "torch",
        hint: " (notebooks: `:dep mnist_support = { path = \"../mnist_support\", default-features = false, features = [\"notebook\"] }`)".into(),
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ModelKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<ModelKind> {
        ModelKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
                Error::UnknownModel {
                    name: s.to_string(),
                    available: names.join(", "),
                }
            })
    }
}

/// What every model does, implemented once by [`Model<E>`] for every
/// algorithm. Public entry points take raw pixels (n×784, 0–255); the
/// `_scaled` methods take features already passed through
/// [`scaler`](Classifier::scaler).
pub trait Classifier: Send + Sync + std::fmt::Debug {
    fn kind(&self) -> ModelKind;

    /// Short name: model file name, CLI argument.
    fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Hyperparameters, as saved in the model's metadata.
    fn hyperparameters(&self) -> serde_json::Value;

    /// The scaling this model is trained with (step 4.1).
    fn scaling(&self) -> Scaling;

    /// Typed digits and distorted copies it trains on besides the digits.
    fn augmentation(&self) -> crate::augment::Augment;

    /// The fitted scaler (`Scaler::None` before fitting).
    fn scaler(&self) -> &Scaler;

    fn is_fitted(&self) -> bool;

    /// The library that runs the fitted model: "rust" (this crate), or for
    /// the networks "libtorch" or "candle".
    fn runtime(&self) -> &'static str;

    /// Per-epoch training record (networks only).
    fn history(&self) -> Option<&History>;

    /// Fit on features produced by `scaler` from the training pixels (the
    /// model keeps `scaler`), with the validation split when at hand.
    fn fit_scaled(
        &mut self,
        scaler: Scaler,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        valid: Option<(ArrayView2<f32>, ArrayView1<u8>)>,
        progress: &dyn Progress,
    ) -> Result<()>;

    /// Whether a model saved with `hyperparameters` (a card's) learned what
    /// fitting this one would: the same hyperparameters, but for those that
    /// fitting does not depend on ([`Estimator::fit_key`]).
    fn fits_like(&self, hyperparameters: &serde_json::Value) -> bool;

    /// Become the fitted model saved as `payload` (bytes from
    /// [`to_bytes`](Classifier::to_bytes)) with `hyperparameters` (the
    /// saved model's, which this model takes on; they must describe a model
    /// of this kind).
    fn load(
        &mut self,
        hyperparameters: &serde_json::Value,
        scaler: Scaler,
        payload: &[u8],
        history: Option<History>,
    ) -> Result<()>;

    /// Class probabilities (n×10, rows sum to 1; n×2 for the digit gate) of scaled features.
    fn predict_proba_scaled(&self, x: ArrayView2<f32>) -> Result<Array2<f32>>;

    /// Labels of scaled features.
    fn predict_scaled(&self, x: ArrayView2<f32>) -> Result<Array1<u8>>;

    /// The fitted parameters as bytes (the body of the model file).
    fn to_bytes(&self) -> Result<Vec<u8>>;

    /// Fit on raw training pixels: typed digits and distorted copies added
    /// (see [`augmentation`](Classifier::augmentation)), the scaler fitted on
    /// the digits, then the model.
    fn fit(
        &mut self,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        progress: &dyn Progress,
    ) -> Result<()> {
        check_pixels(&x)?;
        check_xy(&x, &y)?;
        let scaler = Scaler::fit(self.scaling(), &x)?;
        let xs = scaler.transform(&x)?;
        fit_prepared(self, scaler, x, xs.view(), y, None, None, progress)
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

/// The one way a model is fitted, for [`Classifier::fit`] and the runner's
/// [`experiment::fit`](crate::experiment::fit) alike: `scaled` is `raw` (the
/// training digits as raw pixels) through `scaler`; the typed digits,
/// distorted copies and generated pictures of the model's
/// [`augmentation`](Classifier::augmentation) are made from `raw` and scaled
/// the same way, then the model fits on all of them (with the validation
/// split when given).
pub(crate) fn fit_prepared<M: Classifier + ?Sized>(
    model: &mut M,
    scaler: Scaler,
    raw: ArrayView2<f32>,
    scaled: ArrayView2<f32>,
    y: ArrayView1<u8>,
    valid: Option<(ArrayView2<f32>, ArrayView1<u8>)>,
    cache: Option<&Path>,
    progress: &dyn Progress,
) -> Result<()> {
    match model
        .augmentation()
        .training_set(&scaler, raw, scaled, y, cache, progress)?
    {
        None => model.fit_scaled(scaler, scaled, y, valid, progress),
        Some((xa, ya)) => model.fit_scaled(scaler, xa.view(), ya.view(), valid, progress),
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
        return Err(Error::InvalidData(
            "pixel values contain NaN or infinity".into(),
        ));
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
        return Err(Error::InvalidData(format!(
            "label {bad} is not a digit 0-9"
        )));
    }
    Ok(())
}

/// Path of the model file and metadata of model `name` in `dir`.
pub fn model_paths(dir: &Path, name: &str, ext: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.{ext}")),
        dir.join(format!("{name}.json")),
    )
}

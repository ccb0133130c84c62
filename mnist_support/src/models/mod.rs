//! The classifiers and the traits they share.
//!
//! Each algorithm's file holds its hyperparameters (an [`Estimator`]:
//! checked, learning the algorithm's fitted state, which predicts and becomes
//! bytes) and nothing else. Hyperparameters are [`Learner`]s: fitting them
//! makes a [`Model<E>`], which holds the fitted scaler and state and
//! implements [`Classifier`] once for all of them: predict labels and class
//! probabilities, serialize the parameters. A model exists only fitted. Models
//! take **raw pixels** (0–255) at their public entry points and apply their
//! own fitted [`Scaler`], so the runner, the store, the CLI and the web server
//! treat all of them alike. [`ModelKind`] names the models; [`AnyParams`] is
//! any model's hyperparameters, its kind chosen at run time.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::data::{CLASSES, PIXELS};
use crate::error::{Error, Result};
use crate::scale::{Scaler, Scaling};

mod any;
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

pub use crate::api::why::Why;
pub use crate::metrics::{Epoch, History};
pub use crate::progress::{PrintProgress, Progress, Silent};
use any::each;
pub use any::AnyParams;
pub use forest::ForestParams;
pub use knn::KnnParams;
pub(crate) use model::{invalid, linfa_fit};
pub use model::{Estimator, Learner, Model, Params, Training};
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

    /// The model's default (validation-chosen) hyperparameters, to fit
    /// (the networks need libtorch, the `torch` feature).
    pub fn default_params(self) -> Result<AnyParams> {
        match self.defaults() {
            Some(params) if !self.is_network() || cfg!(feature = "torch") => Ok(params),
            _ => Err(self.no_torch()),
        }
    }

    /// The default hyperparameters whether or not this build can fit them
    /// (`None` for a network where neither libtorch nor candle is built in).
    fn defaults(self) -> Option<AnyParams> {
        Some(match self {
            ModelKind::Softmax => SoftmaxParams::default().into(),
            ModelKind::Knn => KnnParams::default().into(),
            ModelKind::Svm => SvmParams::default().into(),
            ModelKind::Tree => DecisionTreeParams::default().into(),
            ModelKind::Forest => ForestParams::default().into(),
            #[cfg(any(feature = "torch", feature = "candle"))]
            ModelKind::Dnn => NetParams::dnn().into(),
            #[cfg(any(feature = "torch", feature = "candle"))]
            ModelKind::Cnn => NetParams::cnn().into(),
            #[cfg(any(feature = "torch", feature = "candle"))]
            ModelKind::Gate => NetParams::gate().into(),
            #[cfg(not(any(feature = "torch", feature = "candle")))]
            ModelKind::Dnn | ModelKind::Cnn | ModelKind::Gate => return None,
        })
    }

    /// The model in the configuration `mnist compare` gives scikit-learn or
    /// PyTorch too (each model's `as_scikit_learn`, [`NetParams::as_pytorch`]):
    /// the same hyperparameters and scaling, nothing added to the training
    /// digits; `epochs` for the networks when given, `seed` for the seeded ones.
    pub fn as_peers(self, epochs: Option<usize>, seed: u64) -> Result<AnyParams> {
        let _ = epochs;
        Ok(match self.default_params()? {
            AnyParams::Softmax(_) => SoftmaxParams::as_scikit_learn().into(),
            AnyParams::Knn(_) => KnnParams::as_scikit_learn().into(),
            AnyParams::Svm(_) => SvmParams::as_scikit_learn().into(),
            AnyParams::Tree(_) => DecisionTreeParams::as_scikit_learn().into(),
            AnyParams::Forest(_) => ForestParams::as_scikit_learn(seed).into(),
            #[cfg(any(feature = "torch", feature = "candle"))]
            AnyParams::Net(net) => net.as_pytorch(epochs, seed).into(),
        })
    }

    /// The default hyperparameters, as a card holds them (`None` for a
    /// network where neither libtorch nor candle is built in).
    pub fn default_hyperparameters(self) -> Option<serde_json::Value> {
        self.defaults().map(|p| p.hyperparameters())
    }

    /// The model's default hyperparameters changed by `changes`, a JSON
    /// object holding only the keys to change; nested objects merge, so
    /// `{"n_trees": 100, "tree": {"max_features": 40}}` changes two values of
    /// the forest. A key the model does not have, a value of the wrong type
    /// or out of range is an error, before any work is done.
    pub fn params_with(self, changes: &serde_json::Value) -> Result<AnyParams> {
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
        let mut v = self.default_params()?.hyperparameters();
        merge(&mut v, changes, "")?;
        AnyParams::decode(self, v)
    }

    /// Rebuild a fitted model from its saved hyperparameters, scaler and
    /// parameter bytes, the networks on `networks` (what
    /// [`Store::load`](crate::store::Store::load) does with a card).
    pub(crate) fn load(
        self,
        hyperparameters: &serde_json::Value,
        scaler: Scaler,
        payload: &[u8],
        networks: Networks,
    ) -> Result<Box<dyn Classifier>> {
        let params = AnyParams::decode(self, hyperparameters.clone())?;
        #[cfg(feature = "candle")]
        if let (AnyParams::Net(net), Networks::Candle) = (&params, networks) {
            return Ok(Box::new(Network::load_on_candle(
                net.clone(),
                scaler,
                payload,
            )?));
        }
        let _ = networks;
        each!(params, p => Ok(Box::new(Model::load(p, scaler, payload)?)))
    }

    /// The error for a network this build cannot fit.
    fn no_torch(self) -> Error {
        Error::MissingFeature {
            what: format!("the {self} model (libtorch)"),
            feature: "torch",
            hint: " (notebooks: `:dep mnist_support = { path = \"../mnist_support\", default-features = false, features = [\"notebook\"] }`)".into(),
        }
    }
}

/// Which library runs a loaded network: the server's choice, and the
/// [`Store`](crate::store::Store)'s ([`Store::networks_on`](crate::store::Store::networks_on)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Networks {
    /// candle where it is built in: what `mnist-serve` and every server
    /// runs by default.
    #[default]
    Candle,
    /// libtorch where it is built in (what trained them; to compare the two).
    Libtorch,
}

/// `v` decoded as the hyperparameters of a `kind` model (for
/// [`ModelKind::params_with`], [`ModelKind::load`] and [`Learner::load_saved`]).
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

/// What every fitted model does, implemented once by [`Model<E>`] for every
/// algorithm. Public entry points take raw pixels (n×784, 0–255); the
/// `_scaled` methods take features already passed through
/// [`scaler`](Classifier::scaler).
pub trait Classifier: Send + Sync + std::fmt::Debug {
    fn kind(&self) -> ModelKind;

    /// Short name: model file name, CLI argument.
    fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Hyperparameters, as saved in the model's card.
    fn hyperparameters(&self) -> serde_json::Value;

    /// The fitted scaler.
    fn scaler(&self) -> &Scaler;

    /// The scaling this model was trained with (step 4.1).
    fn scaling(&self) -> Scaling {
        self.scaler().scaling()
    }

    /// The library that runs the fitted model: "rust" (this crate), or for
    /// the networks "libtorch" or "candle".
    fn runtime(&self) -> &'static str;

    /// Per-epoch training record (networks only).
    fn history(&self) -> Option<&History>;

    /// Class probabilities (n×10, rows sum to 1; n×2 for the digit gate) of scaled features.
    fn predict_proba_scaled(&self, x: ArrayView2<f32>) -> Result<Array2<f32>>;

    /// Labels of scaled features.
    fn predict_scaled(&self, x: ArrayView2<f32>) -> Result<Array1<u8>>;

    /// The fitted parameters as bytes (the body of the model file).
    fn to_bytes(&self) -> Result<Vec<u8>>;

    /// Why it answers as it does for one picture (784 raw pixels), in the
    /// model's own terms ([`crate::explain`] adds the common saliency).
    fn why(&self, pixels: ArrayView1<f32>) -> Result<Why>;

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

/// A boxed model is a model ([`AnyParams`] fit into them).
impl Classifier for Box<dyn Classifier> {
    fn kind(&self) -> ModelKind {
        (**self).kind()
    }

    fn hyperparameters(&self) -> serde_json::Value {
        (**self).hyperparameters()
    }

    fn scaler(&self) -> &Scaler {
        (**self).scaler()
    }

    fn runtime(&self) -> &'static str {
        (**self).runtime()
    }

    fn history(&self) -> Option<&History> {
        (**self).history()
    }

    fn predict_proba_scaled(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        (**self).predict_proba_scaled(x)
    }

    fn predict_scaled(&self, x: ArrayView2<f32>) -> Result<Array1<u8>> {
        (**self).predict_scaled(x)
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        (**self).to_bytes()
    }

    fn why(&self, pixels: ArrayView1<f32>) -> Result<Why> {
        (**self).why(pixels)
    }
}

/// The one way a model is fitted, for [`Learner::fit`] and the runner's
/// [`experiment::fit`](crate::experiment::fit) alike: `scaled` is `raw` (the
/// training digits as raw pixels) through `scaler`; the typed digits,
/// distorted copies and generated pictures of the model's
/// [`augmentation`](Params::augmentation) are made from `raw` and scaled
/// the same way, then the model fits on all of them (with the validation
/// split when given).
#[allow(clippy::too_many_arguments)]
pub(crate) fn fit_prepared<L: Learner + ?Sized>(
    learner: &L,
    scaler: &Scaler,
    raw: ArrayView2<f32>,
    scaled: ArrayView2<f32>,
    y: ArrayView1<u8>,
    valid: Option<(ArrayView2<f32>, ArrayView1<u8>)>,
    cache: Option<&Path>,
    progress: &dyn Progress,
) -> Result<L::Model> {
    let augmented = learner
        .augmentation()
        .training_set(scaler, raw, scaled, y, cache, progress)?;
    let (x, y) = match &augmented {
        None => (scaled.view(), y.view()),
        Some((xa, ya)) => (xa.view(), ya.view()),
    };
    let valid = valid.as_ref().map(|(vx, vy)| (vx.view(), vy.view()));
    learner.fit_scaled(
        Training {
            scaler,
            x,
            y,
            valid,
        },
        progress,
    )
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

/// The largest entry's index (the first on ties) and the next largest's.
pub(crate) fn top_two(v: &[f32]) -> (usize, usize) {
    let first = (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b });
    let second = (0..v.len())
        .filter(|&i| i != first)
        .fold(None, |b: Option<usize>, i| match b {
            Some(b) if v[b] >= v[i] => Some(b),
            _ => Some(i),
        })
        .unwrap_or(first);
    (first, second)
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

#[cfg(test)]
mod tests {
    #[test]
    fn top_two_takes_the_first_of_ties() {
        assert_eq!(super::top_two(&[0.1, 0.5, 0.2, 0.5]), (1, 3));
        assert_eq!(super::top_two(&[0.3, 0.3, 0.1]), (0, 1));
        assert_eq!(super::top_two(&[1.0]), (0, 0));
    }
}

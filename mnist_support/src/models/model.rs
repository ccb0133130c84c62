//! Hyperparameters and fitted models, split the way linfa splits them.
//!
//! An [`Estimator`] is one algorithm's hyperparameters: it checks them,
//! learns the algorithm's fitted state ([`Estimator::Fitted`]) from
//! [`Training`] data, predicts with that state and encodes it as bytes.
//! Every estimator is a [`Learner`]: [`Learner::fit`] turns hyperparameters
//! into a [`Model<E>`], which holds them with the fitted scaler and the fitted
//! state and implements [`Classifier`] once for every algorithm. A model
//! exists only fitted, so a prediction before fitting cannot be written. The
//! checks, the raw-pixel entry points and the model file live here, so an
//! algorithm's file holds only its algorithm.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use serde::{de::DeserializeOwned, Serialize};

use super::{argmax_rows, check_pixels, check_xy, Classifier, History, ModelKind, Progress, Why};
use crate::augment::Augment;
use crate::error::{Error, Result};
use crate::scale::{Scaler, Scaling};

/// What an algorithm learns from: scaled training features, made by
/// `scaler` from raw pixels, and the validation split when at hand.
#[derive(Clone, Copy)]
pub struct Training<'a> {
    pub scaler: &'a Scaler,
    pub x: ArrayView2<'a, f32>,
    pub y: ArrayView1<'a, u8>,
    /// Models trained by epochs keep the epoch with the best validation
    /// accuracy; the others ignore it.
    pub valid: Option<(ArrayView2<'a, f32>, ArrayView1<'a, u8>)>,
}

impl Training<'_> {
    /// Labels are digits, as many as rows, the features finite, and the
    /// validation rows as wide as the training rows.
    fn check(&self) -> Result<()> {
        check_xy(&self.x, &self.y)?;
        if self.x.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidData(
                "training features contain NaN or infinity".into(),
            ));
        }
        if let Some((vx, vy)) = &self.valid {
            check_xy(vx, vy)?;
            if vx.ncols() != self.x.ncols() {
                return Err(Error::Shape(format!(
                    "validation rows have {} columns, training rows {}",
                    vx.ncols(),
                    self.x.ncols()
                )));
            }
        }
        Ok(())
    }
}

/// What any model's hyperparameters say before it is fitted: which model,
/// how it scales pixels and what it trains on besides the digits.
pub trait Params: Send + Sync + std::fmt::Debug {
    fn kind(&self) -> ModelKind;

    /// The pixel scaling the model trains and predicts with (step 4.1).
    fn scaling(&self) -> Scaling;

    /// Typed digits and distorted copies to train on besides the digits.
    fn augmentation(&self) -> Augment {
        Augment::NONE
    }
}

/// One algorithm's hyperparameters (`SoftmaxParams`, `KnnParams`, …).
pub trait Estimator: Params + Clone + PartialEq + Serialize + DeserializeOwned + 'static {
    /// The learned parameters.
    type Fitted: Send + Sync + 'static;

    /// These hyperparameters with those that fitting does not depend on
    /// (kNN's k and vote) set to fixed values: two models whose `fit_key`s
    /// are equal learn the same fitted state, so a saved one can stand in
    /// for the other ([`Store::fit_or_load`](crate::store::Store::fit_or_load)).
    fn fit_key(&self) -> Self {
        self.clone()
    }

    /// Every hyperparameter in range, or [`Error::InvalidHyperparameter`];
    /// called before any work.
    fn check(&self) -> Result<()>;

    /// Learn from checked training data (finite features, one digit label
    /// per row); networks also return their per-epoch history.
    fn learn(
        &self,
        data: Training<'_>,
        progress: &dyn Progress,
    ) -> Result<(Self::Fitted, Option<History>)>;

    /// Class probabilities (n×10, rows sum to 1; n×2 for the digit gate) of scaled features.
    fn predict_proba(&self, fitted: &Self::Fitted, x: ArrayView2<f32>) -> Result<Array2<f32>>;

    /// Labels of scaled features: the most probable class (ties → smaller digit).
    fn predict(&self, fitted: &Self::Fitted, x: ArrayView2<f32>) -> Result<Array1<u8>> {
        Ok(argmax_rows(&self.predict_proba(fitted, x)?))
    }

    /// The fitted parameters as bytes (the body of the model file).
    fn to_bytes(&self, fitted: &Self::Fitted) -> Result<Vec<u8>>;

    /// Inverse of [`to_bytes`](Estimator::to_bytes) for a model saved with
    /// these hyperparameters and `scaler`; every byte is checked.
    fn fitted_from_bytes(&self, scaler: &Scaler, bytes: &[u8]) -> Result<Self::Fitted>;

    /// The library that runs the fitted model: this crate's own code unless
    /// it says otherwise.
    fn runtime(&self, _fitted: &Self::Fitted) -> &'static str {
        "rust"
    }

    /// Why the fitted model answers as it does for one picture (`pixels`,
    /// one row of raw pixels, which `scaler` scales), in its own terms;
    /// [`Why::Saliency`] for a model that has none besides the common
    /// saliency of [`crate::explain`].
    fn why(
        &self,
        _fitted: &Self::Fitted,
        _scaler: &Scaler,
        _pixels: ArrayView2<f32>,
    ) -> Result<Why> {
        Ok(Why::Saliency)
    }
}

/// Hyperparameters that fit into a model: every [`Estimator`] (into its
/// [`Model<E>`]), and [`AnyParams`](super::AnyParams), a model chosen at run
/// time (into a `Box<dyn Classifier>`). The store, the experiment and the
/// pipeline take any of them.
pub trait Learner: Params {
    /// The fitted model.
    type Model: Classifier;

    /// The hyperparameters, as a model card holds them.
    fn hyperparameters(&self) -> serde_json::Value;

    /// Whether a model saved with `hyperparameters` (a card's) learned what
    /// fitting these would: the same hyperparameters, but for those that
    /// fitting does not depend on ([`Estimator::fit_key`]).
    fn fits_like(&self, hyperparameters: &serde_json::Value) -> bool;

    /// Fit on scaled features (the model keeps `data.scaler`); the
    /// hyperparameters and the data are checked before any work.
    fn fit_scaled(&self, data: Training<'_>, progress: &dyn Progress) -> Result<Self::Model>;

    /// The model saved as `payload` (from [`Classifier::to_bytes`]) with
    /// `hyperparameters`, a card's, which it takes on in place of these
    /// (they must describe a model of this kind). What
    /// [`Store::fit_or_load`](crate::store::Store::fit_or_load) reuses.
    fn load_saved(
        &self,
        hyperparameters: &serde_json::Value,
        scaler: Scaler,
        payload: &[u8],
        history: Option<History>,
    ) -> Result<Self::Model>;

    /// Fit on raw training pixels (n×784, 0–255): typed digits and
    /// distorted copies added (see [`augmentation`](Params::augmentation)),
    /// the scaler fitted on the digits, then the model.
    fn fit(
        &self,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        progress: &dyn Progress,
    ) -> Result<Self::Model> {
        check_pixels(&x)?;
        check_xy(&x, &y)?;
        let scaler = Scaler::fit(self.scaling(), &x)?;
        let xs = scaler.transform(&x)?;
        super::fit_prepared(self, &scaler, x, xs.view(), y, None, None, progress)
    }
}

impl<E: Estimator> Learner for E {
    type Model = Model<E>;

    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data serializes")
    }

    fn fits_like(&self, hyperparameters: &serde_json::Value) -> bool {
        serde_json::from_value::<E>(hyperparameters.clone())
            .is_ok_and(|saved| saved.fit_key() == self.fit_key())
    }

    fn fit_scaled(&self, data: Training<'_>, progress: &dyn Progress) -> Result<Model<E>> {
        self.check()?;
        self.augmentation().check()?;
        data.check()?;
        let (fitted, history) = self.learn(data, progress)?;
        Ok(Model {
            params: self.clone(),
            scaler: data.scaler.clone(),
            fitted,
            history,
        })
    }

    fn load_saved(
        &self,
        hyperparameters: &serde_json::Value,
        scaler: Scaler,
        payload: &[u8],
        history: Option<History>,
    ) -> Result<Model<E>> {
        let params: E = super::params_of(self.kind(), hyperparameters.clone())?;
        let mut model = Model::load(params, scaler, payload)?;
        model.history = history;
        Ok(model)
    }
}

/// A fitted model: its hyperparameters, its fitted scaler and the state its
/// algorithm learned (made by [`Learner::fit`] or read by the
/// [`Store`](crate::store::Store)).
pub struct Model<E: Estimator> {
    params: E,
    scaler: Scaler,
    fitted: E::Fitted,
    history: Option<History>,
}

impl<E: Estimator> std::fmt::Debug for Model<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("params", &self.params)
            .field("scaler", &self.scaler.scaling())
            .finish_non_exhaustive()
    }
}

impl<E: Estimator> Model<E> {
    /// The hyperparameters it was fitted with.
    pub fn params(&self) -> &E {
        &self.params
    }

    /// The learned state.
    pub fn fitted(&self) -> &E::Fitted {
        &self.fitted
    }

    /// The fitted model saved as `payload` with these hyperparameters and `scaler`.
    pub(crate) fn load(params: E, scaler: Scaler, payload: &[u8]) -> Result<Self> {
        params.check()?;
        let fitted = params.fitted_from_bytes(&scaler, payload)?;
        Ok(Model::with_fitted(params, scaler, fitted))
    }

    /// A fitted model from its parts.
    pub(crate) fn with_fitted(params: E, scaler: Scaler, fitted: E::Fitted) -> Self {
        Model {
            params,
            scaler,
            fitted,
            history: None,
        }
    }

    /// Replace hyperparameters that fitting does not depend on (kNN's vote);
    /// `f` gets a copy, and the result must pass [`Estimator::check`] and
    /// fit like the old ones.
    pub(crate) fn adjust(&mut self, f: impl FnOnce(&mut E)) -> Result<()> {
        let mut params = self.params.clone();
        f(&mut params);
        params.check()?;
        debug_assert!(params.fit_key() == self.params.fit_key());
        self.params = params;
        Ok(())
    }
}

impl<E: Estimator> Classifier for Model<E> {
    fn kind(&self) -> ModelKind {
        self.params.kind()
    }

    fn hyperparameters(&self) -> serde_json::Value {
        Learner::hyperparameters(&self.params)
    }

    fn scaler(&self) -> &Scaler {
        &self.scaler
    }

    fn runtime(&self) -> &'static str {
        self.params.runtime(&self.fitted)
    }

    fn history(&self) -> Option<&History> {
        self.history.as_ref()
    }

    fn predict_proba_scaled(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.params.predict_proba(&self.fitted, x)
    }

    fn predict_scaled(&self, x: ArrayView2<f32>) -> Result<Array1<u8>> {
        self.params.predict(&self.fitted, x)
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        self.params.to_bytes(&self.fitted)
    }

    fn why(&self, pixels: ArrayView1<f32>) -> Result<Why> {
        let x = pixels.insert_axis(ndarray::Axis(0));
        check_pixels(&x)?;
        self.params.why(&self.fitted, &self.scaler, x)
    }
}

/// linfa's `Predict` for every model, on features that are already scaled
/// (linfa's `Predict` cannot return errors: rows of the wrong width panic
/// there, while [`Classifier::predict`] returns an error).
impl<E: Estimator, D: ndarray::Data<Elem = f32>>
    linfa::traits::PredictInplace<ndarray::ArrayBase<D, ndarray::Ix2>, Array1<u8>> for Model<E>
{
    fn predict_inplace(&self, x: &ndarray::ArrayBase<D, ndarray::Ix2>, y: &mut Array1<u8>) {
        let labels = self.predict_scaled(x.view());
        y.assign(&labels.expect("rows of the fitted width"));
    }

    fn default_target(&self, x: &ndarray::ArrayBase<D, ndarray::Ix2>) -> Array1<u8> {
        Array1::zeros(x.nrows())
    }
}

/// linfa's `Fit` for a model's hyperparameters, on features that are
/// already scaled (linfa's interface has no progress output).
macro_rules! linfa_fit {
    ($params:ty) => {
        impl<D: ndarray::Data<Elem = f32>, T: linfa::dataset::AsTargets<Elem = u8>>
            linfa::traits::Fit<ndarray::ArrayBase<D, ndarray::Ix2>, T, crate::error::Error>
            for $params
        {
            type Object = crate::models::Model<$params>;

            fn fit(
                &self,
                dataset: &linfa::DatasetBase<ndarray::ArrayBase<D, ndarray::Ix2>, T>,
            ) -> crate::error::Result<Self::Object> {
                let y: ndarray::Array1<u8> = linfa::dataset::AsTargets::as_targets(dataset)
                    .iter()
                    .copied()
                    .collect();
                let data = crate::models::Training {
                    scaler: &crate::scale::Scaler::None,
                    x: dataset.records.view(),
                    y: y.view(),
                    valid: None,
                };
                crate::models::Learner::fit_scaled(self, data, &crate::models::Silent)
            }
        }
    };
}
pub(crate) use linfa_fit;

/// [`Error::InvalidHyperparameter`] of `model`.
pub(crate) fn invalid(model: ModelKind, name: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidHyperparameter {
        model: model.name(),
        name,
        reason: reason.into(),
    }
}

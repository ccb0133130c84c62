//! Hyperparameters and fitted models, split the way linfa splits them.
//!
//! An [`Estimator`] is one algorithm's hyperparameters: it checks them, fits
//! them into the algorithm's fitted state ([`Estimator::Fitted`]), predicts
//! with that state and encodes it as bytes. [`Model<E>`] holds the
//! hyperparameters, the fitted scaler and the fitted state, and implements
//! [`Classifier`] once for every algorithm: the checks, the "not fitted yet"
//! error, the raw-pixel entry points and the model file live here, so an
//! algorithm's file holds only its algorithm.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use serde::{de::DeserializeOwned, Serialize};

use super::{argmax_rows, check_xy, Classifier, History, ModelKind, Progress};
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

/// One algorithm's hyperparameters (`SoftmaxParams`, `KnnParams`, …).
pub trait Estimator:
    Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The learned parameters.
    type Fitted: Send + Sync;

    fn kind(&self) -> ModelKind;

    /// The pixel scaling the model trains and predicts with (step 4.1).
    fn scaling(&self) -> Scaling;

    /// Typed digits and distorted copies to train on besides the digits.
    fn augmentation(&self) -> Augment {
        Augment::NONE
    }

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
    fn fit(
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
}

/// A model: hyperparameters, and once fitted, its scaler and learned state.
pub struct Model<E: Estimator> {
    params: E,
    scaler: Scaler,
    fitted: Option<E::Fitted>,
    history: Option<History>,
}

impl<E: Estimator> std::fmt::Debug for Model<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("params", &self.params)
            .field("fitted", &self.fitted.is_some())
            .finish()
    }
}

impl<E: Estimator> Model<E> {
    /// An unfitted model.
    pub fn new(params: E) -> Self {
        Model {
            params,
            scaler: Scaler::None,
            fitted: None,
            history: None,
        }
    }

    /// The hyperparameters (fixed once the model exists).
    pub fn params(&self) -> &E {
        &self.params
    }

    /// The learned state, or [`Error::NotFitted`].
    pub fn fitted(&self) -> Result<&E::Fitted> {
        self.fitted.as_ref().ok_or(Error::NotFitted {
            model: self.params.kind().name(),
        })
    }

    /// The fitted model saved as `payload` with these hyperparameters and `scaler`.
    pub fn load(params: E, scaler: Scaler, payload: &[u8]) -> Result<Self> {
        params.check()?;
        let fitted = params.fitted_from_bytes(&scaler, payload)?;
        Ok(Model::with_fitted(params, scaler, fitted))
    }

    /// A fitted model from its parts.
    pub(crate) fn with_fitted(params: E, scaler: Scaler, fitted: E::Fitted) -> Self {
        Model {
            params,
            scaler,
            fitted: Some(fitted),
            history: None,
        }
    }

    /// Replace hyperparameters that fitting does not depend on (kNN's vote);
    /// `f` gets a copy, and the result must pass [`Estimator::check`].
    pub(crate) fn adjust(&mut self, f: impl FnOnce(&mut E)) -> Result<()> {
        let mut params = self.params.clone();
        f(&mut params);
        params.check()?;
        self.params = params;
        Ok(())
    }
}

impl<E: Estimator> Classifier for Model<E> {
    fn kind(&self) -> ModelKind {
        self.params.kind()
    }

    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).expect("plain data serializes")
    }

    fn fits_like(&self, hyperparameters: &serde_json::Value) -> bool {
        serde_json::from_value::<E>(hyperparameters.clone())
            .is_ok_and(|saved| saved.fit_key() == self.params.fit_key())
    }

    fn scaling(&self) -> Scaling {
        self.params.scaling()
    }

    fn augmentation(&self) -> Augment {
        self.params.augmentation()
    }

    fn scaler(&self) -> &Scaler {
        &self.scaler
    }

    fn is_fitted(&self) -> bool {
        self.fitted.is_some()
    }

    fn runtime(&self) -> &'static str {
        self.fitted
            .as_ref()
            .map_or("rust", |f| self.params.runtime(f))
    }

    fn history(&self) -> Option<&History> {
        self.history.as_ref()
    }

    fn fit_scaled(
        &mut self,
        scaler: Scaler,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        valid: Option<(ArrayView2<f32>, ArrayView1<u8>)>,
        progress: &dyn Progress,
    ) -> Result<()> {
        self.params.check()?;
        self.params.augmentation().check()?;
        check_xy(&x, &y)?;
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidData(
                "training features contain NaN or infinity".into(),
            ));
        }
        if let Some((vx, vy)) = &valid {
            check_xy(vx, vy)?;
            if vx.ncols() != x.ncols() {
                return Err(Error::Shape(format!(
                    "validation rows have {} columns, training rows {}",
                    vx.ncols(),
                    x.ncols()
                )));
            }
        }
        let (fitted, history) = {
            let data = Training {
                scaler: &scaler,
                x: x.view(),
                y: y.view(),
                valid: valid.as_ref().map(|(vx, vy)| (vx.view(), vy.view())),
            };
            self.params.fit(data, progress)?
        };
        self.fitted = Some(fitted);
        self.history = history;
        self.scaler = scaler;
        Ok(())
    }

    fn load(
        &mut self,
        hyperparameters: &serde_json::Value,
        scaler: Scaler,
        payload: &[u8],
        history: Option<History>,
    ) -> Result<()> {
        let params: E = super::params_of(self.kind(), hyperparameters.clone())?;
        params.check()?;
        self.fitted = Some(params.fitted_from_bytes(&scaler, payload)?);
        self.params = params;
        self.scaler = scaler;
        self.history = history;
        Ok(())
    }

    fn predict_proba_scaled(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.params.predict_proba(self.fitted()?, x)
    }

    fn predict_scaled(&self, x: ArrayView2<f32>) -> Result<Array1<u8>> {
        self.params.predict(self.fitted()?, x)
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        self.params.to_bytes(self.fitted()?)
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
        y.assign(&labels.expect("a fitted model and rows of the fitted width"));
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
                let mut model = crate::models::Model::new(self.clone());
                crate::models::Classifier::fit_scaled(
                    &mut model,
                    crate::scale::Scaler::None,
                    dataset.records.view(),
                    y.view(),
                    None,
                    &crate::models::Silent,
                )?;
                Ok(model)
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

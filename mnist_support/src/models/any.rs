//! [`AnyParams`]: any model's hyperparameters, its kind chosen at run time,
//! a [`Learner`] that fits into a `Box<dyn Classifier>`.

#[cfg(any(feature = "torch", feature = "candle"))]
use super::NetParams;
use super::{
    params_of, Classifier, DecisionTreeParams, Estimator, ForestParams, History, KnnParams,
    Learner, ModelKind, Params, Progress, SoftmaxParams, SvmParams, Training,
};
use crate::error::Result;
use crate::scale::{Scaler, Scaling};

/// Any model's hyperparameters, the model chosen at run time
/// ([`ModelKind::default_params`], [`ModelKind::params_with`],
/// [`ModelKind::as_peers`]): a [`Learner`] that fits into a
/// `Box<dyn Classifier>`.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyParams {
    Softmax(SoftmaxParams),
    Knn(KnnParams),
    Svm(SvmParams),
    Tree(DecisionTreeParams),
    Forest(ForestParams),
    /// The DNN, the CNN or the digit gate.
    #[cfg(any(feature = "torch", feature = "candle"))]
    Net(NetParams),
}

/// `$e` with `$p` bound to the hyperparameters inside an [`AnyParams`].
macro_rules! each {
    ($any:expr, $p:ident => $e:expr) => {
        match $any {
            AnyParams::Softmax($p) => $e,
            AnyParams::Knn($p) => $e,
            AnyParams::Svm($p) => $e,
            AnyParams::Tree($p) => $e,
            AnyParams::Forest($p) => $e,
            #[cfg(any(feature = "torch", feature = "candle"))]
            AnyParams::Net($p) => $e,
        }
    };
}
pub(crate) use each;

macro_rules! any_params_from {
    ($($variant:ident($params:ty)),*) => {
        $(impl From<$params> for AnyParams {
            fn from(params: $params) -> AnyParams {
                AnyParams::$variant(params)
            }
        })*
    };
}
any_params_from!(
    Softmax(SoftmaxParams),
    Knn(KnnParams),
    Svm(SvmParams),
    Tree(DecisionTreeParams),
    Forest(ForestParams)
);
#[cfg(any(feature = "torch", feature = "candle"))]
any_params_from!(Net(NetParams));

impl AnyParams {
    /// `v` as the hyperparameters of a `kind` model, checked.
    pub(super) fn decode(kind: ModelKind, v: serde_json::Value) -> Result<AnyParams> {
        fn build<E: Estimator + Into<AnyParams>>(
            kind: ModelKind,
            v: serde_json::Value,
        ) -> Result<AnyParams> {
            let params: E = params_of(kind, v)?;
            params.check()?;
            Ok(params.into())
        }
        match kind {
            ModelKind::Softmax => build::<SoftmaxParams>(kind, v),
            ModelKind::Knn => build::<KnnParams>(kind, v),
            ModelKind::Svm => build::<SvmParams>(kind, v),
            ModelKind::Tree => build::<DecisionTreeParams>(kind, v),
            ModelKind::Forest => build::<ForestParams>(kind, v),
            #[cfg(any(feature = "torch", feature = "candle"))]
            ModelKind::Dnn | ModelKind::Cnn | ModelKind::Gate => build::<NetParams>(kind, v),
            #[cfg(not(any(feature = "torch", feature = "candle")))]
            ModelKind::Dnn | ModelKind::Cnn | ModelKind::Gate => Err(kind.no_torch()),
        }
    }
}

impl Params for AnyParams {
    fn kind(&self) -> ModelKind {
        each!(self, p => p.kind())
    }

    fn scaling(&self) -> Scaling {
        each!(self, p => p.scaling())
    }

    fn augmentation(&self) -> crate::augment::Augment {
        each!(self, p => p.augmentation())
    }
}

impl Learner for AnyParams {
    type Model = Box<dyn Classifier>;

    fn hyperparameters(&self) -> serde_json::Value {
        each!(self, p => p.hyperparameters())
    }

    fn fits_like(&self, hyperparameters: &serde_json::Value) -> bool {
        each!(self, p => p.fits_like(hyperparameters))
    }

    fn fit_scaled(&self, data: Training<'_>, progress: &dyn Progress) -> Result<Self::Model> {
        each!(self, p => Ok(Box::new(p.fit_scaled(data, progress)?)))
    }

    fn load_saved(
        &self,
        hyperparameters: &serde_json::Value,
        scaler: Scaler,
        payload: &[u8],
        history: Option<History>,
    ) -> Result<Self::Model> {
        each!(self, p => Ok(Box::new(p.load_saved(hyperparameters, scaler, payload, history)?)))
    }
}

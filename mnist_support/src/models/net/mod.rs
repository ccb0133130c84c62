//! Neural networks: the deep fully connected network (model 3) and the
//! convolutional network (model 7), one type for both.
//!
//! A network is `conv` stages (each: 3×3 convolutions, each followed by
//! batch norm and ReLU, then 2×2 max-pooling), then `hidden` fully connected
//! layers (each: linear, batch norm, ReLU, dropout), then a linear layer to
//! the logits: 10 for the digits, 2 for the [digit gate](NetParams::gate)
//! (no digit, a digit). With no conv stages it is the DNN on the 784 pixels.
//!
//! Two libraries run the same saved weights (safetensors, tensor names like
//! `conv0_0.weight`, `bn_fc0.running_mean`, `out.bias`):
//! * [`torch`] (feature `torch`, libtorch through tch) trains them, and runs
//!   them wherever it is built in;
//! * [`candle`] (feature `candle`, Hugging Face's pure-Rust framework) runs
//!   them for inference only, so the prediction server builds and ships
//!   without libtorch. The two agree on every test image (a test holds them
//!   to 1e-4 in probability).

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::{invalid, Estimator, History, Model, ModelKind, Params, Progress, Training};
use crate::api::why::{NetworkWhy, Why};
use crate::augment::Distort;
use crate::error::{Error, Result};
use crate::scale::{Scaler, Scaling};

#[cfg(feature = "candle")]
pub mod candle;
#[cfg(feature = "torch")]
pub mod torch;

/// Hyperparameters of a network: its layers and how it is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetParams {
    /// Convolution stages: the output channels of each 3×3 convolution in
    /// the stage; every stage ends with 2×2 max-pooling. Empty for the DNN.
    pub conv: Vec<Vec<i64>>,
    /// Widths of the fully connected hidden layers.
    pub hidden: Vec<i64>,
    /// Dropout after each hidden layer.
    pub dropout: f64,
    /// Passes over the training split at most.
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate of the one-cycle schedule (Adam).
    pub learning_rate: f64,
    /// Adam's L2 weight decay.
    pub weight_decay: f64,
    /// Augmentation: each training image is distorted anew in every epoch
    /// (shift, rotation, scale, shear, elastic, stroke thickness; see [`Distort`]).
    #[serde(default)]
    pub distort: Distort,
    /// Typed digits per class added to the training images (see
    /// [`Augment::typed`](crate::augment::Augment::typed)).
    #[serde(default)]
    pub typed: usize,
    /// Stop after this many epochs without a better validation accuracy (0 = never).
    pub patience: usize,
    /// Mixed precision: run the convolution stages in bfloat16 (weights,
    /// optimizer state, the fully connected layers and the loss stay f32),
    /// where the CPU has native bfloat16 instructions (AVX512-BF16: AMD
    /// Zen 4+, Intel Cooper Lake, Sapphire Rapids+). Elsewhere, and on CUDA,
    /// everything is f32. No effect on the DNN, which has no convolutions.
    #[serde(default)]
    pub mixed_precision: bool,
    pub seed: u64,
    pub scaling: Scaling,
    /// Outputs: 10 (the digits) for the DNN and the CNN, 2 for the digit
    /// gate ([`ModelKind::Gate`]); not written to a card when 10.
    #[serde(default = "digit_classes", skip_serializing_if = "is_digit_classes")]
    pub classes: usize,
}

fn digit_classes() -> usize {
    crate::data::CLASSES
}

fn is_digit_classes(classes: &usize) -> bool {
    *classes == crate::data::CLASSES
}

impl NetParams {
    /// Model 3: 784-512-256-10 with batch norm and dropout, handwriting distortions.
    pub fn dnn() -> Self {
        NetParams {
            conv: vec![],
            hidden: vec![512, 256],
            dropout: 0.25,
            epochs: 20,
            batch_size: 128,
            learning_rate: 2e-3,
            weight_decay: 0.0,
            distort: Distort::handwriting(),
            typed: crate::augment::TYPED_PER_CLASS,
            patience: 0,
            mixed_precision: false,
            seed: 42,
            scaling: Scaling::Unit,
            classes: crate::data::CLASSES,
        }
    }

    /// Model 7: conv32-pool-conv64-pool-conv128-pool, fc 128, handwriting distortions.
    pub fn cnn() -> Self {
        NetParams {
            conv: vec![vec![32], vec![64], vec![128]],
            hidden: vec![128],
            dropout: 0.3,
            epochs: 10,
            batch_size: 128,
            learning_rate: 3e-3,
            weight_decay: 0.0,
            distort: Distort::handwriting(),
            typed: crate::augment::TYPED_PER_CLASS,
            patience: 0,
            mixed_precision: true,
            seed: 42,
            scaling: Scaling::Unit,
            classes: crate::data::CLASSES,
        }
    }

    /// The digit gate ([`crate::gate`]): two conv stages (16, 32), 64 hidden
    /// units, the networks' handwriting distortions, and a two-class head
    /// (0: no digit, 1: a digit).
    pub fn gate() -> Self {
        NetParams {
            conv: vec![vec![16], vec![32]],
            hidden: vec![64],
            dropout: 0.2,
            epochs: 6,
            batch_size: 128,
            learning_rate: 3e-3,
            weight_decay: 0.0,
            distort: Distort::handwriting(),
            typed: 0,
            patience: 0,
            mixed_precision: true,
            seed: 0x6a7e,
            scaling: Scaling::Unit,
            classes: 2,
        }
    }

    /// These layers as `mnist compare` gives them to PyTorch too
    /// (`scripts/compare.py` builds the same network and loop): no
    /// distortions, no typed digits; `epochs` when given, and `seed`.
    pub fn as_pytorch(self, epochs: Option<usize>, seed: u64) -> Self {
        NetParams {
            distort: crate::augment::Distort::NONE,
            typed: 0,
            epochs: epochs.unwrap_or(self.epochs),
            seed,
            ..self
        }
    }

    /// One epoch when `quick` (the tests' quick mode, `MNIST_SUBSET` set:
    /// [`Config::quick`](crate::config::Config::quick)), announced loudly;
    /// otherwise unchanged.
    pub fn quick(self, quick: bool) -> Self {
        if !quick {
            return self;
        }
        println!(
            "QUICK MODE ({}): training for 1 epoch instead of {}. Unset it for the full run.",
            crate::config::SUBSET_ENV,
            self.epochs
        );
        NetParams { epochs: 1, ..self }
    }
}

/// Which epoch's weights a network keeps: the **latest** epoch whose
/// validation accuracy is within one validation image of the best so far.
/// A tie, or a one-image lead of an earlier epoch, is validation noise: it
/// must not keep a mid-schedule checkpoint of a one-cycle schedule, whose
/// last epochs (learning rate near zero) are the ones to keep. Only a lead of
/// two images or more keeps an earlier epoch. Without a validation split the
/// score is the epoch number, so the last epoch is kept.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "torch"), allow(dead_code))]
pub(crate) struct KeepRule {
    best: f64,
    margin: f64,
}

#[cfg_attr(not(feature = "torch"), allow(dead_code))]
impl KeepRule {
    /// For a validation split of `valid_len` images (none: `None`).
    pub(crate) fn new(valid_len: Option<usize>) -> Self {
        KeepRule {
            best: f64::NEG_INFINITY,
            // Accuracies are multiples of 1/n: half an image more than one
            // absorbs rounding.
            margin: valid_len.map_or(0.0, |n| 1.5 / n.max(1) as f64),
        }
    }

    /// Whether an epoch scoring `score` replaces the kept weights.
    pub(crate) fn keeps(&mut self, score: f64) -> bool {
        let keep = score >= self.best - self.margin;
        self.best = self.best.max(score);
        keep
    }
}

#[cfg(test)]
mod keep_rule_tests {
    use super::KeepRule;

    /// The kept epoch (1-based) of a run scoring `scores`.
    fn kept(valid_len: Option<usize>, scores: &[f64]) -> usize {
        let mut rule = KeepRule::new(valid_len);
        let mut kept = 0;
        for (i, &s) in scores.iter().enumerate() {
            if rule.keeps(s) {
                kept = i + 1;
            }
        }
        kept
    }

    #[test]
    fn a_tie_or_a_one_image_lead_keeps_the_later_epoch() {
        let n = 5000;
        let img = |k: f64| k / n as f64;
        // Issue 39: epoch 5 ties with epoch 10.
        let tie = [
            0.99,
            0.995,
            0.996,
            0.997,
            img(4986.0),
            0.9968,
            0.997,
            0.9971,
            0.997,
            img(4986.0),
        ];
        assert_eq!(kept(Some(n), &tie), 10);
        // Epoch 5 one image ahead of epoch 10: still the last.
        let one = [
            0.99,
            0.995,
            0.996,
            0.997,
            img(4987.0),
            0.9968,
            0.997,
            0.9971,
            0.997,
            img(4986.0),
        ];
        assert_eq!(kept(Some(n), &one), 10);
        // Two images ahead: the earlier epoch is kept.
        let two = [
            0.99,
            0.995,
            0.996,
            0.997,
            img(4988.0),
            0.9968,
            0.997,
            0.9971,
            0.997,
            img(4986.0),
        ];
        assert_eq!(kept(Some(n), &two), 5);
    }

    #[test]
    fn kept_epochs_do_not_drift_down_one_image_at_a_time() {
        let n = 1000;
        let img = |k: f64| k / n as f64;
        // Each epoch one image under the one before: only the first two are within one image of the best.
        let scores = [img(990.0), img(989.0), img(988.0), img(987.0)];
        assert_eq!(kept(Some(n), &scores), 2);
        // A new best is always kept.
        assert_eq!(kept(Some(n), &[img(980.0), img(990.0), img(985.0)]), 2);
    }

    #[test]
    fn without_validation_the_last_epoch_is_kept() {
        let scores: Vec<f64> = (1..=7).map(|e| e as f64).collect();
        assert_eq!(kept(None, &scores), 7);
    }
}

/// Padding of the 3×3 convolutions: the image keeps its size.
pub(crate) const PADDING: usize = 1;

/// A trained network ([`Estimator::Fitted`] of [`NetParams`]; a
/// [`Network`] is the model that holds one): its weights in the library
/// that runs them.
pub enum FittedNetwork {
    #[cfg(feature = "torch")]
    Torch(torch::TorchNet),
    #[cfg(feature = "candle")]
    Candle(candle::CandleNet),
}

impl FittedNetwork {
    /// The library that runs it: `"libtorch"` or `"candle"`.
    pub fn runtime(&self) -> &'static str {
        match self {
            #[cfg(feature = "torch")]
            FittedNetwork::Torch(_) => "libtorch",
            #[cfg(feature = "candle")]
            FittedNetwork::Candle(_) => "candle",
        }
    }

    fn logits(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        match self {
            #[cfg(feature = "torch")]
            FittedNetwork::Torch(n) => n.logits(x),
            #[cfg(feature = "candle")]
            FittedNetwork::Candle(n) => n.logits(x),
        }
    }

    /// The gradient of the `class` logit with respect to every input of
    /// every row of `x` (scaled features), in eval mode.
    fn gradients(&self, x: ArrayView2<f32>, class: usize) -> Result<Array2<f32>> {
        match self {
            #[cfg(feature = "torch")]
            FittedNetwork::Torch(n) => n.gradients(x, class),
            #[cfg(feature = "candle")]
            FittedNetwork::Candle(n) => n.gradients(x, class),
        }
    }

    /// Integrated gradients of the answer's logit for the one row `x`, from
    /// the blank picture (all 0) to `x`: [`IG_STEPS`] points of the straight
    /// path (midpoints), their mean gradient times `x`. They sum to about the
    /// logit at `x` less the logit at the blank picture.
    fn integrated_gradients(&self, x: ArrayView2<f32>) -> Result<NetworkWhy> {
        let logits = self.logits(x)?;
        let answer = super::top_two(&logits.row(0).to_vec()).0;
        let path = Array2::from_shape_fn((IG_STEPS, x.ncols()), |(k, i)| {
            (k as f32 + 0.5) / IG_STEPS as f32 * x[[0, i]]
        });
        let grads = self.gradients(path.view(), answer)?;
        let mean = grads
            .mean_axis(ndarray::Axis(0))
            .ok_or_else(|| Error::Shape("no gradients".into()))?;
        let blank = self.logits(Array2::zeros((1, x.ncols())).view())?;
        Ok(NetworkWhy {
            logit: logits[[0, answer]],
            blank_logit: blank[[0, answer]],
            attributions: (mean * x.row(0)).to_vec(),
        })
    }
}

/// Points of the path the integrated gradients average over: 8 keeps a
/// CNN's explanation within the server's 150 ms (`serve-bench`: p99 141 ms
/// on 2 cores, 2026-12-07; 16 points: 207 ms), and its attributions sum to
/// the logit's rise within about 15% (16 points: within 10%).
pub const IG_STEPS: usize = 8;

impl Model<NetParams> {
    /// Logits (n×classes) of scaled features, in eval mode.
    pub fn logits(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.fitted().logits(x)
    }

    /// The network saved as `payload` (safetensors) with these
    /// hyperparameters and `scaler`, run by candle whether or not libtorch is
    /// built in: what the prediction server runs.
    #[cfg(feature = "candle")]
    pub(crate) fn load_on_candle(
        params: NetParams,
        scaler: Scaler,
        payload: &[u8],
    ) -> Result<Self> {
        params.check()?;
        let net = candle::CandleNet::new(&params, payload)?;
        Ok(Model::with_fitted(
            params,
            scaler,
            FittedNetwork::Candle(net),
        ))
    }
}

impl Params for NetParams {
    /// The gate with two outputs; else the DNN without conv stages, the CNN with them.
    fn kind(&self) -> ModelKind {
        if self.classes == 2 {
            ModelKind::Gate
        } else if self.conv.is_empty() {
            ModelKind::Dnn
        } else {
            ModelKind::Cnn
        }
    }

    fn scaling(&self) -> Scaling {
        self.scaling
    }

    fn augmentation(&self) -> crate::augment::Augment {
        crate::augment::Augment::NONE.with_typed(self.typed)
    }
}

impl Estimator for NetParams {
    type Fitted = FittedNetwork;

    fn check(&self) -> Result<()> {
        let kind = self.kind();
        let bad = |name, reason: &str| Err(invalid(kind, name, reason));
        if self.classes != 2 && self.classes != crate::data::CLASSES {
            return bad("classes", "must be 10 (the digits) or 2 (the digit gate)");
        }
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad("learning_rate", "must be a positive number");
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad("weight_decay", "must be ≥ 0");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", "must be in [0, 1)");
        }
        self.distort.check()?;
        if self.conv.len() > 4 || self.conv.iter().any(|s| s.is_empty()) {
            return bad(
                "conv",
                "must have 1 to 4 non-empty stages (28 → 14 → 7 → 3 → 1 pixels)",
            );
        }
        let widths = self.conv.iter().flatten().chain(&self.hidden);
        if widths.clone().any(|&w| !(1..=8192).contains(&w)) {
            return bad("hidden", "layer widths must be 1-8192");
        }
        Ok(())
    }

    #[allow(unused_variables)]
    fn learn(
        &self,
        data: Training<'_>,
        progress: &dyn Progress,
    ) -> Result<(FittedNetwork, Option<History>)> {
        if let Some(l) = data.y.iter().find(|&&l| l as usize >= self.classes) {
            return Err(Error::InvalidData(format!(
                "label {l} in the training labels; the {} has {} classes",
                self.kind(),
                self.classes
            )));
        }
        #[cfg(feature = "torch")]
        {
            let (net, history) = torch::fit(self, data, progress)?;
            Ok((FittedNetwork::Torch(net), history))
        }
        #[cfg(not(feature = "torch"))]
        Err(Error::MissingFeature {
            what: format!("training the {} (libtorch)", self.kind()),
            feature: "torch",
            hint: " (this build only runs saved networks, with candle)".into(),
        })
    }

    fn predict_proba(&self, fitted: &FittedNetwork, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        let mut p = fitted.logits(x)?;
        super::softmax::softmax_rows(&mut p);
        Ok(p)
    }

    fn to_bytes(&self, fitted: &FittedNetwork) -> Result<Vec<u8>> {
        match fitted {
            #[cfg(feature = "torch")]
            FittedNetwork::Torch(n) => n.to_bytes(self.kind()),
            #[cfg(feature = "candle")]
            FittedNetwork::Candle(n) => Ok(n.to_bytes()),
        }
    }

    /// Integrated gradients of the answer's logit, pixel by pixel, when the
    /// network reads the pixels where they are (no deskewing; 0 is blank).
    fn why(&self, net: &FittedNetwork, scaler: &Scaler, pixels: ArrayView2<f32>) -> Result<Why> {
        let scaled = scaler.transform(&pixels)?;
        let x = scaled.view();
        if x.nrows() != 1 {
            return Err(Error::Shape(format!(
                "a network explains one row at a time, got {}",
                x.nrows()
            )));
        }
        match scaler {
            Scaler::None | Scaler::Unit => Ok(Why::Network(net.integrated_gradients(x)?)),
            _ => Ok(Why::Saliency),
        }
    }

    fn runtime(&self, fitted: &FittedNetwork) -> &'static str {
        fitted.runtime()
    }

    /// Rebuild a trained network from its hyperparameters and saved weights
    /// (safetensors): with libtorch when it is built in, else with candle.
    fn fitted_from_bytes(&self, _scaler: &Scaler, payload: &[u8]) -> Result<FittedNetwork> {
        #[cfg(feature = "torch")]
        return Ok(FittedNetwork::Torch(torch::TorchNet::from_bytes(
            self, payload,
        )?));
        #[cfg(not(feature = "torch"))]
        Ok(FittedNetwork::Candle(candle::CandleNet::new(
            self, payload,
        )?))
    }
}

/// The error for weights that do not fit the network built from the metadata.
fn bad_weights(kind: ModelKind, reason: String) -> Error {
    Error::Decode {
        what: format!("{kind} weights"),
        reason,
    }
}

/// The tensors a network of these hyperparameters holds: name and shape,
/// sorted by name (what both libraries build and the weight file must hold).
pub(crate) fn tensor_shapes(p: &NetParams) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let mut channels = 1usize;
    let mut side = crate::data::SIDE;
    for (s, stage) in p.conv.iter().enumerate() {
        for (i, &c) in stage.iter().enumerate() {
            let c = c as usize;
            out.push((format!("conv{s}_{i}.weight"), vec![c, channels, 3, 3]));
            for t in ["weight", "bias", "running_mean", "running_var"] {
                out.push((format!("bn_conv{s}_{i}.{t}"), vec![c]));
            }
            channels = c;
        }
        side /= 2;
    }
    let mut width = if p.conv.is_empty() {
        crate::data::PIXELS
    } else {
        channels * side * side
    };
    for (i, &h) in p.hidden.iter().enumerate() {
        let h = h as usize;
        out.push((format!("fc{i}.weight"), vec![h, width]));
        out.push((format!("fc{i}.bias"), vec![h]));
        for t in ["weight", "bias", "running_mean", "running_var"] {
            out.push((format!("bn_fc{i}.{t}"), vec![h]));
        }
        width = h;
    }
    out.push(("out.weight".into(), vec![p.classes, width]));
    out.push(("out.bias".into(), vec![p.classes]));
    out.sort();
    out
}

/// Check a safetensors file against the network `p` describes: the same
/// tensor names, every one F32 of the right shape with finite values.
pub(crate) fn check_weights(p: &NetParams, payload: &[u8]) -> Result<()> {
    let kind = p.kind();
    let file = safetensors::SafeTensors::deserialize(payload)
        .map_err(|e| bad_weights(kind, format!("not a safetensors file: {e}")))?;
    let expected = tensor_shapes(p);
    let mut names: Vec<String> = file.names().into_iter().cloned().collect();
    names.sort();
    let wanted: Vec<&String> = expected.iter().map(|(n, _)| n).collect();
    if names.iter().collect::<Vec<_>>() != wanted {
        return Err(bad_weights(
            kind,
            format!(
                "the file holds tensors {names:?}, the network built from the metadata has {wanted:?} \
                 (weights of another architecture?)"
            ),
        ));
    }
    for (name, shape) in &expected {
        let view = file
            .tensor(name)
            .map_err(|e| bad_weights(kind, format!("{name}: {e}")))?;
        if view.dtype() != safetensors::Dtype::F32 || view.shape() != shape.as_slice() {
            return Err(bad_weights(
                kind,
                format!(
                    "{name} is {:?} {:?}, the network needs F32 {:?}",
                    view.dtype(),
                    view.shape(),
                    shape
                ),
            ));
        }
        if view
            .data()
            .chunks_exact(4)
            .any(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
        {
            return Err(bad_weights(
                kind,
                format!("{name} holds NaN or infinite values"),
            ));
        }
    }
    Ok(())
}

super::linfa_fit!(NetParams);

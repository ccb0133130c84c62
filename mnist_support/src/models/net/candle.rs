//! The networks on candle (Hugging Face's pure-Rust ML framework), for
//! inference only: the same layers as [`torch`](super) builds, from the same
//! safetensors weights, in eval mode (batch norm from its running
//! statistics, no dropout) and in f32. This is what the prediction server
//! runs, so it builds and ships without libtorch.

use candle_core::{DType, Device, Module, ModuleT, Tensor};
use candle_nn::{BatchNorm, Conv2d, Conv2dConfig, Linear, VarBuilder};
use ndarray::{Array2, ArrayView2};

use super::{bad_weights, check_weights, NetParams, PADDING};
use crate::data::{PIXELS, SIDE};
use crate::error::{Error, Result};
use crate::models::Params;

/// libtorch's batch-norm epsilon (tch's default).
const BN_EPS: f64 = 1e-5;

/// Images per forward pass (as the libtorch side does).
const CHUNK: usize = 128;

/// 2×2 max pooling as a maximum over each window's four values: the same
/// values as `max_pool2d`, but its gradient goes whole to the window's
/// maximum, as libtorch's does (candle 0.9's `max_pool2d` backward scales it
/// by a quarter).
fn max_pool_by_max(h: &Tensor) -> candle_core::Result<Tensor> {
    let (n, c, rows, cols) = h.dims4()?;
    let (r, k) = (rows / 2, cols / 2);
    h.narrow(2, 0, 2 * r)?
        .narrow(3, 0, 2 * k)?
        .reshape((n, c, r, 2, k, 2))?
        .permute((0, 1, 2, 4, 3, 5))?
        .reshape((n, c, r, k, 4))?
        .max(4)
}

/// A trained network on candle, and the weight file it was built from.
#[derive(Clone)]
pub struct CandleNet {
    convs: Vec<Vec<(Conv2d, BatchNorm)>>,
    hidden: Vec<(Linear, BatchNorm)>,
    out: Linear,
    /// Outputs of `out`: [`NetParams::classes`].
    classes: usize,
    weights: std::sync::Arc<Vec<u8>>,
}

fn candle_error(e: candle_core::Error) -> Error {
    Error::Process {
        what: "candle".into(),
        reason: e.to_string(),
    }
}

impl CandleNet {
    /// The network `p` describes, with the weights of `payload` (safetensors,
    /// checked by [`check_weights`] first).
    pub fn new(p: &NetParams, payload: &[u8]) -> Result<CandleNet> {
        check_weights(p, payload)?;
        let kind = p.kind();
        let build = || -> candle_core::Result<CandleNet> {
            let vb = VarBuilder::from_slice_safetensors(payload, DType::F32, &Device::Cpu)?;
            let mut channels = 1;
            let mut convs = Vec::new();
            for (s, stage) in p.conv.iter().enumerate() {
                let mut layers = Vec::new();
                for (i, &out) in stage.iter().enumerate() {
                    let out = out as usize;
                    let cfg = Conv2dConfig {
                        padding: PADDING,
                        ..Default::default()
                    };
                    let conv = candle_nn::conv2d_no_bias(
                        channels,
                        out,
                        3,
                        cfg,
                        vb.pp(format!("conv{s}_{i}")),
                    )?;
                    let bn = candle_nn::batch_norm(out, BN_EPS, vb.pp(format!("bn_conv{s}_{i}")))?;
                    layers.push((conv, bn));
                    channels = out;
                }
                convs.push(layers);
            }
            let side = SIDE >> p.conv.len();
            let mut width = if p.conv.is_empty() {
                PIXELS
            } else {
                channels * side * side
            };
            let mut hidden = Vec::new();
            for (i, &out) in p.hidden.iter().enumerate() {
                let out = out as usize;
                let lin = candle_nn::linear(width, out, vb.pp(format!("fc{i}")))?;
                let bn = candle_nn::batch_norm(out, BN_EPS, vb.pp(format!("bn_fc{i}")))?;
                hidden.push((lin, bn));
                width = out;
            }
            let out = candle_nn::linear(width, p.classes, vb.pp("out"))?;
            Ok(CandleNet {
                convs,
                hidden,
                out,
                classes: p.classes,
                weights: std::sync::Arc::new(payload.to_vec()),
            })
        };
        build().map_err(|e| bad_weights(kind, e.to_string()))
    }

    /// The weight file (safetensors) the network was built from.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.weights.to_vec()
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_pooled(x, |h| h.max_pool2d(2))
    }

    /// [`forward`](CandleNet::forward) with `pool` as the 2×2 max pooling.
    fn forward_pooled(
        &self,
        x: &Tensor,
        pool: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
    ) -> candle_core::Result<Tensor> {
        let mut h = if self.convs.is_empty() {
            x.clone()
        } else {
            x.reshape(((), 1, SIDE, SIDE))?
        };
        for stage in &self.convs {
            for (conv, bn) in stage {
                h = bn.forward_t(&conv.forward(&h)?, false)?.relu()?;
            }
            h = pool(&h)?;
        }
        if !self.convs.is_empty() {
            h = h.flatten_from(1)?;
        }
        for (lin, bn) in &self.hidden {
            h = bn.forward_t(&lin.forward(&h)?, false)?.relu()?;
        }
        self.out.forward(&h)
    }

    /// The gradient of the `class` logit with respect to every input of
    /// every row of `x` (scaled features), by candle's backpropagation.
    pub fn gradients(&self, x: ArrayView2<f32>, class: usize) -> Result<Array2<f32>> {
        if x.ncols() != PIXELS || class >= self.classes {
            return Err(Error::Shape(format!(
                "gradients of class {class} of {} for rows of {} pixels",
                self.classes,
                x.ncols()
            )));
        }
        let n = x.nrows();
        let x = x.as_standard_layout();
        let flat = x.as_slice().expect("standard layout");
        let run = || -> candle_core::Result<Vec<f32>> {
            let input = candle_core::Var::from_tensor(&Tensor::from_slice(
                flat,
                (n, PIXELS),
                &Device::Cpu,
            )?)?;
            let target = self
                .forward_pooled(input.as_tensor(), max_pool_by_max)?
                .narrow(1, class, 1)?
                .sum_all()?;
            let grads = target.backward()?;
            let g = grads
                .get(input.as_tensor())
                .ok_or_else(|| candle_core::Error::Msg("no gradient for the input".into()))?;
            g.flatten_all()?.to_vec1::<f32>()
        };
        let g = run().map_err(candle_error)?;
        Array2::from_shape_vec((n, PIXELS), g)
            .map_err(|e| Error::Shape(format!("network gradients: {e}")))
    }

    /// Logits (n×classes) of scaled features.
    pub fn logits(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        if x.ncols() != PIXELS {
            return Err(Error::Shape(format!(
                "the network takes 784 pixels per image, got {}",
                x.ncols()
            )));
        }
        let x = x.as_standard_layout();
        let flat = x.as_slice().expect("standard layout");
        let mut out = Vec::with_capacity(x.nrows() * self.classes);
        for chunk in flat.chunks(CHUNK * PIXELS) {
            let n = chunk.len() / PIXELS;
            let xb = Tensor::from_slice(chunk, (n, PIXELS), &Device::Cpu).map_err(candle_error)?;
            let logits = self
                .forward(&xb)
                .and_then(|t| t.flatten_all()?.to_vec1::<f32>())
                .map_err(candle_error)?;
            out.extend(logits);
        }
        Array2::from_shape_vec((x.nrows(), self.classes), out)
            .map_err(|e| Error::Shape(format!("network output: {e}")))
    }
}

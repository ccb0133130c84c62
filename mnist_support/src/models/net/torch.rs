//! The networks on libtorch (tch): training, and inference where libtorch
//! is built in.
//!
//! Training: Adam, one-cycle learning rate (linear warm-up over the first
//! 20% of steps, then cosine decay to zero), mini-batches in a seeded random
//! order, each image distorted anew every epoch as augmentation
//! ([`Distort`](crate::augment::Distort): shift, rotation, scale, shear,
//! elastic, stroke thickness, so the networks also read the digits people
//! draw and photograph). After every epoch the validation split (if given)
//! is scored in eval mode and the weights of the latest epoch within one
//! validation image of the best are kept ([`KeepRule`](super::KeepRule):
//! a tie or a one-image lead is noise, and must not keep a mid-schedule
//! epoch; never on the test split); `patience` stops early.
//! The run is seeded: the same parameters on the same machine and thread
//! count give the same numbers.
//!
//! On the CPU the convolutions run channels-last (NHWC in memory, the
//! layout of libtorch's oneDNN kernels) and, with
//! [`mixed_precision`](NetParams::mixed_precision) on a CPU with native
//! bfloat16, train in bfloat16 with f32 weights: together an epoch took about
//! 20 s instead of about 33 s on a 2-core Zen 4 (`mnist compare cnn --seeds 3`).
//!
//! Inference runs in eval mode without gradients and in f32 (as candle runs
//! it), on the device the network lives on: CUDA when libtorch has it and a
//! GPU is present (`Device::cuda_if_available`), the CPU otherwise. The
//! parameters are saved in safetensors format (inside the project's model
//! container); loading rebuilds the network from the hyperparameters and
//! checks every tensor's name and shape.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use ndarray::{Array2, ArrayView1, ArrayView2};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Tensor};

use super::{bad_weights, NetParams, PADDING};
use crate::data::{PIXELS, SIDE};
use crate::error::{Error, Result};
use crate::models::{argmax_rows, Epoch, History, ModelKind, Params, Progress, Training};

/// Batch norm as PyTorch starts it: scale 1, shift 0. (tch's default draws
/// the scales from U(0, 1), which halves each layer's output at the start and
/// nearly silences some units: the same DNN then ended 0.15 points below
/// PyTorch's on the test split, the mean of three seeds in `mnist compare dnn
/// --seeds 3`.)
fn batch_norm() -> nn::BatchNormConfig {
    nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.0),
        ..Default::default()
    }
}

/// The layers, built under a VarStore path (names like `conv0_1`, `fc0`, `bn_fc0`, `out`).
#[derive(Debug)]
struct Layers {
    convs: Vec<Vec<(nn::Conv2D, nn::BatchNorm)>>,
    hidden: Vec<(nn::Linear, nn::BatchNorm)>,
    out: nn::Linear,
    /// Outputs of `out`: [`NetParams::classes`].
    classes: usize,
    dropout: f64,
    /// The convolution stages compute in bfloat16 (see [`NetParams::mixed_precision`]).
    bf16: bool,
}

/// Whether this CPU multiplies bfloat16 natively (AVX512-BF16). Without it
/// libtorch emulates bfloat16 convolutions, slower than f32.
fn native_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl Layers {
    fn new(root: &nn::Path, p: &NetParams) -> Layers {
        let mut channels = 1;
        let mut side = SIDE as i64;
        let mut convs = Vec::new();
        for (s, stage) in p.conv.iter().enumerate() {
            let mut layers = Vec::new();
            for (i, &out) in stage.iter().enumerate() {
                let cfg = nn::ConvConfig {
                    padding: PADDING as i64,
                    bias: false,
                    ..Default::default()
                };
                let mut conv = nn::conv2d(root / format!("conv{s}_{i}"), channels, out, 3, cfg);
                // Channels-last weights (NHWC in memory) make every activation
                // after them channels-last too, the layout libtorch's oneDNN
                // kernels want on the CPU: convolutions, batch norm and above
                // all max-pooling (10× faster than on NCHW) cut a training step
                // by about a third (PyTorch's profiler on this network). The values
                // and their logical NCHW order are unchanged.
                tch::no_grad(|| {
                    let nhwc = conv
                        .ws
                        .permute([0, 2, 3, 1])
                        .contiguous()
                        .permute([0, 3, 1, 2]);
                    conv.ws.set_data(&nhwc)
                });
                let bn = nn::batch_norm2d(root / format!("bn_conv{s}_{i}"), out, batch_norm());
                layers.push((conv, bn));
                channels = out;
            }
            convs.push(layers);
            side /= 2;
        }
        let mut width = if p.conv.is_empty() {
            PIXELS as i64
        } else {
            channels * side * side
        };
        let mut hidden = Vec::new();
        for (i, &out) in p.hidden.iter().enumerate() {
            let lin = nn::linear(root / format!("fc{i}"), width, out, Default::default());
            let bn = nn::batch_norm1d(root / format!("bn_fc{i}"), out, batch_norm());
            hidden.push((lin, bn));
            width = out;
        }
        let out = nn::linear(root / "out", width, p.classes as i64, Default::default());
        Layers {
            convs,
            hidden,
            out,
            classes: p.classes,
            dropout: p.dropout,
            bf16: p.mixed_precision
                && !p.conv.is_empty()
                && root.device() == Device::Cpu
                && native_bf16(),
        }
    }

    /// The number type of the convolution stages: bfloat16 in mixed-precision
    /// training, f32 otherwise and always at inference. Casting the f32
    /// weights each step keeps them, their gradients and Adam's moments in f32.
    fn conv_kind(&self, train: bool) -> tch::Kind {
        if self.bf16 && train {
            tch::Kind::BFloat16
        } else {
            tch::Kind::Float
        }
    }

    /// Logits of a batch of scaled images (n×784).
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = if self.convs.is_empty() {
            x.shallow_clone()
        } else {
            x.view([-1, 1, SIDE as i64, SIDE as i64])
                .to_kind(self.conv_kind(train))
        };
        for stage in &self.convs {
            for (conv, bn) in stage {
                // Batch norm takes bfloat16 activations with its f32 parameters.
                h = h
                    .conv2d(
                        &conv.ws.to_kind(self.conv_kind(train)),
                        None::<&Tensor>,
                        [1, 1],
                        [PADDING as i64; 2],
                        [1, 1],
                        1,
                    )
                    .apply_t(bn, train)
                    .relu();
            }
            h = h.max_pool2d_default(2);
        }
        if !self.convs.is_empty() {
            h = h.flatten(1, -1).to_kind(tch::Kind::Float);
        }
        for (lin, bn) in &self.hidden {
            h = lin
                .forward(&h)
                .apply_t(bn, train)
                .relu()
                .dropout(self.dropout, train);
        }
        self.out.forward(&h)
    }
}

/// A built network and its variables.
struct State {
    vs: nn::VarStore,
    layers: Layers,
}

/// libtorch draws initial weights and dropout masks from one global random
/// generator, so networks are built and trained one at a time per process:
/// that keeps a seeded run reproducible when other threads build networks too.
static TORCH_RNG: Mutex<()> = Mutex::new(());

fn torch_rng() -> std::sync::MutexGuard<'static, ()> {
    TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

/// glibc's malloc maps every allocation over its mmap threshold (128 KiB
/// to begin with, raised as such blocks are freed) afresh and unmaps it
/// when freed, so each of libtorch's activations and gradients, made anew
/// for every batch, costs new zeroed pages: a fifth of a CNN epoch went to
/// page faults on 2 cores. Keeping blocks up to 32 MiB (glibc's largest
/// threshold) in the heap, and up to 256 MiB of freed heap before it is
/// returned, lets each batch reuse the last one's memory. Process-wide, set
/// once, before the first network trains.
fn keep_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only changes glibc's allocation thresholds; it
        // takes the allocator's lock and is safe to call at any time.
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        });
    }
}

/// A trained network on libtorch. Its tensors are not `Sync`, so the state
/// sits behind a mutex (one inference at a time).
pub struct TorchNet {
    state: Mutex<State>,
}

/// `(index, learning rate)` of the one-cycle schedule over `total` steps.
fn one_cycle(step: usize, total: usize, peak: f64) -> f64 {
    let warm = (total as f64 * 0.2).max(1.0);
    let s = step as f64;
    if s < warm {
        peak * (0.1 + 0.9 * s / warm)
    } else {
        let t = ((s - warm) / (total as f64 - warm).max(1.0)).min(1.0);
        peak * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

fn build(params: &NetParams) -> Result<State> {
    let vs = nn::VarStore::new(Device::cuda_if_available());
    let layers = Layers::new(&vs.root(), params);
    Ok(State { vs, layers })
}

impl TorchNet {
    fn new(state: State) -> TorchNet {
        TorchNet {
            state: Mutex::new(state),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logits (n×classes) of scaled features, in eval mode without gradients.
    pub fn logits(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        logits_of(&self.state(), x)
    }
}

impl TorchNet {
    /// The gradient of the `class` logit with respect to every input of
    /// every row of `x` (scaled features), in eval mode, by libtorch's
    /// autograd (the weights' own gradients are left untouched).
    pub fn gradients(&self, x: ArrayView2<f32>, class: usize) -> Result<Array2<f32>> {
        let state = self.state();
        if x.ncols() != PIXELS || class >= state.layers.classes {
            return Err(Error::Shape(format!(
                "gradients of class {class} of {} for rows of {} pixels",
                state.layers.classes,
                x.ncols()
            )));
        }
        let n = x.nrows();
        let x = x.as_standard_layout();
        let input = Tensor::from_slice(x.as_slice().expect("standard layout"))
            .view([n as i64, PIXELS as i64])
            .to_device(state.vs.device())
            .set_requires_grad(true);
        let target = state
            .layers
            .forward(&input, false)
            .select(1, class as i64)
            .sum(tch::Kind::Float);
        let grads = Tensor::f_run_backward(&[&target], &[&input], false, false)?;
        let g: Vec<f32> = Vec::try_from(&grads[0].to_device(Device::Cpu).view([-1]))?;
        Array2::from_shape_vec((n, PIXELS), g)
            .map_err(|e| Error::Shape(format!("network gradients: {e}")))
    }
}

fn logits_of(state: &State, x: ArrayView2<f32>) -> Result<Array2<f32>> {
    if x.ncols() != PIXELS {
        return Err(Error::Shape(format!(
            "the network takes 784 pixels per image, got {}",
            x.ncols()
        )));
    }
    let device = state.vs.device();
    let classes = state.layers.classes;
    let mut out = Vec::with_capacity(x.nrows() * classes);
    // Small chunks keep the activations in cache: 128 images per call is
    // 3× faster than 1,000 on a 2-core CPU (measured).
    const CHUNK: usize = 128;
    let x = x.as_standard_layout();
    let flat = x.as_slice().expect("standard layout");
    for chunk in flat.chunks(CHUNK * PIXELS) {
        let n = (chunk.len() / PIXELS) as i64;
        let logits = tch::no_grad(|| {
            let xb = Tensor::from_slice(chunk)
                .view([n, PIXELS as i64])
                .to_device(device);
            state.layers.forward(&xb, false)
        });
        let v: Vec<f32> = Vec::try_from(&logits.to_device(Device::Cpu).view([-1]))?;
        out.extend(v);
    }
    Array2::from_shape_vec((x.nrows(), classes), out)
        .map_err(|e| Error::Shape(format!("network output: {e}")))
}

/// Accuracy of the network on (x, y), in eval mode.
fn accuracy_of(state: &State, x: ArrayView2<f32>, y: ArrayView1<u8>) -> Result<f64> {
    let logits = logits_of(state, x)?;
    let pred = argmax_rows(&logits);
    crate::metrics::accuracy(&y.to_vec(), &pred.to_vec())
}

/// Train a network of `p` on `data` (see the module doc).
pub(super) fn fit(
    p: &NetParams,
    data: Training<'_>,
    progress: &dyn Progress,
) -> Result<(TorchNet, Option<History>)> {
    let Training { x, y, valid, .. } = data;
    if x.ncols() != PIXELS {
        return Err(Error::Shape(format!(
            "the network takes 784 pixels per image, got {}",
            x.ncols()
        )));
    }
    let _rng = torch_rng();
    keep_large_allocations();
    tch::manual_seed(p.seed as i64);
    let state = build(p)?;
    let device = state.vs.device();
    let mut opt = nn::Adam::default()
        .wd(p.weight_decay)
        .build(&state.vs, p.learning_rate)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(p.seed);
    let x = x.as_standard_layout();
    let flat = x.as_slice().expect("standard layout");
    let n = x.nrows();
    let steps_per_epoch = n.div_ceil(p.batch_size);
    let total_steps = p.epochs * steps_per_epoch;
    let mut order: Vec<usize> = (0..n).collect();
    let mut batch = vec![0f32; p.batch_size * PIXELS];
    let mut labels = vec![0i64; p.batch_size];
    let mut history = History {
        epochs: vec![],
        best_epoch: 0,
        threads: tch::get_num_threads().max(1) as usize,
        device: format!("{device:?}").to_lowercase()
            + if state.layers.bf16 {
                " (bfloat16 convolutions)"
            } else {
                ""
            },
    };
    let mut best: Option<(f64, Vec<(String, Tensor)>)> = None;
    let mut rule = super::KeepRule::new(valid.as_ref().map(|(_, vy)| vy.len()));
    let mut step = 0;
    progress.begin(
        &format!(
            "training the {} for {} epochs of {} batches",
            p.kind(),
            p.epochs,
            steps_per_epoch
        ),
        total_steps as u64,
    );
    for epoch in 1..=p.epochs {
        let t = Instant::now();
        order.shuffle(&mut rng);
        // This epoch's distorted images, all at once before the batches
        // (one seed per image from the run's generator): done between
        // libtorch's operations, the work would compete with its threads.
        let seeds: Vec<u64> = (0..n).map(|_| rng.gen()).collect();
        let distorted: Option<Vec<f32>> = (!p.distort.is_none()).then(|| {
            let mut out = vec![0f32; n * PIXELS];
            out.par_chunks_mut(PIXELS)
                .zip(flat.par_chunks(PIXELS).zip(&seeds))
                .for_each(|(dst, (src, &seed))| {
                    p.distort
                        .apply(src, dst, &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
                });
            out
        });
        let images: &[f32] = distorted.as_deref().unwrap_or(flat);
        let (mut loss_sum, mut correct) = (0.0f64, 0i64);
        let mut lr = p.learning_rate;
        for idx in order.chunks(p.batch_size) {
            let m = idx.len();
            for (k, &i) in idx.iter().enumerate() {
                batch[k * PIXELS..(k + 1) * PIXELS]
                    .copy_from_slice(&images[i * PIXELS..(i + 1) * PIXELS]);
                labels[k] = y[i] as i64;
            }
            let xb = Tensor::from_slice(&batch[..m * PIXELS])
                .view([m as i64, PIXELS as i64])
                .to_device(device);
            let yb = Tensor::from_slice(&labels[..m]).to_device(device);
            lr = one_cycle(step, total_steps, p.learning_rate);
            opt.set_lr(lr);
            let logits = state.layers.forward(&xb, true);
            let loss = logits.cross_entropy_for_logits(&yb);
            opt.backward_step(&loss);
            let l = f64::try_from(&loss)?;
            if !l.is_finite() {
                progress.end();
                return Err(Error::Diverged { epoch, loss: l });
            }
            loss_sum += l * m as f64;
            correct += i64::try_from(&tch::no_grad(|| {
                logits
                    .argmax(-1, false)
                    .eq_tensor(&yb)
                    .sum(tch::Kind::Int64)
            }))?;
            step += 1;
            progress.advance(1);
        }
        let valid_accuracy = match &valid {
            Some((vx, vy)) => Some(accuracy_of(&state, vx.view(), vy.view())?),
            None => None,
        };
        let e = Epoch {
            epoch,
            loss: loss_sum / n as f64,
            train_accuracy: correct as f64 / n as f64,
            valid_accuracy,
            learning_rate: lr,
            seconds: t.elapsed().as_secs_f64(),
        };
        progress.note(&format!(
            "epoch {epoch}/{}: loss {:.4}, train accuracy {}{}, {:.1} s",
            p.epochs,
            e.loss,
            crate::metrics::percent(e.train_accuracy),
            valid_accuracy
                .map(|v| format!(", valid accuracy {}", crate::metrics::percent(v)))
                .unwrap_or_default(),
            e.seconds
        ));
        history.epochs.push(e);
        let score = valid_accuracy.unwrap_or(epoch as f64);
        if rule.keeps(score) {
            let snapshot = state
                .vs
                .variables()
                .into_iter()
                .map(|(k, v)| (k, tch::no_grad(|| v.copy())))
                .collect();
            best = Some((score, snapshot));
            history.best_epoch = epoch;
        } else if p.patience > 0 && epoch - history.best_epoch >= p.patience {
            progress.note(&format!(
                "no better validation accuracy for {} epochs: stopping",
                p.patience
            ));
            break;
        }
    }
    progress.end();
    if let Some((_, snapshot)) = best {
        if history.best_epoch != history.epochs.len() {
            progress.note(&format!(
                "keeping the weights of epoch {} (validation accuracy two or more images above the later epochs)",
                history.best_epoch
            ));
        }
        let vars = state.vs.variables();
        for (name, saved) in snapshot {
            if let Some(var) = vars.get(&name) {
                let mut var = var.shallow_clone();
                tch::no_grad(|| var.f_copy_(&saved))?;
            }
        }
    }
    Ok((TorchNet::new(state), Some(history)))
}

impl TorchNet {
    /// The weights as a safetensors file (f32, logical NCHW order).
    pub fn to_bytes(&self, kind: ModelKind) -> Result<Vec<u8>> {
        let encode = |e: safetensors::SafeTensorError| Error::Encode {
            what: format!("{kind} weights"),
            reason: format!("safetensors: {e:?}"),
        };
        let state = self.state();
        let vars: BTreeMap<String, Tensor> = state.vs.variables().into_iter().collect();
        let mut data: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, var) in vars {
            let shape: Vec<usize> = var.size().iter().map(|&d| d as usize).collect();
            let values: Vec<f32> = Vec::try_from(
                // `reshape`, not `view`: convolution weights are channels-last.
                &var.to_device(Device::Cpu)
                    .to_kind(tch::Kind::Float)
                    .reshape([-1]),
            )?;
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            data.push((name, shape, bytes));
        }
        let views = data
            .iter()
            .map(|(name, shape, bytes)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .map(|v| (name.clone(), v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(encode)?;
        safetensors::tensor::serialize(views, &None).map_err(encode)
    }

    /// Rebuild a trained network from its hyperparameters and saved weights
    /// (checked by [`check_weights`](super::check_weights) first).
    pub fn from_bytes(p: &NetParams, payload: &[u8]) -> Result<TorchNet> {
        let kind = p.kind();
        super::check_weights(p, payload)?;
        let state = {
            let _rng = torch_rng();
            build(p)?
        };
        let file = safetensors::SafeTensors::deserialize(payload)
            .map_err(|e| bad_weights(kind, format!("not a safetensors file: {e}")))?;
        for (name, mut var) in state.vs.variables() {
            let view = file
                .tensor(&name)
                .map_err(|e| bad_weights(kind, format!("{name}: {e}")))?;
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let src = Tensor::from_slice(&values).view(shape.as_slice());
            tch::no_grad(|| var.f_copy_(&src))?;
        }
        Ok(TorchNet::new(state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cycle_warms_up_then_decays_to_zero() {
        let lr: Vec<f64> = (0..=100).map(|s| one_cycle(s, 100, 1.0)).collect();
        assert!((lr[0] - 0.1).abs() < 1e-12);
        assert!((lr[20] - 1.0).abs() < 1e-12);
        assert!(lr[100].abs() < 1e-12);
        assert!(lr[..20].windows(2).all(|w| w[1] > w[0]));
        assert!(lr[20..].windows(2).all(|w| w[1] <= w[0]));
    }

    /// The same weights, f32 and mixed precision: in training, the bfloat16
    /// convolutions compute the f32 network's logits up to bfloat16 rounding
    /// (on a CPU without native bfloat16 both run f32 and the logits are
    /// equal); inference runs f32 either way.
    #[test]
    fn bfloat16_convolutions_compute_the_f32_network() {
        let built = |mixed_precision| {
            let _rng = torch_rng();
            tch::manual_seed(7);
            build(&NetParams {
                mixed_precision,
                dropout: 0.0,
                ..NetParams::cnn()
            })
            .unwrap()
        };
        let (mixed, full) = (built(true), built(false));
        assert_eq!(mixed.layers.bf16, native_bf16());
        assert!(!full.layers.bf16);
        let x = Array2::from_shape_fn((64, PIXELS), |(i, j)| {
            ((i * 31 + j * 17) % 97) as f32 / 96.0
        });
        // Inference is f32 either way (before the training passes below
        // move the batch-norm statistics apart).
        assert_eq!(
            logits_of(&mixed, x.view()).unwrap(),
            logits_of(&full, x.view()).unwrap()
        );
        let train_logits = |s: &State| -> Vec<f32> {
            let xb = Tensor::from_slice(x.as_slice().unwrap()).view([64, PIXELS as i64]);
            let t = tch::no_grad(|| s.layers.forward(&xb, true));
            Vec::try_from(&t.view([-1])).unwrap()
        };
        let (a, b) = (train_logits(&mixed), train_logits(&full));
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let err = a
            .iter()
            .zip(&b)
            .fold(0f32, |m, (u, v)| m.max((u - v).abs()));
        assert!(scale > 0.05, "degenerate logits: {b:?}");
        assert!(
            err <= 0.03 * scale,
            "bfloat16 error {err} on logits up to {scale}"
        );
        if !mixed.layers.bf16 {
            assert_eq!(a, b);
        }
    }
}

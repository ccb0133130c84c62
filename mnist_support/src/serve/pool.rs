//! The inference pool: a fixed set of worker threads (one per core) behind
//! a bounded queue. A prediction that finds the queue full is refused at once
//! (the handler answers 503 with `Retry-After`), so memory and threads stay
//! bounded however many clients come. A worker takes every request waiting
//! (up to [`MAX_BATCH`]) and runs each model once on all of their images:
//! concurrent requests share one forward pass instead of queueing for one each.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use ndarray::Array2;
use tokio::sync::oneshot;

use super::api::{ModelResult, PredictResponse, Top};
use super::input::Input;
use super::{ApiError, Loaded};
use crate::data::PIXELS;
use crate::gate::Gate;

/// Requests one worker runs together at most.
pub const MAX_BATCH: usize = 32;

/// The least [`agreement`] of a digit, on a server without a digit gate
/// ([`crate::gate`]). Chosen on the dev set of
/// `mnist bench-inputs` (generated digits and non-digits, never MNIST's test
/// split) as the score that flags about 2% of its digits (0.440 flagged 2%
/// of its 12,000 digits and 99 of its 400 non-digits).
pub const DIGIT_LIKE_MIN: f32 = 0.45;

/// How much the models agree on one digit: the mean probability the models
/// give to the digit whose probabilities summed over them are highest.
/// Digits score near 1; a letter or a face, which each model maps to some
/// digit of its own, lower.
pub fn agreement(probs: &[[f32; 10]]) -> f32 {
    if probs.is_empty() {
        return 0.0;
    }
    let mut sum = [0f32; 10];
    for p in probs {
        for (s, v) in sum.iter_mut().zip(p) {
            *s += v;
        }
    }
    sum.iter().fold(f32::MIN, |m, &v| m.max(v)) / probs.len() as f32
}

/// Pictures of more megapixels than this are preprocessed in a batch of
/// their own, after the others: a heavy picture never holds back the cheap
/// ones that arrived with it.
pub const HEAVY_MEGAPIXELS: f64 = 1.0;

/// One prediction waiting for a worker.
struct Job {
    /// Taken when the worker preprocesses it.
    input: Option<Input>,
    /// Indices of the models to run, in the server's order.
    models: Vec<usize>,
    reply: oneshot::Sender<Result<PredictResponse, ApiError>>,
}

/// The workers and their queue.
pub struct Pool {
    tx: Sender<Job>,
    limit: usize,
    /// Worker threads running now.
    alive: Arc<AtomicUsize>,
}

/// Counts a worker out when its thread ends, however it ends.
struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Pool {
    /// `workers` threads over `models` (and the digit gate when there is
    /// one), at most `queue` requests waiting.
    pub fn new(
        models: Arc<Vec<Loaded>>,
        gate: Option<Arc<Gate>>,
        workers: usize,
        queue: usize,
    ) -> Pool {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(queue.max(1));
        let alive = Arc::new(AtomicUsize::new(0));
        for i in 0..workers.max(1) {
            let (rx, models, gate) = (rx.clone(), models.clone(), gate.clone());
            alive.fetch_add(1, Ordering::SeqCst);
            let counted = Alive(alive.clone());
            std::thread::Builder::new()
                .name(format!("inference-{i}"))
                .spawn(move || {
                    let _counted = counted;
                    work(&rx, &models, gate.as_deref())
                })
                .expect("a thread can be started at start-up");
        }
        Pool {
            tx,
            limit: queue.max(1),
            alive,
        }
    }

    /// Worker threads running now.
    pub fn workers(&self) -> usize {
        self.alive.load(Ordering::SeqCst)
    }

    /// Requests waiting now.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Queue a prediction; `Err` at once when the queue is full.
    pub fn submit(
        &self,
        input: Input,
        models: Vec<usize>,
    ) -> Result<oneshot::Receiver<Result<PredictResponse, ApiError>>, ApiError> {
        let (reply, answer) = oneshot::channel();
        match self.tx.try_send(Job {
            input: Some(input),
            models,
            reply,
        }) {
            Ok(()) => Ok(answer),
            Err(TrySendError::Full(_)) => Err(ApiError::busy(format!(
                "the server is busy: {} predictions are waiting; retry in a second",
                self.limit
            ))),
            Err(TrySendError::Disconnected(_)) => Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "the inference workers have stopped".into(),
            )),
        }
    }
}

fn work(rx: &Receiver<Job>, models: &[Loaded], gate: Option<&Gate>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // A client that gave up (timeout, closed connection) is not waited for.
        batch.retain(|job| !job.reply.is_closed());
        let (cheap, heavy): (Vec<Job>, Vec<Job>) = batch.into_iter().partition(|job| {
            job.input
                .as_ref()
                .is_some_and(|i| i.megapixels() <= HEAVY_MEGAPIXELS)
        });
        for batch in [cheap, heavy] {
            if !batch.is_empty() {
                run_guarded(batch, models, gate);
            }
        }
    }
}

/// [`run_batch`], where a panic (a bug a picture found) is that batch's
/// alone: its replies are dropped, so its requests get 500, and the worker
/// goes on.
fn run_guarded(batch: Vec<Job>, models: &[Loaded], gate: Option<&Gate>) {
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_batch(batch, models, gate)
    }));
    if let Err(panic) = ran {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("serve: a prediction panicked ({why}); its requests got 500, the worker goes on");
    }
}

/// Decode every request's input, run each model once on all the inputs that
/// want it, and answer each request.
fn run_batch(batch: Vec<Job>, models: &[Loaded], gate: Option<&Gate>) {
    let mut ready: Vec<(Job, Vec<f32>)> = Vec::with_capacity(batch.len());
    for mut job in batch {
        let input = job.input.take().expect("a job is preprocessed once");
        match input.pixels() {
            Ok(p) => ready.push((job, p)),
            Err(e) => {
                let _ = job.reply.send(Err(e));
            }
        }
    }
    if ready.is_empty() {
        return;
    }
    // The gate's scores, for all inputs at once; if it fails, the models'
    // agreement stands in.
    let gated: Option<(&Gate, Vec<f32>)> = gate.and_then(|g| {
        let x = stack(ready.iter().map(|(_, p)| p.as_slice()), ready.len());
        match g.scores(x.view()) {
            Ok(s) => Some((g, s)),
            Err(e) => {
                eprintln!("serve: the digit gate failed ({e}); using the models' agreement");
                None
            }
        }
    });
    // results[j][k]: request j's answer from its k-th model, with that
    // model's class probabilities.
    type Answered = Result<(ModelResult, [f32; 10]), ApiError>;
    let mut results: Vec<Vec<Option<Answered>>> = ready
        .iter()
        .map(|(job, _)| vec![None; job.models.len()])
        .collect();
    for (m, model) in models.iter().enumerate() {
        let wanting: Vec<(usize, usize)> = ready
            .iter()
            .enumerate()
            .filter_map(|(j, (job, _))| job.models.iter().position(|&i| i == m).map(|k| (j, k)))
            .collect();
        if wanting.is_empty() {
            continue;
        }
        let x = stack(
            wanting.iter().map(|&(j, _)| ready[j].1.as_slice()),
            wanting.len(),
        );
        let t = Instant::now();
        let p = model.model.predict_proba(x.view());
        let ms = t.elapsed().as_secs_f64() * 1e3 / wanting.len() as f64;
        for (row, &(j, k)) in wanting.iter().enumerate() {
            results[j][k] = Some(match &p {
                Ok(p) => {
                    let mut v = [0f32; 10];
                    for (d, x) in v.iter_mut().zip(p.row(row)) {
                        *d = *x;
                    }
                    Ok((answer(model, &v, ms), v))
                }
                Err(e) => Err(ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("{}: {e}", model.name),
                )),
            });
        }
    }
    for (j, ((job, pixels), answers)) in ready.into_iter().zip(results).enumerate() {
        let response = answers
            .into_iter()
            .map(|a| a.expect("every chosen model ran"))
            .collect::<Result<Vec<_>, _>>()
            .map(|answered| {
                let (digit_like, digit_score) = match &gated {
                    Some((g, scores)) => (g.digit_like(scores[j]), scores[j]),
                    None => {
                        let probs: Vec<[f32; 10]> = answered.iter().map(|(_, p)| *p).collect();
                        let score = agreement(&probs);
                        (score >= DIGIT_LIKE_MIN, score)
                    }
                };
                PredictResponse {
                    input: pixels
                        .iter()
                        .map(|&v| v.round().clamp(0.0, 255.0) as u8)
                        .collect(),
                    results: answered.into_iter().map(|(r, _)| r).collect(),
                    digit_like,
                    digit_score,
                }
            });
        let _ = job.reply.send(response);
    }
}

/// `n` inputs of 784 pixel values as the rows of one matrix.
fn stack<'a>(inputs: impl Iterator<Item = &'a [f32]>, n: usize) -> Array2<f32> {
    let mut x = Array2::<f32>::zeros((n, PIXELS));
    for (mut row, pixels) in x.rows_mut().into_iter().zip(inputs) {
        row.assign(&ndarray::ArrayView1::from(pixels));
    }
    x
}

/// A model's answer from its class probabilities.
fn answer(model: &Loaded, p: &[f32], ms: f64) -> ModelResult {
    let mut order: Vec<(u8, f32)> = p.iter().enumerate().map(|(d, &v)| (d as u8, v)).collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ModelResult {
        model: model.name.clone(),
        kind: model.card.kind.title().into(),
        prediction: order.first().map_or(0, |o| o.0),
        top3: order
            .iter()
            .take(3)
            .map(|&(digit, probability)| Top { digit, probability })
            .collect(),
        ms,
    }
}

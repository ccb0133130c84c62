//! The inference pool: a fixed set of worker threads (one per core) behind
//! two bounded queues, one for cheap inputs (drawings, raw pixels, pictures up
//! to [`HEAVY_MEGAPIXELS`]) and a short one for heavy pictures. A prediction
//! that finds its queue full is refused at once (the handler answers 503 with
//! `Retry-After`), so memory and threads stay bounded however many clients
//! come, and heavy pictures cannot fill the cheap ones' places. Workers take
//! cheap inputs first, and with two or more workers one is always left for
//! them: a flood of heavy pictures holds at most all workers but one. A
//! worker takes every cheap request waiting (up to [`MAX_BATCH`]) and runs
//! each model once on all of their images: concurrent requests share one
//! forward pass instead of queueing for one each.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use ndarray::Array2;
use tokio::sync::oneshot;

use super::api::{Explanation, ModelResult, PredictResponse, Top};
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

/// Pictures of more megapixels than this are heavy: they wait in a queue of
/// their own and are preprocessed one at a time, never holding back the
/// cheap ones.
pub const HEAVY_MEGAPIXELS: f64 = 1.0;

/// The heavy pictures' queue holds this share of `--queue` (at least one).
const HEAVY_QUEUE_SHARE: usize = 4;

/// One request waiting for a worker.
struct Job {
    /// Taken when the worker preprocesses it.
    input: Option<Input>,
    task: Task,
}

/// What a job asks for, and where its answer goes.
enum Task {
    /// The predictions of the models at these indices (the server's order).
    Predict {
        models: Vec<usize>,
        reply: oneshot::Sender<Answer>,
    },
    /// One model's explanation ([`crate::explain`]).
    Explain {
        model: usize,
        reply: oneshot::Sender<Explained>,
    },
}

impl Task {
    /// Whether the client gave up (its answer timed out, its connection closed).
    fn is_closed(&self) -> bool {
        match self {
            Task::Predict { reply, .. } => reply.is_closed(),
            Task::Explain { reply, .. } => reply.is_closed(),
        }
    }

    fn fail(self, e: ApiError) {
        let _ = match self {
            Task::Predict { reply, .. } => reply.send(Err(e)).map_err(drop),
            Task::Explain { reply, .. } => reply.send(Err(e)).map_err(drop),
        };
    }
}

/// The workers and their queues.
pub struct Pool {
    cheap: Sender<Job>,
    heavy: Sender<Job>,
    limit: usize,
    /// Worker threads running now.
    alive: Arc<AtomicUsize>,
}

/// What the workers share: the two queues and how many of them may be busy
/// with heavy pictures at once.
struct Lanes {
    cheap: Receiver<Job>,
    heavy: Receiver<Job>,
    heavy_busy: AtomicUsize,
    heavy_max: usize,
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
        let workers = workers.max(1);
        let (cheap, cheap_rx) = crossbeam_channel::bounded::<Job>(queue.max(1));
        let (heavy, heavy_rx) =
            crossbeam_channel::bounded::<Job>((queue / HEAVY_QUEUE_SHARE).max(1));
        let lanes = Arc::new(Lanes {
            cheap: cheap_rx,
            heavy: heavy_rx,
            heavy_busy: AtomicUsize::new(0),
            heavy_max: (workers - 1).max(1),
        });
        let alive = Arc::new(AtomicUsize::new(0));
        for i in 0..workers {
            let (lanes, models, gate) = (lanes.clone(), models.clone(), gate.clone());
            alive.fetch_add(1, Ordering::SeqCst);
            let counted = Alive(alive.clone());
            std::thread::Builder::new()
                .name(format!("inference-{i}"))
                .spawn(move || {
                    let _counted = counted;
                    work(&lanes, &models, gate.as_deref())
                })
                .expect("a thread can be started at start-up");
        }
        Pool {
            cheap,
            heavy,
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
        self.cheap.len() + self.heavy.len()
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Queue a prediction by the models at indices `models`; `Err` at once
    /// when the queue is full.
    pub fn submit(
        &self,
        input: Input,
        models: Vec<usize>,
    ) -> Result<oneshot::Receiver<Answer>, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue(input, Task::Predict { models, reply })?;
        Ok(answer)
    }

    /// Queue an explanation by the model at index `model`, as [`submit`](Pool::submit).
    pub fn submit_explain(
        &self,
        input: Input,
        model: usize,
    ) -> Result<oneshot::Receiver<Explained>, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue(input, Task::Explain { model, reply })?;
        Ok(answer)
    }

    fn queue(&self, input: Input, task: Task) -> Result<(), ApiError> {
        let heavy = input.megapixels() > HEAVY_MEGAPIXELS;
        let (lane, what) = match heavy {
            true => (&self.heavy, "large pictures"),
            false => (&self.cheap, "predictions"),
        };
        match lane.try_send(Job {
            input: Some(input),
            task,
        }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(ApiError::busy(format!(
                "the server is busy: {} {what} are waiting; retry in a second",
                lane.capacity().unwrap_or(self.limit)
            ))),
            Err(TrySendError::Disconnected(_)) => Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "the inference workers have stopped".into(),
            )),
        }
    }
}

/// What a worker took: a batch of cheap requests, or one heavy picture
/// (holding one of the heavy places until it is done).
enum Took {
    Cheap(Job),
    Heavy(Job),
}

impl Lanes {
    /// The next job: a cheap one when any waits; otherwise whichever comes
    /// first, a heavy one only while fewer than `heavy_max` workers are busy
    /// with heavy pictures. `None` when the pool is gone.
    fn next(&self) -> Option<Took> {
        match self.cheap.try_recv() {
            Ok(job) => return Some(Took::Cheap(job)),
            Err(crossbeam_channel::TryRecvError::Disconnected) => return None,
            Err(crossbeam_channel::TryRecvError::Empty) => {}
        }
        let reserved = self
            .heavy_busy
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.heavy_max).then_some(n + 1)
            })
            .is_ok();
        if !reserved {
            return self.cheap.recv().ok().map(Took::Cheap);
        }
        crossbeam_channel::select! {
            recv(self.cheap) -> job => {
                self.heavy_busy.fetch_sub(1, Ordering::SeqCst);
                job.ok().map(Took::Cheap)
            }
            recv(self.heavy) -> job => match job {
                Ok(job) => Some(Took::Heavy(job)),
                Err(_) => {
                    self.heavy_busy.fetch_sub(1, Ordering::SeqCst);
                    None
                }
            },
        }
    }
}

fn work(lanes: &Lanes, models: &[Loaded], gate: Option<&Gate>) {
    while let Some(took) = lanes.next() {
        let (mut batch, heavy) = match took {
            Took::Heavy(job) => (vec![job], true),
            Took::Cheap(first) => {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match lanes.cheap.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                (batch, false)
            }
        };
        // A client that gave up (its answer timed out, its connection
        // closed) is not worked for.
        batch.retain(|job| !job.task.is_closed());
        if !batch.is_empty() {
            run_guarded(batch, models, gate);
        }
        if heavy {
            lanes.heavy_busy.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// [`run_batch`], where a panic that escapes it (a bug) costs its batch
/// alone: its replies are dropped, so its requests get 500, and the worker
/// goes on. (Preprocessing and inference catch their own panics, one request
/// at a time: see [`isolated`].)
fn run_guarded(batch: Vec<Job>, models: &[Loaded], gate: Option<&Gate>) {
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_batch(batch, models, gate)
    }));
    if let Err(panic) = ran {
        eprintln!(
            "serve: a prediction panicked ({}); its requests got 500, the worker goes on",
            panic_message(&*panic)
        );
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// What a request gets when its prediction panicked.
fn panicked(panic: &(dyn std::any::Any + Send)) -> ApiError {
    let why = panic_message(panic);
    eprintln!("serve: a prediction panicked ({why}); that request got 500, the others go on");
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the server failed on this input (a bug, logged); other inputs are not affected".into(),
    )
}

/// One answer to a prediction request.
pub type Answer = Result<PredictResponse, ApiError>;

/// One answer to an explanation request.
pub type Explained = Result<Explanation, ApiError>;

/// An input ready for the models: its 784 pixel values and the models it asks for.
type Ready<'a> = (&'a [f32], &'a [usize]);

/// Decode every request's input (a panic there fails that request alone),
/// run each model once on all the inputs that want its predictions
/// ([`isolated`]), explain for each request that asks, and answer each.
fn run_batch(batch: Vec<Job>, models: &[Loaded], gate: Option<&Gate>) {
    let mut ready: Vec<(Vec<usize>, oneshot::Sender<Answer>, Vec<f32>)> =
        Vec::with_capacity(batch.len());
    for mut job in batch {
        let input = job.input.take().expect("a job is preprocessed once");
        let pixels = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| input.pixels()))
            .unwrap_or_else(|panic| Err(panicked(&*panic)));
        match (pixels, job.task) {
            (Err(e), task) => task.fail(e),
            (Ok(p), Task::Predict { models, reply }) => ready.push((models, reply, p)),
            (Ok(p), Task::Explain { model, reply }) => {
                let _ = reply.send(explained(&models[model], &p));
            }
        }
    }
    if ready.is_empty() {
        return;
    }
    let inputs: Vec<Ready> = ready
        .iter()
        .map(|(chosen, _, p)| (p.as_slice(), chosen.as_slice()))
        .collect();
    let answers = isolated(&inputs, &|inputs: &[Ready]| infer(inputs, models, gate));
    for ((_, reply, _), answer) in ready.into_iter().zip(answers) {
        let _ = reply.send(answer);
    }
}

/// `model`'s explanation of one input; a panic fails this request alone.
fn explained(model: &Loaded, pixels: &[f32]) -> Explained {
    let run = || crate::explain::explain(model.model.as_ref(), ndarray::ArrayView1::from(pixels));
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(explanation)) => Ok(Explanation {
            model: model.name.clone(),
            ..explanation
        }),
        Ok(Err(e)) => Err(ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{}: {e}", model.name),
        )),
        Err(panic) => Err(panicked(&*panic)),
    }
}

/// Pixel values as the bytes (0–255) the models saw.
fn bytes(pixels: &[f32]) -> Vec<u8> {
    pixels.iter().map(|&v| crate::data::to_byte(v)).collect()
}

/// `infer` on all of `inputs` at once; when that panics (a bug one input
/// found), on halves of them again, down to single inputs, so that only the
/// input that panics gets 500 and its neighbours in the batch are answered.
fn isolated(inputs: &[Ready], infer: &dyn Fn(&[Ready]) -> Vec<Answer>) -> Vec<Answer> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| infer(inputs))) {
        Ok(answers) => answers,
        Err(panic) if inputs.len() == 1 => vec![Err(panicked(&*panic))],
        Err(_) => {
            let (a, b) = inputs.split_at(inputs.len() / 2);
            let mut answers = isolated(a, infer);
            answers.extend(isolated(b, infer));
            answers
        }
    }
}

/// Every input's answer: each model run once on all the inputs that want
/// it, and the digit gate's score (or, without a gate, the models'
/// agreement).
fn infer(inputs: &[Ready], models: &[Loaded], gate: Option<&Gate>) -> Vec<Answer> {
    // The gate's scores, for all inputs at once; if it fails, the models'
    // agreement stands in.
    let gated: Option<(&Gate, Vec<f32>)> = gate.and_then(|g| {
        let x = stack(inputs.iter().map(|(p, _)| *p), inputs.len());
        match g.scores(x.view()) {
            Ok(s) => Some((g, s)),
            Err(e) => {
                eprintln!("serve: the digit gate failed ({e}); using the models' agreement");
                None
            }
        }
    });
    // results[j][k]: input j's answer from its k-th model, with that
    // model's class probabilities.
    type Answered = Result<(ModelResult, [f32; 10]), ApiError>;
    let mut results: Vec<Vec<Option<Answered>>> = inputs
        .iter()
        .map(|(_, chosen)| vec![None; chosen.len()])
        .collect();
    for (m, model) in models.iter().enumerate() {
        let wanting: Vec<(usize, usize)> = inputs
            .iter()
            .enumerate()
            .filter_map(|(j, (_, chosen))| chosen.iter().position(|&i| i == m).map(|k| (j, k)))
            .collect();
        if wanting.is_empty() {
            continue;
        }
        let x = stack(wanting.iter().map(|&(j, _)| inputs[j].0), wanting.len());
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
    inputs
        .iter()
        .zip(results)
        .enumerate()
        .map(|(j, ((pixels, _), answers))| {
            answers
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
                        input: bytes(pixels),
                        results: answered.into_iter().map(|(r, _)| r).collect(),
                        digit_like,
                        digit_score,
                    }
                })
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers whose `digit_score` is the input's first pixel; panics on 13.
    fn poisoned(inputs: &[Ready]) -> Vec<Answer> {
        assert!(
            inputs.iter().all(|(p, _)| p[0] != 13.0),
            "an input this test made panic"
        );
        inputs
            .iter()
            .map(|(p, _)| {
                Ok(PredictResponse {
                    input: vec![],
                    results: vec![],
                    digit_like: true,
                    digit_score: p[0],
                })
            })
            .collect()
    }

    #[test]
    fn a_panic_fails_its_own_input_and_no_neighbour() {
        let rows: Vec<Vec<f32>> = [1.0, 2.0, 13.0, 4.0, 5.0, 13.0, 7.0]
            .iter()
            .map(|&v| vec![v; PIXELS])
            .collect();
        let chosen = [0usize];
        let inputs: Vec<Ready> = rows.iter().map(|r| (r.as_slice(), &chosen[..])).collect();
        let answers = isolated(&inputs, &poisoned);
        assert_eq!(answers.len(), 7);
        for (row, answer) in rows.iter().zip(&answers) {
            match answer {
                Ok(r) => assert_eq!(r.digit_score, row[0]),
                Err(e) => {
                    assert_eq!(row[0], 13.0, "{e:?}");
                    assert_eq!(e.0, StatusCode::INTERNAL_SERVER_ERROR);
                }
            }
        }
        assert_eq!(answers.iter().filter(|a| a.is_err()).count(), 2);
    }
}

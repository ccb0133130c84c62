//! The prediction server (Part II, the role Gradio plays in Python): a web
//! page to draw or upload a digit and a JSON API, over every model saved in
//! `models/`. axum + tokio; the page is embedded in the binary.
//!
//! * `GET /` — the page;
//! * `GET /healthz` — `{"status": "ok", "models": N}`;
//! * `GET /api/models` — name, kind, title and test accuracy of each model;
//! * `GET /api/examples` — example inputs for the page (pad drawings, scans,
//!   photos, typed digits from [`crate::real_inputs`]), as data URLs;
//! * `POST /api/predict` — JSON `{"model": "svm" | "all", "image": "<base64 PNG/JPEG or data: URL>"}`
//!   or `{"model": ..., "pixels": [784 values 0–255]}`; answers
//!   `{"input": [784 values the models saw], "results": [{"model", "prediction",
//!   "top3": [{"digit", "probability"}], "ms"}]}`. Bad input is a 4xx
//!   `{"error": "..."}`.
//!
//! Images go through [`crate::preprocess`] (background removal, cleaning,
//! stroke-width normalisation, MNIST's 20×20 box and centre of mass); 784
//! pixel values are taken as an MNIST image as they are. A picture with no
//! digit in it is a 422. Request bodies are limited to 2 MB and decoded
//! images to 4096×4096 pixels and 256 MB of decoding memory.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{rejection::JsonRejection, DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::data::PIXELS;
use crate::error::{Error, Result};
use crate::models::Classifier;
use crate::preprocess;
use crate::real_inputs::Sample;
use crate::store::{ModelCard, Store};

/// Largest request body accepted.
pub const MAX_BODY: usize = 2 * 1024 * 1024;
/// Largest decoded image side.
pub use crate::preprocess::MAX_SIDE;

const PAGE: &str = include_str!("index.html");

/// A loaded model and its card.
pub struct Loaded {
    pub name: String,
    pub model: Box<dyn Classifier>,
    pub card: ModelCard,
}

/// Load every model saved in `dir` (each `<name>.json` with its model file).
/// Models that fail to load are reported in the second list, not fatal.
pub fn load_models(dir: &Path) -> Result<(Vec<Loaded>, Vec<String>)> {
    let store = Store::new(dir);
    let (mut loaded, mut failed) = (Vec::new(), Vec::new());
    for name in store.names()? {
        match store.load(&name) {
            Ok((model, card)) => loaded.push(Loaded { name, model, card }),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    // The seed's order (softmax, knn, ..., forest), then by name.
    loaded.sort_by(|a, b| (a.card.kind, &a.name).cmp(&(b.card.kind, &b.name)));
    Ok((loaded, failed))
}

/// Makes the page's example inputs (once, off the start-up path).
pub type MakeExamples = Box<dyn Fn() -> Vec<Sample> + Send + Sync>;

struct AppState {
    models: Vec<Loaded>,
    examples: std::sync::OnceLock<Vec<Sample>>,
    make_examples: MakeExamples,
}

impl AppState {
    fn examples(&self) -> &[Sample] {
        self.examples.get_or_init(|| (self.make_examples)())
    }
}

#[derive(Debug)]
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    pixels: Option<Vec<f32>>,
}

#[derive(Serialize)]
struct Top {
    digit: u8,
    probability: f32,
}

#[derive(Serialize)]
struct ModelResult {
    model: String,
    kind: String,
    prediction: u8,
    top3: Vec<Top>,
    ms: f64,
}

#[derive(Serialize)]
struct PredictResponse {
    input: Vec<u8>,
    results: Vec<ModelResult>,
}

fn input_pixels(req: &PredictRequest) -> std::result::Result<Vec<f32>, ApiError> {
    match (&req.image, &req.pixels) {
        (Some(_), Some(_)) => Err(bad("send either \"image\" or \"pixels\", not both")),
        (None, None) => Err(bad(
            "send \"image\" (base64 PNG/JPEG) or \"pixels\" (784 values 0-255)",
        )),
        (None, Some(p)) => {
            if p.len() != PIXELS {
                return Err(bad(format!(
                    "\"pixels\" must hold 784 values (28×28), got {}",
                    p.len()
                )));
            }
            if p.iter().any(|v| !v.is_finite() || *v < 0.0 || *v > 255.0) {
                return Err(bad("\"pixels\" values must be numbers from 0 to 255"));
            }
            if p.iter().all(|&v| v == 0.0) {
                return Err(bad("the image is empty: all 784 pixels are 0"));
            }
            Ok(p.clone())
        }
        (Some(text), None) => {
            let b64 = match text.split_once(',') {
                Some((head, rest)) if head.starts_with("data:") => rest,
                _ => text.as_str(),
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| bad(format!("\"image\" is not valid base64: {e}")))?;
            let gray = preprocess::decode_image(&bytes)
                .map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
            preprocess::to_mnist(&gray)
                .map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
        }
    }
}

fn predict_all(
    state: &AppState,
    which: &str,
    pixels: &[f32],
) -> std::result::Result<Vec<ModelResult>, ApiError> {
    let chosen: Vec<&Loaded> = if which == "all" {
        state.models.iter().collect()
    } else {
        state.models.iter().filter(|m| m.name == which).collect()
    };
    if chosen.is_empty() {
        let names: Vec<&str> = state.models.iter().map(|m| m.name.as_str()).collect();
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!(
                "unknown model {which:?}; available: {} (or \"all\")",
                names.join(", ")
            ),
        ));
    }
    let x = Array2::from_shape_vec((1, PIXELS), pixels.to_vec()).map_err(|e| bad(e.to_string()))?;
    chosen
        .into_iter()
        .map(|m| {
            let t = Instant::now();
            let p = m.model.predict_proba(x.view()).map_err(|e| {
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("{}: {e}", m.name),
                )
            })?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let mut order: Vec<(u8, f32)> = p
                .row(0)
                .iter()
                .enumerate()
                .map(|(d, &v)| (d as u8, v))
                .collect();
            order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            Ok(ModelResult {
                model: m.name.clone(),
                kind: m.card.kind.title().into(),
                prediction: order[0].0,
                top3: order
                    .iter()
                    .take(3)
                    .map(|&(digit, probability)| Top { digit, probability })
                    .collect(),
                ms,
            })
        })
        .collect()
}

async fn predict(
    State(state): State<Arc<AppState>>,
    body: std::result::Result<Json<PredictRequest>, JsonRejection>,
) -> std::result::Result<Json<PredictResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError(e.status(), e.body_text()))?;
    let which = req.model.clone().unwrap_or_else(|| "all".into());
    let task = tokio::task::spawn_blocking(move || {
        let pixels = input_pixels(&req)?;
        let results = predict_all(&state, &which, &pixels)?;
        Ok(PredictResponse {
            input: pixels
                .iter()
                .map(|&v| v.round().clamp(0.0, 255.0) as u8)
                .collect(),
            results,
        })
    });
    match task.await {
        Ok(r) => r.map(Json),
        Err(e) => Err(ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("prediction failed: {e}"),
        )),
    }
}

async fn list_models(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "models": state.models.iter().map(|m| serde_json::json!({
            "name": m.name,
            "kind": m.card.kind.name(),
            "title": m.card.kind.title(),
            "test_accuracy": m.card.report.accuracy("test"),
            "train_images": m.card.report.parts.first().map(|p| p.images),
        })).collect::<Vec<_>>()
    }))
}

async fn list_examples(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    // Made on first use (or by the warm-up at start), off the async threads.
    let list = tokio::task::spawn_blocking(move || {
        state
            .examples()
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": format!("{} of a {}", e.source.name(), e.label),
                    "source": e.source.name(),
                    "label": e.label,
                    "image": e.data_url(),
                })
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    Json(serde_json::json!({ "examples": list }))
}

async fn healthz(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "models": state.models.len() }))
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(PAGE))
}

/// A body announced as larger than [`MAX_BODY`] is refused at once, before
/// any of it is read (chunked bodies are cut at the limit while reading).
async fn refuse_large_bodies(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match announced {
        Some(n) if n > MAX_BODY as u64 => ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is {n} bytes; at most {MAX_BODY} are accepted"),
        )
        .into_response(),
        _ => next.run(req).await,
    }
}

async fn not_found() -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "no such page: see GET /, /healthz, /api/models, POST /api/predict".into(),
    )
}

/// Two inputs of each real-inputs source for the page's examples (from the
/// dev set, never the test split); none when the MNIST files are missing.
pub fn example_inputs(split: Option<&crate::data::Split>) -> Vec<Sample> {
    let Some(split) = split else {
        return Vec::new();
    };
    crate::real_inputs::generate(split, crate::real_inputs::Set::Dev, 2).unwrap_or_default()
}

/// The app over loaded models; `make_examples` gives the page's example
/// inputs, made once in the background from start-up on.
pub fn router(models: Vec<Loaded>, make_examples: MakeExamples) -> Router {
    let state = Arc::new(AppState {
        models,
        examples: std::sync::OnceLock::new(),
        make_examples,
    });
    let warm = state.clone();
    std::thread::spawn(move || {
        warm.examples();
    });
    Router::new()
        .route("/", get(page))
        .route("/healthz", get(healthz))
        .route("/api/models", get(list_models))
        .route("/api/examples", get(list_examples))
        .route("/api/predict", post(predict))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(refuse_large_bodies))
        .with_state(state)
}

/// Serve on `addr` until Ctrl-C; `on_ready` gets the bound address (port 0 picks a free one).
pub fn serve(
    models: Vec<Loaded>,
    make_examples: MakeExamples,
    addr: SocketAddr,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Process {
            what: "cannot start the async runtime".into(),
            reason: e.to_string(),
        })?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Process {
                what: format!("cannot listen on {addr}"),
                reason: e.to_string(),
            })?;
        let bound = listener.local_addr().map_err(|e| Error::Process {
            what: format!("cannot listen on {addr}"),
            reason: e.to_string(),
        })?;
        on_ready(bound);
        axum::serve(listener, router(models, make_examples))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| Error::Process {
                what: "server error".into(),
                reason: e.to_string(),
            })
    })
}

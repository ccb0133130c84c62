//! The prediction server (Part II, the role Gradio plays in Python): a web
//! page to draw or upload a digit and a JSON API, over every model saved in a
//! directory. axum + tokio; the page is embedded in the binary. The networks
//! run on candle, so the server alone (`mnist-serve`, built with
//! `--no-default-features --features serve`) needs no libtorch.
//!
//! * `GET /` — the page;
//! * `GET /healthz` — [`api::Health`];
//! * `GET /api/models` — [`api::ModelsResponse`];
//! * `GET /api/examples` — [`api::ExamplesResponse`]: example inputs for the
//!   page, from `examples.json` beside the models when there is one (a Space
//!   ships it), else made from the validation digits;
//! * `POST /api/predict` — [`api::PredictRequest`] → [`api::PredictResponse`].
//!   Bad input is a 4xx [`api::ErrorBody`]; a picture with no digit is a 422;
//! * `POST /api/explain` — a [`api::PredictRequest`] naming one model →
//!   [`api::Explanation`]: why the model answered as it did
//!   ([`crate::explain`]), queued and charged like a prediction, with its
//!   place on the digit map when the server has one;
//! * `GET /api/map` — [`api::MapResponse`]: the training digits' map
//!   ([`crate::map`]) to draw an explanation's place on; 404 without one.
//!
//! Fit for a public URL ([`Options`]): predictions run in a bounded pool
//! ([`pool`]: one worker per core, a bounded queue, 503 with `Retry-After`
//! past it, concurrent requests batched per model); a per-client rate limit
//! on predictions (429, `tower_governor`); a client has [`Options::read_timeout`]
//! to send its headers and then its body; a prediction gets
//! [`Options::answer_timeout`]; bodies are limited to [`MAX_BODY`] and decoded
//! pictures to [`MAX_SIDE`] a side; one log line per request (method, path,
//! status, milliseconds), never the picture. The page and `/healthz` do not
//! wait for the pool.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{rejection::JsonRejection, DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::error::{Error, Result};
use crate::models::Classifier;
use crate::store::{ModelCard, Store};

pub use crate::api;
mod background;
mod client;
mod http;
mod input;
mod limits;
mod options;
pub mod pool;
mod show;

pub use background::{start, Background};
pub use options::Options;
pub use show::{start_with, PageFrame};

use api::{ErrorBody, Example, ExamplesResponse, Health, ModelInfo, ModelsResponse};

/// Largest request body accepted.
pub const MAX_BODY: usize = 2 * 1024 * 1024;
/// Largest decoded image side.
pub use crate::preprocess::MAX_SIDE;

/// The page's examples: what a Space ships beside its models, or made from the validation digits.
pub use crate::real_inputs::{example_inputs, read_examples, EXAMPLES_FILE};

const PAGE: &str = include_str!("index.html");
/// The page's script and style sheet, served from the page's origin so
/// that its Content-Security-Policy needs no inline code.
const PAGE_JS: &str = include_str!("page.js");
const PAGE_CSS: &str = include_str!("page.css");

/// A loaded model and its card.
pub struct Loaded {
    pub name: String,
    pub model: Box<dyn Classifier>,
    pub card: ModelCard,
}

/// Which library runs the networks in the server.
pub use crate::models::Networks;

/// Load every model saved in `dir` (each `<name>.json` with its model file)
/// but the digit gate, the networks on `networks`. A model that fails to load is skipped with a
/// line on stderr (`who: skipping NAME: why`); none at all is an error.
pub fn load_models(dir: &Path, networks: Networks, who: &str) -> Result<Vec<Loaded>> {
    let store = Store::new(dir).networks_on(networks);
    let mut loaded = Vec::new();
    for name in store.names()? {
        if name == crate::gate::NAME {
            continue;
        }
        match store.load(&name) {
            Ok((model, card)) => loaded.push(Loaded { name, model, card }),
            Err(e) => eprintln!("{who}: skipping {name}: {e}"),
        }
    }
    if loaded.is_empty() {
        return Err(Error::InvalidData(format!(
            "no models could be loaded from {}; train them with `cargo run --release -- train`",
            dir.display()
        )));
    }
    // The seed's order (softmax, knn, ..., forest), then by name.
    loaded.sort_by(|a, b| (a.card.kind, &a.name).cmp(&(b.card.kind, &b.name)));
    Ok(loaded)
}

/// What a server serves: the models, and the digit gate when one is saved.
pub struct Served {
    pub models: Vec<Loaded>,
    /// Decides `digit_like`; without it, the models' [`pool::agreement`] does.
    pub gate: Option<crate::gate::Gate>,
    /// Places each explained picture among the training digits ([`crate::map`]).
    pub map: Option<crate::map::DigitMap>,
}

/// [`load_models`], the digit gate saved beside them
/// ([`Gate::load`](crate::gate::Gate::load)) and the digit map
/// ([`DigitMap::load`](crate::map::DigitMap::load)). A missing or unreadable gate
/// is a line on stderr (`who: ...`), and `digit_like` then comes from the
/// models' agreement; without a map, explanations have no place on it.
pub fn load(dir: &Path, networks: Networks, who: &str) -> Result<Served> {
    let models = load_models(dir, networks, who)?;
    let gate = match crate::gate::Gate::load(dir) {
        Ok(Some(gate)) => Some(gate),
        Ok(None) => {
            eprintln!(
                "{who}: no digit gate in {}: digit_like comes from the models' agreement \
                 (train the gate with `mnist train-gate`)",
                dir.display()
            );
            None
        }
        Err(e) => {
            eprintln!(
                "{who}: skipping the digit gate: {e}; digit_like comes from the models' agreement"
            );
            None
        }
    };
    let map = match crate::map::DigitMap::load(dir) {
        Ok(Some(map)) => Some(map),
        Ok(None) => {
            eprintln!(
                "{who}: no digit map in {}: explanations come without a place on it \
                 (`mnist train` saves it)",
                dir.display()
            );
            None
        }
        Err(e) => {
            eprintln!("{who}: skipping the digit map: {e}");
            None
        }
    };
    Ok(Served { models, gate, map })
}

/// Makes the page's example inputs (once, off the start-up path).
pub type MakeExamples = Box<dyn Fn() -> Vec<Example> + Send + Sync>;

/// The page's examples for the models in `dir`: its [`EXAMPLES_FILE`] when
/// there is one, else two inputs of each real-inputs source made from the
/// validation digits of the MNIST files in `mnist` (none when there are no
/// such files, or they cannot be loaded).
pub fn examples_for(dir: &Path, mnist: Option<&Path>) -> MakeExamples {
    let file = dir.join(EXAMPLES_FILE);
    let mnist = mnist.map(Path::to_path_buf);
    Box::new(move || {
        if file.exists() {
            return match read_examples(&file) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("serve: no examples: {e}");
                    Vec::new()
                }
            };
        }
        mnist
            .as_deref()
            .and_then(|dir| crate::data::Split::load_from(dir).ok())
            .map(|split| example_inputs(&split))
            .unwrap_or_default()
    })
}

struct AppState {
    models: Arc<Vec<Loaded>>,
    digit_gate: bool,
    /// The digit map, and `GET /api/map`'s body serialized once.
    map: Option<(crate::map::DigitMap, axum::body::Bytes)>,
    pool: pool::Pool,
    /// `GET /api/examples`'s body, serialized once.
    examples: std::sync::OnceLock<axum::body::Bytes>,
    make_examples: MakeExamples,
    answer_timeout: Duration,
    /// Each client's megapixels a second (`None`: no budget).
    budget: Option<Arc<limits::Budget>>,
    /// Everyone's large pictures a second (`None`: no budget).
    heavy_budget: Option<limits::HeavyBudget>,
    /// Trusted proxies in front (`Options::proxies`).
    proxies: usize,
}

impl AppState {
    fn examples(&self) -> axum::body::Bytes {
        self.examples
            .get_or_init(|| {
                let examples = ExamplesResponse {
                    examples: (self.make_examples)(),
                };
                serde_json::to_vec(&examples)
                    .expect("plain data serializes")
                    .into()
            })
            .clone()
    }
}

/// A 4xx/5xx answer with its message.
#[derive(Debug, Clone)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    fn bad(msg: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, msg.into())
    }

    /// 503 with `Retry-After: 1`.
    fn busy(msg: impl Into<String>) -> ApiError {
        ApiError(StatusCode::SERVICE_UNAVAILABLE, msg.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(ErrorBody { error: self.1 })).into_response();
        if self.0 == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

/// Indices of the models `which` names ("all" or one name), or 404.
fn chosen(models: &[Loaded], which: &str) -> std::result::Result<Vec<usize>, ApiError> {
    let idx: Vec<usize> = (0..models.len())
        .filter(|&i| which == "all" || models[i].name == which)
        .collect();
    if idx.is_empty() {
        let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!(
                "unknown model {which:?}; available: {} (or \"all\")",
                names.join(", ")
            ),
        ));
    }
    Ok(idx)
}

async fn predict(
    State(state): State<Arc<AppState>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    body: std::result::Result<Json<api::PredictRequest>, JsonRejection>,
) -> std::result::Result<Json<api::PredictResponse>, Response> {
    let Json(req) = body.map_err(|e| ApiError(e.status(), e.body_text()).into_response())?;
    let models = chosen(&state.models, req.model.as_deref().unwrap_or("all"))
        .map_err(IntoResponse::into_response)?;
    let input = admit(&state, peer, &headers, &req)?;
    let answer = (state.pool.submit(input, models)).map_err(IntoResponse::into_response)?;
    answered(&state, answer, "prediction").await
}

/// `POST /api/explain`: one model's explanation of the input
/// ([`crate::explain`]), admitted and charged like a prediction.
async fn explain(
    State(state): State<Arc<AppState>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    body: std::result::Result<Json<api::PredictRequest>, JsonRejection>,
) -> std::result::Result<Json<api::Explanation>, Response> {
    let Json(req) = body.map_err(|e| ApiError(e.status(), e.body_text()).into_response())?;
    let model = match req.model.as_deref() {
        None | Some("all") => Err(ApiError(
            StatusCode::BAD_REQUEST,
            "an explanation is one model's: name it (\"model\": \"cnn\")".into(),
        )),
        Some(name) => chosen(&state.models, name).map(|m| m[0]),
    }
    .map_err(IntoResponse::into_response)?;
    let input = admit(&state, peer, &headers, &req)?;
    let answer = (state.pool.submit_explain(input, model)).map_err(IntoResponse::into_response)?;
    let Json(mut explanation) = answered(&state, answer, "explanation").await?;
    if let Some((map, _)) = &state.map {
        let input: Vec<f32> = explanation.input.iter().map(|&v| f32::from(v)).collect();
        explanation.map = map.place(ndarray::ArrayView1::from(&input)).ok();
    }
    Ok(Json(explanation))
}

/// `GET /api/map`: the digit map's points ([`api::MapResponse`]), or 404
/// when the server has no map.
async fn map(State(state): State<Arc<AppState>>) -> Response {
    match &state.map {
        Some((_, body)) => {
            ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response()
        }
        None => ApiError(
            StatusCode::NOT_FOUND,
            "this server has no digit map (`mnist train` saves one with the models)".into(),
        )
        .into_response(),
    }
}

/// The request's input, checked, sized and charged to its client's
/// budgets before it is queued: a bad request, a picture too large or over
/// its client's budget never takes a place in the queue.
fn admit(
    state: &AppState,
    peer: SocketAddr,
    headers: &axum::http::HeaderMap,
    req: &api::PredictRequest,
) -> std::result::Result<input::Input, Response> {
    let input = input::Input::admit(req).map_err(IntoResponse::into_response)?;
    if let Some(budget) = &state.budget {
        budget.charge(headers, peer.ip(), input.megapixels())?;
    }
    if let Some(heavy) = &state.heavy_budget {
        if input.megapixels() > pool::HEAVY_MEGAPIXELS {
            heavy.charge(input.megapixels())?;
        }
    }
    Ok(input)
}

/// The pool's answer, within the server's answer timeout.
async fn answered<T>(
    state: &AppState,
    answer: tokio::sync::oneshot::Receiver<std::result::Result<T, ApiError>>,
    what: &str,
) -> std::result::Result<Json<T>, Response> {
    match tokio::time::timeout(state.answer_timeout, answer).await {
        Ok(Ok(r)) => r.map(Json).map_err(IntoResponse::into_response),
        Ok(Err(_)) => Err(ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the {what} failed"),
        )
        .into_response()),
        Err(_) => Err(ApiError::busy(format!(
            "the {what} took longer than {} s",
            state.answer_timeout.as_secs()
        ))
        .into_response()),
    }
}

async fn list_models(State(state): State<Arc<AppState>>) -> Json<ModelsResponse> {
    Json(ModelsResponse {
        models: state
            .models
            .iter()
            .map(|m| ModelInfo {
                name: m.name.clone(),
                kind: m.card.kind.name().into(),
                title: m.card.kind.title().into(),
                test_accuracy: m.card.report.accuracy(crate::data::Part::Test),
                train_images: m.card.report.parts.first().map(|p| p.images),
                runtime: m.model.runtime().into(),
                hyperparameters: m.card.hyperparameters.clone(),
                changed_from_defaults: crate::store::describe_hyperparameters(
                    m.card.kind,
                    &m.card.hyperparameters,
                ),
            })
            .collect(),
    })
}

async fn list_examples(State(state): State<Arc<AppState>>) -> Response {
    // Made on first use (or by the warm-up at start), off the async threads.
    let body = tokio::task::spawn_blocking(move || state.examples())
        .await
        .unwrap_or_else(|_| axum::body::Bytes::from_static(b"{\"examples\":[]}"));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// 200 and "ok" while an inference worker runs; 503 when none does (every
/// prediction would fail), so a platform's health check restarts the server.
async fn healthz(
    State(state): State<Arc<AppState>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
) -> (StatusCode, Json<Health>) {
    let workers = state.pool.workers();
    let (code, status) = match workers {
        0 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no inference worker is running",
        ),
        _ => (StatusCode::OK, "ok"),
    };
    let health = Health {
        status: status.into(),
        models: state.models.len(),
        digit_gate: state.digit_gate,
        queued: state.pool.queued(),
        queue_limit: state.pool.limit(),
        workers,
        client: Some(client::client_of(&headers, peer.ip(), state.proxies).to_string()),
    };
    (code, Json(health))
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(PAGE))
}

async fn page_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE_JS,
    )
}

async fn page_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE_CSS,
    )
}

async fn not_found() -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "no such page: see GET /, /healthz, /api/models, /api/examples, /api/map, POST /api/predict, /api/explain".into(),
    )
}

/// The app over loaded models; `make_examples` gives the page's example
/// inputs, made once in the background from start-up on.
pub fn router(served: Served, make_examples: MakeExamples, options: &Options) -> Router {
    let models = Arc::new(served.models);
    let state = Arc::new(AppState {
        digit_gate: served.gate.is_some(),
        map: served.map.map(|m| {
            let body = serde_json::to_vec(&m.response()).expect("plain data serializes");
            (m, axum::body::Bytes::from(body))
        }),
        pool: pool::Pool::new(
            models.clone(),
            served.gate.map(Arc::new),
            options.workers(),
            options.queue,
        ),
        models,
        examples: std::sync::OnceLock::new(),
        make_examples,
        answer_timeout: Duration::from_secs(options.answer_timeout.max(1)),
        budget: limits::Budget::new(options),
        heavy_budget: limits::HeavyBudget::new(options),
        proxies: options.proxies(),
    });
    let warm = state.clone();
    std::thread::spawn(move || {
        warm.examples();
    });
    // The rate limits answer before the body is read: a request they refuse
    // costs no reading.
    let deadline = || {
        axum::middleware::from_fn_with_state(
            Duration::from_secs(options.read_timeout.max(1)),
            http::body_deadline,
        )
    };
    let predict_route = limits::rate_limited(post(predict).layer(deadline()), options);
    let explain_route = limits::rate_limited(post(explain).layer(deadline()), options);
    let app = Router::new()
        .route("/", get(page))
        .route("/page.js", get(page_js))
        .route("/page.css", get(page_css))
        .route("/healthz", get(healthz))
        .route("/api/models", get(list_models))
        .route("/api/examples", get(list_examples))
        .route("/api/map", get(map))
        .route("/api/predict", predict_route)
        .route("/api/explain", explain_route)
        .fallback(not_found);
    let app = limits::requests_limited(app, options)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(http::refuse_large_bodies))
        .layer(axum::middleware::from_fn(http::security_headers))
        .with_state(state);
    if options.quiet {
        app
    } else {
        app.layer(axum::middleware::from_fn(http::log_request))
    }
}

/// Serve on `options.addr()` until Ctrl-C or SIGTERM; `on_ready` gets the
/// bound address (port 0 picks a free one).
pub fn serve(
    served: Served,
    make_examples: MakeExamples,
    options: &Options,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    serve_until(served, make_examples, options, on_ready, shutdown_signal())
}

/// [`serve`] until `shutdown` completes (then open connections finish).
fn serve_until(
    served: Served,
    make_examples: MakeExamples,
    options: &Options,
    on_ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Process {
            what: "cannot start the async runtime".into(),
            reason: e.to_string(),
        })?;
    let addr = options.addr();
    rt.block_on(async move {
        let listen_error = |e: std::io::Error| Error::Process {
            what: format!("cannot listen on {addr}"),
            reason: e.to_string(),
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(listen_error)?;
        let bound = listener.local_addr().map_err(listen_error)?;
        let app = router(served, make_examples, options);
        on_ready(bound);
        let limits = http::Limits {
            header_timeout: Duration::from_secs(options.read_timeout.max(1)),
            write_timeout: Duration::from_secs(options.write_timeout.max(1)),
            max_connections: options.max_connections,
            per_client: match options.proxies() {
                0 => options.connections_per_client,
                _ => 0,
            },
        };
        http::run(listener, app, limits, shutdown).await;
        Ok(())
    })
}

/// Load every model in `dir` and the gate ([`load`]) and serve them with their examples
/// ([`examples_for`]), printing `listening on http://ADDR/` on stdout once
/// bound, then the [`banner`] on stderr.
pub fn serve_dir(
    dir: &Path,
    mnist: Option<&Path>,
    options: &Options,
    networks: Networks,
) -> Result<()> {
    let served = load(dir, networks, "serve")?;
    let names: Vec<String> = served
        .models
        .iter()
        .map(|m| format!("{} ({})", m.name, m.model.runtime()))
        .collect();
    eprintln!(
        "serve: {} model(s) from {}: {}{}",
        served.models.len(),
        dir.display(),
        names.join(", "),
        served
            .gate
            .as_ref()
            .map(|g| format!("; digit gate ({})", g.runtime()))
            .unwrap_or_default()
    );
    serve(served, examples_for(dir, mnist), options, |bound| {
        println!("listening on http://{bound}/");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        for line in banner(bound) {
            eprintln!("{line}");
        }
    })
}

/// Ctrl-C, or SIGTERM (how containers are stopped).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// What a server bound to `addr` prints: the URLs to open and, beyond
/// loopback, who can reach it.
pub fn banner(addr: SocketAddr) -> Vec<String> {
    let mut lines = Vec::new();
    if addr.ip().is_unspecified() {
        lines.push(format!(
            "open http://127.0.0.1:{}/ here, or http://<this machine's address>:{}/ from another machine",
            addr.port(),
            addr.port()
        ));
    } else {
        lines.push(format!("open http://{addr}/"));
    }
    if !addr.ip().is_loopback() {
        lines.push(format!(
            "warning: listening on {} — anyone who can reach this machine can use the server",
            addr.ip()
        ));
    }
    lines
}

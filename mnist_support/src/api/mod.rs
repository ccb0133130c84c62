//! The web API's request and response types (`serve` answers with them),
//! for the server and for every client in the repo: the benchmarks, the load
//! test, the server notebook 05 starts ([`crate::serve::start_with`]),
//! the tests. Plain data, so clients need none of the server's crates.

use serde::{Deserialize, Serialize};

pub mod why;

/// `POST /api/predict`: one of `image` (base64 PNG/JPEG, or a `data:` URL)
/// and `pixels` (784 values 0–255, an MNIST image as it is).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// A model's name, or `"all"` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixels: Option<Vec<f32>>,
}

/// One of a model's three most probable digits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Top {
    pub digit: u8,
    pub probability: f32,
}

/// One model's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    pub model: String,
    /// The model's title ("Convolutional neural network").
    pub kind: String,
    pub prediction: u8,
    pub top3: Vec<Top>,
    /// The model's share of the time of the batch it ran in, in milliseconds.
    pub ms: f64,
}

/// The answer to `POST /api/predict`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictResponse {
    /// The 784 pixel values (0–255) the models saw.
    pub input: Vec<u8>,
    pub results: Vec<ModelResult>,
    /// Whether the picture looks like a digit: false for letters, shapes,
    /// faces and scribbles, most of the time (see [`digit_score`](Self::digit_score)).
    pub digit_like: bool,
    /// How much the picture looks like a digit (0–1): the digit gate's
    /// probability of a digit ([`Gate`](crate::gate::Gate); `digit_like` is
    /// this score at least its threshold), or, on a server without a gate,
    /// the models' [`agreement`](crate::serve::pool::agreement) (`digit_like` at
    /// least [`DIGIT_LIKE_MIN`](crate::serve::pool::DIGIT_LIKE_MIN)).
    pub digit_score: f32,
}

/// Why a model gave its answer for one picture: the answer to
/// `POST /api/explain` (a [`PredictRequest`] naming one model), and what
/// [`crate::explain::explain`] returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The model's name.
    pub model: String,
    /// The 784 pixel values (0–255) the model saw.
    pub input: Vec<u8>,
    pub answer: u8,
    /// The class probabilities (10; 2 for the digit gate).
    pub probabilities: Vec<f32>,
    /// 784 values, row-major, the evidence each pixel gives for `answer`:
    /// a network's integrated gradients ([`why::NetworkWhy`]), kNN's margin
    /// ([`why::KnnWhy`]); for the other models how much the probability of
    /// `answer` falls when the pixel is blanked (0 for the background, below
    /// 0 where blanking raises it).
    pub saliency: Vec<f32>,
    /// The model's reasons in its own terms.
    pub why: why::Why,
    /// Where the picture sits on the map of the training digits
    /// ([`crate::map`]), when the server has one (`GET /api/map` has its points).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<MapPlace>,
}

/// A place on the map of the training digits: its two principal coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MapPlace {
    pub x: f32,
    pub y: f32,
}

/// One training digit on the map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MapPoint {
    pub x: f32,
    pub y: f32,
    pub digit: u8,
}

/// `GET /api/map`: the map of the training digits ([`crate::map`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapResponse {
    /// The share of the training pixels' variance along each axis.
    pub explained: [f32; 2],
    /// Some training digits of each class, placed.
    pub points: Vec<MapPoint>,
}

/// One entry of `GET /api/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub kind: String,
    pub title: String,
    pub test_accuracy: Option<f64>,
    pub train_images: Option<usize>,
    /// The library that runs it: "rust" for the models of this crate,
    /// "candle" or "libtorch" for the networks.
    pub runtime: String,
    /// The hyperparameters it was trained with (its card's).
    #[serde(default)]
    pub hyperparameters: serde_json::Value,
    /// Which of them differ from the crate's defaults, in words.
    #[serde(default)]
    pub changed_from_defaults: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelsResponse {
    pub models: Vec<ModelInfo>,
}

/// One of the page's example inputs (`GET /api/examples`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub name: String,
    /// pad, scan, photo or typed.
    pub source: String,
    pub label: u8,
    /// A `data:` URL of the PNG or JPEG.
    pub image: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExamplesResponse {
    pub examples: Vec<Example>,
}

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub models: usize,
    /// Whether a digit gate decides `digit_like` (else the models' agreement).
    pub digit_gate: bool,
    /// Predictions waiting for the inference pool now, and its bound.
    pub queued: usize,
    pub queue_limit: usize,
    /// Inference workers running now (`status` is "ok" while one is).
    #[serde(default)]
    pub workers: usize,
    /// The client this request counted as in the rate limits: the peer's
    /// address, or behind `--trusted-proxies N` the X-Forwarded-For entry N
    /// places from the right (an IPv6 address by its /64). Opened from a
    /// browser, it shows whether the proxy setting is right: your own public
    /// address, not the proxy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// Every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// What a [`Client`] call gives instead of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// The server answered with an error status: the code, its `Retry-After`
    /// in seconds (503, 429), and its message ([`ErrorBody`]).
    Status {
        code: u16,
        retry_after: Option<f64>,
        error: String,
    },
    /// No answer: refused, reset or timed-out connection, unreadable body.
    Transport(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Status { code, error, .. } => write!(f, "{code}: {error}"),
            CallError::Transport(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CallError {}

impl From<ureq::Error> for CallError {
    fn from(e: ureq::Error) -> Self {
        match e {
            ureq::Error::Status(code, r) => CallError::Status {
                code,
                retry_after: r.header("Retry-After").and_then(|v| v.parse().ok()),
                error: r
                    .into_json::<ErrorBody>()
                    .map(|b| b.error)
                    .unwrap_or_default(),
            },
            other => CallError::Transport(other.to_string()),
        }
    }
}

/// The one small client of the API, on ureq: what the benchmarks, the load
/// test and the notebook's server handle call the server with.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the server at `base` (`http://127.0.0.1:8000`); each call
    /// gives up after `timeout`.
    pub fn new(base: &str, timeout: std::time::Duration) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            agent: ureq::AgentBuilder::new().timeout(timeout).build(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, CallError> {
        let r = self.agent.get(&format!("{}{path}", self.base)).call()?;
        r.into_json()
            .map_err(|e| CallError::Transport(format!("GET {path}: {e}")))
    }

    /// `GET /healthz`.
    pub fn health(&self) -> Result<Health, CallError> {
        self.get("/healthz")
    }

    /// `GET /api/models`.
    pub fn models(&self) -> Result<ModelsResponse, CallError> {
        self.get("/api/models")
    }

    /// `GET /api/examples`.
    pub fn examples(&self) -> Result<ExamplesResponse, CallError> {
        self.get("/api/examples")
    }

    /// `GET /api/map`.
    pub fn map(&self) -> Result<MapResponse, CallError> {
        self.get("/api/map")
    }

    /// `POST /api/predict`.
    pub fn predict(&self, request: &PredictRequest) -> Result<PredictResponse, CallError> {
        let r = self
            .agent
            .post(&format!("{}/api/predict", self.base))
            .send_json(request)?;
        r.into_json()
            .map_err(|e| CallError::Transport(format!("POST /api/predict: {e}")))
    }

    /// `POST /api/explain`: one model's explanation (`request.model` names it).
    pub fn explain(&self, request: &PredictRequest) -> Result<Explanation, CallError> {
        let r = self
            .agent
            .post(&format!("{}/api/explain", self.base))
            .send_json(request)?;
        r.into_json()
            .map_err(|e| CallError::Transport(format!("POST /api/explain: {e}")))
    }

    /// `POST /api/predict` with a request already serialized (a load test
    /// sends the same one again and again); the answer is read and dropped.
    pub fn predict_json(&self, body: &str) -> Result<(), CallError> {
        let r = self
            .agent
            .post(&format!("{}/api/predict", self.base))
            .set("Content-Type", "application/json")
            .send_string(body)?;
        r.into_string()
            .map(drop)
            .map_err(|e| CallError::Transport(e.to_string()))
    }
}

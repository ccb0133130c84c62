//! The web API's request and response types, for the server and for every
//! client in the repo (the benchmarks, the tests).

use serde::{Deserialize, Serialize};

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
    /// the models' [`agreement`](super::pool::agreement) (`digit_like` at
    /// least [`DIGIT_LIKE_MIN`](super::pool::DIGIT_LIKE_MIN)).
    pub digit_score: f32,
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
}

/// Every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

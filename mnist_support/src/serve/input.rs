//! What a request sends, as the 784 pixel values the models take.

use axum::http::StatusCode;
use base64::Engine;

use super::api::PredictRequest;
use super::ApiError;
use crate::data::PIXELS;
use crate::preprocess;

/// A request's input, checked before it is queued.
#[derive(Debug)]
pub enum Input {
    /// 784 pixel values 0–255, not all 0.
    Pixels(Vec<f32>),
    /// A PNG or JPEG whose header was read: its bytes, its size, and for a
    /// JPEG its scans.
    Image {
        bytes: Vec<u8>,
        width: u32,
        height: u32,
        /// Start-of-scan segments of a JPEG (1 for a PNG).
        scans: usize,
    },
}

/// What the raw 784 values of a `pixels` request count as, in megapixels:
/// about what a 280×280 drawing from the page costs to preprocess.
pub const PIXELS_COST: f64 = 0.08;

/// The scans a JPEG decodes in the time of one pass over its pixels: a
/// baseline JPEG has one scan (three when its colours are not interleaved),
/// a progressive one each of its scans, so a progressive JPEG of many scans
/// is charged for every [`SCANS_PER_PASS`] of them.
pub const SCANS_PER_PASS: usize = 3;

impl Input {
    /// The request's input, checked as far as it can be without decoding a
    /// picture: one of `image` or `pixels`, 784 values in range, base64 that
    /// decodes to a PNG or JPEG no more than [`preprocess::MAX_SIDE`] a side
    /// (read from its header). 400 for a malformed request, 413 for a picture
    /// too large, 422 for one that cannot be read.
    pub fn admit(req: &PredictRequest) -> Result<Input, ApiError> {
        match (&req.image, &req.pixels) {
            (Some(_), Some(_)) => Err(ApiError::bad(
                "send either \"image\" or \"pixels\", not both",
            )),
            (None, None) => Err(ApiError::bad(
                "send \"image\" (base64 PNG/JPEG) or \"pixels\" (784 values 0-255)",
            )),
            (None, Some(p)) => {
                if p.len() != PIXELS {
                    return Err(ApiError::bad(format!(
                        "\"pixels\" must hold 784 values (28×28), got {}",
                        p.len()
                    )));
                }
                if p.iter().any(|v| !v.is_finite() || *v < 0.0 || *v > 255.0) {
                    return Err(ApiError::bad(
                        "\"pixels\" values must be numbers from 0 to 255",
                    ));
                }
                if p.iter().all(|&v| v == 0.0) {
                    return Err(ApiError::bad("the image is empty: all 784 pixels are 0"));
                }
                Ok(Input::Pixels(p.clone()))
            }
            (Some(text), None) => {
                let b64 = match text.split_once(',') {
                    Some((head, rest)) if head.starts_with("data:") => rest,
                    _ => text.as_str(),
                };
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| ApiError::bad(format!("\"image\" is not valid base64: {e}")))?;
                let (width, height) = preprocess::image_size(&bytes)
                    .map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
                let max = preprocess::MAX_SIDE;
                if width > max || height > max {
                    return Err(ApiError(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("the picture is {width}×{height}; at most {max} pixels a side are accepted: scale it down"),
                    ));
                }
                let scans = preprocess::jpeg_scans(&bytes).unwrap_or(1);
                Ok(Input::Image {
                    bytes,
                    width,
                    height,
                    scans,
                })
            }
        }
    }

    /// What preprocessing it costs, in megapixels: a picture's pixels, once
    /// for every [`SCANS_PER_PASS`] scans of a JPEG's.
    pub fn megapixels(&self) -> f64 {
        match self {
            Input::Pixels(_) => PIXELS_COST,
            Input::Image {
                width,
                height,
                scans,
                ..
            } => {
                let passes = scans.div_ceil(SCANS_PER_PASS).max(1) as f64;
                (*width as f64 * *height as f64 / 1e6 * passes).max(PIXELS_COST)
            }
        }
    }

    /// The 784 pixel values the models take: the picture through
    /// [`preprocess`] (422 for one that cannot be read or holds no digit).
    pub fn pixels(self) -> Result<Vec<f32>, ApiError> {
        match self {
            Input::Pixels(p) => Ok(p),
            Input::Image { bytes, .. } => {
                let unreadable =
                    |e: crate::Error| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
                let gray = preprocess::decode_image(&bytes).map_err(unreadable)?;
                preprocess::to_mnist(&gray).map_err(unreadable)
            }
        }
    }
}

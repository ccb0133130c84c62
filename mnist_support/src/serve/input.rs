//! What a request sends, as the 784 pixel values the models take.

use axum::http::StatusCode;
use base64::Engine;

use super::api::PredictRequest;
use super::ApiError;
use crate::data::PIXELS;
use crate::preprocess;

/// The request's picture through [`preprocess`], or its 784 pixel values
/// checked; 400 for a malformed request, 422 for a picture that cannot be
/// read or holds no digit.
pub fn pixels(req: &PredictRequest) -> Result<Vec<f32>, ApiError> {
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
            Ok(p.clone())
        }
        (Some(text), None) => {
            let b64 = match text.split_once(',') {
                Some((head, rest)) if head.starts_with("data:") => rest,
                _ => text.as_str(),
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| ApiError::bad(format!("\"image\" is not valid base64: {e}")))?;
            let unreadable =
                |e: crate::Error| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
            let gray = preprocess::decode_image(&bytes).map_err(unreadable)?;
            preprocess::to_mnist(&gray).map_err(unreadable)
        }
    }
}

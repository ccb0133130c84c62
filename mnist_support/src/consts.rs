//! The shape of the data, below everything else: 28×28 pixels of a byte
//! each, ten digits.

/// Side of an MNIST image in pixels.
pub const SIDE: usize = 28;
/// Pixels per image (rows of the data matrices).
pub const PIXELS: usize = SIDE * SIDE;
/// The ten digits.
pub const CLASSES: usize = 10;
/// Training images in the full split (the other 5,000 of MNIST's 60,000
/// training images are the validation split).
pub const TRAIN_ROWS: usize = 55_000;

/// A pixel value rounded and clamped to a byte: `v.round()` (ties away from
/// zero) saturated to `0..=255`, NaN to 0. The bytes a model saw (an
/// explanation's input, the server's answer, kNN's and the SVM's pictures)
/// and the trees' bins (`models::cart`'s `quantize`, for training data and
/// prediction alike).
#[inline]
pub fn to_byte(v: f32) -> u8 {
    // `v + 0.5` is exact in f64, and `as` truncates toward zero, saturates
    // and maps NaN to 0. Unlike `round`, which is a libm call without
    // SSE4.1, this vectorizes.
    (f64::from(v) + 0.5) as u8
}

//! The shape of the data, below everything else: 28×28 pixels, ten digits.

/// Side of an MNIST image in pixels.
pub const SIDE: usize = 28;
/// Pixels per image (rows of the data matrices).
pub const PIXELS: usize = SIDE * SIDE;
/// The ten digits.
pub const CLASSES: usize = 10;
/// Training images in the full split (the other 5,000 of MNIST's 60,000
/// training images are the validation split).
pub const TRAIN_ROWS: usize = 55_000;

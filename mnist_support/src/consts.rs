//! The shape of the data, below everything else: 28×28 pixels, ten digits.

/// Side of an MNIST image in pixels.
pub const SIDE: usize = 28;
/// Pixels per image (rows of the data matrices).
pub const PIXELS: usize = SIDE * SIDE;
/// The ten digits.
pub const CLASSES: usize = 10;

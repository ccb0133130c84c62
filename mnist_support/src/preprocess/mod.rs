//! From what people send to what the models were trained on: one path,
//! shared by the web page, the API, the real-inputs benchmark and the tests,
//! that turns a drawing on the pad, a scan or phone photo of a digit on
//! paper, or a typed digit into an MNIST-like 28×28 image (0 = background,
//! 255 = ink).
//!
//! 1. **Decode** ([`decode_image`]): PNG or JPEG, colour to luminance,
//!    transparent pixels over white, a JPEG's EXIF orientation applied
//!    (phone photos), sizes and allocations bounded (no decompression bombs);
//!    images larger than [`WORK_LIMIT`] pixels a side are shrunk first.
//! 2. **Polarity**: against the local paper level (the median of each cell
//!    of a coarse grid, so that a gradient of light does not count), ink is
//!    the longer tail: the image is inverted (dark ink on light paper)
//!    unless light outliers reach well further than dark ones. A dense
//!    two-tone picture (both of Otsu's classes a fifth of it or more, far
//!    apart: a digit cropped at its ink, a marker, a black font) is taken as
//!    dark ink on light paper, since there the tails cannot tell.
//! 3. **Background removal**: the paper's level is estimated on a coarse grid
//!    (a low percentile per cell, a median over neighbouring cells, bilinear
//!    in between, extrapolated into the corners) and subtracted, which
//!    removes grey paper, uneven light and vignetting; in a dense picture,
//!    where that percentile would be the ink, by a grey-level opening
//!    (`paper_under_ink`), and the ink threshold is then Otsu's split. A
//!    picture the grid leaves blank (a thick marker over most cells) goes
//!    the dense way too before it is called blank.
//! 4. **Ink**: what is left of the paper is noise around its median; ink
//!    stands five robust deviations above it, and the threshold lies halfway
//!    between the paper and the ink's level. No such ink, or ink less than
//!    [`MIN_CONTRAST`] above the paper, means no digit ([`Error::NoDigit`]).
//!    Connected components of the ink are kept when they carry at least
//!    [`MIN_PART`] of the largest one's ink (their levels above the
//!    threshold, summed), so specks, noise and what is left of uneven light
//!    in a photo's corners drop out; the ink is stretched so that strokes
//!    reach 255, as in MNIST.
//! 5. **Crop** to the kept ink, resampled (anti-aliased) so that its longer
//!    side is [`WORK`] pixels, and the ink evened out: each pixel against the
//!    ink's local level, so that a stroke crossing a shadow is as dark at
//!    one end as at the other (MNIST's strokes are solid).
//! 6. **Stroke width**: estimated from the distance transform (mean distance
//!    of ink pixels to the background), then thickened or thinned with a
//!    disk to [`MNIST_STROKE`] of the digit's longer side, the median of the
//!    MNIST training digits measured the same way; so a 20 px brush on a
//!    small drawing, a thin pen on a large photo and a bold font all reach
//!    the models with MNIST's strokes.
//! 7. **MNIST's own recipe**: fit into 20×20 keeping the aspect ratio,
//!    anti-aliased, and place in 28×28 with the centre of mass at the centre.
//!
//! [`steps`] returns every intermediate image (for the figure in the README
//! and notebook 05); [`to_mnist`] only the result. The model's own scaler is
//! applied afterwards, by the model.

use image::imageops::{self, FilterType};
use image::{GrayImage, Luma};
use imageproc::distance_transform::euclidean_squared_distance_transform;
use imageproc::morphology::{grayscale_dilate, grayscale_erode, Mask};
use imageproc::region_labelling::{connected_components, Connectivity};

use crate::consts::{PIXELS, SIDE};
use crate::error::{Error, Result};
use crate::scale::round;

mod decode;
mod ink;
mod paper;
mod stroke;

pub use decode::{decode_image, image_size, jpeg_scans};
use ink::{bbox, clean, even_out, fit_long_side, stretch};
use paper::{dense_two_tone, orient, remove_background};
use stroke::{centre, normalise_stroke};
pub use stroke::{mnist_stroke_ratio, mnist_to_gray, stroke_width};

/// A grayscale image: `pixels[y * width + x]`, 0 = black, 255 = white.
#[derive(Debug, Clone, PartialEq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// The digit's longer side inside the 28×28 field.
pub(super) const BOX: u32 = 20;
/// Longer side of the cropped digit while its strokes are normalised.
pub const WORK: u32 = 80;
/// Larger inputs are shrunk to this many pixels a side before anything else.
pub const WORK_LIMIT: u32 = 1024;
/// MNIST's stroke width as a fraction of the digit's longer side: the median
/// over the training digits of [`stroke_width`] on their 20-pixel box brought
/// to [`WORK`] pixels (`cargo run --release --example stroke_ratio` measures
/// it; `tests/it/serve.rs` checks it against the real files).
pub const MNIST_STROKE: f32 = 0.124;
/// Ink components carrying less than this fraction of the largest one's ink
/// (levels above the threshold, summed) are noise.
pub const MIN_PART: f32 = 0.08;
/// Ink must stand this far (0–255) above what is left of the paper.
pub const MIN_CONTRAST: f32 = 24.0;
/// Largest decoded image side.
pub const MAX_SIDE: u32 = 4096;

impl Gray {
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Result<Gray> {
        if width == 0 || height == 0 || pixels.len() != width * height {
            return Err(Error::Shape(format!(
                "{} pixels for a {width}×{height} image",
                pixels.len()
            )));
        }
        Ok(Gray {
            width,
            height,
            pixels,
        })
    }

    fn image(&self) -> GrayImage {
        GrayImage::from_raw(self.width as u32, self.height as u32, self.pixels.clone())
            .expect("Gray::new checked the size")
    }

    pub(crate) fn from_image(img: GrayImage) -> Gray {
        let (w, h) = img.dimensions();
        Gray {
            width: w as usize,
            height: h as usize,
            pixels: img.into_raw(),
        }
    }
}

/// Every stage of [`to_mnist`], as light-background pictures except the last.
#[derive(Debug, Clone)]
pub struct Steps {
    /// The input (shrunk to at most [`WORK_LIMIT`] a side).
    pub input: Gray,
    /// Ink after polarity and background removal (white = ink), before cleaning.
    pub background_removed: Gray,
    /// The kept ink, stretched, cropped and evened out, [`WORK`] pixels on its longer side.
    pub cropped: Gray,
    /// The crop with MNIST's stroke width.
    pub stroke_normalised: Gray,
    /// Stroke width of the crop before and after, in `WORK` pixels.
    pub stroke_before: f32,
    pub stroke_after: f32,
    /// The 784 values the models see (0 = background, 255 = ink).
    pub mnist: Vec<f32>,
}

/// Preprocess a digit image into 784 MNIST-style pixel values (0–255).
pub fn to_mnist(img: &Gray) -> Result<Vec<f32>> {
    Ok(steps(img)?.mnist)
}

/// Preprocess a digit image, keeping every intermediate image.
pub fn steps(img: &Gray) -> Result<Steps> {
    let mut input = img.image();
    let (w, h) = input.dimensions();
    if w.max(h) > WORK_LIMIT {
        let s = WORK_LIMIT as f32 / w.max(h) as f32;
        let (nw, nh) = (
            ((w as f32 * s).round() as u32).max(1),
            ((h as f32 * s).round() as u32).max(1),
        );
        input = imageops::resize(&input, nw, nh, FilterType::Triangle);
    }
    let dense = dense_two_tone(&input);
    let ink_of = |dense: bool| {
        let ink = remove_background(&orient(&input, dense), dense);
        clean(&ink, dense).map(|kept| (ink, kept))
    };
    // Where the grid's paper level takes the ink away (a thick marker that
    // covers most cells), the paper cannot be estimated that way: the dense
    // path's opening stands in before the picture is called blank.
    let (ink, mut kept) = match ink_of(dense) {
        Err(Error::NoDigit(_)) if !dense => ink_of(true)?,
        other => other?,
    };
    // Crop, then bring the longer side to WORK pixels.
    let (x0, y0, x1, y1) = bbox(&kept, 1).ok_or_else(no_digit)?;
    let crop = imageops::crop_imm(&kept, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    kept = fit_long_side(&crop, WORK);
    stretch(&mut kept);
    even_out(&mut kept);
    let stroke_before = stroke_width(&kept);
    // A disk changes the measured width by about its diameter; a second
    // pass corrects what the first one missed.
    let mut normalised = normalise_stroke(&kept, stroke_before);
    let mut stroke_after = stroke_width(&normalised);
    if (stroke_after - MNIST_STROKE * WORK as f32).abs() >= 2.0 {
        normalised = normalise_stroke(&normalised, stroke_after);
        stroke_after = stroke_width(&normalised);
    }
    let (x0, y0, x1, y1) = bbox(&normalised, 40).ok_or_else(no_digit)?;
    let digit = imageops::crop_imm(&normalised, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    let mnist = centre(&fit_long_side(&digit, BOX));
    let light = |g: &GrayImage| {
        let mut g = g.clone();
        imageops::invert(&mut g);
        Gray::from_image(g)
    };
    Ok(Steps {
        input: Gray::from_image(input),
        background_removed: light(&ink),
        cropped: light(&kept),
        stroke_normalised: light(&normalised),
        stroke_before,
        stroke_after,
        mnist,
    })
}

pub(super) fn no_digit() -> Error {
    Error::NoDigit("no ink found (draw or upload a digit)".into())
}

//! MNIST-style preprocessing of a drawn or uploaded digit, shared by the web
//! page and the API: grayscale in, 28×28 pixels out (0 = background,
//! 255 = ink), prepared the way the MNIST digits were:
//!
//! 1. ink polarity: if the border is mostly light the image is dark-on-light
//!    and gets inverted, so ink is bright;
//! 2. crop to the bounding box of the ink;
//! 3. scale it (area averaging) so its longer side is 20 pixels, keeping the
//!    aspect ratio;
//! 4. place it in a 28×28 field so that its centre of mass is the centre.
//!
//! The model's own scaler is applied afterwards, by the model.

use crate::data::{PIXELS, SIDE};
use crate::error::{Error, Result};

/// A grayscale image: `pixels[y * width + x]`, 0 = black, 255 = white.
#[derive(Debug, Clone, PartialEq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// Ink below this (after inversion) counts as background when looking for the digit.
const INK: u8 = 40;
/// The digit's longer side inside the 28×28 field.
const BOX: usize = 20;

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

    /// Ink intensity (0 = none, 255 = full), inverting dark-on-light images.
    pub fn ink(&self) -> Vec<f32> {
        let (w, h) = (self.width, self.height);
        let border: Vec<u8> = (0..w)
            .flat_map(|x| [self.pixels[x], self.pixels[(h - 1) * w + x]])
            .chain((0..h).flat_map(|y| [self.pixels[y * w], self.pixels[y * w + w - 1]]))
            .collect();
        let light = border.iter().filter(|&&v| v > 127).count() * 2 > border.len();
        self.pixels
            .iter()
            .map(|&v| if light { 255 - v } else { v } as f32)
            .collect()
    }
}

/// Preprocess a digit image into 784 MNIST-style pixel values (0–255).
pub fn to_mnist(img: &Gray) -> Result<Vec<f32>> {
    let ink = img.ink();
    let (w, h) = (img.width, img.height);
    let mut bbox: Option<(usize, usize, usize, usize)> = None;
    for y in 0..h {
        for x in 0..w {
            if ink[y * w + x] >= INK as f32 {
                let b = bbox.get_or_insert((x, y, x, y));
                *b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
            }
        }
    }
    let Some((x0, y0, x1, y1)) = bbox else {
        return Err(Error::Param(
            "the image is empty: no ink found (draw or upload a digit)".into(),
        ));
    };
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    let scale = BOX as f32 / bw.max(bh) as f32;
    let tw = ((bw as f32 * scale).round() as usize).clamp(1, BOX);
    let th = ((bh as f32 * scale).round() as usize).clamp(1, BOX);
    // Area-average resampling of the crop into tw×th.
    let mut small = vec![0f32; tw * th];
    let (sx, sy) = (bw as f32 / tw as f32, bh as f32 / th as f32);
    for ty in 0..th {
        let (fy0, fy1) = (ty as f32 * sy, (ty + 1) as f32 * sy);
        for tx in 0..tw {
            let (fx0, fx1) = (tx as f32 * sx, (tx + 1) as f32 * sx);
            let (mut sum, mut area) = (0f32, 0f32);
            let mut yy = fy0.floor() as usize;
            while (yy as f32) < fy1 && yy < bh {
                let wy = (fy1.min(yy as f32 + 1.0) - fy0.max(yy as f32)).max(0.0);
                let mut xx = fx0.floor() as usize;
                while (xx as f32) < fx1 && xx < bw {
                    let wx = (fx1.min(xx as f32 + 1.0) - fx0.max(xx as f32)).max(0.0);
                    sum += wx * wy * ink[(y0 + yy) * w + x0 + xx];
                    area += wx * wy;
                    xx += 1;
                }
                yy += 1;
            }
            small[ty * tw + tx] = if area > 0.0 { sum / area } else { 0.0 };
        }
    }
    // Centre of mass of the scaled digit.
    let (mut m, mut cx, mut cy) = (0f32, 0f32, 0f32);
    for y in 0..th {
        for x in 0..tw {
            let v = small[y * tw + x];
            m += v;
            cx += v * (x as f32 + 0.5);
            cy += v * (y as f32 + 0.5);
        }
    }
    let (cx, cy) = if m > 0.0 {
        (cx / m, cy / m)
    } else {
        (tw as f32 / 2.0, th as f32 / 2.0)
    };
    let ox = (SIDE as f32 / 2.0 - cx).round() as i64;
    let oy = (SIDE as f32 / 2.0 - cy).round() as i64;
    let mut out = vec![0f32; PIXELS];
    for y in 0..th {
        for x in 0..tw {
            let (px, py) = (x as i64 + ox, y as i64 + oy);
            if (0..SIDE as i64).contains(&px) && (0..SIDE as i64).contains(&py) {
                out[py as usize * SIDE + px as usize] = small[y * tw + x].clamp(0.0, 255.0);
            }
        }
    }
    Ok(out)
}

/// An MNIST image (784 values, 0 = background) as a light-background
/// grayscale picture, e.g. to test preprocessing on shifted or scaled digits.
pub fn mnist_to_gray(
    pixels: &[f32],
    scale: usize,
    dx: usize,
    dy: usize,
    width: usize,
    height: usize,
) -> Result<Gray> {
    if pixels.len() != PIXELS
        || scale == 0
        || dx + SIDE * scale > width
        || dy + SIDE * scale > height
    {
        return Err(Error::Shape(
            "the scaled digit does not fit the canvas".into(),
        ));
    }
    let mut g = vec![255u8; width * height];
    for y in 0..SIDE * scale {
        for x in 0..SIDE * scale {
            let v = pixels[(y / scale) * SIDE + x / scale].clamp(0.0, 255.0) as u8;
            g[(dy + y) * width + dx + x] = 255 - v;
        }
    }
    Gray::new(width, height, g)
}

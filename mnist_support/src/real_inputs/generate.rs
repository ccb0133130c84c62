//! Generating the real inputs (see the module above): skeletons of MNIST
//! validation digits redrawn with a brush or a pen, and typed digits.

use crate::fonts::typed;
use image::{GrayImage, Luma, RgbImage};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::picture::{cover_box, dark_box, Canvas, Picture, Send};
use super::skeleton::{skeleton, Path};
use super::{Crop, Sample, Set, Source};
use crate::data::Split;
use crate::error::{Error, Result};
use ndarray::{ArrayView1, ArrayView2};

/// The label of a [`non_digits`] sample.
pub const NOT_A_DIGIT: u8 = u8::MAX;

/// `per_source` inputs of each source (typed and bold: `per_source` too,
/// fonts and digits in turn), uncropped, in a fixed order; the same arguments
/// give the same bytes.
pub fn generate(split: &Split, set: Set, per_source: usize) -> Result<Vec<Sample>> {
    generate_crops(split, set, per_source, &[Crop::Uncropped])
}

/// [`generate`], each input also cropped at every [`Crop`] (five files per input).
pub fn generate_with_crops(split: &Split, set: Set, per_source: usize) -> Result<Vec<Sample>> {
    generate_crops(split, set, per_source, &Crop::ALL)
}

fn generate_crops(
    split: &Split,
    set: Set,
    per_source: usize,
    crops: &[Crop],
) -> Result<Vec<Sample>> {
    // Dev and held-out draw validation digits at even and odd positions;
    // training draws training digits.
    let (x, y) = match set {
        Set::Train => (&split.x_train, &split.y_train),
        _ => (&split.x_valid, &split.y_valid),
    };
    generate_from(x.view(), y.view(), set, per_source, crops)
}

/// [`generate`] from the digits `x`, `y` (for [`Set::Train`], all of them,
/// taken again in another hand when there are fewer than the drawn sources
/// need; for dev and held-out, the even or the odd positions).
pub fn generate_from(
    x: ArrayView2<f32>,
    y: ArrayView1<u8>,
    set: Set,
    per_source: usize,
    crops: &[Crop],
) -> Result<Vec<Sample>> {
    let seed: u64 = match set {
        Set::Dev => 0x5eed_de00,
        Set::Heldout => 0x5eed_4e1d,
        Set::Train => 0x5eed_7a1e,
    };
    let mut pool: Vec<usize> = (0..x.nrows())
        .filter(|i| match set {
            Set::Dev => i % 2 == 0,
            Set::Heldout => i % 2 == 1,
            Set::Train => true,
        })
        .collect();
    {
        use rand::seq::SliceRandom;
        pool.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    }
    let drawn = Source::ALL.iter().filter(|s| !s.is_typed()).count();
    if set == Set::Train && !pool.is_empty() {
        let n = pool.len();
        pool = (0..drawn * per_source).map(|i| pool[i % n]).collect();
    }
    if pool.len() < drawn * per_source {
        return Err(Error::Shape(format!(
            "{} {} digits for {} generated inputs",
            pool.len(),
            if set == Set::Train {
                "training"
            } else {
                "validation"
            },
            drawn * per_source
        )));
    }
    let (fonts, bold) = set.fonts()?;
    let mut out = Vec::with_capacity(Source::ALL.len() * per_source * crops.len());
    for (s, source) in Source::ALL.into_iter().enumerate() {
        // The drawn sources take the pool's digits in turn.
        let first_digit = Source::ALL[..s].iter().filter(|s| !s.is_typed()).count() * per_source;
        let one = |i: usize| -> Result<Vec<Sample>> {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((s as u64) << 40) ^ i as u64);
            let mut tag = String::new();
            let (label, picture) = if source.is_typed() {
                let label = (i % 10) as u8;
                let fonts = if source == Source::Bold && !bold.is_empty() {
                    &bold
                } else {
                    &fonts
                };
                let (font_name, font) = &fonts[(i / 10) % fonts.len()];
                tag = format!("-{}", font_name.split_whitespace().next().unwrap_or(""));
                let mut img = typed(font, char::from(b'0' + label), &mut rng);
                if source == Source::Bold && i % 2 == 1 {
                    img = embolden(&img, &mut rng);
                    tag.push_str("-black");
                }
                let ink = dark_box(&img, 128);
                (
                    label,
                    Picture {
                        canvas: Canvas::Gray(img),
                        ink,
                    },
                )
            } else {
                let k = pool[first_digit + i];
                let row = x.row(k).to_vec();
                let label = y[k];
                let path = distort(&skeleton(&row), &mut rng);
                (label, draw(source, &path, &mut rng))
            };
            picture.samples(crops, source, label, |cut, ext| {
                format!("{}-{i:04}-label{label}{tag}{cut}.{ext}", source.name())
            })
        };
        // Each input is seeded alone: the same bytes on any number of threads.
        let made: Vec<Vec<Sample>> = (0..per_source)
            .into_par_iter()
            .map(one)
            .collect::<Result<_>>()?;
        out.extend(made.into_iter().flatten());
    }
    Ok(out)
}

/// A drawn source's picture of `path`.
pub(super) fn draw(source: Source, path: &Path, rng: &mut ChaCha8Rng) -> Picture {
    match source {
        Source::Pad => {
            let (img, ink) = pad(path, rng);
            Picture {
                canvas: Canvas::Gray(img),
                ink,
            }
        }
        Source::Scan => {
            let (img, ink) = paper(path, Style::Scan, rng);
            let send = if rng.gen_bool(0.5) {
                Send::Png
            } else {
                Send::Jpeg(92, None)
            };
            Picture {
                canvas: Canvas::Rgb(img, send),
                ink,
            }
        }
        _ => {
            let style = if source == Source::Marker {
                Style::Marker
            } else {
                Style::Photo
            };
            let (img, ink) = paper(path, style, rng);
            let q = rng.gen_range(55..=85);
            let sideways = rng.gen_bool(1.0 / 3.0);
            Picture {
                canvas: Canvas::Rgb(img, Send::Jpeg(q, sideways.then_some(6))),
                ink,
            }
        }
    }
}

/// Heavier strokes for a typed digit (dark on light): a grey-level erosion
/// by 3–7% of the picture's height, as black font weights are.
fn embolden(img: &GrayImage, rng: &mut ChaCha8Rng) -> GrayImage {
    let (_, y0, _, y1) = dark_box(img, 128);
    let r = (rng.gen_range(0.03f32..0.07) * (y1.saturating_sub(y0) + 1) as f32)
        .round()
        .clamp(1.0, 30.0) as u8;
    imageproc::morphology::grayscale_erode(img, &imageproc::morphology::Mask::disk(r))
}

/// A segment list as points no further apart than `step`.
fn trace(segments: &[((f32, f32), (f32, f32))], step: f32) -> Vec<(f32, f32)> {
    let mut points = Vec::new();
    for &((x0, y0), (x1, y1)) in segments {
        let len = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
        let k = (len / step).ceil().max(1.0) as usize;
        for i in 0..=k {
            let t = i as f32 / k as f32;
            points.push((x0 + t * (x1 - x0), y0 + t * (y1 - y0)));
        }
    }
    points
}

/// Another hand: rotation, shear, width, and a slow wobble, about the centre.
pub(super) fn distort(path: &Path, rng: &mut ChaCha8Rng) -> Path {
    let angle = rng.gen_range(-15f32..15.0).to_radians();
    let shear = rng.gen_range(-0.35f32..0.35);
    let width = rng.gen_range(0.75f32..1.2);
    let (amp, wave, phase) = (
        rng.gen_range(0.0f32..0.8),
        rng.gen_range(6f32..14.0),
        rng.gen_range(0f32..std::f32::consts::TAU),
    );
    let (c, s) = (angle.cos(), angle.sin());
    let map = |(x, y): (f32, f32)| {
        let (x, y) = (x - 14.0, y - 14.0);
        let x = (x + shear * y) * width + amp * (y / wave * std::f32::consts::TAU + phase).sin();
        let y = y + amp * (x / wave * std::f32::consts::TAU + phase).cos();
        (c * x - s * y, s * x + c * y)
    };
    path.iter().map(|&(a, b)| (map(a), map(b))).collect()
}

/// Turn a path by `angle` radians about the origin.
fn rotate(path: &Path, angle: f32) -> Path {
    let (c, s) = (angle.cos(), angle.sin());
    let r = |(x, y): (f32, f32)| (c * x - s * y, s * x + c * y);
    path.iter().map(|&(a, b)| (r(a), r(b))).collect()
}

/// Map a path into a box of `size` pixels (its longer extent) at a random
/// place of a `w`×`h` canvas, at least `margin` from its edges.
fn place(path: &Path, size: f32, w: f32, h: f32, margin: f32, rng: &mut ChaCha8Rng) -> Path {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &(a, b) in path {
        for (x, y) in [a, b] {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    let k = size / (x1 - x0).max(y1 - y0).max(1e-3);
    let (bw, bh) = ((x1 - x0) * k, (y1 - y0) * k);
    let ox = rng.gen_range(margin..(w - bw - margin).max(margin + 1.0));
    let oy = rng.gen_range(margin..(h - bh - margin).max(margin + 1.0));
    let m = |(x, y): (f32, f32)| (ox + (x - x0) * k, oy + (y - y0) * k);
    path.iter().map(|&(a, b)| (m(a), m(b))).collect()
}

/// Ink coverage (0–1) of round dabs of `radius` at every point, anti-aliased.
fn dabs(points: &[(f32, f32)], radius: f32, w: u32, h: u32) -> Vec<f32> {
    let mut cover = vec![0f32; (w * h) as usize];
    let reach = radius + 1.0;
    for &(px, py) in points {
        let (xa, xb) = (
            (px - reach).floor().max(0.0) as u32,
            ((px + reach).ceil() as u32).min(w),
        );
        let (ya, yb) = (
            (py - reach).floor().max(0.0) as u32,
            ((py + reach).ceil() as u32).min(h),
        );
        for y in ya..yb {
            for x in xa..xb {
                let d = ((x as f32 + 0.5 - px).powi(2) + (y as f32 + 0.5 - py).powi(2)).sqrt();
                let c = (radius + 0.5 - d).clamp(0.0, 1.0);
                let v = &mut cover[(y * w + x) as usize];
                *v = v.max(c);
            }
        }
    }
    cover
}

/// The page's pad: 280×280 white, black 20 px round brush, the digit 35–90%
/// of the pad tall, anywhere on it; and where its ink is.
fn pad(path: &Path, rng: &mut ChaCha8Rng) -> (GrayImage, (u32, u32, u32, u32)) {
    const SIZE: u32 = 280;
    let size = rng.gen_range(0.35f32..0.9) * SIZE as f32;
    let placed = place(path, size, SIZE as f32, SIZE as f32, 4.0, rng);
    let cover = dabs(&trace(&placed, 2.0), 10.0, SIZE, SIZE);
    let img = GrayImage::from_fn(SIZE, SIZE, |x, y| {
        Luma([(255.0 * (1.0 - cover[(y * SIZE + x) as usize])).round() as u8])
    });
    (img, cover_box(&cover, SIZE))
}

/// How [`paper`] writes and lights the digit.
#[derive(Clone, Copy, PartialEq)]
enum Style {
    /// A thin pen on white paper, scanned.
    Scan,
    /// A thin pen on grey paper, photographed.
    Photo,
    /// A thick marker (strokes 10–24% of the digit's size), photographed.
    Marker,
}

/// Pen on paper: a scan (white paper, even light) or a photo (grey paper,
/// gradient and vignette, blur, stronger noise).
fn paper(path: &Path, style: Style, rng: &mut ChaCha8Rng) -> (RgbImage, (u32, u32, u32, u32)) {
    let photo = style != Style::Scan;
    let (w, h) = if photo {
        if rng.gen_bool(0.5) {
            (640u32, 480u32)
        } else {
            (480, 640)
        }
    } else {
        (600, 400)
    };
    let size = rng.gen_range(0.35f32..0.8) * w.min(h) as f32;
    // A slight tilt of the sheet on top of the hand's own slant.
    let tilt = rng
        .gen_range(if photo { -8f32..8.0 } else { -3.0..3.0 })
        .to_radians();
    let placed = place(
        &rotate(path, tilt),
        size,
        w as f32,
        h as f32,
        0.08 * w.min(h) as f32,
        rng,
    );
    let pen = match style {
        Style::Scan => rng.gen_range(0.8f32..2.5),
        Style::Photo => rng.gen_range(1.0f32..3.0),
        // A radius of 5–12% of the digit's size: strokes 10–24% of it.
        Style::Marker => rng.gen_range(0.05f32..0.12) * size,
    };
    let cover = dabs(&trace(&placed, (pen / 2.0).max(0.4)), pen, w, h);
    let ink: [f32; 3] = if rng.gen_bool(0.5) {
        [25.0, 25.0, 35.0]
    } else {
        [35.0, 50.0, 150.0]
    };
    let base = if photo {
        rng.gen_range(130f32..200.0)
    } else {
        rng.gen_range(238f32..252.0)
    };
    let tint = [
        1.0,
        rng.gen_range(0.96f32..1.0),
        rng.gen_range(0.88f32..0.98),
    ];
    let (gx, gy) = {
        let a = rng.gen_range(0f32..std::f32::consts::TAU);
        let g = if photo {
            rng.gen_range(0.2f32..0.5)
        } else {
            0.0
        };
        (g * a.cos(), g * a.sin())
    };
    let vignette = if photo {
        rng.gen_range(0.1f32..0.35)
    } else {
        0.0
    };
    let sigma = if photo { rng.gen_range(4f32..9.0) } else { 2.0 };
    // Sensor noise: one u64 per value, its four 16-bit quarters summed
    // (Irwin–Hall), scaled to a standard deviation of 1. Within ±3.5
    // deviations it follows the normal law closely, and a pixel is clamped
    // to 0–255 anyway; it costs a fraction of Box–Muller's log and cosine.
    let normal = |rng: &mut ChaCha8Rng| {
        let r = rng.next_u64();
        let sum = (r & 0xffff) + (r >> 16 & 0xffff) + (r >> 32 & 0xffff) + (r >> 48);
        (sum as f32 * (1.0 / 65536.0) - 2.0) * 3f32.sqrt()
    };
    let mut img = RgbImage::new(w, h);
    for ((y, row), cover) in img
        .chunks_exact_mut(3 * w as usize)
        .enumerate()
        .zip(cover.chunks_exact(w as usize))
    {
        let v = y as f32 / h as f32 - 0.5;
        for ((x, px), &k) in row.chunks_exact_mut(3).enumerate().zip(cover) {
            let u = x as f32 / w as f32 - 0.5;
            let light =
                (1.0 + gx * u * 2.0 + gy * v * 2.0) * (1.0 - vignette * 2.0 * (u * u + v * v));
            for ch in 0..3 {
                let paper = base * tint[ch];
                let level = (paper * (1.0 - k) + ink[ch] * k) * light + sigma * normal(rng);
                // Rounded to the nearest level (never negative here).
                px[ch] = (level.clamp(0.0, 255.0) + 0.5) as u8;
            }
        }
    }
    if photo {
        img = image::imageops::blur(&img, rng.gen_range(0.6f32..1.2));
    }
    (img, cover_box(&cover, w))
}

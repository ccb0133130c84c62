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
//!    the longer tail: the image is inverted when dark outliers reach further
//!    than light ones (dark ink on light paper). A dense two-tone picture
//!    (both of Otsu's classes a fifth of it or more, far apart: a digit
//!    cropped at its ink, a marker, a black font) is taken as dark ink on
//!    light paper, since there the tails cannot tell.
//! 3. **Background removal**: the paper's level is estimated on a coarse grid
//!    (a low percentile per cell, a median over neighbouring cells, bilinear
//!    in between) and subtracted, which removes grey paper, uneven light and
//!    vignetting; in a dense picture, where that percentile would be the ink,
//!    by a grey-level opening (`paper_under_ink`), and the ink threshold is
//!    then Otsu's split.
//! 4. **Ink**: what is left of the paper is noise around its median; ink
//!    stands five robust deviations above it, and the threshold lies halfway
//!    between the paper and the ink's level. No such ink, or ink less than
//!    [`MIN_CONTRAST`] above the paper, means no digit ([`Error::NoDigit`]).
//!    Connected components of the ink are kept when they are at least
//!    [`MIN_PART`] of the largest one, so specks and noise drop out; the ink
//!    is stretched so that strokes reach 255, as in MNIST.
//! 5. **Crop** to the kept ink, resampled (anti-aliased) so that its longer
//!    side is [`WORK`] pixels.
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

/// A grayscale image: `pixels[y * width + x]`, 0 = black, 255 = white.
#[derive(Debug, Clone, PartialEq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// The digit's longer side inside the 28×28 field.
const BOX: u32 = 20;
/// Longer side of the cropped digit while its strokes are normalised.
pub const WORK: u32 = 80;
/// Larger inputs are shrunk to this many pixels a side before anything else.
pub const WORK_LIMIT: u32 = 1024;
/// MNIST's stroke width as a fraction of the digit's longer side: the median
/// over the training digits of [`stroke_width`] on their 20-pixel box brought
/// to [`WORK`] pixels (`cargo run --release --example stroke_ratio` measures
/// it; `tests/it/serve.rs` checks it against the real files).
pub const MNIST_STROKE: f32 = 0.124;
/// Ink components smaller than this fraction of the largest are noise.
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

/// Decode a PNG or JPEG: colour to luminance, transparency over white, EXIF
/// orientation applied; at most [`MAX_SIDE`] pixels a side and 256 MB of
/// decoding memory.
pub fn decode_image(bytes: &[u8]) -> Result<Gray> {
    let err = |reason: String| Error::Decode {
        what: "the uploaded image".into(),
        reason,
    };
    if bytes.is_empty() {
        return Err(err("it is empty".into()));
    }
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?;
    if reader.format().is_none() {
        return Err(err("it is not a PNG or JPEG image".into()));
    }
    if reader.format() == Some(image::ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        // The decoder would fill the missing rows with grey and answer.
        return Err(err(
            "the JPEG is truncated (no end-of-image marker after its image data)".into(),
        ));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| err(e.to_string()))?;
    let orientation = image::ImageDecoder::orientation(&mut decoder)
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|e| err(e.to_string()))?;
    img.apply_orientation(orientation);
    let rgba = img.to_rgba8();
    let (w, h) = rgba.dimensions();
    let pixels = rgba
        .pixels()
        .map(|p| {
            let [r, g, b, a] = p.0;
            let lum = 0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32;
            let a = a as f32 / 255.0;
            (a * lum + (1.0 - a) * 255.0).round() as u8
        })
        .collect();
    Gray::new(w as usize, h as usize, pixels)
}

/// Whether a JPEG's image data ends: walking its header segments by their
/// lengths (so an EXIF thumbnail inside them is skipped) to the first
/// start-of-scan, then an end-of-image marker (FF D9) after it. Inside the
/// scans a data byte FF is always followed by 00 or a restart marker, so FF D9
/// there is the real end; bytes after it (some phones append data) do not matter.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut i = 2; // after SOI (FF D8)
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            return false;
        }
        let marker = bytes[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
        if marker == 0xDA {
            let scan = (i + 2 + len).min(bytes.len());
            return bytes[scan..].windows(2).any(|w| w == [0xFF, 0xD9]);
        }
        i += 2 + len;
    }
    false
}

/// Every stage of [`to_mnist`], as light-background pictures except the last.
#[derive(Debug, Clone)]
pub struct Steps {
    /// The input (shrunk to at most [`WORK_LIMIT`] a side).
    pub input: Gray,
    /// Ink after polarity and background removal (white = ink), before cleaning.
    pub background_removed: Gray,
    /// The kept ink, stretched and cropped, [`WORK`] pixels on its longer side.
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
    let ink = remove_background(&orient(&input, dense), dense);
    let mut kept = clean(&ink, dense)?;
    // Crop, then bring the longer side to WORK pixels.
    let (x0, y0, x1, y1) = bbox(&kept, 1).ok_or_else(no_digit)?;
    let crop = imageops::crop_imm(&kept, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    kept = fit_long_side(&crop, WORK);
    stretch(&mut kept);
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

fn no_digit() -> Error {
    Error::NoDigit("no ink found (draw or upload a digit)".into())
}

/// The bin at fraction `q` (0–1) of the values counted in `hist`.
fn quantile_bin(hist: &[u64], q: f64) -> usize {
    let total: u64 = hist.iter().sum();
    let target = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (v, &n) in hist.iter().enumerate() {
        seen += n;
        if seen >= target {
            return v;
        }
    }
    hist.len().saturating_sub(1)
}

/// The value at fraction `q` (0–1) of the sorted values.
fn percentile(hist: &[u64; 256], q: f64) -> u8 {
    quantile_bin(hist, q) as u8
}

fn histogram<'a>(values: impl Iterator<Item = &'a u8>) -> [u64; 256] {
    let mut hist = [0u64; 256];
    for &v in values {
        hist[v as usize] += 1;
    }
    hist
}

/// Ink bright. Against the local paper level (the median of each cell, so
/// that a gradient of light does not count), ink is the longer tail: the
/// image is inverted when dark outliers reach further than light ones.
fn orient(img: &GrayImage, dense: bool) -> GrayImage {
    if dense {
        // Ink covering a fifth of the picture or more (a digit cropped at its
        // ink, a marker, a black font): the tails below cannot tell ink from
        // paper, and dark ink on light paper is by far the common case.
        let mut out = img.clone();
        imageops::invert(&mut out);
        return out;
    }
    let paper = background(img, 0.5);
    let mut hist = vec![0u64; 511];
    for (p, b) in img.as_raw().iter().zip(&paper) {
        hist[((*p as f32 - b).round().clamp(-255.0, 255.0) + 255.0) as usize] += 1;
    }
    let at = |q: f64| quantile_bin(&hist, q) as f32 - 255.0;
    let (dark, light) = (-at(0.002), at(0.998));
    let mut out = img.clone();
    if dark > light {
        imageops::invert(&mut out);
    }
    out
}

/// Whether the picture is two tones far apart, each covering at least a
/// fifth of it: Otsu's split of its levels leaves both classes that large,
/// their means at least 80 levels apart, and little spread within them.
fn dense_two_tone(img: &GrayImage) -> bool {
    let hist = histogram(img.as_raw().iter());
    let t = imageproc::contrast::otsu_level(img);
    let total: u64 = hist.iter().sum();
    let (mut n0, mut s0, mut n1, mut s1) = (0u64, 0f64, 0u64, 0f64);
    for (v, &n) in hist.iter().enumerate() {
        if v as u8 <= t {
            n0 += n;
            s0 += (v as u64 * n) as f64;
        } else {
            n1 += n;
            s1 += (v as u64 * n) as f64;
        }
    }
    if n0 == 0 || n1 == 0 {
        return false;
    }
    let (m0, m1) = (s0 / n0 as f64, s1 / n1 as f64);
    let within: f64 = hist
        .iter()
        .enumerate()
        .map(|(v, &n)| {
            let m = if v as u8 <= t { m0 } else { m1 };
            n as f64 * (v as f64 - m).powi(2)
        })
        .sum::<f64>()
        / total as f64;
    let small = n0.min(n1) as f64 / total as f64;
    small >= 0.2 && m1 - m0 >= 80.0 && within.sqrt() <= 0.25 * (m1 - m0)
}

/// A smooth estimate of the paper: the `q`-th percentile of each cell of a
/// 6×6 grid, the median of each cell's neighbourhood (which drops cells
/// full of ink), bilinear between cell centres; one value per pixel.
fn background(img: &GrayImage, q: f64) -> Vec<f32> {
    const GRID: u32 = 6;
    let (w, h) = img.dimensions();
    let (gw, gh) = (GRID.min(w), GRID.min(h));
    let mut cells = vec![0f32; (gw * gh) as usize];
    for cy in 0..gh {
        for cx in 0..gw {
            let (xa, xb) = (cx * w / gw, ((cx + 1) * w / gw).max(cx * w / gw + 1));
            let (ya, yb) = (cy * h / gh, ((cy + 1) * h / gh).max(cy * h / gh + 1));
            let mut hist = [0u64; 256];
            for y in ya..yb {
                for x in xa..xb {
                    hist[img.get_pixel(x, y).0[0] as usize] += 1;
                }
            }
            cells[(cy * gw + cx) as usize] = percentile(&hist, q) as f32;
        }
    }
    let smooth: Vec<f32> = (0..gh as i32)
        .flat_map(|cy| (0..gw as i32).map(move |cx| (cx, cy)))
        .map(|(cx, cy)| {
            let mut near: Vec<f32> = (-1..=1)
                .flat_map(|dy| (-1..=1).map(move |dx| (cx + dx, cy + dy)))
                .filter(|&(x, y)| x >= 0 && y >= 0 && x < gw as i32 && y < gh as i32)
                .map(|(x, y)| cells[(y as u32 * gw + x as u32) as usize])
                .collect();
            near.sort_by(f32::total_cmp);
            near[near.len() / 2]
        })
        .collect();
    let at = |cx: usize, cy: usize| {
        smooth[cy.min(gh as usize - 1) * gw as usize + cx.min(gw as usize - 1)]
    };
    let mut out = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let fx = ((x as f32 + 0.5) * gw as f32 / w as f32 - 0.5).max(0.0);
            let fy = ((y as f32 + 0.5) * gh as f32 / h as f32 - 0.5).max(0.0);
            let (ix, iy) = (fx.floor() as usize, fy.floor() as usize);
            let (tx, ty) = (fx - ix as f32, fy - iy as f32);
            let top = at(ix, iy) * (1.0 - tx) + at(ix + 1, iy) * tx;
            let bottom = at(ix, iy + 1) * (1.0 - tx) + at(ix + 1, iy + 1) * tx;
            out.push(top * (1.0 - ty) + bottom * ty);
        }
    }
    out
}

/// Subtract the paper (ink bright). Where ink is sparse, a low percentile
/// of each cell of a coarse grid (which follows uneven light and vignetting
/// closely); where it is dense, [`paper_under_ink`], since in cells the ink
/// covers mostly a percentile takes the ink for the paper.
fn remove_background(img: &GrayImage, dense: bool) -> GrayImage {
    let (w, h) = img.dimensions();
    let paper: Vec<f32> = if dense {
        paper_under_ink(img)
            .as_raw()
            .iter()
            .map(|&v| v as f32)
            .collect()
    } else {
        background(img, 0.3)
    };
    let pixels = img
        .as_raw()
        .iter()
        .zip(&paper)
        .map(|(&v, b)| (v as f32 - b).clamp(0.0, 255.0).round() as u8)
        .collect();
    GrayImage::from_raw(w, h, pixels).expect("same size")
}

/// Longer side of the copy the paper is estimated on (light varies slowly).
const PAPER_SIDE: u32 = 128;
/// The paper is found under strokes up to twice this fraction of the
/// picture's longer side wide, and under strokes this wide along an edge
/// (a marker, a black font, a digit cropped at its ink: strokes up to a
/// quarter of its height, and bars along the edge of the crop).
const PAPER_REACH: f32 = 0.3;

/// The paper's level under the ink (ink bright), one value per pixel: a
/// grey-level opening, the highest level a square of side 2r + 1 fits under,
/// which removes every bright stroke narrower than the square and keeps the
/// paper between and around them, however much of the picture the ink
/// covers. r is [`PAPER_REACH`] of the longer side; computed on a copy at
/// most [`PAPER_SIDE`] pixels a side (averaging also quiets the noise), then
/// smoothed and scaled back. (A low percentile of coarse cells, used before,
/// takes the ink for the paper in cells the ink covers mostly.)
fn paper_under_ink(img: &GrayImage) -> GrayImage {
    let (w, h) = img.dimensions();
    let k = (PAPER_SIDE as f32 / w.max(h) as f32).min(1.0);
    let (sw, sh) = (
        ((w as f32 * k).round() as u32).max(1),
        ((h as f32 * k).round() as u32).max(1),
    );
    let small = imageops::resize(img, sw, sh, FilterType::Triangle);
    let r = (PAPER_REACH * sw.max(sh) as f32).ceil() as u32;
    let opened = max_filter(&min_filter(&small, r), r);
    let smooth = imageproc::filter::gaussian_blur_f32(&opened, (r as f32 / 3.0).max(0.5));
    imageops::resize(&smooth, w, h, FilterType::Triangle)
}

/// The minimum (or, with `max`, the maximum) over a (2r + 1)² square,
/// separably; the square is clipped at the picture's edges. (imageproc's
/// `grayscale_erode` with `Mask::square` visits all (2r + 1)² pixels of the
/// square for each pixel: for r ≈ 40 that is 80 times the work.)
fn extreme_filter(img: &GrayImage, r: u32, max: bool) -> GrayImage {
    let (w, h) = img.dimensions();
    let pick = |a: u8, b: u8| if max { a.max(b) } else { a.min(b) };
    let pass = |src: &GrayImage, horizontal: bool| {
        GrayImage::from_fn(w, h, |x, y| {
            let (c, len) = if horizontal { (x, w) } else { (y, h) };
            let (lo, hi) = (c.saturating_sub(r), (c + r).min(len - 1));
            let mut v = if max { 0 } else { 255 };
            for i in lo..=hi {
                let p = if horizontal {
                    src.get_pixel(i, y)
                } else {
                    src.get_pixel(x, i)
                };
                v = pick(v, p.0[0]);
            }
            Luma([v])
        })
    };
    pass(&pass(img, true), false)
}

fn min_filter(img: &GrayImage, r: u32) -> GrayImage {
    extreme_filter(img, r, false)
}

fn max_filter(img: &GrayImage, r: u32) -> GrayImage {
    extreme_filter(img, r, true)
}

/// The ink threshold of a background-free image, or `None` when there is no
/// ink. What is left of the paper is noise around its median; pixels far
/// above it (robustly: five times the median absolute deviation) are ink
/// candidates, and the threshold lies halfway between the paper and their
/// typical level. (Otsu's threshold fails here: a thin pen on a photo is a
/// fraction of a percent of the pixels, and Otsu then splits the noise.)
fn ink_threshold(hist: &[u64; 256]) -> Option<u8> {
    let total: u64 = hist.iter().sum();
    let median = percentile(hist, 0.5) as f32;
    let mut dev = [0u64; 256];
    for (v, &n) in hist.iter().enumerate() {
        dev[(v as f32 - median).abs() as usize] += n;
    }
    let spread = (1.4826 * percentile(&dev, 0.5) as f32).max(2.0);
    let floor = median + 5.0 * spread;
    let candidates: [u64; 256] =
        std::array::from_fn(|v| if v as f32 > floor { hist[v] } else { 0 });
    let n: u64 = candidates.iter().sum();
    if n < 20.max(total / 5000) {
        return None;
    }
    let level = percentile(&candidates, 0.9) as f32;
    if level - median < MIN_CONTRAST.max(8.0 * spread) {
        return None;
    }
    Some(
        ((median + level) / 2.0)
            .max(median + 4.0 * spread)
            .min(254.0) as u8,
    )
}

/// Keep the digit's ink: threshold, drop small components, stretch to 255.
fn clean(ink: &GrayImage, dense: bool) -> Result<GrayImage> {
    let blank = || Error::NoDigit("the picture is blank once the background is removed".into());
    let t = if dense {
        // Two tones, each a large share of the picture: Otsu's split.
        let t = imageproc::contrast::otsu_level(ink);
        let ink_level = percentile(&histogram(ink.as_raw().iter().filter(|&&v| v > t)), 0.5);
        if (ink_level as f32) < MIN_CONTRAST {
            return Err(blank());
        }
        t
    } else {
        ink_threshold(&histogram(ink.as_raw().iter())).ok_or_else(blank)?
    };
    let mut mask = ink.clone();
    for p in mask.pixels_mut() {
        p.0[0] = if p.0[0] > t { 255 } else { 0 };
    }
    // Strokes broken by the threshold stay one component: label a slightly
    // thickened mask.
    let (w, h) = mask.dimensions();
    let reach = (w.max(h) / 150).clamp(1, 6) as u8;
    let joined =
        imageproc::morphology::dilate(&mask, imageproc::distance_transform::Norm::LInf, reach);
    let labels = connected_components(&joined, Connectivity::Eight, Luma([0u8]));
    let mut area: Vec<u64> = Vec::new();
    for (x, y, l) in labels.enumerate_pixels() {
        let l = l.0[0] as usize;
        if l > 0 && mask.get_pixel(x, y).0[0] > 0 {
            if area.len() <= l {
                area.resize(l + 1, 0);
            }
            area[l] += 1;
        }
    }
    let largest = area.iter().copied().max().unwrap_or(0);
    if largest == 0 {
        return Err(no_digit());
    }
    let keep: Vec<bool> = area
        .iter()
        .map(|&a| a as f32 >= MIN_PART * largest as f32)
        .collect();
    // Soft edges: the ink within the kept components' reach, above half the threshold.
    let floor = t as f32 / 2.0;
    let mut out = GrayImage::new(w, h);
    for (x, y, p) in out.enumerate_pixels_mut() {
        let l = labels.get_pixel(x, y).0[0] as usize;
        if l > 0 && keep.get(l).copied().unwrap_or(false) {
            let v = ink.get_pixel(x, y).0[0] as f32;
            p.0[0] = (v - floor).max(0.0).round().min(255.0) as u8;
        }
    }
    stretch(&mut out);
    Ok(out)
}

/// Scale so the strokes' cores reach 255: the 90th percentile of the clearly
/// inked pixels becomes 255.
fn stretch(img: &mut GrayImage) {
    let max = img.as_raw().iter().copied().max().unwrap_or(0);
    if max == 0 {
        return;
    }
    let hist = histogram(img.as_raw().iter().filter(|&&v| v >= max / 3));
    let top = percentile(&hist, 0.9).max(1) as f32;
    for p in img.pixels_mut() {
        p.0[0] = (p.0[0] as f32 * 255.0 / top).round().min(255.0) as u8;
    }
}

/// Bounding box of pixels at or above `min`.
fn bbox(img: &GrayImage, min: u8) -> Option<(u32, u32, u32, u32)> {
    let mut b: Option<(u32, u32, u32, u32)> = None;
    for (x, y, p) in img.enumerate_pixels() {
        if p.0[0] >= min {
            let v = b.get_or_insert((x, y, x, y));
            *v = (v.0.min(x), v.1.min(y), v.2.max(x), v.3.max(y));
        }
    }
    b
}

/// Resample so the longer side is `side`, keeping the aspect ratio (anti-aliased).
fn fit_long_side(img: &GrayImage, side: u32) -> GrayImage {
    let (w, h) = img.dimensions();
    let s = side as f32 / w.max(h) as f32;
    let nw = ((w as f32 * s).round() as u32).clamp(1, side);
    let nh = ((h as f32 * s).round() as u32).clamp(1, side);
    imageops::resize(img, nw, nh, FilterType::Triangle)
}

/// Stroke width in pixels of an ink-bright image: for a stroke of width `w`,
/// ink pixels lie on average `w/4 + 1/2` pixels from the background.
pub fn stroke_width(img: &GrayImage) -> f32 {
    let (w, h) = img.dimensions();
    // Background = below half intensity; a frame of background around the image.
    let mut bg = GrayImage::new(w + 2, h + 2);
    for p in bg.pixels_mut() {
        p.0[0] = 255;
    }
    for (x, y, p) in img.enumerate_pixels() {
        if p.0[0] >= 128 {
            bg.put_pixel(x + 1, y + 1, Luma([0]));
        }
    }
    let d = euclidean_squared_distance_transform(&bg);
    let (mut sum, mut n) = (0f64, 0u64);
    for (x, y, p) in img.enumerate_pixels() {
        if p.0[0] >= 128 {
            sum += d.get_pixel(x + 1, y + 1).0[0].sqrt();
            n += 1;
        }
    }
    if n == 0 {
        return 0.0;
    }
    (4.0 * (sum / n as f64 - 0.5)).max(1.0) as f32
}

/// Thicken or thin the strokes of a [`WORK`]-sized crop (padded or not) to
/// MNIST's width, [`MNIST_STROKE`] of [`WORK`].
fn normalise_stroke(img: &GrayImage, width: f32) -> GrayImage {
    let (w, h) = img.dimensions();
    let target = MNIST_STROKE * WORK as f32;
    let radius = ((target - width) / 2.0).round();
    if radius >= 1.0 {
        // Room around the digit for the thicker strokes.
        let r = radius.min(20.0) as u32;
        let mut padded = GrayImage::new(w + 2 * r, h + 2 * r);
        imageops::replace(&mut padded, img, r as i64, r as i64);
        // A thin line's core is uneven after resampling; saturate it first,
        // or the dilation spreads the darkest spots into beads.
        for p in padded.pixels_mut() {
            p.0[0] = p.0[0].saturating_mul(2);
        }
        grayscale_dilate(&padded, &Mask::disk(r as u8))
    } else if radius <= -1.0 {
        // Thin, but never below two pixels.
        let r = (-radius).min(((width - 2.0) / 2.0).floor()).max(0.0) as u8;
        if r == 0 {
            img.clone()
        } else {
            grayscale_erode(img, &Mask::disk(r))
        }
    } else {
        img.clone()
    }
}

/// Place a digit of at most 20×20 in 28×28 with its centre of mass at the centre.
fn centre(small: &GrayImage) -> Vec<f32> {
    let (tw, th) = small.dimensions();
    let (mut m, mut cx, mut cy) = (0f32, 0f32, 0f32);
    for (x, y, p) in small.enumerate_pixels() {
        let v = p.0[0] as f32;
        m += v;
        cx += v * (x as f32 + 0.5);
        cy += v * (y as f32 + 0.5);
    }
    let (cx, cy) = if m > 0.0 {
        (cx / m, cy / m)
    } else {
        (tw as f32 / 2.0, th as f32 / 2.0)
    };
    let ox = (SIDE as f32 / 2.0 - cx).round() as i64;
    let oy = (SIDE as f32 / 2.0 - cy).round() as i64;
    let mut out = vec![0f32; PIXELS];
    for (x, y, p) in small.enumerate_pixels() {
        let (px, py) = (x as i64 + ox, y as i64 + oy);
        if (0..SIDE as i64).contains(&px) && (0..SIDE as i64).contains(&py) {
            out[py as usize * SIDE + px as usize] = p.0[0] as f32;
        }
    }
    out
}

/// The stroke width of an MNIST digit as a fraction of its longer side,
/// measured as [`steps`] measures an input's (to check [`MNIST_STROKE`]).
pub fn mnist_stroke_ratio(pixels: &[f32]) -> Result<f32> {
    if pixels.len() != PIXELS {
        return Err(Error::Shape(format!(
            "expected 784 pixels, got {}",
            pixels.len()
        )));
    }
    let img = GrayImage::from_fn(SIDE as u32, SIDE as u32, |x, y| {
        Luma([pixels[y as usize * SIDE + x as usize].clamp(0.0, 255.0) as u8])
    });
    let (x0, y0, x1, y1) = bbox(&img, 40).ok_or_else(no_digit)?;
    let crop = imageops::crop_imm(&img, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    let work = fit_long_side(&crop, WORK);
    Ok(stroke_width(&work) / WORK as f32)
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

//! Steps 4 and 5: the ink found, cleaned, stretched and cropped.

use super::paper::{histogram, percentile};
use super::*;

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
pub(super) fn clean(ink: &GrayImage, dense: bool) -> Result<GrayImage> {
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
    // thickened mask. Only the mask's box and `reach` around it can be
    // labelled, so the labelling works there (a pad drawing's digit covers
    // a fraction of the pad).
    let (w, h) = mask.dimensions();
    let reach = (w.max(h) / 150).clamp(1, 6) as u8;
    let (x0, y0, x1, y1) = bbox(&mask, 255).ok_or_else(no_digit)?;
    let r = reach as u32;
    let (rx, ry) = (x0.saturating_sub(r), y0.saturating_sub(r));
    let (rw, rh) = ((x1 + r).min(w - 1) - rx + 1, (y1 + r).min(h - 1) - ry + 1);
    let region = |img: &GrayImage| imageops::crop_imm(img, rx, ry, rw, rh).to_image();
    let (mask, ink) = (region(&mask), region(ink));
    let joined =
        imageproc::morphology::dilate(&mask, imageproc::distance_transform::Norm::LInf, reach);
    let labels = connected_components(&joined, Connectivity::Eight, Luma([0u8]));
    // A component's weight is its ink above the threshold: what is left of
    // uneven light in a photo's corner barely clears the threshold, a stroke
    // stands well above it.
    let mut weight: Vec<u64> = Vec::new();
    for ((&l, &m), &v) in labels.as_raw().iter().zip(mask.as_raw()).zip(ink.as_raw()) {
        let l = l as usize;
        if l > 0 && m > 0 {
            if weight.len() <= l {
                weight.resize(l + 1, 0);
            }
            weight[l] += (v - t) as u64;
        }
    }
    let largest = weight.iter().copied().max().unwrap_or(0);
    if largest == 0 {
        return Err(no_digit());
    }
    let keep: Vec<bool> = weight
        .iter()
        .map(|&a| a as f32 >= MIN_PART * largest as f32)
        .collect();
    // Soft edges: the ink within the kept components' reach, above half the threshold.
    let floor = t as f32 / 2.0;
    // Each ink level's soft-edge value, computed once.
    let soft: [u8; 256] =
        std::array::from_fn(|v| (v as f32 - floor).max(0.0).round().min(255.0) as u8);
    let mut out = GrayImage::new(w, h);
    for ((x, y, &Luma([l])), &Luma([v])) in labels.enumerate_pixels().zip(ink.pixels()) {
        let l = l as usize;
        if l > 0 && keep.get(l).copied().unwrap_or(false) {
            out.put_pixel(rx + x, ry + y, Luma([soft[v as usize]]));
        }
    }
    stretch(&mut out);
    Ok(out)
}

/// Scale so the strokes' cores reach 255: the 90th percentile of the clearly
/// inked pixels becomes 255.
pub(super) fn stretch(img: &mut GrayImage) {
    let max = img.as_raw().iter().copied().max().unwrap_or(0);
    if max == 0 {
        return;
    }
    let hist = histogram(img.as_raw().iter().filter(|&&v| v >= max / 3));
    let top = percentile(&hist, 0.9).max(1) as f32;
    let scaled: [u8; 256] =
        std::array::from_fn(|v| (v as f32 * 255.0 / top).round().min(255.0) as u8);
    for p in img.pixels_mut() {
        p.0[0] = scaled[p.0[0] as usize];
    }
}

/// Bounding box of pixels at or above `min`.
pub(super) fn bbox(img: &GrayImage, min: u8) -> Option<(u32, u32, u32, u32)> {
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
pub(super) fn fit_long_side(img: &GrayImage, side: u32) -> GrayImage {
    let (w, h) = img.dimensions();
    let s = side as f32 / w.max(h) as f32;
    let nw = ((w as f32 * s).round() as u32).clamp(1, side);
    let nh = ((h as f32 * s).round() as u32).clamp(1, side);
    imageops::resize(img, nw, nh, FilterType::Triangle)
}

/// Ink as dark at one end of a stroke as at the other: each pixel divided by
/// the ink's local level (the brightest ink within [`EVEN_REACH`] of the
/// side, smoothed), so that a stroke crossing a shadow in a photo comes out
/// solid, as MNIST's are; soft edges stay soft against their stroke's core.
pub(super) fn even_out(img: &mut GrayImage) {
    let (w, h) = img.dimensions();
    let r = ((EVEN_REACH * w.max(h) as f32).round() as u32).max(1);
    let level = super::paper::max_filter(img, r);
    let level = imageproc::filter::gaussian_blur_f32(&level, r as f32 / 2.0);
    for (p, l) in img.pixels_mut().zip(level.pixels()) {
        let l = (l.0[0] as f32).max(EVEN_FLOOR);
        p.0[0] = round(p.0[0] as f32 * 255.0 / l).min(255.0) as u8;
    }
}

/// How far (a fraction of the crop's longer side) [`even_out`] looks for the ink's level.
pub(super) const EVEN_REACH: f32 = 0.125;
/// Ink levels below this are not raised further (faint soft edges, noise).
pub(super) const EVEN_FLOOR: f32 = 96.0;

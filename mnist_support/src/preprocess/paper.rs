//! Steps 2 and 3: which side is ink, and the paper taken away.

use super::*;

/// The bin at fraction `q` (0–1) of the values counted in `hist`.
pub(super) fn quantile_bin(hist: &[u64], q: f64) -> usize {
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
pub(super) fn percentile(hist: &[u64; 256], q: f64) -> u8 {
    quantile_bin(hist, q) as u8
}

pub(super) fn histogram<'a>(values: impl Iterator<Item = &'a u8>) -> [u64; 256] {
    let mut hist = [0u64; 256];
    for &v in values {
        hist[v as usize] += 1;
    }
    hist
}

/// Ink bright. Against the local paper level (the median of each cell, so
/// that a gradient of light does not count), ink is the longer tail: the
/// image is inverted (dark ink) unless light outliers reach [`LIGHT_INK`]
/// times as far as dark ones.
pub(super) fn orient(img: &GrayImage, dense: bool) -> GrayImage {
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
        hist[(round(*p as f32 - b).clamp(-255.0, 255.0) + 255.0) as usize] += 1;
    }
    let at = |q: f64| quantile_bin(&hist, q) as f32 - 255.0;
    let (dark, light) = (-at(0.002), at(0.998));
    let mut out = img.clone();
    if dark * LIGHT_INK > light {
        imageops::invert(&mut out);
    }
    out
}

/// Whether the picture is two tones far apart, each covering at least a
/// fifth of it: Otsu's split of its levels leaves both classes that large,
/// their means at least [`TWO_TONE_GAP`] apart, and little spread within
/// them (a quarter of the gap: a gradient of light that Otsu splits in two
/// spreads far more).
pub(super) fn dense_two_tone(img: &GrayImage) -> bool {
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
    small >= 0.2 && m1 - m0 >= TWO_TONE_GAP && within.sqrt() <= 0.25 * (m1 - m0)
}

/// A smooth estimate of the paper: the `q`-th percentile of each cell of a
/// 6×6 grid, the median of each cell's neighbourhood (which drops cells
/// full of ink), bilinear between cell centres and extrapolated linearly
/// beyond the outer ones; one value per pixel.
pub(super) fn background(img: &GrayImage, q: f64) -> Vec<f32> {
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
                let row = &img.as_raw()[(y * w) as usize..][..w as usize];
                for &v in &row[xa as usize..xb as usize] {
                    hist[v as usize] += 1;
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
    // Between cell centres bilinear; in the outer half cell the slope of the
    // last two cells goes on (light falls off towards the corners of a photo:
    // a flat value there leaves the dark corners as ink).
    let cell = |f: f32, n: u32| {
        let i = (f.floor().max(0.0) as usize).min(n.saturating_sub(2) as usize);
        (i, if n > 1 { f - i as f32 } else { 0.0 })
    };
    // Each column's and each row's cell and weight, computed once.
    let columns: Vec<(usize, f32)> = (0..w)
        .map(|x| cell((x as f32 + 0.5) * gw as f32 / w as f32 - 0.5, gw))
        .collect();
    // Along a row, the values on the cell rows above and below it; they
    // change only when the row enters another cell.
    let across = |iy: usize| -> Vec<f32> {
        columns
            .iter()
            .map(|&(ix, tx)| at(ix, iy) * (1.0 - tx) + at(ix + 1, iy) * tx)
            .collect()
    };
    let mut out = Vec::with_capacity((w * h) as usize);
    let mut rows: Option<(usize, Vec<f32>, Vec<f32>)> = None;
    for y in 0..h {
        let (iy, ty) = cell((y as f32 + 0.5) * gh as f32 / h as f32 - 0.5, gh);
        if rows.as_ref().is_none_or(|r| r.0 != iy) {
            rows = Some((iy, across(iy), across(iy + 1)));
        }
        let (_, top, bottom) = rows.as_ref().expect("set above");
        out.extend(
            top.iter()
                .zip(bottom)
                .map(|(t, b)| (t * (1.0 - ty) + b * ty).clamp(0.0, 255.0)),
        );
    }
    out
}

/// Subtract the paper (ink bright). Where ink is sparse, a low percentile
/// of each cell of a coarse grid (which follows uneven light and vignetting
/// closely); where it is dense, [`paper_under_ink`], since in cells the ink
/// covers mostly a percentile takes the ink for the paper.
pub(super) fn remove_background(img: &GrayImage, dense: bool) -> GrayImage {
    let (w, h) = img.dimensions();
    let paper: Vec<f32> = if dense {
        paper_under_ink(img)
            .as_raw()
            .iter()
            .map(|&v| v as f32)
            .collect()
    } else {
        background(img, PAPER_LOW)
    };
    let pixels = img
        .as_raw()
        .iter()
        .zip(&paper)
        .map(|(&v, b)| round((v as f32 - b).clamp(0.0, 255.0)) as u8)
        .collect();
    GrayImage::from_raw(w, h, pixels).expect("same size")
}

/// Longer side of the copy the paper is estimated on (light varies slowly).
pub(super) const PAPER_SIDE: u32 = 128;
/// The paper is found under strokes up to twice this fraction of the
/// picture's longer side wide, and under strokes this wide along an edge
/// (a marker, a black font, a digit cropped at its ink: strokes up to a
/// quarter of its height, and bars along the edge of the crop).
pub(super) const PAPER_REACH: f32 = 0.3;

/// The paper's level under the ink (ink bright), one value per pixel: a
/// grey-level opening, the highest level a square of side 2r + 1 fits under,
/// which removes every bright stroke narrower than the square and keeps the
/// paper between and around them, however much of the picture the ink
/// covers. r is [`PAPER_REACH`] of the longer side; computed on a copy at
/// most [`PAPER_SIDE`] pixels a side (averaging also quiets the noise), then
/// smoothed and scaled back. (A low percentile of coarse cells, used before,
/// takes the ink for the paper in cells the ink covers mostly.)
pub(super) fn paper_under_ink(img: &GrayImage) -> GrayImage {
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
/// separably; the square is clipped at the picture's edges. Each pass is van
/// Herk and Gil–Werman's running extreme: three comparisons a pixel whatever
/// r is. (imageproc's `grayscale_erode` with `Mask::square` visits all
/// (2r + 1)² pixels of the square for each pixel: for r ≈ 40 that is 80
/// times the work.)
pub(super) fn extreme_filter(img: &GrayImage, r: u32, max: bool) -> GrayImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut lines = Lines::new(r as usize, max);
    let mut across = img.as_raw().clone();
    for row in across.chunks_exact_mut(w) {
        lines.run(row);
    }
    let mut column = vec![0u8; h];
    for x in 0..w {
        column
            .iter_mut()
            .enumerate()
            .for_each(|(y, v)| *v = across[y * w + x]);
        lines.run(&mut column);
        column
            .iter()
            .enumerate()
            .for_each(|(y, &v)| across[y * w + x] = v);
    }
    GrayImage::from_raw(w as u32, h as u32, across).expect("same size")
}

/// The running extreme of a line over windows of 2r + 1 (van Herk /
/// Gil–Werman), with its buffers. The line is padded with r values that
/// never win on each side, which clips the window at the ends; then within
/// blocks of 2r + 1 the extreme so far from each block's start (`ahead`)
/// and to its end (`behind`) give every window's extreme from two values.
struct Lines {
    r: usize,
    max: bool,
    padded: Vec<u8>,
    ahead: Vec<u8>,
    behind: Vec<u8>,
}

impl Lines {
    fn new(r: usize, max: bool) -> Lines {
        Lines {
            r,
            max,
            padded: Vec::new(),
            ahead: Vec::new(),
            behind: Vec::new(),
        }
    }

    fn pick(&self, a: u8, b: u8) -> u8 {
        if self.max {
            a.max(b)
        } else {
            a.min(b)
        }
    }

    /// `line` replaced by its running extreme.
    fn run(&mut self, line: &mut [u8]) {
        let (r, k) = (self.r, 2 * self.r + 1);
        let neutral = if self.max { 0 } else { 255 };
        self.padded.clear();
        self.padded.resize(r, neutral);
        self.padded.extend_from_slice(line);
        self.padded.resize(line.len() + 2 * r, neutral);
        let m = self.padded.len();
        self.ahead.resize(m, 0);
        self.behind.resize(m, 0);
        for start in (0..m).step_by(k) {
            let end = (start + k).min(m);
            let mut v = neutral;
            for i in start..end {
                v = self.pick(v, self.padded[i]);
                self.ahead[i] = v;
            }
            let mut v = neutral;
            for i in (start..end).rev() {
                v = self.pick(v, self.padded[i]);
                self.behind[i] = v;
            }
        }
        for (c, out) in line.iter_mut().enumerate() {
            *out = self.pick(self.behind[c], self.ahead[c + 2 * r]);
        }
    }
}

pub(super) fn min_filter(img: &GrayImage, r: u32) -> GrayImage {
    extreme_filter(img, r, false)
}

pub(super) fn max_filter(img: &GrayImage, r: u32) -> GrayImage {
    extreme_filter(img, r, true)
}

/// Light ink on dark paper is taken only when light outliers reach this many
/// times as far as dark ones. Where a thick marker fills most of some cells,
/// the paper there stands out from the cell's median as far as the ink does
/// elsewhere (dark and light reach within a factor of two of each other on
/// the dev set's marker photos and close crops); light ink on dark paper
/// (an MNIST image, a dark-mode screenshot, chalk) reaches several times as
/// far as the paper's noise, and dark ink on light paper is by far the
/// common case.
pub(super) const LIGHT_INK: f32 = 2.5;

/// The grid's paper level: this percentile (ink bright) of each cell. Low,
/// so that a cell a thick marker covers up to nine tenths of still gives
/// the paper (at 0.3, a marker over most of a cell was taken for its paper
/// and came out grey or inverted).
pub(super) const PAPER_LOW: f64 = 0.1;

/// Two tones count as a dense picture's ink and paper when their means are
/// this far apart (twice [`MIN_CONTRAST`]): a dark marker on grey paper in
/// dim light is 50–80 levels below it.
pub(super) const TWO_TONE_GAP: f64 = 2.0 * MIN_CONTRAST as f64;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The extreme over the clipped square, pixel by pixel.
    fn by_definition(img: &GrayImage, r: u32, max: bool) -> GrayImage {
        let (w, h) = img.dimensions();
        GrayImage::from_fn(w, h, |x, y| {
            let xs = x.saturating_sub(r)..=(x + r).min(w - 1);
            let ys = y.saturating_sub(r)..=(y + r).min(h - 1);
            let values = ys.flat_map(|y| xs.clone().map(move |x| img.get_pixel(x, y).0[0]));
            Luma([if max { values.max() } else { values.min() }.expect("not empty")])
        })
    }

    #[test]
    fn the_running_extreme_is_the_extreme_over_the_clipped_square() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for (w, h) in [(1, 1), (1, 9), (13, 1), (17, 11), (40, 33), (128, 96)] {
            let img = GrayImage::from_fn(w, h, |_, _| Luma([rng.gen()]));
            for r in [0, 1, 2, 5, 39, 200] {
                for max in [false, true] {
                    assert_eq!(
                        extreme_filter(&img, r, max),
                        by_definition(&img, r, max),
                        "{w}×{h}, r = {r}, max = {max}"
                    );
                }
            }
        }
    }
}

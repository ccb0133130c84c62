//! The pen's path along an MNIST digit: its skeleton, the path the
//! real-inputs generators redraw in another hand.

use image::{GrayImage, Luma};

use crate::data::SIDE;

/// A pen's path along a digit's skeleton, as segments in 28-pixel units.
pub type Path = Vec<((f32, f32), (f32, f32))>;

/// The ink of a digit upsampled ×4: the lowest of [`INK_LEVELS`] that shows
/// every loop some level shows without splitting the strokes into more
/// parts than the lowest level does. A heavily written "6", "8" or "9"
/// whose loop MNIST's grey fills in at the usual level keeps it, so its
/// skeleton is still a loop (thinning a filled loop leaves a line).
fn ink_mask(big: &GrayImage) -> Vec<bool> {
    let (w, h) = big.dimensions();
    let count = |img: GrayImage, keep: &dyn Fn(&[u32]) -> bool| -> usize {
        let labels = imageproc::region_labelling::connected_components(
            &img,
            imageproc::region_labelling::Connectivity::Four,
            Luma([0u8]),
        );
        // Per component: its area and its pixels on the border.
        let mut area = std::collections::HashMap::<u32, [u32; 2]>::new();
        for (x, y, l) in labels.enumerate_pixels() {
            if l[0] > 0 {
                let e = area.entry(l[0]).or_default();
                e[0] += 1;
                e[1] += u32::from(x == 0 || y == 0 || x + 1 == w || y + 1 == h);
            }
        }
        area.values().filter(|a| keep(&a[..])).count()
    };
    let stats = INK_LEVELS.map(|t| {
        let mask = |ink: bool| {
            GrayImage::from_fn(w, h, |x, y| {
                Luma([u8::from((big.get_pixel(x, y)[0] >= t) == ink) * 255])
            })
        };
        // Holes: background not reaching the border, at least a pixel of
        // the 28×28 in area; parts: ink of at least that area.
        let holes = count(mask(false), &|a| a[1] == 0 && a[0] >= MIN_AREA);
        let parts = count(mask(true), &|a| a[0] >= MIN_AREA);
        (t, holes, parts)
    });
    let parts0 = stats[0].2;
    let most = stats
        .iter()
        .filter(|s| s.2 <= parts0)
        .map(|s| s.1)
        .max()
        .unwrap_or(0);
    let level = stats
        .iter()
        .find(|s| s.1 == most && s.2 <= parts0)
        .map_or(INK_LEVELS[0], |s| s.0);
    big.as_raw().iter().map(|&v| v >= level).collect()
}

/// Grey levels (of 255) tried as the ink of a digit by [`ink_mask`].
const INK_LEVELS: [u8; 4] = [100, 140, 180, 220];
/// Smallest hole or part [`ink_mask`] counts, in pixels at ×4 (one pixel of the 28×28).
const MIN_AREA: u32 = 16;

/// The skeleton of an MNIST digit (784 values) as segments between
/// neighbouring skeleton pixels, in 28-pixel units: the digit upsampled ×4,
/// thresholded keeping its loops ([`ink_mask`]), thinned (Zhang–Suen).
pub fn skeleton(pixels: &[f32]) -> Path {
    const UP: usize = 4;
    let small = GrayImage::from_fn(SIDE as u32, SIDE as u32, |x, y| {
        Luma([pixels[y as usize * SIDE + x as usize].clamp(0.0, 255.0) as u8])
    });
    let big = image::imageops::resize(
        &small,
        (SIDE * UP) as u32,
        (SIDE * UP) as u32,
        image::imageops::FilterType::Triangle,
    );
    let n = SIDE * UP;
    let mut on = ink_mask(&big);
    let at = |on: &Vec<bool>, x: i64, y: i64| {
        x >= 0 && y >= 0 && (x as usize) < n && (y as usize) < n && on[y as usize * n + x as usize]
    };
    loop {
        let mut changed = false;
        for pass in 0..2 {
            let mut remove = Vec::new();
            for y in 0..n as i64 {
                for x in 0..n as i64 {
                    if !at(&on, x, y) {
                        continue;
                    }
                    // P2..P9 clockwise from north.
                    let p = [
                        at(&on, x, y - 1),
                        at(&on, x + 1, y - 1),
                        at(&on, x + 1, y),
                        at(&on, x + 1, y + 1),
                        at(&on, x, y + 1),
                        at(&on, x - 1, y + 1),
                        at(&on, x - 1, y),
                        at(&on, x - 1, y - 1),
                    ];
                    let b = p.iter().filter(|&&v| v).count();
                    let a = (0..8).filter(|&k| !p[k] && p[(k + 1) % 8]).count();
                    let (c1, c2) = if pass == 0 {
                        (p[0] && p[2] && p[4], p[2] && p[4] && p[6])
                    } else {
                        (p[0] && p[2] && p[6], p[0] && p[4] && p[6])
                    };
                    if (2..=6).contains(&b) && a == 1 && !c1 && !c2 {
                        remove.push(y as usize * n + x as usize);
                    }
                }
            }
            changed |= !remove.is_empty();
            for i in remove {
                on[i] = false;
            }
        }
        if !changed {
            break;
        }
    }
    // Each skeleton pixel joined to its right and lower neighbours: the pen's path.
    let unit = |x: i64, y: i64| ((x as f32 + 0.5) / UP as f32, (y as f32 + 0.5) / UP as f32);
    let mut segments = Vec::new();
    for y in 0..n as i64 {
        for x in 0..n as i64 {
            if !at(&on, x, y) {
                continue;
            }
            segments.push((unit(x, y), unit(x, y)));
            for (dx, dy) in [(1, 0), (-1, 1), (0, 1), (1, 1)] {
                if at(&on, x + dx, y + dy) {
                    segments.push((unit(x, y), unit(x + dx, y + dy)));
                }
            }
        }
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the path, drawn at ×4, walls in the point (x, y) (28-pixel units).
    fn encloses(path: &Path, (cx, cy): (f32, f32)) -> bool {
        let n = SIDE * 4;
        let mut wall = vec![false; n * n];
        for &((x0, y0), (x1, y1)) in path {
            for k in 0..=8 {
                let t = k as f32 / 8.0;
                let (x, y) = ((x0 + t * (x1 - x0)) * 4.0, (y0 + t * (y1 - y0)) * 4.0);
                let (x, y) = (x as usize, y as usize);
                if x < n && y < n {
                    wall[y * n + x] = true;
                }
            }
        }
        // Flood the outside from the border (4-connected); the point is walled in
        // when the flood does not reach it.
        let mut seen = wall.clone();
        let mut stack: Vec<usize> = (0..n)
            .flat_map(|i| [i, (n - 1) * n + i, i * n, i * n + n - 1])
            .collect();
        while let Some(p) = stack.pop() {
            if seen[p] {
                continue;
            }
            seen[p] = true;
            let (x, y) = (p % n, p / n);
            if x > 0 {
                stack.push(p - 1)
            }
            if x + 1 < n {
                stack.push(p + 1)
            }
            if y > 0 {
                stack.push(p - n)
            }
            if y + 1 < n {
                stack.push(p + n)
            }
        }
        let c = (cy * 4.0) as usize * n + (cx * 4.0) as usize;
        !seen[c]
    }

    /// A 28×28 digit of `level(x, y)` at each pixel.
    fn digit(level: impl Fn(f32, f32) -> f32) -> Vec<f32> {
        (0..SIDE * SIDE)
            .map(|i| level((i % SIDE) as f32, (i / SIDE) as f32))
            .collect()
    }

    #[test]
    fn a_heavy_loop_filled_in_grey_keeps_its_hole() {
        // A ring of ink around (14, 14) whose hole MNIST's grey fills with
        // 150: at the usual level the ink is a disk, whose skeleton is a dot.
        let pixels = digit(|x, y| {
            let r = ((x - 14.0).powi(2) + (y - 14.0).powi(2)).sqrt();
            if r < 2.5 {
                150.0
            } else if r < 7.0 {
                255.0
            } else {
                0.0
            }
        });
        let path = skeleton(&pixels);
        assert!(!path.is_empty());
        assert!(
            encloses(&path, (14.0, 14.0)),
            "the ring's skeleton lost its loop"
        );
        // A plain bar keeps the usual level: no loop is made up.
        let bar = digit(|x, y| {
            if (10.0..18.0).contains(&x) && (4.0..24.0).contains(&y) {
                200.0
            } else {
                0.0
            }
        });
        let path = skeleton(&bar);
        assert!(!path.is_empty());
        assert!(!encloses(&path, (14.0, 14.0)));
    }
}

//! Steps 6 and 7: MNIST's stroke width, and MNIST's own recipe.

use super::*;

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
pub(super) fn normalise_stroke(img: &GrayImage, width: f32) -> GrayImage {
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
pub(super) fn centre(small: &GrayImage) -> Vec<f32> {
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

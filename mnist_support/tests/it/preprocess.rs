//! The server's preprocessing (`mnist_support::preprocess`) on generated
//! pictures: shifted, scaled and inverted digits, real inputs in every crop,
//! blank pictures and specks, and MNIST's stroke width.

use crate::common;

use mnist_support::data::Split;
use mnist_support::models::{Learner, ModelKind, Silent};
use mnist_support::preprocess::{self, mnist_to_gray};

/// Drawn-style images: test digits shifted, scaled up and drawn dark on light,
/// preprocessed, are recognised like the centred originals.
#[test]
#[ignore = "needs MNIST_DIR"]
fn preprocessing_recovers_shifted_scaled_inverted_digits() {
    let data = common::real_data_dir();
    let split = Split::load_from(&data).unwrap();
    let small = split.head(3000, 500);
    let model = ModelKind::Softmax
        .default_params()
        .unwrap()
        .fit(small.x_train.view(), small.y_train.view(), &Silent)
        .unwrap();
    let n = 200;
    let originals = model
        .predict(split.x_test.slice(ndarray::s![..n, ..]))
        .unwrap();
    let mut agree = 0;
    let mut processed = ndarray::Array2::<f32>::zeros((n, 784));
    for i in 0..n {
        let px = split.x_test.row(i).to_vec();
        // ScaledSplit ×3 or ×5, off-centre, on a light 200×180 canvas.
        let scale = 3 + 2 * (i % 2);
        let gray = mnist_to_gray(&px, scale, 5 + (i % 7) * 3, 3 + (i % 5) * 4, 200, 180).unwrap();
        // And through PNG, the way uploads arrive.
        let decoded = preprocess::decode_image(&common::png_gray(&gray)).unwrap();
        let out = preprocess::to_mnist(&decoded).unwrap();
        processed.row_mut(i).assign(&ndarray::Array1::from(out));
    }
    let pred = model.predict(processed.view()).unwrap();
    for i in 0..n {
        agree += (pred[i] == originals[i]) as usize;
    }
    assert!(
        agree * 10 >= n * 8,
        "only {agree} of {n} agree with the centred originals"
    );
    // Light-on-dark input gives the same 28×28 as dark-on-light.
    let px = split.x_test.row(7).to_vec();
    let light = mnist_to_gray(&px, 2, 4, 4, 64, 64).unwrap();
    let dark =
        preprocess::Gray::new(64, 64, light.pixels.iter().map(|v| 255 - v).collect()).unwrap();
    assert_eq!(
        preprocess::to_mnist(&light).unwrap(),
        preprocess::to_mnist(&dark).unwrap()
    );
    assert!(preprocess::to_mnist(&preprocess::Gray::new(9, 9, vec![0; 81]).unwrap()).is_err());
}

/// The stroke width preprocessing aims for is MNIST's own: the median over
/// training digits, measured the way inputs are measured.
#[test]
#[ignore = "needs MNIST_DIR"]
fn the_target_stroke_width_is_the_median_of_the_training_digits() {
    let data = common::real_data_dir();
    let split = Split::load_from(&data).unwrap();
    let mut r: Vec<f32> = (0..2000)
        .map(|i| preprocess::mnist_stroke_ratio(&split.x_train.row(i).to_vec()).unwrap())
        .collect();
    r.sort_by(f32::total_cmp);
    let median = r[r.len() / 2];
    assert!(
        (median - preprocess::MNIST_STROKE).abs() < 0.05 * preprocess::MNIST_STROKE,
        "median stroke ratio {median}, constant {}",
        preprocess::MNIST_STROKE
    );
}

fn ink_box(p: &[f32]) -> (usize, usize, f32, f32) {
    let (mut x0, mut y0, mut x1, mut y1) = (28, 28, 0, 0);
    let (mut m, mut cx, mut cy) = (0f32, 0f32, 0f32);
    for (i, &v) in p.iter().enumerate() {
        let (x, y) = (i % 28, i / 28);
        if v >= 40.0 {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
        m += v;
        cx += v * (x as f32 + 0.5);
        cy += v * (y as f32 + 0.5);
    }
    (
        (x1 + 1).saturating_sub(x0),
        (y1 + 1).saturating_sub(y0),
        cx / m,
        cy / m,
    )
}

/// The steps of a sample, whose 28×28 has MNIST's 20-pixel box and centre
/// of mass (and is not refused).
fn mnist_shaped(s: &mnist_support::real_inputs::Sample) -> preprocess::Steps {
    let g = preprocess::decode_image(&s.bytes).unwrap();
    let st = preprocess::steps(&g).unwrap_or_else(|e| panic!("{}: {e}", s.name));
    let (w, h, cx, cy) = ink_box(&st.mnist);
    assert!((17..=21).contains(&w.max(h)), "{}: box {w}×{h}", s.name);
    assert!(
        (cx - 14.0).abs() < 1.5 && (cy - 14.0).abs() < 1.5,
        "{}: centre ({cx}, {cy})",
        s.name
    );
    st
}

/// Every source of the real-inputs set (pad, scan, photo with EXIF
/// orientation, typed, marker, bold), uncropped and cropped at 0 px, 2 px,
/// 5% and 15% of the digit's height, comes out as an MNIST-like 28×28: the
/// digit's longer side about 20 pixels, its centre of mass at the centre,
/// ink up to 255, strokes near MNIST's width; no crop is refused. The
/// generator is deterministic and the two sets differ.
#[test]
#[ignore = "needs MNIST_DIR"]
fn real_inputs_are_deterministic_and_preprocess_to_mnist_shape() {
    use mnist_support::real_inputs::{generate, generate_with_crops, Crop, Set, Source};
    let data = common::real_data_dir();
    let split = Split::load_from(&data).unwrap();
    let a = generate(&split, Set::Dev, 8).unwrap();
    let b = generate(&split, Set::Dev, 8).unwrap();
    let c = generate(&split, Set::Heldout, 8).unwrap();
    assert_eq!(a.len(), 8 * Source::ALL.len());
    assert!(a.iter().all(|s| s.crop == Crop::Uncropped));
    let cropped = generate_with_crops(&split, Set::Dev, 3).unwrap();
    assert_eq!(cropped.len(), 3 * Source::ALL.len() * Crop::ALL.len());
    // The uncropped pictures of the cropped set are the plain set's.
    let plain = generate(&split, Set::Dev, 3).unwrap();
    for s in cropped.iter().filter(|s| s.crop == Crop::Uncropped) {
        assert!(
            plain.iter().any(|t| t.name == s.name && t.bytes == s.bytes),
            "{}",
            s.name
        );
    }
    for s in cropped.iter().filter(|s| s.crop != Crop::Uncropped) {
        mnist_shaped(s);
    }
    assert!(a
        .iter()
        .zip(&b)
        .all(|(x, y)| x.bytes == y.bytes && x.label == y.label));
    assert!(a.iter().zip(&c).any(|(x, y)| x.bytes != y.bytes));
    for source in Source::ALL {
        assert_eq!(a.iter().filter(|s| s.source == source).count(), 8);
    }
    // Photos include JPEGs stored sideways with an EXIF orientation: decoded upright.
    let sideways = a
        .iter()
        .filter(|s| s.source == Source::Photo)
        .filter(|s| {
            let raw = image::load_from_memory(&s.bytes).unwrap();
            let up = preprocess::decode_image(&s.bytes).unwrap();
            (raw.width() as usize, raw.height() as usize) == (up.height, up.width)
                && raw.width() != raw.height()
        })
        .count();
    assert!(sideways > 0, "no photo with an EXIF rotation among 8");
    for s in &a {
        let st = mnist_shaped(s);
        let max = st.mnist.iter().cloned().fold(0.0, f32::max);
        assert!(max > 200.0, "{}: faint ink, max {max}", s.name);
        let ratio = st.stroke_after / preprocess::WORK as f32;
        assert!(
            (ratio - preprocess::MNIST_STROKE).abs() < 0.45 * preprocess::MNIST_STROKE,
            "{}: stroke ratio {ratio} after normalisation (before {})",
            s.name,
            st.stroke_before / preprocess::WORK as f32
        );
    }
}

/// Pictures without a digit are "no digit found", not a guess; specks and
/// border noise around a digit are dropped.
#[test]
fn blank_pictures_are_rejected_and_specks_dropped() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    // Grey paper under uneven light with sensor noise, no ink.
    let (w, h) = (320usize, 240usize);
    let paper: Vec<u8> = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f32 / w as f32, (i / w) as f32 / h as f32);
            (150.0 + 40.0 * x - 25.0 * y + rng.gen_range(-8.0f32..8.0)).round() as u8
        })
        .collect();
    for g in [
        preprocess::Gray::new(w, h, paper.clone()).unwrap(),
        preprocess::Gray::new(64, 64, vec![255; 64 * 64]).unwrap(),
        preprocess::Gray::new(64, 64, vec![0; 64 * 64]).unwrap(),
    ] {
        match preprocess::to_mnist(&g) {
            Err(mnist_support::Error::NoDigit(_)) => {}
            other => panic!("expected NoDigit, got {other:?}"),
        }
    }
    // A bar on white with and without a sprinkle of one-pixel specks.
    let mut clean = vec![255u8; 200 * 200];
    for y in 40..160 {
        for x in 90..106 {
            clean[y * 200 + x] = 20;
        }
    }
    let mut specked = clean.clone();
    for _ in 0..60 {
        let (x, y) = (rng.gen_range(0..200), rng.gen_range(0..200));
        if !(80..116).contains(&x) {
            specked[y * 200 + x] = 0;
        }
    }
    let a = preprocess::to_mnist(&preprocess::Gray::new(200, 200, clean).unwrap()).unwrap();
    let b = preprocess::to_mnist(&preprocess::Gray::new(200, 200, specked).unwrap()).unwrap();
    let differ = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| (*x - *y).abs() > 10.0)
        .count();
    assert!(differ <= 8, "{differ} pixels changed by specks");
}

/// How much two 28×28 images' ink (40 and up) overlaps: intersection over union.
fn overlap(a: &[f32], b: &[f32]) -> f32 {
    let both = a
        .iter()
        .zip(b)
        .filter(|(x, y)| **x >= 40.0 && **y >= 40.0)
        .count();
    let either = a
        .iter()
        .zip(b)
        .filter(|(x, y)| **x >= 40.0 || **y >= 40.0)
        .count();
    both as f32 / either.max(1) as f32
}

/// A phone photo reads the same whole and cropped to its digit: the light
/// falling off into the corners is not taken for ink (as it was, where the
/// grid's paper level stopped at the outer cells), the paper around a thick
/// marker is not taken for the ink (a polarity and a paper level that held
/// only where the marker covered less of the grid's cells), and a close crop
/// of a marker under uneven light goes the dense path's way.
#[test]
#[ignore = "needs MNIST_DIR"]
fn photos_read_the_same_whole_and_cropped() {
    use mnist_support::real_inputs::{generate_with_crops, Crop, Set, Source};
    let data = common::real_data_dir();
    let split = Split::load_from(&data).unwrap();
    let samples = generate_with_crops(&split, Set::Dev, 100).unwrap();
    let mnist = |s: &mnist_support::real_inputs::Sample| {
        let g = preprocess::decode_image(&s.bytes).unwrap();
        preprocess::to_mnist(&g).unwrap_or_else(|e| panic!("{}: {e}", s.name))
    };
    for source in [Source::Photo, Source::Marker] {
        let of = |crop: Crop| {
            samples
                .iter()
                .filter(move |s| s.source == source && s.crop == crop)
        };
        let mut differ = Vec::new();
        let reference: Vec<_> = of(Crop::Pct15).map(mnist).collect();
        for crop in [Crop::Uncropped, Crop::Px0] {
            for (s, want) in of(crop).zip(&reference) {
                let o = overlap(&mnist(s), want);
                if o < 0.5 {
                    differ.push(format!("{} ({o:.2})", s.name));
                }
            }
        }
        // Thick strokes brought to MNIST's width from slightly different
        // crops overlap 0.5–1; a corner taken for ink, an inverted picture or
        // a stroke's paper taken away overlap 0–0.45 (5 photos and 16 marker
        // pictures of these 200 each did).
        assert!(
            differ.len() <= 1,
            "{source:?}: read differently whole or at 0 px than at 15%: {differ:?}"
        );
    }
}

/// A thick stroke crossing a shadow (its ink 60 levels under the paper at
/// one end, 120 at the other) reaches the models solid: its core is nearly
/// as dark at the faint end as at the dark one, as MNIST's strokes are
/// (stretched as a whole, the faint end would be half as dark).
#[test]
fn a_stroke_crossing_a_shadow_comes_out_solid() {
    let (w, h) = (240usize, 240usize);
    let pixels = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let on = (40..200).contains(&y) && (100..140).contains(&x);
            // Darker towards the bottom: 190 → 130 along the bar.
            let ink = 190.0 - 60.0 * (y as f32 - 40.0).max(0.0) / 160.0;
            if on {
                ink.round() as u8
            } else {
                250
            }
        })
        .collect();
    let st = preprocess::steps(&preprocess::Gray::new(w, h, pixels).unwrap()).unwrap();
    // The cropped ink (light background, dark ink): the bar's core at the
    // faint top and at the dark bottom.
    let c = &st.cropped;
    let core = |y: usize| c.pixels[y * c.width + c.width / 2];
    let (top, bottom) = (core(c.height / 8), core(c.height * 7 / 8));
    assert!(
        top <= 40 && bottom <= 40,
        "the bar's core: {top} near the faint end, {bottom} near the dark one (0 = full ink)"
    );
}

/// A picture, a line of ink across white paper, for the decoding tests.
fn bar(w: usize, h: usize) -> preprocess::Gray {
    let pixels = (0..w * h)
        .map(|i| {
            if (i / w) * 3 / h == 1 && i % w > w / 5 && i % w < w * 4 / 5 {
                0
            } else {
                255
            }
        })
        .collect();
    preprocess::Gray::new(w, h, pixels).unwrap()
}

#[test]
fn png_colour_profiles_and_text_are_not_inflated() {
    // An iCCP profile and a zTXt comment that inflate to 600 MiB each, in
    // files of about 600 KB: sizing and decoding read neither (the `image`
    // crate's reader inflated them up to its memory limit, then failed).
    let gray = bar(60, 40);
    let plain = common::png_gray(&gray);
    let ztxt = {
        let mut data = b"Comment\0\0".to_vec(); // keyword, NUL, compression method 0
        data.extend(common::zlib_zeros(600 << 20));
        common::png_with_chunk(&plain, b"zTXt", &data)
    };
    for bomb in [common::iccp_bomb(&gray, 600 << 20), ztxt] {
        assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
        let (size, bytes) = common::allocated_by(|| preprocess::image_size(&bomb));
        assert_eq!(size.unwrap(), (60, 40));
        assert!(bytes < 1 << 20, "sizing allocated {} MB", bytes >> 20);
        let (decoded, bytes) = common::allocated_by(|| preprocess::decode_image(&bomb));
        assert!(bytes < 16 << 20, "decoding allocated {} MB", bytes >> 20);
        assert_eq!(
            decoded.unwrap().pixels,
            preprocess::decode_image(&plain).unwrap().pixels
        );
    }
}

#[test]
fn jpeg_scans_are_counted_and_truncation_found() {
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 3) as u8, (y * 5) as u8, 90])
    });
    let baseline = mnist_support::real_inputs::jpeg_with_orientation(&img, 85, None).unwrap();
    assert_eq!(preprocess::jpeg_scans(&baseline), Some(1));
    assert!(preprocess::decode_image(&baseline).is_ok());
    // Marker by marker, the layout of a progressive JPEG: a scan header
    // (FF DA, its length, its bytes), entropy-coded data with a stuffed
    // FF 00 and a restart marker, a Huffman table between scans, …, end.
    let scan = |out: &mut Vec<u8>| {
        out.extend([0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 63, 0]);
        out.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56]);
    };
    let mut progressive = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0xFF, 0xD9]; // APP0 holding FF D9
    for _ in 0..40 {
        scan(&mut progressive);
        progressive.extend([0xFF, 0xC4, 0x00, 0x03, 0x00]);
    }
    let open = progressive.clone();
    progressive.extend([0xFF, 0xD9]);
    assert_eq!(preprocess::jpeg_scans(&progressive), Some(40));
    assert_eq!(preprocess::jpeg_scans(&open), Some(40));
    assert_eq!(preprocess::jpeg_scans(&common::png_gray(&bar(8, 8))), None);
    // Cut inside its image data, a real JPEG is refused, not filled with grey.
    let cut = &baseline[..baseline.len() / 2];
    let err = preprocess::decode_image(cut).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
}

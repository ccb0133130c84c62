//! Synthetic training digits, made rather than distorted (feature `inputs`): typed
//! digits in the training fonts ([`Augment::typed`](super::Augment::typed)) and
//! pictures of training digits from the real-inputs generators
//! ([`Augment::pictures`](super::Augment::pictures)), each put through the
//! server's preprocessing, as rows of 784 raw pixels with their labels.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::SeedableRng;
use rayon::prelude::*;

use crate::error::{Error, Result};

/// `per_class` typed digits of each class in the [`training_fonts`](crate::fonts::training_fonts) (fonts
/// in turn), drawn like the benchmark's and put through the server's
/// [`preprocess`](crate::preprocess): rows of 784 raw pixels (0–255, background 0) and labels.
/// Seeded per image, so the result does not depend on the thread count.
pub fn typed_training(per_class: usize, seed: u64) -> Result<(Array2<f32>, Array1<u8>)> {
    use crate::fonts::{training_fonts, typed};
    use crate::preprocess::{self, Gray};
    use rand_chacha::ChaCha8Rng;
    let fonts = training_fonts()?;
    let n = per_class * 10;
    let rows = (0..n)
        .into_par_iter()
        .map(|i| {
            let digit = (i % 10) as u8;
            let (_, font) = &fonts[(i / 10) % fonts.len()];
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7e7d_0000_0000 ^ i as u64);
            preprocess::to_mnist(&Gray::from_image(typed(
                font,
                char::from(b'0' + digit),
                &mut rng,
            )))
        })
        .collect::<Result<Vec<Vec<f32>>>>()?;
    let x =
        Array2::from_shape_vec((n, 784), rows.concat()).map_err(|e| Error::Shape(e.to_string()))?;
    let y = Array1::from_iter((0..n).map(|i| (i % 10) as u8));
    Ok((x, y))
}

/// `per_source` pictures of each real-inputs source generated from the
/// digits `x`, `y` (raw pixels; the training split) with the generators'
/// training seeds and fonts, put through the server's
/// [`preprocess`](crate::preprocess): rows of 784 raw pixels and labels.
/// A picture the preprocessing refuses is left out (none is, in practice).
///
/// Making them takes minutes, so with a `cache` directory (the store's
/// `cache/`, [`Store::cache_dir`](crate::store::Store::cache_dir)) they
/// are kept on disk there, keyed by the crate version (which fixes the
/// generators, their seeds and the fonts), `per_source` and the digits: the
/// tree and the forest, in two processes (two notebooks), make them once. A
/// cache file that cannot be read is made again.
pub fn picture_training(
    x: ArrayView2<f32>,
    y: ArrayView1<u8>,
    per_source: usize,
    cache: Option<&std::path::Path>,
) -> Result<(Array2<f32>, Array1<u8>)> {
    use crate::real_inputs::{generate_from, Crop, Set};
    let path = cache.map(|dir| cache_path(dir, x, y, per_source));
    if let Some(made) = path.as_deref().and_then(read_cache) {
        return Ok(made);
    }
    let samples = generate_from(x, y, Set::Train, per_source, &[Crop::Uncropped])?;
    let rows: Vec<(Vec<f32>, u8)> = samples
        .par_iter()
        .filter_map(|s| Some((s.to_mnist()?, s.label)))
        .collect();
    let n = rows.len();
    let (x, y): (Vec<Vec<f32>>, Vec<u8>) = rows.into_iter().unzip();
    let x =
        Array2::from_shape_vec((n, 784), x.concat()).map_err(|e| Error::Shape(e.to_string()))?;
    let y = Array1::from(y);
    // A cache that cannot be written only costs the next process the minutes.
    if let Some(path) = &path {
        let _ = write_cache(path, &x, &y);
    }
    Ok((x, y))
}

/// The first bytes of a cache file of generated pictures.
const CACHE_MAGIC: &[u8; 8] = b"MNISTPIC";

/// Where the pictures of these digits are cached in `dir`.
fn cache_path(
    dir: &std::path::Path,
    x: ArrayView2<f32>,
    y: ArrayView1<u8>,
    per_source: usize,
) -> std::path::PathBuf {
    let mut key = md5::Context::new();
    key.consume(env!("CARGO_PKG_VERSION"));
    key.consume((per_source as u64).to_le_bytes());
    key.consume((x.nrows() as u64).to_le_bytes());
    for v in x.iter() {
        key.consume(v.to_le_bytes());
    }
    key.consume(y.iter().copied().collect::<Vec<u8>>());
    dir.join(format!("pictures-{:x}.bin", key.compute()))
}

fn read_cache(path: &std::path::Path) -> Option<(Array2<f32>, Array1<u8>)> {
    let bytes = std::fs::read(path).ok()?;
    let body = bytes.strip_prefix(CACHE_MAGIC.as_slice())?;
    let n = u64::from_le_bytes(body.get(..8)?.try_into().ok()?) as usize;
    let (pixels, labels) = body.get(8..)?.split_at_checked(n.checked_mul(784 * 4)?)?;
    if labels.len() != n || labels.iter().any(|&l| l > 9) {
        return None;
    }
    let x: Vec<f32> = pixels
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if x.iter().any(|v| !(0.0..=255.0).contains(v)) {
        return None;
    }
    Some((
        Array2::from_shape_vec((n, 784), x).ok()?,
        Array1::from(labels.to_vec()),
    ))
}

fn write_cache(path: &std::path::Path, x: &Array2<f32>, y: &Array1<u8>) -> Result<()> {
    let mut bytes = Vec::with_capacity(16 + x.len() * 4 + y.len());
    bytes.extend_from_slice(CACHE_MAGIC);
    bytes.extend_from_slice(&(y.len() as u64).to_le_bytes());
    x.iter()
        .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
    bytes.extend(y.iter());
    crate::display::write_atomic(path, &bytes).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::super::tests::bar;
    use super::super::Augment;
    use super::*;
    use crate::consts::SIDE;

    #[test]
    fn typed_training_digits_look_like_mnist() {
        let (x, y) = typed_training(2, 1).unwrap();
        assert_eq!(x.dim(), (20, 784));
        assert_eq!(
            y.to_vec(),
            (0..20).map(|i| (i % 10) as u8).collect::<Vec<_>>()
        );
        for row in x.rows() {
            let ink = row.iter().filter(|&&v| v > 128.0).count();
            assert!((30..400).contains(&ink), "{ink} ink pixels");
            assert_eq!(row[0], 0.0, "corner is background");
        }
        assert_eq!(typed_training(2, 1).unwrap().0, x, "deterministic");
    }

    #[test]
    fn generated_pictures_come_in_proportion_with_their_digits_labels() {
        // 110 training digits (bars labelled 1) take 2,000 × 110 / 55,000 =
        // 4 pictures of each of the six sources.
        let ink: Vec<f32> = bar().iter().map(|v| v * 255.0).collect();
        let x = ndarray::Array2::from_shape_fn((110, SIDE * SIDE), |(_, j)| ink[j]);
        let y = ndarray::Array1::from(vec![1u8; 110]);
        let aug = Augment::NONE.with_pictures(2000);
        let (xa, ya) = aug.expand(x.view(), y.view(), None).unwrap();
        assert_eq!(xa.nrows(), 110 + 24, "no picture refused");
        assert_eq!(ya.len(), xa.nrows());
        // The drawn sources redraw the bars (label 1); the typed ones are the
        // digits 0-3 in the training fonts.
        let added: Vec<u8> = ya.iter().skip(110).copied().collect();
        assert_eq!(added.iter().filter(|&&l| l == 1).count(), 16 + 2);
        for row in xa.rows().into_iter().skip(110) {
            let ink = row.iter().filter(|&&v| v > 128.0).count();
            assert!((20..400).contains(&ink), "{ink} ink pixels");
            assert_eq!(row[0], 0.0, "corner is background");
        }
        assert_eq!(
            aug.expand(x.view(), y.view(), None).unwrap().0,
            xa,
            "deterministic"
        );
        assert!(Augment::NONE.with_pictures(5001).check().is_err());
    }
}

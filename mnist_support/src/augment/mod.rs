//! Training-time distortions that cover how people draw beyond MNIST's
//! narrow style: position, rotation, scale, shear, elastic wobble and
//! stroke thickness, applied to 28×28 images whose background is 0.
//!
//! The networks draw one random [`Distort::apply`] per image and epoch; the
//! classical models train on the digits plus distorted copies ([`Augment`],
//! saved with their hyperparameters). Every model also trains on typed
//! digits ([`Augment::typed`], [`TYPED_PER_CLASS`] of each class) drawn in
//! fonts embedded in the crate, whose families the typed benchmark leaves
//! out (feature `inputs`).
//!
//! A distortion is one inverse mapping with bilinear sampling: for each
//! output pixel, the affine map plus a smooth displacement field (random
//! vectors on a 4×4 grid, bilinear in between) gives the source position.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::consts::SIDE;
use crate::error::{Error, Result};
use crate::progress::Progress;

#[cfg(feature = "inputs")]
mod synthetic;
#[cfg(feature = "inputs")]
pub use synthetic::{picture_training, typed_training};

/// How strongly to distort (each drawn uniformly within ± the value).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Distort {
    /// Shift in pixels.
    pub shift: f32,
    /// Rotation in degrees.
    pub rotate: f32,
    /// Relative change of size (0.1 = 90–110%), drawn for x and y apart.
    pub scale: f32,
    /// Horizontal shear (x += shear · y).
    pub shear: f32,
    /// Largest elastic displacement in pixels.
    pub elastic: f32,
    /// Probability of making the strokes thicker, and of making them thinner.
    pub thickness: f32,
}

impl Distort {
    /// No distortion.
    pub const NONE: Distort = Distort {
        shift: 0.0,
        rotate: 0.0,
        scale: 0.0,
        shear: 0.0,
        elastic: 0.0,
        thickness: 0.0,
    };

    /// Shifts alone, by up to `px` pixels (the networks' earlier augmentation).
    pub fn shift_only(px: f32) -> Distort {
        Distort {
            shift: px,
            ..Distort::NONE
        }
    }

    /// What the networks train with: how the pad drawings, scans and photos of
    /// the real-inputs dev set differ from MNIST after preprocessing.
    pub fn handwriting() -> Distort {
        Distort {
            shift: 2.0,
            rotate: 12.0,
            scale: 0.12,
            shear: 0.3,
            elastic: 1.2,
            thickness: 0.2,
        }
    }

    pub fn is_none(&self) -> bool {
        *self == Distort::NONE
    }

    pub fn check(&self) -> Result<()> {
        let ok = |v: f32, max: f32| v.is_finite() && (0.0..=max).contains(&v);
        if !(ok(self.shift, 13.0)
            && ok(self.rotate, 90.0)
            && ok(self.scale, 0.5)
            && ok(self.shear, 1.0)
            && ok(self.elastic, 6.0)
            && ok(self.thickness, 0.5))
        {
            return Err(Error::InvalidHyperparameter {
                model: "augmentation",
                name: "distort",
                reason: format!(
                    "out of range: {self:?} (shift ≤ 13, rotate ≤ 90, scale ≤ 0.5, \
                     shear ≤ 1, elastic ≤ 6, thickness ≤ 0.5, none negative)"
                ),
            });
        }
        Ok(())
    }

    /// Write a distorted copy of `src` (28×28, background 0) into `dst`.
    pub fn apply(&self, src: &[f32], dst: &mut [f32], rng: &mut impl Rng) {
        let n = SIDE * SIDE;
        debug_assert!(src.len() == n && dst.len() == n);
        let u =
            |rng: &mut dyn rand::RngCore, m: f32| if m > 0.0 { rng.gen_range(-m..=m) } else { 0.0 };
        let (tx, ty) = (u(rng, self.shift), u(rng, self.shift));
        let angle = u(rng, self.rotate).to_radians();
        let (sx, sy) = (1.0 + u(rng, self.scale), 1.0 + u(rng, self.scale));
        let shear = u(rng, self.shear);
        // Forward map about the centre: p' = R · Sh · S · p + t; sample its inverse.
        let (c, s) = (angle.cos(), angle.sin());
        let (a, b, cc, d) = (
            c * sx,
            c * shear * sy - s * sy,
            s * sx,
            s * shear * sy + c * sy,
        );
        let det = a * d - b * cc;
        let (ia, ib, ic, id) = (d / det, -b / det, -cc / det, a / det);
        let mut field = [[0f32; 2]; 16];
        if self.elastic > 0.0 {
            for v in field.iter_mut() {
                *v = [u(rng, self.elastic), u(rng, self.elastic)];
            }
        }
        let centre = (SIDE as f32 - 1.0) / 2.0;
        for y in 0..SIDE {
            for x in 0..SIDE {
                let (mut px, mut py) = (x as f32 - centre - tx, y as f32 - centre - ty);
                if self.elastic > 0.0 {
                    let [ex, ey] = bilinear_field(&field, x as f32, y as f32);
                    px += ex;
                    py += ey;
                }
                let (qx, qy) = (ia * px + ib * py + centre, ic * px + id * py + centre);
                dst[y * SIDE + x] = crate::scale::sample(src, qx, qy);
            }
        }
        if self.thickness > 0.0 {
            let r: f32 = rng.gen_range(0.0..1.0);
            if r < self.thickness {
                cross_filter(dst, f32::max, 1.0);
            } else if r < 2.0 * self.thickness {
                cross_filter(dst, f32::min, 0.5);
            }
        }
    }
}

/// Typed digits per class every model trains on by default (1,500 images
/// beside MNIST's 55,000).
pub const TYPED_PER_CLASS: usize = 150;

/// Generated real-input pictures per source the tree and the forest train on
/// by default (12,000 images: pad drawings, scans, phone photos and marker
/// photos of training digits, typed and bold digits in the training fonts).
pub const PICTURES_PER_SOURCE: usize = 2000;

/// Train on the digits, `typed` typed digits per class and `copies`
/// distorted copies of each (raw pixels).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    pub copies: usize,
    pub distort: Distort,
    pub seed: u64,
    /// Typed digits added per class: drawn in the fonts embedded for
    /// training ([`crate::fonts::training_fonts`], never the typed
    /// benchmark's) and put through the server's preprocessing (feature
    /// `inputs`).
    #[serde(default)]
    pub typed: usize,
    /// Generated pictures added per real-inputs source for the 55,000
    /// training digits (proportionally fewer, at least one, for fewer
    /// digits, as in the tests' quick mode): the training digits
    /// redrawn as pad drawings, scans, phone photos and marker photos, and
    /// typed and bold digits in the training fonts, by the real-inputs
    /// generators with their training seeds
    /// ([`Set::Train`](crate::real_inputs::Set::Train), never the
    /// benchmark's digits, fonts or seeds), each put through the server's
    /// preprocessing (feature `inputs`).
    #[serde(default)]
    pub pictures: usize,
}

impl Augment {
    /// The digits alone.
    pub const NONE: Augment = Augment {
        copies: 0,
        distort: Distort::NONE,
        seed: 0,
        typed: 0,
        pictures: 0,
    };

    /// The digits and `copies` handwriting-distorted copies of each.
    pub fn copies(copies: usize) -> Augment {
        Augment {
            copies,
            distort: Distort::handwriting(),
            seed: 7,
            typed: 0,
            pictures: 0,
        }
    }

    /// The same with `per_class` typed digits of each class.
    pub fn with_typed(self, per_class: usize) -> Augment {
        Augment {
            typed: per_class,
            seed: if self.seed == 0 { 7 } else { self.seed },
            ..self
        }
    }

    /// The same with `per_source` generated pictures of each real-inputs source.
    pub fn with_pictures(self, per_source: usize) -> Augment {
        Augment {
            pictures: per_source,
            ..self
        }
    }

    /// Nothing added: train on the digits alone.
    pub fn is_none(&self) -> bool {
        self.copies == 0 && self.typed == 0 && self.pictures == 0
    }

    pub fn check(&self) -> Result<()> {
        if self.copies > 10 {
            return Err(Error::InvalidHyperparameter {
                model: "augmentation",
                name: "copies",
                reason: format!("must be at most 10, got {}", self.copies),
            });
        }
        if self.typed > 1000 {
            return Err(Error::InvalidHyperparameter {
                model: "augmentation",
                name: "typed",
                reason: format!("must be at most 1000 per class, got {}", self.typed),
            });
        }
        if self.pictures > 5000 {
            return Err(Error::InvalidHyperparameter {
                model: "augmentation",
                name: "pictures",
                reason: format!("must be at most 5000 per source, got {}", self.pictures),
            });
        }
        if self.typed > 0 && !cfg!(feature = "inputs") {
            return Err(Error::MissingFeature {
                what: "augment.typed (typed digits drawn in fonts)".into(),
                feature: "inputs",
                hint: String::new(),
            });
        }
        if self.pictures > 0 && !cfg!(feature = "inputs") {
            return Err(Error::MissingFeature {
                what: "augment.pictures (generated real-input pictures)".into(),
                feature: "inputs",
                hint: String::new(),
            });
        }
        self.distort.check()
    }

    /// The rows of `x` (28×28 images of raw pixels 0–255, background 0)
    /// and `typed` typed digits per class, followed by `copies` distorted
    /// copies of all of them (rounded to whole pixel values), with their
    /// labels; seeded per row, so the result does not depend on the thread
    /// count. Generated pictures are kept in `cache` when one is given
    /// ([`picture_training`]).
    pub fn expand(
        &self,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        cache: Option<&std::path::Path>,
    ) -> Result<(Array2<f32>, Array1<u8>)> {
        self.check()?;
        let added: Vec<_> = [self.typed_digits()?, self.pictures_of(x, y, cache)?]
            .into_iter()
            .flatten()
            .collect();
        let xs: Vec<ArrayView2<f32>> = std::iter::once(x.view())
            .chain(added.iter().map(|(xa, _)| xa.view()))
            .collect();
        let ys: Vec<ArrayView1<u8>> = std::iter::once(y.view())
            .chain(added.iter().map(|(_, ya)| ya.view()))
            .collect();
        let x = ndarray::concatenate(Axis(0), &xs).map_err(|e| Error::Shape(e.to_string()))?;
        let y = ndarray::concatenate(Axis(0), &ys).map_err(|e| Error::Shape(e.to_string()))?;
        let n = x.nrows();
        let mut xa = Array2::<f32>::zeros((n * (1 + self.copies), x.ncols()));
        xa.slice_mut(ndarray::s![..n, ..]).assign(&x);
        for c in 1..=self.copies {
            let mut part = xa.slice_mut(ndarray::s![c * n..(c + 1) * n, ..]);
            part.axis_iter_mut(Axis(0))
                .into_par_iter()
                .enumerate()
                .for_each(|(i, mut row)| {
                    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                        self.seed ^ ((c as u64) << 32) ^ i as u64,
                    );
                    let src = x.row(i).to_vec();
                    let mut dst = vec![0f32; src.len()];
                    self.distort.apply(&src, &mut dst, &mut rng);
                    // Whole pixel values, as in the MNIST files (kNN stores bytes).
                    row.iter_mut()
                        .zip(&dst)
                        .for_each(|(o, v)| *o = v.round().clamp(0.0, 255.0));
                });
        }
        let ya = Array1::from_iter((0..=self.copies).flat_map(|_| y.iter().copied()));
        Ok((xa, ya))
    }

    /// The training set a model fits on when this augmentation adds rows:
    /// `scaled` (the digits as `scaler` left them), then the typed digits
    /// and distorted copies, made as pixels from `raw` (the same digits) and
    /// scaled by `scaler`; `None` when nothing is added. The one place where
    /// rows are added, for the runner and for [`Learner::fit`](crate::models::Learner::fit) alike.
    /// Generated pictures are kept in `cache` when one is given.
    pub fn training_set(
        &self,
        scaler: &crate::scale::Scaler,
        raw: ArrayView2<f32>,
        scaled: ArrayView2<f32>,
        y: ArrayView1<u8>,
        cache: Option<&std::path::Path>,
        progress: &dyn Progress,
    ) -> Result<Option<(Array2<f32>, Array1<u8>)>> {
        self.check()?;
        if self.is_none() {
            return Ok(None);
        }
        let n = raw.nrows();
        if self.pictures > 0 {
            progress.note(match cache {
                Some(_) => "the generated pictures of training digits: read from cache/ in the models directory, or made and kept there (a few minutes on 2 cores)",
                None => "making the generated pictures of training digits (a few minutes on 2 cores)",
            });
        }
        let (xa, ya) = self.expand(raw, y, cache)?;
        let added = scaler.transform(&xa.slice(ndarray::s![n.., ..]))?;
        let x = ndarray::concatenate(Axis(0), &[scaled.view(), added.view()])
            .map_err(|e| Error::Shape(e.to_string()))?;
        let mut parts = vec![format!("the {n} digits")];
        if self.typed > 0 {
            parts.push(format!("{} typed digits", 10 * self.typed));
        }
        if self.pictures > 0 {
            parts.push(format!(
                "{} generated pictures of training digits",
                xa.nrows() / (1 + self.copies) - n - 10 * self.typed
            ));
        }
        if self.copies > 0 {
            let s = if self.copies == 1 { "y" } else { "ies" };
            parts.push(format!("{} distorted cop{s} of each", self.copies));
        }
        progress.note(&format!(
            "training on {} images: {}",
            x.nrows(),
            parts.join(", ")
        ));
        Ok(Some((x, ya)))
    }

    #[cfg(feature = "inputs")]
    fn typed_digits(&self) -> Result<Option<(Array2<f32>, Array1<u8>)>> {
        if self.typed == 0 {
            return Ok(None);
        }
        typed_training(self.typed, self.seed).map(Some)
    }

    #[cfg(not(feature = "inputs"))]
    fn typed_digits(&self) -> Result<Option<(Array2<f32>, Array1<u8>)>> {
        Ok(None)
    }

    #[cfg(feature = "inputs")]
    fn pictures_of(
        &self,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        cache: Option<&std::path::Path>,
    ) -> Result<Option<(Array2<f32>, Array1<u8>)>> {
        if self.pictures == 0 {
            return Ok(None);
        }
        let per_source = (self.pictures * x.nrows())
            .div_ceil(crate::consts::TRAIN_ROWS)
            .clamp(1, self.pictures);
        picture_training(x, y, per_source, cache).map(Some)
    }

    #[cfg(not(feature = "inputs"))]
    fn pictures_of(
        &self,
        _x: ArrayView2<f32>,
        _y: ArrayView1<u8>,
        _cache: Option<&std::path::Path>,
    ) -> Result<Option<(Array2<f32>, Array1<u8>)>> {
        Ok(None)
    }
}

impl Default for Augment {
    fn default() -> Self {
        Augment::NONE
    }
}

impl Default for Distort {
    fn default() -> Self {
        Distort::NONE
    }
}

/// The 4×4 displacement grid spread over the 28×28 image.
fn bilinear_field(field: &[[f32; 2]; 16], x: f32, y: f32) -> [f32; 2] {
    let g = |v: f32| (v / (SIDE as f32 - 1.0) * 3.0).clamp(0.0, 3.0);
    let (gx, gy) = (g(x), g(y));
    let (ix, iy) = (
        (crate::scale::floor(gx) as usize).min(2),
        (crate::scale::floor(gy) as usize).min(2),
    );
    let (fx, fy) = (gx - ix as f32, gy - iy as f32);
    let at = |i: usize, j: usize, k: usize| field[j * 4 + i][k];
    let mut out = [0f32; 2];
    for (k, o) in out.iter_mut().enumerate() {
        let top = at(ix, iy, k) * (1.0 - fx) + at(ix + 1, iy, k) * fx;
        let bottom = at(ix, iy + 1, k) * (1.0 - fx) + at(ix + 1, iy + 1, k) * fx;
        *o = top * (1.0 - fy) + bottom * fy;
    }
    out
}

/// Blend each pixel with `op` over itself and its 4 neighbours (max: thicker
/// strokes; min, half-blended: thinner ones without losing them).
fn cross_filter(img: &mut [f32], op: fn(f32, f32) -> f32, blend: f32) {
    let src = img.to_vec();
    let at = |x: i64, y: i64| {
        if x < 0 || y < 0 || x >= SIDE as i64 || y >= SIDE as i64 {
            0.0
        } else {
            src[y as usize * SIDE + x as usize]
        }
    };
    for y in 0..SIDE as i64 {
        for x in 0..SIDE as i64 {
            let v = at(x, y);
            let f = [at(x - 1, y), at(x + 1, y), at(x, y - 1), at(x, y + 1)]
                .into_iter()
                .fold(v, op);
            img[y as usize * SIDE + x as usize] = v + blend * (f - v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use rand::SeedableRng;

    pub(super) fn bar() -> Vec<f32> {
        let mut img = vec![0f32; SIDE * SIDE];
        for y in 6..22 {
            for x in 13..15 {
                img[y * SIDE + x] = 1.0;
            }
        }
        img
    }

    #[test]
    fn none_is_the_identity_and_shift_moves_ink() {
        let src = bar();
        let mut dst = vec![0f32; SIDE * SIDE];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        Distort::NONE.apply(&src, &mut dst, &mut rng);
        assert_eq!(src, dst);
        let mut moved = false;
        for _ in 0..5 {
            Distort::shift_only(3.0).apply(&src, &mut dst, &mut rng);
            moved |= src != dst;
            // Ink is kept (bilinear resampling of a bar well inside the image).
            let (a, b): (f32, f32) = (src.iter().sum(), dst.iter().sum());
            assert!((a - b).abs() < 1e-3 * a + 1e-3, "{a} vs {b}");
        }
        assert!(moved);
    }

    #[test]
    fn handwriting_distortions_stay_in_range_and_vary() {
        let src = bar();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut outs = Vec::new();
        for _ in 0..20 {
            let mut dst = vec![0f32; SIDE * SIDE];
            Distort::handwriting().apply(&src, &mut dst, &mut rng);
            assert!(dst.iter().all(|v| (0.0..=1.0 + 1e-5).contains(v)));
            let ink: f32 = dst.iter().sum();
            assert!(ink > 10.0, "the digit survives: {ink}");
            outs.push(dst);
        }
        outs.dedup();
        assert!(outs.len() > 15);
    }

    #[test]
    fn thicker_adds_ink_thinner_removes_it() {
        let src = bar();
        let mut thick = src.clone();
        cross_filter(&mut thick, f32::max, 1.0);
        let mut thin = src.clone();
        cross_filter(&mut thin, f32::min, 0.5);
        let sum = |v: &[f32]| v.iter().sum::<f32>();
        assert!(sum(&thick) > sum(&src) && sum(&thin) < sum(&src) && sum(&thin) > 0.0);
    }

    #[test]
    fn expand_keeps_the_originals_and_adds_distorted_copies() {
        let ink: Vec<f32> = bar().iter().map(|v| v * 255.0).collect();
        let x =
            ndarray::Array2::from_shape_vec((2, SIDE * SIDE), [ink.clone(), ink].concat()).unwrap();
        let y = ndarray::Array1::from(vec![1u8, 7]);
        let (xa, ya) = Augment::copies(2).expand(x.view(), y.view(), None).unwrap();
        assert_eq!(xa.nrows(), 6);
        assert_eq!(ya.to_vec(), vec![1, 7, 1, 7, 1, 7]);
        assert_eq!(xa.row(0), x.row(0));
        assert!(xa
            .slice(ndarray::s![2.., ..])
            .iter()
            .all(|v| v.fract() == 0.0 && (0.0..=255.0).contains(v)));
        assert_ne!(xa.row(2), x.row(0));
        assert_ne!(xa.row(2), xa.row(4));
        let (xb, _) = Augment::copies(2).expand(x.view(), y.view(), None).unwrap();
        assert_eq!(xa, xb, "seeded");
        assert_eq!(Augment::NONE.expand(x.view(), y.view(), None).unwrap().0, x);
        assert!(Augment {
            copies: 11,
            ..Augment::copies(1)
        }
        .check()
        .is_err());
    }

    #[cfg(feature = "inputs")]
    #[test]
    fn typed_digits_join_the_training_set_before_the_copies() {
        let x = ndarray::Array2::<f32>::zeros((2, SIDE * SIDE));
        let y = ndarray::Array1::from(vec![1u8, 7]);
        let (xa, ya) = Augment::NONE
            .with_typed(1)
            .expand(x.view(), y.view(), None)
            .unwrap();
        assert_eq!(xa.nrows(), 12);
        assert_eq!(&ya.to_vec()[..4], &[1, 7, 0, 1]);
        assert!(xa.row(2).sum() > 0.0, "a typed 0 has ink");
        let (xc, yc) = Augment::copies(1)
            .with_typed(1)
            .expand(x.view(), y.view(), None)
            .unwrap();
        assert_eq!((xc.nrows(), yc.len()), (24, 24));
        assert!(Augment::NONE.with_typed(1001).check().is_err());
    }

    #[test]
    fn out_of_range_is_an_error() {
        assert!(Distort::handwriting().check().is_ok());
        assert!(Distort {
            rotate: -1.0,
            ..Distort::NONE
        }
        .check()
        .is_err());
        assert!(Distort {
            elastic: f32::NAN,
            ..Distort::NONE
        }
        .check()
        .is_err());
    }
}

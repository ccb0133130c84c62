//! Feature scaling, fit on the training split only and saved with each model.
//!
//! A scaling may start with **deskewing** ([`deskew`]): each digit is
//! sheared so that its principal axis is upright and moved so that its
//! centre of mass is at the centre (moments, as in LeCun's table of MNIST
//! results). It is part of the saved scaler, so the server deskews exactly
//! as training did.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Standardization: `(x - mean) / std` per column. Columns with zero variance
/// (MNIST's always-blank border pixels) keep scale 1, as scikit-learn does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandardScaler {
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
}

/// Min-max scaling to [0, 1] per column; constant columns keep range 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinMaxScaler {
    pub min: Vec<f32>,
    pub range: Vec<f32>,
}

fn check_fit_input(x: &ArrayView2<f32>) -> Result<()> {
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(Error::Shape(format!(
            "cannot fit a scaler on an empty {}x{} matrix",
            x.nrows(),
            x.ncols()
        )));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(Error::InvalidData(
            "cannot fit a scaler on non-finite values".into(),
        ));
    }
    Ok(())
}

fn check_width(expected: usize, x: &ArrayView2<f32>) -> Result<()> {
    if x.ncols() != expected {
        return Err(Error::Shape(format!(
            "scaler was fit on {expected} columns, got {}",
            x.ncols()
        )));
    }
    Ok(())
}

impl StandardScaler {
    pub fn fit(x: &ArrayView2<f32>) -> Result<Self> {
        check_fit_input(x)?;
        let n = x.nrows() as f64;
        let mut mean = vec![0f64; x.ncols()];
        let mut sq = vec![0f64; x.ncols()];
        for row in x.axis_iter(Axis(0)) {
            for (j, &v) in row.iter().enumerate() {
                mean[j] += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        for row in x.axis_iter(Axis(0)) {
            for (j, &v) in row.iter().enumerate() {
                let d = v as f64 - mean[j];
                sq[j] += d * d;
            }
        }
        let scale = sq
            .iter()
            .map(|s| {
                let sd = (s / n).sqrt();
                if sd < 1e-8 {
                    1.0
                } else {
                    sd as f32
                }
            })
            .collect();
        Ok(StandardScaler {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            scale,
        })
    }
}

impl MinMaxScaler {
    pub fn fit(x: &ArrayView2<f32>) -> Result<Self> {
        check_fit_input(x)?;
        let mut min = vec![f32::INFINITY; x.ncols()];
        let mut max = vec![f32::NEG_INFINITY; x.ncols()];
        for row in x.axis_iter(Axis(0)) {
            for (j, &v) in row.iter().enumerate() {
                min[j] = min[j].min(v);
                max[j] = max[j].max(v);
            }
        }
        let range = min
            .iter()
            .zip(&max)
            .map(|(lo, hi)| if hi - lo > 0.0 { hi - lo } else { 1.0 })
            .collect();
        Ok(MinMaxScaler { min, range })
    }
}

/// A fitted scaler, as saved with a model. `None` passes pixels through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scaler {
    #[default]
    None,
    /// Divide by 255 (pixels to [0, 1]); nothing to fit.
    Unit,
    Standard(StandardScaler),
    MinMax(MinMaxScaler),
    /// [`deskew`] each image, then `then` (fit on the deskewed training images).
    Deskew {
        then: Box<Scaler>,
    },
}

/// Which scaling to fit. The default, none, is what a tree or forest saved
/// before they had the choice was fit with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    #[default]
    None,
    Unit,
    Standard,
    MinMax,
    /// Deskew, then no scaling / divide by 255 / standardize / min-max.
    Deskew,
    DeskewUnit,
    DeskewStandard,
    DeskewMinMax,
}

impl Scaling {
    /// The scaling after deskewing (itself when it does not deskew).
    fn after_deskew(self) -> Option<Scaling> {
        match self {
            Scaling::Deskew => Some(Scaling::None),
            Scaling::DeskewUnit => Some(Scaling::Unit),
            Scaling::DeskewStandard => Some(Scaling::Standard),
            Scaling::DeskewMinMax => Some(Scaling::MinMax),
            _ => None,
        }
    }
}

/// Moment-based deskewing of a 28×28 digit (background 0): shear it so that
/// its principal axis is upright (x shifts by `cov(x, y) / var(y)` per row)
/// and move its centre of mass to the centre; bilinear, rounded to whole
/// values. An empty image stays as it is.
pub fn deskew(pixels: &[f32]) -> Vec<f32> {
    let side = crate::consts::SIDE;
    let (mut m, mut cx, mut cy) = (0f64, 0f64, 0f64);
    for (i, &v) in pixels.iter().enumerate() {
        let v = v as f64;
        m += v;
        cx += v * (i % side) as f64;
        cy += v * (i / side) as f64;
    }
    if m <= 0.0 || pixels.len() != side * side {
        return pixels.to_vec();
    }
    (cx, cy) = (cx / m, cy / m);
    let (mut var_y, mut cov) = (0f64, 0f64);
    for (i, &v) in pixels.iter().enumerate() {
        let (x, y) = ((i % side) as f64 - cx, (i / side) as f64 - cy);
        var_y += v as f64 * y * y;
        cov += v as f64 * x * y;
    }
    let alpha = if var_y > 0.0 {
        (cov / var_y) as f32
    } else {
        0.0
    };
    let c = (side as f32 - 1.0) / 2.0;
    let (cx, cy) = (cx as f32, cy as f32);
    let mut out = vec![0f32; pixels.len()];
    for y in 0..side {
        for x in 0..side {
            let sy = y as f32 - c + cy;
            let sx = x as f32 - c + cx + alpha * (y as f32 - c);
            out[y * side + x] = round(sample(pixels, sx, sy));
        }
    }
    out
}

/// [`deskew`] every row.
fn deskew_rows(x: &ArrayView2<f32>) -> Array2<f32> {
    let mut out = x.to_owned();
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .for_each(|mut row| {
            let d = deskew(&row.to_vec());
            row.iter_mut().zip(d).for_each(|(o, v)| *o = v);
        });
    out
}

impl Scaler {
    /// Which scaling this is.
    pub fn scaling(&self) -> Scaling {
        match self {
            Scaler::None => Scaling::None,
            Scaler::Unit => Scaling::Unit,
            Scaler::Standard(_) => Scaling::Standard,
            Scaler::MinMax(_) => Scaling::MinMax,
            Scaler::Deskew { then } => match then.scaling() {
                Scaling::Unit => Scaling::DeskewUnit,
                Scaling::Standard => Scaling::DeskewStandard,
                Scaling::MinMax => Scaling::DeskewMinMax,
                _ => Scaling::Deskew,
            },
        }
    }

    /// The scaling applied after deskewing (the scaler itself when it does not deskew).
    pub fn base(&self) -> &Scaler {
        match self {
            Scaler::Deskew { then } => then,
            other => other,
        }
    }

    /// Fit the chosen scaling on `x` (the training split only).
    pub fn fit(kind: Scaling, x: &ArrayView2<f32>) -> Result<Self> {
        if let Some(after) = kind.after_deskew() {
            let deskewed = deskew_rows(x);
            return Ok(Scaler::Deskew {
                then: Box::new(Scaler::fit(after, &deskewed.view())?),
            });
        }
        Ok(match kind {
            Scaling::Unit => Scaler::Unit,
            Scaling::Standard => Scaler::Standard(StandardScaler::fit(x)?),
            Scaling::MinMax => Scaler::MinMax(MinMaxScaler::fit(x)?),
            _ => Scaler::None,
        })
    }

    /// (offset, factor) per column so that `scaled = (x - offset) * factor`.
    fn affine(&self, ncols: usize) -> Option<(Vec<f32>, Vec<f32>)> {
        match self {
            Scaler::None | Scaler::Deskew { .. } => None,
            Scaler::Unit => Some((vec![0.0; ncols], vec![1.0 / 255.0; ncols])),
            Scaler::Standard(s) => {
                Some((s.mean.clone(), s.scale.iter().map(|v| 1.0 / v).collect()))
            }
            Scaler::MinMax(s) => Some((s.min.clone(), s.range.iter().map(|v| 1.0 / v).collect())),
        }
    }

    fn width(&self) -> Option<usize> {
        match self {
            Scaler::None | Scaler::Unit => None,
            Scaler::Deskew { then } => then.width(),
            Scaler::Standard(s) => Some(s.mean.len()),
            Scaler::MinMax(s) => Some(s.min.len()),
        }
    }

    /// Apply `f(value, offset, factor)` to every element of a copy of `x`.
    fn map(&self, x: &ArrayView2<f32>, f: impl Fn(f32, f32, f32) -> f32) -> Result<Array2<f32>> {
        if let Some(w) = self.width() {
            check_width(w, x)?;
        }
        let mut out = x.to_owned();
        if let Some((off, fac)) = self.affine(x.ncols()) {
            for mut row in out.axis_iter_mut(Axis(0)) {
                for ((v, o), k) in row.iter_mut().zip(&off).zip(&fac) {
                    *v = f(*v, *o, *k);
                }
            }
        }
        Ok(out)
    }

    /// Scale `x` (any number of rows, the fitted number of columns).
    pub fn transform(&self, x: &ArrayView2<f32>) -> Result<Array2<f32>> {
        if let Scaler::Deskew { then } = self {
            if x.ncols() != crate::consts::PIXELS {
                return Err(Error::Shape(format!(
                    "deskewing needs 784 pixels per image, got {}",
                    x.ncols()
                )));
            }
            return then.transform(&deskew_rows(x).view());
        }
        self.map(x, |v, o, k| (v - o) * k)
    }

    /// Undo [`transform`](Self::transform)'s scaling (deskewed images stay deskewed).
    pub fn inverse_transform(&self, x: &ArrayView2<f32>) -> Result<Array2<f32>> {
        match self {
            Scaler::Deskew { then } => then.inverse_transform(x),
            _ => self.map(x, |v, o, k| v / k + o),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data serializes")
    }

    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| Error::Decode {
            what: "scaler JSON".into(),
            reason: e.to_string(),
        })
    }
}

/// `x.round()` (half away from zero) for |x| < 2²³, bit for bit, without the
/// `roundf` call that x86-64's baseline instruction set compiles `round` to:
/// the per-pixel loops of the preprocessing spent most of their time there,
/// and deskewing rounds every pixel of every image.
#[inline]
pub(crate) fn round(x: f32) -> f32 {
    let whole = x as i32 as f32;
    let frac = x - whole;
    if frac >= 0.5 {
        whole + 1.0
    } else if frac <= -0.5 {
        whole - 1.0
    } else {
        whole.copysign(x)
    }
}

/// `x.floor()` for |x| < 2³¹, bit for bit (but −0.0 gives +0.0), without
/// the `floorf` call that x86-64's baseline instruction set compiles `floor`
/// to: the distortions sample every pixel of every image of every epoch.
#[inline]
pub(crate) fn floor(x: f32) -> f32 {
    let whole = x as i32 as f32;
    if whole > x {
        whole - 1.0
    } else {
        whole
    }
}

/// Bilinear sample of a 28×28 image at (x, y), zero outside.
pub(crate) fn sample(src: &[f32], x: f32, y: f32) -> f32 {
    let (x0, y0) = (floor(x), floor(y));
    let (fx, fy) = (x - x0, y - y0);
    let px = |xx: i64, yy: i64| {
        if xx < 0 || yy < 0 || xx >= crate::consts::SIDE as i64 || yy >= crate::consts::SIDE as i64
        {
            0.0
        } else {
            src[yy as usize * crate::consts::SIDE + xx as usize]
        }
    };
    let (x0, y0) = (x0 as i64, y0 as i64);
    let top = px(x0, y0) * (1.0 - fx) + px(x0 + 1, y0) * fx;
    let bottom = px(x0, y0 + 1) * (1.0 - fx) + px(x0 + 1, y0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consts::SIDE;

    /// `ours` gives the bits `std` gives, from −600 to 600 in eighths, on the
    /// floats either side of each, and on `extra`.
    fn same_bits(ours: fn(f32) -> f32, std: fn(f32) -> f32, extra: &[f32]) {
        let mut values = extra.to_vec();
        let mut x = -600.0f32;
        while x <= 600.0 {
            values.extend([x, x.next_up(), x.next_down()]);
            x += 0.125;
        }
        for y in values {
            assert_eq!(ours(y).to_bits(), std(y).to_bits(), "{y}");
        }
    }

    #[test]
    fn round_is_f32_round_bit_for_bit() {
        let extra = [
            0.49999997f32,
            -0.49999997,
            0.5,
            -0.5,
            1.5,
            2.5,
            254.5,
            -0.0,
            0.0,
        ];
        same_bits(round, f32::round, &extra);
    }

    #[test]
    fn floor_is_f32_floor_bit_for_bit() {
        let extra = [
            0.99999994f32,
            -0.99999994,
            1e-30,
            -1e-30,
            8388607.5,
            -8388607.5,
            1e9,
            -1e9,
        ];
        same_bits(floor, f32::floor, &extra);
    }

    /// A bar from (x0, 4) to (x1, 23), two pixels wide.
    fn bar(x0: f32, x1: f32) -> Vec<f32> {
        let mut img = vec![0f32; SIDE * SIDE];
        for y in 4..24 {
            let x = x0 + (x1 - x0) * (y - 4) as f32 / 19.0;
            for dx in 0..2 {
                img[y * SIDE + (x.round() as usize + dx)] = 255.0;
            }
        }
        img
    }

    fn slant(img: &[f32]) -> f32 {
        let (mut m, mut cx, mut cy) = (0f32, 0f32, 0f32);
        for (i, &v) in img.iter().enumerate() {
            m += v;
            cx += v * (i % SIDE) as f32;
            cy += v * (i / SIDE) as f32;
        }
        let (cx, cy) = (cx / m, cy / m);
        let (mut vy, mut cov) = (0f32, 0f32);
        for (i, &v) in img.iter().enumerate() {
            let (x, y) = ((i % SIDE) as f32 - cx, (i / SIDE) as f32 - cy);
            vy += v * y * y;
            cov += v * x * y;
        }
        cov / vy
    }

    #[test]
    fn deskewing_makes_a_slanted_bar_upright_and_keeps_an_upright_one() {
        let slanted = bar(6.0, 16.0);
        assert!(slant(&slanted) > 0.4);
        let d = deskew(&slanted);
        assert!(slant(&d).abs() < 0.05, "slant {}", slant(&d));
        assert!(d
            .iter()
            .all(|v| v.fract() == 0.0 && (0.0..=255.0).contains(v)));
        let upright = bar(13.0, 13.0);
        let u = deskew(&upright);
        assert!(slant(&u).abs() < 0.05);
        let moved = upright
            .iter()
            .zip(&u)
            .filter(|(a, b)| (*a - *b).abs() > 1.0)
            .count();
        assert!(
            moved <= 80,
            "an upright bar barely moves: {moved} pixels changed"
        );
        assert_eq!(deskew(&vec![0.0; SIDE * SIDE]), vec![0.0; SIDE * SIDE]);
    }

    #[test]
    fn deskewing_scalers_deskew_then_scale_and_round_trip_through_json() {
        let x = ndarray::Array2::from_shape_vec(
            (2, SIDE * SIDE),
            [bar(6.0, 16.0), bar(13.0, 9.0)].concat(),
        )
        .unwrap();
        for scaling in [
            Scaling::Deskew,
            Scaling::DeskewUnit,
            Scaling::DeskewStandard,
            Scaling::DeskewMinMax,
        ] {
            let sc = Scaler::fit(scaling, &x.view()).unwrap();
            assert_eq!(sc.scaling(), scaling);
            let back = Scaler::from_json(&sc.to_json()).unwrap();
            assert_eq!(back, sc);
            let t = sc.transform(&x.view()).unwrap();
            let deskewed = deskew_rows(&x.view());
            assert_eq!(t, sc.base().transform(&deskewed.view()).unwrap());
            // The inverse undoes the scaling, not the deskewing.
            let inv = sc.inverse_transform(&t.view()).unwrap();
            assert!(inv
                .iter()
                .zip(deskewed.iter())
                .all(|(a, b)| (a - b).abs() < 1e-2));
        }
        assert!(Scaler::fit(Scaling::DeskewUnit, &x.view())
            .unwrap()
            .transform(&ndarray::Array2::zeros((1, 5)).view())
            .is_err());
    }
}

//! Where a digit sits among the training digits: a 2-D map, the training
//! pictures (pixels 0–1) projected on their two leading principal directions
//! ([`Pca`]). It is computed once from the training split and saved with the
//! models (`map.bin` in the models directory, [`Store::map_or_fit`]); the
//! server places each explained picture on it
//! ([`Explanation::map`](crate::api::Explanation::map)) and sends the map's
//! points once (`GET /api/map`), and [`DigitMap::figure`] draws it with
//! chosen pictures marked.
//!
//! Nearness on the map is nearness in the two directions along which the
//! training digits differ most: 0s and 1s fall far apart, 4s and 9s overlap.
//! A drawing that lands among the wrong digits' points, or far from all of
//! them, is one the models have seen little like.

use std::path::{Path, PathBuf};

use ndarray::{ArrayView1, Axis};

use crate::api::{MapPlace, MapPoint, MapResponse};
use crate::consts::{CLASSES, PIXELS};
use crate::data::{Parts, Split};
use crate::display::{write_atomic, Figure};
use crate::error::{Error, Result};
use crate::models::codec::{self, Put};
use crate::models::pca::Pca;
use crate::models::Progress;
use crate::plot;
use crate::store::Store;

/// The map's file in a models directory.
pub const FILE: &str = "map.bin";

/// Training digits of each class kept as the map's points (the first ones
/// of the split).
pub const POINTS_PER_DIGIT: usize = 100;

/// Subspace iterations: two directions converge well before this.
const ITERATIONS: usize = 40;

const MAGIC: &[u8; 8] = b"MNISTMAP";
const VERSION: u32 = 1;

/// The training digits' map: two principal directions, the share of the
/// pixels' variance along each, and some training digits' places.
#[derive(Debug, Clone, PartialEq)]
pub struct DigitMap {
    pca: Pca,
    /// The share of the training pixels' variance along each axis.
    pub explained: [f32; 2],
    /// [`POINTS_PER_DIGIT`] training digits of each class, placed.
    pub points: Vec<MapPoint>,
    /// What it was computed from: the data files' checksums and the split's sizes.
    data_key: [u8; 16],
}

impl DigitMap {
    /// The map of `split`'s training part (raw pixels 0–255, not a
    /// scaled split's).
    pub fn fit(split: &Split) -> Result<DigitMap> {
        let (x, y) = (&split.x_train, &split.y_train);
        if x.ncols() != PIXELS || x.nrows() != y.len() || x.nrows() < 2 {
            return Err(Error::Shape(format!(
                "a map needs at least 2 training pictures of {PIXELS} pixels with a label each, \
                 got {}×{} and {} labels",
                x.nrows(),
                x.ncols(),
                y.len()
            )));
        }
        let unit = x.mapv(|v| v / 255.0);
        let mut pca = Pca::fit(unit.view(), 2, ITERATIONS)?;
        // Rotate within the span so the axes are the covariance's own
        // directions there, the wider first (the 2×2 eigenproblem in closed form).
        let z = pca.project(unit.view())?;
        let c = z.t().dot(&z);
        let angle = 0.5 * (2.0 * c[[0, 1]]).atan2(c[[0, 0]] - c[[1, 1]]);
        let (sin, cos) = angle.sin_cos();
        pca.basis = pca.basis.dot(&ndarray::arr2(&[[cos, -sin], [sin, cos]]));
        // Each axis points where the mean picture's ink is: a fixed sign.
        for mut axis in pca.basis.columns_mut() {
            if axis.sum() < 0.0 {
                axis.mapv_inplace(|v| -v);
            }
        }
        let z = pca.project(unit.view())?;
        let n = unit.nrows() as f64;
        let total: f64 = (unit.var_axis(Axis(0), 0.0).iter())
            .map(|&v| f64::from(v))
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
        let share = |c: usize| {
            let sq: f64 = z.column(c).iter().map(|&v| f64::from(v).powi(2)).sum();
            (sq / n / total) as f32
        };
        let mut taken = [0usize; CLASSES];
        let mut points = Vec::new();
        for (row, &digit) in z.rows().into_iter().zip(y.iter()) {
            let Some(count) = taken.get_mut(usize::from(digit)) else {
                continue;
            };
            if *count < POINTS_PER_DIGIT {
                *count += 1;
                points.push(MapPoint {
                    x: rounded(row[0]),
                    y: rounded(row[1]),
                    digit,
                });
            }
        }
        Ok(DigitMap {
            pca,
            explained: [share(0), share(1)],
            points,
            data_key: data_key(split),
        })
    }

    /// Where `pixels` (784 raw pixels, 0–255) sits.
    pub fn place(&self, pixels: ArrayView1<f32>) -> Result<MapPlace> {
        if pixels.len() != PIXELS {
            return Err(Error::Shape(format!(
                "a picture of {PIXELS} pixels, got {}",
                pixels.len()
            )));
        }
        let unit = pixels.mapv(|v| v / 255.0).insert_axis(Axis(0));
        let z = self.pca.project(unit.view())?;
        Ok(MapPlace {
            x: rounded(z[[0, 0]]),
            y: rounded(z[[0, 1]]),
        })
    }

    /// Whether it was computed from `data` (the same files and split sizes).
    pub fn is_for(&self, data: &dyn Parts) -> bool {
        self.data_key == data_key(data)
    }

    /// What `GET /api/map` sends: the points to draw an explanation's place among.
    pub fn response(&self) -> MapResponse {
        MapResponse {
            explained: self.explained,
            points: self.points.clone(),
        }
    }

    /// The map's points coloured by digit, each class's label at its
    /// points' centre, and `marked` (a name and raw pixels each) as black
    /// crosses.
    pub fn figure(&self, marked: &[(String, ArrayView1<f32>)]) -> Result<Figure> {
        let marks = (marked.iter())
            .map(|(name, pixels)| {
                let at = self.place(*pixels)?;
                Ok((name.clone(), at.x, at.y))
            })
            .collect::<Result<Vec<_>>>()?;
        let points: Vec<_> = self.points.iter().map(|p| (p.x, p.y, p.digit)).collect();
        plot::digit_map(
            &format!(
                "The training digits on their two principal directions ({:.0}% and {:.0}% of the variance)",
                100.0 * self.explained[0],
                100.0 * self.explained[1]
            ),
            &points,
            &marks,
        )
    }

    /// The map's file in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(FILE)
    }

    /// The map saved in `dir`, or `None` when there is none; a map that is
    /// there but unreadable is an error.
    pub fn load(dir: &Path) -> Result<Option<DigitMap>> {
        let path = DigitMap::path(dir);
        match std::fs::read(&path) {
            Ok(bytes) => DigitMap::from_bytes(&bytes, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Save it in `dir` (atomically).
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        write_atomic(&DigitMap::path(dir), &self.to_bytes())
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&self.data_key);
        body.put_f32s(&self.explained);
        self.pca.put(&mut body);
        body.put_u64(self.points.len() as u64);
        for p in &self.points {
            body.put_f32s(&[p.x, p.y]);
            body.push(p.digit);
        }
        let mut file = MAGIC.to_vec();
        file.put_u32(VERSION);
        file.extend_from_slice(&md5::compute(&body).0);
        file.extend_from_slice(&body);
        file
    }

    fn from_bytes(bytes: &[u8], what: &str) -> Result<DigitMap> {
        let mut r = codec::Reader::new(bytes, what);
        if r.take(MAGIC.len()).ok() != Some(MAGIC.as_slice()) {
            return Err(r.error("not a digit map (no MNISTMAP header)"));
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(r.error(format!(
                "a digit map of format {version}, this crate reads {VERSION}: compute it again"
            )));
        }
        let sum = r.take(16)?;
        let body = r.rest();
        if md5::compute(body).0 != sum {
            return Err(r.error("checksum mismatch (the file is corrupt)"));
        }
        let mut r = codec::Reader::new(body, what);
        let data_key: [u8; 16] = r.take(16)?.try_into().expect("16 bytes");
        let explained: [f32; 2] = r.f32s(2)?.try_into().expect("2 values");
        let pca = Pca::read(&mut r)?;
        if pca.width() != PIXELS || pca.dims() != 2 {
            return Err(r.error(format!(
                "{} directions of {} pixels, not 2 of {PIXELS}",
                pca.dims(),
                pca.width()
            )));
        }
        let n = r.count(CLASSES * POINTS_PER_DIGIT, "map points")?;
        let mut points = Vec::with_capacity(n);
        for _ in 0..n {
            let xy = r.f32s(2)?;
            let digit = r.u8()?;
            if usize::from(digit) >= CLASSES || xy.iter().any(|v| !v.is_finite()) {
                return Err(r.error("a map point out of range"));
            }
            points.push(MapPoint {
                x: xy[0],
                y: xy[1],
                digit,
            });
        }
        r.finish()?;
        if explained.iter().any(|v| !v.is_finite()) {
            return Err(r.error("non-finite variance shares"));
        }
        Ok(DigitMap {
            pca,
            explained,
            points,
            data_key,
        })
    }
}

impl Store {
    /// The map of `split`'s training digits saved in the store when it was
    /// computed from the same data, else computed (seconds) and saved.
    pub fn map_or_fit(&self, split: &Split, progress: &dyn Progress) -> Result<DigitMap> {
        let path = DigitMap::path(self.dir());
        match DigitMap::load(self.dir()) {
            Ok(Some(map)) if map.is_for(split) => {
                progress.note(&format!("using the digit map {}", path.display()));
                return Ok(map);
            }
            Ok(Some(_)) => progress.note("the saved digit map is of other data: computing it"),
            Ok(None) => progress.note("no digit map saved yet: computing it"),
            Err(e) => progress.note(&format!(
                "cannot use the saved digit map ({e}): computing it"
            )),
        }
        let map = DigitMap::fit(split)?;
        map.save(self.dir())?;
        progress.note(&format!("saved the digit map {}", path.display()));
        Ok(map)
    }
}

/// A coordinate to two decimals (what the page needs, and short in JSON).
fn rounded(v: f32) -> f32 {
    (v * 100.0).round() / 100.0
}

/// MD5 of the data files' checksums and the split's sizes.
fn data_key(data: &dyn Parts) -> [u8; 16] {
    let mut text = String::new();
    for (name, sum) in data.checksums() {
        text.push_str(&format!("{name}={sum}\n"));
    }
    text.push_str(&format!("{:?}", data.sizes()));
    md5::compute(text.as_bytes()).0
}

//! Pictures that hold no digit, for the server's `digit_like` flag: typed
//! letters and shapes drawn by hand.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::generate::{distort, draw, NOT_A_DIGIT};
use super::picture::{dark_box, Canvas, Picture, Sample};
use super::skeleton::Path;
use super::{Crop, Set, Source};
use crate::error::Result;
use crate::fonts::typed;

/// Letters that cannot pass for a digit (no O, l, S, Z, B, G, q, …).
const LETTERS: &str = "ACEFHKMNPRVWXacdefhkmnprtuvwx";

/// A polyline through `points` (28-pixel units) as segments.
fn polyline(points: &[(f32, f32)]) -> Path {
    points.windows(2).map(|w| (w[0], w[1])).collect()
}

/// An arc of a circle from angle `a0` to `a1` (radians, clockwise on screen).
fn arc(c: (f32, f32), r: f32, a0: f32, a1: f32) -> Path {
    let n = ((a1 - a0).abs() * r / 1.5).ceil().max(6.0) as usize;
    let points: Vec<(f32, f32)> = (0..=n)
        .map(|k| {
            let a = a0 + (a1 - a0) * k as f32 / n as f32;
            (c.0 + r * a.cos(), c.1 + r * a.sin())
        })
        .collect();
    polyline(&points)
}

/// A shape that is not a digit, drawn as pen strokes: faces, figures,
/// letters drawn by hand, scribbles; `kind` picks it.
fn shape(kind: usize, rng: &mut ChaCha8Rng) -> Path {
    use std::f32::consts::{PI, TAU};
    let j = |rng: &mut ChaCha8Rng| rng.gen_range(-1.0f32..1.0);
    match kind % 12 {
        // A smiley, or a sad face.
        k @ (0 | 1) => {
            let mut p = arc((14.0, 14.0), 11.0, 0.0, TAU);
            p.extend(arc((10.0, 11.0), 1.2, 0.0, TAU));
            p.extend(arc((18.0, 11.0), 1.2, 0.0, TAU));
            if k == 0 {
                p.extend(arc((14.0, 14.0), 6.0, 0.2 * PI, 0.8 * PI));
            } else {
                p.extend(arc((14.0, 22.0), 5.0, 1.2 * PI, 1.8 * PI));
            }
            p
        }
        // A five-pointed star.
        2 => {
            let pts: Vec<(f32, f32)> = (0..=5)
                .map(|k| {
                    let a = -PI / 2.0 + k as f32 * 4.0 * PI / 5.0;
                    (14.0 + 12.0 * a.cos(), 14.0 + 12.0 * a.sin())
                })
                .collect();
            polyline(&pts)
        }
        3 => polyline(&[(3.0, 24.0), (14.0, 4.0 + j(rng)), (25.0, 24.0), (3.0, 24.0)]),
        4 => polyline(&[
            (4.0, 4.0),
            (24.0, 4.0),
            (24.0, 24.0 + j(rng)),
            (4.0, 24.0),
            (4.0, 4.0),
        ]),
        // A heart.
        5 => {
            let pts: Vec<(f32, f32)> = (0..=40)
                .map(|k| {
                    let t = k as f32 / 40.0 * TAU;
                    let x = 16.0 * t.sin().powi(3);
                    let y = 13.0 * t.cos()
                        - 5.0 * (2.0 * t).cos()
                        - 2.0 * (3.0 * t).cos()
                        - (4.0 * t).cos();
                    (14.0 + 0.7 * x, 13.0 - 0.7 * y)
                })
                .collect();
            polyline(&pts)
        }
        // A spiral.
        6 => {
            let pts: Vec<(f32, f32)> = (0..=60)
                .map(|k| {
                    let t = k as f32 / 60.0;
                    let a = t * 3.0 * TAU;
                    (14.0 + 12.0 * t * a.cos(), 14.0 + 12.0 * t * a.sin())
                })
                .collect();
            polyline(&pts)
        }
        // Letters drawn by hand: A, H, X, K.
        7 => {
            let mut p = polyline(&[(4.0, 26.0), (14.0, 2.0), (24.0, 26.0)]);
            p.push(((8.0, 17.0 + j(rng)), (20.0, 17.0 + j(rng))));
            p
        }
        8 => vec![
            ((6.0, 3.0), (6.0, 25.0)),
            ((22.0, 3.0), (22.0, 25.0)),
            ((6.0, 14.0 + j(rng)), (22.0, 14.0 + j(rng))),
        ],
        9 => vec![((4.0, 4.0), (24.0, 24.0)), ((24.0, 4.0), (4.0, 24.0))],
        10 => vec![
            ((7.0, 3.0), (7.0, 25.0)),
            ((22.0, 3.0), (8.0, 15.0)),
            ((11.0, 13.0), (23.0, 25.0)),
        ],
        // A scribble.
        _ => {
            let mut at = (14.0f32, 14.0f32);
            let mut a = rng.gen_range(0.0..TAU);
            let pts: Vec<(f32, f32)> = (0..40)
                .map(|_| {
                    a += rng.gen_range(-1.2f32..1.2);
                    at = (
                        (at.0 + 2.5 * a.cos()).clamp(2.0, 26.0),
                        (at.1 + 2.5 * a.sin()).clamp(2.0, 26.0),
                    );
                    at
                })
                .collect();
            polyline(&pts)
        }
    }
}

/// `n` pictures that hold no digit (label [`NOT_A_DIGIT`]), in turn: a typed
/// letter ([`LETTERS`], in the set's fonts: the benchmark's, or the training
/// fonts for [`Set::Train`]), a shape drawn on the pad, and a shape written
/// with a pen on grey paper and photographed (faces, stars, triangles,
/// squares, hearts, spirals, hand-drawn A, H, X, K, scribbles). Uncropped;
/// the same arguments give the same bytes.
pub fn non_digits(set: Set, n: usize) -> Result<Vec<Sample>> {
    non_digits_with_crops(set, n, &[Crop::Uncropped])
}

/// [`non_digits`], each also cropped as `crops` say (one file per crop).
pub fn non_digits_with_crops(set: Set, n: usize, crops: &[Crop]) -> Result<Vec<Sample>> {
    let seed: u64 = match set {
        Set::Dev => 0x0d16_de00,
        Set::Heldout => 0x0d16_4e1d,
        Set::Train => 0x0d16_7a1e,
    };
    let (fonts, _) = set.fonts()?;
    let letters: Vec<char> = LETTERS.chars().collect();
    // Each picture is seeded alone: the same bytes on any number of threads.
    let made = (0..n).into_par_iter().map(|i| -> Result<Vec<Sample>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (i as u64) << 8);
        let (source, what, picture) = match i % 3 {
            0 => {
                let letter = letters[rng.gen_range(0..letters.len())];
                let (_, font) = &fonts[(i / 3) % fonts.len()];
                let img = typed(font, letter, &mut rng);
                let ink = dark_box(&img, 128);
                (
                    Source::Typed,
                    format!("letter{letter}"),
                    Picture {
                        canvas: Canvas::Gray(img),
                        ink,
                    },
                )
            }
            k => {
                let kind = i / 3;
                let path = distort(&shape(kind, &mut rng), &mut rng);
                let source = if k == 1 { Source::Pad } else { Source::Photo };
                (
                    source,
                    format!("shape{}", kind % 12),
                    draw(source, &path, &mut rng),
                )
            }
        };
        picture.samples(crops, source, NOT_A_DIGIT, |cut, ext| {
            format!("nondigit-{i:04}-{}-{what}{cut}.{ext}", source.name())
        })
    });
    let made: Vec<Vec<Sample>> = made.collect::<Result<_>>()?;
    Ok(made.into_iter().flatten().collect())
}

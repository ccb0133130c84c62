//! Rows of small pictures with captions and heat over them: the
//! explanations' figures ([`crate::explain`]).

use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{perr, render, FONT, GRID_TITLE_H};
use crate::consts::{PIXELS, SIDE};
use crate::display::Figure;
use crate::error::{Error, Result};

/// A grayscale picture for [`picture_rows`] (0 = black, 255 = white) with
/// caption lines under it, and optionally heat over it.
#[derive(Debug, Clone)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
    pub caption: Vec<String>,
    /// One value per pixel in −1..1: red over the picture where positive,
    /// blue where negative, as strong as the value ([`Picture::with_heat`]).
    pub heat: Option<Vec<f32>>,
}

impl Picture {
    /// An MNIST image (784 values, 0 = background, 255 = ink) drawn dark on light.
    pub fn mnist(pixels: &[f32], caption: Vec<String>) -> Picture {
        Picture {
            width: SIDE,
            height: SIDE,
            pixels: pixels
                .iter()
                .map(|&v| 255 - crate::consts::to_byte(v))
                .collect(),
            caption,
            heat: None,
        }
    }

    /// `values` (one per pixel, any sign and scale) drawn as heat over the
    /// picture, relative to the largest magnitude: red where positive, blue
    /// where negative.
    pub fn with_heat(self, values: &[f32]) -> Picture {
        let top = values.iter().fold(0f32, |m, v| m.max(v.abs()));
        let heat = values
            .iter()
            .map(|v| if top > 0.0 { v / top } else { 0.0 })
            .collect();
        Picture {
            heat: Some(heat),
            ..self
        }
    }

    /// `values` (784) as heat on white: a weight template, contributions.
    pub fn heat(values: &[f32], caption: Vec<String>) -> Picture {
        Picture::mnist(&[0.0; PIXELS], caption).with_heat(values)
    }
}

/// Gray `g` under heat `h` (−1..1): red for positive, blue for negative.
fn heated(g: u8, h: f32) -> RGBColor {
    let (target, a) = match h {
        h if h > 0.0 => ((214.0, 39.0, 40.0), h.min(1.0) * 0.9),
        h if h < 0.0 => ((31.0, 90.0, 200.0), (-h).min(1.0) * 0.9),
        _ => return RGBColor(g, g, g),
    };
    let mix = |t: f32| (f32::from(g) * (1.0 - a) + t * a).round() as u8;
    RGBColor(mix(target.0), mix(target.1), mix(target.2))
}

/// Rows of pictures, each scaled to fit a `cell`×`cell` square (nearest
/// neighbour, so 28×28 inputs stay crisp), captions under each.
pub fn picture_rows(title: &str, rows: &[Vec<Picture>], cell: u32) -> Result<Figure> {
    const LINE: u32 = 18;
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0) as u32;
    let lines = rows
        .iter()
        .flatten()
        .map(|p| p.caption.len())
        .max()
        .unwrap_or(0) as u32;
    if cols == 0 {
        return Err(Error::Shape("no pictures to draw".into()));
    }
    if let Some(p) = rows.iter().flatten().find(|p| {
        p.width == 0
            || p.height == 0
            || p.pixels.len() != p.width * p.height
            || p.heat.as_ref().is_some_and(|h| h.len() != p.pixels.len())
    }) {
        return Err(Error::Shape(format!(
            "{} pixels for a {}×{} picture",
            p.pixels.len(),
            p.width,
            p.height
        )));
    }
    let (cw, ch) = (cell + 24, cell + 16 + lines * LINE);
    let (w, h) = (cols * cw + 12, GRID_TITLE_H + rows.len() as u32 * ch);
    render(title, w, h, |root| {
        root.draw(&Text::new(
            title.to_string(),
            (12, 10),
            (FONT, 22).into_font().style(FontStyle::Bold).color(&BLACK),
        ))
        .map_err(perr)?;
        for (r, row) in rows.iter().enumerate() {
            for (c, p) in row.iter().enumerate() {
                let x0 = 12 + c as u32 * cw;
                let y0 = GRID_TITLE_H + r as u32 * ch;
                let k = cell as f32 / p.width.max(p.height) as f32;
                let (pw, ph) = ((p.width as f32 * k) as u32, (p.height as f32 * k) as u32);
                let (ox, oy) = (x0 + (cell - pw) / 2, y0 + (cell - ph) / 2);
                for y in 0..ph {
                    for x in 0..pw {
                        let sx = ((x as f32 / k) as usize).min(p.width - 1);
                        let sy = ((y as f32 / k) as usize).min(p.height - 1);
                        let i = sy * p.width + sx;
                        let h = p.heat.as_ref().map_or(0.0, |h| h[i]);
                        root.draw_pixel(
                            ((ox + x) as i32, (oy + y) as i32),
                            &heated(p.pixels[i], h),
                        )
                        .map_err(perr)?;
                    }
                }
                root.draw(&Rectangle::new(
                    [(ox as i32, oy as i32), ((ox + pw) as i32, (oy + ph) as i32)],
                    BLACK.mix(0.3),
                ))
                .map_err(perr)?;
                for (i, line) in p.caption.iter().enumerate() {
                    root.draw(&Text::new(
                        line.clone(),
                        (x0 as i32, (y0 + cell + 6 + i as u32 * LINE) as i32),
                        (FONT, 14).into_font().color(&BLACK),
                    ))
                    .map_err(perr)?;
                }
            }
        }
        Ok(())
    })
}

//! Figures drawn with plotters into an RGB buffer and returned as [`Figure`]s.
//! Text uses the DejaVu Sans font embedded in the binary, so nothing depends on
//! the fonts installed on the machine.

use std::sync::Once;

use ndarray::{Array1, Array2};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use rand::SeedableRng;

use crate::consts::{CLASSES, PIXELS, SIDE};
use crate::display::Figure;
use crate::error::{Error, Result};

mod pictures;
mod scatter;

pub use pictures::{picture_rows, Picture};
pub use scatter::{digit_map, DIGIT_COLOURS};

/// The font family every figure uses.
pub const FONT: &str = "sans-serif";

fn ensure_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded DejaVu fonts are valid TrueType; failure here would be a
        // packaging bug, and text drawing would then report it as an error.
        let _ = register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

fn perr<E: std::fmt::Debug>(e: E) -> Error {
    Error::Plot(format!("{e:?}"))
}

/// Draw into a fresh white `width`×`height` canvas and encode it.
pub fn render(
    title: &str,
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<Figure> {
    ensure_fonts();
    let mut buf = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        draw(&root)?;
        root.present().map_err(perr)?;
    }
    Figure::from_rgb(title, width, height, &buf)
}

/// Pixel size of one digit in the grid.
pub const GRID_SCALE: u32 = 7;
const CELL_W: u32 = SIDE as u32 * GRID_SCALE + 24;
const CELL_H: u32 = SIDE as u32 * GRID_SCALE + 40;
const GRID_TITLE_H: u32 = 44;

/// Size in pixels of a `rows`×`cols` digit grid figure.
pub fn digit_grid_size(rows: u32, cols: u32) -> (u32, u32) {
    (cols * CELL_W, GRID_TITLE_H + rows * CELL_H)
}

/// Pick `count` distinct row indices of `n` with a seeded generator.
pub fn sample_indices(n: usize, count: usize, seed: u64) -> Result<Vec<usize>> {
    if count > n {
        return Err(Error::Plot(format!(
            "cannot pick {count} distinct images out of {n}"
        )));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Ok(rand::seq::index::sample(&mut rng, n, count).into_vec())
}

/// A grid of digits (`rows`×`cols`), each titled with `titles[i]`; `x` holds raw
/// pixels 0–255 (n×784).
pub fn digits(
    title: &str,
    x: &Array2<f32>,
    indices: &[usize],
    titles: &[String],
    rows: u32,
    cols: u32,
) -> Result<Figure> {
    if x.ncols() != PIXELS {
        return Err(Error::Shape(format!(
            "digits need 784 pixels per row, got {}",
            x.ncols()
        )));
    }
    if indices.len() != titles.len() || indices.len() > (rows * cols) as usize {
        return Err(Error::Shape(format!(
            "{} images and {} titles for a {rows}x{cols} grid",
            indices.len(),
            titles.len()
        )));
    }
    if let Some(&bad) = indices.iter().find(|&&i| i >= x.nrows()) {
        return Err(Error::Shape(format!(
            "image index {bad} out of range 0..{}",
            x.nrows()
        )));
    }
    let (w, h) = digit_grid_size(rows, cols);
    render(title, w, h, |root| {
        root.draw(&Text::new(
            title.to_string(),
            (12, 10),
            (FONT, 24).into_font().style(FontStyle::Bold).color(&BLACK),
        ))
        .map_err(perr)?;
        for (k, (&i, t)) in indices.iter().zip(titles).enumerate() {
            let (r, c) = (k as u32 / cols, k as u32 % cols);
            let x0 = (c * CELL_W + 12) as i32;
            let y0 = (GRID_TITLE_H + r * CELL_H) as i32;
            root.draw(&Text::new(
                t.clone(),
                (x0, y0 + 6),
                (FONT, 20).into_font().color(&BLACK),
            ))
            .map_err(perr)?;
            let img_y = y0 + 34;
            let row = x.row(i);
            for py in 0..SIDE {
                for px in 0..SIDE {
                    let v = row[py * SIDE + px].clamp(0.0, 255.0) as u8;
                    let g = 255 - v;
                    let (sx, sy) = (
                        x0 + (px as u32 * GRID_SCALE) as i32,
                        img_y + (py as u32 * GRID_SCALE) as i32,
                    );
                    root.draw(&Rectangle::new(
                        [(sx, sy), (sx + GRID_SCALE as i32, sy + GRID_SCALE as i32)],
                        RGBColor(g, g, g).filled(),
                    ))
                    .map_err(perr)?;
                }
            }
            let side = (SIDE as u32 * GRID_SCALE) as i32;
            root.draw(&Rectangle::new(
                [(x0, img_y), (x0 + side, img_y + side)],
                BLACK.mix(0.3),
            ))
            .map_err(perr)?;
        }
        Ok(())
    })
}

/// The seed's step 2: 9 random training digits (seeded) in a 3×3 grid, each
/// titled with its label.
pub fn digit_grid(x: &Array2<f32>, y: &Array1<u8>, seed: u64) -> Result<Figure> {
    if x.nrows() != y.len() {
        return Err(Error::Shape(format!(
            "{} images but {} labels",
            x.nrows(),
            y.len()
        )));
    }
    let idx = sample_indices(x.nrows(), 9, seed)?;
    let titles: Vec<String> = idx
        .iter()
        .map(|&i| format!("label: {}  (#{i})", y[i]))
        .collect();
    digits(
        &format!("9 random training digits (seed {seed})"),
        x,
        &idx,
        &titles,
        3,
        3,
    )
}

/// Size of the class-frequency figure with `n` splits.
pub fn class_frequency_size(n: usize) -> (u32, u32) {
    (n.max(1) as u32 * 400, 380)
}

/// Bar charts of the class counts of named splits, one panel per split,
/// side by side (what `data::ClassFrequency::chart` draws).
pub fn class_frequency(splits: &[(String, [usize; CLASSES])]) -> Result<Figure> {
    if splits.is_empty() {
        return Err(Error::Plot("no splits to plot".into()));
    }
    let (w, h) = class_frequency_size(splits.len());
    render("class frequency", w, h, |root| {
        let panels = root.split_evenly((1, splits.len()));
        for (area, (name, counts)) in panels.iter().zip(splits) {
            let total: usize = counts.iter().sum();
            let ymax = (*counts.iter().max().unwrap_or(&1)).max(1) as f64 * 1.15;
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{name} ({total} images)"), (FONT, 20))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(56)
                .build_cartesian_2d(-0.5f64..9.5f64, 0f64..ymax)
                .map_err(perr)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(CLASSES)
                .x_label_formatter(&|v| format!("{:.0}", v))
                .y_label_formatter(&|v| format!("{:.0}", v))
                .x_desc("digit")
                .y_desc("images")
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 14))
                .draw()
                .map_err(perr)?;
            let color = Palette99::pick(4);
            chart
                .draw_series(counts.iter().enumerate().map(|(d, &c)| {
                    Rectangle::new(
                        [(d as f64 - 0.38, 0.0), (d as f64 + 0.38, c as f64)],
                        color.filled(),
                    )
                }))
                .map_err(perr)?;
            chart
                .draw_series(counts.iter().enumerate().map(|(d, &c)| {
                    Text::new(
                        c.to_string(),
                        (d as f64 - 0.38, c as f64 + ymax * 0.05),
                        (FONT, 10).into_font().color(&BLACK),
                    )
                }))
                .map_err(perr)?;
        }
        Ok(())
    })
}

/// The average image of each digit (2×5 grid), from raw pixels `x` and labels `y`.
pub fn class_means(x: &Array2<f32>, y: &Array1<u8>) -> Result<Figure> {
    if x.nrows() != y.len() || x.ncols() != PIXELS {
        return Err(Error::Shape(format!(
            "{}x{} images with {} labels (need n×784 and n labels)",
            x.nrows(),
            x.ncols(),
            y.len()
        )));
    }
    let mut sums = Array2::<f64>::zeros((CLASSES, PIXELS));
    let mut counts = [0usize; CLASSES];
    for (row, &label) in x.rows().into_iter().zip(y.iter()) {
        let d = label as usize;
        if d >= CLASSES {
            return Err(Error::InvalidData(format!("label {label} is not a digit")));
        }
        counts[d] += 1;
        sums.row_mut(d).zip_mut_with(&row, |s, &v| *s += v as f64);
    }
    let means = Array2::from_shape_fn((CLASSES, PIXELS), |(d, p)| {
        (sums[[d, p]] / counts[d].max(1) as f64) as f32
    });
    let titles: Vec<String> = (0..CLASSES)
        .map(|d| format!("mean {d} (n={})", counts[d]))
        .collect();
    let idx: Vec<usize> = (0..CLASSES).collect();
    digits(
        "Average training image per digit",
        &means,
        &idx,
        &titles,
        2,
        5,
    )
}

/// Size of a row of `n` confusion-matrix heatmaps.
pub fn confusion_size(n: usize) -> (u32, u32) {
    (n.max(1) as u32 * 430, 470)
}

/// Confusion matrices as annotated heatmaps side by side: counts in the cells,
/// true digit down the side, predicted digit along the bottom; each panel
/// titled with its split name and accuracy.
pub fn confusion(
    title: &str,
    panels: &[(&str, &crate::metrics::ConfusionMatrix)],
) -> Result<Figure> {
    if panels.is_empty() {
        return Err(Error::Plot("no confusion matrices to plot".into()));
    }
    let (w, h) = confusion_size(panels.len());
    render(title, w, h, |root| {
        let (top, body) = root.split_vertically(40);
        top.draw(&Text::new(
            title.to_string(),
            (12, 8),
            (FONT, 22).into_font().style(FontStyle::Bold).color(&BLACK),
        ))
        .map_err(perr)?;
        for (area, (name, cm)) in body.split_evenly((1, panels.len())).iter().zip(panels) {
            let max_off = (0..CLASSES)
                .flat_map(|t| (0..CLASSES).filter(move |&p| p != t).map(move |p| (t, p)))
                .map(|(t, p)| cm.counts[t][p])
                .max()
                .unwrap_or(0)
                .max(1) as f64;
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!("{name}: {:.2}% of {}", 100.0 * cm.accuracy(), cm.total()),
                    (FONT, 16),
                )
                .margin(8)
                .x_label_area_size(34)
                .y_label_area_size(40)
                .build_cartesian_2d(-0.5f64..9.5f64, 9.5f64..-0.5f64)
                .map_err(perr)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(CLASSES)
                .y_labels(CLASSES)
                .x_label_formatter(&|v| format!("{:.0}", v))
                .y_label_formatter(&|v| format!("{:.0}", v))
                .x_desc("predicted")
                .y_desc("true")
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(perr)?;
            let row_totals: Vec<usize> = (0..CLASSES).map(|t| cm.counts[t].iter().sum()).collect();
            for t in 0..CLASSES {
                for p in 0..CLASSES {
                    let c = cm.counts[t][p];
                    // Diagonal: blue by the class's recall; off-diagonal: red by
                    // the count relative to the largest error.
                    let color = if t == p {
                        let f = if row_totals[t] == 0 {
                            0.0
                        } else {
                            c as f64 / row_totals[t] as f64
                        };
                        let k = 0.25 + 0.75 * f;
                        RGBColor(
                            (255.0 * (1.0 - 0.8 * k)) as u8,
                            (255.0 * (1.0 - 0.55 * k)) as u8,
                            255,
                        )
                    } else if c == 0 {
                        RGBColor(250, 250, 250)
                    } else {
                        let k = 0.15 + 0.85 * (c as f64 / max_off).sqrt();
                        RGBColor(
                            255,
                            (255.0 * (1.0 - 0.7 * k)) as u8,
                            (255.0 * (1.0 - 0.75 * k)) as u8,
                        )
                    };
                    let (x, y) = (p as f64, t as f64);
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                            color.filled(),
                        )))
                        .map_err(perr)?;
                    if c > 0 {
                        let label = c.to_string();
                        let size = if label.len() > 3 { 9 } else { 11 };
                        let shift = 0.09 * label.len() as f64;
                        chart
                            .draw_series(std::iter::once(Text::new(
                                label,
                                (x - shift, y - 0.15),
                                (FONT, size).into_font().color(&BLACK),
                            )))
                            .map_err(perr)?;
                    }
                }
            }
        }
        Ok(())
    })
}

/// Size in pixels of the training-curve figure.
pub const CURVES_SIZE: (u32, u32) = (1000, 380);

/// A network's training curves: mean loss per epoch (left) and train/valid
/// accuracy per epoch (right), with the kept (best) epoch marked.
pub fn training_curves(title: &str, history: &crate::metrics::History) -> Result<Figure> {
    if history.epochs.is_empty() {
        return Err(Error::Plot("no epochs to plot".into()));
    }
    let (w, h) = CURVES_SIZE;
    let last = history.epochs.len() as f64;
    let xr = 0.5f64..last + 0.5;
    let best = history.best_epoch as f64;
    render(title, w, h, |root| {
        let (top, body) = root.split_vertically(36);
        top.draw(&Text::new(
            title.to_string(),
            (12, 8),
            (FONT, 20).into_font().style(FontStyle::Bold),
        ))
        .map_err(perr)?;
        let panels = body.split_evenly((1, 2));
        let loss: Vec<(f64, f64)> = history
            .epochs
            .iter()
            .map(|e| (e.epoch as f64, e.loss))
            .collect();
        let lmax = loss.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-6) * 1.1;
        let mut chart = ChartBuilder::on(&panels[0])
            .caption("training loss", (FONT, 17))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(xr.clone(), 0f64..lmax)
            .map_err(perr)?;
        chart
            .configure_mesh()
            .x_labels(history.epochs.len().min(12))
            .x_label_formatter(&|v| format!("{:.0}", v))
            .y_label_formatter(&|v| format!("{:.3}", v))
            .x_desc("epoch")
            .y_desc("cross-entropy")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(perr)?;
        let blue = Palette99::pick(4).to_rgba();
        chart
            .draw_series(LineSeries::new(loss.clone(), blue.stroke_width(2)))
            .map_err(perr)?;
        chart
            .draw_series(loss.iter().map(|&p| Circle::new(p, 3, blue.filled())))
            .map_err(perr)?;

        let train: Vec<(f64, f64)> = history
            .epochs
            .iter()
            .map(|e| (e.epoch as f64, 100.0 * e.train_accuracy))
            .collect();
        let valid: Vec<(f64, f64)> = history
            .epochs
            .iter()
            .filter_map(|e| e.valid_accuracy.map(|v| (e.epoch as f64, 100.0 * v)))
            .collect();
        let all = train.iter().chain(&valid).map(|p| p.1);
        let lo = all.clone().fold(100.0, f64::min);
        let ymin = (lo - (100.0 - lo) * 0.15).clamp(0.0, 99.0).floor();
        let mut chart = ChartBuilder::on(&panels[1])
            .caption("accuracy (%)", (FONT, 17))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(xr, ymin..100.0)
            .map_err(perr)?;
        chart
            .configure_mesh()
            .x_labels(history.epochs.len().min(12))
            .x_label_formatter(&|v| format!("{:.0}", v))
            .y_label_formatter(&|v| format!("{:.1}", v))
            .x_desc("epoch")
            .y_desc("accuracy (%)")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(perr)?;
        let orange = Palette99::pick(1).to_rgba();
        chart
            .draw_series(LineSeries::new(train.clone(), blue.stroke_width(2)))
            .map_err(perr)?
            .label("train (during the epoch)")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], blue.stroke_width(2))
            });
        if !valid.is_empty() {
            chart
                .draw_series(LineSeries::new(valid.clone(), orange.stroke_width(2)))
                .map_err(perr)?
                .label("valid")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], orange.stroke_width(2))
                });
            chart
                .draw_series(valid.iter().map(|&p| Circle::new(p, 3, orange.filled())))
                .map_err(perr)?;
            if let Some(&(bx, by)) = valid.iter().find(|p| p.0 == best) {
                chart
                    .draw_series(std::iter::once(Circle::new(
                        (bx, by),
                        7,
                        BLACK.stroke_width(2),
                    )))
                    .map_err(perr)?
                    .label(format!("kept: epoch {}", history.best_epoch))
                    .legend(|(x, y)| Circle::new((x + 9, y), 5, BLACK.stroke_width(2)));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()
            .map_err(perr)?;
        Ok(())
    })
}

//! The map of the training digits ([`crate::map`]) as a scatter plot.

use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{perr, render, FONT};
use crate::consts::CLASSES;
use crate::display::Figure;
use crate::error::{Error, Result};

/// Ten colours, one per digit (matplotlib's tab10, as the page draws them).
pub const DIGIT_COLOURS: [RGBColor; CLASSES] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The map of the training digits: `points` (x, y, digit) coloured by digit
/// with each digit's label at its points' centre, and `marks` (a name, x, y)
/// as black crosses.
pub fn digit_map(
    title: &str,
    points: &[(f32, f32, u8)],
    marks: &[(String, f32, f32)],
) -> Result<Figure> {
    if points.is_empty() {
        return Err(Error::Shape("a map with no points".into()));
    }
    let xs = points.iter().map(|p| p.0).chain(marks.iter().map(|m| m.1));
    let ys = points.iter().map(|p| p.1).chain(marks.iter().map(|m| m.2));
    let span = |v: &mut dyn Iterator<Item = f32>| {
        let (lo, hi) = v.fold((f32::MAX, f32::MIN), |(l, h), x| (l.min(x), h.max(x)));
        let pad = ((hi - lo) * 0.06).max(0.1);
        f64::from(lo - pad)..f64::from(hi + pad)
    };
    let (xr, yr) = (span(&mut xs.into_iter()), span(&mut ys.into_iter()));
    render(title, 760, 640, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 17))
            .margin(14)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(xr, yr)
            .map_err(perr)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("first principal direction")
            .y_desc("second principal direction")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(perr)?;
        chart
            .draw_series(points.iter().map(|&(x, y, digit)| {
                let c = DIGIT_COLOURS[usize::from(digit) % CLASSES];
                Circle::new((f64::from(x), f64::from(y)), 3, c.mix(0.55).filled())
            }))
            .map_err(perr)?;
        for d in 0..CLASSES as u8 {
            let own: Vec<_> = points.iter().filter(|p| p.2 == d).collect();
            if own.is_empty() {
                continue;
            }
            let n = own.len() as f64;
            let cx = own.iter().map(|p| f64::from(p.0)).sum::<f64>() / n;
            let cy = own.iter().map(|p| f64::from(p.1)).sum::<f64>() / n;
            chart
                .draw_series([Text::new(
                    d.to_string(),
                    (cx, cy),
                    (FONT, 26)
                        .into_font()
                        .style(FontStyle::Bold)
                        .color(&DIGIT_COLOURS[usize::from(d)]),
                )])
                .map_err(perr)?;
        }
        for (name, x, y) in marks {
            // The cross on the place, its name beside it (offsets in pixels).
            let mark = EmptyElement::at((f64::from(*x), f64::from(*y)))
                + Cross::new((0, 0), 9, BLACK.stroke_width(3))
                + Text::new(
                    name.clone(),
                    (14, -8),
                    (FONT, 15).into_font().style(FontStyle::Bold).color(&BLACK),
                );
            chart.draw_series([mark]).map_err(perr)?;
        }
        Ok(())
    })
}

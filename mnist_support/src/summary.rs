//! Step 4.7: the summary of all seven models, built from their saved reports
//! (nothing is retrained): a table (and, with the `polars` feature, a polars
//! DataFrame) with one row per model, CSV and Markdown files, a grouped bar
//! chart of the three accuracies, a chart of training times on a log scale,
//! and galleries of the test images each model gets wrong.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::display::{write_atomic, Bundle, Figure, Panel, Rich, Table};
use crate::error::{Error, Result};
use crate::experiment::Report;
use crate::metrics::{accuracy, percent};
use crate::models::{Classifier, ModelKind};
use crate::plot::{render, FONT};
use crate::store::Store;

/// One model's line of the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub name: String,
    pub kind: ModelKind,
    pub fit_seconds: f64,
    pub train_accuracy: f64,
    pub valid_accuracy: f64,
    pub test_accuracy: f64,
    /// Accuracy on all 10,000 official test images (when computed), for
    /// comparison with published figures; half of them are our test split.
    pub official_test_accuracy: Option<f64>,
}

impl SummaryRow {
    pub fn from_report(r: &Report) -> Result<SummaryRow> {
        let acc = |s: crate::data::Part| {
            r.accuracy(s).ok_or_else(|| Error::Decode {
                what: format!("the report of {}", r.name),
                reason: format!("no {s} accuracy"),
            })
        };
        Ok(SummaryRow {
            name: r.name.clone(),
            kind: r.kind,
            fit_seconds: r.fit_seconds,
            train_accuracy: acc(crate::data::Part::Train)?,
            valid_accuracy: acc(crate::data::Part::Valid)?,
            test_accuracy: acc(crate::data::Part::Test)?,
            official_test_accuracy: None,
        })
    }
}

/// The seven models side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub rows: Vec<SummaryRow>,
    /// Models of the assignment with no saved report (`dir/<name>.json`).
    pub missing: Vec<String>,
    /// Where the reports were read.
    pub dir: PathBuf,
}

impl Summary {
    /// Read the saved report of every model of the assignment
    /// (`dir/<kind>.json`, in the seed's order). Missing models are listed in
    /// [`missing`](Summary::missing); a report that exists but cannot be read
    /// is an error.
    pub fn load(dir: &Path) -> Result<Summary> {
        let mut rows = Vec::new();
        let mut missing = Vec::new();
        for &kind in ModelKind::ALL {
            let path = dir.join(format!("{}.json", kind.name()));
            if !path.exists() {
                missing.push(kind.name().to_string());
                continue;
            }
            let card = Store::new(dir).card(kind.name())?;
            rows.push(SummaryRow::from_report(&card.report)?);
        }
        if rows.is_empty() {
            return Err(Error::NoSavedModels {
                dir: dir.to_path_buf(),
            });
        }
        Ok(Summary {
            rows,
            missing,
            dir: dir.to_path_buf(),
        })
    }

    /// The summary of reports at hand.
    pub fn from_reports(reports: &[Report]) -> Result<Summary> {
        Ok(Summary {
            rows: reports
                .iter()
                .map(SummaryRow::from_report)
                .collect::<Result<_>>()?,
            missing: vec![],
            dir: PathBuf::new(),
        })
    }

    /// Add the accuracy of every saved model on all 10,000 official test images
    /// (`x`, `y`: raw pixels and labels, e.g. from [`crate::data::official_test`]).
    pub fn with_official_test(mut self, x: &Array2<f32>, y: &Array1<u8>) -> Result<Summary> {
        for row in &mut self.rows {
            let (model, _) = Store::new(&self.dir).load(&row.name)?;
            let pred = model.predict(x.view())?;
            row.official_test_accuracy = Some(accuracy(&y.to_vec(), &pred.to_vec())?);
        }
        Ok(self)
    }

    /// One row per model: training time and the three accuracies (the seed's
    /// table), plus the official-test column when computed.
    pub fn table(&self) -> Table {
        let official = self.rows.iter().any(|r| r.official_test_accuracy.is_some());
        let mut header: Vec<String> = [
            "model",
            "training time (s)",
            "train accuracy",
            "valid accuracy",
            "test accuracy",
        ]
        .map(String::from)
        .to_vec();
        if official {
            header.push("all 10,000 official test images (extra)".into());
        }
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let mut row = vec![
                    r.kind.title().to_string(),
                    format!("{:.2}", r.fit_seconds),
                    percent(r.train_accuracy),
                    percent(r.valid_accuracy),
                    percent(r.test_accuracy),
                ];
                if official {
                    row.push(r.official_test_accuracy.map(percent).unwrap_or_default());
                }
                row
            })
            .collect();
        let mut caption = "Summary of the models (step 4.7), from their saved reports".to_string();
        if !self.missing.is_empty() {
            caption.push_str(&format!("; not trained yet: {}", self.missing.join(", ")));
        }
        Table::new(header, rows).with_caption(caption)
    }

    /// Write `<dir>/summary.csv` and `<dir>/summary.md`; returns their paths.
    pub fn save(&self, dir: &Path) -> Result<(PathBuf, PathBuf)> {
        let t = self.table();
        let csv = write_atomic(&dir.join("summary.csv"), t.to_csv().as_bytes())?;
        let md = write_atomic(&dir.join("summary.md"), t.to_markdown().as_bytes())?;
        Ok((csv, md))
    }

    /// The summary as a polars DataFrame: one row per model, numeric columns.
    #[cfg(feature = "polars")]
    pub fn dataframe(&self) -> Result<polars::prelude::DataFrame> {
        use polars::prelude::*;
        let r = &self.rows;
        let mut df = df!(
            "model" => r.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
            "training_time_s" => r.iter().map(|r| r.fit_seconds).collect::<Vec<_>>(),
            "train_accuracy" => r.iter().map(|r| r.train_accuracy).collect::<Vec<_>>(),
            "valid_accuracy" => r.iter().map(|r| r.valid_accuracy).collect::<Vec<_>>(),
            "test_accuracy" => r.iter().map(|r| r.test_accuracy).collect::<Vec<_>>(),
        )?;
        if r.iter().any(|r| r.official_test_accuracy.is_some()) {
            let col: Vec<Option<f64>> = r.iter().map(|r| r.official_test_accuracy).collect();
            df.with_column(Column::new("official_test_accuracy".into(), col))?;
        }
        Ok(df)
    }

    /// Grouped bars: train, valid and test accuracy of each model.
    pub fn accuracy_chart(&self) -> Result<Figure> {
        let n = self.rows.len();
        let lo = self
            .rows
            .iter()
            .flat_map(|r| [r.train_accuracy, r.valid_accuracy, r.test_accuracy])
            .fold(1.0, f64::min);
        let ymin = ((lo * 100.0 - 2.0) / 5.0).floor().max(0.0) * 5.0;
        let names: Vec<String> = self.rows.iter().map(|r| r.name.clone()).collect();
        render(
            "accuracy per model",
            160 * n.max(3) as u32 + 120,
            460,
            |root| {
                let mut chart = ChartBuilder::on(root)
                    .caption("Accuracy per model (%)", (FONT, 22))
                    .margin(14)
                    .x_label_area_size(40)
                    .y_label_area_size(56)
                    .build_cartesian_2d(-0.5f64..n as f64 - 0.5, ymin..100.0)
                    .map_err(perr)?;
                chart
                    .configure_mesh()
                    .disable_x_mesh()
                    .x_labels(n)
                    .x_label_formatter(&|v| model_label(&names, *v))
                    .y_label_formatter(&|v| format!("{v:.0}"))
                    .y_desc("accuracy (%)")
                    .label_style((FONT, 14))
                    .axis_desc_style((FONT, 14))
                    .draw()
                    .map_err(perr)?;
                for (j, (label, color)) in [("train", 4), ("valid", 1), ("test", 2)]
                    .into_iter()
                    .enumerate()
                {
                    let color = Palette99::pick(color).to_rgba();
                    let off = (j as f64 - 1.0) * 0.26;
                    chart
                        .draw_series(self.rows.iter().enumerate().map(|(i, r)| {
                            let v =
                                [r.train_accuracy, r.valid_accuracy, r.test_accuracy][j] * 100.0;
                            let x = i as f64 + off;
                            Rectangle::new([(x - 0.12, ymin), (x + 0.12, v)], color.filled())
                        }))
                        .map_err(perr)?
                        .label(label)
                        .legend(move |(x, y)| {
                            Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled())
                        });
                }
                chart
                    .draw_series(self.rows.iter().enumerate().map(|(i, r)| {
                        Text::new(
                            format!("{:.2}", r.test_accuracy * 100.0),
                            (
                                i as f64 + 0.16,
                                r.test_accuracy * 100.0 + (100.0 - ymin) * 0.01,
                            ),
                            (FONT, 11).into_font().color(&BLACK),
                        )
                    }))
                    .map_err(perr)?;
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperLeft)
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .label_font((FONT, 14))
                    .draw()
                    .map_err(perr)?;
                Ok(())
            },
        )
    }

    /// Training time of each model, bars on a log scale.
    pub fn time_chart(&self) -> Result<Figure> {
        let n = self.rows.len();
        let secs: Vec<f64> = self.rows.iter().map(|r| r.fit_seconds.max(1e-3)).collect();
        let lo = secs.iter().cloned().fold(f64::MAX, f64::min);
        let hi = secs.iter().cloned().fold(0.0, f64::max);
        let (ymin, ymax) = (
            10f64.powf(lo.log10().floor()),
            10f64.powf(hi.log10().ceil() + 0.2),
        );
        let names: Vec<String> = self.rows.iter().map(|r| r.name.clone()).collect();
        render(
            "training time per model",
            160 * n.max(3) as u32 + 120,
            400,
            |root| {
                let mut chart = ChartBuilder::on(root)
                    .caption("Training time per model (seconds, log scale)", (FONT, 22))
                    .margin(14)
                    .x_label_area_size(40)
                    .y_label_area_size(64)
                    .build_cartesian_2d(-0.5f64..n as f64 - 0.5, (ymin..ymax).log_scale())
                    .map_err(perr)?;
                chart
                    .configure_mesh()
                    .disable_x_mesh()
                    .x_labels(n)
                    .x_label_formatter(&|v| model_label(&names, *v))
                    .y_label_formatter(&|v| {
                        if *v >= 1.0 {
                            format!("{v:.0}")
                        } else {
                            format!("{v}")
                        }
                    })
                    .y_desc("seconds")
                    .label_style((FONT, 14))
                    .axis_desc_style((FONT, 14))
                    .draw()
                    .map_err(perr)?;
                let color = Palette99::pick(4).to_rgba();
                chart
                    .draw_series(secs.iter().enumerate().map(|(i, &s)| {
                        Rectangle::new(
                            [(i as f64 - 0.3, ymin), (i as f64 + 0.3, s)],
                            color.filled(),
                        )
                    }))
                    .map_err(perr)?;
                chart
                    .draw_series(secs.iter().enumerate().map(|(i, &s)| {
                        Text::new(
                            format!("{s:.1} s"),
                            (i as f64 - 0.25, s * 1.25),
                            (FONT, 13).into_font().color(&BLACK),
                        )
                    }))
                    .map_err(perr)?;
                Ok(())
            },
        )
    }

    /// For every saved model, [`misclassified`]: the first `count` images of
    /// (`x`, `y`) it gets wrong, all in one panel.
    pub fn error_gallery(&self, x: &Array2<f32>, y: &Array1<u8>, count: usize) -> Result<Panel> {
        let mut panel = Panel::new();
        for row in &self.rows {
            let (model, _) = Store::new(&self.dir).load(&row.name)?;
            panel = panel.figure(&misclassified(model.as_ref(), &row.name, x, y, count)?);
        }
        Ok(panel)
    }

    /// The image of (`x`, `y`) the most saved models get wrong (the first
    /// of those), explained by every one of them side by side
    /// ([`crate::explain::side_by_side`]), then its place among the
    /// training digits on `map`.
    pub fn hardest_explained(
        &self,
        x: &Array2<f32>,
        y: &Array1<u8>,
        map: &crate::map::DigitMap,
    ) -> Result<Panel> {
        if x.nrows() != y.len() || y.is_empty() {
            return Err(Error::Shape(format!(
                "{} images and {} labels",
                x.nrows(),
                y.len()
            )));
        }
        let models = (self.rows.iter())
            .map(|row| Ok(Store::new(&self.dir).load(&row.name)?.0))
            .collect::<Result<Vec<_>>>()?;
        let mut wrong = vec![0usize; y.len()];
        for model in &models {
            for (w, (p, t)) in wrong.iter_mut().zip(model.predict(x.view())?.iter().zip(y)) {
                *w += usize::from(p != t);
            }
        }
        let hardest = (0..y.len()).fold(0, |b, i| if wrong[i] > wrong[b] { i } else { b });
        let refs: Vec<&dyn Classifier> = models.iter().map(|m| m.as_ref()).collect();
        let (pixels, label) = (x.row(hardest), y[hardest]);
        Ok(Panel::new()
            .figure(&crate::explain::side_by_side(&refs, pixels, Some(label))?)
            .paragraph(format!(
                "Where this {label} ({} of {} models wrong) sits among the training digits:",
                wrong[hardest],
                models.len()
            ))
            .figure(&map.figure(&[(format!("this {label}"), pixels)])?))
    }

    pub fn panel(&self) -> Panel {
        let mut p = Panel::new().table(&self.table());
        for fig in [self.accuracy_chart(), self.time_chart()] {
            p = match fig {
                Ok(f) => p.figure(&f),
                Err(e) => p.paragraph(format!("(chart unavailable: {e})")),
            };
        }
        p
    }
}

/// Any polars DataFrame as a [`Table`] (renders as HTML inline, saves as
/// CSV or Markdown); floats in (0, 1] from accuracy columns show as percentages.
#[cfg(feature = "polars")]
pub fn frame_table(df: &polars::prelude::DataFrame) -> Table {
    use polars::prelude::AnyValue;
    let header: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let rows = (0..df.height())
        .map(|i| {
            df.columns()
                .iter()
                .map(|col| {
                    let v = col.get(i).unwrap_or(AnyValue::Null);
                    match v {
                        AnyValue::Null => String::new(),
                        AnyValue::Float64(x) if col.name().contains("accuracy") => percent(x),
                        AnyValue::Float64(x) => format!("{x:.2}"),
                        AnyValue::String(s) => s.to_string(),
                        other => other.to_string(),
                    }
                })
                .collect()
        })
        .collect();
    Table::new(header, rows).with_caption(format!(
        "polars DataFrame: {} rows × {} columns",
        df.height(),
        df.width()
    ))
}

/// The model name at bar position `v` (0, 1, …) of a chart, blank between bars.
fn model_label(names: &[String], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
        names[i as usize].clone()
    } else {
        String::new()
    }
}

fn perr<E: std::fmt::Debug>(e: E) -> Error {
    Error::Plot(format!("{e:?}"))
}

impl Rich for Summary {
    fn bundle(&self) -> Bundle {
        self.panel().bundle()
    }
}

/// Up to `count` test images `model` gets wrong (the first ones, in order),
/// in a grid titled "true → predicted". `x`: raw pixels.
pub fn misclassified(
    model: &dyn Classifier,
    name: &str,
    x: &Array2<f32>,
    y: &Array1<u8>,
    count: usize,
) -> Result<Figure> {
    if x.nrows() != y.len() {
        return Err(Error::Shape(format!(
            "{} images but {} labels",
            x.nrows(),
            y.len()
        )));
    }
    let pred = model.predict(x.view())?;
    let wrong: Vec<usize> = (0..y.len()).filter(|&i| pred[i] != y[i]).collect();
    let shown: Vec<usize> = wrong.iter().copied().take(count).collect();
    let titles: Vec<String> = shown
        .iter()
        .map(|&i| format!("true {} → {}", y[i], pred[i]))
        .collect();
    let cols = (count as f64).sqrt().ceil().max(1.0) as u32;
    let rows = (shown.len() as u32).div_ceil(cols).max(1);
    crate::plot::digits(
        &format!(
            "{name}: {} of {} test images wrong (first {})",
            wrong.len(),
            y.len(),
            shown.len()
        ),
        x,
        &shown,
        &titles,
        rows,
        cols,
    )
}

crate::display::inherent_rich!(Summary);

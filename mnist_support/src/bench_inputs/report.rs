//! The real-inputs benchmark's scores: accuracy per source, crop and model,
//! and the `digit_like` flag ([`InputsReport`]), and where `mnist
//! bench-inputs` keeps a measurement ([`measured_dir`]).

use serde::{Deserialize, Serialize};

use crate::display::Table;
use crate::metrics::percent;
use crate::real_inputs::{Crop, Set, Source};

/// Accuracy per source × crop × model over the real server path, and how the
/// server's `digit_like` flag does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputsReport {
    pub set: Set,
    /// Model names, in the server's order.
    pub models: Vec<String>,
    /// Each model's accuracy on the MNIST test split (from its saved report).
    pub mnist_test: Vec<Option<f64>>,
    /// One row per source and crop.
    pub rows: Vec<SourceRow>,
    /// The generated pictures that hold no digit, and how many the server
    /// flagged as not digit-like.
    pub non_digits: usize,
    pub non_digits_flagged: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRow {
    pub source: Source,
    pub crop: Crop,
    pub images: usize,
    /// Correct answers per model, in `models` order.
    pub correct: Vec<usize>,
    /// Inputs the server rejected (e.g. no digit found); counted as wrong.
    pub rejected: usize,
    /// Digits the server flagged as not digit-like.
    pub flagged: usize,
}

impl InputsReport {
    fn rows_where(&self, keep: impl Fn(&SourceRow) -> bool) -> impl Iterator<Item = &SourceRow> {
        self.rows.iter().filter(move |r| keep(r))
    }

    /// Accuracy of `model` on the inputs of `source` cropped as `crop`.
    pub fn accuracy(&self, source: Source, crop: Crop, model: &str) -> Option<f64> {
        let m = self.models.iter().position(|n| n == model)?;
        let row = self
            .rows
            .iter()
            .find(|r| r.source == source && r.crop == crop)?;
        (row.images > 0).then(|| row.correct[m] as f64 / row.images as f64)
    }

    /// Accuracy of model `m` over the rows `keep` selects.
    fn pooled(&self, m: usize, keep: impl Fn(&SourceRow) -> bool) -> String {
        let (mut right, mut all) = (0, 0);
        for r in self.rows_where(keep) {
            right += r.correct[m];
            all += r.images;
        }
        percent(right as f64 / all.max(1) as f64)
    }

    fn mnist_column(&self, m: usize) -> String {
        self.mnist_test
            .get(m)
            .copied()
            .flatten()
            .map(percent)
            .unwrap_or_else(|| "–".into())
    }

    /// The header and one row per model: its name, its MNIST test accuracy,
    /// then its accuracy over the rows each column keeps (`keep(column, row)`).
    fn by_model(
        &self,
        columns: &[&str],
        keep: impl Fn(usize, &SourceRow) -> bool,
    ) -> (Vec<String>, Vec<Vec<String>>) {
        let mut header = vec!["model".to_string(), "MNIST test".to_string()];
        header.extend(columns.iter().map(|c| c.to_string()));
        let rows = self
            .models
            .iter()
            .enumerate()
            .map(|(m, name)| {
                let mut row = vec![name.clone(), self.mnist_column(m)];
                row.extend((0..columns.len()).map(|c| self.pooled(m, |r| keep(c, r))));
                row
            })
            .collect();
        (header, rows)
    }

    /// One row per model: its MNIST test accuracy beside its accuracy on each
    /// source, uncropped.
    pub fn table(&self) -> Table {
        let names = Source::ALL.map(Source::name);
        let (header, rows) = self.by_model(&names, |c, r| {
            r.crop == Crop::Uncropped && r.source == Source::ALL[c]
        });
        let counts: Vec<String> = self
            .rows_where(|r| r.crop == Crop::Uncropped)
            .map(|r| {
                let rejected = if r.rejected > 0 {
                    format!(", {} rejected", r.rejected)
                } else {
                    String::new()
                };
                format!("{} {}{rejected}", r.images, r.source.name())
            })
            .collect();
        Table::new(header, rows).with_caption(format!(
            "Real inputs ({} set: {}), through the server; accuracy per model and source, uncropped",
            self.set.name(),
            counts.join(", ")
        ))
    }

    /// One row per model: its accuracy at each crop margin, every source together.
    pub fn crop_table(&self) -> Table {
        let names = Crop::ALL.map(Crop::name);
        let (header, rows) = self.by_model(&names, |c, r| r.crop == Crop::ALL[c]);
        let rejected: Vec<String> = Crop::ALL
            .iter()
            .map(|&c| {
                let n: usize = self.rows_where(|r| r.crop == c).map(|r| r.rejected).sum();
                format!("{} {n}", c.name())
            })
            .collect();
        Table::new(header, rows).with_caption(format!(
            "Real inputs ({} set) by crop margin, all sources; refused as no digit: {}",
            self.set.name(),
            rejected.join(", ")
        ))
    }

    /// One model's accuracy on every source at every crop margin.
    pub fn model_table(&self, model: &str) -> Option<Table> {
        let m = self.models.iter().position(|n| n == model)?;
        let mut header = vec!["source".to_string()];
        header.extend(Crop::ALL.iter().map(|c| c.name().to_string()));
        let rows = Source::ALL
            .iter()
            .map(|&s| {
                let mut row = vec![s.name().to_string()];
                row.extend(
                    Crop::ALL
                        .iter()
                        .map(|&c| self.pooled(m, |r| r.source == s && r.crop == c)),
                );
                row
            })
            .collect();
        Some(Table::new(header, rows).with_caption(format!(
            "{model} on real inputs ({} set), by source and crop margin",
            self.set.name()
        )))
    }

    /// Each model's lowest accuracy over every source at every crop margin
    /// (uncropped included), where it is, and the points it lies under the
    /// model's MNIST test accuracy.
    pub fn worst_table(&self) -> Table {
        let header = [
            "model",
            "MNIST test",
            "worst",
            "where",
            "points under MNIST",
        ]
        .map(String::from)
        .to_vec();
        let rows = self
            .models
            .iter()
            .enumerate()
            .map(|(m, name)| {
                let worst = self
                    .rows
                    .iter()
                    .filter(|r| r.images > 0)
                    .map(|r| (r.correct[m] as f64 / r.images as f64, r))
                    .min_by(|a, b| a.0.total_cmp(&b.0));
                let mnist = self.mnist_test.get(m).copied().flatten();
                let under = worst
                    .zip(mnist)
                    .map(|((acc, _), t)| format!("{:.2}", 100.0 * (t - acc)));
                vec![
                    name.clone(),
                    self.mnist_column(m),
                    worst.map_or_else(|| "–".into(), |(acc, _)| percent(acc)),
                    worst.map_or_else(
                        || "–".into(),
                        |(_, r)| format!("{}, {}", r.source.name(), r.crop.name()),
                    ),
                    under.unwrap_or_else(|| "–".into()),
                ]
            })
            .collect();
        Table::new(header, rows).with_caption(format!(
            "Real inputs ({} set): each model's lowest accuracy over every source and crop margin",
            self.set.name()
        ))
    }

    /// How the server's `digit_like` flag did: non-digits flagged, digits flagged.
    pub fn digit_like_line(&self) -> String {
        let digits: usize = self.rows.iter().map(|r| r.images).sum();
        let flagged: usize = self.rows.iter().map(|r| r.flagged).sum();
        format!(
            "digit_like ({} set): false for {} of the {} generated non-digits ({}) and for {} of the {} digits ({})",
            self.set.name(),
            self.non_digits_flagged,
            self.non_digits,
            percent(self.non_digits_flagged as f64 / self.non_digits.max(1) as f64),
            flagged,
            digits,
            percent(flagged as f64 / digits.max(1) as f64)
        )
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl crate::display::Rich for InputsReport {
    fn bundle(&self) -> crate::display::Bundle {
        let mut panel = crate::display::Panel::new()
            .table(&self.table())
            .table(&self.crop_table())
            .table(&self.worst_table());
        if let Some(t) = self.model_table("cnn") {
            panel = panel.table(&t);
        }
        panel.paragraph(self.digit_like_line()).bundle()
    }
}

crate::display::inherent_rich!(InputsReport);

/// Where `mnist bench-inputs` keeps its held-out measurement of the models
/// saved in `models_dir` with `per_source` inputs of each source
/// ([`MEASURED_REPORT`], [`MEASURED_GALLERY`], [`MEASURED_STEPS`]), so that
/// notebook 05 shows it instead of measuring again: `cache/` of the models
/// directory, under a key made of the crate version, `per_source` and every
/// card there (each names its model file's MD5), the digit gate's included.
/// Training any model again changes the key.
pub fn measured_dir(
    models_dir: &std::path::Path,
    per_source: usize,
) -> crate::error::Result<std::path::PathBuf> {
    let store = crate::store::Store::new(models_dir);
    let mut key = md5::Context::new();
    key.consume(env!("CARGO_PKG_VERSION"));
    key.consume((per_source as u64).to_le_bytes());
    let cards = store
        .names()?
        .into_iter()
        .map(|name| models_dir.join(format!("{name}.json")));
    for path in cards {
        let bytes = std::fs::read(&path).map_err(|e| crate::error::Error::io(&path, e))?;
        key.consume(
            path.file_name()
                .map(|n| n.as_encoded_bytes())
                .unwrap_or_default(),
        );
        key.consume((bytes.len() as u64).to_le_bytes());
        key.consume(&bytes);
    }
    Ok(models_dir
        .join("cache")
        .join(format!("real-inputs-{:x}", key.compute())))
}

/// The report in a [`measured_dir`].
pub const MEASURED_REPORT: &str = "report.json";
/// The gallery of inputs and answers in a [`measured_dir`].
pub const MEASURED_GALLERY: &str = "real_inputs_gallery.png";
/// The preprocessing steps in a [`measured_dir`].
pub const MEASURED_STEPS: &str = "preprocessing_steps.png";

//! The experiment every model goes through (tasks 4.1–4.6): scale → fit (timed)
//! → predict train/valid/test → accuracy, per-class accuracy, confusion
//! matrices → save. The steps are separate functions so a notebook can show
//! each one; [`run`] does them all.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::data::{Split, CLASSES};
use crate::display::{write_atomic, Bundle, Figure, Panel, Rich, Table};
use crate::error::{Error, Result};
use crate::metrics::{percent, ConfusionMatrix};
use crate::models::{codec, model_paths, Classifier, History, Kind, Progress};
use crate::scale::{Scaler, Scaling};

/// Step 4.1: the split with a scaler fit on the training images and applied
/// to all three parts.
pub struct Scaled {
    pub scaler: Scaler,
    pub x_train: Array2<f32>,
    pub x_valid: Array2<f32>,
    pub x_test: Array2<f32>,
    pub y_train: Array1<u8>,
    pub y_valid: Array1<u8>,
    pub y_test: Array1<u8>,
    /// MD5 of the data files the split came from.
    pub checksums: Vec<(String, String)>,
}

impl Scaled {
    pub fn new(split: &Split, scaling: Scaling) -> Result<Scaled> {
        let scaler = Scaler::fit(scaling, &split.x_train.view())?;
        Ok(Scaled {
            x_train: scaler.transform(&split.x_train.view())?,
            x_valid: scaler.transform(&split.x_valid.view())?,
            x_test: scaler.transform(&split.x_test.view())?,
            y_train: split.y_train.clone(),
            y_valid: split.y_valid.clone(),
            y_test: split.y_test.clone(),
            checksums: split.checksums.clone(),
            scaler,
        })
    }

    /// The three parts: (name, features, labels).
    pub fn parts(&self) -> [(&'static str, &Array2<f32>, &Array1<u8>); 3] {
        [
            ("train", &self.x_train, &self.y_train),
            ("valid", &self.x_valid, &self.y_valid),
            ("test", &self.x_test, &self.y_test),
        ]
    }

    /// What the scaling did: value range and mean of each part after scaling.
    pub fn table(&self) -> Table {
        let rows = self
            .parts()
            .iter()
            .map(|(name, x, _)| {
                let (lo, hi) = x
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                        (a.min(v), b.max(v))
                    });
                let mean = x.iter().map(|&v| v as f64).sum::<f64>() / x.len().max(1) as f64;
                vec![
                    name.to_string(),
                    x.nrows().to_string(),
                    format!("{lo:.3}"),
                    format!("{hi:.3}"),
                    format!("{mean:.3}"),
                ]
            })
            .collect();
        Table::new(
            vec![
                "split".into(),
                "images".into(),
                "min".into(),
                "max".into(),
                "mean".into(),
            ],
            rows,
        )
        .with_caption(format!(
            "{} (fit on the training split only)",
            describe(&self.scaler)
        ))
    }
}

/// One line on a scaler.
pub fn describe(scaler: &Scaler) -> String {
    match scaler {
        Scaler::None => "no scaling: raw pixel values 0–255".into(),
        Scaler::Unit => "pixels divided by 255".into(),
        Scaler::Standard(_) => "StandardScaler: (x − mean) / std per pixel".into(),
        Scaler::MinMax(_) => "MinMaxScaler: (x − min) / (max − min) per pixel".into(),
        Scaler::Deskew { then } => format!(
            "deskewed (moments: principal axis upright, centre of mass centred), then {}",
            describe(then)
        ),
    }
}

impl Rich for Scaled {
    fn bundle(&self) -> Bundle {
        self.table().bundle()
    }
}

/// Step 4.2: fit on the scaled training split; returns wall-clock seconds.
/// Networks also score the validation split after every epoch and keep the
/// best epoch's weights (the test split is never looked at).
pub fn fit(model: &mut dyn Classifier, data: &Scaled, progress: &dyn Progress) -> Result<f64> {
    if model.scaling() != data.scaler.scaling() {
        return Err(Error::Param(format!(
            "the {} model wants {:?} scaling but the data was scaled with {:?}",
            model.kind(),
            model.scaling(),
            data.scaler.scaling()
        )));
    }
    let t = Instant::now();
    let aug = model.augmentation();
    aug.check()?;
    if aug.is_none() {
        model.fit_scaled_validated(
            data.scaler.clone(),
            data.x_train.view(),
            data.y_train.view(),
            Some((data.x_valid.view(), data.y_valid.view())),
            progress,
        )?;
    } else {
        // Typed digits and copies are made as pixels, then scaled like the rest.
        let raw = data.scaler.inverse_transform(&data.x_train.view())?;
        let (xa, ya) = aug.expand(raw.view(), data.y_train.view())?;
        let mut parts = vec![format!("the {} digits", data.x_train.nrows())];
        if aug.typed > 0 {
            parts.push(format!("{} typed digits", 10 * aug.typed));
        }
        if aug.copies > 0 {
            let s = if aug.copies == 1 { "y" } else { "ies" };
            parts.push(format!("{} distorted cop{s} of each", aug.copies));
        }
        progress.note(&format!("training on {} images: {}", xa.nrows(), parts.join(", ")));
        let xs = data.scaler.transform(&xa.view())?;
        model.fit_scaled_validated(
            data.scaler.clone(),
            xs.view(),
            ya.view(),
            Some((data.x_valid.view(), data.y_valid.view())),
            progress,
        )?;
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Set (to anything but `0` or empty) to train again even when an up-to-date
/// saved model exists (see [`fit_or_load`]).
pub const RETRAIN_ENV: &str = "MNIST_RETRAIN";

fn retrain_requested() -> bool {
    std::env::var(RETRAIN_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Why the model saved as `dir/<name>` cannot stand in for training `model` on
/// `data` now, or `None` when it can: same kind, hyperparameters, scaling, data
/// files, split sizes and crate version.
pub fn saved_is_stale(
    model: &dyn Classifier,
    data: &Scaled,
    name: &str,
    dir: &Path,
) -> Option<String> {
    match current_card(model, data, name, dir) {
        Err(e) => Some(format!("no usable saved model ({e})")),
        Ok(Err(why)) => Some(why),
        Ok(Ok(_)) => None,
    }
}

/// The card of the model saved as `dir/<name>` when it is up to date for
/// `model` and `data`, or why it is not (`Ok(Err(..))`); `Err` when there is
/// no readable card.
fn current_card(
    model: &dyn Classifier,
    data: &Scaled,
    name: &str,
    dir: &Path,
) -> Result<std::result::Result<ModelCard, String>> {
    let card = load_card(dir, name)?;
    let sizes: Vec<usize> = data.parts().iter().map(|(_, x, _)| x.nrows()).collect();
    let saved_sizes: Vec<usize> = card.report.parts.iter().map(|p| p.images).collect();
    Ok(if card.kind != model.kind() {
        Err(format!("the saved model is a {}", card.kind))
    } else if card.hyperparameters != model.hyperparameters() {
        Err("the saved model has other hyperparameters".into())
    } else if card.scaler.scaling() != data.scaler.scaling() {
        Err("the saved model uses another scaling".into())
    } else if card.data_checksums != data.checksums || saved_sizes != sizes {
        Err(format!(
            "the saved model was trained on other data ({} images)",
            saved_sizes.first().copied().unwrap_or(0)
        ))
    } else if card.crate_version != env!("CARGO_PKG_VERSION") {
        Err(format!(
            "the saved model is from mnist_support {}",
            card.crate_version
        ))
    } else {
        Ok(card)
    })
}

/// Step 4.2, or its saved result. When `dir/<name>` holds an up-to-date model
/// (see [`saved_is_stale`]) and `MNIST_RETRAIN` is not set, the saved model is
/// loaded into `model` instead of training it again, and the training time
/// recorded with it is returned; otherwise this is [`fit`]. Either way a line
/// says which it was. Re-running a notebook export is then quick.
pub fn fit_or_load(
    model: &mut dyn Classifier,
    data: &Scaled,
    name: &str,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<f64> {
    if retrain_requested() {
        progress.note(&format!("{RETRAIN_ENV} is set: training again"));
    } else {
        match current_card(model, data, name, dir) {
            // No saved model yet: just train.
            Err(_) => {}
            Ok(Err(why)) => progress.note(&format!("{why}: training")),
            Ok(Ok(card)) => match reuse(model, name, dir, &card) {
                Ok(()) => {
                    let seconds = card.report.fit_seconds;
                    progress.note(&format!(
                        "using the saved model {} (same data and hyperparameters; trained in {seconds:.2} s); \
                         set {RETRAIN_ENV}=1 to train again",
                        dir.join(name).display()
                    ));
                    return Ok(seconds);
                }
                Err(e) => progress.note(&format!("cannot use the saved model ({e}): training")),
            },
        }
    }
    fit(model, data, progress)
}

fn reuse(model: &mut dyn Classifier, name: &str, dir: &Path, card: &ModelCard) -> Result<()> {
    let file = ModelFile::read(dir, name, card)?;
    model.restore_in_place(
        card.scaler.clone(),
        file.payload(),
        card.report.history.clone(),
    )
}

/// Results on one part of the split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartResult {
    pub split: String,
    pub images: usize,
    pub accuracy: f64,
    pub confusion: ConfusionMatrix,
}

/// Everything measured for one model; renders inline and is saved as JSON
/// inside the model's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub name: String,
    pub kind: Kind,
    pub hyperparameters: serde_json::Value,
    pub scaling: Scaling,
    pub fit_seconds: f64,
    /// Seconds to predict all three parts.
    pub predict_seconds: f64,
    /// train, valid, test.
    pub parts: Vec<PartResult>,
    /// Where the model was saved, once it was.
    pub model_path: Option<PathBuf>,
    /// Per-epoch training record (networks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<History>,
}

/// Steps 4.3–4.5: predict the three parts and measure.
pub fn evaluate(
    model: &dyn Classifier,
    data: &Scaled,
    name: &str,
    fit_seconds: f64,
    progress: &dyn Progress,
) -> Result<Report> {
    let total: usize = data.parts().iter().map(|(_, x, _)| x.nrows()).sum();
    progress.begin("predicting train, valid and test images", total as u64);
    let t = Instant::now();
    let mut predictions = Vec::new();
    for (_, x, _) in data.parts() {
        predictions.push(model.predict_scaled(x.view())?);
        progress.advance(x.nrows() as u64);
    }
    let predict_seconds = t.elapsed().as_secs_f64();
    progress.end();
    let mut parts = Vec::new();
    for ((split, x, y), pred) in data.parts().into_iter().zip(predictions) {
        let confusion = ConfusionMatrix::new(&y.to_vec(), &pred.to_vec())?;
        parts.push(PartResult {
            split: split.into(),
            images: x.nrows(),
            accuracy: confusion.accuracy(),
            confusion,
        });
    }
    Ok(Report {
        name: name.into(),
        kind: model.kind(),
        hyperparameters: model.hyperparameters(),
        scaling: model.scaling(),
        fit_seconds,
        predict_seconds,
        parts,
        model_path: None,
        history: model.history().cloned(),
    })
}

impl Report {
    pub fn accuracy(&self, split: &str) -> Option<f64> {
        self.parts
            .iter()
            .find(|p| p.split == split)
            .map(|p| p.accuracy)
    }

    /// Title line: model, scaling, hyperparameters.
    pub fn title(&self) -> String {
        format!("{} ({})", self.kind.title(), self.name)
    }

    /// Training time, prediction time and the three accuracies in one row.
    pub fn accuracy_table(&self) -> Table {
        let mut header = vec![
            "model".to_string(),
            "fit time".into(),
            "predict time".into(),
        ];
        let mut row = vec![
            self.name.clone(),
            format!("{:.2} s", self.fit_seconds),
            format!("{:.2} s", self.predict_seconds),
        ];
        for p in &self.parts {
            header.push(format!("{} accuracy", p.split));
            row.push(percent(p.accuracy));
        }
        Table::new(header, vec![row]).with_caption(format!(
            "{} — images: {}",
            self.title(),
            self.parts
                .iter()
                .map(|p| format!("{} {}", p.split, p.images))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }

    /// Per class: correct / total in class, for each part.
    pub fn per_class_table(&self) -> Table {
        let mut header = vec!["digit".to_string()];
        header.extend(self.parts.iter().map(|p| p.split.clone()));
        let per: Vec<[(usize, usize); CLASSES]> =
            self.parts.iter().map(|p| p.confusion.per_class()).collect();
        let rows = (0..CLASSES)
            .map(|d| {
                let mut r = vec![d.to_string()];
                for pc in &per {
                    let (c, t) = pc[d];
                    let acc = if t == 0 { 0.0 } else { c as f64 / t as f64 };
                    r.push(format!("{c} / {t} = {}", percent(acc)));
                }
                r
            })
            .collect();
        Table::new(header, rows).with_caption("Per-class accuracy (correct / images of the class)")
    }

    /// The confusion matrices of the three parts side by side.
    pub fn confusion_figure(&self) -> Result<Figure> {
        let panels: Vec<(&str, &ConfusionMatrix)> = self
            .parts
            .iter()
            .map(|p| (p.split.as_str(), &p.confusion))
            .collect();
        crate::plot::confusion(&format!("{}: confusion matrices", self.title()), &panels)
    }

    /// Loss and accuracy per epoch (networks only).
    pub fn training_curves(&self) -> Option<Result<Figure>> {
        let h = self.history.as_ref()?;
        Some(crate::plot::training_curves(
            &format!("{}: training curves", self.title()),
            h,
        ))
    }

    /// One line on the training run of a network: epochs, kept epoch, time per epoch.
    pub fn training_summary(&self) -> Option<String> {
        let h = self.history.as_ref()?;
        Some(format!(
            "Trained {} epochs ({:.1} s per epoch, {} libtorch threads on {}); kept the weights of epoch {}{}.",
            h.epochs.len(),
            h.seconds_per_epoch(),
            h.threads,
            h.device,
            h.best_epoch,
            if h.epochs.iter().any(|e| e.valid_accuracy.is_some()) {
                " (best validation accuracy)"
            } else {
                " (the last; no validation split was given)"
            }
        ))
    }

    pub fn panel(&self) -> Panel {
        let mut panel = Panel::new()
            .table(&self.accuracy_table())
            .table(&self.per_class_table());
        if let Some(line) = self.training_summary() {
            panel = panel.paragraph(line);
        }
        panel = match self.training_curves() {
            Some(Ok(fig)) => panel.figure(&fig),
            Some(Err(e)) => panel.paragraph(format!("(training curves unavailable: {e})")),
            None => panel,
        };
        panel = match self.confusion_figure() {
            Ok(fig) => panel.figure(&fig),
            Err(e) => panel.paragraph(format!("(confusion figure unavailable: {e})")),
        };
        panel
            .paragraph(format!("Hyperparameters: {}", self.hyperparameters))
            .paragraph(match &self.model_path {
                Some(p) => format!("Model saved to {}", p.display()),
                None => "Model not saved yet.".into(),
            })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain data serializes")
    }
}

impl Rich for Report {
    fn bundle(&self) -> Bundle {
        self.panel().bundle()
    }
}

/// `models/<name>.json`: what a saved model is and how it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub name: String,
    pub kind: Kind,
    pub crate_version: String,
    pub hyperparameters: serde_json::Value,
    pub scaler: Scaler,
    /// File name of the parameters, next to this JSON.
    pub model_file: String,
    pub model_md5: String,
    pub data_checksums: Vec<(String, String)>,
    pub report: Report,
}

/// What [`save`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub model: PathBuf,
    pub card: PathBuf,
    pub confusion: PathBuf,
    /// The training-curve figure (networks only).
    pub curves: Option<PathBuf>,
}

impl Rich for Saved {
    fn bundle(&self) -> Bundle {
        let mut rows = vec![
            vec!["model".into(), self.model.display().to_string()],
            vec!["metadata + report".into(), self.card.display().to_string()],
            vec![
                "confusion matrices".into(),
                self.confusion.display().to_string(),
            ],
        ];
        if let Some(c) = &self.curves {
            rows.push(vec!["training curves".into(), c.display().to_string()]);
        }
        let t = Table::new(vec!["file".into(), "path".into()], rows).with_caption("Saved");
        t.bundle()
    }
}

/// Step 4.6: write `dir/<name>.<ext>` (parameters), `dir/<name>.json` (card
/// with the report), `dir/<name>.confusion.png` and, for networks,
/// `dir/<name>.curves.png`, each atomically; the card
/// is written last, so a card always describes a complete model file.
pub fn save(
    model: &dyn Classifier,
    report: &mut Report,
    data_checksums: &[(String, String)],
    dir: &Path,
) -> Result<Saved> {
    if !model.is_fitted() {
        return Err(crate::models::not_fitted(model.kind()));
    }
    check_name(&report.name)?;
    let (model_path, card_path) = model_paths(dir, &report.name, model.extension());
    let payload = model.to_bytes()?;
    let file = codec::encode_file(model.kind(), &payload);
    write_atomic(&model_path, &file)?;
    report.model_path = Some(model_path.clone());
    let confusion = dir.join(format!("{}.confusion.png", report.name));
    report.confusion_figure()?.save(&confusion)?;
    let curves = match report.training_curves() {
        Some(fig) => {
            let path = dir.join(format!("{}.curves.png", report.name));
            fig?.save(&path)?;
            Some(path)
        }
        None => None,
    };
    let card = ModelCard {
        name: report.name.clone(),
        kind: model.kind(),
        crate_version: env!("CARGO_PKG_VERSION").into(),
        hyperparameters: model.hyperparameters(),
        scaler: model.scaler().clone(),
        model_file: model_path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        model_md5: format!("{:x}", md5::compute(&file)),
        data_checksums: data_checksums.to_vec(),
        report: report.clone(),
    };
    let json = serde_json::to_string_pretty(&card).expect("plain data serializes");
    write_atomic(&card_path, json.as_bytes())?;
    Ok(Saved {
        model: model_path,
        card: card_path,
        confusion,
        curves,
    })
}

/// Model names become file names: letters, digits, `-`, `_` only.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::Param(format!(
            "model name {name:?} must be 1-64 letters, digits, '-' or '_'"
        )));
    }
    Ok(())
}

/// Read `dir/<name>.json`.
pub fn load_card(dir: &Path, name: &str) -> Result<ModelCard> {
    check_name(name)?;
    let path = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Decode {
        what: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Load the model saved as `dir/<name>.*` with its card.
pub fn load(dir: &Path, name: &str) -> Result<(Box<dyn Classifier>, ModelCard)> {
    let card = load_card(dir, name)?;
    let file = ModelFile::read(dir, name, &card)?;
    let model = card
        .kind
        .restore(&card.hyperparameters, card.scaler.clone(), file.payload())?;
    Ok((model, card))
}

/// The model file a card names, read whole with its checksum and kind checked.
struct ModelFile {
    bytes: Vec<u8>,
    /// Where the parameters start in `bytes` (they run to its end).
    start: usize,
}

impl ModelFile {
    fn read(dir: &Path, name: &str, card: &ModelCard) -> Result<ModelFile> {
        let path = dir.join(&card.model_file);
        if card.model_file.contains(['/', '\\']) || card.model_file.is_empty() {
            return Err(Error::Param(format!(
                "{name}.json names an invalid model file {:?}",
                card.model_file
            )));
        }
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        if format!("{:x}", md5::compute(&bytes)) != card.model_md5 {
            return Err(Error::Decode {
                what: path.display().to_string(),
                reason: format!(
                    "its checksum does not match {name}.json (corrupt, or from another training run)"
                ),
            });
        }
        let start = bytes.len() - codec::decode_file(&path, card.kind, &bytes)?.len();
        Ok(ModelFile { bytes, start })
    }

    fn payload(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

/// Steps 4.1–4.6 in one call: returns the report (with the saved path).
pub fn run(
    model: &mut dyn Classifier,
    split: &Split,
    name: &str,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<Report> {
    check_name(name)?;
    let data = Scaled::new(split, model.scaling())?;
    let seconds = fit(model, &data, progress)?;
    let mut report = evaluate(model, &data, name, seconds, progress)?;
    save(model, &mut report, &data.checksums, dir)?;
    Ok(report)
}

crate::display::inherent_rich!(Scaled, Report, Saved);

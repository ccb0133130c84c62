//! The experiment every model goes through (tasks 4.1–4.6): scale → fit (timed)
//! → predict train/valid/test → accuracy, per-class accuracy, confusion
//! matrices; saving is the [`store`](crate::store)'s. The steps are separate
//! functions so a notebook can show each one; [`pipeline::run`](crate::pipeline::run)
//! does them all.

use std::path::PathBuf;
use std::time::Instant;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::data::{Labelled, Part, Parts, Split, CLASSES};
use crate::display::{Bundle, Figure, Panel, Rich, Table};
use crate::error::{Error, Result};
use crate::metrics::{percent, ConfusionMatrix};
use crate::models::{Classifier, History, Learner, ModelKind, Params, Progress};
use crate::scale::{Scaler, Scaling};

/// Step 4.1: the split with a scaler fit on the training images and applied
/// to all three parts. It is a [`Split`] (the scaled one: `data.x_train`,
/// `data.y_valid`, … as on the split it came from), with its scaler and the
/// raw training pixels.
pub struct ScaledSplit {
    pub scaler: Scaler,
    /// The training images as they were before scaling (raw pixels 0–255):
    /// what typed digits, distorted copies and generated pictures are made
    /// beside, as [`Learner::fit`] makes them.
    pub raw_train: Array2<f32>,
    /// The split, each part through `scaler` (labels and checksums as they were).
    pub scaled: Split,
}

impl std::ops::Deref for ScaledSplit {
    type Target = Split;

    fn deref(&self) -> &Split {
        &self.scaled
    }
}

impl ScaledSplit {
    pub fn new(split: &Split, scaling: Scaling) -> Result<ScaledSplit> {
        let scaler = Scaler::fit(scaling, &split.x_train.view())?;
        let scaled = Split {
            x_train: scaler.transform(&split.x_train.view())?,
            x_valid: scaler.transform(&split.x_valid.view())?,
            x_test: scaler.transform(&split.x_test.view())?,
            y_train: split.y_train.clone(),
            y_valid: split.y_valid.clone(),
            y_test: split.y_test.clone(),
            checksums: split.checksums.clone(),
        };
        Ok(ScaledSplit {
            raw_train: split.x_train.clone(),
            scaled,
            scaler,
        })
    }

    /// What the scaling did: value range and mean of each part after scaling.
    pub fn table(&self) -> Table {
        let rows = self
            .parts()
            .iter()
            .map(|(name, Labelled { x, .. })| {
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

impl Rich for ScaledSplit {
    fn bundle(&self) -> Bundle {
        self.table().bundle()
    }
}

/// Step 4.2: fit `params` on the scaled training split; returns the fitted
/// model and the wall-clock seconds. Networks also score the validation
/// split after every epoch and keep the best epoch's weights (the test split
/// is never looked at). Generated training pictures are made anew;
/// [`Store::fit_or_load`](crate::store::Store::fit_or_load) keeps them in
/// the store's `cache/`.
pub fn fit<L: Learner + ?Sized>(
    params: &L,
    data: &ScaledSplit,
    progress: &dyn Progress,
) -> Result<(L::Model, f64)> {
    fit_in(params, data, None, progress)
}

/// [`fit`], keeping generated training pictures in `cache` when given.
pub(crate) fn fit_in<L: Learner + ?Sized>(
    params: &L,
    data: &ScaledSplit,
    cache: Option<&std::path::Path>,
    progress: &dyn Progress,
) -> Result<(L::Model, f64)> {
    check_scaling(params, data)?;
    let t = Instant::now();
    let model = crate::models::fit_prepared(
        params,
        &data.scaler,
        data.raw_train.view(),
        data.x_train.view(),
        data.y_train.view(),
        Some((data.x_valid.view(), data.y_valid.view())),
        cache,
        progress,
    )?;
    Ok((model, t.elapsed().as_secs_f64()))
}

/// `data` was scaled as `params` scale.
pub(crate) fn check_scaling<P: Params + ?Sized>(params: &P, data: &ScaledSplit) -> Result<()> {
    if params.scaling() == data.scaler.scaling() {
        return Ok(());
    }
    Err(Error::ScalingMismatch {
        model: params.kind().name(),
        wants: format!("{:?}", params.scaling()),
        got: format!("{:?}", data.scaler.scaling()),
    })
}

impl Parts for ScaledSplit {
    /// One part's scaled features and labels.
    fn part(&self, part: Part) -> Labelled<'_> {
        self.scaled.part(part)
    }

    fn checksums(&self) -> &[(String, String)] {
        self.scaled.checksums()
    }
}

/// Results on one part of the split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartResult {
    pub split: Part,
    pub images: usize,
    pub accuracy: f64,
    pub confusion: ConfusionMatrix,
}

/// Everything measured for one model; renders inline and is saved as JSON
/// inside the model's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub name: String,
    pub kind: ModelKind,
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
    data: &ScaledSplit,
    fit_seconds: f64,
    progress: &dyn Progress,
) -> Result<Report> {
    evaluate_parts(model, &data.parts(), fit_seconds, progress)
}

/// [`evaluate`] on any parts of scaled features (the digit gate's: its
/// training and held-out pictures).
pub fn evaluate_parts(
    model: &dyn Classifier,
    parts: &[(Part, Labelled<'_>)],
    fit_seconds: f64,
    progress: &dyn Progress,
) -> Result<Report> {
    let names: Vec<&str> = parts.iter().map(|(p, _)| p.name()).collect();
    let total: usize = parts.iter().map(|(_, l)| l.len()).sum();
    progress.begin(
        &format!("predicting the {} images", names.join(", ")),
        total as u64,
    );
    let t = Instant::now();
    let mut predictions = Vec::new();
    for (_, l) in parts {
        predictions.push(model.predict_scaled(l.x)?);
        progress.advance(l.len() as u64);
    }
    let predict_seconds = t.elapsed().as_secs_f64();
    progress.end();
    let mut results = Vec::new();
    for ((split, l), pred) in parts.iter().zip(predictions) {
        let confusion = ConfusionMatrix::new(&l.y.to_vec(), &pred.to_vec())?;
        results.push(PartResult {
            split: *split,
            images: l.len(),
            accuracy: confusion.accuracy(),
            confusion,
        });
    }
    Ok(Report {
        name: model.name().into(),
        kind: model.kind(),
        hyperparameters: model.hyperparameters(),
        scaling: model.scaling(),
        fit_seconds,
        predict_seconds,
        parts: results,
        model_path: None,
        history: model.history().cloned(),
    })
}

impl Report {
    pub fn accuracy(&self, split: Part) -> Option<f64> {
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
        header.extend(self.parts.iter().map(|p| p.split.to_string()));
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
            .map(|p| (p.split.name(), &p.confusion))
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

crate::display::inherent_rich!(ScaledSplit, Report);

//! The pipeline over the model store: steps 4.1–4.6 for one model
//! ([`run`]), a default model kept when up to date or trained
//! ([`fresh_or_run`]), all seven and the summary ([`run_all`]), and the
//! digit gate's training ([`gate`], features `inputs` and `torch`). What the
//! CLI's `train`, `run-all` and `serve --train`, the notebooks and the tests
//! share; the [`Store`] itself only saves, loads and says what is fresh.

#[cfg(all(feature = "inputs", feature = "torch"))]
pub mod gate;

use std::path::PathBuf;

use crate::config::RETRAIN_ENV;
use crate::data::Split;
use crate::error::Result;
use crate::experiment::{evaluate, Report, ScaledSplit};
use crate::models::{Learner, ModelKind, Progress};
use crate::store::{describe_hyperparameters, Freshness, Store};
use crate::summary::Summary;

/// Steps 4.1–4.6 in one call: scale, fit `params` (or reuse:
/// [`Store::fit_or_load`]), evaluate, save in `store`; returns the report
/// (with the saved path).
pub fn run<L: Learner + ?Sized>(
    store: &Store,
    params: &L,
    split: &Split,
    progress: &dyn Progress,
) -> Result<Report> {
    let data = ScaledSplit::new(split, params.scaling())?;
    let (model, seconds) = store.fit_or_load(params, &data, progress)?;
    let mut report = evaluate(&model, &data, seconds, progress)?;
    store.save(&model, &mut report, &data)?;
    Ok(report)
}

/// Steps 4.1–4.7 for all seven models, each with its default
/// hyperparameters ([`run`]: reused when up to date unless the store is
/// retraining), then the summary, saved beside them as CSV and Markdown,
/// and the digit map ([`Store::map_or_fit`]).
pub fn run_all(store: &Store, split: &Split, progress: &dyn Progress) -> Result<RunAll> {
    let t = std::time::Instant::now();
    let mut reports = Vec::new();
    for (i, &kind) in ModelKind::ALL.iter().enumerate() {
        progress.note(&format!(
            "[{}/{}] {}",
            i + 1,
            ModelKind::ALL.len(),
            kind.title()
        ));
        reports.push(run(store, &kind.default_params()?, split, progress)?);
    }
    store.map_or_fit(split, progress)?;
    let summary = Summary::load(store.dir())?;
    let (csv, markdown) = summary.save(store.dir())?;
    Ok(RunAll {
        reports,
        summary,
        seconds: t.elapsed().as_secs_f64(),
        csv,
        markdown,
    })
}

/// The `kind` model saved under its name when it is up to date for
/// `split`, whatever its hyperparameters (its report, from the card);
/// otherwise the default `kind` model trained, evaluated and saved
/// ([`run`]). What `mnist train` and `serve --train` do: a model someone
/// trained with other hyperparameters is kept.
pub fn fresh_or_run(
    store: &Store,
    kind: ModelKind,
    split: &Split,
    progress: &dyn Progress,
) -> Result<Report> {
    if !store.is_retraining() {
        match store.freshness(kind.name(), kind, split) {
            Freshness::Fresh(card) => {
                progress.note(&format!(
                    "{} is up to date ({}); {RETRAIN_ENV}=1 or --retrain trains it again",
                    store.dir().join(kind.name()).display(),
                    describe_hyperparameters(kind, &card.hyperparameters)
                ));
                return Ok(card.report);
            }
            Freshness::Stale(why) => progress.note(&format!("{why}: training")),
            Freshness::Missing(_) => {}
        }
    }
    run(store, &kind.default_params()?, split, progress)
}

/// What [`run_all`] did: the seven reports in [`ModelKind::ALL`]'s
/// order, the summary, the wall time, the summary's files.
#[derive(Debug, Clone)]
pub struct RunAll {
    pub reports: Vec<Report>,
    pub summary: Summary,
    pub seconds: f64,
    pub csv: PathBuf,
    pub markdown: PathBuf,
}

//! The model store: a directory of saved models (`<name>.bin` parameters,
//! `<name>.json` card with the report, `<name>.confusion.png`, and for the
//! networks `<name>.curves.png`). Saving, loading, and whether a saved model
//! is fresh enough to stand in for training again. The runner, the
//! notebooks, the server and the summary all go through it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Config, RETRAIN_ENV};
use crate::data::Parts;
use crate::display::{write_atomic, Bundle, Rich, Table};
use crate::error::{Error, Result};
use crate::experiment::{evaluate, fit, Report, ScaledSplit};
use crate::models::{codec, model_paths, Classifier, ModelKind, Progress};
use crate::scale::Scaler;

/// A directory of saved models, and whether to train again when it holds an
/// up-to-date one.
#[derive(Debug, Clone, PartialEq)]
pub struct Store {
    dir: PathBuf,
    retrain: bool,
}

/// Whether a saved model can stand in for training a model again.
#[derive(Debug, Clone, PartialEq)]
pub enum Freshness {
    /// Same kind, hyperparameters, scaling, data files, split sizes and
    /// crate version: its card.
    Fresh(Box<ModelCard>),
    /// Saved, but not for this model and data: why.
    Stale(String),
    /// Nothing readable saved under the model's name.
    Missing(String),
}

impl Store {
    /// The models in `dir`; up-to-date ones are reused.
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store {
            dir: dir.into(),
            retrain: false,
        }
    }

    /// `MNIST_MODELS_DIR` (or `models/`), training again when `MNIST_RETRAIN`
    /// is set ([`Config`]).
    pub fn from_config() -> Store {
        let config = Config::get();
        Store::new(&config.models_dir).retraining(config.retrain)
    }

    /// The same store, training again even when an up-to-date model is saved.
    pub fn retraining(self, retrain: bool) -> Store {
        Store { retrain, ..self }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Step 4.6: save a fitted model and its report under the model's name:
    /// `<name>.bin` (parameters), `<name>.json` (card with the report),
    /// `<name>.confusion.png` and, for networks, `<name>.curves.png`, each
    /// atomically; the card is written last, so a card always describes a
    /// complete model file.
    pub fn save(
        &self,
        model: &dyn Classifier,
        report: &mut Report,
        data_checksums: &[(String, String)],
    ) -> Result<Saved> {
        if !model.is_fitted() {
            return Err(Error::NotFitted {
                model: model.kind().name(),
            });
        }
        check_name(&report.name)?;
        let (model_path, card_path) = model_paths(&self.dir, &report.name, "bin");
        let payload = model.to_bytes()?;
        let file = codec::encode_file(model.kind(), &payload);
        write_atomic(&model_path, &file)?;
        report.model_path = Some(model_path.clone());
        let confusion = self.dir.join(format!("{}.confusion.png", report.name));
        report.confusion_figure()?.save(&confusion)?;
        let curves = match report.training_curves() {
            Some(fig) => {
                let path = self.dir.join(format!("{}.curves.png", report.name));
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

    /// The model saved as `name`, with its card.
    pub fn load(&self, name: &str) -> Result<(Box<dyn Classifier>, ModelCard)> {
        self.load_with(name, ModelKind::restore)
    }

    /// [`load`](Store::load) for the prediction server: the networks run on
    /// candle where it is built in ([`ModelKind::restore_for_serving`]).
    pub fn load_for_serving(&self, name: &str) -> Result<(Box<dyn Classifier>, ModelCard)> {
        self.load_with(name, ModelKind::restore_for_serving)
    }

    fn load_with(
        &self,
        name: &str,
        restore: fn(ModelKind, &serde_json::Value, Scaler, &[u8]) -> Result<Box<dyn Classifier>>,
    ) -> Result<(Box<dyn Classifier>, ModelCard)> {
        let card = self.card(name)?;
        let file = ModelFile::read(&self.dir, name, &card)?;
        let model = restore(
            card.kind,
            &card.hyperparameters,
            card.scaler.clone(),
            file.payload(),
        )?;
        Ok((model, card))
    }

    /// The card saved as `name.json`.
    pub fn card(&self, name: &str) -> Result<ModelCard> {
        check_name(name)?;
        let path = self.dir.join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::Decode {
            what: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// The names of the saved models (their cards), sorted.
    pub fn names(&self) -> Result<Vec<String>> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let p = e.path();
                (p.extension()? == "json").then(|| p.file_stem()?.to_str().map(String::from))?
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// Whether the model saved under `model`'s name can stand in for training
    /// `model` on `data` now.
    pub fn freshness(&self, model: &dyn Classifier, data: &ScaledSplit) -> Freshness {
        match self.current_card(model, data) {
            Err(e) => Freshness::Missing(format!("no usable saved model ({e})")),
            Ok(Err(why)) => Freshness::Stale(why),
            Ok(Ok(card)) => Freshness::Fresh(Box::new(card)),
        }
    }

    /// Step 4.2, or its saved result: when the store holds an up-to-date
    /// model (see [`freshness`](Store::freshness)) and is not retraining, the
    /// saved model is loaded into `model` instead of training it again, and
    /// the training time recorded with it is returned; otherwise this is
    /// [`fit`]. Either way a line says which it was. Re-running a notebook
    /// is then quick.
    pub fn fit_or_load(
        &self,
        model: &mut dyn Classifier,
        data: &ScaledSplit,
        progress: &dyn Progress,
    ) -> Result<f64> {
        if self.retrain {
            progress.note(&format!(
                "retraining ({RETRAIN_ENV}=1 or --retrain): training again"
            ));
            return fit(model, data, progress);
        }
        match self.freshness(model, data) {
            Freshness::Missing(_) => {}
            Freshness::Stale(why) => progress.note(&format!("{why}: training")),
            Freshness::Fresh(card) => match self.restore(model, &card) {
                Ok(()) => {
                    let seconds = card.report.fit_seconds;
                    progress.note(&format!(
                        "using the saved model {} (same data and hyperparameters; trained in {seconds:.2} s); \
                         set {RETRAIN_ENV}=1 to train again",
                        self.dir.join(model.name()).display()
                    ));
                    return Ok(seconds);
                }
                Err(e) => progress.note(&format!("cannot use the saved model ({e}): training")),
            },
        }
        fit(model, data, progress)
    }

    /// Steps 4.1–4.6 in one call: scale, fit (or reuse), evaluate, save;
    /// returns the report (with the saved path).
    pub fn run(
        &self,
        model: &mut dyn Classifier,
        split: &crate::data::Split,
        progress: &dyn Progress,
    ) -> Result<Report> {
        let data = ScaledSplit::new(split, model.scaling())?;
        let seconds = self.fit_or_load(model, &data, progress)?;
        let mut report = evaluate(model, &data, seconds, progress)?;
        self.save(model, &mut report, &data.checksums)?;
        Ok(report)
    }

    /// The card of the model saved as `<name>` when it is up to date for
    /// `model` and `data`, or why it is not (`Ok(Err(..))`); `Err` when there is
    /// no readable card.
    fn current_card(
        &self,
        model: &dyn Classifier,
        data: &ScaledSplit,
    ) -> Result<std::result::Result<ModelCard, String>> {
        let card = self.card(model.name())?;
        let sizes: Vec<usize> = data.parts().iter().map(|(_, l)| l.len()).collect();
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

    fn restore(&self, model: &mut dyn Classifier, card: &ModelCard) -> Result<()> {
        let file = ModelFile::read(&self.dir, &card.name, card)?;
        model.restore(
            card.scaler.clone(),
            file.payload(),
            card.report.history.clone(),
        )
    }
}

/// `models/<name>.json`: what a saved model is and how it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub name: String,
    pub kind: ModelKind,
    pub crate_version: String,
    pub hyperparameters: serde_json::Value,
    pub scaler: Scaler,
    /// File name of the parameters, next to this JSON.
    pub model_file: String,
    pub model_md5: String,
    pub data_checksums: Vec<(String, String)>,
    pub report: Report,
}

/// What [`Store::save`] wrote.
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

/// Model names become file names: letters, digits, `-`, `_` only.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::UnknownName {
            what: "model name",
            name: name.to_string(),
            choices: "a name is 1-64 letters, digits, '-' or '_'".into(),
        });
    }
    Ok(())
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
            return Err(Error::Decode {
                what: format!("{name}.json"),
                reason: format!("it names an invalid model file {:?}", card.model_file),
            });
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

crate::display::inherent_rich!(Saved);

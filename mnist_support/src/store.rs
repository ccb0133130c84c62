//! The model store: a directory of saved models (`<name>.bin` parameters,
//! `<name>.json` card with the report, `<name>.confusion.png`, and for the
//! networks `<name>.curves.png`). Saving, loading, and whether a saved model
//! is fresh enough to stand in for training again, and nothing else: the
//! pipeline that trains, evaluates and saves is [`crate::pipeline`]. The
//! runner, the notebooks, the server and the summary all go through it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Config, RETRAIN_ENV};
use crate::data::Parts;
use crate::display::{write_atomic, Bundle, Rich, Table};
use crate::error::{Error, Result};
use crate::experiment::{check_scaling, fit_in, Report, ScaledSplit};
use crate::models::{codec, model_paths, Classifier, Learner, ModelKind, Networks, Progress};
use crate::scale::Scaler;

/// A directory of saved models, and whether to train again when it holds an
/// up-to-date one.
#[derive(Debug, Clone, PartialEq)]
pub struct Store {
    dir: PathBuf,
    retrain: bool,
    networks: Networks,
}

/// Whether a saved model is up to date: trained by this crate version, in
/// this file format, on these data files and split sizes. Its
/// hyperparameters do not decide: a model trained with other ones (a choice
/// made in a notebook, a vote chosen on validation) is as deployable as one
/// trained with the defaults, and its card says which it used.
#[derive(Debug, Clone, PartialEq)]
pub enum Freshness {
    /// Up to date: its card.
    Fresh(Box<ModelCard>),
    /// Saved, but not up to date: why.
    Stale(String),
    /// Nothing readable saved under the model's name.
    Missing(String),
}

impl Store {
    /// The models in `dir`; up-to-date ones are reused, and the networks
    /// load on libtorch where it is built in (else on candle).
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store {
            dir: dir.into(),
            retrain: false,
            networks: Networks::Libtorch,
        }
    }

    /// The configured models directory (`MNIST_MODELS_DIR`, or `models/`),
    /// training again when `MNIST_RETRAIN` is set ([`Config`]).
    pub fn from_config(config: &Config) -> Store {
        Store::new(&config.models_dir).retraining(config.retrain)
    }

    /// The same store, training again even when an up-to-date model is saved.
    pub fn retraining(self, retrain: bool) -> Store {
        Store { retrain, ..self }
    }

    /// The same store, loading the networks on `networks` (the prediction
    /// server's choice: candle, so every server runs the same arithmetic).
    pub fn networks_on(self, networks: Networks) -> Store {
        Store { networks, ..self }
    }

    /// Whether it trains again even when an up-to-date model is saved.
    pub fn is_retraining(&self) -> bool {
        self.retrain
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where generated training pictures are kept: `cache/` of the store.
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.join("cache")
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
        data: &dyn Parts,
    ) -> Result<Saved> {
        self.save_card(model, report, data, None)
            .map(|(saved, _)| saved)
    }

    /// [`save`](Store::save) with the digit gate's threshold and held-out
    /// figures on the card ([`crate::gate`]); also returns the card written.
    pub(crate) fn save_card(
        &self,
        model: &dyn Classifier,
        report: &mut Report,
        data: &dyn Parts,
        gate: Option<GateFigures>,
    ) -> Result<(Saved, ModelCard)> {
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
            data_checksums: data.checksums().to_vec(),
            data_sizes: Some(data.sizes()),
            gate,
            report: report.clone(),
        };
        let json = serde_json::to_string_pretty(&card).expect("plain data serializes");
        write_atomic(&card_path, json.as_bytes())?;
        let saved = Saved {
            model: model_path,
            card: card_path,
            confusion,
            curves,
        };
        Ok((saved, card))
    }

    /// The model saved as `name`, with its card: the one way to read a
    /// saved model (the networks on [`networks_on`](Store::networks_on)'s
    /// choice).
    pub fn load(&self, name: &str) -> Result<(Box<dyn Classifier>, ModelCard)> {
        let card = self.card(name)?;
        let file = ModelFile::read(&self.dir, name, &card)?;
        let model = card.kind.load(
            &card.hyperparameters,
            card.scaler.clone(),
            file.payload(),
            self.networks,
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

    /// Whether the model saved as `name` is an up-to-date `kind` model for
    /// `data` (see [`Freshness`]); its model file is read and checked.
    pub fn freshness(&self, name: &str, kind: ModelKind, data: &dyn Parts) -> Freshness {
        match self.up_to_date(name, kind, data) {
            Ok((card, _)) => Freshness::Fresh(Box::new(card)),
            Err(not) => not,
        }
    }

    /// The card and the model file read and checked of an up-to-date model
    /// (see [`freshness`](Store::freshness)), or why there is none.
    fn up_to_date(
        &self,
        name: &str,
        kind: ModelKind,
        data: &dyn Parts,
    ) -> std::result::Result<(ModelCard, ModelFile), Freshness> {
        let card = self
            .card(name)
            .map_err(|e| Freshness::Missing(format!("no usable saved model ({e})")))?;
        if let Some(why) = why_stale(&card, kind, data) {
            return Err(Freshness::Stale(why));
        }
        let file =
            ModelFile::read(&self.dir, name, &card).map_err(|e| Freshness::Stale(e.to_string()))?;
        Ok((card, file))
    }

    /// Step 4.2, or its saved result: the model `params` fit into, and the
    /// seconds fitting took. When the store holds an up-to-date model (see
    /// [`freshness`](Store::freshness)) that fits like `params` and is not
    /// retraining, that model is loaded instead of training again, with the
    /// training time recorded on its card; otherwise this is
    /// [`experiment::fit`](crate::experiment::fit), keeping generated training pictures in the
    /// store's `cache/`. Either way a line says which it was and the training
    /// time, so re-running a notebook is quick.
    pub fn fit_or_load<L: Learner + ?Sized>(
        &self,
        params: &L,
        data: &ScaledSplit,
        progress: &dyn Progress,
    ) -> Result<(L::Model, f64)> {
        check_scaling(params, data)?;
        let name = params.kind().name();
        if self.retrain {
            progress.note(&format!(
                "retraining ({RETRAIN_ENV}=1 or --retrain): training again"
            ));
            return self.train(params, data, progress);
        }
        match self.up_to_date(name, params.kind(), data) {
            Err(Freshness::Stale(why)) => progress.note(&format!("{why}: training")),
            Err(_) => {}
            Ok((card, _)) if !params.fits_like(&card.hyperparameters) => progress.note(
                "the saved model was trained with other hyperparameters than these: training",
            ),
            Ok((card, file)) => match params.load_saved(
                &card.hyperparameters,
                card.scaler.clone(),
                file.payload(),
                card.report.history.clone(),
            ) {
                Ok(model) => {
                    let seconds = card.report.fit_seconds;
                    progress.note(&format!(
                        "using the saved model {} (same data and hyperparameters; trained in {seconds:.2} s); \
                         set {RETRAIN_ENV}=1 to train again",
                        self.dir.join(name).display()
                    ));
                    return Ok((model, seconds));
                }
                Err(e) => progress.note(&format!("cannot use the saved model ({e}): training")),
            },
        }
        self.train(params, data, progress)
    }

    /// [`experiment::fit`](crate::experiment::fit) in the store's cache, saying how long it took
    /// (the line a reused model's note stands in for).
    fn train<L: Learner + ?Sized>(
        &self,
        params: &L,
        data: &ScaledSplit,
        progress: &dyn Progress,
    ) -> Result<(L::Model, f64)> {
        let (model, seconds) = fit_in(params, data, Some(&self.cache_dir()), progress)?;
        progress.note(&format!("trained in {seconds:.2} s"));
        Ok((model, seconds))
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
    /// The sizes of the train, valid and test parts of the data it was
    /// trained for (cards written before this field: its report's parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_sizes: Option<[usize; 3]>,
    /// The digit gate's threshold and held-out figures (its kind only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateFigures>,
    pub report: Report,
}

impl ModelCard {
    /// Where the card's model file is in `dir`. A card names a plain file
    /// name next to it; anything else (a path, `..`) is refused, so a card
    /// never makes a reader or the Space writer reach outside `dir`.
    pub(crate) fn model_path(&self, dir: &Path) -> Result<PathBuf> {
        let f = &self.model_file;
        if f.is_empty() || f.contains(['/', '\\']) || f == "." || f == ".." {
            return Err(Error::Decode {
                what: format!("{}.json", self.name),
                reason: format!("it names an invalid model file {f:?}"),
            });
        }
        Ok(dir.join(f))
    }
}

/// What the digit gate ([`ModelKind::Gate`], [`crate::gate`]) chose on its
/// held-out pictures, and how it did there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GateFigures {
    /// The least score of a digit.
    pub threshold: f32,
    /// Training pictures: digits, non-digits.
    pub trained_on: (usize, usize),
    /// Held-out pictures: digits, non-digits.
    pub held_out: (usize, usize),
    /// Shares of the held-out digits and non-digits the threshold flags.
    pub flagged: (f64, f64),
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

/// Why `card` is not an up-to-date `kind` model for `data` (its model file
/// aside), or `None`.
fn why_stale(card: &ModelCard, kind: ModelKind, data: &dyn Parts) -> Option<String> {
    let saved_sizes: Vec<usize> = match card.data_sizes {
        Some(sizes) => sizes.to_vec(),
        None => card.report.parts.iter().map(|p| p.images).collect(),
    };
    if card.kind != kind {
        Some(format!("the saved model is a {}", card.kind))
    } else if card.data_checksums != data.checksums() || saved_sizes != data.sizes() {
        Some(format!(
            "the saved model was trained on other data ({} images, not {})",
            saved_sizes.first().copied().unwrap_or(0),
            data.sizes()[0]
        ))
    } else if card.crate_version != env!("CARGO_PKG_VERSION") {
        Some(format!(
            "the saved model is from mnist_support {}",
            card.crate_version
        ))
    } else if card.scaler.scaling() != card.report.scaling {
        Some("its card's scaler and report disagree".into())
    } else {
        None
    }
}

/// The hyperparameters of a saved `kind` model that differ from the
/// defaults, as `name = value` pairs ("the defaults" when none does).
pub fn describe_hyperparameters(kind: ModelKind, saved: &serde_json::Value) -> String {
    let defaults = kind
        .default_hyperparameters()
        .unwrap_or(serde_json::Value::Null);
    let mut changed = Vec::new();
    differences(&defaults, saved, "", &mut changed);
    if changed.is_empty() {
        "the default hyperparameters".into()
    } else {
        format!(
            "hyperparameters changed from the defaults: {}",
            changed.join(", ")
        )
    }
}

/// `path = value` for each leaf of `saved` that differs from `defaults`.
fn differences(
    defaults: &serde_json::Value,
    saved: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    match saved.as_object() {
        Some(map) => {
            for (key, value) in map {
                let name = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                differences(
                    defaults.get(key).unwrap_or(&serde_json::Value::Null),
                    value,
                    &name,
                    out,
                );
            }
        }
        None if saved != defaults => out.push(format!("{path} = {saved}")),
        None => {}
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
        let path = card.model_path(dir)?;
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

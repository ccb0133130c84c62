//! A Hugging Face Docker Space, written as a directory ready to `git push`
//! ([`write`]): the seven trained models with their cards and the digit gate and map,
//! the page's examples, a README with the Space's front matter, a
//! .gitattributes that sends the large files through Git LFS, and a
//! Dockerfile. By default the Space carries the crate's source and its
//! Dockerfile builds `mnist-serve` inside the image, so it deploys from macOS,
//! Windows or any Linux; [`Server::Prebuilt`] ships a binary built here
//! instead, once [`prebuilt::check`] finds the image can run it.

pub mod prebuilt;
pub mod source;

use std::path::{Path, PathBuf};

use crate::api::ExamplesResponse;
use crate::data::{Part, Split};
use crate::display::{html_escape, Bundle, Rich, Table};
use crate::error::{Error, Result};
use crate::models::ModelKind;
use crate::store::{describe_hyperparameters, Freshness, ModelCard, Store};

/// The port a Docker Space's app listens on (`app_port`).
pub const PORT: u16 = 7860;
/// The list of files [`write`] wrote, in the Space's directory.
const MANIFEST: &str = ".mnist-space";
/// Spaces refuse plain (non-LFS) files over 10 MB.
const LFS_OVER: u64 = 10 * 1024 * 1024;

/// Where the Space's `mnist-serve` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    /// Built inside the image from the crate's source (the default).
    FromSource,
    /// This binary, built here for Linux x86-64, copied into the Space.
    Prebuilt(PathBuf),
}

/// What [`write`] is asked to do.
#[derive(Debug, Clone)]
pub struct SpaceOptions {
    /// The directory to write: new, empty, or written by [`write`] before.
    pub out: PathBuf,
    /// The saved models (and the gate in `gate/`).
    pub models: PathBuf,
    pub server: Server,
    /// Ship the saved models as they are, stale or not (tests, experiments).
    pub any_models: bool,
    pub title: String,
    /// Link from the Space's page back to the project.
    pub project_url: Option<String>,
}

impl SpaceOptions {
    /// The defaults: built from source, up-to-date models only.
    pub fn new(out: impl Into<PathBuf>, models: impl Into<PathBuf>) -> Self {
        SpaceOptions {
            out: out.into(),
            models: models.into(),
            server: Server::FromSource,
            any_models: false,
            title: "MNIST digits in Rust".into(),
            project_url: None,
        }
    }
}

/// One file of the Space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceFile {
    /// Its path in the Space's directory.
    pub path: String,
    pub bytes: u64,
    /// Sent through Git LFS.
    pub lfs: bool,
}

/// What [`write`] wrote.
#[derive(Debug, Clone)]
pub struct Space {
    pub dir: PathBuf,
    pub files: Vec<SpaceFile>,
    /// Each model's title and what it was trained with.
    pub models: Vec<(String, String)>,
    pub server: Server,
    /// The README's front matter, between its `---` lines.
    pub front_matter: String,
}

/// Writes the Space for the models in `opts.models`, each up to date for
/// `data` (the data the run trained on: the full split, or in quick mode the
/// same subset) whatever its hyperparameters, and the digit gate.
pub fn write(opts: &SpaceOptions, data: &Split) -> Result<Space> {
    check_out_dir(&opts.out)?;
    let cards = fresh_cards(&opts.models, data, opts.any_models)?;
    let binary = match &opts.server {
        Server::FromSource => None,
        Server::Prebuilt(path) => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            prebuilt::check(&bytes, &path.display().to_string())?;
            Some(bytes)
        }
    };
    let mut beside = gate_files(&opts.models, data, opts.any_models)?;
    beside.extend(map_file(&opts.models, data, opts.any_models)?);

    let mut written = Writer {
        out: &opts.out,
        files: Vec::new(),
    };
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    match binary {
        Some(bytes) => {
            written.put("mnist-serve", &bytes)?;
            set_executable(&opts.out.join("mnist-serve"))?;
        }
        None => {
            let root = crate::config::project_root();
            for rel in source::source_files(&root)? {
                let from = root.join(&rel);
                let bytes = std::fs::read(&from).map_err(|e| Error::io(&from, e))?;
                let shown = rel.to_string_lossy().replace('\\', "/");
                written.put(&format!("{}/{shown}", source::SOURCE_DIR), &bytes)?;
            }
        }
    }
    for card in &cards {
        for rel in model_files(&opts.models, card.kind.name(), card)? {
            let from = opts.models.join(&rel);
            let bytes = std::fs::read(&from).map_err(|e| Error::io(&from, e))?;
            written.put(&format!("models/{rel}"), &bytes)?;
        }
    }
    for rel in beside {
        let from = opts.models.join(&rel);
        let bytes = std::fs::read(&from).map_err(|e| Error::io(&from, e))?;
        written.put(&format!("models/{rel}"), &bytes)?;
    }
    let examples = ExamplesResponse {
        examples: crate::real_inputs::example_inputs(data),
    };
    let examples = serde_json::to_vec(&examples).map_err(|e| Error::Encode {
        what: "the page's examples".into(),
        reason: e.to_string(),
    })?;
    written.put(
        &format!("models/{}", crate::real_inputs::EXAMPLES_FILE),
        &examples,
    )?;
    let from_source = opts.server == Server::FromSource;
    written.put("Dockerfile", source::dockerfile(from_source).as_bytes())?;
    let readme = readme(&cards, &opts.title, opts.project_url.as_deref());
    written.put("README.md", readme.as_bytes())?;

    let mut files = written.files;
    for f in &mut files {
        f.lfs = f.bytes > LFS_OVER || f.path.ends_with(".bin");
    }
    let attributes: String = files
        .iter()
        .filter(|f| f.lfs)
        .map(|f| format!("{} filter=lfs diff=lfs merge=lfs -text\n", f.path))
        .collect();
    let path = opts.out.join(".gitattributes");
    std::fs::write(&path, &attributes).map_err(|e| Error::io(&path, e))?;
    files.push(SpaceFile {
        path: ".gitattributes".into(),
        bytes: attributes.len() as u64,
        lfs: false,
    });
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest: String = files.iter().map(|f| format!("{}\n", f.path)).collect();
    let path = opts.out.join(MANIFEST);
    std::fs::write(&path, manifest).map_err(|e| Error::io(&path, e))?;
    Ok(Space {
        dir: opts.out.clone(),
        files,
        models: cards
            .iter()
            .map(|c| {
                (
                    c.kind.title().to_string(),
                    describe_hyperparameters(c.kind, &c.hyperparameters),
                )
            })
            .collect(),
        server: opts.server.clone(),
        front_matter: front_matter(&readme),
    })
}

struct Writer<'a> {
    out: &'a Path,
    files: Vec<SpaceFile>,
}

impl Writer<'_> {
    fn put(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        let path = self.out.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
        self.files.push(SpaceFile {
            path: rel.to_string(),
            bytes: bytes.len() as u64,
            lfs: false,
        });
        Ok(())
    }
}

/// The README's front matter, `---` lines included.
fn front_matter(readme: &str) -> String {
    let body = readme.strip_prefix("---\n").unwrap_or(readme);
    match body.find("\n---\n") {
        Some(end) => format!("---\n{}\n---", &body[..end]),
        None => String::new(),
    }
}

fn refused(reason: String) -> Error {
    Error::Process {
        what: "mnist space".into(),
        reason,
    }
}

/// The gate's files (relative to the models) when it is up to date for
/// `data` (with `any`: when it loads), or an error naming the fix.
fn gate_files(models: &Path, data: &Split, any: bool) -> Result<Vec<String>> {
    let fix = format!(
        "fix: cargo run --release -- train-gate --dir {}",
        models.display()
    );
    let name = crate::gate::NAME;
    let files = |card: &ModelCard| model_files(models, name, card).map(|f| f.to_vec());
    if any {
        return match crate::gate::Gate::load(models) {
            Ok(Some(gate)) => files(&gate.card),
            Ok(None) => Ok(Vec::new()),
            Err(e) => Err(refused(format!(
                "the digit gate in {} cannot be loaded: {e}\n{fix}",
                models.display()
            ))),
        };
    }
    match Store::new(models).freshness(name, ModelKind::Gate, data) {
        Freshness::Fresh(card) => files(&card),
        Freshness::Stale(why) | Freshness::Missing(why) => Err(refused(format!(
            "the Space needs the digit gate (what says \"this does not look like a digit\"), \
             up to date, in {}: {why}\n{fix}",
            models.display()
        ))),
    }
}

/// The digit map's file (relative to the models) when it was computed from
/// `data` (with `any`: when it loads); none when there is no map, so the
/// Space's explanations come without a place on it.
fn map_file(models: &Path, data: &Split, any: bool) -> Result<Option<String>> {
    match crate::map::DigitMap::load(models) {
        Ok(Some(map)) if any || map.is_for(data) => Ok(Some(crate::map::FILE.to_string())),
        Ok(_) => Ok(None),
        Err(e) => Err(refused(format!(
            "the digit map in {} cannot be read: {e}\nfix: cargo run --release -- train --dir {}",
            models.display(),
            models.display()
        ))),
    }
}

/// A model's two files in `models`, as names there: its parameters and its
/// card, `<name>.json` for the name it was looked up by (a fixed name, not
/// the one the card gives itself). The card's model file must be a plain
/// file name ([`ModelCard::model_path`]), so neither reaches outside.
fn model_files(models: &Path, name: &str, card: &ModelCard) -> Result<[String; 2]> {
    card.model_path(models)?;
    Ok([card.model_file.clone(), format!("{name}.json")])
}

/// The directory is new, empty, or holds only what [`write`] wrote before (and a `.git`).
fn check_out_dir(out: &Path) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(refused(format!(
            "{} exists and is not a directory",
            out.display()
        )));
    }
    let ours: Vec<String> = std::fs::read_to_string(out.join(MANIFEST))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    // `write` lists plain relative paths; anything else was not written by it
    // and could name a file outside the directory.
    let outside: Vec<&str> = ours
        .iter()
        .filter(|p| {
            let mut parts = Path::new(p.as_str()).components().peekable();
            parts.peek().is_none() || !parts.all(|c| matches!(c, std::path::Component::Normal(_)))
        })
        .map(String::as_str)
        .collect();
    if !outside.is_empty() {
        return Err(refused(format!(
            "{} lists paths outside {} ({}), which `mnist space` never writes; \
             it deletes only the files it wrote inside the directory: choose a new or empty directory",
            out.join(MANIFEST).display(),
            out.display(),
            outside.join(", ")
        )));
    }
    let mut found = Vec::new();
    let mut foreign = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = out.join(&rel);
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = rel.join(entry.file_name());
            let shown = name.to_string_lossy().replace('\\', "/");
            if shown == ".git" || shown == MANIFEST {
                continue;
            }
            if entry.file_type().map_err(|e| Error::io(&dir, e))?.is_dir() {
                stack.push(name);
            } else if ours.contains(&shown) {
                found.push(name);
            } else {
                foreign.push(shown);
            }
        }
    }
    if !foreign.is_empty() {
        foreign.sort();
        return Err(refused(format!(
            "{} holds files `mnist space` did not write ({}); choose a new or empty directory",
            out.display(),
            foreign.join(", ")
        )));
    }
    // Only files seen inside the directory (a symbolic link is removed, not
    // what it points to).
    for p in found {
        let _ = std::fs::remove_file(out.join(p));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary root holding `victim` (a file outside the Space) and an
    /// empty Space directory `space`.
    fn victim_beside_a_space() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let victim = root.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let out = root.path().join("space");
        std::fs::create_dir(&out).unwrap();
        (root, victim, out)
    }

    #[test]
    fn a_manifest_naming_paths_outside_the_directory_is_refused_and_nothing_is_deleted() {
        let (_root, victim, out) = victim_beside_a_space();
        std::fs::write(out.join("app.txt"), "written by mnist space").unwrap();
        for listed in [
            victim.to_string_lossy().into_owned(),
            "../victim".into(),
            "sub/../../victim".into(),
        ] {
            std::fs::write(out.join(MANIFEST), format!("app.txt\n{listed}\n")).unwrap();
            let err = check_out_dir(&out).unwrap_err().to_string();
            assert!(err.contains("outside") && err.contains(&listed), "{err}");
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
            assert!(
                out.join("app.txt").exists(),
                "nothing is deleted when refused"
            );
        }
        // What it wrote itself, listed as written, is cleared for the next write.
        std::fs::write(out.join(MANIFEST), "app.txt\n").unwrap();
        check_out_dir(&out).unwrap();
        assert!(!out.join("app.txt").exists());
        assert!(victim.exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_listed_symbolic_link_is_removed_not_what_it_points_to() {
        let (_root, victim, out) = victim_beside_a_space();
        std::os::unix::fs::symlink(&victim, out.join("model.bin")).unwrap();
        std::fs::write(out.join(MANIFEST), "model.bin\n").unwrap();
        check_out_dir(&out).unwrap();
        assert!(out.join("model.bin").symlink_metadata().is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }
}

/// The card of each of the seven models in `dir`, each up to date with this
/// data and crate version (unless `any`), whatever its hyperparameters, or an
/// error naming the command that fixes it.
fn fresh_cards(dir: &Path, data: &Split, any: bool) -> Result<Vec<ModelCard>> {
    let store = Store::new(dir);
    let mut cards = Vec::new();
    let mut problems = Vec::new();
    let mut kinds = Vec::new();
    for &kind in ModelKind::ALL {
        let problem = if any {
            match store.card(kind.name()) {
                Ok(card) => {
                    cards.push(card);
                    continue;
                }
                Err(e) => format!("missing ({e})"),
            }
        } else {
            match store.freshness(kind.name(), kind, data) {
                Freshness::Fresh(card) => {
                    cards.push(*card);
                    continue;
                }
                Freshness::Stale(why) => format!("stale ({why})"),
                Freshness::Missing(why) => format!("missing ({why})"),
            }
        };
        problems.push(format!("{kind}: {problem}"));
        kinds.push(kind.name());
    }
    if problems.is_empty() {
        return Ok(cards);
    }
    Err(refused(format!(
        "the Space needs the seven models, trained and up to date, in {}:\n  {}\n\
         fix: cargo run --release -- train {} --dir {}",
        dir.display(),
        problems.join("\n  "),
        kinds.join(" "),
        dir.display()
    )))
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(path, e))
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> Result<()> {
    Ok(())
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

impl Space {
    /// The files, the crate's source folded into one row.
    pub fn table(&self) -> Table {
        let mut rows = Vec::new();
        let source: Vec<&SpaceFile> = self
            .files
            .iter()
            .filter(|f| f.path.starts_with(&format!("{}/", source::SOURCE_DIR)))
            .collect();
        let mut source_shown = false;
        for f in &self.files {
            if source.iter().any(|s| s.path == f.path) {
                if !source_shown {
                    let bytes: u64 = source.iter().map(|s| s.bytes).sum();
                    rows.push(vec![
                        format!(
                            "{}/ ({} files: the crate's source)",
                            source::SOURCE_DIR,
                            source.len()
                        ),
                        megabytes(bytes),
                        String::new(),
                    ]);
                    source_shown = true;
                }
                continue;
            }
            rows.push(vec![
                f.path.clone(),
                megabytes(f.bytes),
                if f.lfs { "LFS" } else { "" }.into(),
            ]);
        }
        let total: u64 = self.files.iter().map(|f| f.bytes).sum();
        let how = match &self.server {
            Server::FromSource => "mnist-serve built in the image from source/".to_string(),
            Server::Prebuilt(p) => format!("mnist-serve prebuilt here ({})", p.display()),
        };
        Table::new(vec!["file".into(), "size".into(), "git".into()], rows).with_caption(format!(
            "Hugging Face Space written to {}: {} files, {} in all; {how}",
            self.dir.display(),
            self.files.len(),
            megabytes(total)
        ))
    }

    /// The commands that put the directory on Hugging Face.
    pub fn push_commands(&self) -> String {
        format!(
            "cd {}\ngit init -b main && git lfs install --local\ngit add . && git commit -m \"MNIST demo\"\n\
             git push --force https://huggingface.co/spaces/USER/SPACE main",
            self.dir.display()
        )
    }

    /// What each model was trained with, one line each.
    pub fn models_text(&self) -> String {
        self.models
            .iter()
            .map(|(title, with)| format!("{title}: {with}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Rich for Space {
    fn bundle(&self) -> Bundle {
        let pre = |s: &str| format!("<pre>{}</pre>", html_escape(s));
        let table = self.table();
        let text = format!(
            "{}\n\nModels:\n{}\n\nREADME.md front matter:\n{}\n\nTo publish it (after creating a blank Docker Space on huggingface.co):\n{}",
            table.to_text(),
            self.models_text(),
            self.front_matter,
            self.push_commands()
        );
        vec![
            ("text/plain", text),
            (
                "text/html",
                format!(
                    "{}<p>Models:</p>{}<p><b>README.md</b> front matter:</p>{}<p>To publish it, after \
                     creating a blank Docker Space on huggingface.co:</p>{}",
                    table.to_html(),
                    pre(&self.models_text()),
                    pre(&self.front_matter),
                    pre(&self.push_commands())
                ),
            ),
        ]
    }
}

crate::display::inherent_rich!(Space);

/// The Space's README: front matter, then a short page.
pub fn readme(cards: &[ModelCard], title: &str, project_url: Option<&str>) -> String {
    let rows: String = cards
        .iter()
        .map(|c| {
            format!(
                "| {} | {} | {} | {} |\n",
                c.kind.title(),
                c.report
                    .accuracy(Part::Test)
                    .map(crate::metrics::percent)
                    .unwrap_or_else(|| "–".into()),
                c.report.parts.first().map_or(0, |p| p.images),
                describe_hyperparameters(c.kind, &c.hyperparameters).replace('|', "\\|")
            )
        })
        .collect();
    let project = match project_url {
        Some(url) => format!("[mnist-rs notebooks]({url})"),
        None => "mnist-rs notebooks".into(),
    };
    let title = title.replace(['\n', '"'], " ");
    format!(
        r#"---
title: "{title}"
emoji: ✍️
colorFrom: indigo
colorTo: blue
sdk: docker
app_port: {PORT}
short_description: Seven MNIST classifiers in Rust; draw a digit
pinned: false
---

# {title}

Draw a digit, or upload, drop, paste or photograph one: seven classifiers trained on MNIST
answer side by side with their three most probable digits, beside the 28×28 picture they saw.
Everything runs in one Rust binary (no Python, no libtorch: the two networks run on candle).

| model | MNIST test accuracy | training images | trained with |
|---|---|---|---|
{rows}
Accuracy on the MNIST test images that no choice was tuned on; each model's full
hyperparameters are in its card, `models/<name>.json`, and at `GET /api/models`.

**What happens to your picture.** The paper's level is estimated and subtracted (grey paper,
uneven light), the ink is found above the paper's noise, specks are dropped, the digit is
cropped, its strokes are brought to MNIST's width, and it is scaled into a 20×20 box centred by
its centre of mass in 28×28, as MNIST's digits were.

**API.** `POST /api/predict` with `{{"model": "all", "image": "<base64 PNG or JPEG>"}}`, or
`{{"pixels": [784 values 0-255]}}`; `GET /api/models`; `GET /healthz`. Predictions are rate
limited per client and queued; a busy server answers 503 with `Retry-After`.

Made with {project}: the classic MNIST assignment in Rust notebooks.
"#
    )
}

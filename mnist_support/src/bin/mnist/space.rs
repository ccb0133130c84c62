//! `mnist space DIR`: write a directory that is a Hugging Face Docker Space,
//! ready to `git push`: the server binary without libtorch (`mnist-serve`,
//! built here), the seven trained models with their cards, the page's
//! examples, a README with the Space's front matter, a Dockerfile that only
//! copies and runs, and a .gitattributes that sends the large files through
//! Git LFS.

use std::path::{Path, PathBuf};
use std::process::Command;

use mnist_support::api::ExamplesResponse;
use mnist_support::data::Split;
use mnist_support::display::Table;
use mnist_support::models::ModelKind;
use mnist_support::store::{describe_hyperparameters, Freshness, ModelCard, Store};

use crate::AnyResult;

/// The arguments of `mnist space`.
#[derive(clap::Args)]
pub struct SpaceArgs {
    /// The directory to write (new, empty, or written by `mnist space` before).
    pub out: PathBuf,
    #[command(flatten)]
    pub dir: crate::args::ModelsDir,
    /// Ship this mnist-serve binary instead of building it.
    #[arg(long)]
    pub server_binary: Option<PathBuf>,
    /// Ship the saved models as they are, stale or not (tests, experiments).
    #[arg(long)]
    pub any_models: bool,
    /// The Space's title.
    #[arg(long, default_value = "MNIST digits in Rust")]
    pub title: String,
    /// Link from the Space's page back to the project.
    #[arg(long)]
    pub project_url: Option<String>,
}

/// The port a Docker Space's app listens on (`app_port`).
pub const PORT: u16 = 7860;
/// The list of files `mnist space` wrote, in DIR.
const MANIFEST: &str = ".mnist-space";
/// Spaces refuse plain (non-LFS) files over 10 MB.
const LFS_OVER: u64 = 10 * 1024 * 1024;

/// The Dockerfile: a slim Debian that only copies and runs, as uid 1000.
/// The clean-environment test runs its CMD as it stands.
pub const DOCKERFILE: &str = r#"# The MNIST prediction server (no libtorch), as a Hugging Face Docker Space.
FROM debian:trixie-slim
RUN useradd --create-home --uid 1000 user
USER user
WORKDIR /home/user/app
COPY --chown=user mnist-serve ./
COPY --chown=user models ./models
EXPOSE 7860
CMD ["./mnist-serve", "--host", "0.0.0.0", "--port", "7860", "--dir", "models", "--trusted-proxies", "1"]
"#;

pub fn space(a: SpaceArgs) -> AnyResult<()> {
    if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
        return Err(
            "a Space runs Linux on x86-64, and the server binary is built here: \
                    run `mnist space` on Linux x86-64 (WSL or a Linux VM will do)"
                .into(),
        );
    }
    let models_dir = a.dir.path();
    check_out_dir(&a.out)?;
    crate::fetch::ensure_data()?;
    // The data the models were trained on: the full split, or in quick mode
    // the same subset the notebooks used.
    let split = Split::load()?.limit_from_env()?;
    let cards = fresh_cards(&models_dir, &split, a.any_models)?;
    for card in &cards {
        eprintln!(
            "space: {} ({})",
            card.kind.title(),
            describe_hyperparameters(card.kind, &card.hyperparameters)
        );
    }
    let binary = match &a.server_binary {
        Some(b) => b.clone(),
        None => build_server()?,
    };

    // What was written: its path in DIR and its size.
    let mut written: Vec<(String, u64)> = Vec::new();
    let mut write = |rel: &str, bytes: &[u8]| -> AnyResult<()> {
        let path = a.out.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
        written.push((rel.to_string(), bytes.len() as u64));
        Ok(())
    };
    std::fs::create_dir_all(&a.out)?;
    let server = std::fs::read(&binary).map_err(|e| format!("{}: {e}", binary.display()))?;
    write("mnist-serve", &server)?;
    set_executable(&a.out.join("mnist-serve"))?;
    for card in &cards {
        let from = models_dir.join(&card.model_file);
        write(
            &format!("models/{}", card.model_file),
            &std::fs::read(&from)?,
        )?;
        let json = models_dir.join(format!("{}.json", card.name));
        write(
            &format!("models/{}.json", card.name),
            &std::fs::read(&json)?,
        )?;
    }
    // The digit gate, beside the models as the server looks for it.
    match mnist_support::gate::Gate::load(&models_dir) {
        Ok(Some(_)) => {
            for rel in mnist_support::gate::gate_files() {
                write(&format!("models/{rel}"), &std::fs::read(models_dir.join(&rel))?)?;
            }
        }
        Ok(None) if a.any_models => {}
        Ok(None) => {
            return Err(format!(
                "the Space needs the digit gate in {} (what says \"this does not look like a digit\")\n\
                 fix: cargo run --release -- train-gate --dir {}",
                mnist_support::gate::gate_dir(&models_dir).display(),
                models_dir.display()
            )
            .into())
        }
        Err(e) => {
            return Err(format!(
                "the digit gate in {} cannot be loaded: {e}\n\
                 fix: cargo run --release -- train-gate --dir {}",
                mnist_support::gate::gate_dir(&models_dir).display(),
                models_dir.display()
            )
            .into())
        }
    }
    let examples = ExamplesResponse {
        examples: mnist_support::serve::example_inputs(&split),
    };
    write(
        &format!("models/{}", mnist_support::serve::EXAMPLES_FILE),
        serde_json::to_string(&examples)?.as_bytes(),
    )?;
    write("Dockerfile", DOCKERFILE.as_bytes())?;
    write(
        "README.md",
        readme(&cards, &a.title, a.project_url.as_deref()).as_bytes(),
    )?;
    let large: Vec<String> = written
        .iter()
        .filter(|(p, size)| *size > LFS_OVER || p.ends_with(".bin"))
        .map(|(p, _)| p.clone())
        .collect();
    let attributes: String = large
        .iter()
        .map(|p| format!("{p} filter=lfs diff=lfs merge=lfs -text\n"))
        .collect();
    std::fs::write(a.out.join(".gitattributes"), &attributes)?;
    written.push((".gitattributes".into(), attributes.len() as u64));
    written.sort();
    let manifest: Vec<&str> = written.iter().map(|(p, _)| p.as_str()).collect();
    std::fs::write(a.out.join(MANIFEST), manifest.join("\n") + "\n")?;

    let total: u64 = written.iter().map(|(_, size)| size).sum();
    let rows: Vec<Vec<String>> = written
        .iter()
        .map(|(p, size)| {
            vec![
                p.clone(),
                megabytes(*size),
                if large.contains(p) { "LFS" } else { "" }.into(),
            ]
        })
        .collect();
    let table =
        Table::new(vec!["file".into(), "size".into(), "git".into()], rows).with_caption(format!(
            "Hugging Face Space written to {}: {} files, {} in all",
            a.out.display(),
            manifest.len(),
            megabytes(total)
        ));
    println!("{}", table.to_text());
    println!(
        "next: create a Docker Space (blank) on huggingface.co, then in {}:\n  \
         git init -b main && git lfs install --local && git add . && git commit -m \"MNIST demo\"\n  \
         git push --force https://huggingface.co/spaces/USER/SPACE main",
        a.out.display()
    );
    Ok(())
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// DIR is new, empty, or holds only what `mnist space` wrote before (and a `.git`).
fn check_out_dir(out: &Path) -> AnyResult<()> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(format!("{} exists and is not a directory", out.display()).into());
    }
    let ours: Vec<String> = std::fs::read_to_string(out.join(MANIFEST))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    let mut foreign = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(out.join(&rel))? {
            let entry = entry?;
            let name = rel.join(entry.file_name());
            let shown = name.display().to_string();
            if shown == ".git" || shown == MANIFEST {
                continue;
            }
            if entry.file_type()?.is_dir() {
                stack.push(name);
            } else if !ours.contains(&shown) {
                foreign.push(shown);
            }
        }
    }
    if !foreign.is_empty() {
        foreign.sort();
        return Err(format!(
            "{} holds files `mnist space` did not write ({}); choose a new or empty directory",
            out.display(),
            foreign.join(", ")
        )
        .into());
    }
    for p in ours {
        let _ = std::fs::remove_file(out.join(p));
    }
    Ok(())
}

/// The card of each of the seven models in `dir`, each up to date with this
/// data and crate version (unless `any`), whatever its hyperparameters, or an
/// error naming the command that fixes it.
fn fresh_cards(dir: &Path, split: &Split, any: bool) -> AnyResult<Vec<ModelCard>> {
    let store = Store::new(dir);
    let mut cards = Vec::new();
    let mut problems = Vec::new();
    for &kind in ModelKind::ALL {
        if any {
            match store.card(kind.name()) {
                Ok(card) => cards.push(card),
                Err(e) => problems.push(format!("{kind}: missing ({e})")),
            }
            continue;
        }
        match store.freshness(kind.name(), kind, split) {
            Freshness::Fresh(card) => cards.push(*card),
            Freshness::Stale(why) => problems.push(format!("{kind}: stale ({why})")),
            Freshness::Missing(why) => problems.push(format!("{kind}: missing ({why})")),
        }
    }
    if problems.is_empty() {
        return Ok(cards);
    }
    let kinds: Vec<&str> = problems
        .iter()
        .filter_map(|p| p.split(':').next())
        .collect();
    Err(format!(
        "the Space needs the seven models, trained and up to date, in {}:\n  {}\n\
         fix: cargo run --release -- train {} --dir {}",
        dir.display(),
        problems.join("\n  "),
        kinds.join(" "),
        dir.display()
    )
    .into())
}

/// `cargo build --release --no-default-features --features serve --bin
/// mnist-serve` in the project; the binary's path.
fn build_server() -> AnyResult<PathBuf> {
    let root = mnist_support::data::project_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("space: building the server without libtorch (cargo build --release --no-default-features --features serve --bin mnist-serve)");
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--no-default-features",
            "--features",
            "serve",
            "--bin",
            "mnist-serve",
        ])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building mnist-serve failed ({status})").into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("release").join("mnist-serve"))
}

#[cfg(unix)]
fn set_executable(path: &Path) -> AnyResult<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> AnyResult<()> {
    Ok(())
}

/// The Space's README: front matter, then a short page.
pub fn readme(cards: &[ModelCard], title: &str, project_url: Option<&str>) -> String {
    let rows: String = cards
        .iter()
        .map(|c| {
            format!(
                "| {} | {} | {} | {} |\n",
                c.kind.title(),
                c.report
                    .accuracy(mnist_support::data::Part::Test)
                    .map(mnist_support::metrics::percent)
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

//! `mnist space DIR`: write a directory that is a Hugging Face Docker Space,
//! ready to `git push` (`mnist_support::space::write`). By default the Space
//! builds the server from the crate's source inside its image; `--prebuilt`
//! ships a binary built here instead.

use std::path::PathBuf;
use std::process::Command;

use mnist_support::config::Config;
use mnist_support::data::Split;
use mnist_support::space::{self, Server, SpaceOptions};

use crate::AnyResult;

/// The arguments of `mnist space`.
#[derive(clap::Args)]
pub struct SpaceArgs {
    /// The directory to write (new, empty, or written by `mnist space` before).
    pub out: PathBuf,
    #[command(flatten)]
    pub dir: crate::args::ModelsDir,
    /// Ship a server binary built here (Linux x86-64 with glibc ≤ 2.41 only)
    /// instead of building it in the Space's image from the crate's source.
    #[arg(long)]
    pub prebuilt: bool,
    /// The binary `--prebuilt` ships (default: build it with cargo).
    #[arg(long, requires = "prebuilt")]
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

pub fn space(config: &Config, a: SpaceArgs) -> AnyResult<()> {
    crate::shared::ensure_data(config)?;
    // The data the models were trained on: the full split, or in quick mode
    // the same subset the notebooks used.
    let split = Split::load(config)?.limit(config)?;
    let server = match (a.prebuilt, a.server_binary) {
        (false, _) => Server::FromSource,
        (true, Some(binary)) => Server::Prebuilt(binary),
        (true, None) => Server::Prebuilt(build_server()?),
    };
    let opts = SpaceOptions {
        server,
        any_models: a.any_models,
        title: a.title,
        project_url: a.project_url,
        ..SpaceOptions::new(a.out, a.dir.path(config))
    };
    let written = space::write(&opts, &split)?;
    eprintln!("{}", written.models_text());
    println!("{}", written.table().to_text());
    println!(
        "next: create a Docker Space (blank) on huggingface.co, then:\n{}",
        written.push_commands()
    );
    Ok(())
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

//! `mnist serve`: the prediction server over the saved models, training the
//! missing ones first with `--train`.

use std::path::PathBuf;

use mnist_support::data::Split;
use mnist_support::models::{self, ModelKind};

use crate::fetch::ensure_data;
use crate::train::train;
use crate::AnyResult;

pub fn serve(port: u16, dir: Option<PathBuf>, train_missing: bool) -> AnyResult<()> {
    let dir = dir.unwrap_or_else(models::models_dir);
    if train_missing {
        let missing: Vec<ModelKind> = ModelKind::ALL
            .iter()
            .copied()
            .filter(|k| !dir.join(format!("{}.json", k.name())).exists())
            .collect();
        if !missing.is_empty() {
            ensure_data()?;
            eprintln!("serve: training {} missing model(s) first", missing.len());
            train(missing, Some(dir.clone()))?;
        }
    }
    let (loaded, failed) = mnist_support::serve::load_models(&dir)?;
    for f in &failed {
        eprintln!("serve: skipping {f}");
    }
    if loaded.is_empty() {
        eprintln!(
            "serve: no models in {}; train some with `cargo run --release -- train`",
            dir.display()
        );
    }
    let names: Vec<&str> = loaded.iter().map(|m| m.name.as_str()).collect();
    eprintln!(
        "serve: {} model(s) from {}: {}",
        loaded.len(),
        dir.display(),
        names.join(", ")
    );
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let examples: mnist_support::serve::MakeExamples =
        Box::new(|| mnist_support::serve::example_inputs(Split::load().ok().as_ref()));
    mnist_support::serve::serve(loaded, examples, addr, |bound| {
        println!("listening on http://{bound}/");
        use std::io::Write;
        let _ = std::io::stdout().flush();
    })?;

    Ok(())
}

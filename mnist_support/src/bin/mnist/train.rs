//! `mnist train` and `mnist run-all`: the pipeline of the notebooks
//! ([`Store::run`]) for several models.

use std::path::PathBuf;

use mnist_support::data::Split;
use mnist_support::models::{self, ModelKind};
use mnist_support::store::Store;

use crate::progress_bar::Bar;
use crate::AnyResult;

pub fn all_if_empty(kinds: Vec<ModelKind>) -> Vec<ModelKind> {
    if kinds.is_empty() {
        ModelKind::ALL.to_vec()
    } else {
        kinds
    }
}

pub fn train(kinds: Vec<ModelKind>, dir: Option<PathBuf>) -> AnyResult<()> {
    let split = Split::load()?;
    let store = Store::new(dir.unwrap_or_else(models::models_dir)).retraining(true);
    for kind in all_if_empty(kinds) {
        eprintln!("train: {}", kind.title());
        let mut model = kind.default_model()?;
        let report = store.run(model.as_mut(), &split, &Bar::new())?;
        print!("{}", report.accuracy_table());
        if let Some(p) = &report.model_path {
            println!("saved {}\n", p.display());
        }
    }
    Ok(())
}

/// A fresh directory under the system's temporary directory.
pub fn tempfile_dir() -> AnyResult<PathBuf> {
    let dir = std::env::temp_dir().join(format!("mnist-run-all-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Steps 4.1–4.7 for all seven models: scale, train (or reuse an up-to-date
/// saved model unless `retrain`), evaluate, save; then the summary.
pub fn run_all(dir: PathBuf, retrain: bool) -> AnyResult<()> {
    let store = Store::new(&dir).retraining(retrain);
    let split = Split::load()?;
    let t = std::time::Instant::now();
    for (i, &kind) in ModelKind::ALL.iter().enumerate() {
        eprintln!("[{}/{}] {}", i + 1, ModelKind::ALL.len(), kind.title());
        let mut model = kind.default_model()?;
        let report = store.run(model.as_mut(), &split, &Bar::new())?;
        print!("{}", report.accuracy_table());
        println!();
    }
    let summary = mnist_support::summary::Summary::load(&dir)?;
    let (csv, md) = summary.save(&dir)?;
    print!("{}", summary.table());
    println!(
        "\nall seven models in {:.1} s; saved in {}; summary: {}, {}",
        t.elapsed().as_secs_f64(),
        dir.display(),
        csv.display(),
        md.display()
    );
    Ok(())
}

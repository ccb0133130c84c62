//! `mnist train` and `mnist run-all`: the pipeline of the notebooks
//! ([`pipeline::run`]) for several models.

use std::path::{Path, PathBuf};

use mnist_support::config::Config;
use mnist_support::data::Split;
use mnist_support::models::ModelKind;
use mnist_support::pipeline::{self, gate};
use mnist_support::store::Store;

use crate::progress_bar::Bar;
use crate::AnyResult;

/// The arguments of `mnist train`.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// Models to train (default: all seven, then the digit gate).
    pub models: Vec<ModelKind>,
    #[command(flatten)]
    pub dir: crate::args::ModelsDir,
    /// Train again even the models (and gate) that are saved and up to date;
    /// without it, an up-to-date model is kept whatever its hyperparameters.
    #[arg(long)]
    pub retrain: bool,
}

/// The arguments of `mnist train-gate`.
#[derive(clap::Args)]
pub struct TrainGateArgs {
    #[command(flatten)]
    pub dir: crate::args::ModelsDir,
}

/// The arguments of `mnist run-all`.
#[derive(clap::Args)]
pub struct RunAllArgs {
    #[command(flatten)]
    pub dir: crate::args::ModelsDir,
    /// Train every model again even when an up-to-date saved one exists.
    #[arg(long)]
    pub retrain: bool,
}

/// Train the `kinds` (all seven and the digit gate when empty) that are
/// missing or stale in `dir`, or all of them when `retrain`.
pub fn train(config: &Config, kinds: Vec<ModelKind>, dir: &Path, retrain: bool) -> AnyResult<()> {
    let split = Split::load(config)?;
    let store = Store::new(dir).retraining(retrain);
    let gate_too = kinds.is_empty();
    for kind in crate::shared::all_if_empty(kinds) {
        eprintln!("train: {}", kind.title());
        let report = pipeline::fresh_or_run(&store, kind, &split, &Bar::new())?;
        print!("{}", report.accuracy_table());
        if let Some(p) = &report.model_path {
            println!("model: {}\n", p.display());
        }
    }
    store.map_or_fit(&split, &Bar::new())?;
    if gate_too {
        eprintln!("train: the digit gate (is there a digit at all?)");
        let quick = config.quick();
        match retrain {
            true => Some(train_gate_with(&split, &store, quick)?),
            false => gate::train_if_missing(&split, &store, quick, &Bar::new())?,
        }
        .iter()
        .for_each(print_gate);
    }
    Ok(())
}

/// `mnist train-gate`: the server's digit gate, trained again.
pub fn train_gate(config: &Config, dir: &Path) -> AnyResult<()> {
    eprintln!("train: the digit gate (is there a digit at all?)");
    let quick = config.quick();
    let trained = train_gate_with(&Split::load(config)?, &Store::new(dir), quick)?;
    print_gate(&trained);
    Ok(())
}

fn train_gate_with(split: &Split, store: &Store, quick: bool) -> AnyResult<gate::Trained> {
    let params = mnist_support::models::NetParams::gate().quick(quick);
    let data = gate::GateData::default();
    Ok(gate::train(split, data, params, store, &Bar::new())?)
}

fn print_gate(trained: &gate::Trained) {
    let f = &trained.gate.figures;
    println!(
        "digit gate: {} training pictures ({} digits, {} non-digits) in {:.1} s; \
         on its {} held-out pictures the threshold {:.3} flags {} of the digits and {} of the non-digits\nsaved {}",
        f.trained_on.0 + f.trained_on.1,
        f.trained_on.0,
        f.trained_on.1,
        trained.seconds,
        f.held_out.0 + f.held_out.1,
        f.threshold,
        mnist_support::metrics::percent(f.flagged.0),
        mnist_support::metrics::percent(f.flagged.1),
        trained.saved.model.display()
    );
}

/// Steps 4.1–4.7 for all seven models: scale, train (or reuse an up-to-date
/// saved model unless `retrain`), evaluate, save; then the summary.
pub fn run_all(config: &Config, dir: PathBuf, retrain: bool) -> AnyResult<()> {
    let split = Split::load(config)?;
    let store = Store::new(&dir).retraining(retrain);
    let done = pipeline::run_all(&store, &split, &Bar::new())?;
    for report in &done.reports {
        println!("{}", report.accuracy_table());
    }
    print!("{}", done.summary.table());
    println!(
        "\nall seven models in {:.1} s; saved in {}; summary: {}, {}",
        done.seconds,
        dir.display(),
        done.csv.display(),
        done.markdown.display()
    );
    Ok(())
}

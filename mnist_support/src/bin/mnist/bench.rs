//! `mnist bench`: train each model on the full split and print fit and
//! predict times, peak memory and accuracies; `--run-all` times the whole
//! pipeline. Nothing is saved.

use mnist_support::config::Config;
use mnist_support::data::{Part, Split};
use mnist_support::display::Table;
use mnist_support::experiment::{self, Report, ScaledSplit};
use mnist_support::metrics::percent;
use mnist_support::models::{Learner, ModelKind, Params};
use mnist_support::store::Store;

use crate::progress_bar::Bar;
use crate::shared::{all_if_empty, tempfile_dir};
use crate::AnyResult;

/// The arguments of `mnist bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Models to benchmark (default: all seven).
    pub models: Vec<ModelKind>,
    /// One JSON object per model and line: model, fit_s, epochs, best_epoch,
    /// s_per_epoch, predict_s, peak_rss_mb, train_acc, valid_acc, test_acc, threads, device.
    #[arg(long)]
    pub json: bool,
    /// Any configuration of one model: a JSON object of the hyperparameters
    /// to change from its defaults, e.g. '{"n_trees": 100}' for the forest
    /// (nested objects merge: '{"tree": {"max_features": 40}}').
    #[arg(long)]
    pub params: Option<String>,
    /// Instead: time the whole pipeline (`run-all --retrain` into a temporary
    /// directory) and print its wall time and peak memory.
    #[arg(long, conflicts_with_all = ["models", "json", "params"])]
    pub run_all: bool,
    /// Instead: train each model (default: all) by the CLI's pipeline and by
    /// its notebook in a headless kernel, and print both training times.
    #[arg(long, conflicts_with_all = ["json", "run_all", "params"])]
    pub notebooks: bool,
}

/// Peak resident memory of this process in MB since the last reset (Linux).
fn peak_rss_mb() -> Option<f64> {
    Some(crate::shared::proc_status_kb("self", "VmHWM:")? as f64 / 1024.0)
}

/// Reset the peak-memory counter (Linux: write 5 to /proc/self/clear_refs).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// `mnist bench`: one of its three forms.
pub fn run(config: &Config, a: BenchArgs) -> AnyResult<()> {
    if a.run_all {
        bench_run_all(config)
    } else if a.notebooks {
        bench_notebooks(config, a.models)
    } else {
        bench(config, a.models, a.json, a.params.as_deref())
    }
}

pub fn bench(
    config: &Config,
    kinds: Vec<ModelKind>,
    json: bool,
    params: Option<&str>,
) -> AnyResult<()> {
    let changes = parse_changes(&kinds, params)?;
    // MNIST_SUBSET (the tests' quick mode) limits the data; the banner goes to
    // stderr so that `--json` stays one JSON object a line.
    let split = Split::load(config)?.limit_with(config, |banner| eprintln!("bench: {banner}"))?;
    let mut rows = Vec::new();
    let mut torch_threads = None;
    for kind in all_if_empty(kinds) {
        reset_peak_rss();
        let params = match &changes {
            Some(v) => kind.params_with(v)?,
            None => kind.default_params()?,
        };
        if changes.is_some() {
            eprintln!("bench: {kind} with {}", params.hyperparameters());
        }
        let data = ScaledSplit::new(&split, params.scaling())?;
        let (model, fit_s) = experiment::fit(&params, &data, &Bar::new())?;
        let report = experiment::evaluate(&model, &data, fit_s, &Bar::new())?;
        let peak = peak_rss_mb().unwrap_or(f64::NAN);
        if let Some(h) = &report.history {
            torch_threads = Some((h.threads, h.device.clone()));
        }
        if json {
            println!("{}", json_line(kind, &report, peak));
        } else {
            eprintln!(
                "bench: {kind}: fit {:.2} s, test {}",
                report.fit_seconds,
                percent(report.accuracy(Part::Test).unwrap_or(f64::NAN))
            );
            rows.push(row(kind, &report, peak));
        }
    }
    if !json {
        print_table(rows, torch_threads);
    }
    Ok(())
}

/// `--params`: one model's hyperparameter changes, checked before the data
/// is loaded, so that a typo fails at once.
fn parse_changes(
    kinds: &[ModelKind],
    params: Option<&str>,
) -> AnyResult<Option<serde_json::Value>> {
    let Some(text) = params else {
        return Ok(None);
    };
    let [kind] = kinds else {
        return Err("--params changes one model's hyperparameters: name exactly one model".into());
    };
    let v = serde_json::from_str(text).map_err(|e| format!("--params is not JSON: {e}"))?;
    kind.params_with(&v)?;
    Ok(Some(v))
}

/// One model's figures as one JSON object (`--json`).
fn json_line(kind: ModelKind, report: &Report, peak: f64) -> serde_json::Value {
    let acc = |s: Part| report.accuracy(s).unwrap_or(f64::NAN);
    let history = report.history.as_ref();
    serde_json::json!({
        "model": kind.name(),
        "fit_s": report.fit_seconds,
        "epochs": history.map(|h| h.epochs.len()),
        "best_epoch": history.map(|h| h.best_epoch),
        "s_per_epoch": history.map(|h| h.seconds_per_epoch()),
        "predict_s": report.predict_seconds,
        "peak_rss_mb": peak,
        "train_acc": acc(Part::Train),
        "valid_acc": acc(Part::Valid),
        "test_acc": acc(Part::Test),
        "threads": history.map(|h| h.threads).unwrap_or(rayon::current_num_threads()),
        "device": history.map(|h| h.device.as_str()).unwrap_or("cpu"),
    })
}

/// One model's row of the table.
fn row(kind: ModelKind, report: &Report, peak: f64) -> Vec<String> {
    let acc = |s: Part| percent(report.accuracy(s).unwrap_or(f64::NAN));
    let (epochs, per_epoch) = match &report.history {
        Some(h) => (
            format!("{} ({})", h.epochs.len(), h.best_epoch),
            format!("{:.2}", h.seconds_per_epoch()),
        ),
        None => ("-".into(), "-".into()),
    };
    vec![
        kind.name().to_string(),
        format!("{:.2}", report.fit_seconds),
        epochs,
        per_epoch,
        format!("{:.2}", report.predict_seconds),
        format!("{peak:.0}"),
        acc(Part::Train),
        acc(Part::Valid),
        acc(Part::Test),
    ]
}

fn print_table(rows: Vec<Vec<String>>, torch_threads: Option<(usize, String)>) {
    let header = [
        "model",
        "fit s",
        "epochs",
        "s/epoch",
        "predict s",
        "peak MB",
        "train",
        "valid",
        "test",
    ];
    print!("{}", Table::new(header.map(String::from).to_vec(), rows));
    println!(
        "(threads: {} for the classical models{}; epochs: run (kept); predict = all 65,000 images; \
         peak MB = whole process, data included)",
        rayon::current_num_threads(),
        torch_threads
            .map(|(t, d)| format!(", {t} libtorch threads on {d} for the networks"))
            .unwrap_or_default()
    );
}

/// The whole `run-all --retrain` in a temporary directory, timed.
pub fn bench_run_all(config: &Config) -> AnyResult<()> {
    let dir = tempfile_dir()?;
    reset_peak_rss();
    let t = std::time::Instant::now();
    let result = Split::load(config).and_then(|split| {
        let store = Store::new(&dir).retraining(true);
        mnist_support::pipeline::run_all(&store, &split, &Bar::new())
    });
    let wall = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    println!(
            "run-all: {wall:.1} s wall time ({:.1} min) for all seven models (training + evaluation on 65,000 images each), peak memory {:.0} MB, {} threads",
            wall / 60.0,
            peak_rss_mb().unwrap_or(f64::NAN),
            rayon::current_num_threads()
        );

    Ok(())
}

/// `bench --notebooks`: each model trained by the CLI's pipeline and by its
/// notebook (the real Jupyter + evcxr kernel, headless), one after the
/// other on this machine, each into a temporary directory; prints both
/// training times (`fit_seconds` of the saved report: scaling, added
/// training images and fitting) and the test accuracies.
pub fn bench_notebooks(config: &Config, kinds: Vec<ModelKind>) -> AnyResult<()> {
    let p = mnist_setup::setup()?;
    let split = Split::load(config)?;
    let root = tempfile_dir()?;
    let result = (all_if_empty(kinds).into_iter())
        .map(|kind| Ok((kind, cli_and_notebook(kind, &p, &split, &root)?)))
        .collect::<AnyResult<Vec<_>>>();
    let _ = std::fs::remove_dir_all(&root);
    let rows = result?;
    let pct = |r: &Report| percent(r.accuracy(Part::Test).unwrap_or(f64::NAN));
    let header = [
        "model",
        "CLI fit s",
        "notebook s",
        "ratio",
        "CLI test",
        "notebook test",
    ];
    let lines = (rows.iter())
        .map(|(kind, (a, b))| {
            vec![
                kind.name().to_string(),
                format!("{:.1}", a.fit_seconds),
                format!("{:.1}", b.fit_seconds),
                format!("{:.2}", b.fit_seconds / a.fit_seconds),
                pct(a),
                pct(b),
            ]
        })
        .collect();
    print!("{}", Table::new(header.map(String::from).to_vec(), lines));
    println!(
        "(training only, as each saved report records it; ratio = notebook / CLI; {} threads)",
        rayon::current_num_threads()
    );
    for (kind, (a, b)) in &rows {
        if let (Some(ha), Some(hb)) = (&a.history, &b.history) {
            let secs = |h: &mnist_support::metrics::History| {
                let s: Vec<String> = h
                    .epochs
                    .iter()
                    .map(|e| format!("{:.1}", e.seconds))
                    .collect();
                s.join(" ")
            };
            println!(
                "{kind} seconds per epoch: CLI {}; notebook {}",
                secs(ha),
                secs(hb)
            );
        }
    }
    Ok(())
}

/// `kind` trained by the CLI's pipeline, then by its notebook, each into its
/// own directory under `root`: the two saved reports.
fn cli_and_notebook(
    kind: ModelKind,
    p: &mnist_setup::Paths,
    split: &Split,
    root: &std::path::Path,
) -> AnyResult<(Report, Report)> {
    let index = ModelKind::ALL.iter().position(|&k| k == kind).unwrap_or(0);
    let notebook = mnist_setup::resolve_notebook(p, &format!("04_{}", index + 1))
        .ok_or_else(|| format!("no notebook 04_{}_* for {kind}", index + 1))?;
    eprintln!("bench: {kind}: the CLI's pipeline");
    let cli = Store::new(root.join("cli")).retraining(true);
    let a = mnist_support::pipeline::run(&cli, &kind.default_params()?, split, &Bar::new())?;
    eprintln!("bench: {kind}: {}", notebook.display());
    let nb_dir = root.join("notebook");
    let status = mnist_setup::runner_command(p, &[notebook], &root.join("out"))
        .env(mnist_support::config::MODELS_ENV, &nb_dir)
        .env(mnist_support::config::RETRAIN_ENV, "1")
        .status()?;
    if !status.success() {
        return Err(format!("the {kind} notebook failed").into());
    }
    let b = Store::new(&nb_dir).card(kind.name())?.report;
    Ok((a, b))
}

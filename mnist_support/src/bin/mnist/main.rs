//! `mnist`: the command line over the same functions the notebooks call.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mnist_support::data::{self, Split};
use mnist_support::experiment::{self, Scaled};
use mnist_support::jupyter;
use mnist_support::models::{self, Kind, Progress};
use mnist_support::plot;
use mnist_support::store::Store;

#[derive(Parser)]
#[command(
    name = "mnist",
    version,
    about = "MNIST in Rust: data, figures, models, notebooks"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Download the four MNIST files into data/mnist (or --dir), checksums verified.
    FetchData {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Load and split the data; print shapes and class counts per split.
    Data {
        /// One JSON object: {"train": {"rows": .., "class_counts": [..]}, "valid": .., "test": ..}
        #[arg(long)]
        json: bool,
    },
    /// Write the exploration figures (digit grid, class frequency) as PNG.
    Figures {
        #[arg(long, default_value = "notebooks/figures")]
        out: PathBuf,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Train models on the full split and save them (models/<name>.bin + .json + .confusion.png).
    Train {
        /// Models to train (default: all seven).
        models: Vec<Kind>,
        /// Directory to save into (default: models/, or $MNIST_MODELS_DIR).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Benchmark: train each model on the full split and print fit seconds,
    /// epochs and seconds per epoch (networks), predict seconds (all 65,000
    /// images), peak memory and the three accuracies. Nothing is saved.
    Bench {
        /// Models to benchmark (default: all seven).
        models: Vec<Kind>,
        /// One JSON object per model and line: model, fit_s, epochs, best_epoch,
        /// s_per_epoch, predict_s, peak_rss_mb, train_acc, valid_acc, test_acc, threads, device.
        #[arg(long)]
        json: bool,
        /// Instead: time the whole pipeline (`run-all --retrain` into a temporary
        /// directory) and print its wall time and peak memory.
        #[arg(long, conflicts_with_all = ["models", "json"])]
        run_all: bool,
    },
    /// The whole assignment without Jupyter: train (or reuse) all seven models
    /// with progress bars, save models and reports, print and save the summary.
    RunAll {
        /// Directory to save into (default: models/, or $MNIST_MODELS_DIR).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Train every model again even when an up-to-date saved one exists.
        #[arg(long)]
        retrain: bool,
    },
    /// The prediction server: a page to draw or upload a digit and a JSON API,
    /// over every model saved in models/ (or --dir).
    Serve {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// Directory of saved models (default: models/, or $MNIST_MODELS_DIR).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// First train (on the full split) every model that is not saved yet.
        #[arg(long)]
        train: bool,
    },
    /// Load benchmark of the prediction server on loopback: CLIENTS concurrent
    /// clients send REQUESTS predictions per model (and for "all"); prints
    /// throughput and p50/p99 latency.
    ServeBench {
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Requests per model, shared by the clients.
        #[arg(long, default_value_t = 400)]
        requests: usize,
        /// Directory of saved models (default: models/, or $MNIST_MODELS_DIR).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Real-inputs benchmark: generate pad drawings, scans, phone photos and
    /// typed digits (from validation digits and the machine's fonts, never the
    /// test split), send each through the prediction server (PNG/JPEG →
    /// preprocessing → every model) and print accuracy per source and model.
    BenchInputs {
        /// `heldout` (what is reported) or `dev` (what preprocessing was tuned on).
        #[arg(long, default_value = "heldout")]
        set: mnist_support::real_inputs::Set,
        /// Inputs per source.
        #[arg(long, default_value_t = 400)]
        per_source: usize,
        /// Directory of saved models (default: models/, or $MNIST_MODELS_DIR).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Also write every generated input file into this directory.
        #[arg(long)]
        write: Option<PathBuf>,
        /// Write a gallery (inputs, the 28×28 the models saw, every answer) as PNG here.
        #[arg(long)]
        gallery: Option<PathBuf>,
        /// Write the preprocessing steps of one input per source as PNG here.
        #[arg(long)]
        steps: Option<PathBuf>,
        /// List every input some model gets wrong, with the wrong answers.
        #[arg(long)]
        verbose: bool,
    },
    /// Set up the notebook toolchain: project-local venv with Jupyter and
    /// nbconvert, the evcxr Rust kernel (installed once with cargo) registered in it.
    Setup,
    /// Run the whole job: setup, data, execute every notebook headlessly, and write
    /// the executed notebooks and HTML exports to notebooks/executed/ (or --out).
    Notebooks {
        /// Notebooks to run, by path or name (`01`, `02_visualize_digits`); default: all, in order.
        names: Vec<String>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            let mut src = std::error::Error::source(e.as_ref());
            while let Some(s) = src {
                eprintln!("  caused by: {s}");
                src = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

mod bench_inputs;
mod serve_bench;

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn fetch(dir: PathBuf) -> AnyResult<()> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let files = data::fetch(&dir, |name, done, total| {
        bar.set_message(name.to_string());
        if let Some(t) = total {
            bar.set_length(t);
        }
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    for f in files {
        println!("ok  {}", f.display());
    }
    Ok(())
}

/// Make sure the data can be found: `$MNIST_DIR` or data/mnist, else download.
fn ensure_data() -> AnyResult<()> {
    let dir = data::data_dir();
    match data::locate_all(&dir) {
        Ok(_) => return Ok(()),
        Err(e) if mnist_support::config::Config::get().data_dir_set => return Err(e.into()),
        Err(_) => {}
    }
    eprintln!("data: MNIST not found in {}; downloading", dir.display());
    fetch(dir)
}

/// Progress as an indicatif bar; notes are printed above it.
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::hidden();
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Bar(bar)
    }
}

impl Progress for Bar {
    fn begin(&self, task: &str, total: u64) {
        self.0
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        self.0.reset();
        self.0.set_length(total);
        self.0.set_message(task.to_string());
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn note(&self, line: &str) {
        self.0.suspend(|| eprintln!("  {line}"));
    }
    fn end(&self) {
        self.0.finish_and_clear();
    }
}

/// Peak resident memory of this process in MB since the last reset (Linux).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Reset the peak-memory counter (Linux: write 5 to /proc/self/clear_refs).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn all_if_empty(kinds: Vec<Kind>) -> Vec<Kind> {
    if kinds.is_empty() {
        Kind::ALL.to_vec()
    } else {
        kinds
    }
}

fn bench(kinds: Vec<Kind>, json: bool) -> AnyResult<()> {
    let split = Split::load()?;
    if !json {
        println!(
            "{:<10} {:>9} {:>7} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "model", "fit s", "epochs", "s/epoch", "predict s", "peak MB", "train", "valid", "test"
        );
    }
    let mut torch_threads = None;
    for kind in all_if_empty(kinds) {
        reset_peak_rss();
        let mut model = kind.default_model()?;
        let data = Scaled::new(&split, model.scaling())?;
        let fit_s = experiment::fit(model.as_mut(), &data, &Bar::new())?;
        let report = experiment::evaluate(model.as_ref(), &data, fit_s, &Bar::new())?;
        let peak = peak_rss_mb().unwrap_or(f64::NAN);
        let acc = |s: &str| report.accuracy(s).unwrap_or(f64::NAN);
        let history = report.history.as_ref();
        if let Some(h) = history {
            torch_threads = Some((h.threads, h.device.clone()));
        }
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "model": kind.name(),
                    "fit_s": report.fit_seconds,
                    "epochs": history.map(|h| h.epochs.len()),
                    "best_epoch": history.map(|h| h.best_epoch),
                    "s_per_epoch": history.map(|h| h.seconds_per_epoch()),
                    "predict_s": report.predict_seconds,
                    "peak_rss_mb": peak,
                    "train_acc": acc("train"),
                    "valid_acc": acc("valid"),
                    "test_acc": acc("test"),
                    "threads": history.map(|h| h.threads).unwrap_or(rayon::current_num_threads()),
                    "device": history.map(|h| h.device.as_str()).unwrap_or("cpu"),
                })
            );
        } else {
            let (epochs, per_epoch) = match history {
                Some(h) => (
                    format!("{} ({})", h.epochs.len(), h.best_epoch),
                    format!("{:.2}", h.seconds_per_epoch()),
                ),
                None => ("-".into(), "-".into()),
            };
            println!(
                "{:<10} {:>9.2} {:>7} {:>8} {:>10.2} {:>9.0} {:>8.2}% {:>8.2}% {:>8.2}%",
                kind.name(),
                report.fit_seconds,
                epochs,
                per_epoch,
                report.predict_seconds,
                peak,
                100.0 * acc("train"),
                100.0 * acc("valid"),
                100.0 * acc("test")
            );
        }
    }
    if !json {
        println!(
            "(threads: {} for the classical models{}; epochs: run (kept); predict = all 65,000 images; \
             peak MB = whole process, data included)",
            rayon::current_num_threads(),
            torch_threads
                .map(|(t, d)| format!(", {t} libtorch threads on {d} for the networks"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn train(kinds: Vec<Kind>, dir: Option<PathBuf>) -> AnyResult<()> {
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
fn tempfile_dir() -> AnyResult<PathBuf> {
    let dir = std::env::temp_dir().join(format!("mnist-run-all-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Steps 4.1–4.7 for all seven models: scale, train (or reuse an up-to-date
/// saved model unless `retrain`), evaluate, save; then the summary.
fn run_all(dir: PathBuf, retrain: bool) -> AnyResult<()> {
    let store = Store::new(&dir).retraining(retrain);
    let split = Split::load()?;
    let t = std::time::Instant::now();
    for (i, &kind) in Kind::ALL.iter().enumerate() {
        eprintln!("[{}/{}] {}", i + 1, Kind::ALL.len(), kind.title());
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

fn run(cmd: Cmd) -> AnyResult<ExitCode> {
    match cmd {
        Cmd::FetchData { dir } => fetch(dir.unwrap_or_else(data::default_data_dir))?,
        Cmd::Data { json } => {
            let split = Split::load()?;
            let summary = split.summary();
            if json {
                println!("{}", summary.to_json());
            } else {
                print!("{summary}");
                println!();
                print!("{}", split.class_frequency());
            }
        }
        Cmd::Figures { out, seed } => {
            let split = Split::load()?;
            let grid = plot::digit_grid(&split.x_train, &split.y_train, seed)?;
            println!("{}", grid.save(out.join("digits_3x3.png"))?.display());
            let freq = plot::class_frequency(&split.class_frequency())?;
            println!("{}", freq.save(out.join("class_frequency.png"))?.display());
        }
        Cmd::Train { models, dir } => {
            ensure_data()?;
            train(models, dir)?
        }
        Cmd::Bench { run_all: true, .. } => {
            ensure_data()?;
            let dir = tempfile_dir()?;
            reset_peak_rss();
            let t = std::time::Instant::now();
            let result = run_all(dir.clone(), true);
            let wall = t.elapsed().as_secs_f64();
            let _ = std::fs::remove_dir_all(&dir);
            result?;
            println!(
                "run-all: {wall:.1} s wall time ({:.1} min) for all seven models (training + evaluation on 65,000 images each), peak memory {:.0} MB, {} threads",
                wall / 60.0,
                peak_rss_mb().unwrap_or(f64::NAN),
                rayon::current_num_threads()
            );
        }
        Cmd::Bench { models, json, .. } => {
            ensure_data()?;
            bench(models, json)?
        }
        Cmd::RunAll { dir, retrain } => {
            ensure_data()?;
            run_all(dir.unwrap_or_else(models::models_dir), retrain)?
        }
        Cmd::Serve {
            port,
            dir,
            train: train_missing,
        } => {
            let dir = dir.unwrap_or_else(models::models_dir);
            if train_missing {
                let missing: Vec<Kind> = Kind::ALL
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
        }
        Cmd::ServeBench {
            clients,
            requests,
            dir,
        } => serve_bench::serve_bench(clients, requests, dir)?,
        Cmd::BenchInputs {
            set,
            per_source,
            dir,
            json,
            write,
            gallery,
            steps,
            verbose,
        } => {
            ensure_data()?;
            bench_inputs::bench_inputs(set, per_source, dir, json, write, gallery, steps, verbose)?
        }
        Cmd::Setup => {
            let p = jupyter::setup()?;
            println!(
                "ready: venv {}, Rust kernel '{}' in {}",
                p.venv.display(),
                jupyter::KERNEL_NAME,
                p.kernel_dir.display()
            );
        }
        Cmd::Notebooks { names, out } => {
            let p = jupyter::setup()?;
            ensure_data()?;
            let notebooks = if names.is_empty() {
                jupyter::all_notebooks(&p)
            } else {
                names
                    .iter()
                    .map(|n| {
                        jupyter::resolve_notebook(&p, n)
                            .ok_or_else(|| format!("no notebook named {n:?}"))
                    })
                    .collect::<Result<Vec<_>, _>>()?
            };
            if notebooks.is_empty() {
                return Err(format!("no notebooks found in {}", p.notebooks.display()).into());
            }
            let out = out.unwrap_or_else(|| p.executed.clone());
            eprintln!(
                "notebooks: executing {} notebook(s); output in {}",
                notebooks.len(),
                out.display()
            );
            let status = jupyter::runner_command(&p, &notebooks, &out).status()?;
            if !status.success() {
                eprintln!(
                    "notebooks: FAILED (executed copies and HTML up to the failure are in {})",
                    out.display()
                );
                return Ok(ExitCode::FAILURE);
            }
            println!(
                "notebooks: all ok; executed notebooks and HTML exports in {}",
                out.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

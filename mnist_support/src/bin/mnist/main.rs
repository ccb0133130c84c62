//! `mnist`: the command line over the same functions the notebooks call.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mnist_support::models::{self, ModelKind};

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
        /// Every figure the README shows, into --out: also the class means,
        /// the summary chart, the CNN's training curves, the SVM's confusion
        /// matrices (from the saved models in --dir), the preprocessing steps
        /// and the real-inputs gallery (held-out set) and a screenshot of the
        /// page after an example drawing is predicted (headless Chromium).
        #[arg(long)]
        readme: bool,
        /// Directory of saved models for --readme (default: models/, or $MNIST_MODELS_DIR).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Train models on the full split and save them (models/<name>.bin + .json + .confusion.png).
    Train {
        /// Models to train (default: all seven, then the digit gate).
        models: Vec<ModelKind>,
        /// Directory to save into (default: models/, or $MNIST_MODELS_DIR).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Train the server's digit gate (does the picture hold a digit at all?) on
    /// generated digits and non-digits and MNIST training digits; save it in
    /// models/gate/ (or --dir's). Prints its held-out figures and threshold.
    TrainGate {
        /// Models directory to save into (default: models/, or $MNIST_MODELS_DIR).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Benchmark: train each model on the full split and print fit seconds,
    /// epochs and seconds per epoch (networks), predict seconds (all 65,000
    /// images), peak memory and the three accuracies. Nothing is saved.
    Bench {
        /// Models to benchmark (default: all seven).
        models: Vec<ModelKind>,
        /// One JSON object per model and line: model, fit_s, epochs, best_epoch,
        /// s_per_epoch, predict_s, peak_rss_mb, train_acc, valid_acc, test_acc, threads, device.
        #[arg(long)]
        json: bool,
        /// Any configuration of one model: a JSON object of the hyperparameters
        /// to change from its defaults, e.g. '{"n_trees": 100}' for the forest
        /// (nested objects merge: '{"tree": {"max_features": 40}}').
        #[arg(long)]
        params: Option<String>,
        /// Instead: time the whole pipeline (`run-all --retrain` into a temporary
        /// directory) and print its wall time and peak memory.
        #[arg(long, conflicts_with_all = ["models", "json", "params"])]
        run_all: bool,
        /// Instead: train each model (default: all) by the CLI's pipeline and by
        /// its notebook in a headless kernel, and print both training times.
        #[arg(long, conflicts_with_all = ["json", "run_all", "params"])]
        notebooks: bool,
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
        #[command(flatten)]
        options: mnist_support::serve::Options,
        /// Directory of saved models (default: models/, or $MNIST_MODELS_DIR).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// First train (on the full split) every model that is not saved yet,
        /// and the digit gate when it is missing.
        #[arg(long)]
        train: bool,
        /// Run the networks on libtorch instead of candle (to compare the two).
        #[arg(long)]
        libtorch: bool,
    },
    /// Load benchmark of the prediction server, on loopback: the server in its
    /// own process (the Space's mnist-serve when built), CLIENTS concurrent
    /// clients sending one picture to every model for SECONDS; prints answered
    /// requests per second, p50/p99 latency, counts per status, /healthz
    /// latency under load and the server's peak memory.
    ServeBench {
        /// Concurrent clients; several values run one after another.
        #[arg(long, num_args = 1.., default_values_t = [1, 16, 256])]
        clients: Vec<usize>,
        /// Seconds each run lasts.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// The server's queue bound (default: the server's own).
        #[arg(long)]
        queue: Option<usize>,
        /// Also start `mnist serve --libtorch` (the networks on libtorch) and
        /// compare its size, start time, memory and per-image times.
        #[arg(long)]
        vs_libtorch: bool,
        /// Directory of saved models (default: models/, or $MNIST_MODELS_DIR).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Write a Hugging Face Docker Space into DIR, ready to `git push`: the
    /// server without libtorch, the seven models (trained and up to date),
    /// the page's examples, a README with the Space's front matter, a
    /// Dockerfile and a .gitattributes for Git LFS.
    Space {
        /// The directory to write (new, empty, or written by `mnist space` before).
        out: PathBuf,
        /// Directory of saved models (default: models/, or $MNIST_MODELS_DIR).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Ship this mnist-serve binary instead of building it.
        #[arg(long)]
        server_binary: Option<PathBuf>,
        /// Ship the saved models as they are, stale or not (tests, experiments).
        #[arg(long)]
        any_models: bool,
        /// The Space's title.
        #[arg(long, default_value = "MNIST digits in Rust")]
        title: String,
        /// Link from the Space's page back to the project.
        #[arg(long)]
        project_url: Option<String>,
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
    /// Our models beside scikit-learn's and PyTorch's in one run on this
    /// machine: the same split and the same configuration on both sides
    /// (scikit-learn 1.9.1 or PyTorch 2.13.0 from the project venv, installed
    /// on first use); prints accuracy, fit and predict seconds and their ratios.
    Compare {
        /// Models to compare (default: softmax knn tree forest; svm takes
        /// scikit-learn about half an hour here; dnn and cnn need PyTorch,
        /// about 4.7 GB with its CUDA libraries).
        models: Vec<ModelKind>,
        /// Only the first N training images (and N/5 valid and test), for a quick check.
        #[arg(long)]
        subset: Option<usize>,
        /// Epochs for the networks (default: the models' own, DNN 20, CNN 10).
        #[arg(long)]
        epochs: Option<usize>,
        /// Form (b): each side's own recipe instead of the same configuration:
        /// our models as the project trains them, against the usual
        /// scikit-learn and PyTorch solutions (see scripts/compare.py); for
        /// the networks, also how long ours take to reach the other side's
        /// validation accuracy.
        #[arg(long, conflicts_with = "epochs")]
        best: bool,
        /// Form (a): train the seeded models (forest, dnn, cnn) with N seeds
        /// on each side (42, 43, ...) and print each run and the means: one
        /// run's accuracy is partly the luck of its seed.
        #[arg(long, default_value_t = 1, conflicts_with = "best",
              value_parser = clap::value_parser!(u64).range(1..=20))]
        seeds: u64,
        /// One JSON object per model.
        #[arg(long)]
        json: bool,
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
    /// Benchmark of interactive kernels: start kernels the way Jupyter Lab
    /// does (the registered spec, through the build-slot launcher) and print
    /// how long each takes to start and to run the notebook's first cells.
    FirstCell {
        /// Notebooks, by path or name; default: all, in order.
        names: Vec<String>,
        /// Start all their kernels at once (notebooks open side by side).
        #[arg(long)]
        together: bool,
        /// Start from an empty temporary pool: round 1 is the cold start, and
        /// later rounds reuse it (deleted at the end).
        #[arg(long)]
        cold: bool,
        /// How many times to run the whole set.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// Code cells to run and time in each notebook.
        #[arg(long, default_value_t = 2)]
        cells: usize,
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

mod bench;
mod bench_inputs;
mod compare;
mod data;
mod fetch;
mod figures;
mod notebooks;
mod progress_bar;
mod serve;
mod serve_bench;
mod space;
mod train;

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn run(cmd: Cmd) -> AnyResult<ExitCode> {
    match cmd {
        Cmd::FetchData { dir } => {
            fetch::fetch(dir.unwrap_or_else(mnist_support::data::default_data_dir))?
        }
        Cmd::Data { json } => data::data(json)?,
        Cmd::Figures {
            out,
            seed,
            readme,
            dir,
        } => {
            figures::figures(&out, seed)?;
            if readme {
                fetch::ensure_data()?;
                figures::readme_figures(&out, &dir.unwrap_or_else(models::models_dir))?
            }
        }
        Cmd::Train { models, dir } => {
            fetch::ensure_data()?;
            train::train(models, dir)?
        }
        Cmd::TrainGate { dir } => {
            fetch::ensure_data()?;
            train::train_gate(&dir.unwrap_or_else(models::models_dir))?
        }
        Cmd::Bench { run_all: true, .. } => {
            fetch::ensure_data()?;
            bench::bench_run_all()?
        }
        Cmd::Bench {
            models,
            notebooks: true,
            ..
        } => {
            fetch::ensure_data()?;
            bench::bench_notebooks(models)?
        }
        Cmd::Bench {
            models,
            json,
            params,
            ..
        } => {
            fetch::ensure_data()?;
            bench::bench(models, json, params.as_deref())?
        }
        Cmd::RunAll { dir, retrain } => {
            fetch::ensure_data()?;
            train::run_all(dir.unwrap_or_else(models::models_dir), retrain)?
        }
        Cmd::Serve {
            options,
            dir,
            train,
            libtorch,
        } => serve::serve(&options, dir, train, libtorch)?,
        Cmd::ServeBench {
            clients,
            seconds,
            queue,
            vs_libtorch,
            dir,
        } => serve_bench::serve_bench(clients, seconds, queue, vs_libtorch, dir)?,
        Cmd::Space {
            out,
            dir,
            server_binary,
            any_models,
            title,
            project_url,
        } => space::space(space::SpaceArgs {
            out,
            dir,
            server_binary,
            any_models,
            title,
            project_url,
        })?,
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
            fetch::ensure_data()?;
            bench_inputs::bench_inputs(set, per_source, dir, json, write, gallery, steps, verbose)?
        }
        Cmd::Compare {
            models,
            subset,
            epochs,
            best,
            seeds,
            json,
        } => {
            fetch::ensure_data()?;
            compare::compare(models, subset, epochs, best, seeds, json)?
        }
        Cmd::Setup => notebooks::setup()?,
        Cmd::Notebooks { names, out } => return notebooks::notebooks(names, out),
        Cmd::FirstCell {
            names,
            together,
            cold,
            rounds,
            cells,
        } => return notebooks::first_cell(names, together, cold, rounds, cells),
    }
    Ok(ExitCode::SUCCESS)
}

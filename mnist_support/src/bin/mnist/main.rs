//! `mnist`: the command line over the same functions the notebooks call.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mnist_support::config::Config;

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
    FetchData(fetch::FetchDataArgs),
    /// Load and split the data; print shapes and class counts per split.
    Data(data::DataArgs),
    /// Write the exploration figures (digit grid, class frequency) as PNG.
    Figures(figures::FiguresArgs),
    /// Train models on the full split and save them (models/<name>.bin + .json + .confusion.png).
    Train(train::TrainArgs),
    /// Train the server's digit gate (does the picture hold a digit at all?) on
    /// generated digits and non-digits and MNIST training digits; save it in
    /// models/ as gate.bin and gate.json (or --dir's). Prints its held-out figures and threshold.
    TrainGate(train::TrainGateArgs),
    /// Benchmark: train each model on the full split and print fit seconds,
    /// epochs and seconds per epoch (networks), predict seconds (all 65,000
    /// images), peak memory and the three accuracies. Nothing is saved.
    Bench(bench::BenchArgs),
    /// The whole assignment without Jupyter: train (or reuse) all seven models
    /// with progress bars, save models and reports, print and save the summary.
    RunAll(train::RunAllArgs),
    /// The prediction server: a page to draw or upload a digit and a JSON API,
    /// over every model saved in models/ (or --dir).
    Serve(serve::ServeArgs),
    /// Load benchmark of the prediction server, on loopback: the server in its
    /// own process (the Space's mnist-serve when built), CLIENTS concurrent
    /// clients sending one picture to every model for SECONDS; prints answered
    /// requests per second, p50/p99 latency, counts per status, /healthz
    /// latency under load and the server's peak memory.
    ServeBench(serve_bench::ServeBenchArgs),
    /// Write a Hugging Face Docker Space into DIR, ready to `git push`: the
    /// server without libtorch, the seven models (trained and up to date),
    /// the page's examples, a README with the Space's front matter, a
    /// Dockerfile and a .gitattributes for Git LFS.
    Space(space::SpaceArgs),
    /// Real-inputs benchmark: generate pad drawings, scans, phone photos and
    /// typed digits (from validation digits and the machine's fonts, never the
    /// test split), send each through the prediction server (PNG/JPEG →
    /// preprocessing → every model) and print accuracy per source and model.
    BenchInputs(bench_inputs::BenchInputsArgs),
    /// Our models beside scikit-learn's and PyTorch's in one run on this
    /// machine: the same split and the same configuration on both sides
    /// (scikit-learn 1.9.1 or PyTorch 2.13.0 from the project venv, installed
    /// on first use); prints accuracy, fit and predict seconds and their ratios.
    Compare(compare::CompareArgs),
    /// Set up the notebook toolchain: project-local venv with Jupyter and
    /// nbconvert, the evcxr Rust kernel (installed once with cargo) registered in it.
    Setup,
    /// Run the whole job: setup, data, execute every notebook headlessly, and write
    /// the executed notebooks and HTML exports to notebooks/executed/ (or --out).
    Notebooks(notebooks::NotebooksArgs),
    /// The grader's checklist of a notebook run: one row per requirement of
    /// the assignment, with the notebook and cell that meets it and the
    /// evidence, as a Markdown table; fails when one is missing.
    Checklist(notebooks::ChecklistArgs),
    /// Benchmark of interactive kernels: start kernels the way Jupyter Lab
    /// does (the registered spec, through the build-slot launcher) and print
    /// how long each takes to start and to run the notebook's first cells.
    FirstCell(notebooks::FirstCellArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.cmd.only_prints() {
        end_quietly_when_stdout_closes();
    }
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

impl Cmd {
    /// The commands that write to stdout and to files only. The others run
    /// the prediction server (in this process for `bench-inputs` and
    /// `figures --readme`), kernels or a browser: their server writes to
    /// sockets with `writev`, which raises SIGPIPE when a client has gone, and
    /// that must stay an error on one connection, not end the process.
    fn only_prints(&self) -> bool {
        match self {
            Cmd::Data(_) | Cmd::Train(_) | Cmd::TrainGate(_) | Cmd::RunAll(_) => true,
            Cmd::Checklist(_) => true,
            Cmd::Figures(a) => !a.readme,
            Cmd::Bench(a) => !a.notebooks,
            _ => false,
        }
    }
}

/// `mnist data | head`: like other Unix tools, end when the reader of stdout
/// has gone (SIGPIPE's default) rather than panic on the closed pipe, as Rust
/// programs do, which ignore SIGPIPE.
fn end_quietly_when_stdout_closes() {
    #[cfg(unix)]
    // SAFETY: sets the disposition of one signal at startup, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

mod args;
mod bench;
mod bench_inputs;
mod compare;
mod data;
mod fetch;
mod figures;
mod notebooks;
mod progress_bar;
mod serve;
#[path = "../common/serve_args.rs"]
mod serve_args;
mod serve_bench;
mod shared;
mod space;
mod train;

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Run one command. The settings of this process (`MNIST_DIR`,
/// `MNIST_MODELS_DIR`, `MNIST_SUBSET`, ...), the library's context value
/// [`Config`], are read from the environment once, here, and passed on to
/// every command that needs them.
fn run(cmd: Cmd) -> AnyResult<ExitCode> {
    let config = Config::from_env();
    match cmd {
        Cmd::FetchData(a) => fetch::fetch(a)?,
        Cmd::Data(a) => data::data(&config, a.json)?,
        Cmd::Figures(a) => {
            figures::figures(&config, &a.out, a.seed)?;
            if a.readme {
                shared::ensure_data(&config)?;
                figures::readme_figures(&config, &a.out, &a.dir.path(&config))?
            }
        }
        Cmd::Train(a) => {
            shared::ensure_data(&config)?;
            train::train(&config, a.models, &a.dir.path(&config), a.retrain)?
        }
        Cmd::TrainGate(a) => {
            shared::ensure_data(&config)?;
            train::train_gate(&config, &a.dir.path(&config))?
        }
        Cmd::Bench(a) => {
            shared::ensure_data(&config)?;
            bench::run(&config, a)?
        }
        Cmd::RunAll(a) => {
            shared::ensure_data(&config)?;
            train::run_all(&config, a.dir.path(&config), a.retrain)?
        }
        Cmd::Serve(a) => {
            let options = a.options.clone().into();
            serve::serve(&config, &options, a.dir.path(&config), a.train, a.libtorch)?
        }
        Cmd::ServeBench(a) => serve_bench::serve_bench(&config, a)?,
        Cmd::Space(a) => space::space(&config, a)?,
        Cmd::BenchInputs(a) => {
            shared::ensure_data(&config)?;
            bench_inputs::bench_inputs(&config, a)?
        }
        Cmd::Compare(a) => {
            shared::ensure_data(&config)?;
            compare::compare(&config, a)?
        }
        Cmd::Setup => notebooks::setup()?,
        Cmd::Notebooks(a) => return notebooks::notebooks(a.names, a.out),
        Cmd::FirstCell(a) => return notebooks::first_cell(a),
        Cmd::Checklist(a) => return notebooks::checklist(&config, a),
    }
    Ok(ExitCode::SUCCESS)
}

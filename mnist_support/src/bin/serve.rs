//! `mnist-serve`: the prediction server alone, over a directory of saved
//! models; what a Hugging Face Space runs (`mnist space` ships it). Built
//! with `cargo build --release --no-default-features --features serve --bin
//! mnist-serve`: no libtorch, no polars; the networks run on candle.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mnist_support::serve;

#[path = "common/serve_args.rs"]
mod serve_args;

#[derive(Parser)]
#[command(
    name = "mnist-serve",
    version,
    about = "The MNIST prediction server: a page to draw or upload a digit, and a JSON API"
)]
struct Cli {
    /// Directory of saved models (each <name>.json with its model file).
    #[arg(long, default_value = "models")]
    dir: PathBuf,
    #[command(flatten)]
    options: serve_args::ServeOptions,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> mnist_support::Result<()> {
    let options = cli.options.clone().into();
    let mnist = mnist_support::config::Config::from_env().data_dir;
    serve::serve_dir(&cli.dir, Some(&mnist), &options, serve::Networks::Candle)
}

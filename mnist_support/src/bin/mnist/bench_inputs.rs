//! `mnist bench-inputs`: the real-inputs benchmark over the real server path
//! (`bench_inputs::bench`), printed.

use std::path::PathBuf;

use mnist_support::bench_inputs::{self, BenchOptions, RealInputsReport};
use mnist_support::config::Config;
use mnist_support::real_inputs;

use crate::AnyResult;

/// The arguments of `mnist bench-inputs`.
#[derive(clap::Args)]
pub struct BenchInputsArgs {
    /// `heldout` (what is reported) or `dev` (what preprocessing was tuned on).
    #[arg(long, default_value = "heldout")]
    pub set: real_inputs::Set,
    /// Inputs per source.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..))]
    pub per_source: u32,
    #[command(flatten)]
    pub dir: crate::args::ModelsDir,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also write every generated input file into this directory.
    #[arg(long)]
    pub write: Option<PathBuf>,
    /// Write a gallery (inputs, the 28×28 the models saw, every answer) as PNG here.
    #[arg(long)]
    pub gallery: Option<PathBuf>,
    /// Write the preprocessing steps of one input per source as PNG here.
    #[arg(long)]
    pub steps: Option<PathBuf>,
    /// List every input some model gets wrong, with the wrong answers.
    #[arg(long)]
    pub verbose: bool,
}

pub fn bench_inputs(config: &Config, a: BenchInputsArgs) -> AnyResult<()> {
    let options = BenchOptions {
        set: a.set,
        per_source: a.per_source as usize,
        models: a.dir.path(config),
        mnist: config.data_dir.clone(),
        write_inputs: a.write,
        verbose: a.verbose,
    };
    let measured = bench_inputs::bench(&options, &crate::progress_bar::Bar::new())?;
    print(&measured, a.json);
    for (fig, path) in [(&measured.steps, a.steps), (&measured.gallery, a.gallery)] {
        if let Some(path) = path {
            eprintln!(
                "bench-inputs: {} written to {}",
                fig.title,
                fig.save(path)?.display()
            );
        }
    }
    if let Some(kept) = &measured.kept {
        eprintln!("bench-inputs: kept in {} for notebook 05", kept.display());
    }
    Ok(())
}

fn print(measured: &RealInputsReport, json: bool) {
    let report = &measured.report;
    if json {
        println!("{}", report.to_json());
        return;
    }
    println!("{}", report.table().to_text());
    println!("{}", report.crop_table().to_text());
    println!("{}", report.worst_table().to_text());
    if let Some(t) = report.model_table("cnn") {
        println!("{}", t.to_text());
    }
    println!("{}", report.digit_like_line());
}

//! `mnist data`: the split's shapes and class counts.

use mnist_support::config::Config;
use mnist_support::data::Split;

use crate::AnyResult;

/// The arguments of `mnist data`.
#[derive(clap::Args)]
pub struct DataArgs {
    /// One JSON object: {"train": {"rows": .., "class_counts": [..]}, "valid": .., "test": ..}
    #[arg(long)]
    pub json: bool,
}

pub fn data(config: &Config, json: bool) -> AnyResult<()> {
    let split = Split::load(config)?;
    let summary = split.summary();
    if json {
        println!("{}", summary.to_json());
    } else {
        print!("{summary}");
        println!();
        print!("{}", split.class_frequency());
    }

    Ok(())
}

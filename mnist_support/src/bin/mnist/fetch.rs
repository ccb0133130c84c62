//! `mnist fetch-data`: the four MNIST files, downloaded and checked.

use std::path::PathBuf;

use crate::AnyResult;

/// The arguments of `mnist fetch-data`.
#[derive(clap::Args)]
pub struct FetchDataArgs {
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// `mnist fetch-data [--dir D]`.
pub fn fetch(a: FetchDataArgs) -> AnyResult<()> {
    crate::shared::download(a.dir.unwrap_or_else(mnist_support::data::default_data_dir))
}

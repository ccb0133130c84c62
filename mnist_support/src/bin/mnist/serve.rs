//! `mnist serve`: the prediction server over the saved models, training the
//! missing ones (and the digit gate) first with `--train`.

use std::path::PathBuf;

use mnist_support::serve::{Networks, Options};

use crate::fetch::ensure_data;
use crate::train::train;
use crate::AnyResult;

/// The arguments of `mnist serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub options: mnist_support::serve::Options,
    #[command(flatten)]
    pub dir: crate::args::ModelsDir,
    /// First train (on the full split) every model that is not saved yet,
    /// and the digit gate when it is missing.
    #[arg(long)]
    pub train: bool,
    /// Run the networks on libtorch instead of candle (to compare the two).
    #[arg(long)]
    pub libtorch: bool,
}

pub fn serve(
    options: &Options,
    dir: PathBuf,
    train_missing: bool,
    libtorch: bool,
) -> AnyResult<()> {
    if train_missing {
        ensure_data()?;
        // The models and the gate that are missing or stale; up-to-date ones
        // are kept whatever their hyperparameters.
        train(Vec::new(), &dir, false)?;
    }
    let networks = if libtorch {
        Networks::Libtorch
    } else {
        Networks::Candle
    };
    mnist_support::serve::serve_dir(&dir, options, networks)?;
    Ok(())
}

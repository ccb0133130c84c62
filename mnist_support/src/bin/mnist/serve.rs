//! `mnist serve`: the prediction server over the saved models, training the
//! missing ones (and the digit gate) first with `--train`.

use std::path::PathBuf;

use mnist_support::config::Config;
use mnist_support::models::ModelKind;
use mnist_support::pipeline;
use mnist_support::serve::{Networks, Options};
use mnist_support::store::Store;

use crate::progress_bar::Bar;
use crate::shared::ensure_data;
use crate::AnyResult;

/// The arguments of `mnist serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub options: crate::serve_args::ServeOptions,
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
    config: &Config,
    options: &Options,
    dir: PathBuf,
    train_missing: bool,
    libtorch: bool,
) -> AnyResult<()> {
    if train_missing {
        ensure_data(config)?;
        // The models and the gate that are missing or stale; up-to-date ones
        // are kept whatever their hyperparameters.
        let split = mnist_support::data::Split::load(config)?;
        let store = Store::new(&dir);
        for &kind in ModelKind::ALL {
            eprintln!("serve: {}", kind.title());
            pipeline::fresh_or_run(&store, kind, &split, &Bar::new())?;
        }
        store.map_or_fit(&split, &Bar::new())?;
        let quick = config.quick();
        if pipeline::gate::train_if_missing(&split, &store, quick, &Bar::new())?.is_some() {
            eprintln!("serve: digit gate trained and saved in {}", dir.display());
        }
    }
    let networks = if libtorch {
        Networks::Libtorch
    } else {
        Networks::Candle
    };
    let mnist = &config.data_dir;
    mnist_support::serve::serve_dir(&dir, Some(mnist), options, networks)?;
    Ok(())
}

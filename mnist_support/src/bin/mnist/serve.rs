//! `mnist serve`: the prediction server over the saved models, training the
//! missing ones (and the digit gate) first with `--train`.

use std::path::PathBuf;

use mnist_support::models::{self, ModelKind};
use mnist_support::serve::{Networks, Options};

use crate::fetch::ensure_data;
use crate::train::train;
use crate::AnyResult;

pub fn serve(
    options: &Options,
    dir: Option<PathBuf>,
    train_missing: bool,
    libtorch: bool,
) -> AnyResult<()> {
    let dir = dir.unwrap_or_else(models::models_dir);
    if train_missing {
        let missing: Vec<ModelKind> = ModelKind::ALL
            .iter()
            .copied()
            .filter(|k| !dir.join(format!("{}.json", k.name())).exists())
            .collect();
        if !missing.is_empty() {
            ensure_data()?;
            eprintln!("serve: training {} missing model(s) first", missing.len());
            train(missing, Some(dir.clone()))?;
        }
        if !mnist_support::gate::gate_dir(&dir).exists() {
            ensure_data()?;
            eprintln!("serve: training the missing digit gate first");
            crate::train::train_gate(&dir)?;
        }
    }
    let networks = if libtorch {
        Networks::Libtorch
    } else {
        Networks::Candle
    };
    mnist_support::serve::serve_dir(&dir, options, networks)?;
    Ok(())
}

//! Options several commands share, defined once.

use std::path::PathBuf;

use mnist_support::config::Config;

/// `--dir`: the directory of saved models, for every command that reads or
/// writes them.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ModelsDir {
    /// Directory of saved models (default: models/, or $MNIST_MODELS_DIR).
    #[arg(long = "dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl ModelsDir {
    /// The directory given, or the default one.
    pub fn path(&self, config: &Config) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| config.models_dir.clone())
    }
}

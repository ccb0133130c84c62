//! `mnist fetch-data`, and finding the data before any command that needs it.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use mnist_support::data;

use crate::AnyResult;

/// The arguments of `mnist fetch-data`.
#[derive(clap::Args)]
pub struct FetchDataArgs {
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub fn fetch(dir: PathBuf) -> AnyResult<()> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let files = data::fetch(&dir, |name, done, total| {
        bar.set_message(name.to_string());
        if let Some(t) = total {
            bar.set_length(t);
        }
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    for f in files {
        println!("ok  {}", f.display());
    }
    Ok(())
}

/// Make sure the data can be found: `$MNIST_DIR` or data/mnist, else download.
pub fn ensure_data() -> AnyResult<()> {
    let config = crate::config();
    let dir = config.data_dir;
    match data::locate_all(&dir) {
        Ok(_) => return Ok(()),
        Err(e) if config.data_dir_set => return Err(e.into()),
        Err(_) => {}
    }
    eprintln!("data: MNIST not found in {}; downloading", dir.display());
    fetch(dir)
}

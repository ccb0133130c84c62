//! What several commands share: finding (or downloading) the data before
//! any command that needs it, the kinds a command was given, a scratch
//! directory, the one /proc reader. No command function lives here, and
//! commands call none of each other's.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use mnist_support::config::Config;
use mnist_support::data;
use mnist_support::models::ModelKind;

use crate::AnyResult;

/// A progress bar for downloads and its update, `(file, done, total)`.
fn download_bar() -> (ProgressBar, impl Fn(&str, u64, Option<u64>)) {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let b = bar.clone();
    let update = move |name: &str, done: u64, total: Option<u64>| {
        b.set_message(name.to_string());
        if let Some(t) = total {
            b.set_length(t);
        }
        b.set_position(done);
    };
    (bar, update)
}

/// Download the four MNIST files into `dir`, with a progress bar; prints
/// each file once it is checked.
pub fn download(dir: PathBuf) -> AnyResult<()> {
    let (bar, update) = download_bar();
    let files = data::fetch(&dir, update)?;
    bar.finish_and_clear();
    for f in files {
        println!("ok  {}", f.display());
    }
    Ok(())
}

/// Make sure the data can be found: `$MNIST_DIR` or data/mnist, else
/// download ([`data::ensure`], what notebook 01 does too).
pub fn ensure_data(config: &Config) -> AnyResult<()> {
    if data::locate_all(&config.data_dir).is_err() && !config.data_dir_set {
        eprintln!(
            "data: MNIST not found in {}; downloading",
            config.data_dir.display()
        );
    }
    let (bar, update) = download_bar();
    data::ensure(config, update)?;
    bar.finish_and_clear();
    Ok(())
}

/// The kinds given, or all seven when none is.
pub fn all_if_empty(kinds: Vec<ModelKind>) -> Vec<ModelKind> {
    if kinds.is_empty() {
        ModelKind::ALL.to_vec()
    } else {
        kinds
    }
}

/// A fresh directory under the system's temporary directory.
pub fn tempfile_dir() -> AnyResult<PathBuf> {
    let dir = std::env::temp_dir().join(format!("mnist-run-all-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Kilobytes of `field` (`VmRSS:`, `VmHWM:`) in /proc/`pid`/status (`pid`
/// may be `self`); `None` where there is no /proc (not Linux).
pub fn proc_status_kb(pid: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

//! The context value: the settings that come from the environment, read in
//! this one place ([`Config::from_env`]). No other module reads environment
//! variables or keeps process-wide settings: the library's functions take a
//! `&Config` (or the one value they need from it: a directory, `quick`), the
//! commands and the notebooks make one with [`Config::from_env`] and pass it
//! on, and tests build theirs with [`Config::from_vars`]. Nothing writes
//! the variables: commands that change a setting pass it on explicitly (a
//! [`crate::store::Store`] with `retrain`, a child process's environment).
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `MNIST_DIR` | where the four MNIST files are (relative: to the directory the process started in) | `data/mnist` in the project |
//! | `MNIST_MODELS_DIR` | where models are saved and loaded | `models/` in the project |
//! | `MNIST_SUBSET` | quick test runs: train on this many images, networks for one epoch | unset: the full split |
//! | `MNIST_RETRAIN` | train again even when an up-to-date saved model exists (anything but `0` or empty) | unset |
//! | `MNIST_SPACE_URL` | the deployed Hugging Face Space (`https://USER-NAME.hf.space`): notebook 05's page frame shows it | unset: the local server, with its screenshot in exports |

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const DATA_ENV: &str = "MNIST_DIR";
pub const MODELS_ENV: &str = "MNIST_MODELS_DIR";
pub const SUBSET_ENV: &str = "MNIST_SUBSET";
pub const RETRAIN_ENV: &str = "MNIST_RETRAIN";
pub const SPACE_URL_ENV: &str = "MNIST_SPACE_URL";
/// Where the notebook runner writes this run's executed notebooks (set by
/// `mnist notebooks` for its kernels; [`crate::checklist`] reads them).
pub const EXECUTED_ENV: &str = "MNIST_EXECUTED_DIR";

/// The settings of this process.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where the MNIST files are (absolute when `MNIST_DIR` was relative).
    pub data_dir: PathBuf,
    /// Whether `MNIST_DIR` was set (then missing files are an error, not a download).
    pub data_dir_set: bool,
    /// Where models are saved.
    pub models_dir: PathBuf,
    /// `MNIST_SUBSET` as given (checked by [`Config::subset`]).
    subset: Option<String>,
    /// Train again even when an up-to-date saved model exists.
    pub retrain: bool,
    /// The deployed Space's address, for the notebook's page frame.
    pub space_url: Option<String>,
    /// The executed notebooks of the run (`MNIST_EXECUTED_DIR`, or
    /// `notebooks/executed/`).
    pub executed_dir: PathBuf,
    /// The directories of `PATH`, to find programs (Chromium).
    pub path: Vec<PathBuf>,
    /// Where cargo installs programs (`CARGO_HOME`, else `~/.cargo`).
    pub cargo_home: Option<PathBuf>,
}

/// The project's root directory (the workspace above this crate).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

impl Config {
    /// The settings of this process's environment.
    pub fn from_env() -> Config {
        Config::from_vars(|name| std::env::var_os(name))
    }

    /// The settings from `var` (the environment, or a test's map).
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Config {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        let data = set(DATA_ENV).map(PathBuf::from);
        let data_dir = match &data {
            Some(d) if d.is_relative() => std::path::absolute(d).unwrap_or_else(|_| d.clone()),
            Some(d) => d.clone(),
            None => project_root().join("data").join("mnist"),
        };
        Config {
            data_dir_set: data.is_some(),
            data_dir,
            models_dir: set(MODELS_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| project_root().join("models")),
            subset: set(SUBSET_ENV).map(|v| v.to_string_lossy().into_owned()),
            retrain: set(RETRAIN_ENV).is_some_and(|v| v != "0"),
            space_url: set(SPACE_URL_ENV)
                .map(|v| v.to_string_lossy().trim_end_matches('/').to_string()),
            executed_dir: set(EXECUTED_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| project_root().join("notebooks").join("executed")),
            path: var("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default(),
            cargo_home: set("CARGO_HOME")
                .map(PathBuf::from)
                .or_else(|| set("HOME").map(|h| PathBuf::from(h).join(".cargo"))),
        }
    }

    /// The same settings with the models in `dir`.
    pub fn with_models_dir(self, dir: impl Into<PathBuf>) -> Config {
        Config {
            models_dir: dir.into(),
            ..self
        }
    }

    /// Quick mode: `MNIST_SUBSET` is set.
    pub fn quick(&self) -> bool {
        self.subset.is_some()
    }

    /// The number of training images of quick mode, if set.
    pub fn subset(&self) -> Result<Option<usize>> {
        let Some(v) = &self.subset else {
            return Ok(None);
        };
        match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(Error::Config {
                var: SUBSET_ENV,
                value: v.clone(),
                reason: "not a positive number of images".into(),
            }),
        }
    }

    /// Whether an executable `name` is on `PATH`.
    pub fn on_path(&self, name: &str) -> bool {
        self.path.iter().any(|d| d.join(name).is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_variables_given() {
        let c = Config::from_vars(|name| match name {
            "MNIST_DIR" => Some("/data/m".into()),
            "MNIST_SUBSET" => Some("500".into()),
            "MNIST_RETRAIN" => Some("0".into()),
            _ => None,
        });
        assert_eq!(c.data_dir, PathBuf::from("/data/m"));
        assert!(c.data_dir_set && c.quick() && !c.retrain);
        assert_eq!(c.subset().unwrap(), Some(500));
        assert_eq!(c.models_dir, project_root().join("models"));

        let c = Config::from_vars(|name| match name {
            "MNIST_DIR" => Some("rel".into()),
            "MNIST_SUBSET" => Some("lots".into()),
            "MNIST_RETRAIN" => Some("1".into()),
            _ => None,
        });
        assert!(c.data_dir.is_absolute() && c.data_dir.ends_with("rel"));
        assert!(c.retrain);
        assert!(matches!(c.subset(), Err(Error::Config { .. })));

        let c = Config::from_vars(|_| None);
        assert!(!c.data_dir_set && !c.quick() && !c.retrain);
        assert_eq!(c.data_dir, project_root().join("data").join("mnist"));
    }
}

//! `cargo setup` and `cargo run --release -- COMMAND`: the workspace's
//! default binary, a small launcher that needs no libtorch and builds in
//! seconds.
//!
//! - `setup` (what `cargo setup` runs): everything the notebooks and tests
//!   need besides Rust: the project-local venv with Jupyter, the evcxr
//!   kernel, libtorch (assembled from PyPI wheels into `.venv/libtorch`),
//!   Chromium for the browser test.
//! - `notebooks [NAMES...] [--out DIR]` (command 1): setup, then every
//!   notebook executed headlessly with its HTML export. The kernel compiles
//!   the `mnist_support` crate itself, so nothing else is built first.
//! - any other command is the `mnist` CLI's (`train`, `serve`, `bench`, ...):
//!   handed on to `cargo run --release -p mnist_support --bin mnist --`,
//!   which builds the CLI the first time one of them is used.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// What the launcher does with its arguments.
#[derive(Debug, PartialEq)]
enum Action {
    Setup,
    Notebooks {
        names: Vec<String>,
        out: Option<PathBuf>,
    },
    Usage(String),
    /// Hand the arguments to the `mnist` CLI.
    Cli(Vec<OsString>),
}

const NOTEBOOKS_USAGE: &str = "usage: cargo run --release -- notebooks [NAMES...] [--out DIR]
  Execute the notebooks (default: all, in order; by name like `01` or by path)
  headlessly and write executed copies and HTML exports to DIR
  (default: notebooks/executed/). Sets up the toolchain first.";

fn plan(args: Vec<OsString>) -> Action {
    match args.first().and_then(|a| a.to_str()) {
        Some("setup") if args.len() == 1 => Action::Setup,
        Some("notebooks") => notebooks_args(&args[1..]),
        _ => Action::Cli(args),
    }
}

fn notebooks_args(args: &[OsString]) -> Action {
    let mut names = Vec::new();
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("-h" | "--help") => return Action::Usage(NOTEBOOKS_USAGE.into()),
            Some("--out") => match it.next() {
                Some(dir) => out = Some(PathBuf::from(dir)),
                None => {
                    return Action::Usage(format!(
                        "error: --out needs a directory\n{NOTEBOOKS_USAGE}"
                    ))
                }
            },
            Some(s) if s.starts_with("--out=") => out = Some(PathBuf::from(&s["--out=".len()..])),
            Some(s) if s.starts_with('-') => {
                return Action::Usage(format!("error: unknown option {s}\n{NOTEBOOKS_USAGE}"))
            }
            Some(s) => names.push(s.to_string()),
            None => return Action::Usage(format!("error: a name that is not UTF-8: {a:?}")),
        }
    }
    Action::Notebooks { names, out }
}

fn main() -> ExitCode {
    let result = match plan(std::env::args_os().skip(1).collect()) {
        Action::Setup => mnist_setup::setup().map(|p| {
            println!(
                "ready: venv {}, Rust kernel '{}', libtorch {}\n\
                 next: `cargo run --release -- notebooks` (command 1) or `cargo test --release -- --include-ignored`",
                p.venv.display(),
                mnist_setup::KERNEL_NAME,
                mnist_setup::libtorch_dir(&p).display(),
            );
            true
        }),
        Action::Notebooks { names, out } => mnist_setup::notebooks(&names, out),
        Action::Usage(text) => {
            let failed = text.starts_with("error");
            eprintln!("{text}");
            Ok(!failed)
        }
        Action::Cli(args) => return cli(args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo run --release -p mnist_support --bin mnist -- ARGS`, its exit
/// status passed on.
fn cli(args: Vec<OsString>) -> ExitCode {
    let root = mnist_setup::project_root();
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(&root)
        .args([
            "run",
            "--release",
            "-p",
            "mnist_support",
            "--bin",
            "mnist",
            "--",
        ])
        .args(&args)
        .status();
    match status {
        Ok(s) => match s.code() {
            Some(c) => ExitCode::from(c.clamp(0, 255) as u8),
            None => ExitCode::FAILURE,
        },
        Err(e) => {
            eprintln!("error: could not run cargo for the mnist CLI: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn setup_and_notebooks_run_here_and_everything_else_goes_to_the_cli() {
        assert_eq!(plan(args(&["setup"])), Action::Setup);
        assert_eq!(
            plan(args(&["notebooks"])),
            Action::Notebooks {
                names: vec![],
                out: None
            }
        );
        assert_eq!(
            plan(args(&["notebooks", "01", "04_2", "--out", "x"])),
            Action::Notebooks {
                names: vec!["01".into(), "04_2".into()],
                out: Some("x".into())
            }
        );
        assert_eq!(
            plan(args(&["notebooks", "--out=y", "05"])),
            Action::Notebooks {
                names: vec!["05".into()],
                out: Some("y".into())
            }
        );
        for cli in [
            &["train", "knn"][..],
            &[],
            &["--help"],
            &["setup", "--extra"],
            &["first-cell"],
        ] {
            assert_eq!(plan(args(cli)), Action::Cli(args(cli)), "{cli:?}");
        }
        assert!(
            matches!(plan(args(&["notebooks", "--out"])), Action::Usage(u) if u.starts_with("error"))
        );
        assert!(
            matches!(plan(args(&["notebooks", "--bogus"])), Action::Usage(u) if u.starts_with("error"))
        );
        assert!(
            matches!(plan(args(&["notebooks", "--help"])), Action::Usage(u) if u.starts_with("usage"))
        );
    }
}

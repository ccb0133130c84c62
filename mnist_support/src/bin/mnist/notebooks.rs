//! `mnist setup` and `mnist notebooks`: the notebook toolchain, and every
//! notebook executed headlessly with its HTML export.

use std::path::PathBuf;
use std::process::ExitCode;

use mnist_setup as jupyter;
use mnist_support::checklist::Checklist;
use mnist_support::config::Config;

use crate::AnyResult;

/// The arguments of `mnist notebooks`.
#[derive(clap::Args)]
pub struct NotebooksArgs {
    /// Notebooks to run, by path or name (`01`, `02_visualize_digits`); default: all, in order.
    pub names: Vec<String>,
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The arguments of `mnist checklist`.
#[derive(clap::Args)]
pub struct ChecklistArgs {
    /// The checkout the run was made in (its notebooks/executed/, models/,
    /// notebooks/figures/ and space/; the nbgrader tasks are this
    /// checkout's notebooks'); default: this one, with `MNIST_EXECUTED_DIR`
    /// and `MNIST_MODELS_DIR` when set.
    #[arg(long)]
    pub root: Option<PathBuf>,
}

/// The arguments of `mnist first-cell`.
#[derive(clap::Args)]
pub struct FirstCellArgs {
    /// Notebooks, by path or name; default: all, in order.
    pub names: Vec<String>,
    /// Start all their kernels at once (notebooks open side by side).
    #[arg(long)]
    pub together: bool,
    /// Start from an empty temporary pool: round 1 is the cold start, and
    /// later rounds reuse it (deleted at the end).
    #[arg(long)]
    pub cold: bool,
    /// How many times to run the whole set.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Code cells to run and time in each notebook.
    #[arg(long, default_value_t = 2)]
    pub cells: usize,
}

pub fn setup() -> AnyResult<()> {
    let p = jupyter::setup()?;
    println!(
        "ready: venv {}, Rust kernel '{}' in {}",
        p.venv.display(),
        jupyter::KERNEL_NAME,
        p.kernel_dir.display()
    );

    Ok(())
}

/// `mnist notebooks`: the same as `cargo run --release -- notebooks`
/// (which the workspace's small launcher runs without building this CLI).
pub fn notebooks(names: Vec<String>, out: Option<PathBuf>) -> AnyResult<ExitCode> {
    Ok(if jupyter::notebooks(&names, out)? {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `mnist checklist`: the checklist of a run as Markdown; failure when an
/// item is missing (the same check as notebook 05's last cell).
pub fn checklist(config: &Config, a: ChecklistArgs) -> AnyResult<ExitCode> {
    let list = match a.root {
        Some(root) => Checklist::build(
            &root.join("notebooks").join("executed"),
            &root.join("models"),
            &root.join("notebooks").join("figures"),
            &root.join("space"),
            &mnist_support::data::project_root().join("notebooks"),
        ),
        None => Checklist::of_run(config),
    };
    println!("{}", list.table().to_markdown());
    Ok(match list.require() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    })
}

/// `mnist first-cell`: `scripts/first_cell.py` over the registered kernel.
pub fn first_cell(a: FirstCellArgs) -> AnyResult<ExitCode> {
    let FirstCellArgs {
        names,
        together,
        cold,
        rounds,
        cells,
    } = a;
    let p = jupyter::setup()?;
    let notebooks = jupyter::resolve(&p, &names)?;
    let script = p.root.join("mnist_support/scripts/first_cell.py");
    let mut cmd = std::process::Command::new(&p.python);
    cmd.arg(&script)
        .args([
            "--rounds",
            &rounds.to_string(),
            "--cells",
            &cells.to_string(),
        ])
        .args(together.then_some("--together"))
        .args(&notebooks)
        .env("JUPYTER_PLATFORM_DIRS", "1");
    let pool = std::env::temp_dir().join(format!("mnist-kernel-pool-{}", std::process::id()));
    if cold {
        eprintln!("first-cell: cold start in an empty pool {}", pool.display());
        cmd.env("MNIST_KERNEL_POOL", &pool);
    }
    let status = cmd.status();
    if cold {
        let _ = std::fs::remove_dir_all(&pool);
    }
    Ok(if status?.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

//! `mnist setup` and `mnist notebooks`: the notebook toolchain, and every
//! notebook executed headlessly with its HTML export.

use std::path::PathBuf;
use std::process::ExitCode;

use mnist_support::jupyter;

use crate::fetch::ensure_data;
use crate::AnyResult;

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

pub fn notebooks(names: Vec<String>, out: Option<PathBuf>) -> AnyResult<ExitCode> {
    let p = jupyter::setup()?;
    ensure_data()?;
    let notebooks = if names.is_empty() {
        jupyter::all_notebooks(&p)
    } else {
        names
            .iter()
            .map(|n| {
                jupyter::resolve_notebook(&p, n).ok_or_else(|| format!("no notebook named {n:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    if notebooks.is_empty() {
        return Err(format!("no notebooks found in {}", p.notebooks.display()).into());
    }
    let out = out.unwrap_or_else(|| p.executed.clone());
    eprintln!(
        "notebooks: executing {} notebook(s); output in {}",
        notebooks.len(),
        out.display()
    );
    let status = jupyter::runner_command(&p, &notebooks, &out).status()?;
    if !status.success() {
        eprintln!(
            "notebooks: FAILED (executed copies and HTML up to the failure are in {})",
            out.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "notebooks: all ok; executed notebooks and HTML exports in {}",
        out.display()
    );

    Ok(ExitCode::SUCCESS)
}

//! `cargo setup`: everything the notebooks and tests need besides Rust — the
//! project-local venv with Jupyter, the evcxr kernel, libtorch (assembled from
//! PyPI wheels into `.venv/libtorch`), Chromium for the browser test — and
//! then the `mnist` CLI, built against that libtorch. It is its own small
//! crate because the CLI cannot build before libtorch exists.

use std::process::ExitCode;

fn main() -> ExitCode {
    let ready = mnist_setup::setup().and_then(|p| Ok((mnist_setup::build_cli(&p)?, p)));
    match ready {
        Ok((cli, p)) => {
            println!(
                "ready: venv {}, Rust kernel '{}', libtorch {}, CLI {}",
                p.venv.display(),
                mnist_setup::KERNEL_NAME,
                mnist_setup::libtorch_dir(&p).display(),
                cli.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

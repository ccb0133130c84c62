//! `cargo setup`: everything the notebooks and tests need besides Rust — the
//! project-local venv with Jupyter, the evcxr kernel, libtorch (assembled from
//! PyPI wheels into `.venv/libtorch`) and Chromium for the browser test. It is
//! its own small binary because the `mnist` CLI cannot build before libtorch exists.

use std::process::ExitCode;

fn main() -> ExitCode {
    match mnist_support::jupyter::setup() {
        Ok(p) => {
            println!(
                "ready: venv {}, Rust kernel '{}', libtorch {}",
                p.venv.display(),
                mnist_support::jupyter::KERNEL_NAME,
                mnist_support::jupyter::libtorch_dir(&p).display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

//! What the Space builds from: the crate's source, and the Dockerfile that
//! builds `mnist-serve` from it inside the image (or, with `--prebuilt`, only
//! copies a binary built here).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The Rust image the Space builds in: the toolchain this crate is tested
/// with, on the runtime image's Debian release, pinned by digest.
pub const BUILD_IMAGE: &str = "rust:1.95.0-slim-trixie@sha256:e14e87345b4d5964ddcc3491d27ee046a0f23820f340c3c1e24da6880141f7c0";
/// The image the Space runs in (Debian 13, glibc 2.41), pinned by digest.
pub const RUN_IMAGE: &str =
    "debian:trixie-slim@sha256:a29215f6a35e51e22adffa17f89e9d2ef06214e64a2bad10d765c46aea49f11f";
/// Where the crate's source goes in the Space.
pub const SOURCE_DIR: &str = "source";

/// The cargo command the image runs: the server alone, no libtorch, the
/// versions in Cargo.lock.
pub const BUILD_COMMAND: &str =
    "cargo build --release --locked --no-default-features --features serve --bin mnist-serve";

const CMD: &str = r#"CMD ["./mnist-serve", "--host", "0.0.0.0", "--port", "7860", "--dir", "models", "--trusted-proxies", "1"]"#;

/// The Dockerfile. From source (the default): a build stage in [`BUILD_IMAGE`]
/// compiles `mnist-serve` from `source/`, and the run stage copies only the
/// binary. Prebuilt: the run stage copies the `mnist-serve` shipped beside it.
/// Either way the server runs as uid 1000 (as Spaces run containers), with
/// nothing else in the image.
pub fn dockerfile(from_source: bool) -> String {
    let (build, copy) = if from_source {
        (
            format!(
                "# Built from the crate's source (source/), so it deploys from any machine.\n\
                 FROM {BUILD_IMAGE} AS build\n\
                 WORKDIR /src\n\
                 COPY {SOURCE_DIR} ./\n\
                 RUN {BUILD_COMMAND}\n\n"
            ),
            "COPY --chown=user --from=build /src/target/release/mnist-serve ./",
        )
    } else {
        (
            "# mnist-serve was built on Linux x86-64 and checked against this image's glibc (--prebuilt).\n"
                .to_string(),
            "COPY --chown=user mnist-serve ./",
        )
    };
    format!(
        "# The MNIST prediction server (no libtorch), as a Hugging Face Docker Space.\n\
         {build}\
         FROM {RUN_IMAGE}\n\
         RUN useradd --create-home --uid 1000 user\n\
         USER user\n\
         WORKDIR /home/user/app\n\
         {copy}\n\
         COPY --chown=user models ./models\n\
         EXPOSE 7860\n\
         {CMD}\n"
    )
}

/// The files the image needs to build `mnist-serve`, relative to the project
/// root: the workspace's manifest and lock file, and each member's manifest,
/// build script and `src/` (tests, examples and notebooks stay out).
pub fn source_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut files = vec![PathBuf::from("Cargo.toml"), PathBuf::from("Cargo.lock")];
    for member in ["mnist_support", "mnist_support/setup"] {
        for file in ["Cargo.toml", "build.rs"] {
            let rel = Path::new(member).join(file);
            if root.join(&rel).is_file() {
                files.push(rel);
            }
        }
        let mut stack = vec![Path::new(member).join("src")];
        while let Some(dir) = stack.pop() {
            let entries =
                std::fs::read_dir(root.join(&dir)).map_err(|e| Error::io(root.join(&dir), e))?;
            for entry in entries {
                let entry = entry.map_err(|e| Error::io(root.join(&dir), e))?;
                let name = entry.file_name();
                let shown = name.to_string_lossy();
                if shown.starts_with('.') || shown.ends_with('~') {
                    continue;
                }
                let rel = dir.join(&name);
                if entry
                    .file_type()
                    .map_err(|e| Error::io(root.join(&rel), e))?
                    .is_dir()
                {
                    stack.push(rel);
                } else {
                    files.push(rel);
                }
            }
        }
    }
    for must in ["Cargo.toml", "Cargo.lock", "mnist_support/Cargo.toml"] {
        if !root.join(must).is_file() {
            return Err(Error::Process {
                what: "the Space's source".into(),
                reason: format!("{} is missing in the project", root.join(must).display()),
            });
        }
    }
    files.sort();
    Ok(files)
}

//! `mnist space DIR` writes a Hugging Face Docker Space, and the Space runs
//! without the project: copied alone to a fresh place and started by its
//! Dockerfile's command in an empty environment (`env -i`: no cargo, no
//! venv, no LD_LIBRARY_PATH, no MNIST files), it loads the seven models, its
//! page renders in Chromium, and it answers the real inputs as the local
//! server does. (Docker itself cannot run here; the Dockerfile only copies
//! the directory and runs that command.)

use crate::common;

use std::process::Command;

use mnist_support::api::{CallError, Client, PredictRequest, PredictResponse};
use mnist_support::data::Split;

/// `mnist ARGS` in quick mode with [`SUBSET`], as notebooks 04–05 run in it.
fn mnist(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mnist"))
        .args(args)
        .env("MNIST_SUBSET", SUBSET.to_string())
        .output()
        .unwrap()
}

/// The quick mode the models below are trained for: `MNIST_SUBSET=2500` keeps
/// the first 2,500 training and 500 validation and test images.
const SUBSET: usize = 2500;

/// The seven quick models on what quick mode uses, kNN with hyperparameters
/// other than the defaults (k = 3, distance-weighted votes: what a notebook's
/// choice on validation can give), and a small digit gate.
/// Trained once per test process ([`common::trained_once`]).
pub(crate) fn subset_models(split: &Split) -> tempfile::TempDir {
    use mnist_support::models::knn::Weighting;
    use mnist_support::models::{KnnParams, ModelKind, Silent};
    common::trained_once("subset-models", |dir| {
        let small = split.head(SUBSET, 500);
        for &kind in ModelKind::ALL {
            let params = match kind {
                ModelKind::Knn => KnnParams {
                    k: 3,
                    weighting: Weighting::Distance,
                    ..KnnParams::default()
                }
                .into(),
                _ => common::quick_model(kind),
            };
            let store = mnist_support::store::Store::new(dir);
            mnist_support::pipeline::run(&store, &params, &small, &Silent).unwrap();
        }
        common::small_gate(&small, dir);
    })
}

/// The Dockerfile's CMD (its JSON array form).
fn docker_cmd(dockerfile: &str) -> Vec<String> {
    let line = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("a CMD line");
    serde_json::from_str(line).expect("CMD in JSON form")
}

pub(crate) fn predict(url: &str, image: &str) -> Result<PredictResponse, u16> {
    let req = PredictRequest {
        model: Some("all".into()),
        image: Some(image.into()),
        pixels: None,
    };
    match Client::new(url, std::time::Duration::from_secs(60)).predict(&req) {
        Ok(r) => Ok(r),
        Err(CallError::Status { code, .. }) => Err(code),
        Err(e) => panic!("{e}"),
    }
}

#[test]
#[ignore = "needs MNIST_DIR"]
fn the_space_is_written_and_runs_alone() {
    let data = common::real_data_dir();
    let split = Split::load_from(&data).unwrap();
    let models = subset_models(&split);
    let models_dir = models.path().to_str().unwrap();
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("space");
    let out_s = out.to_str().unwrap();

    // Against the full split the quick models are stale (other data):
    // refused, with the fix.
    let refused = Command::new(env!("CARGO_BIN_EXE_mnist"))
        .args(["space", out_s, "--dir", models_dir])
        .env_remove("MNIST_SUBSET")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("stale")
            && err.contains("other data")
            && err.contains("cargo run --release -- train"),
        "{err}"
    );
    assert!(!out.join("Dockerfile").exists());

    // By default the Space carries the crate's source and its Dockerfile
    // builds mnist-serve in the image (space_debian.rs builds and runs it).
    let from_source = root.path().join("from-source");
    let made = mnist(&["space", from_source.to_str().unwrap(), "--dir", models_dir]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(!from_source.join("mnist-serve").exists());
    for rel in [
        "Cargo.lock",
        "Cargo.toml",
        "mnist_support/Cargo.toml",
        "mnist_support/src/bin/serve.rs",
        "mnist_support/src/serve/page.js",
    ] {
        assert!(
            from_source.join("source").join(rel).is_file(),
            "source/{rel} missing"
        );
    }
    assert!(!from_source.join("source/mnist_support/tests").exists());
    let dockerfile = std::fs::read_to_string(from_source.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(mnist_support::space::source::BUILD_IMAGE),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains(mnist_support::space::source::BUILD_COMMAND),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains("--from=build") && dockerfile.contains("--locked"),
        "{dockerfile}"
    );

    // `--prebuilt` refuses binaries the image cannot run, writing nothing.
    let built = std::path::PathBuf::from(env!("CARGO_BIN_EXE_mnist")).with_file_name("mnist-serve");
    assert!(built.exists(), "cargo test builds mnist-serve beside mnist");
    {
        let bytes = std::fs::read(&built).unwrap();
        let mut arm = bytes.clone();
        arm[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
        let mut newer = bytes.clone();
        let at = newer
            .windows(10)
            .position(|w| w == b"GLIBC_2.34")
            .expect("mnist-serve asks for GLIBC_2.34");
        newer[at..at + 10].copy_from_slice(b"GLIBC_2.99");
        // Built by `cargo test` with the workspace's default features, it
        // links libtorch, which the image does not have.
        let with_libtorch = bytes.clone();
        for (name, patched, reason) in [
            ("arm64", arm, "arm64"),
            ("newer", newer, "needs glibc 2.99"),
            ("libtorch", with_libtorch, "libtorch_cpu.so"),
            (
                "macos",
                b"\xcf\xfa\xed\xfe\x07\x00\x00\x01".repeat(16),
                "macOS",
            ),
        ] {
            let binary = root.path().join(format!("mnist-serve-{name}"));
            std::fs::write(&binary, patched).unwrap();
            let dir = root.path().join(format!("refused-{name}"));
            let refused = mnist(&[
                "space",
                dir.to_str().unwrap(),
                "--dir",
                models_dir,
                "--prebuilt",
                "--server-binary",
                binary.to_str().unwrap(),
            ]);
            let err = String::from_utf8_lossy(&refused.stderr);
            assert!(
                !refused.status.success()
                    && err.contains(reason)
                    && err.contains("leave out --prebuilt"),
                "{err}"
            );
            assert!(!dir.join("Dockerfile").exists());
        }
    }

    // For the data they were trained on, written without `--any-models`,
    // kNN's other hyperparameters and all (`--prebuilt`: mnist-serve built
    // here without libtorch, run below as the image would).
    let made = mnist(&["space", out_s, "--dir", models_dir, "--prebuilt"]);
    let said = String::from_utf8_lossy(&made.stdout);
    assert!(
        made.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(said.contains("in all"), "{said}");
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    let knn_row = readme
        .lines()
        .find(|l| l.starts_with("| k-nearest neighbours |"))
        .unwrap_or_else(|| panic!("no kNN row: {readme}"));
    assert!(
        knn_row.contains("k = 3") && knn_row.contains("weighting = \"distance\""),
        "{knn_row}"
    );
    assert!(
        readme.contains("| Softmax regression | ")
            && readme.contains("the default hyperparameters"),
        "{readme}"
    );
    let front = readme.split("---").nth(1).unwrap();
    for key in [
        "sdk: docker",
        "app_port: 7860",
        "title:",
        "emoji:",
        "short_description:",
    ] {
        assert!(front.contains(key), "{key} missing from {front}");
    }
    assert!(readme.contains("Convolutional neural network"));
    let dockerfile = std::fs::read_to_string(out.join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(mnist_support::space::source::RUN_IMAGE),
        "{dockerfile}"
    );
    assert!(dockerfile.contains("--uid 1000") && dockerfile.contains("EXPOSE 7860"));
    assert!(!dockerfile.contains("RUN apt") && !dockerfile.contains("cargo"));
    let attributes = std::fs::read_to_string(out.join(".gitattributes")).unwrap();
    for kind in mnist_support::models::ModelKind::ALL {
        let card =
            std::fs::read_to_string(out.join(format!("models/{}.json", kind.name()))).unwrap();
        let card: mnist_support::store::ModelCard = serde_json::from_str(&card).unwrap();
        assert!(out.join("models").join(&card.model_file).exists());
        assert!(
            attributes.contains(&format!("models/{} filter=lfs", card.model_file)),
            "{attributes}"
        );
    }
    // The digit gate ships beside the models.
    assert!(out.join("models/gate.json").exists());
    assert!(
        attributes.contains("models/gate.bin filter=lfs"),
        "{attributes}"
    );
    // Spaces refuse plain files over 10 MB.
    for line in std::fs::read_to_string(out.join(".mnist-space"))
        .unwrap()
        .lines()
    {
        let size = std::fs::metadata(out.join(line)).unwrap().len();
        assert!(
            size <= 10 * 1024 * 1024 || attributes.contains(&format!("{line} filter=lfs")),
            "{line}: {size} bytes outside LFS"
        );
    }
    let ldd = Command::new("ldd")
        .arg(out.join("mnist-serve"))
        .output()
        .unwrap();
    let libs = String::from_utf8_lossy(&ldd.stdout);
    assert!(ldd.status.success(), "{libs}");
    assert!(
        !libs.contains("torch") && !libs.contains("libc10"),
        "the Space's server links libtorch:\n{libs}"
    );

    // Written again into its own directory: fine; into one with other files: refused.
    let binary = root.path().join("mnist-serve");
    std::fs::copy(out.join("mnist-serve"), &binary).unwrap();
    let again = mnist(&[
        "space",
        out_s,
        "--dir",
        models_dir,
        "--any-models",
        "--prebuilt",
        "--server-binary",
        binary.to_str().unwrap(),
    ]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let other = root.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let refused = mnist(&[
        "space",
        other.to_str().unwrap(),
        "--dir",
        models_dir,
        "--any-models",
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("notes.txt"));
    assert_eq!(
        std::fs::read_to_string(other.join("notes.txt")).unwrap(),
        "mine"
    );

    // Alone: a copy somewhere else, the Dockerfile's command, an empty environment.
    let alone = tempfile::tempdir().unwrap();
    let app = alone.path().join("app");
    common::copy_dir(&out, &app);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let cmd: Vec<String> = docker_cmd(&dockerfile)
        .into_iter()
        .map(|a| if a == "7860" { port.clone() } else { a })
        .collect();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut run = Command::new(app.join(&cmd[0]));
    run.args(&cmd[1..])
        .current_dir(&app)
        .env_clear()
        .stderr(log.reopen().unwrap());
    let (_space, space_url) = common::spawn_listening(run);
    let space = Client::new(&space_url, std::time::Duration::from_secs(60));
    let health = space.health().unwrap();
    assert_eq!(health.models, 7);
    // `/api/models` shows what each model was trained with.
    let listed = space.models().unwrap();
    let knn = listed.models.iter().find(|m| m.name == "knn").unwrap();
    assert_eq!(knn.hyperparameters["k"], 3);
    assert_eq!(knn.hyperparameters["weighting"], "distance");
    assert!(
        knn.changed_from_defaults.contains("k = 3"),
        "{}",
        knn.changed_from_defaults
    );
    assert!(health.digit_gate);
    let said = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        said.contains("warning:") && said.contains("anyone"),
        "{said}"
    );
    // The two networks and the gate run on candle.
    assert!(said.matches("(candle)").count() == 3, "{said}");
    assert!(said.contains("digit gate (candle)"), "{said}");
    // Its examples come from what it ships, with no MNIST files around.
    let examples = space.examples().unwrap();
    assert!(examples.examples.len() >= 4, "{}", examples.examples.len());

    // The page renders in Chromium: the model list and the examples are filled in.
    if mnist_setup::on_path("chromium") {
        let profile = tempfile::tempdir().unwrap();
        let dom = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=10000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("{space_url}/"))
            .output()
            .unwrap();
        let dom = String::from_utf8_lossy(&dom.stdout);
        assert!(dom.contains("<canvas id=\"pad\""), "{dom}");
        assert!(dom.matches("<option").count() >= 8, "model list: {dom}");
        assert!(dom.contains("data-name=\"pad"), "examples: {dom}");
    } else if std::env::var_os("CI").is_some() {
        panic!("chromium is missing: `cargo setup` installs it");
    }

    // The same answers as the local server on the held-out real inputs.
    let local = common::start_server(models.path());
    let inputs =
        mnist_support::real_inputs::generate(&split, mnist_support::real_inputs::Set::Heldout, 6)
            .unwrap();
    for s in &inputs {
        let (a, b) = (
            predict(&space_url, &s.data_url()),
            predict(&local.url, &s.data_url()),
        );
        match (a, b) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.input, b.input, "{}", s.name);
                for (x, y) in a.results.iter().zip(&b.results) {
                    assert_eq!(
                        (&x.model, x.prediction),
                        (&y.model, y.prediction),
                        "{}",
                        s.name
                    );
                    for (p, q) in x.top3.iter().zip(&y.top3) {
                        assert!((p.probability - q.probability).abs() <= 1e-4, "{}", s.name);
                    }
                }
            }
            (a, b) => assert_eq!(a.err(), b.err(), "{}", s.name),
        }
    }
}

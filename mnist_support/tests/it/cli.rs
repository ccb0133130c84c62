//! The `mnist` binary: `data --json` on the real files, clear errors without them, `compare` on a subset.

use crate::common;

use std::process::Command;

fn mnist() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mnist"))
}

/// `mnist ARGS` on the data in `dir`, which must succeed: its stdout.
fn mnist_ok(args: &[&str], dir: &std::path::Path) -> String {
    let out = mnist().args(args).env("MNIST_DIR", dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
#[ignore = "needs MNIST_DIR"]
fn data_json_on_real_files() {
    let dir = common::real_data_dir();
    let stdout = mnist_ok(&["data", "--json"], &dir);
    assert_eq!(stdout.lines().count(), 1, "one JSON object on one line");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["train"]["rows"], 55_000);
    assert_eq!(v["valid"]["rows"], 5_000);
    assert_eq!(v["test"]["rows"], 5_000);
    assert_eq!(v["train"]["class_counts"][1], 6202);
    assert_eq!(v["valid"]["class_counts"].as_array().unwrap().len(), 10);

    let text = mnist().arg("data").env("MNIST_DIR", &dir).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("X_train shape: (55000, 784)"), "{text}");
    assert!(text.contains("train: balanced"), "{text}");
}

#[test]
fn data_without_files_fails_with_the_four_names() {
    let empty = tempfile::tempdir().unwrap();
    let out = mnist()
        .arg("data")
        .env("MNIST_DIR", empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: MNIST data not found in"), "{err}");
    for f in mnist_support::data::FILES {
        assert!(
            err.contains(&f.gz_name()) && err.contains(f.md5_gz),
            "{err}"
        );
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// `mnist data | head`: the reader going away ends the command quietly,
/// without a panic on the closed pipe.
#[test]
#[ignore = "needs MNIST_DIR"]
fn data_into_a_closed_pipe_ends_without_a_panic() {
    let dir = common::real_data_dir();
    let mut child = mnist()
        .arg("data")
        .env("MNIST_DIR", &dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before the first line
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{err}");
    }
}

#[test]
#[ignore = "needs MNIST_DIR"]
fn data_with_a_corrupt_file_fails_cleanly() {
    let real = common::real_data_dir();
    let dir = tempfile::tempdir().unwrap();
    for f in mnist_support::data::FILES {
        std::fs::copy(real.join(f.gz_name()), dir.path().join(f.gz_name())).unwrap();
    }
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte.gz"),
        b"\x1f\x8bgarbage",
    )
    .unwrap();
    let out = mnist()
        .arg("data")
        .env("MNIST_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // checksums are checked first: the corrupt file is named
    assert!(
        err.contains("train-labels-idx1-ubyte.gz") && err.contains("checksum"),
        "{err}"
    );
}

/// `mnist compare` runs both sides on the same exported split (the tree and
/// kNN on 1,000 images: a check that it works, not a measurement).
#[test]
#[ignore = "needs MNIST_DIR"]
fn compare_runs_both_sides_on_the_same_split() {
    let dir = common::real_data_dir();
    let stdout = mnist_ok(
        &["compare", "tree", "knn", "--subset", "1000", "--json"],
        &dir,
    );
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    for (row, name) in rows.iter().zip(["tree", "knn"]) {
        for side in ["ours", "theirs"] {
            assert_eq!(row[side]["model"], name, "{row}");
            let acc = row[side]["test_acc"].as_f64().unwrap();
            assert!((0.6..=1.0).contains(&acc), "{side} {name}: {acc}");
            assert!(row[side]["fit_s"].as_f64().unwrap() >= 0.0);
        }
        assert!(row["theirs"]["tool"]
            .as_str()
            .unwrap()
            .starts_with("scikit-learn 1.9.1"));
    }
    // The same images on both sides: kNN with the same k agrees closely.
    let (a, b) = (
        rows[1]["ours"]["test_acc"].as_f64().unwrap(),
        rows[1]["theirs"]["test_acc"].as_f64().unwrap(),
    );
    assert!((a - b).abs() < 0.02, "kNN: ours {a}, scikit-learn {b}");
}

/// `mnist compare forest --seeds 2`: both sides run with seeds 42 and 43,
/// and the table ends with the means of the two runs.
#[test]
#[ignore = "needs MNIST_DIR"]
fn compare_repeats_seeded_models_and_prints_the_means() {
    let dir = common::real_data_dir();
    let stdout = mnist_ok(
        &[
            "compare", "forest", "tree", "--subset", "1000", "--seeds", "2",
        ],
        &dir,
    );
    // name, our test accuracy, their test accuracy (percent).
    let row = |name: &str| -> (f64, f64) {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row {name:?} in:\n{stdout}"));
        let pct: Vec<f64> = line
            .split_whitespace()
            .filter_map(|w| w.strip_suffix('%')?.parse().ok())
            .collect();
        assert_eq!(pct.len(), 2, "{line}");
        (pct[0], pct[1])
    };
    let (r42, r43, mean) = (row("forest 42"), row("forest 43"), row("forest mean"));
    assert!(((r42.0 + r43.0) / 2.0 - mean.0).abs() < 0.011, "{stdout}");
    assert!(((r42.1 + r43.1) / 2.0 - mean.1).abs() < 0.011, "{stdout}");
    // The tree has no seed: one run, no mean.
    row("tree");
    assert!(
        !stdout.contains("tree 42") && !stdout.contains("tree mean"),
        "{stdout}"
    );
}

/// `mnist compare dnn`: PyTorch (installed into the venv on first use)
/// trains the same network in the same way on the same images, so the two
/// land close together (2,000 images, 2 epochs: a check, not a measurement).
#[test]
#[ignore = "needs MNIST_DIR"]
fn compare_trains_the_same_network_in_pytorch() {
    let dir = common::real_data_dir();
    let args = [
        "compare", "dnn", "--subset", "2000", "--epochs", "2", "--json",
    ];
    let stdout = mnist_ok(&args, &dir);
    let row: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(row["theirs"]["tool"]
        .as_str()
        .unwrap()
        .starts_with("PyTorch 2.13.0"));
    let acc = |side: &str| row[side]["test_acc"].as_f64().unwrap();
    for side in ["ours", "theirs"] {
        assert_eq!(row[side]["model"], "dnn");
        assert!(acc(side) > 0.75, "{side}: {}", acc(side));
    }
    assert!(
        (acc("ours") - acc("theirs")).abs() < 0.08,
        "ours {}, PyTorch {}",
        acc("ours"),
        acc("theirs")
    );
}

/// `mnist bench MODEL --params JSON` trains any configuration: the values
/// given replace the defaults (nested objects merge), and a misspelt or
/// out-of-range hyperparameter fails before any work, naming it.
#[test]
#[ignore = "needs MNIST_DIR"]
fn bench_trains_the_configuration_given_as_json() {
    let dir = common::real_data_dir();
    let bench = |params: &str| {
        mnist()
            .args(["bench", "tree", "--json", "--params", params])
            .env("MNIST_DIR", &dir)
            // Quick mode: the configuration is what is tested, not the full data.
            .env("MNIST_SUBSET", "3000")
            .output()
            .unwrap()
    };
    let out = bench(r#"{"tree": {"max_depth": 3}}"#);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("QUICK MODE (MNIST_SUBSET=3000)"));
    // Eight leaves at most cannot tell ten digits apart; the default tree gets 88%.
    let acc = row["test_acc"].as_f64().unwrap();
    assert!((0.2..0.75).contains(&acc), "depth-3 tree: {acc}");
    let err = bench(r#"{"tree": {"max_dept": 3}}"#);
    assert!(!err.status.success());
    let text = String::from_utf8_lossy(&err.stderr);
    assert!(
        text.contains(r#"unknown hyperparameter "tree.max_dept""#),
        "{text}"
    );
    let err = bench(r#"{"tree": {"min_samples_leaf": 0}}"#);
    assert!(!err.status.success());
    let text = String::from_utf8_lossy(&err.stderr);
    assert!(
        text.contains("invalid hyperparameter min_samples_leaf"),
        "{text}"
    );
    let err = bench("[3]");
    assert!(String::from_utf8_lossy(&err.stderr).contains("expected a JSON object"));
}

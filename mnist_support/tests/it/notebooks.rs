//! Executes the notebooks headlessly with the real Jupyter + evcxr kernel
//! (`mnist notebooks`) and checks their outputs. Needs `mnist setup` done
//! (the README's test command does it) and the real data in `MNIST_DIR`.

use crate::common;

use std::path::Path;
use std::process::Command;

use mnist_setup::{self as jupyter, Paths};

fn mnist() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mnist"))
}

/// The runs take turns, so that each kernel gets build slot 0 of the pool
/// (warm after the first run) and they do not compete for the two cores.
static KERNEL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn require_setup() -> Option<Paths> {
    let p = Paths::new();
    if jupyter::is_setup(&p) {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("the notebook toolchain is missing: run `cargo run --release -- setup` first");
    }
    eprintln!("notebook toolchain not set up (`cargo run --release -- setup`): skipping");
    None
}

fn load(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Counts images (image/png outputs and inline PNGs in HTML) and error outputs.
fn outputs(nb: &serde_json::Value) -> (usize, usize, usize) {
    let (mut images, mut errors, mut html) = (0, 0, 0);
    for cell in nb["cells"].as_array().unwrap() {
        for out in cell["outputs"].as_array().into_iter().flatten() {
            if out["output_type"] == "error"
                || (out["output_type"] == "stream" && out["name"] == "stderr")
            {
                errors += 1;
            }
            let data = &out["data"];
            if data.get("image/png").is_some() {
                images += 1;
            }
            if let Some(h) = data.get("text/html") {
                let h = match h {
                    serde_json::Value::Array(lines) => {
                        lines.iter().filter_map(|l| l.as_str()).collect::<String>()
                    }
                    other => other.as_str().unwrap_or("").to_string(),
                };
                images += h.matches("data:image/png;base64,").count();
                html += h.matches("<table").count();
            }
        }
    }
    (images, errors, html)
}

#[test]
#[ignore = "needs MNIST_DIR"]
fn the_three_exploration_notebooks_execute_with_inline_figures() {
    let Some(_) = require_setup() else { return };
    let _turn = KERNEL.lock().unwrap_or_else(|e| e.into_inner());
    let data = common::real_data_dir();
    let out = tempfile::tempdir().unwrap();
    let status = mnist()
        .args(["notebooks", "01", "02", "03", "--out"])
        .arg(out.path())
        .env("MNIST_DIR", &data)
        .status()
        .unwrap();
    assert!(status.success(), "mnist notebooks failed");
    // (name, at least this many images, at least this many html tables)
    for (name, min_images, min_tables) in [
        ("01_prepare_data", 1, 1),
        ("02_visualize_digits", 1, 0),
        ("03_class_frequency", 1, 1),
    ] {
        let nb = load(&out.path().join(format!("{name}.ipynb")));
        let (images, errors, tables) = outputs(&nb);
        assert_eq!(errors, 0, "{name}: error outputs");
        assert!(images >= min_images, "{name}: {images} images");
        assert!(tables >= min_tables, "{name}: {tables} tables");
        for cell in nb["cells"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["cell_type"] == "code")
        {
            assert!(
                cell["execution_count"].is_number(),
                "{name}: a code cell did not run"
            );
        }
        let html = std::fs::read_to_string(out.path().join(format!("{name}.html"))).unwrap();
        assert!(
            html.contains("data:image/png;base64,"),
            "{name}.html has no embedded image"
        );
    }
    let nb1 = std::fs::read_to_string(out.path().join("01_prepare_data.ipynb")).unwrap();
    assert!(nb1.contains("X_train: (55000, 784)  y_train: (55000,)"));
    assert!(nb1.contains("X_test:  (5000, 784)  y_test:  (5000,)"));
    let nb3 = std::fs::read_to_string(out.path().join("03_class_frequency.ipynb")).unwrap();
    assert!(nb3.contains("train: balanced"));
    let summary = load(&out.path().join("run_summary.json"));
    assert_eq!(summary.as_array().unwrap().len(), 3);
}

#[test]
fn a_failing_cell_fails_the_run_with_its_message() {
    let Some(_) = require_setup() else { return };
    let _turn = KERNEL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let meta = r#"{"kernelspec": {"name": "rust", "display_name": "Rust", "language": "rust"}}"#;
    // a panic and a `?` error both come back from evcxr with status "ok"
    for (name, code) in [
        ("panics", "let v: Vec<u8> = Vec::new();\nlet _x = v[3];"),
        ("question_mark", "let n: u32 = \"seven\".parse::<u32>()?;"),
        ("compile_error", "let x: u32 = \"text\";"),
    ] {
        let nb = format!(
            r#"{{"cells": [{{"cell_type": "code", "execution_count": null, "id": "a", "metadata": {{}}, "outputs": [], "source": {src}}},
               {{"cell_type": "code", "execution_count": null, "id": "b", "metadata": {{}}, "outputs": [], "source": "println!(\"after\");"}}],
               "metadata": {meta}, "nbformat": 4, "nbformat_minor": 5}}"#,
            src = serde_json::to_string(code).unwrap()
        );
        let path = dir.path().join(format!("{name}.ipynb"));
        std::fs::write(&path, nb).unwrap();
        let out = mnist()
            .args(["notebooks", "--out"])
            .arg(dir.path().join("out"))
            .arg(&path)
            .env("MNIST_DIR", common::fixture_dir(12, 2).path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: the run should fail");
        assert!(err.contains("FAILED in code cell 1"), "{name}: {err}");
        let executed =
            std::fs::read_to_string(dir.path().join("out").join(format!("{name}.ipynb"))).unwrap();
        assert!(
            !executed.contains("after\\n"),
            "{name}: the run went on past the failed cell"
        );
        match name {
            "panics" => assert!(err.contains("index out of bounds"), "{err}"),
            "question_mark" => assert!(err.contains("invalid digit"), "{err}"),
            _ => assert!(err.contains("mismatched types"), "{err}"),
        }
    }
}

/// The notebooks of one directory run in one kernel, cleared before each
/// notebook after the first: the second sees none of the first's variables,
/// runs in another process, and its cells are numbered from 1.
#[test]
fn notebooks_of_one_directory_share_a_kernel_cleared_between_them() {
    let Some(_) = require_setup() else { return };
    let _turn = KERNEL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.ipynb"), dir.path().join("b.ipynb"));
    notebook(&a, &["let leftover: u32 = 7;", "std::process::id()"]);
    notebook(&b, &[":vars", "let fresh: u32 = 8;", "std::process::id()"]);
    let out = dir.path().join("out");
    let run = mnist()
        .args(["notebooks", "--out"])
        .arg(&out)
        .args([&a, &b])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (a, b) = (load(&out.join("a.ipynb")), load(&out.join("b.ipynb")));
    let vars = b["cells"][0]["outputs"].to_string();
    assert!(
        vars.contains("Variable") && !vars.contains("leftover"),
        "{vars}"
    );
    let pid = |nb: &serde_json::Value| {
        nb["cells"][nb["cells"].as_array().unwrap().len() - 1]["outputs"][0]["data"]["text/plain"]
            .to_string()
    };
    assert_ne!(
        pid(&a),
        pid(&b),
        "the second notebook ran in the first one's process"
    );
    for nb in [&a, &b] {
        for (i, cell) in nb["cells"].as_array().unwrap().iter().enumerate() {
            assert_eq!(cell["execution_count"], i + 1, "{cell}");
        }
    }
}

/// The model notebooks in quick mode (`MNIST_SUBSET`): every step runs, the
/// report shows its tables and confusion matrices inline, the model is saved
/// (into a temporary models directory) and reloads with identical predictions.
#[test]
#[ignore = "needs MNIST_DIR"]
fn the_model_notebooks_execute_in_quick_mode() {
    let Some(_) = require_setup() else { return };
    let _turn = KERNEL.lock().unwrap_or_else(|e| e.into_inner());
    let data = common::real_data_dir();
    let out = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let notebooks = [
        ("04_1_softmax", "softmax"),
        ("04_2_knn", "knn"),
        ("04_3_dnn", "dnn"),
        ("04_4_svm", "svm"),
        ("04_5_decision_tree", "tree"),
        ("04_6_random_forest", "forest"),
        ("04_7_cnn", "cnn"),
    ];
    let summary = "04_8_summary";
    let serve = "05_serve";
    // All twelve, as command 1 runs them: the last one's checklist reads them all.
    let exploration = [
        "01_prepare_data",
        "02_visualize_digits",
        "03_class_frequency",
    ];
    let status = mnist()
        .arg("notebooks")
        .args(
            (exploration.into_iter())
                .chain(notebooks.iter().map(|(nb, _)| *nb))
                .chain([summary, serve]),
        )
        .arg("--out")
        .arg(out.path())
        .env("MNIST_DIR", &data)
        .env("MNIST_SUBSET", "2000")
        .env("MNIST_MODELS_DIR", models.path())
        .status()
        .unwrap();
    assert!(status.success(), "mnist notebooks failed");
    for (nb_name, model) in notebooks {
        let nb = load(&out.path().join(format!("{nb_name}.ipynb")));
        let (images, errors, tables) = outputs(&nb);
        assert_eq!(errors, 0, "{nb_name}: error outputs");
        assert!(images >= 1, "{nb_name}: {images} images");
        assert!(
            tables >= 4,
            "{nb_name}: {tables} tables (split, scaling, accuracy, per-class, saved)"
        );
        let text = std::fs::read_to_string(out.path().join(format!("{nb_name}.ipynb"))).unwrap();
        assert!(
            text.contains("QUICK MODE (MNIST_SUBSET=2000)"),
            "{nb_name}: quick mode not announced"
        );
        assert!(
            text.contains("trained in "),
            "{nb_name}: no training time (the store's \"trained in … s\")"
        );
        assert!(
            text.contains("identical test predictions: true")
                || text.contains("identical test probabilities: true"),
            "{nb_name}: reload check"
        );
        // The Why cell: three right answers and three errors explained, as figures.
        assert!(
            text.contains("test digits answered right")
                && text.contains("test digits answered wrong"),
            "{nb_name}: no Why cell output"
        );
        assert!(
            images >= 7,
            "{nb_name}: {images} images (the report's and six in the Why cell)"
        );
        let card = experiment_card(models.path(), model);
        if matches!(model, "dnn" | "cnn") {
            // One epoch in quick mode, shown per epoch, with the training curves inline
            // (the confusion matrices and the curves: two images in the report).
            assert!(
                text.contains("QUICK MODE (MNIST_SUBSET): training for 1 epoch"),
                "{nb_name}"
            );
            assert!(text.contains("epoch 1/1: loss"), "{nb_name}: no epoch line");
            assert_eq!(
                card["report"]["history"]["epochs"].as_array().map(Vec::len),
                Some(1)
            );
            assert!(images >= 2, "{nb_name}: {images} images");
            assert!(models.path().join(format!("{model}.curves.png")).exists());
        }
        assert_eq!(card["report"]["parts"][0]["images"], 2000, "{nb_name}");
        assert!(models
            .path()
            .join(format!("{model}.confusion.png"))
            .exists());
    }
    // The summary reads the seven saved reports: the DataFrame, two charts, seven
    // galleries of errors, the CSV and Markdown files.
    let nb = load(&out.path().join(format!("{summary}.ipynb")));
    let (images, errors, tables) = outputs(&nb);
    assert_eq!(errors, 0, "{summary}: error outputs");
    assert!(images >= 2 + 7, "{summary}: {images} images");
    assert!(tables >= 1, "{summary}: {tables} tables");
    let text = std::fs::read_to_string(out.path().join(format!("{summary}.ipynb"))).unwrap();
    assert!(
        text.contains("7 models read from"),
        "{summary}: not all seven models"
    );
    assert!(
        text.contains("explained by 7 models"),
        "{summary}: no side-by-side explanation of the hardest digit"
    );
    assert!(
        text.contains("polars DataFrame: 7 rows"),
        "{summary}: no DataFrame"
    );
    assert!(
        text.contains("all 10,000 official test images"),
        "{summary}: no official-test column"
    );
    let csv = std::fs::read_to_string(models.path().join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 8, "{csv}");
    for (_, model) in notebooks {
        let card = experiment_card(models.path(), model);
        let test = card["report"]["parts"][2]["accuracy"].as_f64().unwrap();
        assert!(
            csv.contains(&format!("{:.2}%", 100.0 * test)),
            "{model}: test accuracy not in the summary CSV:\n{csv}"
        );
    }

    // The serving notebook starts the server over the saved models, shows it, and stops it.
    let text = std::fs::read_to_string(out.path().join(format!("{serve}.ipynb"))).unwrap();
    assert!(
        text.contains("page at http://127.0.0.1:"),
        "05_serve: no server link"
    );
    assert!(text.contains("<iframe"), "05_serve: no page shown");
    for (_, model) in notebooks {
        assert!(
            text.contains(&format!(">{model}</td>")),
            "05_serve: {model} not served"
        );
    }
    // The export shows the demo working: a screenshot of the page after a
    // drawing was predicted, the preprocessing steps, the gallery of real
    // inputs with every answer, and the real-inputs table.
    assert!(
        text.contains("the page at /?demo=pad"),
        "05_serve: no screenshot"
    );
    assert!(
        text.contains("Preprocessing, step by step"),
        "05_serve: no steps figure"
    );
    assert!(
        text.contains("Real inputs and the models' answers"),
        "05_serve: no gallery"
    );
    assert!(
        text.contains("Real inputs (heldout set"),
        "05_serve: no real-inputs table"
    );
    let (images, errors, _) = outputs(&load(&out.path().join(format!("{serve}.ipynb"))));
    assert!(
        images >= 3 && errors == 0,
        "05_serve: {images} images, {errors} errors"
    );
    assert!(text.contains("server stopped"));
    // Share it: the Space written, listed with sizes, its front matter and the push commands.
    for shown in [
        "sdk: docker",
        "app_port: 7860",
        "mnist-serve",
        " MB in all",
        "git push",
    ] {
        assert!(text.contains(shown), "05_serve: no {shown:?} in Share it");
    }
    // ... from exactly what the notebooks trained, with no `--any-models`:
    // the digit gate, trained by the notebook, ships too, and the README
    // says which hyperparameters each model was trained with.
    assert!(
        text.contains("digit gate trained in"),
        "05_serve: no gate trained"
    );
    assert!(
        text.contains("models/gate.bin"),
        "05_serve: the Space has no gate"
    );
    let readme =
        std::fs::read_to_string(mnist_support::data::project_root().join("space/README.md"))
            .unwrap();
    assert!(readme.contains("| trained with |"), "{readme}");
    assert!(
        readme.contains("epochs = 1"),
        "the quick networks' epochs not shown: {readme}"
    );
    // The page frame falls back to the screenshot where the server is gone.
    assert!(text.contains("is not running now"), "05_serve: no fallback");
    // The grader's checklist, last in the export: every requirement met.
    assert!(
        text.contains("The grader's checklist: 48 of 48 requirements met"),
        "05_serve: no complete checklist"
    );
    // It fails when a required output is missing: 04_3 without its training time.
    let copy = tempfile::tempdir().unwrap();
    common::copy_dir(out.path(), copy.path());
    let dnn = copy.path().join("04_3_dnn.ipynb");
    let mut nb = load(&dnn);
    for cell in nb["cells"].as_array_mut().unwrap() {
        if cell["cell_type"] == "code" && cell["outputs"].to_string().contains("trained in ") {
            cell["outputs"] = serde_json::json!([]);
        }
    }
    std::fs::write(&dnn, nb.to_string()).unwrap();
    let root = mnist_support::data::project_root();
    let list = mnist_support::checklist::Checklist::build(
        copy.path(),
        models.path(),
        &root.join("notebooks").join("figures"),
        &root.join("space"),
        &root.join("notebooks"),
    );
    let missing: Vec<&str> = (list.missing().iter())
        .map(|r| r.requirement.as_str())
        .collect();
    assert_eq!(
        missing,
        ["Deep neural network (fully connected): training time"]
    );
    let err = list.require().unwrap_err().to_string();
    assert!(
        err.contains("1 of 48") && err.contains("training time"),
        "{err}"
    );

    // Running a model notebook again reuses its up-to-date saved model (a quick
    // re-export for graders) unless MNIST_RETRAIN is set.
    let again = tempfile::tempdir().unwrap();
    let rerun = |retrain: &str| {
        let status = mnist()
            .args(["notebooks", "04_6_random_forest", "--out"])
            .arg(again.path())
            .env("MNIST_DIR", &data)
            .env("MNIST_SUBSET", "2000")
            .env("MNIST_MODELS_DIR", models.path())
            .env("MNIST_RETRAIN", retrain)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read_to_string(again.path().join("04_6_random_forest.ipynb")).unwrap()
    };
    let text = rerun("");
    assert!(text.contains("using the saved model"), "forest retrained");
    let text = rerun("1");
    assert!(
        text.contains("retraining (MNIST_RETRAIN=1 or --retrain): training again"),
        "forest not retrained"
    );
}

fn experiment_card(dir: &Path, name: &str) -> serde_json::Value {
    load(&dir.join(format!("{name}.json")))
}

/// A notebook file with the given code cells.
fn notebook(path: &Path, cells: &[&str]) {
    let cells: Vec<serde_json::Value> = cells
        .iter()
        .enumerate()
        .map(|(i, src)| {
            serde_json::json!({"cell_type": "code", "execution_count": null, "id": format!("c{i}"),
                "metadata": {}, "outputs": [], "source": src})
        })
        .collect();
    let nb = serde_json::json!({"cells": cells, "metadata": {"kernelspec":
        {"name": "rust", "display_name": "Rust", "language": "rust"}}, "nbformat": 4, "nbformat_minor": 5});
    std::fs::write(path, nb.to_string()).unwrap();
}

/// `mnist first-cell` starts kernels the way Jupyter Lab does: two notebooks
/// opened at once get two different build slots of the pool, and opening
/// them again reuses the same two slots (what keeps their builds warm).
#[test]
fn kernels_opened_together_get_their_own_build_slots_and_keep_them() {
    let Some(_) = require_setup() else { return };
    let _turn = KERNEL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let cell = r#"println!("slot dir {}", std::env::var("EVCXR_TMPDIR").unwrap());"#;
    let (a, b) = (dir.path().join("a.ipynb"), dir.path().join("b.ipynb"));
    notebook(&a, &[cell]);
    notebook(&b, &[cell]);
    let out = mnist()
        .args([
            "first-cell",
            "--cold",
            "--together",
            "--rounds",
            "2",
            "--cells",
            "1",
        ])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("JSON "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4, "{text}");
    for round in [1, 2] {
        let mut slots: Vec<&str> = rows
            .iter()
            .filter(|r| r["round"] == round)
            .map(|r| r["slot"].as_str().unwrap())
            .collect();
        slots.sort();
        assert_eq!(slots, ["0", "1"], "round {round}: {text}");
    }
    assert!(rows
        .iter()
        .all(|r| r["ok"] == true && r["cells_s"].as_array().unwrap().len() == 1));
}

/// The launcher alone: the first free slot is taken, a slot held by a running
/// kernel is skipped, and an empty slot is seeded with a copy of a built one.
#[test]
fn the_kernel_launcher_skips_held_slots_and_seeds_new_ones() {
    let Some(p) = require_setup() else { return };
    let pool = tempfile::tempdir().unwrap();
    let built = pool.path().join("0").join("target");
    std::fs::create_dir_all(&built).unwrap();
    std::fs::write(built.join("artifact"), "built in slot 0").unwrap();
    let launcher = |cmd: &str| {
        let mut c = Command::new(&p.python);
        c.arg(&p.launcher)
            .arg(pool.path())
            .args(["sh", "-c", cmd])
            .env_remove("MNIST_KERNEL_POOL");
        c
    };
    // A first kernel holds slot 0 ...
    let mut first = launcher("echo $EVCXR_TMPDIR; sleep 30")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(first.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.trim().ends_with("/0"), "{line}");
    // ... so the second gets slot 1, seeded from slot 0.
    let second = launcher("echo $EVCXR_TMPDIR; cat $EVCXR_TMPDIR/target/artifact; exit 3")
        .output()
        .unwrap();
    // Jupyter stops a kernel with SIGTERM: the launcher passes it on and exits.
    let stopped = Command::new("kill")
        .arg(first.id().to_string())
        .status()
        .unwrap();
    assert!(stopped.success());
    first.wait().unwrap();
    let text = String::from_utf8_lossy(&second.stdout);
    assert_eq!(
        second.status.code(),
        Some(3),
        "the kernel's exit status is passed on"
    );
    assert!(text.lines().next().unwrap().ends_with("/1"), "{text}");
    assert!(text.contains("built in slot 0"), "{text}");
    // With slot 0 free again, the next kernel takes it.
    let third = launcher("echo $EVCXR_TMPDIR").output().unwrap();
    assert!(String::from_utf8_lossy(&third.stdout)
        .trim()
        .ends_with("/0"));
}

/// The features each notebook's Setup note names are those its `:dep` line
/// asks for, and every one it asks for is named.
#[test]
fn setup_notes_name_the_features_of_their_dep_lines() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let section = &manifest[manifest.find("[features]").unwrap()..];
    let features: Vec<String> = section
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| Some(l.split_once(" = ")?.0.trim().to_string()))
        .collect();
    assert!(features.contains(&"notebook".to_string()), "{features:?}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../notebooks");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "ipynb") {
            continue;
        }
        let nb = load(&path);
        let cells = nb["cells"].as_array().unwrap();
        let text = |c: &serde_json::Value| match &c["source"] {
            serde_json::Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
            s => s.as_str().unwrap_or_default().to_string(),
        };
        let dep = cells
            .iter()
            .map(text)
            .find(|t| t.starts_with(":dep "))
            .unwrap();
        let asked: Vec<&str> = dep[dep.find("features = [").unwrap()..]
            .split('"')
            .skip(1)
            .step_by(2)
            .collect();
        let note = cells
            .iter()
            .map(text)
            .find(|t| t.starts_with("## Setup"))
            .unwrap_or_else(|| panic!("{} has no Setup note", path.display()));
        let named: Vec<&str> = note
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|w| features.iter().any(|f| f == w))
            .collect();
        for f in &asked {
            assert!(
                named.contains(f),
                "{}: the Setup note does not name `{f}`",
                path.display()
            );
        }
        for f in &named {
            assert!(
                asked.contains(f),
                "{}: the Setup note names `{f}`, which its :dep line does not ask for",
                path.display()
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 12, "the twelve notebooks");
}

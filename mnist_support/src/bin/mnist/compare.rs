//! `mnist compare`: our models beside scikit-learn's, in one run on this
//! machine, on the same split and in the same configuration (the same
//! hyperparameters, scaling and training images: no deskewing, typed digits
//! or distorted copies on either side), with the ratios of the times.
//!
//! The split is written to a temporary directory as `.npy` files and
//! `scripts/compare.py` (scikit-learn from the project venv, installed on
//! first use) trains on exactly those images. Both sides get two threads.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use mnist_support::augment::Augment;
use mnist_support::data::Split;
use mnist_support::jupyter;
use mnist_support::models::cart::{Criterion, TreeParams};
use mnist_support::models::knn::Weighting;
use mnist_support::models::{
    Classifier, DecisionTree, DecisionTreeParams, Forest, ForestParams, Knn, KnnParams, ModelKind,
    Softmax, SoftmaxParams, Svm, SvmParams,
};
use mnist_support::scale::Scaling;
use ndarray::{Array1, Array2};

use crate::progress_bar::Bar;
use crate::AnyResult;

/// The models compared by default. scikit-learn's `SVC` needs about half an
/// hour here, so the SVM runs only when asked for.
pub const DEFAULT: [ModelKind; 4] = [
    ModelKind::Softmax,
    ModelKind::Knn,
    ModelKind::Tree,
    ModelKind::Forest,
];

/// Our side of a comparison, in the configuration `compare.py` gives
/// scikit-learn.
fn same_config(kind: ModelKind) -> AnyResult<Box<dyn Classifier>> {
    Ok(match kind {
        ModelKind::Softmax => Box::new(Softmax::new(SoftmaxParams {
            alpha: 300.0,
            max_iter: 300,
            tol: 1e-6,
            scaling: Scaling::Standard,
            augment: Augment::NONE,
        })),
        ModelKind::Knn => Box::new(Knn::new(KnnParams {
            k: 4,
            weighting: Weighting::Uniform,
            scaling: Scaling::Unit,
            augment: Augment::NONE,
        })),
        ModelKind::Tree => Box::new(DecisionTree::new(DecisionTreeParams {
            tree: TreeParams {
                criterion: Criterion::Entropy,
                ..TreeParams::default()
            },
            augment: Augment::NONE,
        })),
        ModelKind::Forest => Box::new(Forest::new(ForestParams {
            n_trees: 100,
            bootstrap: true,
            seed: 42,
            tree: TreeParams {
                criterion: Criterion::Gini,
                max_features: Some(40),
                ..TreeParams::default()
            },
            augment: Augment::NONE,
        })),
        ModelKind::Svm => Box::new(Svm::new(SvmParams {
            c: 5.0,
            gamma: 0.05,
            scaling: Scaling::MinMax,
            augment: Augment::NONE,
            ..SvmParams::default()
        })),
        ModelKind::Dnn | ModelKind::Cnn => {
            return Err(format!(
                "{kind}: the PyTorch side of the comparison is not built yet; compare softmax, knn, tree, forest or svm"
            )
            .into())
        }
    })
}

/// One side's figures for one model.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Side {
    pub model: String,
    pub tool: String,
    pub fit_s: f64,
    /// Seconds to predict all train, valid and test images.
    pub predict_s: f64,
    pub test_acc: f64,
}

/// `x` (raw pixels, whole numbers 0–255) as an `.npy` file of bytes.
fn write_npy(path: &Path, shape: &[usize], bytes: &[u8]) -> AnyResult<()> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {tuple}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n', padded to 64 bytes.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    f.write_all(bytes)?;
    f.flush()?;
    Ok(())
}

/// The split as `X_<part>.npy` (n×784 bytes) and `y_<part>.npy` in `dir`.
pub fn export(split: &Split, dir: &Path) -> AnyResult<()> {
    let parts: [(&str, &Array2<f32>, &Array1<u8>); 3] = [
        ("train", &split.x_train, &split.y_train),
        ("valid", &split.x_valid, &split.y_valid),
        ("test", &split.x_test, &split.y_test),
    ];
    for (name, x, y) in parts {
        let bytes: Vec<u8> = x
            .iter()
            .map(|&v| v.round().clamp(0.0, 255.0) as u8)
            .collect();
        write_npy(
            &dir.join(format!("X_{name}.npy")),
            &[x.nrows(), x.ncols()],
            &bytes,
        )?;
        write_npy(&dir.join(format!("y_{name}.npy")), &[y.len()], &y.to_vec())?;
    }
    Ok(())
}

/// Fit our model in the shared configuration and time it as `compare.py` does.
fn ours(kind: ModelKind, split: &Split) -> AnyResult<Side> {
    let mut model = same_config(kind)?;
    let t = Instant::now();
    model.fit(split.x_train.view(), split.y_train.view(), &Bar::new())?;
    let fit_s = t.elapsed().as_secs_f64();
    // All three parts are predicted (and timed), as `mnist bench` and
    // `compare.py` do; the table shows the test accuracy.
    let t = Instant::now();
    model.predict(split.x_train.view())?;
    model.predict(split.x_valid.view())?;
    let pred = model.predict(split.x_test.view())?;
    let test_acc = mnist_support::metrics::accuracy(&split.y_test.to_vec(), &pred.to_vec())?;
    Ok(Side {
        model: kind.name().into(),
        tool: format!("mnist_support {}", env!("CARGO_PKG_VERSION")),
        fit_s,
        predict_s: t.elapsed().as_secs_f64(),
        test_acc,
    })
}

/// scikit-learn's side, from `compare.py` in the project venv.
fn theirs(kind: ModelKind, dir: &Path) -> AnyResult<Side> {
    let p = jupyter::Paths::new();
    let script = jupyter::ensure_compare_packages(&p)?;
    let threads = rayon::current_num_threads().to_string();
    let out = Command::new(&p.python)
        .arg(&script)
        .arg(dir)
        .arg(kind.name())
        .arg(&threads)
        .env("OMP_NUM_THREADS", &threads)
        .env("OPENBLAS_NUM_THREADS", &threads)
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "compare.py failed for {kind}:\n{}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let line = String::from_utf8_lossy(&out.stdout);
    Ok(serde_json::from_str(line.trim())?)
}

pub fn compare(kinds: Vec<ModelKind>, subset: Option<usize>, json: bool) -> AnyResult<()> {
    let kinds = if kinds.is_empty() {
        DEFAULT.to_vec()
    } else {
        kinds
    };
    let mut split = Split::load()?;
    if let Some(n) = subset {
        split = split.head(n, (n / 5).max(100));
        eprintln!("compare: on the first {n} training images only (--subset)");
    }
    let dir = std::env::temp_dir().join(format!("mnist-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = (|| -> AnyResult<Vec<(Side, Side)>> {
        export(&split, &dir)?;
        let mut rows = Vec::new();
        for &kind in &kinds {
            eprintln!("compare: {kind}: ours");
            let a = ours(kind, &split)?;
            eprintln!("compare: {kind}: scikit-learn");
            let b = theirs(kind, &dir)?;
            if json {
                println!("{}", serde_json::json!({ "ours": a, "theirs": b }));
            }
            rows.push((a, b));
        }
        Ok(rows)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    let rows = result?;
    if !json {
        println!(
            "{:<8} {:>9} {:>8} {:>10} {:>12} {:>8} {:>10} {:>9} {:>13}",
            "model",
            "ours test",
            "fit s",
            "predict s",
            "sklearn test",
            "fit s",
            "predict s",
            "fit ratio",
            "predict ratio"
        );
        for (a, b) in &rows {
            println!(
                "{:<8} {:>8.2}% {:>8.2} {:>10.2} {:>11.2}% {:>8.2} {:>10.2} {:>9.2} {:>13.2}",
                a.model,
                100.0 * a.test_acc,
                a.fit_s,
                a.predict_s,
                100.0 * b.test_acc,
                b.fit_s,
                b.predict_s,
                a.fit_s / b.fit_s,
                a.predict_s / b.predict_s
            );
        }
        if let Some((_, b)) = rows.first() {
            println!(
                "(same split, same configuration on both sides, {} threads; predict = all {} images; ratio = ours / {})",
                rayon::current_num_threads(),
                split.x_train.nrows() + split.x_valid.nrows() + split.x_test.nrows(),
                b.tool
            );
        }
    }
    Ok(())
}

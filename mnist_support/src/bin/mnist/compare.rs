//! `mnist compare`: our models beside scikit-learn's and PyTorch's, in one
//! run on this machine, on the same split and in the same configuration (the
//! same hyperparameters, scaling and training images: no deskewing, typed
//! digits or distorted copies on either side), with the ratios of the times.
//!
//! The split is written to a temporary directory as `.npy` files and
//! `scripts/compare.py` (scikit-learn or PyTorch from the project venv,
//! installed on first use) trains on exactly those images. The networks'
//! hyperparameters go to the script as JSON, and it builds the same layers
//! and training loop in PyTorch. Both sides get the same number of threads.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use mnist_setup as jupyter;
use mnist_support::augment::{Augment, Distort};
use mnist_support::data::{Labelled, Parts, Split};
use mnist_support::display::Table;
use mnist_support::experiment::{self, ScaledSplit};
use mnist_support::metrics::percent;
use mnist_support::models::cart::{Criterion, TreeParams};
use mnist_support::models::knn::Weighting;
use mnist_support::models::{
    Classifier, DecisionTree, DecisionTreeParams, Forest, ForestParams, Knn, KnnParams, ModelKind,
    NetParams, Network, Softmax, SoftmaxParams, Svm, SvmParams,
};
use mnist_support::scale::Scaling;

use crate::progress_bar::Bar;
use crate::AnyResult;

/// The arguments of `mnist compare`.
#[derive(clap::Args)]
pub struct CompareArgs {
    /// Models to compare (default: softmax knn tree forest; svm takes
    /// scikit-learn about half an hour here; dnn and cnn need PyTorch,
    /// about 4.7 GB with its CUDA libraries).
    pub models: Vec<ModelKind>,
    /// Only the first N training images (and N/5 valid and test), for a quick check.
    #[arg(long)]
    pub subset: Option<usize>,
    /// Epochs for the networks (default: the models' own, DNN 20, CNN 10).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Form (b): each side's own recipe instead of the same configuration:
    /// our models as the project trains them, against the usual
    /// scikit-learn and PyTorch solutions (see scripts/compare.py); for
    /// the networks, also how long ours take to reach the other side's
    /// validation accuracy.
    #[arg(long, conflicts_with = "epochs")]
    pub best: bool,
    /// Form (a): train the seeded models (forest, dnn, cnn) with N seeds
    /// on each side (42, 43, ...) and print each run and the means: one
    /// run's accuracy is partly the luck of its seed.
    #[arg(long, default_value_t = 1, conflicts_with = "best",
          value_parser = clap::value_parser!(u64).range(1..=20))]
    pub seeds: u64,
    /// One JSON object per model.
    #[arg(long)]
    pub json: bool,
}

/// The models compared by default. scikit-learn's `SVC` needs about half an
/// hour here, so the SVM runs only when asked for.
pub const DEFAULT: [ModelKind; 4] = [
    ModelKind::Softmax,
    ModelKind::Knn,
    ModelKind::Tree,
    ModelKind::Forest,
];

/// The networks as our models define them, less what PyTorch's side would
/// not do: no distortions, no typed digits; `epochs` when given.
fn net_config(kind: ModelKind, epochs: Option<usize>, seed: u64) -> NetParams {
    let p = match kind {
        ModelKind::Dnn => NetParams::dnn(),
        ModelKind::Gate => NetParams::gate(),
        _ => NetParams::cnn(),
    };
    NetParams {
        distort: Distort::NONE,
        typed: 0,
        epochs: epochs.unwrap_or(p.epochs),
        seed,
        ..p
    }
}

/// Our side of a comparison, in the configuration `compare.py` gives
/// scikit-learn and PyTorch.
fn same_config(kind: ModelKind, epochs: Option<usize>, seed: u64) -> Box<dyn Classifier> {
    match kind {
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
            components: 0,
        })),
        ModelKind::Tree => Box::new(DecisionTree::new(DecisionTreeParams {
            tree: TreeParams {
                criterion: Criterion::Entropy,
                ..TreeParams::default()
            },
            scaling: Scaling::None,
            augment: Augment::NONE,
        })),
        ModelKind::Forest => Box::new(Forest::new(ForestParams {
            n_trees: 100,
            bootstrap: true,
            seed,
            tree: TreeParams {
                criterion: Criterion::Gini,
                max_features: Some(40),
                ..TreeParams::default()
            },
            scaling: Scaling::None,
            augment: Augment::NONE,
        })),
        ModelKind::Svm => Box::new(Svm::new(SvmParams {
            c: 5.0,
            gamma: 0.05,
            scaling: Scaling::MinMax,
            augment: Augment::NONE,
            components: 0,
            ..SvmParams::default()
        })),
        ModelKind::Dnn | ModelKind::Cnn | ModelKind::Gate => {
            Box::new(Network::new(net_config(kind, epochs, seed)))
        }
    }
}

/// One side's figures for one model.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Side {
    pub model: String,
    /// The seed of a seeded model's run (the forest, the networks).
    #[serde(default)]
    pub seed: Option<u64>,
    pub tool: String,
    pub fit_s: f64,
    /// Seconds to predict all train, valid and test images.
    pub predict_s: f64,
    pub test_acc: f64,
    /// The networks' validation accuracy after each epoch, with its seconds.
    #[serde(default)]
    pub epochs: Vec<EpochTime>,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct EpochTime {
    pub epoch: usize,
    pub valid_acc: f64,
    pub seconds: f64,
}

/// The models whose runs depend on a seed (bootstrap and feature draws,
/// initial weights, shuffles, dropout): `--seeds` repeats them.
const SEEDED: [ModelKind; 3] = [ModelKind::Forest, ModelKind::Dnn, ModelKind::Cnn];

impl Side {
    /// The mean accuracy and times of several runs.
    fn mean<'a>(runs: impl Iterator<Item = &'a Side>) -> Side {
        let runs: Vec<&Side> = runs.collect();
        let n = runs.len().max(1) as f64;
        let mean = |f: fn(&Side) -> f64| runs.iter().map(|s| f(s)).sum::<f64>() / n;
        Side {
            model: runs.first().map(|s| s.model.clone()).unwrap_or_default(),
            tool: runs.first().map(|s| s.tool.clone()).unwrap_or_default(),
            seed: None,
            fit_s: mean(|s| s.fit_s),
            predict_s: mean(|s| s.predict_s),
            test_acc: mean(|s| s.test_acc),
            epochs: vec![],
        }
    }

    /// Seconds from the start of fitting until the end of the first epoch
    /// whose validation accuracy reaches `target` (what comes before the
    /// first epoch, like making the typed digits, counted), if one does.
    fn time_to(&self, target: f64) -> Option<(usize, f64)> {
        let before: f64 = self.fit_s - self.epochs.iter().map(|e| e.seconds).sum::<f64>();
        let mut t = before.max(0.0);
        for e in &self.epochs {
            t += e.seconds;
            if e.valid_acc >= target {
                return Some((e.epoch, t));
            }
        }
        None
    }
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
    for (name, Labelled { x, y }) in split.parts() {
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

/// Fit our `model` from raw pixels and time it as `compare.py` times its
/// side: the fit covers scaling, any added training images and fitting (the
/// networks score the validation split after every epoch and keep the best
/// epoch's weights, on both sides); the prediction covers scaling and
/// predicting all three parts.
fn ours(mut model: Box<dyn Classifier>, split: &Split) -> AnyResult<Side> {
    let kind = model.kind();
    let t = Instant::now();
    let data = ScaledSplit::new(split, model.scaling())?;
    experiment::fit(model.as_mut(), &data, &Bar::new())?;
    let fit_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    model.predict(split.x_train.view())?;
    model.predict(split.x_valid.view())?;
    let pred = model.predict(split.x_test.view())?;
    let predict_s = t.elapsed().as_secs_f64();
    let test_acc = mnist_support::metrics::accuracy(&split.y_test.to_vec(), &pred.to_vec())?;
    let epochs = model
        .history()
        .map(|h| {
            h.epochs
                .iter()
                .map(|e| EpochTime {
                    epoch: e.epoch,
                    valid_acc: e.valid_accuracy.unwrap_or(f64::NAN),
                    seconds: e.seconds,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Side {
        model: kind.name().into(),
        seed: None,
        tool: format!("mnist_support {}", env!("CARGO_PKG_VERSION")),
        fit_s,
        predict_s,
        test_acc,
        epochs,
    })
}

/// The other side, from `compare.py` in the project venv: scikit-learn, or
/// PyTorch for the networks.
fn theirs(
    kind: ModelKind,
    dir: &Path,
    epochs: Option<usize>,
    best: bool,
    seed: u64,
) -> AnyResult<Side> {
    let p = jupyter::Paths::new();
    let net = matches!(kind, ModelKind::Dnn | ModelKind::Cnn);
    let script = jupyter::ensure_compare_packages(&p, net)?;
    let threads = rayon::current_num_threads().to_string();
    let mut cmd = Command::new(&p.python);
    cmd.arg(&script).arg(dir).arg(kind.name()).arg(&threads);
    if best {
        cmd.arg("best");
    } else if net {
        cmd.arg(serde_json::to_string(&net_config(kind, epochs, seed))?);
    } else {
        cmd.arg(serde_json::json!({ "seed": seed }).to_string());
    }
    let out = cmd
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

pub fn compare(a: CompareArgs) -> AnyResult<()> {
    let kinds = if a.models.is_empty() {
        DEFAULT.to_vec()
    } else {
        a.models.clone()
    };
    let mut split = Split::load(&crate::config())?;
    if let Some(n) = a.subset {
        split = split.head(n, (n / 5).max(100));
        eprintln!("compare: on the first {n} training images only (--subset)");
    }
    let dir = std::env::temp_dir().join(format!("mnist-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = export(&split, &dir).and_then(|()| run_pairs(&kinds, &split, &dir, &a));
    let _ = std::fs::remove_dir_all(&dir);
    let pairs = result?;
    if !a.json {
        print_table(&pairs, a.best, &split);
        print_time_to(&pairs);
    }
    Ok(())
}

/// Both sides of every model (of every seed, for the seeded models of form
/// (a)); with `--json`, each pair printed as it is done.
fn run_pairs(
    kinds: &[ModelKind],
    split: &Split,
    dir: &Path,
    a: &CompareArgs,
) -> AnyResult<Vec<(Side, Side)>> {
    let mut pairs = Vec::new();
    for &kind in kinds {
        let seeded = !a.best && SEEDED.contains(&kind);
        let runs = if seeded { a.seeds } else { 1 };
        for seed in (42..).take(runs as usize) {
            let which = if seeded {
                format!("{kind}, seed {seed}")
            } else {
                kind.to_string()
            };
            eprintln!("compare: {which}: ours");
            // Form (b): our model as the project trains it (deskewing, typed
            // digits, distortions, all of it); form (a): the shared configuration.
            let model = if a.best {
                kind.default_model()?
            } else {
                same_config(kind, a.epochs, seed)
            };
            let mut ours = ours(model, split)?;
            eprintln!("compare: {which}: the Python side");
            let mut theirs = theirs(kind, dir, a.epochs, a.best, seed)?;
            if seeded {
                (ours.seed, theirs.seed) = (Some(seed), Some(seed));
            }
            if a.json {
                println!("{}", serde_json::json!({ "ours": ours, "theirs": theirs }));
            }
            pairs.push((ours, theirs));
        }
    }
    Ok(pairs)
}

/// One row per run, and the means of several runs of a model.
fn print_table(pairs: &[(Side, Side)], best: bool, split: &Split) {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut line = |name: &str, a: &Side, b: &Side| {
        rows.push(vec![
            name.to_string(),
            percent(a.test_acc),
            format!("{:.2}", a.fit_s),
            format!("{:.2}", a.predict_s),
            percent(b.test_acc),
            format!("{:.2}", b.fit_s),
            format!("{:.2}", b.predict_s),
            format!("{:.2}", a.fit_s / b.fit_s),
            format!("{:.2}", a.predict_s / b.predict_s),
        ])
    };
    for runs in pairs.chunk_by(|(a, _), (b, _)| a.model == b.model) {
        for (a, b) in runs {
            match a.seed {
                Some(seed) => line(&format!("{} {seed}", a.model), a, b),
                None => line(&a.model, a, b),
            }
        }
        if runs.len() > 1 {
            line(
                &format!("{} mean", runs[0].0.model),
                &Side::mean(runs.iter().map(|(a, _)| a)),
                &Side::mean(runs.iter().map(|(_, b)| b)),
            );
        }
    }
    let header = [
        "model",
        "ours test",
        "fit s",
        "predict s",
        "Python test",
        "fit s",
        "predict s",
        "fit ratio",
        "predict ratio",
    ];
    print!("{}", Table::new(header.map(String::from).to_vec(), rows));
    let mut tools: Vec<&str> = pairs.iter().map(|(_, b)| b.tool.as_str()).collect();
    tools.dedup();
    let form = if best {
        "each side's own recipe"
    } else {
        "the same configuration"
    };
    println!(
        "(same split, {form} on both sides, {} threads; predict = all {} images; ratio = ours / {})",
        rayon::current_num_threads(),
        split.x_train.nrows() + split.x_valid.nrows() + split.x_test.nrows(),
        tools.join(", ")
    );
}

/// The networks: how long our run takes to reach the validation accuracy
/// the other side ends with.
fn print_time_to(pairs: &[(Side, Side)]) {
    for (a, b) in pairs.iter().filter(|(_, b)| !b.epochs.is_empty()) {
        let Some(last) = b.epochs.last() else {
            continue;
        };
        let target = last.valid_acc;
        match a.time_to(target) {
            Some((epoch, t)) => println!(
                "{}: {} reaches {:.2}% on validation after {} epochs, {:.1} s; ours after epoch {epoch}, {t:.1} s (ratio {:.2})",
                a.model,
                b.tool,
                100.0 * target,
                last.epoch,
                b.fit_s,
                t / b.fit_s
            ),
            None => println!(
                "{}: ours never reaches {}'s {:.2}% on validation",
                a.model,
                b.tool,
                100.0 * target
            ),
        }
    }
}

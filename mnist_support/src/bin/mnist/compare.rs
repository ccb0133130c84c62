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
//! This command holds its arguments, runs the Python side and prints; the
//! configurations are the models' own (`ModelKind::as_peers`), the `.npy`
//! files `Split::write_npy`, the records `mnist_support::comparison`.

use std::path::Path;
use std::process::Command;

use mnist_setup as jupyter;
use mnist_support::comparison::{measure, Side, SEEDED};
use mnist_support::config::Config;
use mnist_support::data::Split;
use mnist_support::display::Table;
use mnist_support::metrics::percent;
use mnist_support::models::{Learner, ModelKind};

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
        // The network our side trains, as JSON: compare.py builds the same.
        cmd.arg(kind.as_peers(epochs, seed)?.hyperparameters().to_string());
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

pub fn compare(config: &Config, a: CompareArgs) -> AnyResult<()> {
    let kinds = if a.models.is_empty() {
        DEFAULT.to_vec()
    } else {
        a.models.clone()
    };
    let mut split = Split::load(config)?;
    if let Some(n) = a.subset {
        split = split.head(n, (n / 5).max(100));
        eprintln!("compare: on the first {n} training images only (--subset)");
    }
    let dir = std::env::temp_dir().join(format!("mnist-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = (split.write_npy(&dir).map_err(Into::into))
        .and_then(|()| run_pairs(&kinds, &split, &dir, &a));
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
            let params = if a.best {
                kind.default_params()?
            } else {
                kind.as_peers(a.epochs, seed)?
            };
            let mut ours = measure(&params, split, &Bar::new())?;
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

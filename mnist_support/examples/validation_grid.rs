//! The hyperparameter grids behind the models' defaults, scored on the
//! validation split only (the test split is never looked at here):
//!
//! ```text
//! MNIST_DIR=... cargo run --release --example validation_grid -- softmax|knn|svm|tree|forest
//! MNIST_DIR=... cargo run --release --example validation_grid -- dnn|cnn ['{"epochs": 5, ...}' ...]
//! ```
//! For the networks, each JSON argument overrides fields of the default
//! hyperparameters (one run per argument), and every epoch is printed.
//! (kNN's k and vote are chosen in its notebook too, from one neighbour search.)

use std::time::Instant;

use mnist_support::experiment::{self, ScaledSplit};
use mnist_support::models::cart::Criterion;
use mnist_support::models::AnyParams;
use mnist_support::prelude::*;

fn score(params: impl Into<AnyParams>, split: &Split, label: &str) -> Result<()> {
    let params: AnyParams = params.into();
    let data = ScaledSplit::new(split, params.scaling())?;
    let (model, fit) = if params.kind().is_network() {
        println!("{label}");
        experiment::fit(&params, &data, &PrintProgress::new())?
    } else {
        experiment::fit(&params, &data, &Silent)?
    };
    let pred = model.predict_scaled(data.x_valid.view())?;
    let acc = mnist_support::metrics::accuracy(&data.y_valid.to_vec(), &pred.to_vec())?;
    println!(
        "{label:<50} validation {:.2}%   (fit {fit:.1} s)",
        100.0 * acc
    );
    Ok(())
}

fn main() -> Result<()> {
    let split = Split::load(&mnist_support::config::Config::from_env())?;
    match std::env::args().nth(1).as_deref() {
        Some(net @ ("dnn" | "cnn")) => {
            let base = if net == "dnn" {
                NetParams::dnn()
            } else {
                NetParams::cnn()
            };
            let mut overrides: Vec<String> = std::env::args().skip(2).collect();
            if overrides.is_empty() {
                overrides.push("{}".into());
            }
            for o in overrides {
                let mut v = serde_json::to_value(&base).expect("plain data");
                let patch: serde_json::Value =
                    serde_json::from_str(&o).map_err(|e| Error::Decode {
                        what: format!("JSON {o:?}"),
                        reason: e.to_string(),
                    })?;
                for (k, x) in patch.as_object().into_iter().flatten() {
                    v[k] = x.clone();
                }
                let params: NetParams = serde_json::from_value(v).map_err(|e| Error::Decode {
                    what: format!("network parameters {o:?}"),
                    reason: e.to_string(),
                })?;
                score(params, &split, &format!("{net} {o}"))?;
            }
        }
        Some("softmax") => {
            for scaling in [Scaling::Standard, Scaling::Unit] {
                for alpha in [1.0, 10.0, 30.0, 100.0, 300.0, 1000.0] {
                    let params = SoftmaxParams {
                        alpha,
                        max_iter: 500,
                        scaling,
                        ..SoftmaxParams::default()
                    };
                    score(
                        params,
                        &split,
                        &format!("{scaling:?} pixels, alpha {alpha}"),
                    )?;
                }
            }
        }
        Some("svm") => {
            for (c, gamma) in [
                (5.0, 0.07),
                (5.0, 0.05),
                (10.0, 0.05),
                (5.0, 0.03),
                (10.0, 0.03),
                (5.0, 0.02),
                (10.0, 0.02),
                (5.0, 0.015),
            ] {
                let params = SvmParams {
                    c,
                    gamma,
                    components: 0,
                    ..SvmParams::default()
                };
                score(
                    params,
                    &split,
                    &format!("min-max pixels, C {c}, gamma {gamma}"),
                )?;
            }
            // In principal directions of the (deskewed, min-max) pixels.
            for (components, gamma) in [(40, 0.02), (50, 0.02), (60, 0.02), (50, 0.015), (50, 0.03)]
            {
                let params = SvmParams {
                    gamma,
                    components,
                    ..SvmParams::default()
                };
                score(
                    params,
                    &split,
                    &format!("{components} principal directions, C 5, gamma {gamma}"),
                )?;
            }
        }
        Some("knn") => {
            // Each number of principal directions (0: pixels), and k and the
            // vote chosen as the notebook chooses them, from one search.
            for components in [0, 30, 40, 50, 60] {
                let params = KnnParams {
                    components,
                    ..KnnParams::default()
                };
                let data = ScaledSplit::new(&split, params.scaling())?;
                let (model, _) = experiment::fit(&params, &data, &Silent)?;
                let t = Instant::now();
                let c = model.choose_k(
                    data.x_valid.view(),
                    data.y_valid.view(),
                    &[1, 2, 3, 4, 5, 6, 7, 8, 10],
                )?;
                println!(
                    "{components:>2} principal directions (0: pixels): k = {}, {:?} votes, validation {:.2}%   (search {:.1} s)",
                    c.k,
                    c.weighting,
                    100.0 * c.accuracy,
                    t.elapsed().as_secs_f64()
                );
            }
        }
        Some("tree") => {
            for criterion in [Criterion::Gini, Criterion::Entropy] {
                for leaf in [1, 2, 3, 5] {
                    let mut params = DecisionTreeParams::default();
                    params.tree.criterion = criterion;
                    params.tree.min_samples_leaf = leaf;
                    score(
                        params,
                        &split,
                        &format!("{criterion:?}, min_samples_leaf {leaf}"),
                    )?;
                }
            }
        }
        Some("forest") => {
            for n_trees in [100, 200, 300] {
                for features in [28, 40] {
                    let mut params = ForestParams {
                        n_trees,
                        ..ForestParams::default()
                    };
                    params.tree.max_features = Some(features);
                    score(
                        params,
                        &split,
                        &format!("{n_trees} trees, {features} features per split"),
                    )?;
                }
            }
        }
        _ => {
            return Err(Error::UnknownName {
                what: "grid",
                name: std::env::args().nth(1).unwrap_or_default(),
                choices: "usage: validation_grid softmax|knn|svm|tree|forest|dnn|cnn".into(),
            })
        }
    }
    Ok(())
}

//! The hyperparameter grids behind the models' defaults, scored on the
//! validation split only (the test split is never looked at here):
//!
//! ```text
//! MNIST_DIR=... cargo run --release --example validation_grid -- softmax|svm|tree|forest
//! ```
//! (kNN chooses k in its notebook, from one neighbour search.)

use std::time::Instant;

use mnist_support::experiment::{self, Scaled};
use mnist_support::models::cart::Criterion;
use mnist_support::prelude::*;

fn score(model: &mut dyn Classifier, split: &Split, label: &str) -> Result<()> {
    let data = Scaled::new(split, model.scaling())?;
    let t = Instant::now();
    experiment::fit(model, &data, &Silent)?;
    let fit = t.elapsed().as_secs_f64();
    let pred = model.predict_scaled(data.x_valid.view())?;
    let acc = mnist_support::metrics::accuracy(&data.y_valid.to_vec(), &pred.to_vec())?;
    println!(
        "{label:<50} validation {:.2}%   (fit {fit:.1} s)",
        100.0 * acc
    );
    Ok(())
}

fn main() -> Result<()> {
    let split = Split::load()?;
    match std::env::args().nth(1).as_deref() {
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
                        &mut Softmax::new(params),
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
                    ..SvmParams::default()
                };
                score(
                    &mut Svm::new(params),
                    &split,
                    &format!("min-max pixels, C {c}, gamma {gamma}"),
                )?;
            }
        }
        Some("tree") => {
            for criterion in [Criterion::Gini, Criterion::Entropy] {
                for leaf in [1, 2, 3, 5] {
                    let mut params = DecisionTreeParams::default();
                    params.tree.criterion = criterion;
                    params.tree.min_samples_leaf = leaf;
                    score(
                        &mut DecisionTree::new(params),
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
                        &mut Forest::new(params),
                        &split,
                        &format!("{n_trees} trees, {features} features per split"),
                    )?;
                }
            }
        }
        _ => {
            return Err(Error::Param(
                "usage: validation_grid softmax|svm|tree|forest".into(),
            ))
        }
    }
    Ok(())
}

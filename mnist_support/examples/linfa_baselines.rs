//! Measures the card's linfa learners on MNIST, for the README's dependency table:
//!
//! ```text
//! MNIST_DIR=... cargo run --release --example linfa_baselines -- logistic   # linfa-logistic, 100 L-BFGS iterations, f64 and f32
//! MNIST_DIR=... cargo run --release --example linfa_baselines -- trees      # linfa-trees on 2,500 / 5,000 / 10,000 images
//! MNIST_DIR=... cargo run --release --example linfa_baselines -- nn         # linfa-nn: 500 queries against all 55,000 training images
//! ```

use std::time::Instant;

use linfa::prelude::*;
use linfa_logistic::MultiLogisticRegression;
use linfa_trees::DecisionTree;
use mnist_support::prelude::*;

fn test_accuracy<T: PartialEq<usize>>(pred: &Array1<T>, y: &Array1<u8>) -> f64 {
    pred.iter()
        .zip(y)
        .filter(|(p, y)| **p == **y as usize)
        .count() as f64
        / y.len() as f64
}

type AnyResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn logistic(split: &Split) -> AnyResult {
    let scaler = Scaler::fit(Scaling::Standard, &split.x_train.view())?;
    let x32 = scaler.transform(&split.x_train.view())?;
    let t32 = scaler.transform(&split.x_test.view())?;
    let y: Array1<usize> = split.y_train.mapv(|v| v as usize);
    let t = Instant::now();
    let model = MultiLogisticRegression::default()
        .alpha(1.0)
        .max_iterations(100)
        .fit(&Dataset::new(x32.mapv(f64::from), y.clone()))?;
    let acc = test_accuracy(&model.predict(&t32.mapv(f64::from)), &split.y_test);
    println!(
        "linfa-logistic f64, alpha 1, 100 iterations: fit {:.1} s, test accuracy {:.4}",
        t.elapsed().as_secs_f64(),
        acc
    );
    let t = Instant::now();
    let model = MultiLogisticRegression::default()
        .alpha(1.0f32)
        .max_iterations(100)
        .fit(&Dataset::new(x32, y))?;
    let acc = test_accuracy(&model.predict(&t32), &split.y_test);
    println!(
        "linfa-logistic f32, alpha 1, 100 iterations: fit {:.1} s, test accuracy {:.4}",
        t.elapsed().as_secs_f64(),
        acc
    );
    Ok(())
}

fn trees(split: &Split) -> AnyResult {
    let xt = split.x_test.mapv(f64::from);
    for n in [2500usize, 5000, 10000] {
        let x = split.x_train.slice(s![..n, ..]).mapv(f64::from);
        let y: Array1<usize> = split.y_train.slice(s![..n]).mapv(|v| v as usize);
        let t = Instant::now();
        let model = DecisionTree::params()
            .max_depth(None)
            .fit(&Dataset::new(x, y))?;
        let fit = t.elapsed().as_secs_f64();
        let acc = test_accuracy(&model.predict(&xt), &split.y_test);
        println!(
            "linfa-trees on the first {n} training images: fit {fit:.1} s, test accuracy {acc:.4}"
        );
    }
    Ok(())
}

fn nn(split: &Split) -> AnyResult {
    use linfa_nn::{distance::L2Dist, CommonNearestNeighbour, NearestNeighbour};
    let train = split.x_train.mapv(|v| v / 255.0);
    let queries = split.x_test.slice(s![..500, ..]).mapv(|v| v / 255.0);
    let algorithms = [
        ("linear search", CommonNearestNeighbour::LinearSearch),
        ("k-d tree", CommonNearestNeighbour::KdTree),
        ("ball tree", CommonNearestNeighbour::BallTree),
    ];
    for (name, algo) in algorithms {
        let t = Instant::now();
        let index = algo.from_batch(&train, L2Dist)?;
        let built = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for q in queries.rows() {
            index.k_nearest(q, 4)?;
        }
        let per = t.elapsed().as_secs_f64() / 500.0;
        println!("linfa-nn {name}: build {built:.1} s, {:.1} ms per query (4 neighbours) -> {:.0} s for 65,000 queries", per * 1e3, per * 65000.0);
    }
    Ok(())
}

fn main() -> AnyResult {
    let split = Split::load(&mnist_support::config::Config::from_env())?;
    match std::env::args().nth(1).as_deref() {
        Some("logistic") => logistic(&split),
        Some("trees") => trees(&split),
        Some("nn") => nn(&split),
        _ => Err("usage: linfa_baselines logistic|trees|nn".into()),
    }
}

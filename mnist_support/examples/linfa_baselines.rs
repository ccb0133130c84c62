//! Measures the card's linfa learners on MNIST, for the README's dependency table:
//!
//! ```text
//! MNIST_DIR=... cargo run --release --example linfa_baselines -- logistic   # linfa-logistic, 100 L-BFGS iterations, f64 and f32
//! MNIST_DIR=... cargo run --release --example linfa_baselines -- trees      # linfa-trees on 2,500 / 5,000 / 10,000 images
//! ```

use std::time::Instant;

use linfa::prelude::*;
use linfa_logistic::MultiLogisticRegression;
use linfa_trees::DecisionTree;
use mnist_support::prelude::*;

fn test_accuracy<T: PartialEq<usize>>(pred: &Array1<T>, y: &Array1<u8>) -> f64 {
    pred.iter().zip(y).filter(|(p, y)| **p == **y as usize).count() as f64 / y.len() as f64
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
    println!("linfa-logistic f64, alpha 1, 100 iterations: fit {:.1} s, test accuracy {:.4}", t.elapsed().as_secs_f64(), acc);
    let t = Instant::now();
    let model = MultiLogisticRegression::default()
        .alpha(1.0f32)
        .max_iterations(100)
        .fit(&Dataset::new(x32, y))?;
    let acc = test_accuracy(&model.predict(&t32), &split.y_test);
    println!("linfa-logistic f32, alpha 1, 100 iterations: fit {:.1} s, test accuracy {:.4}", t.elapsed().as_secs_f64(), acc);
    Ok(())
}

fn trees(split: &Split) -> AnyResult {
    let xt = split.x_test.mapv(f64::from);
    for n in [2500usize, 5000, 10000] {
        let x = split.x_train.slice(s![..n, ..]).mapv(f64::from);
        let y: Array1<usize> = split.y_train.slice(s![..n]).mapv(|v| v as usize);
        let t = Instant::now();
        let model = DecisionTree::params().max_depth(None).fit(&Dataset::new(x, y))?;
        let fit = t.elapsed().as_secs_f64();
        let acc = test_accuracy(&model.predict(&xt), &split.y_test);
        println!("linfa-trees on the first {n} training images: fit {fit:.1} s, test accuracy {acc:.4}");
    }
    Ok(())
}

fn main() -> AnyResult {
    let split = Split::load()?;
    match std::env::args().nth(1).as_deref() {
        Some("logistic") => logistic(&split),
        Some("trees") => trees(&split),
        _ => Err("usage: linfa_baselines logistic|trees".into()),
    }
}

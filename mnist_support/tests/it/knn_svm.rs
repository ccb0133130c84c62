//! kNN's choice of k and the SVM on synthetic digits, through the public API
//! (the search against brute force and the SMO solver are tested in their
//! modules).

use crate::common;

use mnist_support::experiment::{self, ScaledSplit};
use mnist_support::models::{Classifier, Knn, KnnParams, Learner, Params, Silent, SvmParams};
use ndarray::Array1;

#[test]
fn knn_chooses_k_on_validation_and_rejects_non_byte_pixels() {
    let split = common::synthetic_split(400, 100, 9);
    let params = KnnParams::default();
    let data = ScaledSplit::new(&split, params.scaling()).unwrap();
    let (model, _): (Knn, f64) = experiment::fit(&params, &data, &Silent).unwrap();
    let choice = model
        .choose_k(data.x_valid.view(), data.y_valid.view(), &[1, 3, 5])
        .unwrap();
    assert_eq!(choice.rows.len(), 6);
    let best = choice.rows.iter().map(|r| r.2).fold(0.0, f64::max);
    assert_eq!(choice.accuracy, best);
    assert_eq!(choice.table().rows.len(), 3);
    // Fractional pixels cannot be stored as bytes: a clear error, not a lossy save.
    let mut x = split.x_train.clone();
    x[[0, 0]] = 0.5;
    // (Without deskewing: a deskewing scaler rounds what it interpolates.)
    let err = KnnParams {
        scaling: mnist_support::scale::Scaling::Unit,
        ..KnnParams::default()
    }
    .fit(x.view(), split.y_train.view(), &Silent)
    .unwrap_err();
    assert!(err.to_string().contains("whole numbers"), "{err}");
}

#[test]
fn svm_separates_synthetic_digits_and_reloads_identically() {
    let split = common::synthetic_split(500, 200, 21);
    let model = SvmParams::default()
        .fit(split.x_train.view(), split.y_train.view(), &Silent)
        .unwrap();
    let pred = model.predict(split.x_test.view()).unwrap();
    let acc = pred
        .iter()
        .zip(&split.y_test)
        .filter(|(p, y)| p == y)
        .count() as f64
        / 200.0;
    assert!(acc > 0.95, "accuracy {acc}");
    let machine = model.fitted();
    assert_eq!(machine.pairs.len(), 45);
    // The prediction is the majority of the 45 pairwise votes.
    let scaled = model.scaler().transform(&split.x_test.view()).unwrap();
    let f = machine
        .decision(scaled.view(), model.params().gamma as f32)
        .unwrap();
    for (i, row) in f.rows().into_iter().enumerate() {
        let mut votes = [0; 10];
        for (pair, &v) in machine.pairs.iter().zip(row) {
            votes[if v > 0.0 { pair.a } else { pair.b } as usize] += 1;
        }
        let top = *votes.iter().max().unwrap();
        assert_eq!(votes[pred[i] as usize], top, "row {i}");
    }
    let payload = model.to_bytes().unwrap();
    let back = model
        .params()
        .load_saved(
            &model.hyperparameters(),
            model.scaler().clone(),
            &payload,
            None,
        )
        .unwrap();
    assert_eq!(
        back.predict_proba(split.x_test.view()).unwrap(),
        model.predict_proba(split.x_test.view()).unwrap()
    );
    // Training needs two digits (typed digits would add the others) and positive C/gamma.
    let y1 = Array1::from_elem(500, 3u8);
    let digits_only = SvmParams {
        augment: mnist_support::augment::Augment::NONE,
        ..SvmParams::default()
    };
    assert!(matches!(
        digits_only.fit(split.x_train.view(), y1.view(), &Silent),
        Err(mnist_support::Error::InvalidData(_))
    ));
    let bad = SvmParams {
        gamma: 0.0,
        ..SvmParams::default()
    };
    assert!(matches!(
        bad.fit(split.x_train.view(), split.y_train.view(), &Silent),
        Err(mnist_support::Error::InvalidHyperparameter { name: "gamma", .. })
    ));
    // More principal directions than pixels, for either model: a clear error before any work.
    let too_many = SvmParams {
        components: 785,
        ..SvmParams::default()
    };
    assert!(matches!(
        too_many.fit(split.x_train.view(), split.y_train.view(), &Silent),
        Err(mnist_support::Error::InvalidHyperparameter {
            name: "components",
            ..
        })
    ));
    let too_many = KnnParams {
        components: 785,
        ..KnnParams::default()
    };
    assert!(matches!(
        too_many.fit(split.x_train.view(), split.y_train.view(), &Silent),
        Err(mnist_support::Error::InvalidHyperparameter {
            name: "components",
            ..
        })
    ));
}

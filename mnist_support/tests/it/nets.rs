//! The DNN and CNN (tch) beyond the contract every model meets (tests/it/models.rs):
//! per-epoch history and best-epoch selection on validation, seeded runs,
//! saved weights that reload with identical logits, mismatched and corrupt
//! weight files, the training-curve figure in the report. Small data, few epochs.

#![cfg(feature = "torch")]

use crate::common;

use mnist_support::data::Split;
use mnist_support::display::Rich;
use mnist_support::experiment::{self, ScaledSplit};
use mnist_support::models::{
    Classifier, Learner, ModelKind, NetParams, Network, Networks, Params, Silent,
};
use mnist_support::scale::Scaler;
use mnist_support::store::Store;

/// Small and quick: 2 epochs, batches of 32.
fn small(base: NetParams) -> NetParams {
    NetParams {
        epochs: 2,
        batch_size: 32,
        ..base
    }
}

fn train(params: NetParams, split: &Split) -> (Network, ScaledSplit) {
    let data = ScaledSplit::new(split, params.scaling()).unwrap();
    let (model, _) = experiment::fit(&params, &data, &Silent).unwrap();
    (model, data)
}

/// The network saved as `payload` with `params` (what the store does with a card).
fn load(params: &NetParams, scaler: &Scaler, payload: &[u8]) -> mnist_support::Result<Network> {
    params.load_saved(&params.hyperparameters(), scaler.clone(), payload, None)
}

#[test]
fn history_records_every_epoch_and_keeps_the_best_on_validation() {
    let split = common::synthetic_split(400, 100, 21);
    for base in [NetParams::dnn(), NetParams::cnn()] {
        // The synthetic classes alone: typed digits (real digit shapes, put
        // through the preprocessing) would be a second task mixed in.
        let params = NetParams {
            epochs: 3,
            typed: 0,
            ..small(base)
        };
        let (model, data) = train(params.clone(), &split);
        let h = model
            .history()
            .expect("a fitted network has a history")
            .clone();
        assert_eq!(h.epochs.len(), 3);
        assert_eq!(
            h.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert!(h.threads >= 1 && !h.device.is_empty());
        for e in &h.epochs {
            assert!(e.loss.is_finite() && e.loss > 0.0, "{e:?}");
            assert!((0.0..=1.0).contains(&e.train_accuracy), "{e:?}");
            assert!(e.seconds > 0.0);
        }
        // The kept epoch is the latest within one validation image of the
        // best so far (a tie or a one-image lead is noise)...
        let valid: Vec<f64> = h.epochs.iter().map(|e| e.valid_accuracy.unwrap()).collect();
        let one_image = 1.0 / data.y_valid.len() as f64;
        let mut top = f64::MIN;
        let mut expected = 0;
        for (i, &v) in valid.iter().enumerate() {
            if v >= top - 1.5 * one_image {
                expected = i + 1;
            }
            top = top.max(v);
        }
        assert_eq!(h.best_epoch, expected, "{valid:?}");
        let best = valid[expected - 1];
        assert!(best >= top - 1.5 * one_image, "{valid:?}");
        // ... and the model's weights are that epoch's: its validation accuracy now.
        let pred = model.predict_scaled(data.x_valid.view()).unwrap();
        let now = pred
            .iter()
            .zip(&data.y_valid)
            .filter(|(a, b)| a == b)
            .count() as f64
            / data.y_valid.len() as f64;
        assert_eq!(now, best, "{:?}", params.conv);
        // The learning rate decays to about zero (one-cycle), and it learned something.
        assert!(h.epochs[2].learning_rate < 0.01 * params.learning_rate);
        assert!(best > 0.3, "{:?}: validation accuracy {best}", params.conv);

        // The report carries the history and shows the training curves.
        let report = experiment::evaluate(&model, &data, 1.0, &Silent).unwrap();
        assert_eq!(report.history.as_ref(), Some(&h));
        let fig = report.training_curves().unwrap().unwrap();
        assert_eq!((fig.width, fig.height), mnist_support::plot::CURVES_SIZE);
        let html = &report.bundle()[0].1;
        assert_eq!(html.matches("data:image/png;base64,").count(), 2);
        assert!(report
            .training_summary()
            .unwrap()
            .contains("kept the weights of epoch"));
        let back: experiment::Report = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(back, report);
    }
}

#[test]
fn without_a_validation_split_the_last_epoch_is_kept() {
    let split = common::synthetic_split(200, 50, 4);
    let model = small(NetParams::dnn())
        .fit(split.x_train.view(), split.y_train.view(), &Silent)
        .unwrap();
    let h = model.history().unwrap();
    assert_eq!(h.best_epoch, 2);
    assert!(h.epochs.iter().all(|e| e.valid_accuracy.is_none()));
}

#[test]
fn the_same_seed_gives_the_same_network_and_another_seed_does_not() {
    let split = common::synthetic_split(300, 60, 8);
    for base in [NetParams::dnn(), NetParams::cnn()] {
        let (a, data) = train(small(base.clone()), &split);
        let (b, _) = train(small(base.clone()), &split);
        let la = a.logits(data.x_test.view()).unwrap();
        assert_eq!(la, b.logits(data.x_test.view()).unwrap());
        assert_eq!(a.history().unwrap().epochs.len(), 2);
        let a_loss: Vec<f64> = a.history().unwrap().epochs.iter().map(|e| e.loss).collect();
        let b_loss: Vec<f64> = b.history().unwrap().epochs.iter().map(|e| e.loss).collect();
        assert_eq!(a_loss, b_loss);
        let (c, _) = train(
            NetParams {
                seed: 7,
                ..small(base)
            },
            &split,
        );
        assert_ne!(la, c.logits(data.x_test.view()).unwrap());
    }
}

#[test]
fn saved_networks_reload_with_identical_logits() {
    let split = common::synthetic_split(300, 60, 9);
    for base in [NetParams::dnn(), NetParams::cnn()] {
        let (model, data) = train(small(base), &split);
        let name = model.kind().name();
        let mut report = experiment::evaluate(&model, &data, 1.0, &Silent).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let saved = Store::new(dir.path())
            .save(&model, &mut report, &data)
            .unwrap();
        let curves = saved.curves.expect("networks save their training curves");
        assert!(std::fs::read(&curves).unwrap().starts_with(b"\x89PNG"));
        let (loaded, card) = Store::new(dir.path()).load(name).unwrap();
        assert_eq!(card.hyperparameters, model.hyperparameters());
        // Identical logits, through the restored network itself.
        let payload = model.to_bytes().unwrap();
        let params: NetParams = serde_json::from_value(card.hyperparameters.clone()).unwrap();
        let restored = load(&params, model.scaler(), &payload).unwrap();
        assert_eq!(
            restored.logits(data.x_test.view()).unwrap(),
            model.logits(data.x_test.view()).unwrap()
        );
        assert_eq!(
            loaded.predict_proba(split.x_test.view()).unwrap(),
            model.predict_proba(split.x_test.view()).unwrap()
        );
        // The payload is a safetensors file with every weight and batch-norm statistic.
        let st = safetensors::SafeTensors::deserialize(&payload).unwrap();
        let names = st.names();
        assert!(
            names.iter().any(|n| n.ends_with("running_mean")),
            "{names:?}"
        );
        assert!(names.iter().any(|n| n.starts_with("out")), "{names:?}");
    }
}

#[test]
fn mismatched_and_corrupt_weights_are_clear_errors() {
    let split = common::synthetic_split(200, 40, 10);
    let (dnn, _) = train(small(NetParams::dnn()), &split);
    let payload = dnn.to_bytes().unwrap();
    let scaler = dnn.scaler().clone();

    // The DNN's weights with the CNN's architecture.
    let err = load(&NetParams::cnn(), &scaler, &payload)
        .unwrap_err()
        .to_string();
    assert!(err.contains("another architecture"), "{err}");
    // The same tensor names with other widths.
    let wider = NetParams {
        hidden: vec![512, 300],
        ..NetParams::dnn()
    };
    let err = load(&wider, &scaler, &payload).unwrap_err().to_string();
    assert!(err.contains("the network needs F32 [300"), "{err}");
    // Hyperparameters of the other kind.
    let dnn_params = serde_json::to_value(NetParams::dnn()).unwrap();
    let err = NetParams::cnn()
        .load_saved(&dnn_params, scaler.clone(), &payload, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("describe a dnn model"), "{err}");
    // Not safetensors at all.
    let err = load(&NetParams::dnn(), &scaler, b"\x00\x01garbage")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a safetensors file"), "{err}");
    // A NaN weight.
    let st = safetensors::SafeTensors::deserialize(&payload).unwrap();
    let view = st.tensor("out.bias").unwrap();
    let start = payload
        .windows(view.data().len())
        .position(|w| w == view.data())
        .unwrap();
    let mut nan = payload.clone();
    nan[start..start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let err = load(&NetParams::dnn(), &scaler, &nan)
        .unwrap_err()
        .to_string();
    assert!(err.contains("NaN"), "{err}");
    // Impossible hyperparameters in the metadata.
    let bad = NetParams {
        epochs: 0,
        ..NetParams::dnn()
    };
    assert!(load(&bad, &scaler, &payload).is_err());
}

#[test]
fn bad_hyperparameters_are_errors_before_training() {
    let split = common::synthetic_split(50, 10, 2);
    for bad in [
        NetParams {
            epochs: 0,
            ..NetParams::dnn()
        },
        NetParams {
            batch_size: 0,
            ..NetParams::dnn()
        },
        NetParams {
            learning_rate: -1.0,
            ..NetParams::dnn()
        },
        NetParams {
            dropout: 1.0,
            ..NetParams::dnn()
        },
        NetParams {
            distort: mnist_support::augment::Distort {
                shift: 14.0,
                ..mnist_support::augment::Distort::NONE
            },
            ..NetParams::cnn()
        },
        NetParams {
            conv: vec![vec![8]; 5],
            ..NetParams::cnn()
        },
        NetParams {
            hidden: vec![0],
            ..NetParams::dnn()
        },
    ] {
        let err = bad.fit(split.x_train.view(), split.y_train.view(), &Silent);
        assert!(err.is_err(), "{bad:?}");
    }
}

#[test]
fn quick_mode_trains_one_epoch() {
    assert_eq!(NetParams::cnn().quick(false), NetParams::cnn());
    assert_eq!(NetParams::cnn().quick(true).epochs, 1);
}

/// Every image's class probabilities from candle and from libtorch, for the
/// same network saved as `name` in `dir`: the same digit for every image,
/// probabilities within 1e-4.
fn assert_candle_matches(
    dir: &std::path::Path,
    name: &str,
    x: ndarray::ArrayView2<f32>,
    what: &str,
) {
    let (tch, _) = Store::new(dir).load(name).unwrap();
    let (candle, _) = Store::new(dir)
        .networks_on(Networks::Candle)
        .load(name)
        .unwrap();
    assert_eq!(tch.runtime(), "libtorch");
    assert_eq!(candle.runtime(), "candle");
    let (a, b) = (
        tch.predict_proba(x).unwrap(),
        candle.predict_proba(x).unwrap(),
    );
    let diff = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (u, v)| m.max((u - v).abs()));
    assert!(diff <= 1e-4, "{what}: probabilities differ by {diff}");
    let (pa, pb) = (
        mnist_support::models::argmax_rows(&a),
        mnist_support::models::argmax_rows(&b),
    );
    let differ = pa.iter().zip(&pb).filter(|(u, v)| u != v).count();
    assert_eq!(differ, 0, "{what}: {differ} of {} digits differ", x.nrows());
}

/// candle runs the networks libtorch trained exactly: on all 5,000 test
/// images and on the held-out real inputs (preprocessed as the server does),
/// for a DNN and a CNN trained briefly here, and for the project's saved
/// DNN and CNN when `models/` holds them.
#[test]
#[ignore = "needs MNIST_DIR"]
fn candle_predicts_what_libtorch_predicts() {
    let data = common::real_data_dir();
    let split = Split::load_from(&data).unwrap();
    let real: Vec<f32> =
        mnist_support::real_inputs::generate(&split, mnist_support::real_inputs::Set::Heldout, 25)
            .unwrap()
            .iter()
            .filter_map(|s| s.to_mnist())
            .flatten()
            .collect();
    let real = ndarray::Array2::from_shape_vec((real.len() / 784, 784), real).unwrap();
    assert!(real.nrows() >= 90, "{} real inputs", real.nrows());
    let small_split = split.head(3000, 500);
    let here = tempfile::tempdir().unwrap();
    let mut nets: Vec<(String, std::path::PathBuf, ModelKind)> = Vec::new();
    for base in [NetParams::dnn(), NetParams::cnn()] {
        let kind = base.kind();
        mnist_support::pipeline::run(
            &Store::new(here.path()),
            &small(base),
            &small_split,
            &Silent,
        )
        .unwrap();
        nets.push((format!("{kind} trained here"), here.path().into(), kind));
    }
    let config = mnist_support::config::Config::from_env();
    for kind in [ModelKind::Dnn, ModelKind::Cnn] {
        if Store::from_config(&config).card(kind.name()).is_ok() {
            nets.push((format!("saved {kind}"), config.models_dir.clone(), kind));
        }
    }
    for (what, dir, kind) in &nets {
        let name = kind.name();
        assert_candle_matches(
            dir,
            name,
            split.x_test.view(),
            &format!("{what}, test split"),
        );
        assert_candle_matches(dir, name, real.view(), &format!("{what}, real inputs"));
    }
}

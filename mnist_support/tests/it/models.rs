//! The Classifier contract, checked for every model on small synthetic data:
//! shapes, probabilities, save → load → identical predictions, bad input and
//! corrupt model files give errors.

use crate::common;

use mnist_support::data::Split;
use mnist_support::experiment::{self, ScaledSplit};
use mnist_support::models::{AnyParams, Classifier, Learner, ModelKind, Params, Silent};
use mnist_support::store::{Freshness, Store};
use ndarray::Array2;

fn small_model(kind: ModelKind) -> AnyParams {
    // Default hyperparameters, except where they only make sense at full
    // scale or on real digits (no distortions of the random patterns).
    common::quick_model_with(kind, false)
}

fn trained(kind: ModelKind, split: &Split) -> (Box<dyn Classifier>, ScaledSplit) {
    let params = small_model(kind);
    let data = ScaledSplit::new(split, params.scaling()).unwrap();
    let (model, _) = experiment::fit(&params, &data, &Silent).unwrap();
    (model, data)
}

#[test]
fn every_model_meets_the_contract() {
    let split = common::synthetic_split(600, 200, 7);
    for &kind in ModelKind::ALL {
        let (model, data) = trained(kind, &split);
        // Shapes, probabilities, argmax.
        let proba = model.predict_proba(split.x_test.view()).unwrap();
        assert_eq!(proba.dim(), (200, 10), "{kind}");
        for row in proba.rows() {
            let s: f32 = row.sum();
            assert!((s - 1.0).abs() < 1e-4, "{kind}: row sums to {s}");
            assert!(
                row.iter().all(|&p| (0.0..=1.0).contains(&p)),
                "{kind}: {row:?}"
            );
        }
        let pred = model.predict(split.x_test.view()).unwrap();
        assert_eq!(pred.len(), 200);
        assert_eq!(pred, mnist_support::models::argmax_rows(&proba), "{kind}");
        // Raw-pixel entry points and the scaled ones agree.
        assert_eq!(
            pred,
            model.predict_scaled(data.x_test.view()).unwrap(),
            "{kind}"
        );
        // It learns the synthetic problem (chance is 0.1; one tree on 600 noisy
        // images reaches about 0.7, the other models over 0.9; the networks,
        // after their one epoch of 38 steps here, about 0.55).
        let report = experiment::evaluate(&model, &data, 0.0, &Silent).unwrap();
        let test_acc = report.accuracy(mnist_support::data::Part::Test).unwrap();
        let bar = if kind.is_network() { 0.4 } else { 0.6 };
        assert!(test_acc > bar, "{kind}: test accuracy {test_acc}");
        assert_eq!(
            report.parts.iter().map(|p| p.images).collect::<Vec<_>>(),
            vec![600, 200, 200]
        );

        // Save → load → identical probabilities.
        let dir = tempfile::tempdir().unwrap();
        let mut report = report;
        let saved = Store::new(dir.path())
            .save(&model, &mut report, &data)
            .unwrap();
        assert!(saved.model.exists() && saved.card.exists() && saved.confusion.exists());
        let (loaded, card) = Store::new(dir.path()).load(kind.name()).unwrap();
        assert_eq!(card.kind, kind);
        assert_eq!(card.report, report);
        assert_eq!(card.scaler, *model.scaler());
        let again = loaded.predict_proba(split.x_test.view()).unwrap();
        assert_eq!(again, proba, "{kind}: reloaded probabilities differ");
        assert_eq!(
            loaded.predict(split.x_valid.view()).unwrap(),
            model.predict(split.x_valid.view()).unwrap()
        );

        corrupt_files_are_errors(kind, dir.path());
        truncated_payloads_are_errors(kind, model.as_ref());
    }
}

fn corrupt_files_are_errors(kind: ModelKind, dir: &std::path::Path) {
    let name = kind.name();
    let card_path = dir.join(format!("{name}.json"));
    let card_text = std::fs::read_to_string(&card_path).unwrap();
    let card: mnist_support::store::ModelCard = serde_json::from_str(&card_text).unwrap();
    let model_path = dir.join(&card.model_file);
    let good = std::fs::read(&model_path).unwrap();

    // A flipped byte in the parameters.
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x55;
    std::fs::write(&model_path, &bad).unwrap();
    let err = Store::new(dir)
        .load(name)
        .expect_err("corrupt file must not load")
        .to_string();
    assert!(err.contains("checksum"), "{kind}: {err}");

    // Truncated file.
    std::fs::write(&model_path, &good[..good.len() / 2]).unwrap();
    assert!(
        Store::new(dir).load(name).is_err(),
        "{kind}: truncated file loaded"
    );

    // Missing file.
    std::fs::remove_file(&model_path).unwrap();
    let err = Store::new(dir)
        .load(name)
        .expect_err("missing file")
        .to_string();
    assert!(err.contains(&card.model_file), "{kind}: {err}");
    std::fs::write(&model_path, &good).unwrap();
    assert!(Store::new(dir).load(name).is_ok());

    // Corrupt metadata.
    std::fs::write(&card_path, &card_text[..card_text.len() / 2]).unwrap();
    assert!(Store::new(dir).load(name).is_err());
    std::fs::write(&card_path, &card_text).unwrap();
}

/// The parameter decoder itself rejects every truncation (and never panics).
fn truncated_payloads_are_errors(kind: ModelKind, model: &dyn Classifier) {
    let payload = model.to_bytes().unwrap();
    let load = |bytes: &[u8]| {
        small_model(kind).load_saved(
            &model.hyperparameters(),
            model.scaler().clone(),
            bytes,
            None,
        )
    };
    assert!(load(&payload).is_ok(), "{kind}: the whole payload loads");
    let step = (payload.len() / 97).max(1);
    for cut in (0..payload.len()).step_by(step) {
        assert!(
            load(&payload[..cut]).is_err(),
            "{kind}: payload cut at {cut} of {} restored",
            payload.len()
        );
    }
    let mut longer = payload.clone();
    longer.push(0);
    assert!(load(&longer).is_err());
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let split = common::synthetic_split(100, 20, 3);
    for &kind in ModelKind::ALL {
        let params = small_model(kind);
        // Label out of range, mismatched lengths, wrong width, NaN.
        let mut y = split.y_train.clone();
        y[3] = 10;
        assert!(
            params.fit(split.x_train.view(), y.view(), &Silent).is_err(),
            "{kind}: label 10"
        );
        assert!(
            params
                .fit(split.x_train.view(), split.y_valid.view(), &Silent)
                .is_err(),
            "{kind}: lengths"
        );
        let narrow = Array2::<f32>::zeros((100, 783));
        assert!(
            params
                .fit(narrow.view(), split.y_train.view(), &Silent)
                .is_err(),
            "{kind}: 783 columns"
        );
        let model = params
            .fit(split.x_train.view(), split.y_train.view(), &Silent)
            .unwrap();
        assert!(
            model.predict(narrow.view()).is_err(),
            "{kind}: predict 783 columns"
        );
        let mut nan = split.x_test.clone();
        nan[[0, 5]] = f32::NAN;
        assert!(model.predict(nan.view()).is_err(), "{kind}: NaN pixel");
        let none = Array2::<f32>::zeros((0, 784));
        assert_eq!(
            model.predict(none.view()).unwrap().len(),
            0,
            "{kind}: zero rows predict to zero labels"
        );
    }
}

#[test]
fn names_and_kinds() {
    for &kind in ModelKind::ALL {
        assert_eq!(kind.name().parse::<ModelKind>().unwrap(), kind);
    }
    let err = "perceptron".parse::<ModelKind>().unwrap_err().to_string();
    assert!(err.contains("softmax"), "{err}");
    assert!(mnist_support::store::check_name("../etc").is_err());
    assert!(mnist_support::store::check_name("").is_err());
    assert!(mnist_support::store::check_name("softmax-v2_1").is_ok());
}

#[test]
fn report_renders_and_serializes() {
    let split = common::synthetic_split(300, 100, 11);
    let (model, data) = trained(ModelKind::Softmax, &split);
    let report = experiment::evaluate(&model, &data, 1.5, &Silent).unwrap();
    let acc = report.accuracy_table();
    assert_eq!(acc.rows.len(), 1);
    assert_eq!(acc.header.len(), 6);
    let per = report.per_class_table();
    assert_eq!(per.rows.len(), 10);
    assert_eq!(per.header, vec!["digit", "train", "valid", "test"]);
    // "correct / total = pct" per class, consistent with the confusion matrix.
    let cm = &report.parts[2].confusion;
    let (c, t) = cm.per_class()[4];
    assert!(
        per.rows[4][3].starts_with(&format!("{c} / {t} = ")),
        "{}",
        per.rows[4][3]
    );
    let fig = report.confusion_figure().unwrap();
    assert_eq!(
        (fig.width, fig.height),
        mnist_support::plot::confusion_size(3)
    );
    assert_eq!(&fig.png[1..4], b"PNG");
    let back: experiment::Report = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(back, report);
    use mnist_support::display::Rich;
    let html = &report.bundle()[0].1;
    assert_eq!(html.matches("<table").count(), 2);
    assert_eq!(html.matches("data:image/png;base64,").count(), 1);
}

#[test]
fn scaling_must_match_the_model() {
    let split = common::synthetic_split(100, 20, 5);
    let params = ModelKind::Softmax.default_params().unwrap();
    let wrong = ScaledSplit::new(&split, mnist_support::scale::Scaling::None).unwrap();
    let err = experiment::fit(&params, &wrong, &Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("scaling"), "{err}");
}

/// The tree and the forest deskew by default and accept only deskewing or
/// nothing (they split pixel levels 0–255); a tree saved before they had
/// the choice reads back as fit without deskewing.
#[test]
fn trees_deskew_or_take_the_pixels_as_they_are() {
    use mnist_support::augment::Augment;
    use mnist_support::models::{DecisionTreeParams, ForestParams};
    use mnist_support::scale::Scaling;
    let split = common::synthetic_split(200, 20, 9);
    let tree = DecisionTreeParams {
        augment: Augment::NONE,
        ..Default::default()
    }
    .fit(split.x_train.view(), split.y_train.view(), &Silent)
    .unwrap();
    assert_eq!(tree.scaler().scaling(), Scaling::Deskew);
    for scaling in [Scaling::Standard, Scaling::Unit, Scaling::DeskewMinMax] {
        let tree = DecisionTreeParams {
            scaling,
            augment: Augment::NONE,
            ..Default::default()
        };
        let forest = ForestParams {
            n_trees: 2,
            scaling,
            augment: Augment::NONE,
            ..Default::default()
        };
        for params in [AnyParams::from(tree), forest.into()] {
            let err = params
                .fit(split.x_train.view(), split.y_train.view(), &Silent)
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    mnist_support::Error::InvalidHyperparameter {
                        name: "scaling",
                        ..
                    }
                ),
                "{scaling:?}: {err}"
            );
        }
    }
    let mut old = serde_json::to_value(DecisionTreeParams::default()).unwrap();
    old.as_object_mut().unwrap().remove("scaling");
    let old: DecisionTreeParams = serde_json::from_value(old).unwrap();
    assert_eq!(old.scaling, Scaling::None);
}

/// Every learner is usable through linfa's traits as well.
#[test]
fn linfa_fit_and_predict() {
    use linfa::traits::{Fit, Predict};
    use mnist_support::models::{
        DecisionTreeParams, ForestParams, KnnParams, NetParams, SoftmaxParams, SvmParams,
    };
    let split = common::synthetic_split(300, 50, 13);
    let ds = linfa::Dataset::new(split.x_train.clone(), split.y_train.clone());
    let check = |pred: ndarray::Array1<u8>| {
        assert_eq!(pred.len(), 50);
        assert!(
            pred.iter()
                .zip(&split.y_test)
                .filter(|(p, y)| p == y)
                .count()
                > 30
        );
    };
    let x = &split.x_test;
    // kNN and the trees work on raw pixels; scale for softmax and SVM as their defaults do.
    // (`Fit::fit` and `Predict::predict`: the models' own `fit` and `predict` take raw pixels.)
    check(Predict::predict(
        &Fit::fit(&KnnParams::default(), &ds).unwrap(),
        x,
    ));
    check(Predict::predict(
        &Fit::fit(&DecisionTreeParams::default(), &ds).unwrap(),
        x,
    ));
    let forest = ForestParams {
        n_trees: 20,
        ..ForestParams::default()
    };
    check(Predict::predict(&Fit::fit(&forest, &ds).unwrap(), x));
    let unit = ds.records.mapv(|v| v / 255.0);
    let ds_unit = linfa::Dataset::new(unit, split.y_train.clone());
    let x_unit = x.mapv(|v| v / 255.0);
    let softmax = SoftmaxParams {
        alpha: 1.0,
        ..SoftmaxParams::default()
    };
    check(Predict::predict(
        &Fit::fit(&softmax, &ds_unit).unwrap(),
        &x_unit,
    ));
    check(Predict::predict(
        &Fit::fit(&SvmParams::default(), &ds_unit).unwrap(),
        &x_unit,
    ));
    let dnn = NetParams {
        epochs: 5,
        batch_size: 16,
        ..NetParams::dnn()
    };
    check(Predict::predict(
        &Fit::fit(&dnn, &ds_unit).unwrap(),
        &x_unit,
    ));
}

/// A saved model trained on the same data with the same hyperparameters is
/// loaded instead of trained again (notebook re-runs); anything else trains.
#[test]
fn fit_or_load_reuses_only_an_up_to_date_model() {
    use mnist_support::models::{NetParams, Network, Softmax, SoftmaxParams};
    let split = common::synthetic_split(300, 60, 17);
    let dir = tempfile::tempdir().unwrap();
    let defaults = SoftmaxParams::default();
    let data = ScaledSplit::new(&split, defaults.scaling()).unwrap();
    let (first, t): (Softmax, f64) = Store::new(dir.path())
        .fit_or_load(&defaults, &data, &Silent)
        .unwrap();
    let mut report = experiment::evaluate(&first, &data, t, &Silent).unwrap();
    Store::new(dir.path())
        .save(&first, &mut report, &data)
        .unwrap();
    let store = Store::new(dir.path());
    assert!(matches!(
        store.freshness("softmax", ModelKind::Softmax, &data),
        Freshness::Fresh(_)
    ));
    let stale = |d: &ScaledSplit| match store.freshness("softmax", ModelKind::Softmax, d) {
        Freshness::Stale(why) => why,
        other => panic!("{other:?}"),
    };

    // Same everything: loaded, with the recorded training time, predicting the same.
    let (again, t2) = Store::new(dir.path())
        .fit_or_load(&defaults, &data, &Silent)
        .unwrap();
    assert_eq!(t2, t);
    assert_eq!(
        again.predict_proba(split.x_test.view()).unwrap(),
        first.predict_proba(split.x_test.view()).unwrap()
    );

    // Other hyperparameters asked for: the saved model stays fresh (it is
    // what was trained, deployable as it is), but is not what these
    // would learn, so they train.
    let other_params = SoftmaxParams {
        alpha: 1.0,
        ..SoftmaxParams::default()
    };
    assert!(!other_params.fits_like(&first.hyperparameters()));
    let (other, _) = Store::new(dir.path())
        .fit_or_load(&other_params, &data, &Silent)
        .unwrap();
    assert_eq!(other.params().alpha, 1.0);
    assert_ne!(other.to_bytes().unwrap(), first.to_bytes().unwrap());
    // Other data: stale; wrong kind under the name: stale; nothing saved: missing.
    let smaller = ScaledSplit::new(&split.head(200, 60), first.scaling()).unwrap();
    let why = stale(&smaller);
    assert!(why.contains("other data"), "{why}");
    assert!(matches!(
        store.freshness("softmax", ModelKind::Svm, &data),
        Freshness::Stale(why) if why.contains("softmax")
    ));
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        Store::new(empty.path()).freshness("softmax", ModelKind::Softmax, &data),
        Freshness::Missing(_)
    ));

    // A corrupt saved model file is stale and not used: it trains instead
    // (another wall-clock time than the one recorded).
    let bin = dir.path().join("softmax.bin");
    let good = std::fs::read(&bin).unwrap();
    std::fs::write(&bin, &good[..good.len() / 2]).unwrap();
    let why = stale(&data);
    assert!(why.contains("checksum"), "{why}");
    let (fresh, t_fresh) = Store::new(dir.path())
        .fit_or_load(&defaults, &data, &Silent)
        .unwrap();
    assert_ne!(t_fresh, t, "trained again");
    assert_eq!(fresh.to_bytes().unwrap(), first.to_bytes().unwrap());
    std::fs::write(&bin, &good).unwrap();

    // A retraining store (MNIST_RETRAIN, `run-all --retrain`) trains again.
    let (_, t3) = Store::new(dir.path())
        .retraining(true)
        .fit_or_load(&defaults, &data, &Silent)
        .unwrap();
    assert_ne!(t3, t, "trained again, so another wall-clock time");

    // A network comes back with its training history (for the curves).
    let params = NetParams {
        epochs: 2,
        batch_size: 32,
        ..NetParams::dnn()
    };
    let data = ScaledSplit::new(&split, params.scaling()).unwrap();
    let (net, t): (Network, f64) = Store::new(dir.path())
        .fit_or_load(&params, &data, &Silent)
        .unwrap();
    let mut report = experiment::evaluate(&net, &data, t, &Silent).unwrap();
    Store::new(dir.path())
        .save(&net, &mut report, &data)
        .unwrap();
    let (back, _) = Store::new(dir.path())
        .fit_or_load(&params, &data, &Silent)
        .unwrap();
    assert!(back.history().is_some());
    assert_eq!(back.history(), net.history());
    assert_eq!(
        back.logits(data.x_test.view()).unwrap(),
        net.logits(data.x_test.view()).unwrap()
    );
}

/// kNN's k and vote do not change what it stores: a model saved after a
/// vote was chosen on validation (not the default) is reused by a model
/// asking for the defaults, which then votes as saved; `fresh_or_run` (what
/// `mnist train` does) keeps it, with the hyperparameters it was saved with.
#[test]
fn a_saved_knn_keeps_its_chosen_vote() {
    use mnist_support::models::knn::Weighting;
    use mnist_support::models::KnnParams;
    let split = common::synthetic_split(300, 60, 5);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let params = KnnParams {
        scaling: mnist_support::scale::Scaling::Unit,
        augment: mnist_support::augment::Augment::NONE,
        ..KnnParams::default()
    };
    let chosen = KnnParams {
        k: 3,
        weighting: Weighting::Distance,
        ..params.clone()
    };
    mnist_support::pipeline::run(&store, &chosen, &split, &Silent).unwrap();
    let (chosen, _) = store.load("knn").unwrap();
    let data = ScaledSplit::new(&split, params.scaling()).unwrap();
    let (asked, _) = store.fit_or_load(&params, &data, &Silent).unwrap();
    assert_eq!(
        (asked.params().k, asked.params().weighting),
        (3, Weighting::Distance)
    );
    assert_eq!(
        asked.predict(split.x_test.view()).unwrap(),
        chosen.predict(split.x_test.view()).unwrap()
    );
    let kept =
        mnist_support::pipeline::fresh_or_run(&store, ModelKind::Knn, &split, &Silent).unwrap();
    assert_eq!(kept.hyperparameters["k"], 3);
    let card = store.card("knn").unwrap();
    assert_eq!(card.hyperparameters["weighting"], "distance");
    let said =
        mnist_support::store::describe_hyperparameters(ModelKind::Knn, &card.hyperparameters);
    assert!(
        said.contains("k = 3") && said.contains("weighting"),
        "{said}"
    );
}

/// One fit path: the same hyperparameters and seed give byte-identical model
/// files through the notebooks' steps (`ScaledSplit`, `fit_or_load`,
/// `evaluate`, `save`), `mnist train`'s (`pipeline::fresh_or_run`) and
/// `Learner::fit` on raw pixels, for the deskewing tree whose distorted
/// copies and generated pictures are made from the raw training digits.
#[test]
#[ignore = "needs MNIST_DIR"]
fn every_fit_path_saves_the_same_model() {
    let mnist = common::real_data_dir();
    let split = Split::load_from(&mnist).unwrap().head(1200, 200);
    let kind = ModelKind::Tree;

    let notebook = tempfile::tempdir().unwrap();
    let store = Store::new(notebook.path());
    let params = kind.default_params().unwrap();
    let data = ScaledSplit::new(&split, params.scaling()).unwrap();
    let (model, seconds) = store.fit_or_load(&params, &data, &Silent).unwrap();
    let mut report = experiment::evaluate(&model, &data, seconds, &Silent).unwrap();
    store.save(&model, &mut report, &data).unwrap();

    let cli = tempfile::tempdir().unwrap();
    mnist_support::pipeline::fresh_or_run(&Store::new(cli.path()), kind, &split, &Silent).unwrap();
    let file = |dir: &std::path::Path| std::fs::read(dir.join("tree.bin")).unwrap();
    assert!(
        file(notebook.path()) == file(cli.path()),
        "notebook and CLI models differ"
    );

    let direct = params
        .fit(split.x_train.view(), split.y_train.view(), &Silent)
        .unwrap();
    assert!(
        direct.to_bytes().unwrap() == model.to_bytes().unwrap(),
        "Learner::fit differs"
    );
}

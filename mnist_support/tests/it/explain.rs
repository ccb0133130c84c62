//! Every answer explained (`mnist_support::explain`): each model's reasons
//! mean what they say, and the saliency points at the ink the answer rests on.

use crate::common;

use mnist_support::api::why::{PixelTest, Why};
use mnist_support::augment::Augment;
use mnist_support::data::Split;
use mnist_support::explain::{explain, Explanation};
use mnist_support::models::{
    Classifier, DecisionTreeParams, ForestParams, KnnParams, Learner, ModelKind, Silent,
    SoftmaxParams, SvmParams,
};
use mnist_support::scale::Scaling;
use ndarray::{Array2, ArrayView1};

fn fit<L: Learner>(params: L, split: &Split) -> L::Model {
    params
        .fit(split.x_train.view(), split.y_train.view(), &Silent)
        .unwrap()
}

fn why(model: &dyn Classifier, pixels: ArrayView1<f32>) -> (Explanation, u8) {
    let e = explain(model, pixels).unwrap();
    let predicted = model.predict(pixels.insert_axis(ndarray::Axis(0))).unwrap()[0];
    (e, predicted)
}

/// The softmax's contributions and bias sum to its logits, whose softmax is
/// its probabilities; the answer and the runner-up are the two largest.
#[test]
fn softmax_contributions_and_bias_sum_to_its_logits() {
    let split = common::synthetic_split(300, 40, 41);
    let model = fit(
        SoftmaxParams {
            scaling: Scaling::Standard,
            augment: Augment::NONE,
            ..SoftmaxParams::default()
        },
        &split,
    );
    for row in split.x_test.rows().into_iter().take(10) {
        let (e, predicted) = why(&model, row);
        assert_eq!(e.answer, predicted);
        let Why::Softmax(s) = &e.why else {
            panic!("{:?}", e.why)
        };
        for side in &s.classes {
            let sum: f32 = side.contributions.iter().sum::<f32>() + side.bias;
            let logit = s.logits[usize::from(side.digit)];
            assert!(
                (sum - logit).abs() <= 1e-4 * logit.abs().max(1.0),
                "{sum} vs {logit}"
            );
            assert_eq!(side.template.len(), 784);
        }
        assert_eq!(s.classes[0].digit, e.answer);
        assert_ne!(s.classes[1].digit, e.answer);
        let m = s.logits.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
        let z: f32 = s.logits.iter().map(|&l| (l - m).exp()).sum();
        for (l, p) in s.logits.iter().zip(&e.probabilities) {
            assert!(((l - m).exp() / z - p).abs() < 1e-5);
        }
        let second = s.logits[usize::from(s.classes[1].digit)];
        let others = (0..10).filter(|&d| d != usize::from(e.answer));
        assert!(others.map(|d| s.logits[d]).all(|l| l <= second));
    }
}

/// kNN's neighbours are the true nearest training digits (a brute-force
/// search over the scaled training set), nearest first, with their pictures
/// and labels; its votes are the answer's.
#[test]
fn knn_neighbours_are_the_true_nearest() {
    let split = common::synthetic_split(300, 40, 42);
    for components in [0, 20] {
        let model = fit(
            KnnParams {
                scaling: Scaling::Unit,
                augment: Augment::NONE,
                components,
                ..KnnParams::default()
            },
            &split,
        );
        let k = model.params().k;
        let train = split.x_train.mapv(|v| v / 255.0);
        for row in split.x_test.rows().into_iter().take(10) {
            let (e, predicted) = why(&model, row);
            assert_eq!(e.answer, predicted);
            let Why::Knn(w) = &e.why else {
                panic!("{:?}", e.why)
            };
            assert_eq!(w.neighbours.len(), k);
            for n in &w.neighbours {
                let i = n.index as usize;
                assert_eq!(n.label, split.y_train[i]);
                let stored: Vec<u8> = split.x_train.row(i).iter().map(|&v| v as u8).collect();
                assert_eq!(n.picture, stored, "the stored digit {i}");
            }
            let d: Vec<f32> = w.neighbours.iter().map(|n| n.distance).collect();
            assert!(d.windows(2).all(|p| p[0] <= p[1]), "nearest first: {d:?}");
            let top = (0..10).fold(0, |b, c| if w.votes[c] > w.votes[b] { c } else { b });
            assert_eq!(w.votes[top], w.votes[usize::from(e.answer)]);
            assert!((w.votes.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            if components > 0 {
                continue;
            }
            // In pixel space: the brute-force k nearest, at the same distances.
            let q = row.mapv(|v| v / 255.0);
            let mut all: Vec<(f32, usize)> = train
                .rows()
                .into_iter()
                .enumerate()
                .map(|(i, t)| ((&t - &q).mapv(|v| v * v).sum().sqrt(), i))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (n, (dist, i)) in w.neighbours.iter().zip(&all) {
                assert!((n.distance - dist).abs() < 1e-3, "{} vs {dist}", n.distance);
                assert_eq!(n.index as usize, *i);
            }
        }
    }
}

/// The tree's path follows its tests (left exactly when the pixel is at most
/// the threshold) and ends in the leaf that gave its probabilities.
#[test]
fn the_tree_path_ends_in_the_leaf_that_predicted() {
    let split = common::synthetic_split(300, 40, 43);
    let model = fit(
        DecisionTreeParams {
            augment: Augment::NONE,
            ..DecisionTreeParams::default()
        },
        &split,
    );
    for row in split.x_test.rows().into_iter().take(10) {
        let (e, predicted) = why(&model, row);
        assert_eq!(e.answer, predicted);
        let Why::Tree(t) = &e.why else {
            panic!("{:?}", e.why)
        };
        assert!(!t.path.is_empty());
        let scaled = model
            .scaler()
            .transform(&row.insert_axis(ndarray::Axis(0)))
            .unwrap();
        for &PixelTest {
            pixel,
            threshold,
            value,
            left,
        } in &t.path
        {
            assert_eq!(left, value <= threshold);
            let v = scaled[[0, usize::from(pixel)]];
            assert_eq!(
                f32::from(value),
                v.round().clamp(0.0, 255.0),
                "pixel {pixel}"
            );
        }
        assert_eq!(
            t.leaf, e.probabilities,
            "the leaf's distribution is the answer's"
        );
    }
}

/// The forest's votes come one from each tree, and every path tests pixels.
#[test]
fn forest_votes_count_its_trees() {
    let split = common::synthetic_split(300, 40, 44);
    let model = fit(
        ForestParams {
            n_trees: 12,
            augment: Augment::NONE,
            ..ForestParams::default()
        },
        &split,
    );
    for row in split.x_test.rows().into_iter().take(5) {
        let (e, _) = why(&model, row);
        let Why::Forest(f) = &e.why else {
            panic!("{:?}", e.why)
        };
        assert_eq!(f.votes.iter().sum::<u32>(), 12);
        assert_eq!(f.tested.len(), 784);
        assert!(f.tested.iter().sum::<u32>() >= 12);
    }
}

/// The SVM's 45 pairwise votes make its answer, and the support vectors it
/// shows are its strongest pulls toward the answer and the runner-up, each a
/// training digit.
#[test]
fn the_svm_shows_its_votes_and_strongest_support_vectors() {
    let split = common::synthetic_split(300, 40, 46);
    let model = fit(
        SvmParams {
            scaling: Scaling::MinMax,
            components: 0,
            augment: Augment::NONE,
            ..SvmParams::default()
        },
        &split,
    );
    let training: std::collections::HashSet<Vec<u8>> = (split.x_train.rows().into_iter())
        .map(|r| r.iter().map(|&v| v as u8).collect())
        .collect();
    for row in split.x_test.rows().into_iter().take(5) {
        let (e, predicted) = why(&model, row);
        assert_eq!(e.answer, predicted);
        let Why::Svm(s) = &e.why else {
            panic!("{:?}", e.why)
        };
        assert_eq!(s.votes.iter().sum::<u32>(), 45);
        assert_eq!(s.votes.iter().max(), Some(&s.votes[usize::from(e.answer)]));
        assert_eq!(s.pair[0], e.answer);
        assert!(!s.pulls.is_empty());
        for side in s.pair {
            let pulls: Vec<f32> = (s.pulls.iter().filter(|p| p.toward == side))
                .map(|p| p.pull)
                .collect();
            assert!(pulls.len() <= 3);
            assert!(pulls.windows(2).all(|w| w[0] >= w[1]), "{pulls:?}");
        }
        for p in &s.pulls {
            assert!(
                training.contains(&p.picture),
                "support vector {} is a training digit",
                p.index
            );
        }
    }
}

/// The networks' integrated gradients are their saliency, the same on
/// candle (what the server runs) as on libtorch (the notebooks), and they sum
/// to the answer's logit less its logit for the blank picture.
#[cfg(feature = "torch")]
#[test]
fn network_saliency_is_the_same_on_candle_and_libtorch() {
    use mnist_support::models::{NetParams, Networks, Params};
    use mnist_support::store::Store;
    let split = common::synthetic_split(300, 40, 48);
    let dir = tempfile::tempdir().unwrap();
    for base in [NetParams::dnn(), NetParams::cnn()] {
        let params = NetParams {
            epochs: 2,
            batch_size: 32,
            typed: 0,
            distort: mnist_support::augment::Distort::NONE,
            ..base
        };
        let kind = params.kind();
        mnist_support::pipeline::run(&Store::new(dir.path()), &params, &split, &Silent).unwrap();
        let (tch, _) = Store::new(dir.path()).load(kind.name()).unwrap();
        let (candle, _) = (Store::new(dir.path()).networks_on(Networks::Candle))
            .load(kind.name())
            .unwrap();
        assert_eq!((tch.runtime(), candle.runtime()), ("libtorch", "candle"));
        for row in split.x_test.rows().into_iter().take(5) {
            let (a, b) = (
                explain(tch.as_ref(), row).unwrap(),
                explain(candle.as_ref(), row).unwrap(),
            );
            let (Why::Network(wa), Why::Network(wb)) = (&a.why, &b.why) else {
                panic!("{:?}", a.why)
            };
            assert_eq!(a.saliency, wa.attributions);
            let top = wa.attributions.iter().fold(0f32, |m, v| m.max(v.abs()));
            let diff = (wa.attributions.iter().zip(&wb.attributions))
                .fold(0f32, |m, (u, v)| m.max((u - v).abs()));
            assert!(
                diff <= 1e-3 * top.max(1e-6),
                "{kind}: differ by {diff} (largest {top})"
            );
            let sum: f32 = wa.attributions.iter().sum();
            let rise = wa.logit - wa.blank_logit;
            // Within the path's discretization (IG_STEPS points).
            assert!(
                (sum - rise).abs() <= 0.2 * rise.abs().max(1.0),
                "{kind}: attributions sum to {sum}, the logit rose by {rise}"
            );
        }
    }
}

/// The saliency of a pixel is the fall in the answer's probability when it
/// alone is blanked; the background's is 0; bad pictures are errors.
#[test]
fn saliency_is_the_fall_when_a_pixel_is_blanked() {
    let split = common::synthetic_split(300, 40, 45);
    let model = fit(
        SoftmaxParams {
            scaling: Scaling::Standard,
            augment: Augment::NONE,
            ..SoftmaxParams::default()
        },
        &split,
    );
    let row = split.x_test.row(0);
    let e = explain(&model, row).unwrap();
    let a = usize::from(e.answer);
    let mut checked = 0;
    for i in 0..784 {
        if row[i] == 0.0 {
            assert_eq!(e.saliency[i], 0.0);
            continue;
        }
        let mut blanked = row.to_owned();
        blanked[i] = 0.0;
        let p = model
            .predict_proba(blanked.insert_axis(ndarray::Axis(0)).view())
            .unwrap();
        assert!((e.saliency[i] - (e.probabilities[a] - p[[0, a]])).abs() < 1e-6);
        checked += 1;
    }
    assert!(checked > 0);
    let narrow = ndarray::Array1::<f32>::zeros(783);
    assert!(explain(&model, narrow.view()).is_err());
    let mut nan = row.to_owned();
    nan[3] = f32::NAN;
    assert!(explain(&model, nan.view()).is_err());
}

/// Blanking each model's most salient 15% of a digit's ink lowers its
/// probability of the answer clearly more than blanking as many random ink
/// pixels, or the brightest ink (the trivial saliency): over 100 validation
/// digits, for the seven quick models (3,000 training digits).
#[test]
#[ignore = "needs MNIST_DIR"]
fn blanking_the_most_salient_ink_lowers_the_answer_most() {
    let data = common::real_data_dir();
    let split = Split::load_from(&data).unwrap();
    let models = common::small_models(&split);
    let store = mnist_support::store::Store::new(models.path());
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut random = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for &kind in ModelKind::ALL {
        let (model, _) = store.load(kind.name()).unwrap();
        let mut falls = [0f64; 3];
        for row in split.x_valid.rows().into_iter().take(100) {
            let e = explain(model.as_ref(), row).unwrap();
            let a = usize::from(e.answer);
            let mut ink: Vec<usize> = (0..784).filter(|&i| row[i] > 0.0).collect();
            let n = (ink.len() * 15).div_ceil(100);
            let mut salient = ink.clone();
            salient.sort_by(|&i, &j| e.saliency[j].total_cmp(&e.saliency[i]).then(i.cmp(&j)));
            let mut bright = ink.clone();
            bright.sort_by(|&i, &j| row[j].total_cmp(&row[i]).then(i.cmp(&j)));
            for i in (1..ink.len()).rev() {
                ink.swap(i, random(i + 1));
            }
            let mut batch = Array2::<f32>::zeros((3, 784));
            for (mut b, chosen) in batch.rows_mut().into_iter().zip([&salient, &ink, &bright]) {
                b.assign(&row);
                for &i in &chosen[..n] {
                    b[i] = 0.0;
                }
            }
            let p = model.predict_proba(batch.view()).unwrap();
            for (f, r) in falls.iter_mut().zip(0..3) {
                *f += f64::from(e.probabilities[a] - p[[r, a]]) / 100.0;
            }
        }
        let [salient, random, bright] = falls;
        eprintln!(
            "{kind}: mean fall in p(answer) blanking 15% of the ink: salient {salient:.3}, random {random:.3}, brightest {bright:.3}"
        );
        assert!(
            salient >= random + 0.05 && salient >= bright + 0.05,
            "{kind}: salient {salient:.3}, random {random:.3}, brightest {bright:.3}"
        );
    }
}

/// `POST /api/explain` answers for each served model, in its own terms,
/// the answer `POST /api/predict` gives; it needs one model named.
#[test]
#[ignore = "needs MNIST_DIR"]
fn the_server_explains_each_model() {
    use mnist_support::api::{CallError, Client, PredictRequest};
    let (split, models, server) = common::served_small_models();
    let client = Client::new(&server.url, std::time::Duration::from_secs(60));
    let pixels: Vec<f32> = split.x_test.row(7).to_vec();
    let map = mnist_support::map::DigitMap::load(models.path())
        .unwrap()
        .unwrap();
    assert_eq!(client.map().unwrap(), map.response());
    let all = client
        .predict(&PredictRequest {
            pixels: Some(pixels.clone()),
            ..Default::default()
        })
        .unwrap();
    for result in &all.results {
        let ask = PredictRequest {
            model: Some(result.model.clone()),
            pixels: Some(pixels.clone()),
            ..Default::default()
        };
        let t = std::time::Instant::now();
        let e = client.explain(&ask).unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        eprintln!("{}: explained in {ms:.0} ms", result.model);
        assert_eq!(e.model, result.model);
        assert_eq!(e.answer, result.prediction, "{}", result.model);
        assert_eq!(e.saliency.len(), 784);
        assert_eq!(e.input, all.input);
        let seen: Vec<f32> = e.input.iter().map(|&v| f32::from(v)).collect();
        let place = map.place(ArrayView1::from(&seen)).unwrap();
        assert_eq!(e.map, Some(place), "{}: its place on the map", result.model);
        let own = match &e.why {
            Why::Softmax(_) => "softmax",
            Why::Knn(_) => "knn",
            Why::Svm(_) => "svm",
            Why::Tree(_) => "tree",
            Why::Forest(_) => "forest",
            Why::Network(_) => "network",
            Why::Saliency => "saliency",
        };
        let expected = match result.model.as_str() {
            "dnn" | "cnn" => "network",
            name => name,
        };
        assert_eq!(own, expected);
    }
    // serve-bench's latency table over the same server, on a pad drawing.
    let examples = mnist_support::serve::example_inputs(&split);
    let pad = examples.iter().find(|e| e.source == "pad").unwrap();
    let timed = mnist_support::serve_bench::explain_ms(&server.url, &pad.image, 3).unwrap();
    assert_eq!(timed.len(), all.results.len());
    assert!(
        timed.iter().all(|(_, p50, p99)| p50 > &0.0 && p99 >= p50),
        "{timed:?}"
    );
    for (model, code) in [(None, 400), (Some("all"), 400), (Some("nope"), 404)] {
        let ask = PredictRequest {
            model: model.map(String::from),
            pixels: Some(pixels.clone()),
            ..Default::default()
        };
        match client.explain(&ask) {
            Err(CallError::Status { code: c, .. }) => assert_eq!(c, code, "{model:?}"),
            other => panic!("{model:?}: {other:?}"),
        }
    }
    // Without a map beside the models: explanations without a place, and
    // GET /api/map a 404 that says why.
    drop(server);
    std::fs::remove_file(models.path().join(mnist_support::map::FILE)).unwrap();
    let server = common::start_server(models.path());
    let client = Client::new(&server.url, std::time::Duration::from_secs(60));
    let ask = PredictRequest {
        model: Some("tree".into()),
        pixels: Some(pixels.clone()),
        ..Default::default()
    };
    assert_eq!(client.explain(&ask).unwrap().map, None);
    match client.map() {
        Err(CallError::Status {
            code: 404, error, ..
        }) => assert!(error.contains("no digit map"), "{error}"),
        other => panic!("{other:?}"),
    }
}

/// An explanation renders as a row of pictures: the input, its saliency and
/// the model's own reasons (kNN: its k neighbours); a model's right answers
/// and errors, and several models on one digit, as figures.
#[test]
fn explanations_render_as_figures() {
    use mnist_support::display::Rich;
    use mnist_support::explain::{answers_and_errors, side_by_side};
    let split = common::synthetic_split(300, 40, 47);
    let tree = fit(
        DecisionTreeParams {
            augment: Augment::NONE,
            ..DecisionTreeParams::default()
        },
        &split,
    );
    let knn = fit(
        KnnParams {
            scaling: Scaling::Unit,
            augment: Augment::NONE,
            ..KnnParams::default()
        },
        &split,
    );
    let e = explain(&knn, split.x_test.row(0)).unwrap();
    assert_eq!(e.pictures(None).len(), 2 + knn.params().k);
    assert_eq!(e.bundle()[0].0, "image/png");
    let panel = answers_and_errors(&tree, &split.x_test, &split.y_test, 2).unwrap();
    let html = &panel.bundle()[0].1;
    assert_eq!(html.matches("data:image/png;base64,").count(), 4);
    assert!(html.contains("answered right") && html.contains("answered wrong"));
    let fig = side_by_side(&[&tree, &knn], split.x_test.row(1), Some(split.y_test[1])).unwrap();
    assert_eq!(&fig.png[1..4], b"PNG");
}

//! The digit gate: trained on small generated data, saved and kept fresh by
//! the model store with its own kind, loaded on candle, refused when
//! corrupt, and used by the server for `digit_like`.

use mnist_support::gate::Gate;
use mnist_support::models::ModelKind;
use mnist_support::real_inputs::{non_digits, Set};
use mnist_support::store::{Freshness, Store};
use ndarray::Array2;

use crate::common;

/// A small gate trained in `dir` (see [`common::small_gate`]), and what it was trained on.
#[test]
#[ignore = "needs MNIST_DIR"]
fn a_small_gate_learns_to_tell_digits_from_non_digits_and_loads_on_candle() {
    let data = common::real_data_dir();
    let split = mnist_support::data::Split::load_from(&data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert!(Gate::load(dir.path()).unwrap().is_none(), "no gate yet");
    let trained = common::small_gate(&split, dir.path());
    let card = &trained.gate.figures;
    assert!(
        card.trained_on.0 > 1000 && card.trained_on.1 > 500,
        "{card:?}"
    );
    assert!(card.held_out.0 > 100 && card.held_out.1 > 50, "{card:?}");
    assert!(card.threshold > 0.0 && card.threshold < 1.0, "{card:?}");
    // Even small, it flags most of its held-out non-digits and few digits.
    assert!(card.flagged.1 >= 0.6, "non-digits flagged: {card:?}");
    assert!(card.flagged.0 <= 0.05, "digits flagged: {card:?}");

    // Loaded again (on candle), it scores as the trained one (libtorch) does,
    // here on non-digits of the dev set it never saw.
    let loaded = Gate::load(dir.path()).unwrap().expect("saved");
    assert_eq!(&loaded.figures, card);
    assert_eq!(loaded.card, trained.gate.card);
    assert_eq!(loaded.runtime(), "candle");

    // Saved by the store as a model of its own kind, with a two-class head,
    // fresh for the data it came from and stale for other data; not one of
    // the seven.
    let store = Store::new(dir.path());
    let saved = store.card("gate").unwrap();
    assert_eq!(saved.kind, ModelKind::Gate);
    assert_eq!(saved.hyperparameters["classes"], 2);
    assert_eq!(
        saved.report.parts.len(),
        2,
        "training and held-out pictures"
    );
    assert_eq!(
        saved.report.parts[1].images,
        card.held_out.0 + card.held_out.1
    );
    assert!(matches!(
        store.freshness("gate", ModelKind::Gate, &split),
        Freshness::Fresh(_)
    ));
    let other = split.head(5_000, 1_000);
    assert!(matches!(
        store.freshness("gate", ModelKind::Gate, &other),
        Freshness::Stale(why) if why.contains("other data")
    ));
    assert!(!ModelKind::ALL.contains(&ModelKind::Gate));
    assert!("gate".parse::<ModelKind>().is_err());
    let pictures = non_digits(Set::Dev, 12).unwrap();
    let rows: Vec<f32> = pictures
        .iter()
        .flat_map(|s| {
            let g = mnist_support::preprocess::decode_image(&s.bytes).unwrap();
            mnist_support::preprocess::to_mnist(&g).unwrap()
        })
        .collect();
    let x = Array2::from_shape_vec((pictures.len(), 784), rows).unwrap();
    let (a, b) = (
        trained.gate.scores(x.view()).unwrap(),
        loaded.scores(x.view()).unwrap(),
    );
    for (a, b) in a.iter().zip(&b) {
        assert!(
            (0.0..=1.0).contains(a) && (a - b).abs() < 1e-4,
            "{a} vs {b}"
        );
    }
    let digits = split.x_valid.slice(ndarray::s![..200, ..]);
    let digit_scores = loaded.scores(digits).unwrap();
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    assert!(
        mean(&digit_scores) > mean(&b) + 0.3,
        "digits {} vs non-digits {}",
        mean(&digit_scores),
        mean(&b)
    );

    // A damaged gate is a clear error, never a panic.
    let bin = dir.path().join("gate.bin");
    let mut bytes = std::fs::read(&bin).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0xff;
    std::fs::write(&bin, &bytes).unwrap();
    let e = Gate::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("checksum"), "{e}");
    assert!(matches!(
        store.freshness("gate", ModelKind::Gate, &split),
        Freshness::Stale(_)
    ));
    std::fs::write(dir.path().join("gate.json"), "{\"threshold\": 0.5").unwrap();
    let e = Gate::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("gate.json"), "{e}");
}

/// Pictures that hold no digit (typed letters, drawn shapes, faces,
/// scribbles) are generated deterministically, and every answer of the
/// server says whether the picture looks like a digit: from the models'
/// agreement without a gate, from the gate with one; a damaged gate is
/// skipped with a line in the log.
#[test]
#[ignore = "needs MNIST_DIR"]
fn answers_say_whether_the_picture_looks_like_a_digit() {
    use mnist_support::api::{CallError, Client, PredictRequest};
    use mnist_support::real_inputs::NOT_A_DIGIT;
    use mnist_support::serve::pool::DIGIT_LIKE_MIN;
    let data = common::real_data_dir();
    let a = non_digits(Set::Dev, 12).unwrap();
    let b = non_digits(Set::Dev, 12).unwrap();
    let c = non_digits(Set::Heldout, 12).unwrap();
    assert!(a
        .iter()
        .zip(&b)
        .all(|(x, y)| x.bytes == y.bytes && x.name == y.name));
    assert!(a.iter().zip(&c).any(|(x, y)| x.bytes != y.bytes));
    assert!(a.iter().all(|s| s.label == NOT_A_DIGIT));
    assert!(a.iter().any(|s| s.name.contains("letter")));
    assert!(a.iter().any(|s| s.name.contains("shape")));
    let split = mnist_support::data::Split::load_from(&data).unwrap();
    let models = common::small_models(&split);
    let digits = mnist_support::real_inputs::generate(&split, Set::Dev, 2).unwrap();
    // Each answer's (is it a non-digit, digit_like, digit_score), and /healthz.
    let answers =
        |server: &common::Server| -> (mnist_support::api::Health, Vec<(bool, bool, f32)>) {
            let client = Client::new(&server.url, std::time::Duration::from_secs(60));
            let health = client.health().unwrap();
            let mut out = Vec::new();
            for s in a.iter().chain(&digits) {
                let r = match client.predict(&PredictRequest {
                    model: Some("all".into()),
                    image: Some(s.data_url()),
                    pixels: None,
                }) {
                    Ok(r) => r,
                    // A picture can still be refused as holding no ink.
                    Err(CallError::Status { code: 422, .. }) => continue,
                    Err(e) => panic!("{}: {e}", s.name),
                };
                assert!(
                    (0.0..=1.0).contains(&r.digit_score),
                    "{}: {}",
                    s.name,
                    r.digit_score
                );
                assert_eq!(r.results.len(), 7, "the models answer anyway");
                out.push((s.label == NOT_A_DIGIT, r.digit_like, r.digit_score));
            }
            (health, out)
        };

    // No gate: the models' agreement decides.
    let (health, out) = answers(&common::start_server(models.path()));
    assert!(!health.digit_gate);
    for &(_, like, score) in &out {
        assert_eq!(like, score >= DIGIT_LIKE_MIN);
    }

    // With a gate: its score against its threshold, and it flags most of
    // the non-digits and few digits.
    let trained = common::small_gate(&split, models.path());
    let (health, out) = answers(&common::start_server(models.path()));
    assert!(health.digit_gate);
    let threshold = trained.gate.figures.threshold;
    for &(_, like, score) in &out {
        assert_eq!(like, score >= threshold);
    }
    let flagged = |non: bool| {
        let v: Vec<bool> = out.iter().filter(|o| o.0 == non).map(|o| !o.1).collect();
        (v.iter().filter(|&&f| f).count(), v.len())
    };
    let (nf, nn) = flagged(true);
    let (df, dn) = flagged(false);
    assert!(nf * 3 >= nn * 2, "non-digits flagged: {nf} of {nn}");
    // (A gate this small flags a digit now and then; the full one's figures
    // are `mnist bench-inputs`'s.)
    assert!(
        df * 4 <= dn && df * nn < nf * dn,
        "digits flagged: {df} of {dn}"
    );

    // A damaged gate: the server starts all the same, says so, and the
    // agreement decides.
    let bin = models.path().join("gate.bin");
    std::fs::write(&bin, b"not a model").unwrap();
    let server = common::start_server_with(models.path(), &[], true);
    let (health, _) = answers(&server);
    assert!(!health.digit_gate);
    assert!(
        server.log_text().contains("skipping the digit gate"),
        "{}",
        server.log_text()
    );
}

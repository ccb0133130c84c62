//! The prediction server, started the way a user starts it (`mnist serve`),
//! on an ephemeral port, over models trained on a small real subset.

mod common;

use base64::Engine;
use mnist_support::data::Split;
use mnist_support::models::{Kind, Silent};
use mnist_support::preprocess::{self, mnist_to_gray};

fn post(url: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let resp = ureq::post(&format!("{url}/api/predict"))
        .set("Content-Type", "application/json")
        .send_bytes(body);
    let (code, r) = match resp {
        Ok(r) => (r.status(), r),
        Err(ureq::Error::Status(code, r)) => (code, r),
        Err(e) => panic!("{e}"),
    };
    (code, r.into_json().unwrap_or(serde_json::Value::Null))
}

#[test]
fn the_server_answers_every_model_and_rejects_bad_input() {
    let Some(data) = common::real_data_dir() else {
        return;
    };
    let split = Split::load_from(&data).unwrap();
    let models = common::small_models(&split);
    let server = common::start_server(models.path());
    let url = &server.url;

    let health: serde_json::Value = ureq::get(&format!("{url}/healthz"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(health["models"], Kind::ALL.len());
    let list: serde_json::Value = ureq::get(&format!("{url}/api/models"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(list["models"].as_array().unwrap().len(), Kind::ALL.len());
    let page = ureq::get(&format!("{url}/"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(page.contains("<canvas id=\"pad\""));

    // Every model answers, alone and in "all".
    let pixels: Vec<f32> = split.x_test.row(0).to_vec();
    let body = serde_json::json!({ "model": "all", "pixels": pixels }).to_string();
    let (code, r) = post(url, body.as_bytes());
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["results"].as_array().unwrap().len(), Kind::ALL.len());
    for kind in Kind::ALL {
        let body = serde_json::json!({ "model": kind.name(), "pixels": pixels }).to_string();
        let (code, r) = post(url, body.as_bytes());
        assert_eq!(code, 200, "{kind}: {r}");
        let res = &r["results"][0];
        let top3 = res["top3"].as_array().unwrap();
        assert_eq!(top3.len(), 3);
        assert_eq!(res["prediction"], top3[0]["digit"]);
        let p: Vec<f64> = top3
            .iter()
            .map(|t| t["probability"].as_f64().unwrap())
            .collect();
        assert!(p[0] >= p[1] && p[1] >= p[2], "{kind}: {p:?}");
        assert_eq!(r["input"].as_array().unwrap().len(), 784);
    }

    // Bad input: 4xx with a message, and the server keeps serving.
    let big = vec![b'a'; 3 * 1024 * 1024];
    let huge_png = {
        // A valid PNG header claiming 100000×100000 pixels.
        let mut v = common::png_gray(&preprocess::Gray::new(1, 1, vec![255]).unwrap());
        v[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        v[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        v
    };
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let truncated = {
        let full = common::png_gray(&mnist_to_gray(&pixels, 4, 10, 10, 140, 140).unwrap());
        full[..full.len() / 2].to_vec()
    };
    let blank = common::png_gray(&preprocess::Gray::new(50, 50, vec![255; 2500]).unwrap());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("zero-byte body", vec![]),
        ("not JSON", b"hello".to_vec()),
        ("body over 2 MB", big),
        ("wrong pixel count", br#"{"pixels": [1, 2, 3]}"#.to_vec()),
        (
            "pixel out of range",
            serde_json::json!({ "pixels": vec![300.0; 784] })
                .to_string()
                .into_bytes(),
        ),
        (
            "empty pixels",
            serde_json::json!({ "pixels": vec![0.0; 784] })
                .to_string()
                .into_bytes(),
        ),
        (
            "unknown model",
            serde_json::json!({ "model": "perceptron", "pixels": pixels })
                .to_string()
                .into_bytes(),
        ),
        ("not base64", br#"{"image": "%%%"}"#.to_vec()),
        (
            "not an image",
            serde_json::json!({ "image": b64(b"GIF89a not really") })
                .to_string()
                .into_bytes(),
        ),
        (
            "truncated image",
            serde_json::json!({ "image": b64(&truncated) })
                .to_string()
                .into_bytes(),
        ),
        ("zero-byte image", br#"{"image": ""}"#.to_vec()),
        (
            "huge image",
            serde_json::json!({ "image": b64(&huge_png) })
                .to_string()
                .into_bytes(),
        ),
        (
            "empty canvas",
            serde_json::json!({ "image": b64(&blank) })
                .to_string()
                .into_bytes(),
        ),
        (
            "both inputs",
            serde_json::json!({ "image": b64(&blank), "pixels": pixels })
                .to_string()
                .into_bytes(),
        ),
        ("unknown field", br#"{"pixel": [1]}"#.to_vec()),
    ];
    for (what, body) in cases {
        let (code, r) = post(url, &body);
        assert!((400..500).contains(&code), "{what}: status {code}, {r}");
        if what != "body over 2 MB" {
            assert!(
                r["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{what}: {r}"
            );
        }
        let (ok, _) = post(
            url,
            serde_json::json!({ "model": "softmax", "pixels": pixels })
                .to_string()
                .as_bytes(),
        );
        assert_eq!(ok, 200, "the server stopped answering after {what}");
    }
    let missing = ureq::get(&format!("{url}/nothing")).call();
    assert!(matches!(missing, Err(ureq::Error::Status(404, _))));
}

/// Drawn-style images: test digits shifted, scaled up and drawn dark on light,
/// preprocessed, are recognised like the centred originals.
#[test]
fn preprocessing_recovers_shifted_scaled_inverted_digits() {
    let Some(data) = common::real_data_dir() else {
        return;
    };
    let split = Split::load_from(&data).unwrap();
    let small = split.head(3000, 500);
    let mut model = Kind::Softmax.default_model().unwrap();
    model
        .fit(small.x_train.view(), small.y_train.view(), &Silent)
        .unwrap();
    let n = 200;
    let originals = model
        .predict(split.x_test.slice(ndarray::s![..n, ..]))
        .unwrap();
    let mut agree = 0;
    let mut processed = ndarray::Array2::<f32>::zeros((n, 784));
    for i in 0..n {
        let px = split.x_test.row(i).to_vec();
        // Scaled ×3 or ×5, off-centre, on a light 200×180 canvas.
        let scale = 3 + 2 * (i % 2);
        let gray = mnist_to_gray(&px, scale, 5 + (i % 7) * 3, 3 + (i % 5) * 4, 200, 180).unwrap();
        // And through PNG, the way uploads arrive.
        let decoded = mnist_support::serve::decode_image(&common::png_gray(&gray)).unwrap();
        let out = preprocess::to_mnist(&decoded).unwrap();
        processed.row_mut(i).assign(&ndarray::Array1::from(out));
    }
    let pred = model.predict(processed.view()).unwrap();
    for i in 0..n {
        agree += (pred[i] == originals[i]) as usize;
    }
    assert!(
        agree * 10 >= n * 8,
        "only {agree} of {n} agree with the centred originals"
    );
    // Light-on-dark input gives the same 28×28 as dark-on-light.
    let px = split.x_test.row(7).to_vec();
    let light = mnist_to_gray(&px, 2, 4, 4, 64, 64).unwrap();
    let dark =
        preprocess::Gray::new(64, 64, light.pixels.iter().map(|v| 255 - v).collect()).unwrap();
    assert_eq!(
        preprocess::to_mnist(&light).unwrap(),
        preprocess::to_mnist(&dark).unwrap()
    );
    assert!(preprocess::to_mnist(&preprocess::Gray::new(9, 9, vec![0; 81]).unwrap()).is_err());
}

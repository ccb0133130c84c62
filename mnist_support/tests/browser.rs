//! End to end in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, installed by `mnist setup`) driven over WebDriver opens
//! the page of a running `mnist serve`, draws a digit with pointer events,
//! predicts, uploads an image, switches models, and saves a screenshot to
//! `target/test-artifacts/browser.png`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use mnist_support::data::Split;
use mnist_support::models::Kind;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver on PATH, or a skip (a failure in CI).
fn have_chromedriver() -> bool {
    let found = mnist_support::jupyter::on_path("chromedriver");
    if !found && std::env::var_os("CI").is_some() {
        panic!("chromedriver is missing: `cargo run --release -- setup` installs chromium and chromium-driver");
    }
    if !found {
        eprintln!("chromedriver not found (`cargo run --release -- setup` installs it): skipping");
    }
    found
}

struct Driver {
    base: String,
    _process: common::Kill,
}

impl Driver {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let req = ureq::request(method, &url).timeout(Duration::from_secs(60));
        let resp = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match resp {
            Ok(r) => r.into_json::<Value>().unwrap()["value"].clone(),
            Err(ureq::Error::Status(code, r)) => panic!(
                "{method} {path}: {code} {}",
                r.into_string().unwrap_or_default()
            ),
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }
}

fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let process = common::Kill(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while ureq::get(&format!("{base}/status")).call().is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver {
        base,
        _process: process,
    }
}

/// Poll a script until it returns something truthy.
fn wait_for(d: &Driver, sid: &str, script: &str) -> Value {
    let start = Instant::now();
    loop {
        let v = d.call(
            "POST",
            &format!("/session/{sid}/execute/sync"),
            Some(json!({"script": script, "args": []})),
        );
        if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!([])) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for: {script}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const RESULTS: &str = "const cards = [...document.querySelectorAll('#results .card')];
    return cards.length ? cards.map(c => ({model: c.dataset.model,
        digit: Number(c.querySelector('.digit').textContent),
        bars: c.querySelectorAll('.bar').length})) : null;";

#[test]
fn draw_predict_upload_and_switch_models_in_chromium() {
    if !have_chromedriver() {
        return;
    }
    let Some(data) = common::real_data_dir() else {
        return;
    };
    let split = Split::load_from(&data).unwrap();
    let models = common::small_models(&split);
    let server = common::start_server(models.path());
    let url = format!("{}/", server.url);
    let d = start_driver();
    let profile = tempfile::tempdir().unwrap();
    let session = d.call(
        "POST",
        "/session",
        Some(json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,900",
            format!("--user-data-dir={}", profile.path().display())]}}}})),
    );
    let sid = session["sessionId"].as_str().unwrap().to_string();
    let find = |css: &str| -> Value {
        let e = d.call(
            "POST",
            &format!("/session/{sid}/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        e[ELEMENT].clone()
    };
    d.call(
        "POST",
        &format!("/session/{sid}/url"),
        Some(json!({"url": url})),
    );
    // The model list is filled from /api/models.
    let options = wait_for(&d, &sid, "return document.querySelectorAll('#model option').length > 1 ? document.querySelectorAll('#model option').length : 0;");
    assert_eq!(options, json!(Kind::ALL.len() + 1));

    // Draw a "1": one vertical stroke with real pointer events.
    let pad = find("#pad");
    let origin = json!({ELEMENT: pad});
    d.call(
        "POST",
        &format!("/session/{sid}/actions"),
        Some(json!({"actions": [{
        "type": "pointer", "id": "pen", "parameters": {"pointerType": "mouse"},
        "actions": [
            {"type": "pointerMove", "origin": origin, "x": 5, "y": -90, "duration": 0},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerMove", "origin": origin, "x": 0, "y": 0, "duration": 100},
            {"type": "pointerMove", "origin": origin, "x": -5, "y": 90, "duration": 100},
            {"type": "pointerUp", "button": 0}]}]})),
    );
    let predict = find("#predict");
    d.call(
        "POST",
        &format!("/session/{sid}/element/{}/click", predict.as_str().unwrap()),
        Some(json!({})),
    );
    let results = wait_for(&d, &sid, RESULTS);
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), Kind::ALL.len(), "{results:?}");
    assert!(results.iter().all(|r| r["bars"] == 3), "{results:?}");
    let ones = results.iter().filter(|r| r["digit"] == 1).count();
    assert!(ones >= 3, "a vertical stroke should read as 1: {results:?}");
    // The 28×28 input the models saw is drawn.
    let inked = wait_for(
        &d,
        &sid,
        "const c = document.getElementById('seen').getContext('2d');
        const p = c.getImageData(0, 0, 112, 112).data; let dark = 0;
        for (let i = 0; i < p.length; i += 4) if (p[i] < 128) dark++; return dark;",
    );
    assert!(inked.as_u64().unwrap() > 50);

    // Upload a test digit (dark on light, larger than 28×28) as a PNG file.
    let label = split.y_test[0];
    let gray = mnist_support::preprocess::mnist_to_gray(
        &split.x_test.row(0).to_vec(),
        4,
        20,
        12,
        160,
        140,
    )
    .unwrap();
    let file = profile.path().join("digit.png");
    let bytes = common::png_gray(&gray);
    std::fs::write(&file, &bytes).unwrap();
    d.call(
        "POST",
        &format!("/session/{sid}/execute/sync"),
        Some(json!({"script": "document.getElementById('results').innerHTML = '';", "args": []})),
    );
    let upload = find("#upload");
    d.call(
        "POST",
        &format!("/session/{sid}/element/{}/value", upload.as_str().unwrap()),
        Some(json!({"text": file.display().to_string()})),
    );
    let results = wait_for(&d, &sid, RESULTS);
    let right = results
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["digit"] == label)
        .count();
    assert!(right >= 3, "uploaded {label}: {results:?}");

    // Switch to one model: the page predicts again with just that one.
    let option = find("#model option[value='svm']");
    d.call(
        "POST",
        &format!("/session/{sid}/element/{}/click", option.as_str().unwrap()),
        Some(json!({})),
    );
    let only = wait_for(&d, &sid, "const c = document.querySelectorAll('#results .card'); return c.length === 1 ? c[0].dataset.model : null;");
    assert_eq!(only, json!("svm"));

    // Screenshot as a test artifact.
    let shot = d.call("GET", &format!("/session/{sid}/screenshot"), None);
    let png_bytes = base64::engine::general_purpose::STANDARD
        .decode(shot.as_str().unwrap())
        .unwrap();
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("browser.png"), &png_bytes).unwrap();
    assert_eq!(&png_bytes[1..4], b"PNG");
    d.call("DELETE", &format!("/session/{sid}"), None);
}

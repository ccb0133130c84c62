//! End to end in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, installed by `mnist setup`) driven over WebDriver opens
//! the page of a running `mnist serve`, draws several digits as pointer paths
//! (each predicted when the pen lifts), uses Predict, Clear and Undo, uploads
//! a photo-like JPEG, puts an example on the pad, switches models, asks each
//! model why (its explanation drawn on canvases), saves screenshots to
//! `target/test-artifacts/browser.png` and `browser-why.png`, and checks the
//! phone layout.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use mnist_support::data::Split;
use mnist_support::models::ModelKind;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver on PATH, or a skip (a failure in CI).
fn have_chromedriver() -> bool {
    let found = mnist_setup::on_path("chromedriver");
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

/// Points of an ellipse with radii `rx`, `ry` about the pad's centre, from
/// turn `t0` to `t1` (0 is the top, clockwise), as pointer offsets.
fn arc(rx: f64, ry: f64, t0: f64, t1: f64) -> Vec<(i64, i64)> {
    (0..=36)
        .map(|k| {
            let t = (t0 + (t1 - t0) * k as f64 / 36.0) * std::f64::consts::TAU;
            ((rx * t.sin()) as i64, (-ry * t.cos()) as i64)
        })
        .collect()
}

const RESULTS: &str = "const cards = [...document.querySelectorAll('#results .card')];
    return cards.length ? cards.map(c => ({model: c.dataset.model,
        digit: Number(c.querySelector('.digit').textContent),
        bars: c.querySelectorAll('.bar').length})) : null;";

#[test]
#[ignore = "needs MNIST_DIR"]
fn draw_predict_upload_and_switch_models_in_chromium() {
    if !have_chromedriver() {
        return;
    }
    let data = common::real_data_dir();
    let split = Split::load_from(&data).unwrap();
    let models = common::small_models_with_gate(&split);
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
    let click = |css: &str| {
        d.call(
            "POST",
            &format!(
                "/session/{sid}/element/{}/click",
                find(css).as_str().unwrap()
            ),
            Some(json!({})),
        );
    };
    d.call(
        "POST",
        &format!("/session/{sid}/url"),
        Some(json!({"url": url})),
    );
    // The model list is filled from /api/models.
    let options = wait_for(&d, &sid, "return document.querySelectorAll('#model option').length > 1 ? document.querySelectorAll('#model option').length : 0;");
    assert_eq!(options, json!(ModelKind::ALL.len() + 1));

    let script = |js: &str| -> Value {
        d.call(
            "POST",
            &format!("/session/{sid}/execute/sync"),
            Some(json!({"script": js, "args": []})),
        )
    };
    // Example inputs of every source are offered.
    let examples = wait_for(
        &d,
        &sid,
        "return document.querySelectorAll('#examples button').length;",
    );
    assert!(examples.as_u64().unwrap() >= 4, "{examples}");

    // Draw digits as pointer paths; each is predicted when the pen lifts.
    let pad = find("#pad");
    let origin = json!({ELEMENT: pad});
    let draw = |strokes: &[&[(i64, i64)]]| {
        let mut actions = Vec::new();
        for stroke in strokes {
            actions.push(json!({"type": "pointerMove", "origin": origin, "x": stroke[0].0, "y": stroke[0].1, "duration": 0}));
            actions.push(json!({"type": "pointerDown", "button": 0}));
            for &(x, y) in &stroke[1..] {
                actions.push(json!({"type": "pointerMove", "origin": origin, "x": x, "y": y, "duration": 30}));
            }
            actions.push(json!({"type": "pointerUp", "button": 0}));
        }
        d.call(
            "POST",
            &format!("/session/{sid}/actions"),
            Some(json!({"actions": [{"type": "pointer", "id": "pen",
                "parameters": {"pointerType": "mouse"}, "actions": actions}]})),
        );
    };
    let answered = |digit: u8, what: &str| -> Vec<Value> {
        let results = wait_for(&d, &sid, RESULTS);
        let results = results.as_array().unwrap().clone();
        assert_eq!(results.len(), ModelKind::ALL.len(), "{what}: {results:?}");
        assert!(results.iter().all(|r| r["bars"] == 3), "{results:?}");
        let right = results.iter().filter(|r| r["digit"] == digit).count();
        assert!(right >= 3, "{what} should read as {digit}: {results:?}");
        results
    };
    let clear_answer = || {
        script("document.getElementById('results').innerHTML = '';");
    };
    // A "1": one vertical stroke, predicted without pressing anything.
    draw(&[&[(5, -90), (0, 0), (-5, 90)]]);
    answered(1, "a vertical stroke");
    let source = wait_for(&d, &sid, "const t = document.getElementById('source').textContent; return t.includes('Answer for') ? t : null;");
    assert!(
        source.as_str().unwrap().contains("your drawing"),
        "{source}"
    );
    // The 28×28 input the models saw is drawn.
    let inked = wait_for(
        &d,
        &sid,
        "const c = document.getElementById('seen').getContext('2d');
        const p = c.getImageData(0, 0, 112, 112).data; let dark = 0;
        for (let i = 0; i < p.length; i += 4) if (p[i] < 128) dark++; return dark;",
    );
    assert!(inked.as_u64().unwrap() > 50);
    // The Predict button answers the same drawing.
    clear_answer();
    click("#predict");
    answered(1, "a vertical stroke, predicted by the button");

    // Clear, then a "7": a bar and a long diagonal.
    click("#clear");
    draw(&[&[(-70, -80), (0, -82), (70, -80), (35, 0), (5, 90)]]);
    answered(7, "a bar and a diagonal");
    // Undo empties the pad and the answer.
    click("#undo");
    wait_for(
        &d,
        &sid,
        "return document.querySelectorAll('#results .card').length === 0;",
    );
    // A "0": an ellipse.
    draw(&[&arc(55.0, 85.0, 0.0, 1.0)]);
    answered(0, "an ellipse");

    // A letter "A" is answered too, with the note "this does not look like
    // a digit": the digit gate flags it.
    click("#clear");
    draw(&[&[(-70, 90), (0, -90), (70, 90)], &[(-38, 25), (38, 25)]]);
    wait_for(
        &d,
        &sid,
        "return window.lastAnswer && document.querySelectorAll('#results .card').length === 7;",
    );
    let shown = script(
        "return [window.lastAnswer.digit_like, document.getElementById('not-digit').hidden, document.getElementById('not-digit').textContent];",
    );
    assert_eq!(shown[0], false, "the letter A is flagged: {shown}");
    assert_eq!(shown[1], false, "and the note shows: {shown}");
    assert!(shown[2]
        .as_str()
        .unwrap()
        .contains("does not look like a digit"));
    clear_answer();

    // Upload a photo-like JPEG: a validation digit in pen on grey paper, uneven light, noise.
    let photo =
        mnist_support::real_inputs::generate(&split, mnist_support::real_inputs::Set::Dev, 3)
            .unwrap()
            .into_iter()
            .find(|s| s.source == mnist_support::real_inputs::Source::Photo)
            .unwrap();
    let file = profile.path().join("photo.jpg");
    std::fs::write(&file, &photo.bytes).unwrap();
    clear_answer();
    let upload = find("#upload");
    d.call(
        "POST",
        &format!("/session/{sid}/element/{}/value", upload.as_str().unwrap()),
        Some(json!({"text": file.display().to_string()})),
    );
    answered(photo.label, "the photo");
    let source = wait_for(&d, &sid, "const t = document.getElementById('source').textContent; return t.includes('Answer for') ? t : null;");
    assert!(source.as_str().unwrap().contains("photo.jpg"), "{source}");

    // A pad example goes onto the pad and is answered.
    clear_answer();
    script("[...document.querySelectorAll('#examples button')].find(b => b.dataset.name.startsWith('pad')).click();");
    let results = wait_for(&d, &sid, RESULTS);
    assert_eq!(results.as_array().unwrap().len(), ModelKind::ALL.len());
    let inked_pad = script(
        "const c = document.getElementById('pad').getContext('2d');
        const p = c.getImageData(0, 0, 280, 280).data; let dark = 0;
        for (let i = 0; i < p.length; i += 4) if (p[i] < 128) dark++; return dark;",
    );
    assert!(inked_pad.as_u64().unwrap() > 500, "{inked_pad}");

    // Switch to one model: the page predicts again with just that one.
    let option = find("#model option[value='svm']");
    d.call(
        "POST",
        &format!("/session/{sid}/element/{}/click", option.as_str().unwrap()),
        Some(json!({})),
    );
    let only = wait_for(&d, &sid, "const c = document.querySelectorAll('#results .card'); return c.length === 1 ? c[0].dataset.model : null;");
    assert_eq!(only, json!("svm"));
    // Back to all models for the screenshot.
    script("const s = document.getElementById('model'); s.value = 'all'; s.dispatchEvent(new Event('change'));");
    wait_for(
        &d,
        &sid,
        "return document.querySelectorAll('#results .card').length === 7;",
    );

    // Each answer explains itself: a card's "Why?" asks /api/explain and
    // draws the saliency and the model's own pictures on canvases.
    for kind in ModelKind::ALL {
        let name = kind.name();
        script(&format!(
            "document.querySelector('#results .card[data-model=\"{name}\"] .why-button').click();"
        ));
        let drawn = wait_for(
            &d,
            &sid,
            &format!(
                "const e = window.lastExplanation;
                if (!e || e.model !== '{name}' || document.getElementById('why').hidden) return null;
                const map = document.querySelector('#why-pictures .why-map');
                if (!e.map || !map || !map.dataset.drawn) return null;
                return [...document.querySelectorAll('#why-pictures .why-pic:not(.why-map) canvas')].map(c => {{
                    const p = c.getContext('2d').getImageData(0, 0, 112, 112).data; let n = 0;
                    for (let i = 0; i < p.length; i += 4) if (p[i] < 250 || p[i + 1] < 250 || p[i + 2] < 250) n++;
                    return n; }});"
            ),
        );
        let counts: Vec<u64> = (drawn.as_array().unwrap().iter())
            .map(|n| n.as_u64().unwrap())
            .collect();
        // The input and its saliency, then the model's own: softmax's two
        // templates and two contribution maps, kNN's neighbours, the SVM's
        // support vectors, the tree's path, the forest's tested pixels.
        // And the map: the training digits' points with this picture's place.
        let points = script(
            "return Number(document.querySelector('#why-pictures .why-map').dataset.drawn);",
        );
        assert!(
            points.as_u64().unwrap() >= 100,
            "{name}: map points {points}"
        );
        let own = match kind {
            ModelKind::Softmax => 4,
            ModelKind::Knn | ModelKind::Svm | ModelKind::Tree | ModelKind::Forest => 1,
            _ => 0,
        };
        assert!(counts.len() >= 2 + own, "{name}: {counts:?}");
        assert!(
            counts.iter().all(|&n| n > 20),
            "{name}: a blank picture: {counts:?}"
        );
    }
    let why_shot = d.call("GET", &format!("/session/{sid}/screenshot"), None);

    // Screenshot as a test artifact.
    let shot = d.call("GET", &format!("/session/{sid}/screenshot"), None);
    let png_bytes = base64::engine::general_purpose::STANDARD
        .decode(shot.as_str().unwrap())
        .unwrap();
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("browser.png"), &png_bytes).unwrap();
    let why_png = base64::engine::general_purpose::STANDARD
        .decode(why_shot.as_str().unwrap())
        .unwrap();
    std::fs::write(artifacts.join("browser-why.png"), &why_png).unwrap();
    assert_eq!(&png_bytes[1..4], b"PNG");
    // On a phone-sized window the page does not scroll sideways.
    d.call(
        "POST",
        &format!("/session/{sid}/window/rect"),
        Some(json!({"width": 390, "height": 844})),
    );
    let wide = wait_for(&d, &sid, "return window.innerWidth <= 420 ? [window.innerWidth, document.documentElement.scrollWidth] : null;");
    let (inner, scroll) = (wide[0].as_u64().unwrap(), wide[1].as_u64().unwrap());
    assert!(
        scroll <= inner,
        "horizontal scroll on a phone: {scroll} > {inner}"
    );
    d.call("DELETE", &format!("/session/{sid}"), None);
}

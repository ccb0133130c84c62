//! The inference workers survive what a picture can do to them: a
//! prediction that panics is a 500 for its request alone.

use crate::common;
use crate::common::post_full;

use mnist_support::api::Client;
use mnist_support::models::ModelKind;

/// A model that panics on an all-white picture (a bug a picture could find),
/// and otherwise predicts as the model it wraps.
#[derive(Debug)]
struct PanicsOnWhite(Box<dyn mnist_support::models::Classifier>);

impl mnist_support::models::Classifier for PanicsOnWhite {
    fn kind(&self) -> mnist_support::models::ModelKind {
        self.0.kind()
    }
    fn hyperparameters(&self) -> serde_json::Value {
        self.0.hyperparameters()
    }
    fn scaler(&self) -> &mnist_support::scale::Scaler {
        self.0.scaler()
    }
    fn runtime(&self) -> &'static str {
        self.0.runtime()
    }
    fn history(&self) -> Option<&mnist_support::models::History> {
        self.0.history()
    }
    fn predict_proba_scaled(
        &self,
        x: ndarray::ArrayView2<f32>,
    ) -> mnist_support::error::Result<ndarray::Array2<f32>> {
        self.0.predict_proba_scaled(x)
    }
    fn predict_scaled(
        &self,
        x: ndarray::ArrayView2<f32>,
    ) -> mnist_support::error::Result<ndarray::Array1<u8>> {
        self.0.predict_scaled(x)
    }
    fn to_bytes(&self) -> mnist_support::error::Result<Vec<u8>> {
        self.0.to_bytes()
    }
    fn why(
        &self,
        x: ndarray::ArrayView1<f32>,
    ) -> mnist_support::error::Result<mnist_support::models::Why> {
        self.0.why(x)
    }
    fn predict_proba(
        &self,
        x: ndarray::ArrayView2<f32>,
    ) -> mnist_support::error::Result<ndarray::Array2<f32>> {
        if x.rows().into_iter().any(|r| r.iter().all(|&v| v == 255.0)) {
            panic!("an all-white picture");
        }
        self.0.predict_proba(x)
    }
}

/// A prediction that panics is a 500 for its request alone: the one worker
/// goes on, answers the next request, and /healthz still counts it.
#[test]
fn a_panicking_prediction_is_a_500_and_the_worker_goes_on() {
    use mnist_support::models::Silent;
    use mnist_support::serve::{Loaded, Options, Served};
    let split = common::synthetic_split(300, 60, 3);
    let dir = tempfile::tempdir().unwrap();
    let store = mnist_support::store::Store::new(dir.path());
    let params = common::quick_model_with(ModelKind::Softmax, false);
    mnist_support::pipeline::run(&store, &params, &split, &Silent).unwrap();
    let (model, card) = store.load("softmax").unwrap();
    let served = Served {
        models: vec![Loaded {
            name: "softmax".into(),
            model: Box::new(PanicsOnWhite(model)),
            card,
        }],
        gate: None,
        map: None,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let options = Options {
            port: 0,
            workers: Some(1),
            rate_limit: 0,
            requests_per_second: 0,
            global_rate_limit: 0,
            quiet: true,
            ..Options::default()
        };
        mnist_support::serve::serve(served, Box::new(Vec::new), &options, |a| {
            let _ = tx.send(a);
        })
        .unwrap();
    });
    let addr = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
    let url = format!("http://{addr}");
    let body =
        |pixels: Vec<f32>| serde_json::json!({ "model": "all", "pixels": pixels }).to_string();
    let white = body(vec![255.0; 784]);
    let good = body(split.x_test.row(0).to_vec());
    for _ in 0..3 {
        let (code, _, said) = post_full(&url, white.as_bytes());
        assert_eq!(code, 500, "{said}");
        let (code, _, said) = post_full(&url, good.as_bytes());
        assert_eq!(code, 200, "the worker is gone after a panic: {said}");
    }
    let health = Client::new(&url, std::time::Duration::from_secs(10))
        .health()
        .unwrap();
    assert_eq!((health.status.as_str(), health.workers), ("ok", 1));
}

//! Shared helpers: synthetic IDX fixtures and access to the real data.
#![allow(dead_code)]

pub mod debian;

use std::io::Write;
use std::path::{Path, PathBuf};

/// IDX3 image bytes: `n` images of `rows`×`cols`, pixel = (i*7 + p) % 256.
pub fn idx_images(n: usize, rows: usize, cols: usize) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        b.extend_from_slice(&(d as u32).to_be_bytes());
    }
    for i in 0..n {
        for p in 0..rows * cols {
            b.push(((i * 7 + p) % 256) as u8);
        }
    }
    b
}

/// IDX1 label bytes.
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A directory holding the four files (gzipped), small: `n_train` and `n_test` images.
pub fn fixture_dir(n_train: usize, n_test: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let train_labels: Vec<u8> = (0..n_train).map(|i| (i % 10) as u8).collect();
    let test_labels: Vec<u8> = (0..n_test).map(|i| ((i * 3) % 10) as u8).collect();
    write(
        dir.path(),
        "train-images-idx3-ubyte.gz",
        &gz(&idx_images(n_train, 28, 28)),
    );
    write(
        dir.path(),
        "train-labels-idx1-ubyte.gz",
        &gz(&idx_labels(&train_labels)),
    );
    write(
        dir.path(),
        "t10k-images-idx3-ubyte.gz",
        &gz(&idx_images(n_test, 28, 28)),
    );
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte.gz",
        &gz(&idx_labels(&test_labels)),
    );
    dir
}

/// The real MNIST directory from `MNIST_DIR`. Tests that need it are
/// `#[ignore = "needs MNIST_DIR"]`, run with `--include-ignored` (the
/// README's test command, what CI runs); run without it, this says why.
pub fn real_data_dir() -> PathBuf {
    match std::env::var_os("MNIST_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => panic!(
            "this test needs the real MNIST files: set MNIST_DIR to the directory that holds them"
        ),
    }
}

/// A learnable synthetic split: each digit is a fixed random pattern of bright
/// pixels; every image is its class pattern with 10% of the pixels flipped and
/// some intensity jitter. Labels cycle 0..9.
pub fn synthetic_split(n_train: usize, n_eval: usize, seed: u64) -> mnist_support::data::Split {
    use mnist_support::data::{Split, PIXELS};
    use ndarray::{Array1, Array2};
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let protos: Vec<Vec<bool>> = (0..10)
        .map(|_| (0..PIXELS).map(|_| rng.gen_bool(0.25)).collect())
        .collect();
    let mut part = |n: usize| {
        let mut x = Array2::<f32>::zeros((n, PIXELS));
        let mut y = Array1::<u8>::zeros(n);
        for i in 0..n {
            let c = (i % 10) as u8;
            y[i] = c;
            for p in 0..PIXELS {
                let on = protos[c as usize][p] ^ rng.gen_bool(0.1);
                x[[i, p]] = if on {
                    rng.gen_range(150.0..=255.0f32).round()
                } else {
                    rng.gen_range(0.0..40.0f32).round()
                };
            }
        }
        (x, y)
    };
    let (x_train, y_train) = part(n_train);
    let (x_valid, y_valid) = part(n_eval);
    let (x_test, y_test) = part(n_eval);
    Split {
        x_train,
        x_valid,
        x_test,
        y_train,
        y_valid,
        y_test,
        checksums: vec![("synthetic".into(), seed.to_string())],
    }
}

/// A child process killed (and reaped) when dropped.
pub struct Kill(pub std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `mnist serve --port 0` over the models in `models`, started the way a user
/// starts it; `url` is `http://127.0.0.1:PORT` (no trailing slash).
pub struct Server {
    _process: Kill,
    pub url: String,
    /// The server's stderr (its log lines), when captured.
    pub log: Option<tempfile::NamedTempFile>,
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self._process.0.id()
    }

    /// The most memory the server's process has held resident so far (VmHWM), in bytes.
    pub fn peak_resident(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status");
        kb * 1024
    }

    /// What the server has logged so far.
    pub fn log_text(&self) -> String {
        self.log
            .as_ref()
            .map(|f| std::fs::read_to_string(f.path()).unwrap_or_default())
            .unwrap_or_default()
    }
}

pub fn start_server(models: &Path) -> Server {
    // No per-client rate limit: the tests send many requests from one address.
    start_server_with(
        models,
        &[
            "--rate-limit",
            "0",
            "--requests-per-second",
            "0",
            "--connections-per-client",
            "0",
            "--global-rate-limit",
            "0",
            "--megapixels-per-second",
            "0",
            "--heavy-megapixels-per-second",
            "0",
            "--quiet",
        ],
        false,
    )
}

/// `mnist serve --port 0 ARGS --dir MODELS`, its stderr kept when `capture_log`.
pub fn start_server_with(models: &Path, args: &[&str], capture_log: bool) -> Server {
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mnist"));
    cmd.args(["serve", "--port", "0"])
        .args(args)
        .arg("--dir")
        .arg(models);
    let log = capture_log.then(|| tempfile::NamedTempFile::new().unwrap());
    match &log {
        Some(f) => cmd.stderr(f.reopen().unwrap()),
        None => cmd.stderr(Stdio::inherit()),
    };
    let (process, url) = spawn_listening(cmd);
    Server {
        _process: process,
        url,
        log,
    }
}

/// Spawn a server command and wait for its `listening on http://ADDR/` line;
/// the process and `http://127.0.0.1:PORT` (an unspecified address is reached on loopback).
pub fn spawn_listening(mut cmd: std::process::Command) -> (Kill, String) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let process = Kill(child);
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("the server did not start: {line:?}"))
        .trim_end_matches('/')
        .replace("0.0.0.0", "127.0.0.1");
    (process, format!("http://{addr}"))
}

/// A model's default hyperparameters, except that networks train for one
/// epoch, in batches of 16 so that the small data still gives them steps.
pub fn quick_model(kind: mnist_support::models::ModelKind) -> mnist_support::models::AnyParams {
    quick_model_with(kind, true)
}

/// [`quick_model`], with or without what only makes sense for real digits:
/// the training distortions and deskewing (the synthetic digits are random
/// patterns, which shifts, rotations and shears do not preserve).
pub fn quick_model_with(
    kind: mnist_support::models::ModelKind,
    real_digits: bool,
) -> mnist_support::models::AnyParams {
    use mnist_support::augment::{Augment, Distort};
    use mnist_support::models::{
        DecisionTreeParams, ForestParams, KnnParams, ModelKind, NetParams, SoftmaxParams, SvmParams,
    };
    use mnist_support::scale::Scaling;
    match kind {
        ModelKind::Dnn | ModelKind::Cnn | ModelKind::Gate => {
            let base = match kind {
                ModelKind::Dnn => NetParams::dnn(),
                ModelKind::Gate => NetParams::gate(),
                _ => NetParams::cnn(),
            };
            NetParams {
                epochs: 1,
                batch_size: 16,
                distort: if real_digits {
                    base.distort
                } else {
                    Distort::NONE
                },
                typed: if real_digits { base.typed } else { 0 },
                ..base
            }
            .into()
        }
        _ if real_digits => kind.default_params().unwrap(),
        ModelKind::Tree => DecisionTreeParams {
            augment: Augment::NONE,
            ..Default::default()
        }
        .into(),
        ModelKind::Forest => ForestParams {
            augment: Augment::NONE,
            ..Default::default()
        }
        .into(),
        ModelKind::Softmax => SoftmaxParams {
            scaling: Scaling::Standard,
            augment: Augment::NONE,
            ..Default::default()
        }
        .into(),
        ModelKind::Knn => KnnParams {
            scaling: Scaling::Unit,
            augment: Augment::NONE,
            ..Default::default()
        }
        .into(),
        ModelKind::Svm => SvmParams {
            scaling: Scaling::MinMax,
            augment: Augment::NONE,
            ..Default::default()
        }
        .into(),
    }
}

/// The real split, the seven quick models and `mnist serve` over them (see
/// [`start_server`]).
pub fn served_small_models() -> (mnist_support::data::Split, tempfile::TempDir, Server) {
    let data = real_data_dir();
    let split = mnist_support::data::Split::load_from(&data).unwrap();
    let models = small_models(&split);
    let server = start_server(models.path());
    (split, models, server)
}

/// Every model trained on the first 3,000 training images (quick), and
/// their digit map, in a temp dir of the caller's own (see [`trained_once`]).
pub fn small_models(split: &mnist_support::data::Split) -> tempfile::TempDir {
    trained_once("small-models", |dir| {
        use mnist_support::models::{ModelKind, Silent};
        let small = split.head(3000, 500);
        for &kind in ModelKind::ALL {
            let store = mnist_support::store::Store::new(dir).retraining(true);
            mnist_support::pipeline::run(&store, &quick_model(kind), &small, &Silent).unwrap();
        }
        let store = mnist_support::store::Store::new(dir);
        store.map_or_fit(&small, &Silent).unwrap();
    })
}

/// A temp dir holding a copy of what `train` saved in
/// `CARGO_TARGET_TMPDIR/<name>`, which it does once per test process and
/// name (the first caller trains, the others wait for it): tests share the
/// training and may still write beside their models.
pub fn trained_once(name: &str, train: impl FnOnce(&Path)) -> tempfile::TempDir {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static CELLS: Mutex<Option<HashMap<String, Arc<OnceLock<PathBuf>>>>> = Mutex::new(None);
    // The map's lock is held only to find the name's cell, so trainings of
    // different names do not wait for each other.
    let cell = CELLS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .entry(name.to_owned())
        .or_default()
        .clone();
    let trained = cell.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        train(&dir);
        dir
    });
    let dir = tempfile::tempdir().unwrap();
    copy_dir(trained, dir.path());
    dir
}

/// A copy of the directory tree `from` at `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A digit gate trained on a little generated data (30 pictures of each
/// source, 300 non-digits, each in five crops, and 2,000 MNIST training
/// digits; 3 epochs), saved in `dir`.
pub fn small_gate(
    split: &mnist_support::data::Split,
    dir: &Path,
) -> mnist_support::pipeline::gate::Trained {
    use mnist_support::pipeline::gate;
    gate::train(
        split,
        gate::GateData {
            per_source: 30,
            non_digits: 300,
            mnist: 2000,
        },
        mnist_support::models::NetParams {
            epochs: 3,
            batch_size: 32,
            ..mnist_support::models::NetParams::gate()
        },
        &mnist_support::store::Store::new(dir),
        &mnist_support::models::Silent,
    )
    .unwrap()
}

/// [`small_models`] and a [`small_gate`] beside them.
pub fn small_models_with_gate(split: &mnist_support::data::Split) -> tempfile::TempDir {
    let dir = small_models(split);
    small_gate(split, dir.path());
    dir
}

/// A grayscale image as PNG bytes.
pub fn png_gray(gray: &mnist_support::preprocess::Gray) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, gray.width as u32, gray.height as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .unwrap()
        .write_image_data(&gray.pixels)
        .unwrap();
    out
}

/// `png` with one more chunk of type `kind` holding `data`, right after its
/// IHDR, its CRC (over the chunk's type and data) computed.
pub fn png_with_chunk(png: &[u8], kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let ihdr_end = 8 + 8 + 13 + 4; // signature, IHDR's length and type, data, CRC
    assert_eq!(&png[12..16], b"IHDR");
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    let mut out = png[..ihdr_end].to_vec();
    out.extend((data.len() as u32).to_be_bytes());
    out.extend(kind);
    out.extend(data);
    out.extend(crc.sum().to_be_bytes());
    out.extend(&png[ihdr_end..]);
    out
}

/// A zlib stream inflating to `n` zero bytes (about a thousandth of `n` long).
pub fn zlib_zeros(n: usize) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(block.len());
        z.write_all(&block[..k]).unwrap();
        left -= k;
    }
    z.finish().unwrap()
}

/// `gray` as a PNG whose iCCP colour profile inflates to `inflated` bytes:
/// a picture bomb that is small to send.
pub fn iccp_bomb(gray: &mnist_support::preprocess::Gray, inflated: usize) -> Vec<u8> {
    // Profile name, its NUL, compression method 0, the compressed profile.
    let mut data = b"bomb\0\0".to_vec();
    data.extend(zlib_zeros(inflated));
    png_with_chunk(&png_gray(gray), b"iCCP", &data)
}

/// Status, Retry-After and JSON body of one POST /api/predict.
pub fn post_full(url: &str, body: &[u8]) -> (u16, Option<String>, serde_json::Value) {
    let resp = ureq::post(&format!("{url}/api/predict"))
        .set("Content-Type", "application/json")
        .send_bytes(body);
    let r = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let (code, retry) = (r.status(), r.header("Retry-After").map(String::from));
    (
        code,
        retry,
        r.into_json().unwrap_or(serde_json::Value::Null),
    )
}

/// The test binary's allocator: the system's, counting the bytes each thread
/// allocates, so a test can bound what a call allocates ([`allocated_by`]).
struct Counting;

thread_local! {
    static ALLOCATED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn count(bytes: usize) {
    let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(bytes)));
}

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        count(layout.size());
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        count(layout.size());
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        count(new_size.saturating_sub(layout.size()));
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `f`'s result and the bytes this thread allocated while it ran (every
/// allocation and growth, however soon freed).
pub fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.with(|a| a.get());
    let out = f();
    (out, ALLOCATED.with(|a| a.get()) - before)
}

//! `mnist serve-bench`: load benchmark of the prediction server on loopback.

use std::path::PathBuf;

use mnist_support::data::Split;
use mnist_support::models;

use crate::AnyResult;

/// The models saved in `dir` (default: models/); those that fail to load are
/// named and skipped, none at all is an error.
pub fn load_saved(dir: Option<PathBuf>, who: &str) -> AnyResult<Vec<mnist_support::serve::Loaded>> {
    let dir = dir.unwrap_or_else(models::models_dir);
    let (loaded, failed) = mnist_support::serve::load_models(&dir)?;
    for f in failed {
        eprintln!("{who}: skipping {f}");
    }
    if loaded.is_empty() {
        return Err(format!(
            "no models in {}; train some with `cargo run --release -- train`",
            dir.display()
        )
        .into());
    }
    Ok(loaded)
}

/// Start the prediction server in this process on a free loopback port.
pub fn start_in_process(
    loaded: Vec<mnist_support::serve::Loaded>,
    examples: mnist_support::serve::MakeExamples,
    who: &'static str,
) -> AnyResult<std::net::SocketAddr> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = mnist_support::serve::serve(
            loaded,
            examples,
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            |a| {
                let _ = tx.send(a);
            },
        );
        if let Err(e) = r {
            eprintln!("{who}: server failed: {e}");
        }
    });
    Ok(rx.recv_timeout(std::time::Duration::from_secs(30))?)
}

pub fn serve_bench(clients: usize, requests: usize, dir: Option<PathBuf>) -> AnyResult<()> {
    if clients == 0 || requests == 0 {
        return Err("--clients and --requests must be positive".into());
    }
    let loaded = load_saved(dir, "serve-bench")?;
    let mut names: Vec<String> = loaded.iter().map(|m| m.name.clone()).collect();
    names.push("all".into());
    let split = Split::load()?;
    // Request bodies: the first 100 test digits as pixels.
    let bodies: Vec<String> = (0..100)
        .map(|i| serde_json::json!({ "pixels": split.x_test.row(i).to_vec() }).to_string())
        .collect();
    let addr = start_in_process(loaded, Box::new(Vec::new), "serve-bench")?;
    let url = format!("http://{addr}/api/predict");
    println!(
        "{clients} clients, {requests} requests per model, loopback, {} threads",
        rayon::current_num_threads()
    );
    println!(
        "{:<10} {:>10} {:>9} {:>9} {:>9}",
        "model", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for name in names {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let latencies = std::sync::Mutex::new(Vec::with_capacity(requests));
        let errors = std::sync::atomic::AtomicUsize::new(0);
        let start = std::time::Instant::now();
        std::thread::scope(|s| {
            for _ in 0..clients {
                s.spawn(|| {
                    let agent = ureq::AgentBuilder::new()
                        .timeout(std::time::Duration::from_secs(30))
                        .build();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= requests {
                            break;
                        }
                        let body = bodies[i % bodies.len()].replacen(
                            '{',
                            &format!("{{\"model\":\"{name}\","),
                            1,
                        );
                        let t = std::time::Instant::now();
                        let ok = agent
                            .post(&url)
                            .set("Content-Type", "application/json")
                            .send_string(&body)
                            .is_ok();
                        let ms = t.elapsed().as_secs_f64() * 1e3;
                        if ok {
                            latencies.lock().unwrap_or_else(|e| e.into_inner()).push(ms);
                        } else {
                            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let secs = start.elapsed().as_secs_f64();
        let mut l = latencies.into_inner().unwrap_or_else(|e| e.into_inner());
        l.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            if l.is_empty() {
                f64::NAN
            } else {
                l[((l.len() - 1) as f64 * p).round() as usize]
            }
        };
        println!(
            "{:<10} {:>10.1} {:>9.1} {:>9.1} {:>9}",
            name,
            l.len() as f64 / secs,
            pct(0.5),
            pct(0.99),
            errors.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    Ok(())
}

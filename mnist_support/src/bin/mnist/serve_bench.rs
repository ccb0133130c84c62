//! `mnist serve-bench`: load benchmark of the prediction server, on loopback
//! only, bounded in time and count. The server runs as its own process (the
//! Space's `mnist-serve` when it is built, else `mnist serve`), so its memory
//! is its own; CLIENTS threads each send one picture of a digit to every
//! model ("all") over a kept-alive connection, one request after another,
//! for SECONDS; a client told 503 waits the Retry-After it is given, as a
//! browser would. A prober asks /healthz ten times a second meanwhile.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mnist_support::api::{CallError, Client, PredictRequest};
use mnist_support::display::Table;

use crate::AnyResult;

/// The arguments of `mnist serve-bench`.
#[derive(clap::Args)]
pub struct ServeBenchArgs {
    /// Concurrent clients; several values run one after another.
    #[arg(long, num_args = 1.., default_values_t = [1, 16, 256])]
    pub clients: Vec<usize>,
    /// Seconds each run lasts.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// The server's queue bound (default: the server's own).
    #[arg(long)]
    pub queue: Option<usize>,
    /// Also start `mnist serve --libtorch` (the networks on libtorch) and
    /// compare its size, start time, memory and per-image times.
    #[arg(long)]
    pub vs_libtorch: bool,
    #[command(flatten)]
    pub dir: crate::args::ModelsDir,
}

/// Requests one run sends at most, all clients together.
const MAX_REQUESTS: usize = 200_000;

/// A server child process, killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The server binary to measure: `mnist-serve` beside this executable
/// (what a Space runs), else this executable's `serve`; with `libtorch`,
/// `mnist serve --libtorch`. Also the megabytes of the binary and the
/// shared libraries it brings (libtorch's).
fn server_command(libtorch: bool) -> AnyResult<(Command, String, f64)> {
    let me = std::env::current_exe()?;
    let alone = me.with_file_name("mnist-serve");
    let mb = |p: &std::path::Path| std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / 1e6);
    Ok(if alone.exists() && !libtorch {
        (
            Command::new(&alone),
            "mnist-serve (candle)".into(),
            mb(&alone),
        )
    } else {
        let mut c = Command::new(&me);
        c.arg("serve");
        if libtorch {
            c.arg("--libtorch");
        }
        let libs = mnist_support::data::project_root().join(".venv/libtorch/lib");
        let libs_mb: f64 = std::fs::read_dir(&libs)
            .map(|d| d.flatten().map(|e| mb(&e.path())).sum())
            .unwrap_or(0.0);
        let name = if libtorch {
            "mnist serve --libtorch"
        } else {
            "mnist serve (candle)"
        };
        (c, name.into(), mb(&me) + libs_mb)
    })
}

/// A server started for the benchmark.
struct Started {
    _child: Child,
    pid: u32,
    base: String,
    start_s: f64,
    name: String,
    binary_mb: f64,
}

fn start(libtorch: bool, dir: &std::path::Path, queue: Option<usize>) -> AnyResult<Started> {
    let (mut cmd, name, binary_mb) = server_command(libtorch)?;
    cmd.args([
        "--port",
        "0",
        "--rate-limit",
        "0",
        "--global-rate-limit",
        "0",
        "--megapixels-per-second",
        "0",
        "--quiet",
        "--dir",
    ])
    .arg(dir)
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if let Some(q) = queue {
        cmd.args(["--queue", &q.to_string()]);
    }
    let started = Instant::now();
    let mut child = Child(cmd.spawn()?);
    let pid = child.0.id();
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().ok_or("no server output")?).read_line(&mut line)?;
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("{name} did not start: {line:?}"))?
        .trim_end_matches('/')
        .to_string();
    Ok(Started {
        _child: child,
        pid,
        base,
        start_s: started.elapsed().as_secs_f64(),
        name,
        binary_mb,
    })
}

/// A started server's row of the servers table, and the names of its models:
/// its size, start time, memory once its models and examples are loaded and
/// at its peak so far, and per-image milliseconds per model.
fn server_row(
    s: &Started,
    split: &mnist_support::data::Split,
) -> AnyResult<(Vec<String>, Vec<String>)> {
    // The page's examples are made in the background from start-up on:
    // wait for them, so that the memory read is not a race with them.
    Client::new(&s.base, Duration::from_secs(120)).examples()?;
    let mb = |field| proc_kb(s.pid, field).unwrap_or(0) as f64 / 1024.0;
    let mut row = vec![
        s.name.clone(),
        format!("{:.0} MB", s.binary_mb),
        format!("{:.2} s", s.start_s),
        format!("{:.0} MB", mb("VmRSS:")),
        format!("{:.0} MB", mb("VmHWM:")),
    ];
    let ms = per_image_ms(&s.base, split)?;
    row.extend(ms.iter().map(|(_, v)| format!("{v:.2}")));
    Ok((ms.into_iter().map(|(m, _)| m).collect(), row))
}

/// Per model (and "all"), the median of the server's own milliseconds per
/// image over 40 single requests, one at a time, with test digits as pixels.
fn per_image_ms(base: &str, split: &mnist_support::data::Split) -> AnyResult<Vec<(String, f64)>> {
    let client = Client::new(base, Duration::from_secs(60));
    let models = client.models()?;
    let mut out = Vec::new();
    for m in &models.models {
        let mut ms = Vec::new();
        for i in 0..40 {
            let req = PredictRequest {
                model: Some(m.name.clone()),
                image: None,
                pixels: Some(split.x_test.row(i).to_vec()),
            };
            let r = client.predict(&req)?;
            ms.push(r.results.first().map_or(f64::NAN, |r| r.ms));
        }
        ms.sort_by(f64::total_cmp);
        out.push((m.name.clone(), percentile(&ms, 0.5)));
    }
    Ok(out)
}

/// Kilobytes of `field` (VmRSS, VmHWM) in /proc/PID/status.
fn proc_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[derive(Default)]
struct Tally {
    /// Latencies (ms) of answered predictions (200).
    ok: Vec<f64>,
    /// Latencies (ms) of 503 answers.
    busy: Vec<f64>,
    /// Count per other status.
    other: std::collections::BTreeMap<u16, usize>,
    /// Connection errors and timeouts.
    failed: usize,
}

pub fn serve_bench(a: ServeBenchArgs) -> AnyResult<()> {
    let ServeBenchArgs {
        clients,
        seconds,
        queue,
        vs_libtorch,
        dir,
    } = a;
    if clients.is_empty() || clients.iter().any(|&c| c == 0 || c > 1024) {
        return Err("--clients takes counts from 1 to 1024".into());
    }
    if !(seconds > 0.0 && seconds <= 120.0) {
        return Err("--seconds must be in (0, 120]".into());
    }
    let dir = dir.path();
    crate::fetch::ensure_data()?;
    // One picture: a pad drawing of a validation digit, through preprocessing each time.
    let split = mnist_support::data::Split::load()?;
    let examples = mnist_support::serve::example_inputs(&split);
    let picture = examples
        .iter()
        .find(|e| e.source == "pad")
        .ok_or("no pad example could be made")?;
    let body = serde_json::to_string(&PredictRequest {
        model: Some("all".into()),
        image: Some(picture.image.clone()),
        pixels: None,
    })?;

    let server = start(false, &dir, queue)?;
    let base = server.base.clone();
    let pid = server.pid;
    let health = Client::new(&base, Duration::from_secs(10)).health()?;
    let (models, first) = server_row(&server, &split)?;
    let mut rows = vec![first];
    if vs_libtorch {
        rows.push(server_row(&start(true, &dir, queue)?, &split)?.1);
    }
    let mut header: Vec<String> = [
        "server",
        "binary + libraries",
        "start to listening",
        "resident, models and examples loaded",
        "peak while loading",
    ]
    .map(String::from)
    .to_vec();
    header.extend(models.iter().map(|m| format!("{m} ms/image")));
    println!(
        "{}",
        Table::new(header, rows)
            .with_caption(format!(
                "Servers over the {} models in {} (per image: the server's own time for one 28×28 sent as pixels, median of 40)",
                health.models,
                dir.display()
            ))
            .to_text()
    );
    println!(
        "load: {}, queue {}, model \"all\", one pad drawing ({} bytes as JSON), {seconds} s per run, loopback",
        server.name,
        health.queue_limit,
        body.len()
    );

    let mut rows = Vec::new();
    for &n in &clients {
        let tally = Mutex::new(Tally::default());
        let health_ms = Mutex::new(Vec::new());
        let sent = std::sync::atomic::AtomicUsize::new(0);
        let done = AtomicBool::new(false);
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs_f64(seconds);
        std::thread::scope(|s| {
            s.spawn(|| {
                let client = Client::new(&base, Duration::from_secs(5));
                while !done.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    if client.health().is_ok() {
                        health_ms
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            let workers: Vec<_> = (0..n)
                .map(|_| {
                    s.spawn(|| {
                        let client = Client::new(&base, Duration::from_secs(30));
                        let mut mine = Tally::default();
                        while Instant::now() < deadline
                            && sent.fetch_add(1, Ordering::Relaxed) < MAX_REQUESTS
                        {
                            let t = Instant::now();
                            let r = client.predict_json(&body);
                            let ms = t.elapsed().as_secs_f64() * 1e3;
                            match r {
                                Ok(()) => mine.ok.push(ms),
                                Err(CallError::Status {
                                    code: 503,
                                    retry_after,
                                    ..
                                }) => {
                                    mine.busy.push(ms);
                                    let wait = retry_after.unwrap_or(1.0);
                                    let left = deadline.saturating_duration_since(Instant::now());
                                    std::thread::sleep(Duration::from_secs_f64(wait).min(left));
                                }
                                Err(CallError::Status { code, .. }) => {
                                    *mine.other.entry(code).or_default() += 1;
                                }
                                Err(CallError::Transport(_)) => mine.failed += 1,
                            }
                        }
                        let mut all = tally.lock().unwrap_or_else(|e| e.into_inner());
                        all.ok.extend(mine.ok);
                        all.busy.extend(mine.busy);
                        for (k, v) in mine.other {
                            *all.other.entry(k).or_default() += v;
                        }
                        all.failed += mine.failed;
                    })
                })
                .collect();
            for w in workers {
                let _ = w.join();
            }
            done.store(true, Ordering::Relaxed);
        });
        let secs = t0.elapsed().as_secs_f64();
        let mut t = tally.into_inner().unwrap_or_else(|e| e.into_inner());
        t.ok.sort_by(f64::total_cmp);
        t.busy.sort_by(f64::total_cmp);
        let mut h = health_ms.into_inner().unwrap_or_else(|e| e.into_inner());
        h.sort_by(f64::total_cmp);
        let others: Vec<String> = t.other.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        rows.push(vec![
            n.to_string(),
            format!("{:.1}", t.ok.len() as f64 / secs),
            format!("{:.1}", percentile(&t.ok, 0.5)),
            format!("{:.1}", percentile(&t.ok, 0.99)),
            t.ok.len().to_string(),
            format!(
                "{}{}",
                t.busy.len(),
                if t.busy.is_empty() {
                    String::new()
                } else {
                    format!(" (p99 {:.1} ms)", percentile(&t.busy, 0.99))
                }
            ),
            if others.is_empty() {
                "0".into()
            } else {
                others.join(", ")
            },
            t.failed.to_string(),
            format!("{:.1}", percentile(&h, 0.99)),
        ]);
    }
    let peak = proc_kb(pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0;
    let table = Table::new(
        [
            "clients",
            "answered/s",
            "p50 ms",
            "p99 ms",
            "200",
            "503",
            "other 4xx/5xx",
            "connection errors",
            "healthz p99 ms",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    )
    .with_caption(format!(
        "Prediction server under load (latency of answered predictions; server peak resident memory {peak:.0} MB)"
    ));
    println!("{}", table.to_text());
    Ok(())
}

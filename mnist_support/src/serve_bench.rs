//! A load test of a running prediction server, over its API only (`mnist
//! serve-bench` starts the server and calls it): CLIENTS threads each send the
//! same request, one after another over a kept-alive connection, for SECONDS;
//! a client told 503 waits the Retry-After it is given, as a browser would. A
//! prober asks /healthz ten times a second meanwhile.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::api::{CallError, Client, PredictRequest};
use crate::display::Table;
use crate::error::{Error, Result};

/// Requests one run sends at most, all clients together.
pub const MAX_REQUESTS: usize = 200_000;

/// What one run saw.
#[derive(Debug, Clone, Default)]
pub struct LoadRun {
    pub clients: usize,
    /// How long it lasted.
    pub seconds: f64,
    /// Latencies (ms) of answered predictions (200), sorted.
    pub ok: Vec<f64>,
    /// Latencies (ms) of 503 answers, sorted.
    pub busy: Vec<f64>,
    /// Count per other status.
    pub other: BTreeMap<u16, usize>,
    /// Connection errors and timeouts.
    pub failed: usize,
    /// Latencies (ms) of /healthz meanwhile, sorted.
    pub health: Vec<f64>,
}

impl LoadRun {
    /// Answered predictions per second.
    pub fn answered_per_second(&self) -> f64 {
        self.ok.len() as f64 / self.seconds.max(1e-9)
    }

    fn merge(&mut self, other: LoadRun) {
        self.ok.extend(other.ok);
        self.busy.extend(other.busy);
        for (k, v) in other.other {
            *self.other.entry(k).or_default() += v;
        }
        self.failed += other.failed;
    }

    fn row(&self) -> Vec<String> {
        let busy = match self.busy.is_empty() {
            true => "0".to_string(),
            false => format!(
                "{} (p99 {:.1} ms)",
                self.busy.len(),
                percentile(&self.busy, 0.99)
            ),
        };
        let others: Vec<String> = self
            .other
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        vec![
            self.clients.to_string(),
            format!("{:.1}", self.answered_per_second()),
            format!("{:.1}", percentile(&self.ok, 0.5)),
            format!("{:.1}", percentile(&self.ok, 0.99)),
            self.ok.len().to_string(),
            busy,
            if others.is_empty() {
                "0".into()
            } else {
                others.join(", ")
            },
            self.failed.to_string(),
            format!("{:.1}", percentile(&self.health, 0.99)),
        ]
    }
}

/// The runs as a table; `peak_mb`, the server's peak resident memory.
pub fn table(runs: &[LoadRun], peak_mb: f64) -> Table {
    let header = [
        "clients",
        "answered/s",
        "p50 ms",
        "p99 ms",
        "200",
        "503",
        "other 4xx/5xx",
        "connection errors",
        "healthz p99 ms",
    ];
    Table::new(header.map(String::from).to_vec(), runs.iter().map(LoadRun::row).collect())
        .with_caption(format!(
            "Prediction server under load (latency of answered predictions; server peak resident memory {peak_mb:.0} MB)"
        ))
}

/// `clients` clients POST `body` to `/api/predict` of the server at `base`
/// for `seconds` (at most [`MAX_REQUESTS`] in all).
pub fn run(base: &str, body: &str, clients: usize, seconds: f64) -> LoadRun {
    let total = Mutex::new(LoadRun {
        clients,
        ..LoadRun::default()
    });
    let health = Mutex::new(Vec::new());
    let sent = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(seconds);
    std::thread::scope(|s| {
        s.spawn(|| probe(base, &done, &health));
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| {
                    let mine = one_client(base, body, deadline, &sent);
                    total.lock().unwrap_or_else(|e| e.into_inner()).merge(mine);
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        done.store(true, Ordering::Relaxed);
    });
    let mut run = total.into_inner().unwrap_or_else(|e| e.into_inner());
    run.seconds = t0.elapsed().as_secs_f64();
    run.health = health.into_inner().unwrap_or_else(|e| e.into_inner());
    for v in [&mut run.ok, &mut run.busy, &mut run.health] {
        v.sort_by(f64::total_cmp);
    }
    run
}

/// /healthz ten times a second until `done`.
fn probe(base: &str, done: &AtomicBool, health: &Mutex<Vec<f64>>) {
    let client = Client::new(base, Duration::from_secs(5));
    while !done.load(Ordering::Relaxed) {
        let t = Instant::now();
        if client.health().is_ok() {
            let ms = t.elapsed().as_secs_f64() * 1e3;
            health.lock().unwrap_or_else(|e| e.into_inner()).push(ms);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One client's requests until `deadline`.
fn one_client(base: &str, body: &str, deadline: Instant, sent: &AtomicUsize) -> LoadRun {
    let client = Client::new(base, Duration::from_secs(30));
    let mut mine = LoadRun::default();
    while Instant::now() < deadline && sent.fetch_add(1, Ordering::Relaxed) < MAX_REQUESTS {
        let t = Instant::now();
        let r = client.predict_json(body);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        match r {
            Ok(()) => mine.ok.push(ms),
            Err(CallError::Status {
                code: 503,
                retry_after,
                ..
            }) => {
                mine.busy.push(ms);
                let wait = Duration::from_secs_f64(retry_after.unwrap_or(1.0));
                std::thread::sleep(wait.min(deadline.saturating_duration_since(Instant::now())));
            }
            Err(CallError::Status { code, .. }) => *mine.other.entry(code).or_default() += 1,
            Err(CallError::Transport(_)) => mine.failed += 1,
        }
    }
    mine
}

/// `measure` for every model the server at `base` serves: (name, figure).
fn per_model<T>(
    base: &str,
    mut measure: impl FnMut(&Client, &str) -> std::result::Result<T, CallError>,
) -> Result<Vec<(String, T)>> {
    let client = Client::new(base, Duration::from_secs(60));
    let failed = |e: CallError| Error::Process {
        what: format!("the server at {base}"),
        reason: e.to_string(),
    };
    let mut out = Vec::new();
    for m in &client.models().map_err(failed)?.models {
        out.push((m.name.clone(), measure(&client, &m.name).map_err(failed)?));
    }
    Ok(out)
}

/// Per model, the median of the server's own milliseconds per image over 40
/// single requests, one at a time, with test digits sent as pixels.
pub fn per_image_ms(base: &str, split: &crate::data::Split) -> Result<Vec<(String, f64)>> {
    per_model(base, |client, model| {
        let mut ms = Vec::new();
        for i in 0..40.min(split.x_test.nrows()) {
            let req = PredictRequest {
                model: Some(model.into()),
                image: None,
                pixels: Some(split.x_test.row(i).to_vec()),
            };
            let r = client.predict(&req)?;
            ms.push(r.results.first().map_or(f64::NAN, |r| r.ms));
        }
        ms.sort_by(f64::total_cmp);
        Ok(percentile(&ms, 0.5))
    })
}

/// Per model, the wall-clock milliseconds of `n` explanations
/// (`POST /api/explain`) of the picture `image` (base64 or a `data:` URL),
/// one at a time: the model's name, the median and the 99th percentile.
pub fn explain_ms(base: &str, image: &str, n: usize) -> Result<Vec<(String, f64, f64)>> {
    let timed = per_model(base, |client, model| {
        let req = PredictRequest {
            model: Some(model.into()),
            image: Some(image.to_string()),
            pixels: None,
        };
        let mut ms = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            client.explain(&req)?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        ms.sort_by(f64::total_cmp);
        Ok((percentile(&ms, 0.5), percentile(&ms, 0.99)))
    })?;
    Ok(timed
        .into_iter()
        .map(|(m, (p50, p99))| (m, p50, p99))
        .collect())
}

/// [`explain_ms`]'s figures as a table.
pub fn explain_table(rows: &[(String, f64, f64)], n: usize) -> Table {
    let rows = (rows.iter())
        .map(|(m, p50, p99)| vec![m.clone(), format!("{p50:.1} ms"), format!("{p99:.1} ms")])
        .collect();
    Table::new(
        vec!["model".into(), "explanation p50".into(), "p99".into()],
        rows,
    )
    .with_caption(format!(
        "POST /api/explain: {n} explanations of one pad drawing per model, one at a time, wall clock at the client"
    ))
}

/// The `p` quantile of `sorted` (nearest rank); NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_rows_read_what_was_measured() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 51.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert!(percentile(&[], 0.5).is_nan());
        let run = LoadRun {
            clients: 4,
            seconds: 2.0,
            ok: v,
            busy: vec![5.0],
            other: BTreeMap::from([(429, 3)]),
            ..LoadRun::default()
        };
        assert_eq!(run.answered_per_second(), 50.0);
        let row = run.row();
        assert_eq!(row[0], "4");
        assert_eq!(row[1], "50.0");
        assert_eq!(row[5], "1 (p99 5.0 ms)");
        assert_eq!(row[6], "429: 3");
    }

    #[test]
    fn a_run_against_no_server_counts_connection_errors() {
        // Port 9 (discard) on loopback: nothing listens in a test sandbox.
        let run = run("http://127.0.0.1:9", "{}", 2, 0.3);
        assert!(run.ok.is_empty());
        assert!(run.failed > 0, "{run:?}");
    }
}

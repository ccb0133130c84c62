//! `mnist serve-bench`: load benchmark of the prediction server, on loopback
//! only, bounded in time and count. The server runs as its own process (the
//! Space's `mnist-serve` when it is built, else `mnist serve`), so its memory
//! is its own; the load is the library's [`mnist_support::serve_bench`]: CLIENTS
//! clients each send one picture of a digit to every model ("all") for
//! SECONDS.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mnist_support::api::{Client, PredictRequest};
use mnist_support::config::Config;
use mnist_support::display::Table;
use mnist_support::serve_bench;

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
    let ms = serve_bench::per_image_ms(&s.base, split)?;
    row.extend(ms.iter().map(|(_, v)| format!("{v:.2}")));
    Ok((ms.into_iter().map(|(m, _)| m).collect(), row))
}

/// Kilobytes of `field` (VmRSS, VmHWM) of process `pid`.
fn proc_kb(pid: u32, field: &str) -> Option<u64> {
    crate::shared::proc_status_kb(&pid.to_string(), field)
}

pub fn serve_bench(config: &Config, a: ServeBenchArgs) -> AnyResult<()> {
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
    let dir = dir.path(config);
    crate::shared::ensure_data(config)?;
    let split = mnist_support::data::Split::load(config)?;
    let body = pad_request(&split)?;
    let server = start(false, &dir, queue)?;
    let health = Client::new(&server.base, Duration::from_secs(10)).health()?;
    let libtorch = vs_libtorch.then(|| start(true, &dir, queue)).transpose()?;
    let servers = std::iter::once(&server).chain(libtorch.as_ref());
    let caption = format!(
        "Servers over the {} models in {} (per image: the server's own time for one 28×28 sent as pixels, median of 40)",
        health.models,
        dir.display()
    );
    println!(
        "{}",
        servers_table(servers, &split)?
            .with_caption(caption)
            .to_text()
    );
    println!(
        "load: {}, queue {}, model \"all\", one pad drawing ({} bytes as JSON), {seconds} s per run, loopback",
        server.name,
        health.queue_limit,
        body.len()
    );
    let image = pad_image(&split)?;
    let explained = serve_bench::explain_ms(&server.base, &image, EXPLANATIONS)?;
    println!(
        "{}",
        serve_bench::explain_table(&explained, EXPLANATIONS).to_text()
    );
    let runs: Vec<serve_bench::LoadRun> = (clients.iter())
        .map(|&n| serve_bench::run(&server.base, &body, n, seconds))
        .collect();
    let peak = proc_kb(server.pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0;
    println!("{}", serve_bench::table(&runs, peak).to_text());
    Ok(())
}

/// Explanations asked of each model for their latency.
const EXPLANATIONS: usize = 100;

/// A pad drawing of a validation digit, as the page sends it.
fn pad_image(split: &mnist_support::data::Split) -> AnyResult<String> {
    let examples = mnist_support::serve::example_inputs(split);
    let picture = (examples.iter())
        .find(|e| e.source == "pad")
        .ok_or("no pad example could be made")?;
    Ok(picture.image.clone())
}

/// The request the load sends: the pad drawing (through preprocessing each
/// time) to every model.
fn pad_request(split: &mnist_support::data::Split) -> AnyResult<String> {
    Ok(serde_json::to_string(&PredictRequest {
        model: Some("all".into()),
        image: Some(pad_image(split)?),
        pixels: None,
    })?)
}

/// One row per started server ([`server_row`]).
fn servers_table<'a>(
    servers: impl Iterator<Item = &'a Started>,
    split: &mnist_support::data::Split,
) -> AnyResult<Table> {
    let mut header: Vec<String> = [
        "server",
        "binary + libraries",
        "start to listening",
        "resident, models and examples loaded",
        "peak while loading",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for s in servers {
        let (models, row) = server_row(s, split)?;
        if rows.is_empty() {
            header.extend(models.iter().map(|m| format!("{m} ms/image")));
        }
        rows.push(row);
    }
    Ok(Table::new(header, rows))
}

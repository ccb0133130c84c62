//! Starting `mnist serve` from a notebook: the server runs as its own process
//! (the project's `mnist` CLI, `target/release/mnist serve`), so the kernel
//! stays light and stopping the kernel or calling [`ServerProcess::stop`]
//! ends it; [`crate::api::Client`] talks to it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::display::{html_escape, Bundle, Figure, Rich, Table};
use crate::error::{Error, Result};
use crate::real_inputs::InputsReport;

/// Is `name` an executable on PATH?
pub fn on_path(name: &str) -> bool {
    crate::config::Config::get().on_path(name)
}

/// The `mnist` CLI this project builds (`target/release/mnist`, or under
/// `CARGO_TARGET_DIR`): the notebooks run the server and the benchmark with
/// it. The library builds nothing: `cargo setup` and `cargo build --release`
/// build it. Missing, it is an error naming that command; older than the
/// crate's sources, a warning says to rebuild it.
fn mnist_command(root: &std::path::Path) -> Result<Command> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let binary = target.join("release").join("mnist");
    let built = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .map_err(|_| Error::Process {
            what: format!(
                "the mnist CLI is not built ({} is missing)",
                binary.display()
            ),
            reason: "build it once with `cargo build --release` in the project".into(),
        })?;
    if newest_source(&root.join("mnist_support").join("src")).is_some_and(|t| t > built) {
        // On stdout: the notebook runner takes stderr for a failing cell.
        println!(
            "note: {} is older than the crate's sources; rebuild it with `cargo build --release` \
             to run the current code",
            binary.display()
        );
    }
    let mut cmd = Command::new(binary);
    cmd.current_dir(root);
    Ok(cmd)
}

/// The latest modification time of the files under `dir`.
fn newest_source(dir: &std::path::Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else if let Ok(t) = meta.modified() {
                newest = newest.max(Some(t));
            }
        }
    }
    newest
}

/// The real-inputs benchmark on the held-out set over the models in `dir`
/// (`per_source` inputs of each source): what `mnist bench-inputs` measured
/// for exactly these saved models when it did ([`real_inputs::measured_dir`]),
/// or measured now by `mnist bench-inputs` (as its own process, over the
/// real server path); the report, the gallery of answers and the
/// preprocessing steps.
pub fn bench_inputs(
    dir: &std::path::Path,
    per_source: usize,
) -> Result<(InputsReport, Figure, Figure)> {
    use crate::real_inputs::{measured_dir, MEASURED_GALLERY, MEASURED_REPORT, MEASURED_STEPS};
    let kept = measured_dir(dir, per_source)?;
    let whole = [MEASURED_REPORT, MEASURED_GALLERY, MEASURED_STEPS]
        .iter()
        .all(|f| kept.join(f).exists());
    if whole {
        println!(
            "the real-inputs benchmark of these saved models, as `mnist bench-inputs` measured it ({})",
            kept.display()
        );
    } else {
        let root = crate::data::project_root();
        let out = mnist_command(&root)?
            .args(["bench-inputs", "--json"])
            .args(["--per-source", &per_source.to_string(), "--dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::io("mnist", e))?;
        if !out.status.success() {
            return Err(Error::Process {
                what: "mnist bench-inputs failed".into(),
                reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
    }
    let path = kept.join(MEASURED_REPORT);
    let text = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let report: InputsReport = serde_json::from_slice(&text).map_err(|e| Error::Decode {
        what: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok((
        report,
        Figure::load(
            "Real inputs and the models' answers",
            &kept.join(MEASURED_GALLERY),
        )?,
        Figure::load("Preprocessing, step by step", &kept.join(MEASURED_STEPS))?,
    ))
}

/// A running `mnist serve` (its log: `target/mnist-serve.log`).
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl ServerProcess {
    /// Start the server on `port` (0 = any free port)
    /// over the models in `dir`; returns once it listens.
    pub fn start(port: u16, dir: &std::path::Path) -> Result<ServerProcess> {
        let root = crate::data::project_root();
        // The server's log goes to a file: stderr in a notebook cell reads as a failure.
        let log_path = root.join("target").join("mnist-serve.log");
        if let Some(parent) = log_path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let log = std::fs::File::create(&log_path).map_err(|e| Error::io(&log_path, e))?;
        let mut child = mnist_command(&root)?
            .args(["serve", "--port", &port.to_string(), "--dir"])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| Error::io("mnist", e))?;
        let mut line = String::new();
        let out = child.stdout.take().ok_or_else(|| Error::Process {
            what: "mnist serve".into(),
            reason: "no stdout".into(),
        })?;
        BufReader::new(out)
            .read_line(&mut line)
            .map_err(|e| Error::io("mnist serve", e))?;
        match line.trim().strip_prefix("listening on ") {
            Some(url) => Ok(ServerProcess {
                child,
                url: url.trim_end_matches('/').to_string(),
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                Err(Error::Process {
                    what: "the server did not start".into(),
                    reason: log.trim().to_string(),
                })
            }
        }
    }

    /// A client of the server ([`crate::api::Client`]).
    pub fn client(&self) -> crate::api::Client {
        crate::api::Client::new(&self.url, std::time::Duration::from_secs(60))
    }

    /// The models the server answers with, as a table (`GET /api/models`).
    pub fn models(&self) -> Result<Table> {
        let models = self.client().models().map_err(|e| Error::Process {
            what: format!("GET {}/api/models", self.url),
            reason: e.to_string(),
        })?;
        let rows = models
            .models
            .iter()
            .map(|m| {
                vec![
                    m.name.clone(),
                    m.title.clone(),
                    m.test_accuracy
                        .map(crate::metrics::percent)
                        .unwrap_or_else(|| "–".into()),
                    m.train_images.map(|n| n.to_string()).unwrap_or_default(),
                ]
            })
            .collect();
        Ok(Table::new(
            vec![
                "name".into(),
                "model".into(),
                "MNIST test accuracy".into(),
                "trained on".into(),
            ],
            rows,
        )
        .with_caption(format!("Models served at {}/", self.url)))
    }

    /// A screenshot of the page at `path` (e.g. `/?demo=pad`: an example
    /// drawing on the pad, predicted) taken by headless Chromium.
    pub fn screenshot(&self, path: &str, width: u32, height: u32) -> Result<Figure> {
        let browser = ["chromium", "chromium-browser", "google-chrome"]
            .into_iter()
            .find(|b| on_path(b))
            .ok_or_else(|| Error::Process {
                what: "no Chromium on PATH for the screenshot".into(),
                reason: "`cargo setup` installs Debian's chromium".into(),
            })?;
        let root = crate::data::project_root().join("target");
        let profile = root.join("chromium-profile");
        let shot = root.join("page-screenshot.png");
        let _ = std::fs::remove_file(&shot);
        let out = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=15000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--screenshot={}", shot.display()))
            .arg(format!("{}{path}", self.url))
            .output()
            .map_err(|e| Error::io(browser, e))?;
        if !shot.exists() {
            return Err(Error::Process {
                what: format!("{browser} wrote no screenshot"),
                reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Figure::load(format!("the page at {path}"), &shot)
    }

    /// Stop the server.
    pub fn stop(mut self) -> Result<()> {
        self.child.kill().map_err(|e| Error::io("mnist serve", e))?;
        let _ = self.child.wait();
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// The page in a frame: the deployed Space when `MNIST_SPACE_URL` is set
    /// (graders can try the models from the HTML export itself), else this
    /// server, with `screenshot` shown in its place wherever the server cannot
    /// be reached (an HTML export opened later, after the server stopped).
    pub fn page(&self, screenshot: &Figure) -> PageFrame {
        PageFrame {
            local: self.url.clone(),
            space: crate::config::Config::get().space_url.clone(),
            screenshot: screenshot.img_tag(),
        }
    }
}

/// The server's page in a frame (see [`ServerProcess::page`]).
#[derive(Debug, Clone)]
pub struct PageFrame {
    pub local: String,
    pub space: Option<String>,
    screenshot: String,
}

impl Rich for PageFrame {
    fn bundle(&self) -> Bundle {
        let local = html_escape(&self.local);
        let html = match &self.space {
            Some(space) => {
                let space = html_escape(space);
                format!(
                    "<p>The deployed Space: <a href=\"{space}/\" target=\"_blank\">{space}/</a> \
                     (this notebook's server: <a href=\"{local}/\" target=\"_blank\">{local}/</a>)</p>\
                     <iframe src=\"{space}/\" width=\"100%\" height=\"640\" style=\"border:1px solid #ccc\"></iframe>"
                )
            }
            None => {
                let id = format!("page{}", std::process::id());
                format!(
                    "<p>Server running at <a href=\"{local}/\" target=\"_blank\">{local}/</a></p>\
                     <div id=\"{id}\"><iframe src=\"{local}/\" width=\"100%\" height=\"640\" style=\"border:1px solid #ccc\"></iframe></div>\
                     <template id=\"{id}-shot\"><p><i>The server of this notebook is not running now, so here is \
                     its page as it was (set MNIST_SPACE_URL to show a deployed Space here instead):</i></p>{shot}</template>\
                     <script>fetch('{local}/healthz', {{mode: 'no-cors'}}).catch(() => {{\
                     const d = document.getElementById('{id}'); \
                     d.replaceChildren(document.getElementById('{id}-shot').content.cloneNode(true)); }});</script>",
                    shot = self.screenshot
                )
            }
        };
        vec![
            ("text/html", html),
            (
                "text/plain",
                format!(
                    "page at {}/{}",
                    self.local,
                    self.space
                        .as_ref()
                        .map(|s| format!(", deployed at {s}/"))
                        .unwrap_or_default()
                ),
            ),
        ]
    }
}

crate::display::inherent_rich!(PageFrame);

impl Rich for ServerProcess {
    fn bundle(&self) -> Bundle {
        vec![
            ("text/plain", format!("server running at {}/", self.url)),
            (
                "text/html",
                format!(
                    "<p>Server running at <a href=\"{0}/\" target=\"_blank\">{0}/</a></p>",
                    html_escape(&self.url)
                ),
            ),
        ]
    }
}


crate::display::inherent_rich!(ServerProcess);

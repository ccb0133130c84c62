//! Starting `mnist serve` from a notebook: the server runs as its own process
//! (`cargo run --release -- serve`), so the kernel stays light and stopping the
//! kernel or calling [`ServerProcess::stop`] ends it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use crate::display::{html_escape, Bundle, Rich};
use crate::error::{Error, Result};

/// A running `mnist serve` (its log: `target/mnist-serve.log`).
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl ServerProcess {
    /// Build (if needed) and start the server on `port` (0 = any free port)
    /// over the models in `dir`; returns once it listens.
    pub fn start(port: u16, dir: &std::path::Path) -> Result<ServerProcess> {
        let root = crate::data::project_root();
        // The server's log goes to a file: stderr in a notebook cell reads as a failure.
        let log_path = root.join("target").join("mnist-serve.log");
        if let Some(parent) = log_path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let log = std::fs::File::create(&log_path).map_err(|e| Error::io(&log_path, e))?;
        let mut child = Command::new("cargo")
            .current_dir(&root)
            .args([
                "run",
                "--release",
                "--quiet",
                "--bin",
                "mnist",
                "--",
                "serve",
                "--port",
                &port.to_string(),
                "--dir",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| Error::io("cargo", e))?;
        let mut line = String::new();
        let out = child
            .stdout
            .take()
            .ok_or_else(|| Error::Param("no stdout from the server".into()))?;
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
                Err(Error::Param(format!(
                    "the server did not start:\n{}",
                    log.trim()
                )))
            }
        }
    }

    /// `GET path` on the server; the response body.
    pub fn get(&self, path: &str) -> Result<String> {
        let host = self.url.trim_start_matches("http://");
        let mut s = TcpStream::connect(host).map_err(|e| Error::io(host, e))?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| Error::io(host, e))?;
        let mut text = String::new();
        s.read_to_string(&mut text)
            .map_err(|e| Error::io(host, e))?;
        Ok(text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default())
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

impl Rich for ServerProcess {
    fn bundle(&self) -> Bundle {
        let url = html_escape(&self.url);
        vec![
            (
                "text/html",
                format!(
                    "<p>Server running at <a href=\"{url}/\" target=\"_blank\">{url}/</a></p>\
                     <iframe src=\"{url}/\" width=\"100%\" height=\"560\" style=\"border:1px solid #ccc\"></iframe>"
                ),
            ),
            ("text/plain", format!("server running at {}/", self.url)),
        ]
    }
}

crate::display::inherent_rich!(ServerProcess);

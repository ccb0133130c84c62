//! The server on a thread of this process, for a notebook or a benchmark:
//! [`start`] returns once it listens; [`Background::stop`] or dropping the
//! handle ends it.

use std::net::SocketAddr;
use std::time::Duration;

use super::{MakeExamples, Options, Served};
use crate::error::{Error, Result};

/// A server running on a thread of this process.
pub struct Background {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The deployed Space that [`page`](Background::page) frames, if any.
    pub space_url: Option<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

/// Serve `served` with `options` on a thread of this process; returns once
/// the server listens (or with the reason it could not).
pub fn start(served: Served, make_examples: MakeExamples, options: &Options) -> Result<Background> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = options.clone();
    let thread = std::thread::Builder::new()
        .name("mnist-serve".into())
        .spawn(move || {
            let stopped = async {
                let _ = stop_rx.await;
            };
            super::serve_until(
                served,
                make_examples,
                &options,
                |addr| {
                    let _ = ready_tx.send(addr);
                },
                stopped,
            )
        })
        .map_err(|e| Error::io("the server's thread", e))?;
    match ready_rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => Ok(Background {
            addr,
            space_url: None,
            stop: Some(stop_tx),
            thread: Some(thread),
        }),
        Err(_) => {
            // It ended (or hung) before it listened: its error says why.
            drop(stop_tx);
            let reason = match thread.join() {
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(())) => "it ended before it listened".into(),
                Err(_) => "its thread panicked".into(),
            };
            Err(Error::Process {
                what: "the server did not start".into(),
                reason,
            })
        }
    }
}

impl Background {
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop the server and wait for it to end.
    pub fn stop(mut self) -> Result<()> {
        self.end()
    }

    fn end(&mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Error::Process {
                what: "the server".into(),
                reason: "its thread panicked".into(),
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.end();
    }
}

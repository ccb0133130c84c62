//! The server's options: how it listens and what it allows (`mnist serve
//! --help` lists them with their defaults).

use std::net::{IpAddr, SocketAddr};

/// How the server listens and what it allows.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct Options {
    /// Address to listen on: 127.0.0.1 is this machine only; 0.0.0.0 is
    /// every network it is on (a classroom, a container).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Inference threads (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Predictions that may wait for a worker; past it the answer is 503
    /// with Retry-After.
    #[arg(long, default_value_t = 48)]
    pub queue: usize,
    /// Megapixels of pictures per second one client may send (a picture's
    /// size, read from its header before it is queued), with bursts of three
    /// times as many; 0 turns the budget off.
    #[arg(long, default_value_t = 8)]
    pub megapixels_per_second: u32,
    /// Predictions per second one client may ask for, with bursts of three
    /// times as many; 0 turns the limit off.
    #[arg(long, default_value_t = 10)]
    pub rate_limit: u32,
    /// Proxies in front of the server that each append their peer's address
    /// to X-Forwarded-For (a Hugging Face Space: 1): the client is the entry
    /// that many places from the right, which no client can write; 0 counts
    /// the peer's address.
    #[arg(long, default_value_t = 0)]
    pub trusted_proxies: usize,
    /// The same as `--trusted-proxies 1` (what Spaces written before ran).
    #[arg(long, hide = true)]
    pub behind_proxy: bool,
    /// Predictions per second from all clients together, with bursts of as
    /// many (a backstop against many addresses at once); past it 503 with
    /// Retry-After; 0 turns it off.
    #[arg(long, default_value_t = 400)]
    pub global_rate_limit: u32,
    /// Seconds a client has to send a request's headers, and again its
    /// whole body.
    #[arg(long, default_value_t = 10)]
    pub read_timeout: u64,
    /// Seconds one write of an answer may wait for the client to read.
    #[arg(long, default_value_t = 10)]
    pub write_timeout: u64,
    /// Connections open at once; past it, new ones wait until one closes.
    #[arg(long, default_value_t = 512)]
    pub max_connections: usize,
    /// Seconds a prediction may take, waiting included (then 503).
    #[arg(long, default_value_t = 30)]
    pub answer_timeout: u64,
    /// No log line per request.
    #[arg(long)]
    pub quiet: bool,
}

impl Default for Options {
    /// The defaults of the command line (`#[arg(default_value…)]` above), so
    /// they are written once.
    fn default() -> Self {
        use clap::{Args, FromArgMatches};
        let cmd = Options::augment_args(clap::Command::new("serve"));
        Options::from_arg_matches(&cmd.get_matches_from(["serve"]))
            .expect("the defaults are valid options")
    }
}

impl Options {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The proxies whose X-Forwarded-For entries are trusted.
    pub fn proxies(&self) -> usize {
        match (self.trusted_proxies, self.behind_proxy) {
            (0, true) => 1,
            (n, _) => n,
        }
    }

    pub(super) fn workers(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults come from the command line's definition, and parse.
    #[test]
    fn options_default_to_the_command_line_defaults() {
        let o = Options::default();
        assert_eq!(o.addr(), SocketAddr::from(([127, 0, 0, 1], 8000)));
        assert!(o.queue > 0 && o.rate_limit > 0 && o.proxies() == 0 && !o.quiet);
        assert!(o.global_rate_limit > o.rate_limit);
    }
}

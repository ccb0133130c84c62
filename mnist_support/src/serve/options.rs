//! The server's options: how it listens and what it allows. The command
//! lines (`mnist serve`, `mnist-serve`) wrap them (`bin/serve_args.rs`), with
//! these defaults.

use std::net::{IpAddr, SocketAddr};

/// How the server listens and what it allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Address to listen on: 127.0.0.1 is this machine only; 0.0.0.0 is
    /// every network it is on (a classroom, a container).
    pub host: IpAddr,
    /// Port (0 picks a free one).
    pub port: u16,
    /// Inference threads (default: one per core).
    pub workers: Option<usize>,
    /// Predictions that may wait for a worker; past it the answer is 503
    /// with Retry-After.
    pub queue: usize,
    /// Megapixels of pictures per second one client may send (a picture's
    /// size, read from its header before it is queued), with bursts of three
    /// times as many; 0 turns the budget off.
    pub megapixels_per_second: u32,
    /// Megapixels per second of large pictures (over 1 megapixel) from all
    /// clients together, with bursts of three times as many; past it 503
    /// with Retry-After; 0 turns it off.
    pub heavy_megapixels_per_second: u32,
    /// Predictions per second one client may ask for, with bursts of three
    /// times as many; 0 turns the limit off.
    pub rate_limit: u32,
    /// Requests per second one client may send to any route (the page and
    /// its files, `/healthz`, the API), with bursts of three times as many;
    /// 0 turns the limit off.
    pub requests_per_second: u32,
    /// Proxies in front of the server that each append their peer's address
    /// to X-Forwarded-For (a Hugging Face Space: 1): the client is the entry
    /// that many places from the right, which no client can write; 0 counts
    /// the peer's address.
    pub trusted_proxies: usize,
    /// The same as `--trusted-proxies 1` (what Spaces written before ran).
    pub behind_proxy: bool,
    /// Predictions per second from all clients together, with bursts of as
    /// many (a backstop against many addresses at once); past it 503 with
    /// Retry-After; 0 turns it off.
    pub global_rate_limit: u32,
    /// Seconds a client has to send a request's headers, and again its
    /// whole body.
    pub read_timeout: u64,
    /// Seconds one write of an answer may wait for the client to read.
    pub write_timeout: u64,
    /// Connections open at once; past it, new ones wait until one closes.
    pub max_connections: usize,
    /// Connections open at once from one address (an IPv6 client's /64)
    /// when clients connect directly; past it a new one is answered 429 and
    /// closed. Not applied behind trusted proxies (every connection comes
    /// from the proxy); 0 turns it off.
    pub connections_per_client: usize,
    /// Seconds a prediction may take, waiting included (then 503).
    pub answer_timeout: u64,
    /// No log line per request.
    pub quiet: bool,
}

impl Options {
    /// The defaults (what `mnist serve --help` shows).
    pub const DEFAULT: Options = Options {
        host: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        port: 8000,
        workers: None,
        queue: 48,
        megapixels_per_second: 8,
        heavy_megapixels_per_second: 20,
        rate_limit: 10,
        requests_per_second: 30,
        trusted_proxies: 0,
        behind_proxy: false,
        global_rate_limit: 400,
        read_timeout: 10,
        write_timeout: 10,
        max_connections: 512,
        connections_per_client: 32,
        answer_timeout: 30,
        quiet: false,
    };
}

impl Default for Options {
    fn default() -> Self {
        Options::DEFAULT
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

    #[test]
    fn the_defaults_are_sensible() {
        let o = Options::default();
        assert_eq!(o.addr(), SocketAddr::from(([127, 0, 0, 1], 8000)));
        assert!(o.queue > 0 && o.rate_limit > 0 && o.proxies() == 0 && !o.quiet);
        assert!(o.global_rate_limit > o.rate_limit);
    }
}

//! The server's options on the command line, shared by `mnist serve` and
//! `mnist-serve`: the library's `serve::Options`, with its defaults
//! (`Options::DEFAULT`) and help.

use std::net::IpAddr;

use mnist_support::serve::Options;

const D: Options = Options::DEFAULT;

/// How the server listens and what it allows.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeOptions {
    /// Address to listen on: 127.0.0.1 is this machine only; 0.0.0.0 is
    /// every network it is on (a classroom, a container).
    #[arg(long, default_value_t = D.host)]
    pub host: IpAddr,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = D.port)]
    pub port: u16,
    /// Inference threads (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Predictions that may wait for a worker; past it the answer is 503
    /// with Retry-After.
    #[arg(long, default_value_t = D.queue)]
    pub queue: usize,
    /// Megapixels of pictures per second one client may send (a picture's
    /// size, read from its header before it is queued), with bursts of three
    /// times as many; 0 turns the budget off.
    #[arg(long, default_value_t = D.megapixels_per_second)]
    pub megapixels_per_second: u32,
    /// Megapixels per second of large pictures (over 1 megapixel) from all
    /// clients together, with bursts of three times as many; past it 503
    /// with Retry-After; 0 turns it off.
    #[arg(long, default_value_t = D.heavy_megapixels_per_second)]
    pub heavy_megapixels_per_second: u32,
    /// Predictions per second one client may ask for, with bursts of three
    /// times as many; 0 turns the limit off.
    #[arg(long, default_value_t = D.rate_limit)]
    pub rate_limit: u32,
    /// Requests per second one client may send to any route (the page and
    /// its files, /healthz, the API), with bursts of three times as many;
    /// 0 turns the limit off.
    #[arg(long, default_value_t = D.requests_per_second)]
    pub requests_per_second: u32,
    /// Proxies in front of the server that each append their peer's address
    /// to X-Forwarded-For (a Hugging Face Space: 1): the client is the entry
    /// that many places from the right, which no client can write; 0 counts
    /// the peer's address.
    #[arg(long, default_value_t = D.trusted_proxies)]
    pub trusted_proxies: usize,
    /// The same as `--trusted-proxies 1` (what Spaces written before ran).
    #[arg(long, hide = true)]
    pub behind_proxy: bool,
    /// Predictions per second from all clients together, with bursts of as
    /// many (a backstop against many addresses at once); past it 503 with
    /// Retry-After; 0 turns it off.
    #[arg(long, default_value_t = D.global_rate_limit)]
    pub global_rate_limit: u32,
    /// Seconds a client has to send a request's headers, and again its
    /// whole body.
    #[arg(long, default_value_t = D.read_timeout)]
    pub read_timeout: u64,
    /// Seconds one write of an answer may wait for the client to read.
    #[arg(long, default_value_t = D.write_timeout)]
    pub write_timeout: u64,
    /// Connections open at once; past it, new ones wait until one closes.
    #[arg(long, default_value_t = D.max_connections)]
    pub max_connections: usize,
    /// Connections open at once from one address when clients connect
    /// directly (not behind --trusted-proxies); past it a new one is
    /// answered 429 and closed; 0 turns it off.
    #[arg(long, default_value_t = D.connections_per_client)]
    pub connections_per_client: usize,
    /// Seconds a prediction may take, waiting included (then 503).
    #[arg(long, default_value_t = D.answer_timeout)]
    pub answer_timeout: u64,
    /// No log line per request.
    #[arg(long)]
    pub quiet: bool,
}

impl From<ServeOptions> for Options {
    fn from(o: ServeOptions) -> Options {
        Options {
            host: o.host,
            port: o.port,
            workers: o.workers,
            queue: o.queue,
            megapixels_per_second: o.megapixels_per_second,
            heavy_megapixels_per_second: o.heavy_megapixels_per_second,
            rate_limit: o.rate_limit,
            requests_per_second: o.requests_per_second,
            trusted_proxies: o.trusted_proxies,
            behind_proxy: o.behind_proxy,
            global_rate_limit: o.global_rate_limit,
            read_timeout: o.read_timeout,
            write_timeout: o.write_timeout,
            max_connections: o.max_connections,
            connections_per_client: o.connections_per_client,
            answer_timeout: o.answer_timeout,
            quiet: o.quiet,
        }
    }
}

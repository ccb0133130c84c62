//! The HTTP side of the server: the accept loop with a timeout on reading
//! each request's headers, and the middleware (body size, rate limit, the
//! log line).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::Service;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::{KeyExtractor, PeerIpKeyExtractor};
use tower_governor::{GovernorError, GovernorLayer};

use super::{ApiError, Options, MAX_BODY};

/// The connection limits of [`run`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// To send a request's headers (then the connection is closed).
    pub header_timeout: Duration,
    /// For one write of an answer to make progress (a client that stops
    /// reading is cut off).
    pub write_timeout: Duration,
    /// Connections open at once; past it, new ones wait in the listen
    /// backlog until one closes.
    pub max_connections: usize,
    /// Connections open at once from one client address ([`network_of`]);
    /// past it a new one is answered 429 and closed (0: no cap).
    pub per_client: usize,
}

/// The connections open from each client address, for [`Limits::per_client`].
#[derive(Default)]
struct OpenPerClient(std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>);

/// One connection counted in [`OpenPerClient`] until dropped.
struct ClientConnection {
    open: std::sync::Arc<OpenPerClient>,
    client: IpAddr,
}

impl OpenPerClient {
    /// Count a connection from `client`, or `None` when it already has `cap` open.
    fn admit(self: &std::sync::Arc<Self>, client: IpAddr, cap: usize) -> Option<ClientConnection> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(client).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(ClientConnection {
            open: self.clone(),
            client,
        })
    }
}

impl Drop for ClientConnection {
    fn drop(&mut self) {
        let mut open = self.open.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// What a client past [`Limits::per_client`] reads before its connection is closed.
fn too_many_connections() -> Vec<u8> {
    let body = serde_json::json!({
        "error": "too many connections from your address at once; retry in 1 s"
    })
    .to_string();
    format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Accept connections on `listener` and serve `app` on each (HTTP/1.1 with
/// keep-alive) within `limits` until `shutdown`.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let mut make = app.into_make_service_with_connect_info::<SocketAddr>();
    let graceful = GracefulShutdown::new();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let open = std::sync::Arc::new(OpenPerClient::default());
    tokio::pin!(shutdown);
    loop {
        // A slot first: at the limit, nothing more is accepted.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors, say: wait, do not spin.
                        eprintln!("serve: cannot accept a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let counted = match limits.per_client {
                    0 => None,
                    cap => match open.admit(network_of(peer.ip()), cap) {
                        Some(c) => Some(c),
                        None => {
                            // Answered and closed off the loop, its slot free at
                            // once; what the client sent is read for a second (closing
                            // on unread bytes would reset the connection, and the
                            // client might never see the answer).
                            tokio::spawn(async move {
                                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                                let mut stream = stream;
                                let second = Duration::from_secs(1);
                                let answer = too_many_connections();
                                if let Ok(Ok(())) = tokio::time::timeout(second, stream.write_all(&answer)).await {
                                    let _ = stream.shutdown().await;
                                    let mut sink = [0u8; 4096];
                                    let _ = tokio::time::timeout(second, async {
                                        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                                    })
                                    .await;
                                }
                            });
                            continue;
                        }
                    },
                };
                let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
                stream.set_write_timeout(Some(limits.write_timeout));
                let Ok(svc) = make.call(peer).await;
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_timeout)
                    .serve_connection(TokioIo::new(Box::pin(stream)), TowerToHyperService::new(svc));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop((slot, counted));
                });
            }
            _ = &mut shutdown => break,
        }
    }
    // Let the requests in flight finish, for a few seconds at most.
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// The whole body within the read timeout (`within`), however it comes:
/// a body trickled a byte at a time is cut off with 408 when the time is up,
/// not merely when one byte is late. The body is read here, at most
/// [`MAX_BODY`] bytes (413 past it), and handed on whole.
pub async fn body_deadline(
    axum::extract::State(within): axum::extract::State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(within, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, bytes.into())).await,
        Ok(Err(_)) => ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over {MAX_BODY} bytes, or broken off"),
        )
        .into_response(),
        Err(_) => ApiError(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                within.as_secs()
            ),
        )
        .into_response(),
    }
}

/// A body announced as larger than [`MAX_BODY`] is refused at once, before
/// any of it is read (chunked bodies are cut at the limit while reading).
pub async fn refuse_large_bodies(req: Request, next: Next) -> Response {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match announced {
        Some(n) if n > MAX_BODY as u64 => ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is {n} bytes; at most {MAX_BODY} are accepted"),
        )
        .into_response(),
        _ => next.run(req).await,
    }
}

/// What every answer carries: a Content-Security-Policy that lets the page
/// load only its own script, style and data (pictures as `data:` and `blob:`
/// URLs, the camera's stream), be framed by Hugging Face (a Space's page) and
/// local notebooks, and nothing else; `nosniff`; no referrer.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'self' https://huggingface.co https://*.huggingface.co https://*.hf.space \
    http://localhost:* http://127.0.0.1:* vscode-webview:";

pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A request's path as the log shows it: printable ASCII only (anything
/// else, control characters included, becomes `?`), at most 80 characters.
pub fn loggable_path(path: &str) -> String {
    const MAX: usize = 80;
    let mut shown: String = path
        .chars()
        .take(MAX)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    if path.chars().count() > MAX {
        shown.push_str("...");
    }
    shown
}

/// One line per request on stderr: method, path (see [`loggable_path`]),
/// status, milliseconds. Never the query or the body (the picture).
pub async fn log_request(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), loggable_path(req.uri().path()));
    let t = Instant::now();
    let response = next.run(req).await;
    eprintln!(
        "{method} {path} {} {:.1} ms",
        response.status().as_u16(),
        t.elapsed().as_secs_f64() * 1e3
    );
    response
}

/// The client a rate limit counts: the peer's address, or behind
/// `proxies` trusted proxies the X-Forwarded-For entry that many places
/// from the right (each proxy appends the address it was reached from, so
/// the entries left of it are the client's to write and are never read).
/// An IPv6 client counts by its /64, the block one household or machine
/// gets. A request that did not pass all the proxies (too few entries, or
/// one that is not an address) counts as the peer.
#[derive(Debug, Clone, Copy)]
struct ClientKey {
    proxies: usize,
}

impl KeyExtractor for ClientKey {
    type Key = IpAddr;

    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<IpAddr, GovernorError> {
        let peer = PeerIpKeyExtractor.extract(req)?;
        Ok(client_of(req.headers(), peer, self.proxies))
    }
}

/// What a limit counts for a request from `peer` (see [`ClientKey`]).
pub fn client_of(headers: &axum::http::HeaderMap, peer: IpAddr, proxies: usize) -> IpAddr {
    let ip = match proxies {
        0 => peer,
        n => forwarded_client(headers, n).unwrap_or(peer),
    };
    network_of(ip)
}

/// Each client's budget of preprocessing, in megapixels a second with
/// bursts of three seconds' worth (`--megapixels-per-second`): a picture's
/// cost is its size, read from its header before it is queued, so one client
/// sending large pictures meets 429 long before its request count would.
pub struct Budget {
    limiter: governor::DefaultKeyedRateLimiter<IpAddr>,
    proxies: usize,
    per_second: u32,
}

/// A budget counts in tenths of a megapixel.
const CELLS_PER_MEGAPIXEL: f64 = 10.0;

/// `per_second` megapixels a second, in cells, with bursts of three
/// seconds' worth; `None` for 0 (no budget).
fn megapixel_quota(per_second: u32) -> Option<governor::Quota> {
    let cells = std::num::NonZeroU32::new(
        (per_second as f64 * CELLS_PER_MEGAPIXEL).min(u32::MAX as f64 / 4.0) as u32,
    )?;
    let burst = cells.saturating_mul(std::num::NonZeroU32::new(3).expect("3 > 0"));
    Some(governor::Quota::per_second(cells).allow_burst(burst))
}

/// A picture's cost in cells (at least one).
fn cells_of(megapixels: f64) -> std::num::NonZeroU32 {
    let cells = (megapixels * CELLS_PER_MEGAPIXEL)
        .ceil()
        .clamp(1.0, u32::MAX as f64) as u32;
    std::num::NonZeroU32::new(cells).expect("at least 1")
}

/// What a budget's check answers: nothing when the picture fits; when the
/// budget is spent for now, `status` with `Retry-After` and `spent(seconds
/// to wait)`; for a picture larger than a whole burst, 413 with `too_large`.
fn budget_answer(
    checked: Result<
        Result<(), governor::NotUntil<governor::clock::QuantaInstant>>,
        governor::InsufficientCapacity,
    >,
    status: StatusCode,
    spent: impl FnOnce(u64) -> String,
    too_large: impl FnOnce() -> String,
) -> Result<(), Response> {
    match checked {
        Ok(Ok(())) => Ok(()),
        Ok(Err(not_until)) => {
            use governor::clock::{Clock, DefaultClock};
            let wait = not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1);
            let mut r = ApiError(status, spent(wait)).into_response();
            r.headers_mut().insert(header::RETRY_AFTER, wait.into());
            Err(r)
        }
        Err(_) => Err(ApiError(StatusCode::PAYLOAD_TOO_LARGE, too_large()).into_response()),
    }
}

impl Budget {
    /// `None` when `options` turn it off.
    pub fn new(options: &Options) -> Option<std::sync::Arc<Budget>> {
        let per_second = options.megapixels_per_second;
        let budget = std::sync::Arc::new(Budget {
            limiter: governor::RateLimiter::keyed(megapixel_quota(per_second)?),
            proxies: options.proxies(),
            per_second,
        });
        let weak = std::sync::Arc::downgrade(&budget);
        std::thread::spawn(move || {
            while let Some(budget) = weak.upgrade() {
                budget.limiter.retain_recent();
                budget.limiter.shrink_to_fit();
                drop(budget);
                std::thread::sleep(Duration::from_secs(10));
            }
        });
        Some(budget)
    }

    /// Take `megapixels` from the budget of the client of a request from
    /// `peer` with `headers`: 429 with `Retry-After` when it is spent for
    /// now, 413 for a picture larger than a whole burst.
    pub fn charge(
        &self,
        headers: &axum::http::HeaderMap,
        peer: IpAddr,
        megapixels: f64,
    ) -> Result<(), Response> {
        let key = client_of(headers, peer, self.proxies);
        budget_answer(
            self.limiter.check_key_n(&key, cells_of(megapixels)),
            StatusCode::TOO_MANY_REQUESTS,
            |wait| {
                format!(
                "your pictures add up to more than {} megapixels a second; retry in {wait} s (or send smaller ones)",
                self.per_second
            )
            },
            || {
                format!(
                "a {megapixels:.1}-megapixel picture is over this server's budget of {} megapixels a second for one client: scale it down",
                self.per_second
            )
            },
        )
    }
}

/// Every client's large pictures together (over
/// [`HEAVY_MEGAPIXELS`](super::pool::HEAVY_MEGAPIXELS)), in megapixels a
/// second with bursts of three seconds' worth
/// (`--heavy-megapixels-per-second`): many addresses each inside their own
/// budget cannot together keep the workers decoding large pictures; past it
/// 503 with `Retry-After`. Cheap inputs never count against it.
pub struct HeavyBudget {
    limiter: governor::DefaultDirectRateLimiter,
    per_second: u32,
}

impl HeavyBudget {
    /// `None` when `options` turn it off.
    pub fn new(options: &Options) -> Option<HeavyBudget> {
        let per_second = options.heavy_megapixels_per_second;
        Some(HeavyBudget {
            limiter: governor::RateLimiter::direct(megapixel_quota(per_second)?),
            per_second,
        })
    }

    /// Take `megapixels` of a large picture from everyone's budget.
    pub fn charge(&self, megapixels: f64) -> Result<(), Response> {
        budget_answer(
            self.limiter.check_n(cells_of(megapixels)),
            StatusCode::SERVICE_UNAVAILABLE,
            |wait| {
                format!(
                "the server is decoding {} megapixels of large pictures a second from everyone; retry in {wait} s (or send a smaller picture)",
                self.per_second
            )
            },
            || {
                format!(
                "a {megapixels:.1}-megapixel picture is over this server's budget of {} megapixels a second for large pictures: scale it down",
                self.per_second
            )
            },
        )
    }
}

/// The X-Forwarded-For entry `proxies` places from the right, over every
/// X-Forwarded-For header in order; `None` when there are fewer entries or
/// it is not an address. Only that entry is read: what a client wrote to
/// the left of it (junk, bytes that are not text) changes nothing, so it
/// cannot make the request count as the proxy.
pub fn forwarded_client(headers: &axum::http::HeaderMap, proxies: usize) -> Option<IpAddr> {
    let mut entries: Vec<&[u8]> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        entries.extend(value.as_bytes().split(|&b| b == b','));
    }
    let entry = entries.len().checked_sub(proxies).map(|i| entries[i])?;
    address_of(std::str::from_utf8(entry).ok()?.trim())
}

/// An X-Forwarded-For entry as an address: `203.0.113.7`, `2001:db8::1`,
/// or with a port or brackets, as some proxies write it (`203.0.113.7:5678`,
/// `[2001:db8::1]:5678`, `[2001:db8::1]`).
fn address_of(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// What a rate limit counts for an address: itself (IPv4, or IPv4 mapped
/// into IPv6), or an IPv6 address's /64.
pub fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
        v4 => v4,
    }
}

/// Every request alike: the global backstop's one key.
#[derive(Debug, Clone, Copy)]
struct Everyone;

impl KeyExtractor for Everyone {
    type Key = ();

    fn extract<T>(&self, _: &axum::http::Request<T>) -> Result<(), GovernorError> {
        Ok(())
    }
}

/// `route` with the per-client rate limit of `options` (none when 0): past
/// it, 429 with `Retry-After`; and the global backstop
/// (`--global-rate-limit`, none when 0): past it, 503 with `Retry-After`.
pub fn rate_limited<S: Clone + Send + Sync + 'static>(
    route: MethodRouter<S>,
    options: &Options,
) -> MethodRouter<S> {
    let route = match options.global_rate_limit {
        0 => route,
        all => route.layer(limiter(all, all, Everyone, move |wait| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the server is taking {all} predictions a second from everyone; retry in {wait} s"),
            )
        })),
    };
    match options.rate_limit {
        0 => route,
        per_second => route.layer(limiter(
            per_second,
            per_second.saturating_mul(3),
            ClientKey {
                proxies: options.proxies(),
            },
            move |wait| {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("too many predictions from your address: at most {per_second} a second; retry in {wait} s"),
                )
            },
        )),
    }
}

/// Every route of `router` with the per-client limit on requests of
/// `options` (`--requests-per-second`, none when 0): past it, 429 with
/// `Retry-After`, whatever the route.
pub fn requests_limited<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    options: &Options,
) -> Router<S> {
    match options.requests_per_second {
        0 => router,
        per_second => router.layer(limiter(
            per_second,
            per_second.saturating_mul(3),
            ClientKey {
                proxies: options.proxies(),
            },
            move |wait| {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("too many requests from your address: at most {per_second} a second; retry in {wait} s"),
                )
            },
        )),
    }
}

/// A governor layer allowing `per_second` requests with bursts of `burst`
/// per key of `key`; past it, `refuse(seconds to wait)` with `Retry-After`.
/// Keys not seen for a while are forgotten and the table shrunk every ten
/// seconds, so it holds no more than the clients of the last moments.
fn limiter<K>(
    per_second: u32,
    burst: u32,
    key: K,
    refuse: impl Fn(u64) -> (StatusCode, String) + Send + Sync + 'static,
) -> GovernorLayer<K, governor::middleware::NoOpMiddleware, axum::body::Body>
where
    K: KeyExtractor + Send + Sync + 'static,
    K::Key: Send + Sync + 'static,
{
    let config = GovernorConfigBuilder::default()
        .per_nanosecond(1_000_000_000 / u64::from(per_second))
        .burst_size(burst)
        .key_extractor(key)
        .finish()
        .expect("a positive rate and burst");
    let limiter = config.limiter().clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(10));
        limiter.retain_recent();
        limiter.shrink_to_fit();
    });
    GovernorLayer::new(config).error_handler(move |e| {
        let (status, message, wait) = match e {
            GovernorError::TooManyRequests { wait_time, .. } => {
                let wait = wait_time.max(1);
                let (status, message) = refuse(wait);
                (status, message, wait)
            }
            other => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("rate limit: {other}"),
                1,
            ),
        };
        let mut r = ApiError(status, message).into_response();
        r.headers_mut().insert(header::RETRY_AFTER, wait.into());
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_counted_from_the_right() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let h = headers(&["6.6.6.6, 1.2.3.4", "10.0.0.1"]);
        assert_eq!(forwarded_client(&h, 1), Some(ip("10.0.0.1")));
        assert_eq!(forwarded_client(&h, 2), Some(ip("1.2.3.4")));
        assert_eq!(forwarded_client(&h, 3), Some(ip("6.6.6.6")));
        assert_eq!(forwarded_client(&h, 4), None, "fewer entries than proxies");
        assert_eq!(forwarded_client(&headers(&["junk"]), 1), None);
        assert_eq!(forwarded_client(&HeaderMap::new(), 1), None);
        // Junk the client wrote left of the proxy's entry, even bytes that
        // are not text, does not hide the entry.
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"\xff\xfe junk, 203.0.113.7").unwrap(),
        );
        assert_eq!(forwarded_client(&h, 1), Some(ip("203.0.113.7")));
        // Entries with a port or brackets, as some proxies write them.
        for (entry, want) in [
            ("203.0.113.7:5678", "203.0.113.7"),
            ("[2001:db8::1]:5678", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
        ] {
            assert_eq!(
                forwarded_client(&headers(&[entry]), 1),
                Some(ip(want)),
                "{entry}"
            );
        }
    }

    #[test]
    fn the_log_shows_a_short_printable_path() {
        assert_eq!(loggable_path("/api/predict"), "/api/predict");
        assert_eq!(loggable_path("/a\u{1b}[2J\nb"), "/a?[2J?b");
        let long = format!("/{}", "x".repeat(70_000));
        assert_eq!(loggable_path(&long).len(), 83);
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(network_of(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            network_of(ip("2001:db8:1:2::1")),
            network_of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            network_of(ip("2001:db8:1:2::1")),
            network_of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(network_of(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
        assert_eq!(network_of(ip("1.2.3.4")), ip("1.2.3.4"));
    }
}

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
use tower_governor::key_extractor::{KeyExtractor, PeerIpKeyExtractor, SmartIpKeyExtractor};
use tower_governor::{GovernorError, GovernorLayer};

use super::{ApiError, Options, MAX_BODY};

/// Accept connections on `listener` and serve `app` on each (HTTP/1.1 with
/// keep-alive) until `shutdown`; a client that has not sent a request's
/// headers within `header_timeout` is disconnected.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut make = app.into_make_service_with_connect_info::<SocketAddr>();
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
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
                let Ok(svc) = make.call(peer).await;
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    // Let the requests in flight finish, for a few seconds at most.
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
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

/// One line per request on stderr: method, path, status, milliseconds.
/// Never the query or the body (the picture).
pub async fn log_request(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let t = Instant::now();
    let response = next.run(req).await;
    eprintln!(
        "{method} {path} {} {:.1} ms",
        response.status().as_u16(),
        t.elapsed().as_secs_f64() * 1e3
    );
    response
}

/// The client a rate limit counts: the peer's address, or behind a proxy
/// the address the proxy names (X-Forwarded-For, X-Real-IP, Forwarded).
#[derive(Debug, Clone, Copy)]
struct ClientKey {
    behind_proxy: bool,
}

impl KeyExtractor for ClientKey {
    type Key = IpAddr;

    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<IpAddr, GovernorError> {
        if self.behind_proxy {
            SmartIpKeyExtractor.extract(req)
        } else {
            PeerIpKeyExtractor.extract(req)
        }
    }
}

/// `route` with the per-client rate limit of `options` (none when 0): past
/// it, 429 with `Retry-After`.
pub fn rate_limited<S: Clone + Send + Sync + 'static>(
    route: MethodRouter<S>,
    options: &Options,
) -> MethodRouter<S> {
    if options.rate_limit == 0 {
        return route;
    }
    let per_second = options.rate_limit;
    let config = GovernorConfigBuilder::default()
        .per_nanosecond(1_000_000_000 / u64::from(per_second))
        .burst_size(per_second.saturating_mul(3))
        .key_extractor(ClientKey {
            behind_proxy: options.behind_proxy,
        })
        .finish()
        .expect("a positive rate and burst");
    let limiter = config.limiter().clone();
    // Forget clients not seen for a while, so the table stays small.
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(60));
        limiter.retain_recent();
    });
    let layer = GovernorLayer::new(config).error_handler(move |e| {
        let (status, message, wait) = match e {
            GovernorError::TooManyRequests { wait_time, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many predictions from your address: at most {per_second} a second; retry in {wait_time} s"
                ),
                wait_time.max(1),
            ),
            other => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("rate limit: {other}"),
                1,
            ),
        };
        let mut r = ApiError(status, message).into_response();
        r.headers_mut().insert(header::RETRY_AFTER, wait.into());
        r
    });
    route.layer(layer)
}

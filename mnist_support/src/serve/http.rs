//! The HTTP side of the server: the accept loop (the timeouts on reading
//! each request's headers and on writing, the connection caps), and the
//! middleware (the body deadline and size, the security headers, the log
//! line). Who a request is from is [`super::client`]; the rate limits and
//! budgets are [`super::limits`].

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::Service;

use super::client::network_of;
use super::{ApiError, MAX_BODY};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_shows_a_short_printable_path() {
        assert_eq!(loggable_path("/api/predict"), "/api/predict");
        assert_eq!(loggable_path("/a\u{1b}[2J\nb"), "/a?[2J?b");
        let long = format!("/{}", "x".repeat(70_000));
        assert_eq!(loggable_path(&long).len(), 83);
    }
}

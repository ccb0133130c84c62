//! The limits on what clients ask for: each client's rate of requests and
//! of predictions, its megapixel budget, and everyone's budget for large
//! pictures; past one, 429 or 503 with `Retry-After` (413 for a picture over
//! a whole burst).

use std::net::IpAddr;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};

use super::client::{client_of, ClientKey};
use super::{ApiError, Options};

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
        per_second => route.layer(per_client(per_second, options, "predictions")),
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
        per_second => router.layer(per_client(per_second, options, "requests")),
    }
}

/// A client's limit of `per_second` `what` (predictions, requests) a
/// second, with bursts of three seconds' worth: past it, 429.
fn per_client(
    per_second: u32,
    options: &Options,
    what: &'static str,
) -> GovernorLayer<ClientKey, governor::middleware::NoOpMiddleware, axum::body::Body> {
    let key = ClientKey {
        proxies: options.proxies(),
    };
    limiter(per_second, per_second.saturating_mul(3), key, move |wait| {
        (
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many {what} from your address: at most {per_second} a second; retry in {wait} s"),
        )
    })
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

//! The HTTP transport below both platform APIs: one client (bounded time, no
//! redirects), one JSON call, retries with backoff that honour `Retry-After`, and the
//! delivery errors every chat call can end in.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use serde_json::Value;

/// Why a message could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("refused: {0}")]
    NotAllowed(String),
    #[error("the chat server answered HTTP {status}{}", .detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Rejected { status: u16, detail: Option<String> },
    #[error("the chat server could not be reached: {0}")]
    Unreachable(String),
    /// The request may have reached the server, which gave no answer (a timeout, a
    /// connection cut after sending): a post may have been made all the same.
    #[error("the chat server did not answer: {0}")]
    Unconfirmed(String),
}

impl DeliveryError {
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Rejected { status, .. } => *status == 429 || *status >= 500,
            DeliveryError::Unreachable(_) | DeliveryError::Unconfirmed(_) => true,
            DeliveryError::NotAllowed(_) => false,
        }
    }
}

/// Attempts per delivery, the first included.
const MAX_ATTEMPTS: u32 = 4;
/// First delay between attempts; doubled each time.
const BASE_DELAY: Duration = Duration::from_millis(250);
/// The longest `Retry-After` the bot waits for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// One attempt's result, with the `Retry-After` the server asked for.
pub type Attempt = (Result<Value, DeliveryError>, Option<Duration>);

/// Runs a call until it succeeds, fails for good, or runs out of attempts; waits as long
/// as `Retry-After` asks (capped), else backs off exponentially. Each attempt after the
/// first is counted in `retries` (`outbox_retries_total`).
pub async fn with_retries<F, Fut>(
    what: &str,
    retries: &Counter,
    once: F,
) -> Result<Value, DeliveryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    retrying(what, retries, true, once).await
}

/// As [`with_retries`], for a post made once (tagged): an attempt that may have posted
/// (`Unconfirmed`) is not repeated here; the caller looks for the post by its tag first.
pub async fn with_retries_unless_unconfirmed<F, Fut>(
    what: &str,
    retries: &Counter,
    once: F,
) -> Result<Value, DeliveryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    retrying(what, retries, false, once).await
}

async fn retrying<F, Fut>(
    what: &str,
    retries: &Counter,
    unconfirmed_too: bool,
    mut once: F,
) -> Result<Value, DeliveryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (result, retry_after) = once().await;
        match result {
            Ok(v) => return Ok(v),
            Err(e @ DeliveryError::Unconfirmed(_)) if !unconfirmed_too => return Err(e),
            Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                let backoff = BASE_DELAY * 2u32.pow(attempt - 1);
                let delay = retry_after.map_or(backoff, |d| d.min(MAX_RETRY_AFTER));
                tracing::warn!(error = %e, attempt, ?delay, %what, "retrying a call to the chat server");
                tokio::time::sleep(delay).await;
                retries.inc();
            }
            Err(e) => return Err(e),
        }
    }
}

/// Time one call to a chat server may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client for calls to chat servers: bounded time, no redirects (a redirect
/// could lead a follow-up to a host that was never allowed).
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("usersync-bot/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Sends one JSON request (with the bot's token when given) and reads the answer: its
/// JSON on success, else `Rejected` with the server's short reason (a JSON error's
/// `message`/`error`, or the text) and the `Retry-After` it asked for.
pub async fn send_json(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: url::Url,
    body: &Value,
    bearer: Option<&secrecy::SecretString>,
) -> Attempt {
    answer(authorized(http.request(method, url).json(body), bearer)).await
}

/// Sends one GET (with the bot's token when given) and reads the answer as [`send_json`]
/// does.
pub async fn get_json(
    http: &reqwest::Client,
    url: url::Url,
    bearer: Option<&secrecy::SecretString>,
) -> Attempt {
    answer(authorized(http.get(url), bearer)).await
}

fn authorized(
    request: reqwest::RequestBuilder,
    bearer: Option<&secrecy::SecretString>,
) -> reqwest::RequestBuilder {
    use secrecy::ExposeSecret;
    match bearer {
        Some(token) => request.bearer_auth(token.expose_secret()),
        None => request,
    }
}

/// Sends a request and reads its answer: its JSON on success, else `Rejected` with the
/// server's short reason and the `Retry-After` it asked for.
async fn answer(request: reqwest::RequestBuilder) -> Attempt {
    let response = match request.send().await {
        Ok(r) => r,
        // No connection: nothing was sent. Otherwise it may have been.
        Err(e) if e.is_connect() => {
            return (
                Err(DeliveryError::Unreachable(e.without_url().to_string())),
                None,
            )
        }
        Err(e) => {
            return (
                Err(DeliveryError::Unconfirmed(e.without_url().to_string())),
                None,
            )
        }
    };
    let status = response.status();
    let wait = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        let detail = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                ["message", "error"]
                    .iter()
                    .find_map(|k| v[*k].as_str().map(str::to_string))
            })
            .or_else(|| (!text.trim().is_empty()).then(|| text.trim().chars().take(200).collect()));
        return (
            Err(DeliveryError::Rejected {
                status: status.as_u16(),
                detail,
            }),
            wait,
        );
    }
    (Ok(serde_json::from_str(&text).unwrap_or(Value::Null)), wait)
}

/// The `Retry-After` of a response, in seconds.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

//! Posting to chat after the command's reply, whatever the platform: follow-ups through
//! the command's `response_url`, and messages posted or edited with the bot's token.

use std::time::Duration;

use serde_json::Value;

use crate::chat::mattermost::api::MattermostApi;
use crate::chat::mattermost::render as mm_render;
use crate::chat::slack::api::SlackApi;
use crate::chat::slack::render as slack_render;
use crate::domain::Platform;
use crate::message::Message;

/// Why a message could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("refused: {0}")]
    NotAllowed(String),
    #[error("the chat server answered HTTP {status}{}", .detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Rejected { status: u16, detail: Option<String> },
    #[error("the chat server could not be reached: {0}")]
    Unreachable(String),
}

impl DeliveryError {
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Rejected { status, .. } => *status == 429 || *status >= 500,
            DeliveryError::Unreachable(_) => true,
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
/// as `Retry-After` asks (capped), else backs off exponentially.
pub async fn with_retries<F, Fut>(what: &str, mut once: F) -> Result<Value, DeliveryError>
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
            Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                let backoff = BASE_DELAY * 2u32.pow(attempt - 1);
                let delay = retry_after.map_or(backoff, |d| d.min(MAX_RETRY_AFTER));
                tracing::warn!(error = %e, attempt, ?delay, %what, "retrying a call to the chat server");
                tokio::time::sleep(delay).await;
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
    use secrecy::ExposeSecret;
    let mut request = http.request(method, url).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token.expose_secret());
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return (
                Err(DeliveryError::Unreachable(e.without_url().to_string())),
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

/// Where a message posted with the bot token lives, for editing it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    pub channel: String,
    /// Slack's `ts`, or Mattermost's post id.
    pub id: String,
}

/// The bot's ways of talking back, per platform.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    pub slack: Option<SlackApi>,
    pub mattermost: Option<MattermostApi>,
}

fn not_configured(platform: Platform) -> DeliveryError {
    DeliveryError::NotAllowed(format!("{} is not configured", platform.as_str()))
}

impl Outbox {
    /// Whether messages can be posted without a `response_url` (a bot token is set).
    pub fn has_bot_token(&self, platform: Platform) -> bool {
        match platform {
            Platform::Slack => self.slack.as_ref().is_some_and(SlackApi::has_bot_token),
            Platform::Mattermost => self
                .mattermost
                .as_ref()
                .is_some_and(MattermostApi::has_bot_token),
        }
    }

    /// Whether a follow-up can replace the command's reply in place (Slack only).
    pub fn can_replace_reply(&self, platform: Platform) -> bool {
        platform == Platform::Slack
    }

    /// Posts a new message (or, with `replace`, replaces the reply) through the
    /// command's `response_url`.
    pub async fn follow_up(
        &self,
        platform: Platform,
        response_url: &str,
        message: &Message,
        replace: bool,
    ) -> Result<(), DeliveryError> {
        match platform {
            Platform::Slack => {
                let api = self
                    .slack
                    .as_ref()
                    .ok_or_else(|| not_configured(platform))?;
                let mut body = slack_render::render_followup(message);
                body["replace_original"] = serde_json::Value::Bool(replace);
                api.post_response_url(response_url, &body).await
            }
            Platform::Mattermost => {
                if replace {
                    return Err(DeliveryError::NotAllowed(
                        "Mattermost cannot replace a reply through response_url".into(),
                    ));
                }
                let api = self
                    .mattermost
                    .as_ref()
                    .ok_or_else(|| not_configured(platform))?;
                api.post_response_url(response_url, &mm_render::render_response(message))
                    .await
            }
        }
    }

    /// Posts a message to a channel with the bot token.
    pub async fn post(
        &self,
        platform: Platform,
        channel: &str,
        message: &Message,
    ) -> Result<PostedMessage, DeliveryError> {
        match platform {
            Platform::Slack => {
                let api = self
                    .slack
                    .as_ref()
                    .ok_or_else(|| not_configured(platform))?;
                let (channel, ts) = api
                    .post_message(channel, &slack_render::render_message(message))
                    .await?;
                Ok(PostedMessage { channel, id: ts })
            }
            Platform::Mattermost => {
                let api = self
                    .mattermost
                    .as_ref()
                    .ok_or_else(|| not_configured(platform))?;
                let id = api.create_post(channel, message).await?;
                Ok(PostedMessage {
                    channel: channel.to_string(),
                    id,
                })
            }
        }
    }

    /// Edits a message the bot posted.
    pub async fn update(
        &self,
        platform: Platform,
        posted: &PostedMessage,
        message: &Message,
    ) -> Result<(), DeliveryError> {
        match platform {
            Platform::Slack => {
                let api = self
                    .slack
                    .as_ref()
                    .ok_or_else(|| not_configured(platform))?;
                api.update_message(
                    &posted.channel,
                    &posted.id,
                    &slack_render::render_message(message),
                )
                .await
            }
            Platform::Mattermost => {
                let api = self
                    .mattermost
                    .as_ref()
                    .ok_or_else(|| not_configured(platform))?;
                api.patch_post(&posted.id, message).await
            }
        }
    }
}

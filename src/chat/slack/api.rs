//! Calls from the bot to Slack: follow-ups through `response_url`, only to allowed hosts,
//! retried with backoff on 5xx, timeouts and 429 (`Retry-After`).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use url::Url;

use super::render;
use crate::chat::platform_api::{ChatApi, PostedMessage};
pub use crate::chat::transport::DeliveryError;
use crate::chat::transport::{
    get_json, http_client, send_json, with_retries, with_retries_unless_unconfirmed, Attempt,
};
use crate::domain::Platform;
use crate::message::{Message, TypedForm};
use prometheus_client::metrics::counter::Counter;

/// Checks a `response_url` against the allow-list: https (plain http only to a loopback
/// address, for local testing), no credentials in the URL, and a listed host. An entry
/// `host` allows any port of that host; `host:port` only that port.
pub fn allowed_response_url(raw: &str, hosts: &[String]) -> Result<Url, DeliveryError> {
    let url = Url::parse(raw).map_err(|_| DeliveryError::NotAllowed("not a URL".into()))?;
    let host = url
        .host_str()
        .ok_or_else(|| DeliveryError::NotAllowed("no host".into()))?
        .to_ascii_lowercase();
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        other => {
            return Err(DeliveryError::NotAllowed(format!(
                "scheme {other} is not allowed"
            )))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DeliveryError::NotAllowed("credentials in the URL".into()));
    }
    let port = url.port_or_known_default();
    let listed = hosts.iter().any(|entry| match entry.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
            h == host && p.parse::<u16>().ok() == port
        }
        _ => *entry == host,
    });
    if !listed {
        return Err(DeliveryError::NotAllowed(format!(
            "host {host} is not in response_url_hosts"
        )));
    }
    Ok(url)
}

/// The client the bot uses to talk back to Slack.
#[derive(Debug, Clone)]
pub struct SlackApi {
    http: reqwest::Client,
    response_url_hosts: Vec<String>,
    api_base_url: Url,
    bot_token: Option<secrecy::SecretString>,
    /// Retries of calls, counted for `/metrics`.
    retries: Counter,
}

impl SlackApi {
    pub fn new(
        response_url_hosts: Vec<String>,
        api_base_url: Url,
        bot_token: Option<secrecy::SecretString>,
    ) -> Result<Self, reqwest::Error> {
        let http = http_client()?;
        Ok(SlackApi {
            http,
            response_url_hosts,
            api_base_url,
            bot_token,
            retries: Counter::default(),
        })
    }

    /// The same client, counting its retries in `retries`.
    pub fn counting_retries(mut self, retries: Counter) -> Self {
        self.retries = retries;
        self
    }

    /// Whether Web API calls (`chat.postMessage`, `chat.update`) are possible.
    pub fn has_bot_token(&self) -> bool {
        self.bot_token.is_some()
    }

    /// Posts a message to a command's `response_url`, retrying what can be retried.
    pub async fn post_response_url(
        &self,
        response_url: &str,
        body: &Value,
    ) -> Result<(), DeliveryError> {
        let url = allowed_response_url(response_url, &self.response_url_hosts)?;
        with_retries("response_url", &self.retries, || {
            self.post_once(url.clone(), body, false)
        })
        .await
        .map(|_| ())
    }

    /// `chat.postMessage`: returns the channel and `ts` of the new message.
    pub async fn post_message(
        &self,
        channel: &str,
        message: &Value,
    ) -> Result<(String, String), DeliveryError> {
        let mut body = message.clone();
        body["channel"] = Value::String(channel.to_string());
        body["unfurl_links"] = Value::Bool(false);
        // A tagged post is made once: one that may have been posted is looked for by
        // the caller (`post_once`) before it is made again.
        let tagged = !message["metadata"].is_null();
        let answer = self.call_with("chat.postMessage", &body, !tagged).await?;
        let channel = answer["channel"].as_str().unwrap_or(channel).to_string();
        let ts = answer["ts"].as_str().unwrap_or_default().to_string();
        Ok((channel, ts))
    }

    /// `conversations.history` since `oldest`, newest first, page by page, until the
    /// message tagged `tag` is found or the messages run out (at most [`HISTORY_PAGES`]
    /// pages: past that the answer would be a guess, so it is an error).
    pub async fn find_tagged_message(
        &self,
        channel: &str,
        tag: &str,
        oldest: DateTime<Utc>,
    ) -> Result<Option<String>, DeliveryError> {
        let Some(token) = self.bot_token.as_ref() else {
            return Err(DeliveryError::NotAllowed(
                "no bot token is configured".into(),
            ));
        };
        let mut cursor: Option<String> = None;
        for _ in 0..HISTORY_PAGES {
            let mut url = self.api_base_url.clone();
            url.set_path(&format!(
                "{}/conversations.history",
                url.path().trim_end_matches('/')
            ));
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("channel", channel)
                    .append_pair("oldest", &format!("{}.000000", oldest.timestamp()))
                    .append_pair("include_all_metadata", "true")
                    .append_pair("limit", &HISTORY_PAGE_SIZE.to_string());
                if let Some(c) = &cursor {
                    q.append_pair("cursor", c);
                }
            }
            let page = with_retries("conversations.history", &self.retries, || async {
                ok_or_rejected(get_json(&self.http, url.clone(), Some(token)).await)
            })
            .await?;
            if let Some(ts) = tagged_ts(&page, tag) {
                return Ok(Some(ts));
            }
            cursor = page["response_metadata"]["next_cursor"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(str::to_string);
            if cursor.is_none() || page["has_more"] != Value::Bool(true) {
                return Ok(None);
            }
        }
        Err(DeliveryError::NotAllowed(format!(
            "more than {} messages to look through",
            HISTORY_PAGES * HISTORY_PAGE_SIZE
        )))
    }

    /// `chat.update` of a message the bot posted.
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        message: &Value,
    ) -> Result<(), DeliveryError> {
        let mut body = message.clone();
        body["channel"] = Value::String(channel.to_string());
        body["ts"] = Value::String(ts.to_string());
        self.call("chat.update", &body).await.map(|_| ())
    }

    async fn call(&self, method: &str, body: &Value) -> Result<Value, DeliveryError> {
        self.call_with(method, body, true).await
    }

    /// A Web API call, retried; `unconfirmed_too`: also after an attempt that may have
    /// reached Slack unanswered.
    async fn call_with(
        &self,
        method: &str,
        body: &Value,
        unconfirmed_too: bool,
    ) -> Result<Value, DeliveryError> {
        if self.bot_token.is_none() {
            return Err(DeliveryError::NotAllowed(
                "no bot token is configured".into(),
            ));
        }
        let mut url = self.api_base_url.clone();
        url.set_path(&format!("{}/{method}", url.path().trim_end_matches('/')));
        let once = || self.post_once(url.clone(), body, true);
        if unconfirmed_too {
            with_retries(method, &self.retries, once).await
        } else {
            with_retries_unless_unconfirmed(method, &self.retries, once).await
        }
    }

    async fn post_once(&self, url: Url, body: &Value, authorized: bool) -> Attempt {
        let bearer = if authorized {
            self.bot_token.as_ref()
        } else {
            None
        };
        ok_or_rejected(send_json(&self.http, reqwest::Method::POST, url, body, bearer).await)
    }
}

/// Pages of `conversations.history` looked through at most for a tagged message.
const HISTORY_PAGES: usize = 5;
const HISTORY_PAGE_SIZE: usize = 200;

/// The `metadata.event_type` of the bot's tagged messages.
pub const TAG_EVENT_TYPE: &str = "usersync_delivery";

/// The `metadata` of a message tagged with a delivery's id.
pub fn tag_metadata(tag: &str) -> Value {
    json!({"event_type": TAG_EVENT_TYPE, "event_payload": {"delivery_id": tag}})
}

/// The `ts` of the message tagged `tag` in a `conversations.history` page.
fn tagged_ts(page: &Value, tag: &str) -> Option<String> {
    page["messages"].as_array()?.iter().find_map(|m| {
        let meta = &m["metadata"];
        (meta["event_type"] == TAG_EVENT_TYPE
            && meta["event_payload"]["delivery_id"].as_str() == Some(tag))
        .then(|| m["ts"].as_str().unwrap_or_default().to_string())
    })
}

/// Slack's answer read: it may answer 200 with `{"ok": false, "error": "…"}`.
fn ok_or_rejected((result, wait): Attempt) -> Attempt {
    match result {
        Ok(json) if json.get("ok") == Some(&Value::Bool(false)) => {
            let detail = json
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_string);
            // A rate limit reported in the body is retried like a 429.
            let status = if detail.as_deref() == Some("ratelimited") {
                429
            } else {
                200
            };
            (Err(DeliveryError::Rejected { status, detail }), wait)
        }
        other => (other, wait),
    }
}

#[async_trait::async_trait]
impl ChatApi for SlackApi {
    fn platform(&self) -> Platform {
        Platform::Slack
    }

    fn has_bot_token(&self) -> bool {
        SlackApi::has_bot_token(self)
    }

    fn can_replace_reply(&self) -> bool {
        true
    }

    fn check_response_url(&self, response_url: &str) -> Result<(), DeliveryError> {
        allowed_response_url(response_url, &self.response_url_hosts).map(|_| ())
    }

    async fn follow_up(
        &self,
        response_url: &str,
        message: &Message,
        replace: bool,
    ) -> Result<(), DeliveryError> {
        let mut body = render::render_followup(message);
        body["replace_original"] = Value::Bool(replace);
        if replace {
            // Without it Slack has been seen to delete the message instead of replacing it.
            body["delete_original"] = Value::Bool(false);
        }
        self.post_response_url(response_url, &body).await
    }

    async fn post(&self, channel: &str, message: &Message) -> Result<PostedMessage, DeliveryError> {
        let (channel, ts) = self
            .post_message(channel, &render::render_message(message))
            .await?;
        Ok(PostedMessage { channel, id: ts })
    }

    async fn post_tagged(
        &self,
        channel: &str,
        message: &Message,
        tag: &str,
    ) -> Result<PostedMessage, DeliveryError> {
        let mut body = render::render_message(message);
        body["metadata"] = tag_metadata(tag);
        let (channel, ts) = self.post_message(channel, &body).await?;
        Ok(PostedMessage { channel, id: ts })
    }

    /// Slack keeps no metadata on a `response_url` message: posted untagged.
    async fn follow_up_tagged(
        &self,
        response_url: &str,
        message: &Message,
        _tag: &str,
    ) -> Result<(), DeliveryError> {
        self.follow_up(response_url, message, false).await
    }

    fn finds_tagged(&self, through_response_url: bool) -> bool {
        !through_response_url && self.has_bot_token()
    }

    async fn find_tagged(
        &self,
        channel: &str,
        tag: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<PostedMessage>, DeliveryError> {
        let found = self.find_tagged_message(channel, tag, since).await?;
        Ok(found.map(|ts| PostedMessage {
            channel: channel.to_string(),
            id: ts,
        }))
    }

    async fn open_form(&self, trigger_id: &str, form: &TypedForm) -> Result<(), DeliveryError> {
        let body = json!({"trigger_id": trigger_id, "view": render::modal(form)});
        self.call("views.open", &body).await.map(drop)
    }

    async fn update(&self, posted: &PostedMessage, message: &Message) -> Result<(), DeliveryError> {
        self.update_message(
            &posted.channel,
            &posted.id,
            &render::render_message(message),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_listed_hosts_over_https_are_allowed() {
        let h = hosts(&["hooks.slack.com"]);
        assert!(allowed_response_url("https://hooks.slack.com/commands/T1/2/3", &h).is_ok());
        for bad in [
            "http://hooks.slack.com/commands/T1/2/3",
            "https://hooks.slack.com.evil.example/x",
            "https://evil.example/hooks.slack.com",
            "https://hooks.slack.com@evil.example/x",
            "https://user:pw@hooks.slack.com/x",
            "https://169.254.169.254/latest/meta-data",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(allowed_response_url(bad, &h).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_may_use_http_and_ports_can_be_pinned() {
        let h = hosts(&["127.0.0.1:4000"]);
        assert!(allowed_response_url("http://127.0.0.1:4000/r", &h).is_ok());
        assert!(allowed_response_url("http://127.0.0.1:4001/r", &h).is_err());
        let any_port = hosts(&["127.0.0.1"]);
        assert!(allowed_response_url("http://127.0.0.1:4001/r", &any_port).is_ok());
        assert!(allowed_response_url("http://localhost:4001/r", &any_port).is_err());
    }
}

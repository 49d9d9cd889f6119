//! Calls from the bot to the Mattermost server: follow-ups through `response_url` (only
//! on the configured server), and posts made and edited with the bot account's token.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::{json, Value};
use url::Url;

use super::render;
use crate::chat::platform_api::{ChatApi, PostedMessage};
use crate::chat::transport::{
    get_json, http_client, send_json, with_retries, with_retries_unless_unconfirmed, Attempt,
    DeliveryError,
};
use crate::domain::Platform;
use crate::message::{Message, TypedForm};
use prometheus_client::metrics::counter::Counter;

/// Checks that a `response_url` lies on the configured Mattermost server: same scheme,
/// host and port (a loopback server URL without a port, as in the demo, accepts any), and
/// under the server's command hook path.
pub fn allowed_response_url(raw: &str, server: &Url) -> Result<Url, DeliveryError> {
    let url = Url::parse(raw).map_err(|_| DeliveryError::NotAllowed("not a URL".into()))?;
    let loopback = match server.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    let same_host = url.scheme() == server.scheme()
        && url.host_str().map(str::to_ascii_lowercase)
            == server.host_str().map(str::to_ascii_lowercase)
        && ((loopback && server.port().is_none())
            || url.port_or_known_default() == server.port_or_known_default());
    if !same_host {
        return Err(DeliveryError::NotAllowed(format!(
            "response_url is not on the configured Mattermost server {}",
            server.origin().ascii_serialization()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DeliveryError::NotAllowed("credentials in the URL".into()));
    }
    let hooks = format!("{}/hooks/commands/", server.path().trim_end_matches('/'));
    if !url.path().starts_with(&hooks) {
        return Err(DeliveryError::NotAllowed("not a command hook URL".into()));
    }
    Ok(url)
}

/// The post prop that carries a delivery's id (the tag of a post made once).
pub const TAG_PROP: &str = "usersync_delivery";

/// The client the bot uses to talk back to Mattermost.
#[derive(Debug, Clone)]
pub struct MattermostApi {
    http: reqwest::Client,
    server: Url,
    bot_token: Option<SecretString>,
    /// Retries of calls, counted for `/metrics`.
    retries: Counter,
}

impl MattermostApi {
    pub fn new(server: Url, bot_token: Option<SecretString>) -> Result<Self, reqwest::Error> {
        let http = http_client()?;
        Ok(MattermostApi {
            http,
            server,
            bot_token,
            retries: Counter::default(),
        })
    }

    /// The same client, counting its retries in `retries`.
    pub fn counting_retries(mut self, retries: Counter) -> Self {
        self.retries = retries;
        self
    }

    pub fn has_bot_token(&self) -> bool {
        self.bot_token.is_some()
    }

    /// Posts through a command's `response_url` (new messages only: Mattermost cannot
    /// replace a reply this way).
    pub async fn post_response_url(
        &self,
        response_url: &str,
        body: &Value,
    ) -> Result<(), DeliveryError> {
        let url = allowed_response_url(response_url, &self.server)?;
        with_retries("response_url", &self.retries, || {
            self.send(reqwest::Method::POST, url.clone(), body, false)
        })
        .await
        .map(|_| ())
    }

    /// `POST /api/v4/posts`: returns the new post's id. With `tag`, the post carries it
    /// in its props.
    pub async fn create_post(
        &self,
        channel_id: &str,
        message: &Message,
        tag: Option<&str>,
    ) -> Result<String, DeliveryError> {
        let (text, mut props) = render::render_post(message);
        if let Some(tag) = tag {
            props[TAG_PROP] = Value::String(tag.to_string());
        }
        let body = json!({"channel_id": channel_id, "message": text, "props": props});
        let url = self.api_url(&["posts"])?;
        let once = || self.send(reqwest::Method::POST, url.clone(), &body, true);
        // A tagged post is made once: one that may have been posted is looked for by the
        // caller (`post_once`) before it is made again.
        let answer = match tag {
            Some(_) => with_retries_unless_unconfirmed("posts", &self.retries, once).await?,
            None => with_retries("posts", &self.retries, once).await?,
        };
        answer["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| DeliveryError::Rejected {
                status: 201,
                detail: Some("the created post has no id".into()),
            })
    }

    /// `PUT /api/v4/posts/{id}/patch`: edits a post the bot made.
    pub async fn patch_post(&self, post_id: &str, message: &Message) -> Result<(), DeliveryError> {
        let (text, props) = render::render_post(message);
        let body = json!({"message": text, "props": props});
        let url = self.api_url(&["posts", post_id, "patch"])?;
        with_retries("posts/patch", &self.retries, || {
            self.send(reqwest::Method::PUT, url.clone(), &body, true)
        })
        .await
        .map(|_| ())
    }

    /// `GET /api/v4/channels/{id}/posts?since=…`: the id of the post tagged `tag`
    /// among the channel's posts since `since`.
    pub async fn find_tagged_post(
        &self,
        channel_id: &str,
        tag: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, DeliveryError> {
        let mut url = self.api_url(&["channels", channel_id, "posts"])?;
        url.query_pairs_mut()
            .append_pair("since", &since.timestamp_millis().max(0).to_string());
        let bearer = self.bot_token.as_ref();
        let answer = with_retries("channels/posts", &self.retries, || {
            get_json(&self.http, url.clone(), bearer)
        })
        .await?;
        let Some(posts) = answer["posts"].as_object() else {
            return Ok(None);
        };
        Ok(posts
            .iter()
            .find(|(_, p)| p["props"][TAG_PROP].as_str() == Some(tag))
            .map(|(id, p)| p["id"].as_str().unwrap_or(id).to_string()))
    }

    fn api_url(&self, segments: &[&str]) -> Result<Url, DeliveryError> {
        if self.bot_token.is_none() {
            return Err(DeliveryError::NotAllowed(
                "no Mattermost bot token is configured".into(),
            ));
        }
        let mut url = self.server.clone();
        let mut path = format!("{}/api/v4", url.path().trim_end_matches('/'));
        for s in segments {
            if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(DeliveryError::NotAllowed(format!(
                    "{s:?} is not a Mattermost id"
                )));
            }
            path.push('/');
            path.push_str(s);
        }
        url.set_path(&path);
        Ok(url)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
        body: &Value,
        authorized: bool,
    ) -> Attempt {
        let bearer = if authorized {
            self.bot_token.as_ref()
        } else {
            None
        };
        send_json(&self.http, method, url, body, bearer).await
    }
}

#[async_trait::async_trait]
impl ChatApi for MattermostApi {
    fn platform(&self) -> Platform {
        Platform::Mattermost
    }

    fn has_bot_token(&self) -> bool {
        MattermostApi::has_bot_token(self)
    }

    /// Mattermost's `response_url` cannot replace a reply: progress needs the bot token.
    fn can_replace_reply(&self) -> bool {
        false
    }

    fn check_response_url(&self, response_url: &str) -> Result<(), DeliveryError> {
        allowed_response_url(response_url, &self.server).map(|_| ())
    }

    async fn follow_up(
        &self,
        response_url: &str,
        message: &Message,
        replace: bool,
    ) -> Result<(), DeliveryError> {
        if replace {
            return Err(DeliveryError::NotAllowed(
                "Mattermost cannot replace a reply through response_url".into(),
            ));
        }
        self.post_response_url(response_url, &render::render_response(message))
            .await
    }

    async fn post(&self, channel: &str, message: &Message) -> Result<PostedMessage, DeliveryError> {
        let id = self.create_post(channel, message, None).await?;
        Ok(PostedMessage {
            channel: channel.to_string(),
            id,
        })
    }

    async fn post_tagged(
        &self,
        channel: &str,
        message: &Message,
        tag: &str,
    ) -> Result<PostedMessage, DeliveryError> {
        let id = self.create_post(channel, message, Some(tag)).await?;
        Ok(PostedMessage {
            channel: channel.to_string(),
            id,
        })
    }

    async fn follow_up_tagged(
        &self,
        response_url: &str,
        message: &Message,
        tag: &str,
    ) -> Result<(), DeliveryError> {
        let mut body = render::render_response(message);
        body["props"][TAG_PROP] = Value::String(tag.to_string());
        self.post_response_url(response_url, &body).await
    }

    /// Command responses are posts of the channel too, props kept: both are found with
    /// the bot token.
    fn finds_tagged(&self, _through_response_url: bool) -> bool {
        self.has_bot_token()
    }

    async fn find_tagged(
        &self,
        channel: &str,
        tag: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<PostedMessage>, DeliveryError> {
        let found = self.find_tagged_post(channel, tag, since).await?;
        Ok(found.map(|id| PostedMessage {
            channel: channel.to_string(),
            id,
        }))
    }

    async fn open_form(&self, trigger_id: &str, form: &TypedForm) -> Result<(), DeliveryError> {
        let Some(url) = form.callback_url.as_deref() else {
            return Err(DeliveryError::NotAllowed(
                "a Mattermost dialog needs the bot's public_url".into(),
            ));
        };
        let body = json!({"trigger_id": trigger_id, "url": url, "dialog": render::dialog(form)});
        let api = self.api_url(&["actions", "dialogs", "open"])?;
        with_retries("actions/dialogs/open", &self.retries, || {
            self.send(reqwest::Method::POST, api.clone(), &body, true)
        })
        .await
        .map(drop)
    }

    async fn update(&self, posted: &PostedMessage, message: &Message) -> Result<(), DeliveryError> {
        self.patch_post(&posted.id, message).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_ups_go_only_to_the_configured_server() {
        let server = Url::parse("https://chat.example.com").unwrap();
        assert!(
            allowed_response_url("https://chat.example.com/hooks/commands/abc123", &server).is_ok()
        );
        for bad in [
            "http://chat.example.com/hooks/commands/abc",
            "https://chat.example.com.evil.example/hooks/commands/abc",
            "https://evil.example/hooks/commands/abc",
            "https://chat.example.com@evil.example/hooks/commands/abc",
            "https://chat.example.com/api/v4/users",
            "https://user:pw@chat.example.com/hooks/commands/abc",
        ] {
            assert!(allowed_response_url(bad, &server).is_err(), "{bad}");
        }
        let pinned = Url::parse("http://127.0.0.1:8065").unwrap();
        assert!(allowed_response_url("http://127.0.0.1:8065/hooks/commands/x", &pinned).is_ok());
        assert!(allowed_response_url("http://127.0.0.1:9999/hooks/commands/x", &pinned).is_err());
        assert!(
            allowed_response_url("https://chat.example.com:8443/hooks/commands/x", &server)
                .is_err()
        );
        assert!(
            allowed_response_url("https://chat.example.com/x/hooks/commands/abc", &server).is_err()
        );
        let local = Url::parse("http://127.0.0.1").unwrap();
        assert!(allowed_response_url("http://127.0.0.1:4567/hooks/commands/x", &local).is_ok());
    }
}

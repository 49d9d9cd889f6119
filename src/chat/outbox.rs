//! Posting to chat after the command's reply, whatever the platform: follow-ups through
//! the command's `response_url`, and messages posted or edited with the bot's token. The
//! outbox only picks the platform's [`ChatApi`]; each platform decides how.

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use crate::chat::platform_api::{ChatApi, PostedMessage};
pub use crate::chat::transport::DeliveryError;
use crate::domain::Platform;
use crate::message::{Message, TypedForm};

/// The bot's ways of talking back: one API per configured platform.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    apis: Vec<Arc<dyn ChatApi>>,
}

impl Outbox {
    pub fn new(apis: Vec<Arc<dyn ChatApi>>) -> Self {
        Outbox { apis }
    }

    fn api(&self, platform: Platform) -> Result<&dyn ChatApi, DeliveryError> {
        self.apis
            .iter()
            .find(|a| a.platform() == platform)
            .map(|a| a.as_ref())
            .ok_or_else(|| {
                DeliveryError::NotAllowed(format!("{} is not configured", platform.as_str()))
            })
    }

    /// Whether messages can be posted without a `response_url` (a bot token is set).
    pub fn has_bot_token(&self, platform: Platform) -> bool {
        self.api(platform).is_ok_and(|a| a.has_bot_token())
    }

    /// Whether a follow-up can replace the command's reply in place.
    pub fn can_replace_reply(&self, platform: Platform) -> bool {
        self.api(platform).is_ok_and(|a| a.can_replace_reply())
    }

    /// Whether a later answer to this command can reach its channel: with the bot token,
    /// or through an allowed `response_url`. Checked before a command that changes
    /// something runs, so that no sync starts whose outcome could never be told.
    pub fn can_answer_later(
        &self,
        platform: Platform,
        response_url: Option<&str>,
    ) -> Result<(), DeliveryError> {
        let api = self.api(platform)?;
        if api.has_bot_token() {
            return Ok(());
        }
        match response_url {
            Some(url) => api.check_response_url(url),
            None => Err(DeliveryError::NotAllowed(
                "the command came without a response_url".into(),
            )),
        }
    }

    pub async fn follow_up(
        &self,
        platform: Platform,
        response_url: &str,
        message: &Message,
        replace: bool,
    ) -> Result<(), DeliveryError> {
        self.api(platform)?
            .follow_up(response_url, message, replace)
            .await
    }

    pub async fn post(
        &self,
        platform: Platform,
        channel: &str,
        message: &Message,
    ) -> Result<PostedMessage, DeliveryError> {
        self.api(platform)?.post(channel, message).await
    }

    pub async fn post_tagged(
        &self,
        platform: Platform,
        channel: &str,
        message: &Message,
        tag: &str,
    ) -> Result<PostedMessage, DeliveryError> {
        self.api(platform)?.post_tagged(channel, message, tag).await
    }

    pub async fn follow_up_tagged(
        &self,
        platform: Platform,
        response_url: &str,
        message: &Message,
        tag: &str,
    ) -> Result<(), DeliveryError> {
        self.api(platform)?
            .follow_up_tagged(response_url, message, tag)
            .await
    }

    /// Whether a tagged post made this way can be looked for in its channel later.
    pub fn finds_tagged(&self, platform: Platform, through_response_url: bool) -> bool {
        self.api(platform)
            .is_ok_and(|a| a.finds_tagged(through_response_url))
    }

    pub async fn find_tagged(
        &self,
        platform: Platform,
        channel: &str,
        tag: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<PostedMessage>, DeliveryError> {
        self.api(platform)?.find_tagged(channel, tag, since).await
    }

    pub async fn open_form(
        &self,
        platform: Platform,
        trigger_id: &str,
        form: &TypedForm,
    ) -> Result<(), DeliveryError> {
        self.api(platform)?.open_form(trigger_id, form).await
    }

    pub async fn update(
        &self,
        platform: Platform,
        posted: &PostedMessage,
        message: &Message,
    ) -> Result<(), DeliveryError> {
        self.api(platform)?.update(posted, message).await
    }
}

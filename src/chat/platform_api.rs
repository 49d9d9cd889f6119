//! The one interface the outbox uses to talk to a chat platform. Slack and Mattermost
//! each implement it in their `api` module; nothing above this trait knows which is which.

use chrono::{DateTime, Utc};

use crate::chat::transport::DeliveryError;
use crate::domain::Platform;
use crate::message::{Message, TypedForm};

/// Where a message posted with the bot token lives, for editing it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    pub channel: String,
    /// Slack's `ts`, or Mattermost's post id.
    pub id: String,
}

/// What the bot can do on a platform after a command's reply.
#[async_trait::async_trait]
pub trait ChatApi: Send + Sync + std::fmt::Debug {
    fn platform(&self) -> Platform;

    /// Whether messages can be posted without a `response_url` (a bot token is set).
    fn has_bot_token(&self) -> bool;

    /// Whether a follow-up can replace the command's reply in place.
    fn can_replace_reply(&self) -> bool;

    /// Whether follow-ups may be posted to this `response_url` (the allow-list).
    fn check_response_url(&self, response_url: &str) -> Result<(), DeliveryError>;

    /// Posts a new message (or, with `replace`, replaces the reply) through the
    /// command's `response_url`.
    async fn follow_up(
        &self,
        response_url: &str,
        message: &Message,
        replace: bool,
    ) -> Result<(), DeliveryError>;

    /// Posts a message to a channel with the bot token.
    async fn post(&self, channel: &str, message: &Message) -> Result<PostedMessage, DeliveryError>;

    /// Posts a message to a channel with the bot token, tagged with a delivery's id (Slack
    /// message `metadata`, Mattermost post `props`) so that it can be found again.
    async fn post_tagged(
        &self,
        channel: &str,
        message: &Message,
        tag: &str,
    ) -> Result<PostedMessage, DeliveryError>;

    /// A new message through the command's `response_url`, tagged where the platform
    /// keeps a tag there (Mattermost's command response `props`; Slack keeps none).
    async fn follow_up_tagged(
        &self,
        response_url: &str,
        message: &Message,
        tag: &str,
    ) -> Result<(), DeliveryError>;

    /// Whether a tagged post can be looked for in its channel later: it must carry its
    /// tag (through `response_url` only on Mattermost) and reading the channel needs the
    /// bot token.
    fn finds_tagged(&self, through_response_url: bool) -> bool;

    /// Looks for the post tagged `tag` among the channel's messages since `since`
    /// (`conversations.history`, Mattermost's channel posts). `Ok(None)`: it is not
    /// there; an error: the platform could not be asked (no token, no scope, not in the
    /// channel, too many messages to look through, or unreachable).
    async fn find_tagged(
        &self,
        channel: &str,
        tag: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<PostedMessage>, DeliveryError>;

    /// Edits a message the bot posted.
    async fn update(&self, posted: &PostedMessage, message: &Message) -> Result<(), DeliveryError>;

    /// Opens a form to type into, from a click's `trigger_id` (which lapses in about 3 s);
    /// needs the bot token.
    async fn open_form(&self, trigger_id: &str, form: &TypedForm) -> Result<(), DeliveryError>;
}

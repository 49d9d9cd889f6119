//! Posts made exactly once — a job's outcome, an announcement — across crashes and
//! restarts: the intent is recorded in the store before the post and the post after it,
//! and each post carries its delivery's id as a tag (Slack message `metadata`,
//! Mattermost post `props`). A post whose intent is found "in flight" (the process died
//! between posting and recording, or the post failed) is looked for by its tag among
//! the channel's recent messages before it is posted again. Where the platform cannot be
//! asked (through Slack's `response_url`, without the bot token or the history scope),
//! the log says so and the post is made again: at least once.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::chat::outbox::{DeliveryError, Outbox, PostedMessage};
use crate::store::{PostIntent, PostMark, Store};

/// How far before its recorded intent a post is looked for: the chat server's clock and
/// the store's may differ a little.
const LOOK_BACK: chrono::Duration = chrono::Duration::minutes(2);

/// Tries of a post the chat server leaves unconfirmed (each after looking for it).
const UNCONFIRMED_TRIES: u32 = 3;
/// The pause before looking for an unconfirmed post: time for it to show in the channel.
const UNCONFIRMED_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// What became of a post made once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Made {
    /// Posted now (where, when the platform said).
    Now(Option<PostedMessage>),
    /// Posted before: recorded as made, or found in the channel by its tag.
    Before,
}

/// The store and the outbox, to make posts once.
#[derive(Clone, Copy)]
pub struct PostOnce<'a> {
    pub store: &'a dyn Store,
    pub outbox: &'a Outbox,
}

impl PostOnce<'_> {
    /// Makes the post `intent` once: `make` posts it (tagged with `intent.id`) unless it
    /// was made before. A post the chat server may have taken without answering
    /// (`Unconfirmed`) is looked for by its tag before it is made again. A failed post
    /// stays in flight, so that the next try looks for it first.
    pub async fn post<F, Fut>(
        &self,
        intent: &PostIntent<'_>,
        mut make: F,
    ) -> Result<Made, DeliveryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<PostedMessage>, DeliveryError>>,
    {
        match self.store.begin_post(intent).await {
            Ok(PostMark::New) => {}
            Ok(PostMark::Posted) => {
                tracing::debug!(post = intent.id, "already posted; not posting it again");
                return Ok(Made::Before);
            }
            Ok(PostMark::InFlight { since, findable }) => {
                if self.settle(intent, since, findable).await {
                    return Ok(Made::Before);
                }
            }
            Err(e) => {
                tracing::warn!(post = intent.id, error = %e, "cannot record the intent to post; posting all the same (at least once)");
            }
        }
        let since = Utc::now();
        let mut made = make().await;
        for _ in 1..UNCONFIRMED_TRIES {
            let Err(DeliveryError::Unconfirmed(why)) = &made else {
                break;
            };
            tracing::warn!(post = intent.id, error = %why, "the chat server did not confirm a post; looking for it before posting again");
            tokio::time::sleep(UNCONFIRMED_PAUSE).await;
            if self.settle(intent, since, intent.findable).await {
                return Ok(Made::Before);
            }
            made = make().await;
        }
        let made = made?;
        if let Err(e) = self
            .store
            .finish_post(intent.id, made.as_ref().map(|p| p.id.as_str()))
            .await
        {
            tracing::warn!(post = intent.id, error = %e, "posted, but cannot record it as posted");
        }
        Ok(Made::Now(made))
    }

    /// Settles a post left in flight: `true` when it is found in its channel (and is
    /// recorded as made now), `false` when it must be posted (again).
    async fn settle(&self, intent: &PostIntent<'_>, since: DateTime<Utc>, findable: bool) -> bool {
        let (id, platform) = (intent.id, intent.platform);
        if !findable {
            tracing::warn!(
                post = id,
                platform = platform.as_str(),
                "a post left in flight cannot be looked for (it went through Slack's response_url, or there is no bot token); posting it again: at least once"
            );
            return false;
        }
        let found = self
            .outbox
            .find_tagged(platform, intent.channel_id, id, since - LOOK_BACK)
            .await;
        match found {
            Ok(Some(posted)) => {
                tracing::info!(
                    post = id,
                    channel = intent.channel_id,
                    "a post left in flight is in its channel; not posting it again"
                );
                if let Err(e) = self.store.finish_post(id, Some(&posted.id)).await {
                    tracing::warn!(post = id, error = %e, "cannot record a post found in its channel as posted");
                }
                true
            }
            Ok(None) => {
                tracing::info!(
                    post = id,
                    channel = intent.channel_id,
                    "a post left in flight is not in its channel; posting it now"
                );
                false
            }
            Err(e) => {
                tracing::warn!(
                    post = id,
                    channel = intent.channel_id,
                    error = %e,
                    "cannot look for a post left in flight in its channel (Slack needs the channels:history and groups:history scopes and the bot in the channel; Mattermost the bot in the channel); posting it again: at least once"
                );
                false
            }
        }
    }
}

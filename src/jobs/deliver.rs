//! Posting for a job: progress kept in one message, the outcome posted once — through
//! the command's `response_url` while it is good, else with the bot token.

use chrono::Utc;

use super::Jobs;
use crate::chat::outbox::{DeliveryError, PostedMessage};
use crate::message::Message;
use crate::reply;
use crate::reply::jobs::FailedUsers;
use crate::store::{Delivery, JobRecord, JobState};
use crate::usersync::{ResultCount, SyncStatus, UserSyncClient};

/// Posts Slack allows through one `response_url`.
pub const RESPONSE_URL_MAX_POSTS: u32 = 5;
/// `response_url` posts spent on progress at most, so the outcome always has room.
const MAX_PROGRESS_POSTS: u32 = 2;

impl Jobs {
    /// The full outcome of a finished sync, with the first failed users.
    pub(super) async fn outcome(
        &self,
        client: &UserSyncClient,
        job: &JobRecord,
        s: &SyncStatus,
    ) -> Message {
        let failed = if s.failed_count.unwrap_or(0) == 0 {
            FailedUsers::None
        } else {
            match client.sync_results(s.id, ResultCount::All).await {
                Ok(users) => FailedUsers::Listed(users),
                Err(e) => FailedUsers::Unreadable(e),
            }
        };
        reply::jobs::outcome(client.instance(), job, s, failed)
    }

    /// Records the end of a job, then delivers its outcome.
    pub(super) async fn finish(&self, job: JobRecord, message: Message) {
        self.deliver(job, message).await;
    }

    /// Posts the outcome once: recorded as posting first — only while this replica holds
    /// the job's lease for longer than a post takes, so that nobody else can be posting it
    /// too — and as posted (or undeliverable) after. Without the lease nothing is posted:
    /// the job is left to whoever holds it, or takes it once the lease runs out.
    async fn deliver(&self, mut job: JobRecord, message: Message) {
        job.delivery = Delivery::Posting;
        match self.save_leased(&mut job, self.post_margin()).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::error!(job = job.id, error = %e, "cannot record a job's outcome as posting; not posting it now");
                return;
            }
        }
        match self.post(&mut job, &message, 0).await {
            Ok(()) => {
                job.delivery = Delivery::Posted;
                job.delivery_error = None;
            }
            Err(e) => {
                tracing::error!(job = job.id, error = %e, "the outcome of a job could not be delivered");
                job.delivery = Delivery::Undeliverable;
                job.delivery_error = Some(e.to_string());
            }
        }
        self.save(&mut job).await;
    }

    /// Delivers the outcome of a job that finished before a restart (or on a replica that
    /// went away), unless its lease is lost first.
    pub(super) async fn redeliver(
        self: std::sync::Arc<Self>,
        job: JobRecord,
        lost: tokio::sync::watch::Receiver<bool>,
    ) {
        let status: Option<SyncStatus> = job
            .last_status
            .clone()
            .and_then(|v| serde_json::from_value(v).ok());
        let message = match (self.client(&job.instance), status, job.state) {
            (Some(client), Some(s), JobState::Done) => self.outcome(client, &job, &s).await,
            _ => reply::jobs::ended(&job),
        };
        if *lost.borrow() {
            return;
        }
        self.deliver(job, message).await;
    }

    fn response_url_usable(&self, job: &JobRecord, reserve: u32) -> bool {
        job.response_url.is_some()
            && job.response_url_expires_at.is_some_and(|t| Utc::now() < t)
            && job.response_posts + reserve < RESPONSE_URL_MAX_POSTS
    }

    /// Posts a new message for the job: through `response_url` while it is good, else
    /// with the bot token; fails when neither is possible.
    pub(super) async fn post(
        &self,
        job: &mut JobRecord,
        message: &Message,
        reserve: u32,
    ) -> Result<(), DeliveryError> {
        let platform = job.platform;
        let late = self.outbox.has_bot_token(platform);
        if self.response_url_usable(job, reserve) {
            let url = job.response_url.clone().unwrap_or_default();
            job.response_posts += 1;
            match self.outbox.follow_up(platform, &url, message, false).await {
                Ok(()) => return Ok(()),
                Err(e) if late => {
                    tracing::warn!(job = job.id, error = %e, "response_url failed; posting with the bot token");
                }
                Err(e) => return Err(e),
            }
        }
        if !late {
            return Err(DeliveryError::NotAllowed(
                "the response_url has expired or is used up, and no bot token is configured".into(),
            ));
        }
        self.outbox
            .post(platform, &job.channel_id, message)
            .await
            .map(|_| ())
    }

    /// Keeps one progress message up to date: the command's reply, replaced through
    /// `response_url` while posts are to spare (Slack); else a message of the bot's,
    /// edited with its token. `false` when the job's lease was lost meanwhile.
    pub(super) async fn progress(&self, job: &mut JobRecord, s: &SyncStatus) -> bool {
        let platform = job.platform;
        let message = reply::jobs::progress(job, s);
        let replace = self.outbox.can_replace_reply(platform)
            && self.response_url_usable(job, RESPONSE_URL_MAX_POSTS - MAX_PROGRESS_POSTS);
        let result = if replace {
            let url = job.response_url.clone().unwrap_or_default();
            job.response_posts += 1;
            self.outbox.follow_up(platform, &url, &message, true).await
        } else if self.outbox.has_bot_token(platform) {
            self.progress_with_token(job, &message).await
        } else {
            Ok(())
        };
        if let Err(e) = result {
            tracing::warn!(job = job.id, error = %e, "progress update failed");
        }
        self.save(job).await
    }

    /// Edits the job's progress message, posting it first if there is none yet.
    async fn progress_with_token(
        &self,
        job: &mut JobRecord,
        message: &Message,
    ) -> Result<(), DeliveryError> {
        if let (Some(channel), Some(id)) = (&job.progress_channel, &job.progress_ts) {
            let posted = PostedMessage {
                channel: channel.clone(),
                id: id.clone(),
            };
            return self.outbox.update(job.platform, &posted, message).await;
        }
        let posted = self
            .outbox
            .post(job.platform, &job.channel_id, message)
            .await?;
        job.progress_channel = Some(posted.channel);
        job.progress_ts = Some(posted.id);
        Ok(())
    }
}

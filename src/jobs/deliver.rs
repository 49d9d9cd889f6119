//! Posting for a job: progress kept in one message, the outcome posted once — through
//! the command's `response_url` while it is good, else with the bot token.

use chrono::Utc;

use super::protect::SyncSeen;
use super::Jobs;
use crate::chat::outbox::{DeliveryError, PostedMessage};
use crate::domain::Principal;
use crate::message::Message;
use crate::post_once::{Made, PostOnce};
use crate::reply;
use crate::reply::jobs::FailedUsers;
use crate::store::{Delivery, JobRecord, JobState, PostIntent};
use crate::usersync::{ResultCount, SyncStatus, SyncUserResult, UserSyncClient};

/// The tag (and delivery id) of a job's outcome post.
pub fn outcome_tag(job_id: i64) -> String {
    format!("job-{job_id}-outcome")
}

/// Posts Slack allows through one `response_url`.
pub const RESPONSE_URL_MAX_POSTS: u32 = 5;
/// `response_url` posts spent on progress at most, so the outcome always has room.
const MAX_PROGRESS_POSTS: u32 = 2;

impl Jobs {
    /// The full outcome of a finished sync, with the first failed users; and the per-user
    /// results when they were read (for failed users, or for protected accounts).
    pub(super) async fn outcome(
        &self,
        client: &UserSyncClient,
        job: &JobRecord,
        s: &SyncStatus,
    ) -> (Message, Option<Vec<SyncUserResult>>) {
        let has_failed = s.failed_count.unwrap_or(0) > 0;
        let read = if has_failed || self.protect.wants_results(s) {
            Some(client.sync_results(s.id, ResultCount::All).await)
        } else {
            None
        };
        let (failed, users) = match (has_failed, read) {
            (false, read) => (FailedUsers::None, read.and_then(Result::ok)),
            (true, Some(Ok(users))) => (FailedUsers::Listed(users.clone()), Some(users)),
            (true, Some(Err(e))) => (FailedUsers::Unreadable(e), None),
            (true, None) => (FailedUsers::None, None),
        };
        let message = reply::jobs::outcome(client.instance(), job, s, failed);
        (self.guard_outcome(client, job, s, message).await, users)
    }

    /// Records the end of a job, then delivers its outcome; returns the job as saved.
    pub(super) async fn finish(&self, job: JobRecord, message: Message) -> JobRecord {
        self.deliver(job, message).await
    }

    /// After a job's sync ended: when it hurt protected accounts, one alert in the job's
    /// channel (as its outcome was posted) and in every channel that wants failures.
    pub(super) async fn protect_check(
        &self,
        client: &UserSyncClient,
        mut job: JobRecord,
        s: &SyncStatus,
        users: Option<&[SyncUserResult]>,
    ) {
        let seen = SyncSeen {
            client,
            connector_id: &job.connector_id,
            connector_name: &job.connector_name,
            sync: s,
        };
        let Some(alert) = self.protect.alert(seen, users).await else {
            return;
        };
        let channel = Principal::new(job.platform, job.channel_id.clone());
        let mut posted = false;
        let (posted_ref, job_ref, alert_ref) = (&mut posted, &mut job, &alert);
        self.protect
            .once(&channel, client.instance(), s.id, move || async move {
                *posted_ref = true;
                self.post(job_ref, alert_ref, 0, None).await.map(drop)
            })
            .await;
        if posted {
            self.save(&mut job).await;
        }
        let seen = SyncSeen {
            client,
            connector_id: &job.connector_id,
            connector_name: &job.connector_name,
            sync: s,
        };
        self.protect.tell_failure_channels(seen, &alert).await;
    }

    /// Posts the outcome once: recorded as posting first — only while this replica holds
    /// the job's lease for longer than a post takes, so that nobody else can be posting it
    /// too — and as posted (or undeliverable) after. Without the lease nothing is posted:
    /// the job is left to whoever holds it, or takes it once the lease runs out. The post
    /// itself is made once (`post_once`): a restart between posting and recording looks
    /// for it in the channel by its tag before posting again.
    async fn deliver(&self, mut job: JobRecord, message: Message) -> JobRecord {
        job.delivery = Delivery::Posting;
        match self.save_leased(&mut job, self.post_margin()).await {
            Ok(true) => {}
            Ok(false) => return job,
            Err(e) => {
                tracing::error!(job = job.id, error = %e, "cannot record a job's outcome as posting; not posting it now");
                return job;
            }
        }
        let tag = outcome_tag(job.id);
        let channel = job.channel_id.clone();
        let through_response_url = self.response_url_usable(&job, 0);
        let intent = PostIntent {
            id: &tag,
            platform: job.platform,
            channel_id: &channel,
            findable: self.outbox.finds_tagged(job.platform, through_response_url),
        };
        let once = PostOnce {
            store: self.store.as_ref(),
            outbox: &self.outbox,
        };
        // The post may be made more than once (after looking for an unconfirmed one), each
        // time counting its use of the response_url on the job.
        let posted = {
            let cell = tokio::sync::Mutex::new(&mut job);
            once.post(&intent, || async {
                let mut job = cell.lock().await;
                self.post(&mut job, &message, 0, Some(&tag)).await
            })
            .await
        };
        match posted {
            Ok(made) => {
                if made == Made::Before {
                    tracing::info!(job = job.id, "the outcome was posted before a restart");
                }
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
        job
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
        match (self.client(&job.instance).cloned(), status, job.state) {
            (Some(client), Some(s), JobState::Done) => {
                let (message, users) = self.outcome(&client, &job, &s).await;
                if *lost.borrow() {
                    return;
                }
                let job = self.deliver(job, message).await;
                self.protect_check(&client, job, &s, users.as_deref()).await;
            }
            _ => {
                let message = reply::jobs::ended(&job);
                if *lost.borrow() {
                    return;
                }
                self.deliver(job, message).await;
            }
        }
    }

    fn response_url_usable(&self, job: &JobRecord, reserve: u32) -> bool {
        job.response_url.is_some()
            && job.response_url_expires_at.is_some_and(|t| Utc::now() < t)
            && job.response_posts + reserve < RESPONSE_URL_MAX_POSTS
    }

    /// Posts a new message for the job: through `response_url` while it is good, else
    /// with the bot token; fails when neither is possible. With `tag`, the post carries
    /// it where the platform keeps one.
    pub(super) async fn post(
        &self,
        job: &mut JobRecord,
        message: &Message,
        reserve: u32,
        tag: Option<&str>,
    ) -> Result<Option<PostedMessage>, DeliveryError> {
        let platform = job.platform;
        let late = self.outbox.has_bot_token(platform);
        if self.response_url_usable(job, reserve) {
            let url = job.response_url.clone().unwrap_or_default();
            job.response_posts += 1;
            let sent = match tag {
                Some(tag) => {
                    self.outbox
                        .follow_up_tagged(platform, &url, message, tag)
                        .await
                }
                None => self.outbox.follow_up(platform, &url, message, false).await,
            };
            match sent {
                Ok(()) => return Ok(None),
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
        let posted = match tag {
            Some(tag) => {
                self.outbox
                    .post_tagged(platform, &job.channel_id, message, tag)
                    .await?
            }
            None => self.outbox.post(platform, &job.channel_id, message).await?,
        };
        Ok(Some(posted))
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

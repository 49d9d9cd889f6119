//! Following jobs: a sync started from chat is followed to its end through the shared
//! poller, its progress kept up to date in one message, and its outcome posted exactly
//! once — across restarts, since every job lives in the store.

pub mod poller;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::watch;

use crate::chat::outbox::{DeliveryError, Outbox, PostedMessage};
use crate::config::JobsConfig;
use crate::domain::Platform;
use crate::handlers::present;
use crate::message::{Message, Text, Tone};
use crate::store::{Delivery, JobKind, JobRecord, JobState, Store};
use crate::usersync::{ResultCount, SyncStatus, UserSyncClient, UserSyncError};
use poller::Pollers;

/// Failed polls in a row before the channel is told the bot has trouble following.
pub const REPORT_AFTER_FAILURES: u32 = 5;
/// Posts Slack allows through one `response_url`.
pub const RESPONSE_URL_MAX_POSTS: u32 = 5;
/// `response_url` posts spent on progress at most, so the outcome always has room.
const MAX_PROGRESS_POSTS: u32 = 2;
/// The shortest gap between two progress updates.
const PROGRESS_MIN_GAP: Duration = Duration::from_secs(20);
/// Failed users listed in an outcome.
const FAILED_USERS_SHOWN: usize = 10;

/// A lock per (instance, connector) for starting syncs.
type StartLocks = std::collections::HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>;

/// The job engine, shared by the command handlers and the resumed jobs.
#[derive(Debug)]
pub struct Jobs {
    store: Arc<dyn Store>,
    clients: Vec<UserSyncClient>,
    outbox: Outbox,
    settings: JobsConfig,
    pollers: Arc<Pollers>,
    shutdown: watch::Receiver<bool>,
    shutdown_tx: watch::Sender<bool>,
    /// One lock per (instance, connector): starting a sync is check-then-trigger, and two
    /// people must not both pass the check.
    start_locks: std::sync::Mutex<StartLocks>,
}

impl Jobs {
    pub fn new(
        store: Arc<dyn Store>,
        clients: Vec<UserSyncClient>,
        outbox: Outbox,
        settings: JobsConfig,
    ) -> Arc<Jobs> {
        let (shutdown_tx, shutdown) = watch::channel(false);
        Arc::new(Jobs {
            store,
            clients,
            outbox,
            pollers: Pollers::new(settings.poll_interval),
            settings,
            shutdown,
            shutdown_tx,
            start_locks: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Holds the right to start a sync of a connector until the guard is dropped.
    pub async fn start_lock(
        &self,
        instance: &str,
        connector: &str,
    ) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.start_locks.lock().unwrap_or_else(|p| p.into_inner());
            locks
                .entry((instance.to_string(), connector.to_string()))
                .or_default()
                .clone()
        };
        lock.lock_owned().await
    }

    /// A sync job still followed on a connector, if any.
    pub async fn following_on(&self, instance: &str, connector: &str) -> Option<JobRecord> {
        self.store.open_jobs().await.ok()?.into_iter().find(|j| {
            j.kind == JobKind::Sync
                && j.state == JobState::Following
                && j.instance == instance
                && j.connector_id == connector
        })
    }

    pub fn pollers(&self) -> &Arc<Pollers> {
        &self.pollers
    }

    /// Stops following: tasks end at their next step; the store keeps the jobs for the
    /// next start.
    pub fn stop(&self) {
        let _ = self.shutdown_tx.send(true);
    }

    /// Whether outcomes can be posted after the `response_url` has expired.
    pub fn can_post_late(&self, platform: Platform) -> bool {
        self.outbox.has_bot_token(platform)
    }

    fn client(&self, instance: &str) -> Option<&UserSyncClient> {
        self.clients.iter().find(|c| c.instance() == instance)
    }

    /// Stores a new job and starts following it.
    pub async fn start(
        self: &Arc<Self>,
        mut job: JobRecord,
    ) -> Result<i64, crate::store::StoreError> {
        job.id = self.store.insert_job(&job).await?;
        let id = job.id;
        if job.state == JobState::Following {
            tokio::spawn(self.clone().follow(job));
        }
        Ok(id)
    }

    /// Picks up every job the store holds open: following ones are followed again, and
    /// finished ones whose outcome was not delivered are delivered now.
    pub async fn resume(self: &Arc<Self>) -> Result<usize, crate::store::StoreError> {
        let open = self.store.open_jobs().await?;
        let n = open.len();
        for job in open {
            if job.state == JobState::Following {
                tokio::spawn(self.clone().follow(job));
            } else {
                tokio::spawn(self.clone().redeliver(job));
            }
        }
        if n > 0 {
            tracing::info!(jobs = n, "resumed open jobs");
        }
        Ok(n)
    }

    /// The jobs being followed, then the most recent finished ones.
    pub async fn list(&self, finished: usize) -> Result<Vec<JobRecord>, crate::store::StoreError> {
        let mut open: Vec<JobRecord> = self
            .store
            .open_jobs()
            .await?
            .into_iter()
            .filter(|j| j.state == JobState::Following)
            .collect();
        let recent = self.store.recent_jobs(50).await?;
        open.extend(
            recent
                .into_iter()
                .filter(|j| j.state != JobState::Following)
                .take(finished),
        );
        Ok(open)
    }

    /// The job following a given sync, if the bot started it.
    pub async fn job_for_sync(
        &self,
        instance: &str,
        connector: &str,
        sync_id: u64,
    ) -> Option<JobRecord> {
        self.store
            .recent_jobs(200)
            .await
            .ok()?
            .into_iter()
            .find(|j| {
                j.kind == JobKind::Sync
                    && j.instance == instance
                    && j.connector_id == connector
                    && (j.sync_id == Some(sync_id)
                        || (j.sync_id.is_none() && j.state == JobState::Following))
            })
    }

    async fn save(&self, job: &mut JobRecord) {
        job.updated_at = Utc::now();
        if let Err(e) = self.store.update_job(job).await {
            tracing::error!(job = job.id, error = %e, "cannot save a job");
        }
    }

    /// Follows one sync job to its end.
    async fn follow(self: Arc<Self>, mut job: JobRecord) {
        let Some(client) = self.client(&job.instance).cloned() else {
            job.state = JobState::Failed;
            job.finished_at = Some(Utc::now());
            let message = Message::new(
                Tone::Failure,
                format!("Stopped following {}", job.connector_name),
            )
            .in_channel()
            .text(format!(
                "The instance {} is no longer configured.",
                job.instance
            ));
            self.finish(job, message).await;
            return;
        };
        let mut shutdown = self.shutdown.clone();
        let mut updates = self.pollers.subscribe(&client, &job.connector_id);
        let waited = (Utc::now() - job.started_at).to_std().unwrap_or_default();
        let deadline = tokio::time::Instant::now() + self.settings.max_wait.saturating_sub(waited);
        let mut trouble_reported = false;
        let mut last_progress: Option<(Instant, String)> = None;
        loop {
            tokio::select! {
                changed = updates.changed() => {
                    if changed.is_err() {
                        updates = self.pollers.subscribe(&client, &job.connector_id);
                        continue;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.time_out(job).await;
                    return;
                }
                _ = shutdown.changed() => return,
            }
            let Some(observation) = updates.borrow_and_update().clone() else {
                continue;
            };
            let latest = match observation.status {
                Ok(s) => s,
                Err(UserSyncError::NotFound { .. }) if job.sync_id.is_none() => continue,
                Err(e) => {
                    if observation.failures >= REPORT_AFTER_FAILURES && !trouble_reported {
                        trouble_reported = true;
                        let message = Message::new(Tone::Warning, format!("Trouble following the sync of {}", job.connector_name))
                            .in_channel()
                            .text(Text::new().plain(e.to_string()))
                            .context(format!(
                                "{} polls in a row failed; the bot keeps trying until {} after the start.",
                                observation.failures,
                                humantime::format_duration(self.settings.max_wait)
                            ));
                        // One post stays reserved for the outcome.
                        self.post(&mut job, &message, 1).await.ok();
                    }
                    continue;
                }
            };
            let current = match job.sync_id {
                None if job.baseline_sync_id.is_none_or(|b| latest.id > b) => {
                    job.sync_id = Some(latest.id);
                    latest
                }
                None => continue,
                Some(id) if latest.id == id => latest,
                // Our sync ended and a newer one started between two polls: ask for ours.
                Some(id) if latest.id > id => match client.sync_status(id).await {
                    Ok(own) => own,
                    Err(e) => {
                        tracing::warn!(job = job.id, error = %e, "cannot read the followed sync");
                        continue;
                    }
                },
                Some(_) => continue,
            };
            let seen = serde_json::to_value(&current).ok();
            if seen != job.last_status {
                job.last_status = seen;
                self.save(&mut job).await;
            }
            if current.status.is_terminal() {
                let message = self.outcome(&client, &job, &current).await;
                job.state = JobState::Done;
                job.finished_at = Some(Utc::now());
                self.finish(job, message).await;
                return;
            }
            let key = format!(
                "{}:{}:{}",
                current.status,
                current.result_count.unwrap_or(0),
                current.failed_count.unwrap_or(0)
            );
            let due = last_progress
                .as_ref()
                .is_none_or(|(at, k)| *k != key && at.elapsed() >= PROGRESS_MIN_GAP);
            if due {
                self.progress(&mut job, &current).await;
                last_progress = Some((Instant::now(), key));
            }
        }
    }

    async fn time_out(&self, mut job: JobRecord) {
        let status: Option<SyncStatus> = job
            .last_status
            .clone()
            .and_then(|v| serde_json::from_value(v).ok());
        let mut message = Message::new(
            Tone::Warning,
            format!(
                "Sync of {} still running after {}",
                job.connector_name,
                humantime::format_duration(self.settings.max_wait)
            ),
        )
        .in_channel()
        .text("The bot has stopped following it. It may still finish on its own.");
        if let Some(s) = status {
            message = message.text(Text::new().plain(format!(
                "Last seen: sync {} {} with {} results.",
                s.id,
                s.status,
                s.result_count.unwrap_or(0)
            )));
        }
        message = message.context(
            Text::new()
                .plain("Check it later with ")
                .code("/usersync status ".to_string() + &job.connector_name),
        );
        job.state = JobState::TimedOut;
        job.finished_at = Some(Utc::now());
        self.finish(job, message).await;
    }

    /// The full outcome of a finished sync, with the first failed users.
    async fn outcome(&self, client: &UserSyncClient, job: &JobRecord, s: &SyncStatus) -> Message {
        let mut message =
            present::sync_message(client.instance(), Some(&job.connector_name), s).in_channel();
        let verb = if s.is_failure() { "failed" } else { "finished" };
        message.title = format!(
            "Sync of {} {verb} — sync {}: {}",
            job.connector_name,
            s.id,
            present::state_text(s)
        );
        if s.failed_count.unwrap_or(0) > 0 {
            match client.sync_results(s.id, ResultCount::All).await {
                Ok(users) => {
                    let failed: Vec<_> = users.iter().filter(|u| u.is_failure()).collect();
                    if failed.is_empty() {
                        return message.context(format!(
                            "The product counts {} failed users but lists none as failed in the results.",
                            s.failed_count.unwrap_or(0)
                        ));
                    }
                    message = message
                        .text(Text::new().strong(format!("Failed users ({})", failed.len())));
                    message = message.push(crate::message::Block::List {
                        items: failed
                            .iter()
                            .take(FAILED_USERS_SHOWN)
                            .map(|u| present::user_result_line(u))
                            .collect(),
                        more: failed.len().saturating_sub(FAILED_USERS_SHOWN),
                    });
                }
                Err(e) => {
                    message = message
                        .text(Text::new().plain(format!("(Failed users could not be read: {e})")));
                }
            }
        }
        let by = job
            .user_name
            .as_ref()
            .map_or(format!("{}:{}", job.platform.as_str(), job.user_id), |n| {
                format!("@{n}")
            });
        message.context(Text::new().plain(format!("Started from chat by {by} · job {}", job.id)))
    }

    /// Records the end of a job, then delivers its outcome.
    async fn finish(&self, mut job: JobRecord, message: Message) {
        job.delivery = Delivery::Posting;
        self.save(&mut job).await;
        self.deliver(job, message).await;
    }

    async fn deliver(&self, mut job: JobRecord, message: Message) {
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

    /// Delivers the outcome of a job that finished before a restart.
    async fn redeliver(self: Arc<Self>, job: JobRecord) {
        let status: Option<SyncStatus> = job
            .last_status
            .clone()
            .and_then(|v| serde_json::from_value(v).ok());
        let message = match (self.client(&job.instance), status, job.state) {
            (Some(client), Some(s), JobState::Done) => self.outcome(client, &job, &s).await,
            _ => Message::new(
                Tone::Warning,
                format!(
                    "Job {} on {} ended: {}",
                    job.id,
                    job.connector_name,
                    job.state.as_str()
                ),
            )
            .in_channel(),
        };
        self.deliver(job, message).await;
    }

    fn response_url_usable(&self, job: &JobRecord, reserve: u32) -> bool {
        job.response_url.is_some()
            && job.response_url_expires_at.is_some_and(|t| Utc::now() < t)
            && job.response_posts + reserve < RESPONSE_URL_MAX_POSTS
    }

    /// Posts a new message for the job: through `response_url` while it is good, else
    /// with the bot token; fails when neither is possible.
    async fn post(
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
        if late {
            self.outbox
                .post(platform, &job.channel_id, message)
                .await
                .map(|_| ())
        } else {
            Err(DeliveryError::NotAllowed(
                "the response_url has expired or is used up, and no bot token is configured".into(),
            ))
        }
    }

    /// Keeps one progress message up to date: the command's reply, replaced through
    /// `response_url` while posts are to spare (Slack); else a message of the bot's,
    /// edited with its token.
    async fn progress(&self, job: &mut JobRecord, s: &SyncStatus) {
        let platform = job.platform;
        let started = job
            .user_name
            .as_ref()
            .map_or(String::new(), |n| format!(" started by @{n}"));
        let message = Message::new(
            Tone::Info,
            format!(
                "Sync of {}{started}: {} (sync {})",
                job.connector_name, s.status, s.id
            ),
        )
        .in_channel()
        .text(Text::new().plain(format!(
            "{} users so far: {} added, {} updated, {} deleted, {} failed.",
            s.result_count.unwrap_or(0),
            s.added_count.unwrap_or(0),
            s.updated_count.unwrap_or(0),
            s.deleted_count.unwrap_or(0),
            s.failed_count.unwrap_or(0)
        )))
        .context("The outcome is posted here when it finishes.");
        let replace = self.outbox.can_replace_reply(platform)
            && self.response_url_usable(job, RESPONSE_URL_MAX_POSTS - MAX_PROGRESS_POSTS);
        let result = if replace {
            let url = job.response_url.clone().unwrap_or_default();
            job.response_posts += 1;
            self.outbox.follow_up(platform, &url, &message, true).await
        } else if self.outbox.has_bot_token(platform) {
            match (&job.progress_channel, &job.progress_ts) {
                (Some(channel), Some(id)) => {
                    let posted = PostedMessage {
                        channel: channel.clone(),
                        id: id.clone(),
                    };
                    self.outbox.update(platform, &posted, &message).await
                }
                _ => match self.outbox.post(platform, &job.channel_id, &message).await {
                    Ok(posted) => {
                        job.progress_channel = Some(posted.channel);
                        job.progress_ts = Some(posted.id);
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
            }
        } else {
            Ok(())
        };
        if let Err(e) = result {
            tracing::warn!(job = job.id, error = %e, "progress update failed");
        }
        self.save(job).await;
    }
}

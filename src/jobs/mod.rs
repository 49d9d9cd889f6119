//! Following jobs: a sync started from chat is followed to its end through the shared
//! poller, its progress kept up to date in one message, and its outcome posted exactly
//! once — across restarts, since every job lives in the store.
//!
//! `mod.rs` owns the engine and the orchestration of `run` and `user` (running check,
//! trigger, store the job); `follow` the pure step and the loop around it; `deliver` the
//! posting of progress and outcomes.

mod deliver;
mod follow;
pub mod guard;
mod lease;
pub mod poller;
pub mod protect;

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::watch;

use crate::chat::outbox::Outbox;
use crate::config::JobsConfig;
use crate::domain::{Invocation, Platform};
use crate::reply::jobs::UserUpdate;
use crate::store::{Claim, Delivery, JobKind, JobRecord, JobState, Replica, Store, StoreError};
use crate::usersync::{SyncStatus, UserSyncClient, UserSyncError};
use poller::Pollers;
use protect::Protected;

pub use deliver::{outcome_tag, RESPONSE_URL_MAX_POSTS};
pub use follow::REPORT_AFTER_FAILURES;

/// Taken off a `response_url`'s lifetime, so that the bot never posts at the last second.
const RESPONSE_URL_MARGIN: chrono::Duration = chrono::Duration::seconds(60);

/// A lock per (instance, connector) for starting syncs.
type StartLocks = std::collections::HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>;

/// The job engine, shared by the command handlers and the resumed jobs.
#[derive(Debug)]
pub struct Jobs {
    store: Arc<dyn Store>,
    clients: Vec<UserSyncClient>,
    outbox: Outbox,
    settings: JobsConfig,
    /// The slash command as set up on the platforms, for hints in posted messages.
    slash_command: String,
    pollers: Arc<Pollers>,
    shutdown: watch::Receiver<bool>,
    shutdown_tx: watch::Sender<bool>,
    /// One lock per (instance, connector): starting a sync is check-then-trigger, and two
    /// people must not both pass the check.
    start_locks: std::sync::Mutex<StartLocks>,
    /// The guard on mass deletion, set once at start-up.
    guard: std::sync::OnceLock<guard::DeletionGuard>,
    /// Protected accounts: every finished sync's results are checked for them.
    protect: Arc<Protected>,
    /// This replica, as it holds leases.
    replica: Replica,
    /// The jobs this replica holds the leases of, and follows or delivers.
    held: lease::HeldJobs,
    /// The task renewing and claiming leases.
    lease_task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What `run` achieved.
#[derive(Debug)]
pub enum SyncStart {
    /// Triggered; `job_id` is `None` when the job could not be stored.
    Started {
        sync_id: Option<u64>,
        job_id: Option<i64>,
    },
    /// The trigger's answer was lost (`error`): the sync may have started. The job looks
    /// for it (a sync newer than the baseline) for `[jobs] start_window`, and follows it
    /// or ends as not started.
    Unconfirmed { job_id: i64, error: UserSyncError },
    /// A job of the bot already follows a sync of the connector.
    AlreadyFollowing(Box<JobRecord>),
    /// The product already runs a sync (and the bot's job for it, if it started it).
    AlreadyRunning {
        status: Box<SyncStatus>,
        job: Option<Box<JobRecord>>,
    },
}

/// Why `run` could not start a sync.
#[derive(Debug)]
pub enum SyncStartError {
    /// The connector's last sync could not be read, so nothing was started.
    Check(UserSyncError),
    /// The product refused the trigger.
    Trigger(UserSyncError),
}

impl Jobs {
    /// This replica, as it holds leases and claims work.
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    pub fn new(
        store: Arc<dyn Store>,
        clients: Vec<UserSyncClient>,
        outbox: Outbox,
        settings: JobsConfig,
        slash_command: String,
        protect: Arc<Protected>,
        replica: Replica,
    ) -> Arc<Jobs> {
        let (shutdown_tx, shutdown) = watch::channel(false);
        Arc::new(Jobs {
            replica,
            held: lease::HeldJobs::default(),
            lease_task: std::sync::Mutex::new(None),
            store,
            clients,
            outbox,
            pollers: Pollers::new(settings.poll_interval),
            settings,
            slash_command,
            shutdown,
            shutdown_tx,
            start_locks: std::sync::Mutex::new(std::collections::HashMap::new()),
            guard: std::sync::OnceLock::new(),
            protect,
        })
    }

    /// Sets the guard on mass deletion (once, before jobs are resumed).
    pub fn guard_mass_deletion(&self, guard: guard::DeletionGuard) {
        let _ = self.guard.set(guard);
    }

    /// A new job for this invocation, being followed, with nothing seen or posted yet.
    pub fn new_job(
        &self,
        kind: JobKind,
        inv: &Invocation,
        instance: &str,
        connector_id: &str,
        connector_name: &str,
    ) -> JobRecord {
        let lifetime = chrono::Duration::from_std(self.settings.response_url_lifetime)
            .unwrap_or_default()
            - RESPONSE_URL_MARGIN;
        let mut job = JobRecord::new(
            kind,
            inv.platform,
            instance,
            connector_id,
            connector_name,
            &inv.channel.id,
            &inv.user.id,
        );
        job.user_name = inv.user_name.clone();
        job.response_url = inv.response_url.clone();
        job.response_url_expires_at = inv.response_url.as_ref().map(|_| job.started_at + lifetime);
        job
    }

    /// Holds the right to start a sync of a connector until the guard is dropped.
    async fn start_lock(
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

    /// `run`: unless a sync already runs, triggers one and follows it as a job. Check and
    /// trigger happen under one lock per connector, so two people typing `run` at once
    /// cannot both pass the check.
    pub async fn start_sync(
        self: &Arc<Self>,
        client: &UserSyncClient,
        mut job: JobRecord,
    ) -> Result<SyncStart, SyncStartError> {
        let _start = self.start_lock(&job.instance, &job.connector_id).await;
        if let Some(existing) = self.following_on(&job.instance, &job.connector_id).await {
            return Ok(SyncStart::AlreadyFollowing(Box::new(existing)));
        }
        let before = match client.last_sync_status(&job.connector_id).await {
            Ok(s) => Some(s),
            Err(UserSyncError::NotFound { .. }) => None,
            Err(e) => return Err(SyncStartError::Check(e)),
        };
        if let Some(status) = before.clone().filter(|s| !s.status.is_terminal()) {
            let job = self
                .job_for_sync(&job.instance, &job.connector_id, status.id)
                .await;
            return Ok(SyncStart::AlreadyRunning {
                status: Box::new(status),
                job: job.map(Box::new),
            });
        }
        // The job is stored (its lease held, not followed yet) before the trigger: a
        // crash in between leaves a job that finds its sync (the first one newer than
        // the baseline) or ends at `max_wait`, never a sync that nobody follows.
        job.baseline_sync_id = before.map(|s| s.id);
        let asked = std::time::Instant::now();
        let stored = self
            .store
            .insert_leased_job(&job, &self.replica.owner, self.replica.ttl())
            .await;
        if let Err(e) = &stored {
            tracing::error!(error = %e, "cannot store a job; triggering it all the same");
        }
        let answer = match client.trigger_sync(&job.connector_id, job.local).await {
            Ok(answer) => answer,
            Err(e) => {
                if let (Ok(id), true) = (&stored, e.may_have_been_done()) {
                    // Maybe started: followed as if triggered, looking for its sync.
                    job.id = *id;
                    tracing::warn!(job = job.id, error = %e, "the trigger's answer was lost; looking for the sync it may have started");
                    if self.save(&mut job).await {
                        self.spawn_held(job, asked);
                    }
                    return Ok(SyncStart::Unconfirmed {
                        job_id: *id,
                        error: e,
                    });
                }
                if let Ok(id) = stored {
                    // Refused: the person reads why in the reply; nothing to follow.
                    job.id = id;
                    job.state = JobState::Failed;
                    job.delivery = Delivery::Posted;
                    job.finished_at = Some(Utc::now());
                    self.save(&mut job).await;
                }
                return Err(SyncStartError::Trigger(e));
            }
        };
        job.sync_id = answer.sync_id();
        let job_id = match stored {
            Ok(id) => {
                job.id = id;
                // Followed here unless another replica took the job meanwhile (then it
                // follows it, finding the sync after the baseline).
                if self.save(&mut job).await {
                    self.spawn_held(job, asked);
                }
                Some(id)
            }
            Err(_) => None,
        };
        Ok(SyncStart::Started {
            sync_id: answer.sync_id(),
            job_id,
        })
    }

    /// `user`: updates one user and records it as a finished job.
    pub async fn update_user(
        self: &Arc<Self>,
        client: &UserSyncClient,
        mut job: JobRecord,
        by_username: bool,
    ) -> Result<UserUpdate, UserSyncError> {
        let identifier = job.subject.clone().unwrap_or_default();
        let answer = client
            .sync_single_user(&job.connector_id, &identifier, by_username)
            .await?;
        let json = answer.json.unwrap_or_default();
        let field = |k: &str| json.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let update = UserUpdate {
            action: field("action")
                .or_else(|| field("result"))
                .or_else(|| field("status")),
            user_name: field("userName"),
            display_name: field("displayName"),
            email: field("email"),
            message: field("message").or(answer.text),
        };
        job.state = if update.failed() {
            JobState::Failed
        } else {
            JobState::Done
        };
        job.last_status = Some(json);
        job.delivery = Delivery::Posted;
        job.finished_at = Some(Utc::now());
        if let Err(e) = self.start(job).await {
            tracing::error!(error = %e, "cannot record a user update");
        }
        Ok(update)
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

    /// Whether outcomes can be posted after the `response_url` has expired.
    pub fn can_post_late(&self, platform: Platform) -> bool {
        self.outbox.has_bot_token(platform)
    }

    fn client(&self, instance: &str) -> Option<&UserSyncClient> {
        self.clients.iter().find(|c| c.instance() == instance)
    }

    /// Stores a new job and starts following it, with its lease held by this replica.
    pub async fn start(self: &Arc<Self>, mut job: JobRecord) -> Result<i64, StoreError> {
        if job.state != JobState::Following {
            return self.store.insert_job(&job).await;
        }
        let asked = std::time::Instant::now();
        job.id = self
            .store
            .insert_leased_job(&job, &self.replica.owner, self.replica.ttl())
            .await?;
        let id = job.id;
        self.spawn_held(job, asked);
        Ok(id)
    }

    /// Picks up the open jobs nobody holds (at start: those this process held before it
    /// restarted, on a single-process store) — following ones are followed again, and
    /// finished ones whose outcome was not delivered are delivered now — then keeps the
    /// leases: renewed, and open jobs claimed as other replicas leave them.
    pub async fn resume(self: &Arc<Self>) -> Result<usize, StoreError> {
        let n = self.claim(Claim::AtStart).await?;
        if n > 0 {
            tracing::info!(jobs = n, "resumed open jobs");
        }
        let task = tokio::spawn(self.clone().keep_leases());
        *self.lease_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        Ok(n)
    }

    /// The jobs being followed, then the most recent finished ones.
    pub async fn list(&self, finished: usize) -> Result<Vec<JobRecord>, StoreError> {
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

    /// Writes the job while this replica holds its lease for `valid_for` more: `Ok(false)`
    /// when it does not (nothing written; another replica may follow the job).
    async fn save_leased(
        &self,
        job: &mut JobRecord,
        valid_for: std::time::Duration,
    ) -> Result<bool, StoreError> {
        job.updated_at = Utc::now();
        let written = self
            .store
            .update_leased_job(job, &self.replica.owner, valid_for)
            .await?;
        if !written {
            tracing::warn!(
                job = job.id,
                "the job's lease is no longer held here; leaving it"
            );
        }
        Ok(written)
    }

    /// Saves what the job saw; `false` when its lease is lost and following it must stop
    /// here. A store error is logged and following goes on.
    async fn save(&self, job: &mut JobRecord) -> bool {
        match self.save_leased(job, std::time::Duration::ZERO).await {
            Ok(written) => written,
            Err(e) => {
                tracing::error!(job = job.id, error = %e, "cannot save a job");
                true
            }
        }
    }
}

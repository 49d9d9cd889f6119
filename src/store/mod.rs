//! Persistence behind one interface: audit rows and re-delivery protection, with the
//! backend picked from the storage URL: `sqlite://FILE` (the default) or
//! `postgres://…`/`postgresql://…`. Both backends run the same queries (`sql`).

mod alerts;
mod locks;
mod pending;
mod postgres;
mod posts;
mod revisions;
mod sql;
mod sqlite;
#[cfg(test)]
mod test_database;
#[cfg(test)]
mod tests;
mod timed;
pub mod transient;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use alerts::DeletionAlert;
pub use locks::{LockRecord, EVERY_CONNECTOR};
pub use pending::{PendingRecord, PendingState};
pub use postgres::PostgresStore;
pub use posts::{PostIntent, PostMark};
pub use revisions::{NewRevision, Revision, RevisionPage};
pub use sqlite::SqliteStore;
pub use timed::{operation_durations, OperationDurations, OperationLabels, TimedStore};

use crate::domain::Platform;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is shown without its password and parameters.
    #[error(
        "storage URL {0:?} is not supported (use sqlite://FILE or postgres://USER@HOST:PORT/DB)"
    )]
    UnsupportedUrl(String),
    /// No connection could be made (down, refused, unknown database, TLS, credentials).
    /// `transient`: the database is down or starting, not misnamed or refusing us.
    #[error("cannot reach the database at {target}: {reason}")]
    Unreachable {
        target: String,
        reason: String,
        transient: bool,
    },
    /// The database has migrations applied that this binary does not know.
    #[error(
        "the database schema is newer than this binary (migration {0} is applied but unknown \
         to this version of usersync-bot); upgrade the bot or use another database"
    )]
    SchemaNewer(i64),
    #[error("storage error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("storage migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

/// What was decided about a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Denied,
    /// Not a valid command (parse error): nothing ran.
    Invalid,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Denied => "denied",
            Decision::Invalid => "invalid",
        }
    }

    fn parse(s: &str) -> Decision {
        match s {
            "allowed" => Decision::Allowed,
            "denied" => Decision::Denied,
            _ => Decision::Invalid,
        }
    }
}

/// One audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub platform: Platform,
    pub user_id: String,
    /// The name the platform sent, if any.
    pub user_name: Option<String>,
    pub channel_id: String,
    /// What was typed, with its secrets taken out.
    pub command_text: String,
    /// The canonical name of the command (`None` when the text named no command).
    pub command: Option<String>,
    /// The connector argument as typed (`None` when the command has none).
    pub connector: Option<String>,
    pub decision: Decision,
    pub outcome: String,
}

/// Which audit rows to read; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// A user id, with or without its platform (`slack:U1`, `U1`), or a user name in any
    /// case (ASCII letters on SQLite); a leading `@` is ignored.
    pub user: Option<String>,
    /// The connector argument as typed, in any case.
    pub connector: Option<String>,
    /// A canonical command name.
    pub command: Option<String>,
}

/// The newest audit rows that match a filter, and how many more match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditPage {
    /// Newest first.
    pub rows: Vec<AuditEntry>,
    /// Rows that match but were left out.
    pub more: u64,
}

/// What a job follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Sync,
    User,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Sync => "sync",
            JobKind::User => "user",
        }
    }
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Still being followed.
    Following,
    /// Finished (the product's outcome is in `last_status`).
    Done,
    /// Could not be followed to the end (e.g. the product kept failing).
    Failed,
    /// Still running after `jobs.max_wait`.
    TimedOut,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Following => "following",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::TimedOut => "timed_out",
        }
    }

    fn parse(s: &str) -> JobState {
        match s {
            "following" => JobState::Following,
            "failed" => JobState::Failed,
            "timed_out" => JobState::TimedOut,
            _ => JobState::Done,
        }
    }
}

/// Whether a job's outcome reached the chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Pending,
    /// A post was under way; after a crash it is posted again rather than lost.
    Posting,
    Posted,
    Undeliverable,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Pending => "pending",
            Delivery::Posting => "posting",
            Delivery::Posted => "posted",
            Delivery::Undeliverable => "undeliverable",
        }
    }

    fn parse(s: &str) -> Delivery {
        match s {
            "posting" => Delivery::Posting,
            "posted" => Delivery::Posted,
            "undeliverable" => Delivery::Undeliverable,
            _ => Delivery::Pending,
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// 0 until inserted.
    pub id: i64,
    pub kind: JobKind,
    pub platform: Platform,
    pub instance: String,
    pub connector_id: String,
    pub connector_name: String,
    pub subject: Option<String>,
    pub channel_id: String,
    pub user_id: String,
    pub user_name: Option<String>,
    pub response_url: Option<String>,
    pub response_url_expires_at: Option<DateTime<Utc>>,
    pub response_posts: u32,
    pub baseline_sync_id: Option<u64>,
    pub sync_id: Option<u64>,
    pub local: bool,
    pub state: JobState,
    pub last_status: Option<serde_json::Value>,
    pub progress_channel: Option<String>,
    pub progress_ts: Option<String>,
    pub delivery: Delivery,
    pub delivery_error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl JobRecord {
    /// A job just started, being followed, with nothing seen or posted yet.
    pub fn new(
        kind: JobKind,
        platform: Platform,
        instance: impl Into<String>,
        connector_id: impl Into<String>,
        connector_name: impl Into<String>,
        channel_id: impl Into<String>,
        user_id: impl Into<String>,
    ) -> JobRecord {
        let now = Utc::now();
        JobRecord {
            id: 0,
            kind,
            platform,
            instance: instance.into(),
            connector_id: connector_id.into(),
            connector_name: connector_name.into(),
            subject: None,
            channel_id: channel_id.into(),
            user_id: user_id.into(),
            user_name: None,
            response_url: None,
            response_url_expires_at: None,
            response_posts: 0,
            baseline_sync_id: None,
            sync_id: None,
            local: false,
            state: JobState::Following,
            last_status: None,
            progress_channel: None,
            progress_ts: None,
            delivery: Delivery::Pending,
            delivery_error: None,
            started_at: now,
            updated_at: now,
            finished_at: None,
        }
    }
}

/// A channel's request, made from chat, to hear about finished syncs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    pub platform: Platform,
    pub channel_id: String,
    /// Empty for every instance.
    pub instance: String,
    /// A connector id, or `*`.
    pub connector: String,
    pub connector_name: String,
    pub failures_only: bool,
    pub max_deleted: Option<u64>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl Subscription {
    /// Whether it is about this instance (some of its connectors, at least).
    pub fn covers_instance(&self, instance: &str) -> bool {
        self.instance.is_empty() || self.instance == instance
    }

    /// Whether it is about this connector of this instance.
    pub fn covers(&self, instance: &str, connector_id: &str) -> bool {
        self.covers_instance(instance) && (self.connector == "*" || self.connector == connector_id)
    }

    /// The channel it posts to.
    pub fn channel(&self) -> crate::domain::Principal {
        crate::domain::Principal::new(self.platform, self.channel_id.clone())
    }
}

/// A delivery as claimed in the store, for a re-delivery of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryClaim {
    pub received_at: DateTime<Utc>,
    /// The replica that claimed it ([`Replica::owner`]); `None` for a claim older than the
    /// column.
    pub claimed_by: Option<String>,
    /// Its first answer (a message as JSON), once it has one.
    pub answer: Option<String>,
}

/// Which leases a claim may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Only those nobody holds: no owner, or expired.
    Expired,
    /// At start-up: as [`Claim::Expired`] on a database shared by replicas (PostgreSQL);
    /// every one on a single-process backend (SQLite), whose previous owner was this
    /// process before a restart or a crash.
    AtStart,
}

/// A replica of the bot, as it holds leases: its name in them, and how long they last
/// unrenewed (`[cluster] lease`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub owner: String,
    pub lease: Duration,
}

impl Replica {
    /// This process, with a fresh [`owner_id`].
    pub fn this_process(lease: Duration) -> Replica {
        Replica {
            owner: owner_id(),
            lease,
        }
    }

    /// How long a lease is taken or renewed for: three quarters of `[cluster] lease`, so
    /// that with a claim every quarter ([`Replica::tick`]) a dead replica's lease is taken
    /// over within `[cluster] lease`.
    pub fn ttl(&self) -> Duration {
        self.lease * 3 / 4
    }

    /// How often leases are renewed, and free ones claimed: a quarter of the lease, so
    /// that one renewal may fail without the lease running out.
    pub fn tick(&self) -> Duration {
        self.lease / 4
    }

    /// How often free leases are looked for (a quarter of the lease, at most a second), so
    /// that one released by a replica that stopped is taken over within about a second.
    pub fn claim_every(&self) -> Duration {
        self.tick().min(Duration::from_secs(1))
    }

    /// Whether a lease last renewed `ago` is due for renewal, on a loop that wakes every
    /// [`Replica::claim_every`]: when the next wake would come after a [`Replica::tick`].
    pub fn renewal_due(&self, ago: Duration) -> bool {
        ago + self.claim_every() >= self.tick()
    }

    /// How long a lease must still hold for a post to go out under it: longer than a post
    /// takes, so that nobody else can have taken the lease when the post lands. A renewed
    /// lease holds for [`Replica::ttl`], and at least half of that before the next
    /// renewal, which is more than this.
    pub fn post_margin(&self) -> Duration {
        self.lease / 4
    }
}

/// A replica's name in the leases it holds: host name, process id and a random part, so
/// that two processes (even one restarted with the same pid) never share one.
pub fn owner_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..8])
}

#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Whether the store answers a trivial query (for `/readyz`); it was migrated when it
    /// was opened, so answering is enough. Whether it takes writes, the audit writer says.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Writes audit rows, all or none.
    async fn record_audits(&self, entries: &[AuditEntry]) -> Result<(), StoreError>;

    /// The newest audit rows, newest first.
    async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;

    /// The newest `limit` audit rows that match `filter`, newest first, and how many more
    /// match.
    async fn audit_rows(&self, filter: &AuditFilter, limit: u32) -> Result<AuditPage, StoreError>;

    /// Records a delivery as claimed by replica `by`; `false` when it was recorded before
    /// (a re-delivery).
    async fn claim_delivery(
        &self,
        platform: Platform,
        trigger_id: &str,
        by: &str,
    ) -> Result<bool, StoreError>;

    /// Keeps the first answer (a message as JSON) of a claimed delivery.
    async fn record_delivery_answer(
        &self,
        platform: Platform,
        trigger_id: &str,
        answer: &str,
    ) -> Result<(), StoreError>;

    /// A claimed delivery: when it was received, by which replica, and its first answer
    /// once it has one.
    async fn delivery_answer(
        &self,
        platform: Platform,
        trigger_id: &str,
    ) -> Result<Option<DeliveryClaim>, StoreError>;

    /// Says replica `owner` is alive for `ttl` from now (on the database's clock), and
    /// forgets replicas that stopped beating a day ago.
    async fn beat(&self, owner: &str, ttl: Duration) -> Result<(), StoreError>;

    /// Whether replica `owner` beat within its last `ttl`; one never seen, or gone, is not.
    async fn alive(&self, owner: &str) -> Result<bool, StoreError>;

    /// Replica `owner` stops: from now on it is not [`Store::alive`].
    async fn leave(&self, owner: &str) -> Result<(), StoreError>;

    /// Forgets deliveries received before `before`; returns how many.
    async fn forget_deliveries_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Records the intent to make a post, unless it was recorded before: what the store
    /// knew of it (race-safe: of two callers, one gets [`PostMark::New`]).
    async fn begin_post(&self, intent: &PostIntent<'_>) -> Result<PostMark, StoreError>;

    /// Records a post as made (`post_id`: Slack's ts or Mattermost's id, when known).
    async fn finish_post(&self, id: &str, post_id: Option<&str>) -> Result<(), StoreError>;

    /// Forgets posts whose intent was recorded before `before`; returns how many.
    async fn forget_posts_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Stores a new job; returns its id.
    async fn insert_job(&self, job: &JobRecord) -> Result<i64, StoreError>;

    /// Writes every changing field of a job.
    async fn update_job(&self, job: &JobRecord) -> Result<(), StoreError>;

    /// Jobs still followed, or finished with an outcome not yet delivered, oldest first.
    async fn open_jobs(&self) -> Result<Vec<JobRecord>, StoreError>;

    /// Stores a new job with its lease held by `owner` for `lease`; returns its id.
    async fn insert_leased_job(
        &self,
        job: &JobRecord,
        owner: &str,
        lease: Duration,
    ) -> Result<i64, StoreError>;

    /// Takes the lease, for `lease`, of every open job (as [`Store::open_jobs`]) that
    /// nobody holds: no owner, or a lease expired on the database's clock. With
    /// [`Claim::AtStart`] a single-process backend (SQLite) takes every open job of
    /// another owner too: that owner was this process before it restarted. Two replicas
    /// claiming at once never get the same job. Returns the jobs taken, oldest first.
    async fn claim_jobs(
        &self,
        owner: &str,
        lease: Duration,
        claim: Claim,
    ) -> Result<Vec<JobRecord>, StoreError>;

    /// Extends, to `lease` from now, the leases `owner` still holds among `ids` (open
    /// jobs only); returns those ids.
    async fn renew_job_leases(
        &self,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError>;

    /// Ends at once every job lease `owner` holds except those in `keep`, so that another
    /// replica takes them over at its next claim; returns how many.
    async fn release_job_leases(&self, owner: &str, keep: &[i64]) -> Result<u64, StoreError>;

    /// Writes every changing field of a job (as [`Store::update_job`]) only while `owner`
    /// holds its lease for at least `valid_for` more; `false` (nothing written) otherwise.
    async fn update_leased_job(
        &self,
        job: &JobRecord,
        owner: &str,
        valid_for: Duration,
    ) -> Result<bool, StoreError>;

    /// Takes or renews the named lease for `lease`: granted when nobody holds it, when
    /// `owner` does, or when it expired (with [`Claim::AtStart`] on a single-process
    /// backend, always). Returns its fencing number, which grows by one each time the lease
    /// changes hands (or is taken again after it expired); `None` while another holds it.
    async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        lease: Duration,
        claim: Claim,
    ) -> Result<Option<i64>, StoreError>;

    /// Whether `owner` still holds the named lease with this fencing number, for at least
    /// `valid_for` more.
    async fn lease_held(
        &self,
        name: &str,
        owner: &str,
        fence: i64,
        valid_for: Duration,
    ) -> Result<bool, StoreError>;

    /// Ends the named lease at once if `owner` holds it.
    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError>;

    /// The newest jobs, newest first.
    async fn recent_jobs(&self, limit: u32) -> Result<Vec<JobRecord>, StoreError>;

    /// Adds or replaces a channel's subscription to a connector (or `*`).
    async fn subscribe(&self, s: &Subscription) -> Result<(), StoreError>;

    /// Ends a subscription; `false` when there was none.
    async fn unsubscribe(
        &self,
        platform: Platform,
        channel_id: &str,
        instance: &str,
        connector: &str,
    ) -> Result<bool, StoreError>;

    /// Every subscription, oldest first.
    async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError>;

    /// Adds `new` as the connector's next revision, unless its settings equal those of the
    /// newest revision: then `None`. The revision gets `seq` = newest + 1 (1 for the
    /// first), `fields` = the dotted fields changed since the newest, and is stored as
    /// announced when it is the first (a baseline, never announced). Race-safe: the row is
    /// inserted with that `seq` and UNIQUE(instance, connector_id, seq) refuses a
    /// concurrent writer's copy, after which the newest is read again.
    async fn add_revision(&self, new: &NewRevision) -> Result<Option<Revision>, StoreError>;

    /// A connector's newest `limit` revisions, newest first, and how many there are.
    async fn revisions(
        &self,
        instance: &str,
        connector_id: &str,
        limit: u32,
    ) -> Result<RevisionPage, StoreError>;

    /// One revision of a connector, by its `seq`.
    async fn revision(
        &self,
        instance: &str,
        connector_id: &str,
        seq: u64,
    ) -> Result<Option<Revision>, StoreError>;

    /// The revisions of an instance's connectors not announced yet, oldest first.
    async fn unannounced_revisions(&self, instance: &str) -> Result<Vec<Revision>, StoreError>;

    /// Marks a revision (by id) as announced.
    async fn mark_revision_announced(&self, id: i64) -> Result<(), StoreError>;

    /// The newest sync of a connector the watcher has dealt with.
    async fn handled_sync(
        &self,
        instance: &str,
        connector_id: &str,
    ) -> Result<Option<u64>, StoreError>;

    async fn set_handled_sync(
        &self,
        instance: &str,
        connector_id: &str,
        id: u64,
    ) -> Result<(), StoreError>;

    /// The last sync announced to a channel for a connector.
    async fn announced(
        &self,
        platform: Platform,
        channel_id: &str,
        instance: &str,
        connector_id: &str,
    ) -> Result<Option<u64>, StoreError>;

    async fn set_announced(
        &self,
        platform: Platform,
        channel_id: &str,
        instance: &str,
        connector_id: &str,
        sync_id: u64,
    ) -> Result<(), StoreError>;

    /// Since when an instance is known to be down, if it is.
    async fn outage(&self, instance: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Records an instance as down since `since` (`None`: it is back).
    async fn set_outage(
        &self,
        instance: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Takes a lock on its target (instance and connector): written when there is none,
    /// when the one there has expired by `lock.created_at`, when it is the same owner's,
    /// or when `take_over`. `false`: someone else's lock is in force, and stays.
    async fn take_lock(&self, lock: &LockRecord, take_over: bool) -> Result<bool, StoreError>;

    /// The locks in force at `now`, oldest first.
    async fn locks(&self, now: DateTime<Utc>) -> Result<Vec<LockRecord>, StoreError>;

    /// Removes the lock on a target, in force or not; `false` when there was none.
    async fn remove_lock(&self, instance: &str, connector_id: &str) -> Result<bool, StoreError>;

    /// Records that a channel is being told about protected accounts hit by a sync; `false`
    /// when it was before (by a job or by the watcher).
    async fn claim_protected_alert(
        &self,
        channel: &crate::domain::Principal,
        instance: &str,
        sync_id: u64,
    ) -> Result<bool, StoreError>;

    /// Forgets a claim whose post failed, so that a later look may try again.
    async fn release_protected_alert(
        &self,
        channel: &crate::domain::Principal,
        instance: &str,
        sync_id: u64,
    ) -> Result<(), StoreError>;

    /// The bot's key called `name`: the one stored, or `fresh` stored now when there is
    /// none (whichever replica comes first wins; all read the same key).
    async fn bot_key(&self, name: &str, fresh: &str) -> Result<String, StoreError>;

    /// Stores a new pending operation.
    async fn insert_pending(&self, p: &PendingRecord) -> Result<(), StoreError>;

    /// A pending operation by id, whatever its state.
    async fn pending(&self, id: &str) -> Result<Option<PendingRecord>, StoreError>;

    /// Settles a pending operation, once: `true` only for the one call that found it
    /// still pending.
    /// `by`: the person; `replica`: the replica that settled it (the one that goes on to
    /// make a confirmed change).
    async fn settle_pending(
        &self,
        id: &str,
        state: PendingState,
        by: &str,
        replica: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Records that a confirmed change was made (the product took it); `false` when it was
    /// not confirmed.
    async fn pending_made(&self, id: &str) -> Result<bool, StoreError>;

    /// Records one admin's approval of a pending operation (again: no change); returns
    /// every approver so far, oldest first.
    async fn approve(
        &self,
        pending_id: &str,
        approver: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError>;

    /// The approvers of a pending operation so far, oldest first.
    async fn approvals(&self, pending_id: &str) -> Result<Vec<String>, StoreError>;

    /// Records that the bot deleted a connector's directory.
    async fn record_deleted_directory(
        &self,
        instance: &str,
        connector_id: &str,
        directory_id: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records a finished sync the bot saw: its user total and deletions.
    async fn record_sync_seen(
        &self,
        instance: &str,
        connector_id: &str,
        sync_id: u64,
        total: Option<u64>,
        deleted: Option<u64>,
    ) -> Result<(), StoreError>;

    /// The user total of the newest sync seen before `before`, if known.
    async fn previous_total(
        &self,
        instance: &str,
        connector_id: &str,
        before: u64,
    ) -> Result<Option<u64>, StoreError>;

    /// Raises an alert; `false` when it was raised before (for that sync).
    async fn raise_deletion_alert(&self, alert: &DeletionAlert) -> Result<bool, StoreError>;

    /// The newest alert of a connector not acknowledged yet.
    async fn open_deletion_alert(
        &self,
        instance: &str,
        connector_id: &str,
    ) -> Result<Option<DeletionAlert>, StoreError>;

    /// Acknowledges every open alert of a connector; how many there were.
    async fn acknowledge_deletion_alerts(
        &self,
        instance: &str,
        connector_id: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Whether the bot deleted this directory of this connector.
    async fn directory_deleted(
        &self,
        instance: &str,
        connector_id: &str,
        directory_id: &str,
    ) -> Result<bool, StoreError>;
}

/// The backends a storage URL can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a URL's scheme names, if any.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// Opens (and migrates) the store a URL names.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    match Backend::of_url(url) {
        Some(Backend::Sqlite) => Ok(Arc::new(SqliteStore::open(url).await?)),
        Some(Backend::Postgres) => Ok(Arc::new(PostgresStore::open(url).await?)),
        None => Err(StoreError::UnsupportedUrl(redact_url(url))),
    }
}

/// Whether the store a URL names can be used, without changing it (for `check-config`):
/// the database can be reached and its schema is not newer than this binary. A SQLite file
/// that does not exist yet is fine (it is created on start).
pub async fn check(url: &str) -> Result<(), StoreError> {
    let applied = match Backend::of_url(url) {
        Some(Backend::Sqlite) => sqlite::applied_migrations(url).await?,
        Some(Backend::Postgres) => postgres::applied_migrations(url).await?,
        None => return Err(StoreError::UnsupportedUrl(redact_url(url))),
    };
    let known = match Backend::of_url(url) {
        Some(Backend::Sqlite) => sqlite::MIGRATOR.iter(),
        _ => postgres::MIGRATOR.iter(),
    }
    .map(|m| m.version)
    .collect::<Vec<_>>();
    match applied.into_iter().find(|v| !known.contains(v)) {
        Some(unknown) => Err(StoreError::SchemaNewer(unknown)),
        None => Ok(()),
    }
}

/// The migrations applied to a database (each backend runs it on its own connection).
const APPLIED_VERSIONS: &str = "SELECT version FROM _sqlx_migrations ORDER BY version";

/// The versions [`APPLIED_VERSIONS`] read; none when the table is not there yet.
fn applied_versions(read: Result<Vec<i64>, sqlx::Error>) -> Result<Vec<i64>, StoreError> {
    match read {
        Ok(versions) => Ok(versions),
        // No table: nothing was ever migrated here.
        Err(sqlx::Error::Database(e)) if e.message().contains("_sqlx_migrations") => Ok(vec![]),
        Err(e) => Err(e.into()),
    }
}

/// A storage URL fit for messages and logs: no password, no parameters (which may carry
/// one, e.g. `?password=`), no fragment.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://…"),
            None => "(not a URL)".into(),
        },
    }
}

/// A driver's message with the URL's password taken out, should the driver ever echo it.
fn scrub(message: &str, url: &str) -> String {
    let mut out = message.to_string();
    if let Ok(u) = url::Url::parse(url) {
        let mut secrets: Vec<String> = u.password().map(str::to_string).into_iter().collect();
        secrets.extend(
            u.query_pairs()
                .filter(|(k, _)| k == "password")
                .map(|(_, v)| v.into_owned()),
        );
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            out = out.replace(secret.as_str(), "***");
            let decoded = percent_encoding::percent_decode_str(secret).decode_utf8_lossy();
            if !decoded.is_empty() {
                out = out.replace(decoded.as_ref(), "***");
            }
        }
    }
    out
}

/// A migration's result, with "applied but unknown here" said as what it means.
fn migrated(result: Result<(), sqlx::migrate::MigrateError>) -> Result<(), StoreError> {
    match result {
        Err(sqlx::migrate::MigrateError::VersionMissing(version)) => {
            Err(StoreError::SchemaNewer(version))
        }
        other => Ok(other?),
    }
}

fn platform_from(s: &str) -> Platform {
    match s {
        "mattermost" => Platform::Mattermost,
        _ => Platform::Slack,
    }
}

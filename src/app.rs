//! The running bot's shared state: configuration, product clients, store, audit writer,
//! re-delivery memory and counters. Built once at start-up and passed to every handler.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::chat::mattermost::api::MattermostApi;
use crate::chat::outbox::Outbox;
use crate::chat::slack::api::SlackApi;
use crate::chat::Refusal;
use crate::config::Config;
use crate::domain::Platform;
use crate::jobs::Jobs;
use crate::notify::Watcher;
use crate::store::{AuditEntry, Store, StoreError};
use crate::usersync::{UserSyncClient, UserSyncError};

/// How long a delivery is remembered in memory: past Slack's five-minute signature
/// window a replay is refused anyway.
const DELIVERY_MEMORY: Duration = Duration::from_secs(600);
/// Deliveries remembered before old ones are pruned.
const DELIVERY_MEMORY_SIZE: usize = 10_000;
/// Audit rows written in one transaction at most.
const AUDIT_BATCH: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] UserSyncError),
    #[error("cannot set up the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// The bot's state, shared by every request.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    /// One client per configured instance, in configuration order.
    pub instances: Vec<UserSyncClient>,
    pub store: Arc<dyn Store>,
    pub audit: AuditLog,
    pub metrics: Metrics,
    pub deliveries: Deliveries,
    pub outbox: Outbox,
    pub jobs: Arc<Jobs>,
    pub watcher: Arc<Watcher>,
}

impl App {
    /// Opens the store and builds the clients; returns the app and the audit writer task,
    /// which ends once the app is dropped and every row is written.
    pub async fn start(config: Config) -> Result<(Arc<App>, JoinHandle<()>), StartError> {
        let store = crate::store::open(&config.storage_url).await?;
        let instances = config
            .instances
            .iter()
            .cloned()
            .map(UserSyncClient::new)
            .collect::<Result<Vec<_>, _>>()?;
        let outbox = Outbox {
            slack: match &config.slack {
                Some(slack) => Some(SlackApi::new(
                    slack.response_url_hosts.clone(),
                    slack.api_base_url.clone(),
                    slack.bot_token.clone(),
                )?),
                None => None,
            },
            mattermost: match &config.mattermost {
                Some(mm) => Some(MattermostApi::new(mm.url.clone(), mm.bot_token.clone())?),
                None => None,
            },
        };
        let (audit, writer) = AuditLog::spawn(store.clone());
        let jobs = Jobs::new(
            store.clone(),
            instances.clone(),
            outbox.clone(),
            config.jobs,
        );
        jobs.resume().await?;
        let watcher = Watcher::new(
            store.clone(),
            outbox.clone(),
            config.routes.clone(),
            config.watch.interval,
            jobs.pollers().clone(),
        );
        watcher.start(&instances);
        tokio::spawn(forget_old_deliveries(store.clone()));
        let app = App {
            config,
            instances,
            store,
            audit,
            metrics: Metrics::default(),
            deliveries: Deliveries::default(),
            outbox,
            jobs,
            watcher,
        };
        Ok((Arc::new(app), writer))
    }

    /// The instance a command names, or the default one.
    pub fn instance(&self, name: Option<&str>) -> Result<&UserSyncClient, String> {
        match name {
            Some(n) => self
                .instances
                .iter()
                .find(|c| c.instance().eq_ignore_ascii_case(n))
                .ok_or_else(|| {
                    format!(
                        "There is no instance {n:?}. Instances: {}.",
                        self.instance_names().join(", ")
                    )
                }),
            None => self
                .config
                .default_instance
                .and_then(|i| self.instances.get(i))
                .ok_or_else(|| {
                    format!(
                        "Several instances are configured and none is the default: add --instance NAME ({}).",
                        self.instance_names().join(", ")
                    )
                }),
        }
    }

    pub fn instance_names(&self) -> Vec<&str> {
        self.instances.iter().map(|c| c.instance()).collect()
    }
}

/// How long a delivery is remembered in the store, and how often old ones are dropped.
const DELIVERY_RETENTION: chrono::Duration = chrono::Duration::days(1);
const DELIVERY_CLEANUP_EVERY: Duration = Duration::from_secs(3600);

/// Drops stored deliveries older than a day, hourly: re-deliveries come within minutes.
async fn forget_old_deliveries(store: Arc<dyn Store>) {
    loop {
        match store
            .forget_deliveries_before(chrono::Utc::now() - DELIVERY_RETENTION)
            .await
        {
            Ok(n) if n > 0 => tracing::debug!(forgotten = n, "old deliveries dropped"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot drop old deliveries"),
        }
        tokio::time::sleep(DELIVERY_CLEANUP_EVERY).await;
    }
}

/// Writes audit rows in the background, in batches, so that answering a command never
/// waits on the disk.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::UnboundedSender<AuditEntry>,
}

impl AuditLog {
    pub fn spawn(store: Arc<dyn Store>) -> (AuditLog, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<AuditEntry>();
        let writer = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < AUDIT_BATCH {
                    match rx.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(_) => break,
                    }
                }
                if let Err(e) = store.record_audits(&batch).await {
                    // One retry after a pause: a locked database usually frees up.
                    tracing::warn!(error = %e, rows = batch.len(), "audit write failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if let Err(e) = store.record_audits(&batch).await {
                        tracing::error!(error = %e, rows = batch.len(), "audit rows could not be written");
                    }
                }
            }
        });
        (AuditLog { tx }, writer)
    }

    pub fn record(&self, entry: AuditEntry) {
        if self.tx.send(entry).is_err() {
            tracing::error!("audit writer has stopped; an audit row was not written");
        }
    }
}

/// What the in-memory delivery memory knows of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sighting {
    /// Never seen: go ahead.
    First,
    /// Seen before; the reply given then, if it was answered inline.
    Repeat(Option<Bytes>),
}

/// Deliveries seen recently, with the reply each got, so that a re-delivered request
/// gets the same answer without running again.
#[derive(Debug, Default)]
pub struct Deliveries {
    seen: Mutex<HashMap<DeliveryKey, (Instant, Option<Bytes>)>>,
}

type DeliveryKey = (Platform, String);

impl Deliveries {
    pub fn sight(&self, platform: Platform, trigger_id: &str) -> Sighting {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, reply)) = seen.get(&(platform, trigger_id.to_string())) {
            return Sighting::Repeat(reply.clone());
        }
        if seen.len() >= DELIVERY_MEMORY_SIZE {
            let now = Instant::now();
            seen.retain(|_, (at, _)| now.duration_since(*at) < DELIVERY_MEMORY);
            if seen.len() >= DELIVERY_MEMORY_SIZE {
                // Still full of fresh entries: drop the oldest half.
                let mut ages: Vec<Instant> = seen.values().map(|(at, _)| *at).collect();
                ages.sort();
                let cutoff = ages[ages.len() / 2];
                seen.retain(|_, (at, _)| *at > cutoff);
            }
        }
        seen.insert((platform, trigger_id.to_string()), (Instant::now(), None));
        Sighting::First
    }

    pub fn remember_reply(&self, platform: Platform, trigger_id: &str, reply: Bytes) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = seen.get_mut(&(platform, trigger_id.to_string())) {
            entry.1 = Some(reply);
        }
    }
}

/// Counters, exposed at `/metrics` in the Prometheus text format.
#[derive(Debug, Default)]
pub struct Metrics {
    refusals: [[AtomicU64; 9]; 2],
    pub ssl_checks: AtomicU64,
    pub commands: AtomicU64,
    pub denied: AtomicU64,
    pub invalid: AtomicU64,
    pub duplicates: AtomicU64,
    pub deferred: AtomicU64,
    pub followups_sent: AtomicU64,
    pub followups_failed: AtomicU64,
    refusal_log: RefusalLog,
}

/// Refusals logged line by line in one second before the rest are only counted.
const REFUSAL_LOG_BURST: u64 = 20;

/// Logs refusals so that a flood of forged requests cannot flood the log: the first few
/// each second get a line each, the rest a summary line with their number. Every one is
/// counted in the metrics either way.
#[derive(Debug, Default)]
struct RefusalLog {
    second: AtomicU64,
    in_second: AtomicU64,
    suppressed: AtomicU64,
}

impl RefusalLog {
    fn log(&self, platform: Platform, refusal: Refusal) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.second.swap(now, Ordering::Relaxed) != now {
            self.in_second.store(0, Ordering::Relaxed);
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            if suppressed > 0 {
                tracing::warn!(
                    suppressed,
                    "more requests were refused than are logged one by one; all are counted in /metrics"
                );
            }
        }
        if self.in_second.fetch_add(1, Ordering::Relaxed) < REFUSAL_LOG_BURST {
            tracing::warn!(
                platform = platform.as_str(),
                reason = refusal.reason(),
                "refused a command request"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

const REFUSALS: [Refusal; 9] = Refusal::ALL;
const PLATFORMS: [Platform; 2] = [Platform::Slack, Platform::Mattermost];

fn platform_index(p: Platform) -> usize {
    match p {
        Platform::Slack => 0,
        Platform::Mattermost => 1,
    }
}

impl Metrics {
    /// Counts and logs a refusal (never with the secret or the body).
    pub fn refused(&self, platform: Platform, refusal: Refusal) {
        let i = REFUSALS.iter().position(|r| *r == refusal).unwrap_or(0);
        self.refusals[platform_index(platform)][i].fetch_add(1, Ordering::Relaxed);
        self.refusal_log.log(platform, refusal);
    }

    pub fn refusals(&self, platform: Platform, refusal: Refusal) -> u64 {
        let i = REFUSALS.iter().position(|r| *r == refusal).unwrap_or(0);
        self.refusals[platform_index(platform)][i].load(Ordering::Relaxed)
    }

    pub fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP usersync_bot_refused_total Requests refused before any work, by reason.\n\
             # TYPE usersync_bot_refused_total counter\n",
        );
        for p in PLATFORMS {
            for (i, r) in REFUSALS.iter().enumerate() {
                out.push_str(&format!(
                    "usersync_bot_refused_total{{platform=\"{}\",reason=\"{}\"}} {}\n",
                    p.as_str(),
                    r.metric(),
                    self.refusals[platform_index(p)][i].load(Ordering::Relaxed)
                ));
            }
        }
        for (name, help, counter) in [
            (
                "ssl_checks_total",
                "Slack certificate checks answered.",
                &self.ssl_checks,
            ),
            (
                "commands_total",
                "Verified commands received.",
                &self.commands,
            ),
            (
                "denied_total",
                "Commands denied by role or channel.",
                &self.denied,
            ),
            (
                "invalid_total",
                "Commands that did not parse.",
                &self.invalid,
            ),
            (
                "duplicates_total",
                "Re-delivered requests answered without running again.",
                &self.duplicates,
            ),
            (
                "deferred_total",
                "Replies sent later through response_url.",
                &self.deferred,
            ),
            (
                "followups_sent_total",
                "Follow-up messages delivered.",
                &self.followups_sent,
            ),
            (
                "followups_failed_total",
                "Follow-up messages that could not be delivered.",
                &self.followups_failed,
            ),
        ] {
            out.push_str(&format!(
                "# HELP usersync_bot_{name} {help}\n# TYPE usersync_bot_{name} counter\nusersync_bot_{name} {}\n",
                counter.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_first_once_then_a_repeat_with_its_reply() {
        let d = Deliveries::default();
        assert_eq!(d.sight(Platform::Slack, "t1"), Sighting::First);
        assert_eq!(d.sight(Platform::Slack, "t1"), Sighting::Repeat(None));
        d.remember_reply(Platform::Slack, "t1", Bytes::from_static(b"{}"));
        assert_eq!(
            d.sight(Platform::Slack, "t1"),
            Sighting::Repeat(Some(Bytes::from_static(b"{}")))
        );
        assert_eq!(d.sight(Platform::Mattermost, "t1"), Sighting::First);
    }

    #[test]
    fn the_memory_stays_bounded() {
        let d = Deliveries::default();
        for i in 0..(DELIVERY_MEMORY_SIZE * 2) {
            d.sight(Platform::Slack, &i.to_string());
        }
        assert!(d.seen.lock().unwrap().len() <= DELIVERY_MEMORY_SIZE);
    }
}

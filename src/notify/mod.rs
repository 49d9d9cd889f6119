//! Completion notifications: the watcher looks at every connector's last sync at
//! `[watch] interval`, notices each sync that finishes — scheduled, started from the admin
//! pages or from chat — and announces it, exactly once, in the channels that asked for it
//! (`[[notify]]` routes and `watch` subscriptions).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::chat::outbox::Outbox;
use crate::config::{NotifyOn, NotifyRoute};
use crate::domain::Principal;
use crate::handlers::present;
use crate::jobs::poller::Pollers;
use crate::message::{Message, Text, Tone};
use crate::store::{Delivery, JobKind, JobState, Store, StoreError, Subscription};
use crate::usersync::{Connector, SyncStatus, UserSyncClient, UserSyncError};

/// Failed looks in a row before an instance is reported as unreachable.
const OUTAGE_AFTER: u32 = 2;
/// Cycles between two refreshes of an instance's connector list.
const LIST_EVERY: u32 = 10;
/// Syncs fetched by id at most when a connector's last id jumps (after a long outage
/// the oldest beyond this are skipped, with a warning).
const MAX_GAP_FETCH: u64 = 1000;
/// Cycles a failing post is retried before it is recorded as undeliverable.
const MAX_POST_ATTEMPTS: u32 = 3;

/// Why a channel hears about a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reason {
    Success,
    Failure,
    Threshold(String),
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct NotifyMetrics {
    pub posted: AtomicU64,
    pub failed: AtomicU64,
}

/// The watcher of every configured instance.
#[derive(Debug)]
pub struct Watcher {
    store: Arc<dyn Store>,
    outbox: Outbox,
    routes: Vec<NotifyRoute>,
    interval: Duration,
    pollers: Arc<Pollers>,
    started_at: DateTime<Utc>,
    pub metrics: NotifyMetrics,
    /// Failed post attempts per (channel, instance, sync id).
    attempts: Mutex<HashMap<(Principal, String, u64), u32>>,
    shutdown_tx: watch::Sender<bool>,
}

fn matches_connector(list: &[String], c: &Connector) -> bool {
    list.iter().any(|w| {
        w == "*"
            || w == &c.unique_id
            || c.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(w))
    })
}

impl Watcher {
    pub fn new(
        store: Arc<dyn Store>,
        outbox: Outbox,
        routes: Vec<NotifyRoute>,
        interval: Duration,
        pollers: Arc<Pollers>,
    ) -> Arc<Watcher> {
        let (shutdown_tx, _) = watch::channel(false);
        Arc::new(Watcher {
            store,
            outbox,
            routes,
            interval,
            pollers,
            started_at: Utc::now(),
            metrics: NotifyMetrics::default(),
            attempts: Mutex::new(HashMap::new()),
            shutdown_tx,
        })
    }

    /// Starts watching every instance.
    pub fn start(self: &Arc<Self>, clients: &[UserSyncClient]) {
        for client in clients {
            tokio::spawn(self.clone().watch_instance(client.clone()));
        }
    }

    pub fn stop(&self) {
        let _ = self.shutdown_tx.send(true);
    }

    async fn watch_instance(self: Arc<Self>, client: UserSyncClient) {
        let mut shutdown = self.shutdown_tx.subscribe();
        let mut connectors: Vec<Connector> = Vec::new();
        let mut cycle: u32 = 0;
        let mut failures: u32 = 0;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let ok = self.look(&client, &mut connectors, cycle).await;
            failures = if ok { 0 } else { failures + 1 };
            self.outage_check(&client, failures, ok).await;
            cycle = cycle.wrapping_add(1);
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One look at an instance: every watched connector's last sync. `false` when the
    /// instance could not be reached at all.
    async fn look(
        &self,
        client: &UserSyncClient,
        connectors: &mut Vec<Connector>,
        cycle: u32,
    ) -> bool {
        let subscriptions = match self.store.subscriptions().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "watcher cannot read subscriptions");
                return true;
            }
        };
        // Nobody asked to hear anything about this instance: leave it alone.
        let wanted = self.routes.iter().any(|r| {
            r.instance
                .as_deref()
                .is_none_or(|i| i.eq_ignore_ascii_case(client.instance()))
        }) || subscriptions
            .iter()
            .any(|s| s.instance.is_empty() || s.instance == client.instance());
        if !wanted {
            connectors.clear();
            return true;
        }
        if connectors.is_empty() || cycle % LIST_EVERY == 0 {
            match client.list_connectors().await {
                Ok(list) => *connectors = list,
                Err(e) => {
                    tracing::warn!(instance = client.instance(), error = %e, "watcher cannot list connectors");
                    return false;
                }
            }
        }
        let mut reached = false;
        let mut any = false;
        let mut cache: BTreeMap<u64, SyncStatus> = BTreeMap::new();
        for c in connectors.iter() {
            if !self.is_watched(client.instance(), c, &subscriptions) {
                continue;
            }
            any = true;
            // A connector a job follows is already polled: use that observation.
            let status = match self.pollers.latest(client.instance(), &c.unique_id) {
                Some(obs) => obs.status,
                None => client.last_sync_status(&c.unique_id).await,
            };
            match status {
                Ok(s) => {
                    reached = true;
                    if let Err(e) = self.observe(client, c, s, &subscriptions, &mut cache).await {
                        tracing::error!(error = %e, "watcher cannot record its progress");
                    }
                }
                Err(UserSyncError::NotFound { .. }) => reached = true,
                Err(e) => {
                    tracing::warn!(instance = client.instance(), connector = %c.unique_id, error = %e, "watcher poll failed");
                }
            }
        }
        reached || !any
    }

    fn is_watched(&self, instance: &str, c: &Connector, subscriptions: &[Subscription]) -> bool {
        self.routes.iter().any(|r| {
            r.instance
                .as_deref()
                .is_none_or(|i| i.eq_ignore_ascii_case(instance))
                && matches_connector(&r.connectors, c)
        }) || subscriptions.iter().any(|s| {
            (s.instance.is_empty() || s.instance == instance)
                && (s.connector == "*" || s.connector == c.unique_id)
        })
    }

    /// Deals with a connector's last sync: every sync that finished since the last one
    /// dealt with is announced, in order — those in between fetched by id.
    async fn observe(
        &self,
        client: &UserSyncClient,
        c: &Connector,
        latest: SyncStatus,
        subscriptions: &[Subscription],
        cache: &mut BTreeMap<u64, SyncStatus>,
    ) -> Result<(), StoreError> {
        let instance = client.instance();
        let Some(handled) = self.store.handled_sync(instance, &c.unique_id).await? else {
            // First sight of this connector: what came before is history, not news.
            let baseline = if latest.status.is_terminal() {
                latest.id
            } else {
                latest.id.saturating_sub(1)
            };
            return self
                .store
                .set_handled_sync(instance, &c.unique_id, baseline)
                .await;
        };
        if latest.id <= handled {
            return Ok(());
        }
        let mut candidates = Vec::new();
        let from = (handled + 1).max(latest.id.saturating_sub(MAX_GAP_FETCH));
        if from > handled + 1 {
            tracing::warn!(
                instance,
                connector = %c.unique_id,
                skipped = from - handled - 1,
                "too many syncs since the last look; the oldest are not announced"
            );
        }
        for id in from..latest.id {
            let record = match cache.get(&id) {
                Some(r) => r.clone(),
                None => match client.sync_status(id).await {
                    Ok(r) => {
                        cache.insert(id, r.clone());
                        r
                    }
                    Err(UserSyncError::NotFound { .. }) => continue,
                    Err(e) => {
                        // Try again at the next looks; a sync that keeps failing is
                        // skipped rather than blocking every later announcement.
                        let key = (
                            Principal::new(crate::domain::Platform::Slack, "gap"),
                            instance.to_string(),
                            id,
                        );
                        let tries = {
                            let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
                            let n = map.entry(key.clone()).or_insert(0);
                            *n += 1;
                            *n
                        };
                        if tries < MAX_POST_ATTEMPTS {
                            tracing::warn!(error = %e, id, "watcher cannot read a sync in between; will try again");
                            return Ok(());
                        }
                        tracing::error!(error = %e, id, "watcher skips a sync it cannot read");
                        self.attempts
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&key);
                        continue;
                    }
                },
            };
            if record.connector_uid.as_deref() == Some(c.unique_id.as_str()) {
                candidates.push(record);
            }
        }
        candidates.push(latest);
        let mut advanced = handled;
        for s in candidates {
            if !s.status.is_terminal() {
                break;
            }
            if !self.announce(client, c, &s, subscriptions).await {
                break;
            }
            advanced = s.id;
        }
        // Ids of other connectors in between are not ours to announce.
        let last_terminal_gap = advanced;
        if last_terminal_gap > handled {
            self.store
                .set_handled_sync(instance, &c.unique_id, last_terminal_gap)
                .await?;
        }
        Ok(())
    }

    /// The channels that hear about a sync, and why.
    fn audience(
        &self,
        instance: &str,
        c: &Connector,
        s: &SyncStatus,
        subscriptions: &[Subscription],
    ) -> BTreeMap<Principal, Reason> {
        let failed = s.is_failure();
        let deleted = s.deleted_count.unwrap_or(0);
        let failed_users = s.failed_count.unwrap_or(0);
        let mut out: BTreeMap<Principal, Reason> = BTreeMap::new();
        let mut add = |channel: Principal, reason: Reason| {
            let better = matches!(
                (out.get(&channel), &reason),
                (None, _)
                    | (Some(Reason::Success), _)
                    | (Some(Reason::Failure), Reason::Threshold(_))
            );
            if better {
                out.insert(channel, reason);
            }
        };
        for r in &self.routes {
            if !(r
                .instance
                .as_deref()
                .is_none_or(|i| i.eq_ignore_ascii_case(instance))
                && matches_connector(&r.connectors, c))
            {
                continue;
            }
            let threshold = threshold_reason(
                deleted,
                r.max_deleted,
                failed_users,
                r.max_failed,
                "this route",
            );
            if r.on.contains(&NotifyOn::Threshold) {
                if let Some(t) = threshold {
                    add(r.channel.clone(), Reason::Threshold(t));
                    continue;
                }
            }
            if failed && r.on.contains(&NotifyOn::Failure) {
                add(r.channel.clone(), Reason::Failure);
            } else if !failed && r.on.contains(&NotifyOn::Success) {
                add(r.channel.clone(), Reason::Success);
            }
        }
        for sub in subscriptions {
            if !((sub.instance.is_empty() || sub.instance == instance)
                && (sub.connector == "*" || sub.connector == c.unique_id))
            {
                continue;
            }
            let channel = Principal::new(sub.platform, sub.channel_id.clone());
            if let Some(t) = threshold_reason(deleted, sub.max_deleted, 0, None, "this channel") {
                add(channel, Reason::Threshold(t));
            } else if failed {
                add(channel, Reason::Failure);
            } else if !sub.failures_only {
                add(channel, Reason::Success);
            }
        }
        out
    }

    /// Announces one finished sync to everyone who asked; `false` when a post failed and
    /// should be tried again at the next look.
    async fn announce(
        &self,
        client: &UserSyncClient,
        c: &Connector,
        s: &SyncStatus,
        subscriptions: &[Subscription],
    ) -> bool {
        let instance = client.instance();
        let audience = self.audience(instance, c, s, subscriptions);
        let mut all_done = true;
        for (channel, reason) in audience {
            match self.announce_to(client, c, s, &channel, &reason).await {
                Ok(()) => {}
                Err(retry) => all_done &= !retry,
            }
        }
        all_done
    }

    /// Announces a sync in one channel, once. `Err(true)` asks for another try later.
    async fn announce_to(
        &self,
        client: &UserSyncClient,
        c: &Connector,
        s: &SyncStatus,
        channel: &Principal,
        reason: &Reason,
    ) -> Result<(), bool> {
        let instance = client.instance();
        let done = self
            .store
            .announced(channel.platform, &channel.id, instance, &c.unique_id)
            .await
            .map_err(|_| true)?;
        if done.is_some_and(|d| d >= s.id) {
            return Ok(());
        }
        if self.job_posted(instance, c, s, channel).await {
            tracing::debug!(sync = s.id, channel = %channel, "outcome already posted by the job");
        } else {
            let message = self.message(client, c, s, reason);
            if let Err(e) = self
                .outbox
                .post(channel.platform, &channel.id, &message)
                .await
            {
                self.metrics.failed.fetch_add(1, Ordering::Relaxed);
                let key = (channel.clone(), instance.to_string(), s.id);
                let attempts = {
                    let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
                    let n = map.entry(key.clone()).or_insert(0);
                    *n += 1;
                    *n
                };
                if attempts < MAX_POST_ATTEMPTS {
                    tracing::warn!(error = %e, channel = %channel, sync = s.id, attempts, "notification not posted; will try again");
                    return Err(true);
                }
                tracing::error!(error = %e, channel = %channel, sync = s.id, "notification could not be posted; giving up");
                self.attempts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&key);
            } else {
                self.metrics.posted.fetch_add(1, Ordering::Relaxed);
                self.attempts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&(channel.clone(), instance.to_string(), s.id));
            }
        }
        self.store
            .set_announced(channel.platform, &channel.id, instance, &c.unique_id, s.id)
            .await
            .map_err(|_| true)
    }

    /// Whether a job started from chat already posted (or will post) this sync's outcome
    /// to this channel.
    async fn job_posted(
        &self,
        instance: &str,
        c: &Connector,
        s: &SyncStatus,
        channel: &Principal,
    ) -> bool {
        self.store.recent_jobs(200).await.is_ok_and(|jobs| {
            jobs.iter().any(|j| {
                let same_place = j.kind == JobKind::Sync
                    && j.instance == instance
                    && j.connector_id == c.unique_id
                    && j.platform == channel.platform
                    && j.channel_id == channel.id;
                // A job that has not yet seen its sync may be following this one.
                let this_sync = j.sync_id == Some(s.id)
                    || (j.sync_id.is_none()
                        && j.state == JobState::Following
                        && j.baseline_sync_id.is_none_or(|b| b < s.id));
                same_place
                    && this_sync
                    && (j.state == JobState::Following || j.delivery != Delivery::Undeliverable)
            })
        })
    }

    fn message(
        &self,
        client: &UserSyncClient,
        c: &Connector,
        s: &SyncStatus,
        reason: &Reason,
    ) -> Message {
        let mut m =
            present::sync_message(client.instance(), Some(c.display_name()), s).in_channel();
        let verb = if s.is_failure() { "failed" } else { "finished" };
        m.title = format!(
            "🔔 Sync of {} {verb} — sync {}: {}",
            c.display_name(),
            s.id,
            present::state_text(s)
        );
        if let Reason::Threshold(why) = reason {
            m.tone = if s.is_failure() {
                Tone::Failure
            } else {
                Tone::Warning
            };
            m.title = format!("🔔 Threshold: {} — sync {} {why}", c.display_name(), s.id);
            m.blocks.insert(
                0,
                crate::message::Block::Text(
                    Text::new()
                        .strong("Why you see this: ")
                        .plain(format!("{why}.")),
                ),
            );
        }
        let finished = s
            .last_modified
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        if finished.is_some_and(|t| t < self.started_at) {
            m = m.text(Text::new().em(format!(
                "Late: this sync finished at {} while the bot was not running.",
                finished.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
            )));
        }
        m.context(
            Text::new()
                .plain("Notification: a sync finished. Change what this channel hears with ")
                .code("/usersync watches"),
        )
    }

    /// Reports an instance that cannot be reached once, and once more when it is back.
    async fn outage_check(&self, client: &UserSyncClient, failures: u32, ok: bool) {
        let instance = client.instance();
        let known = match self.store.outage(instance).await {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(error = %e, "watcher cannot read outages");
                return;
            }
        };
        let message = match (known, ok, failures >= OUTAGE_AFTER) {
            (None, false, true) => {
                let since = Utc::now()
                    - chrono::Duration::from_std(self.interval * failures).unwrap_or_default();
                if self.store.set_outage(instance, Some(since)).await.is_err() {
                    return;
                }
                Message::new(Tone::Failure, format!("Cannot reach {instance} since {}", since.format("%H:%M UTC")))
                    .in_channel()
                    .text(Text::new().plain(format!(
                        "The bot cannot read the sync status of {instance} ({}): syncs finishing there are not announced until it is back.",
                        client.base_url().origin().ascii_serialization()
                    )))
            }
            (Some(since), true, _) => {
                if self.store.set_outage(instance, None).await.is_err() {
                    return;
                }
                Message::new(Tone::Success, format!("{instance} is reachable again"))
                    .in_channel()
                    .text(format!(
                        "It could not be reached since {}.",
                        since.format("%Y-%m-%d %H:%M UTC")
                    ))
            }
            _ => return,
        };
        for channel in self.failure_channels(instance).await {
            match self
                .outbox
                .post(channel.platform, &channel.id, &message)
                .await
            {
                Ok(_) => {
                    self.metrics.posted.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    self.metrics.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, channel = %channel, "outage report could not be posted");
                }
            }
        }
    }

    /// Channels that want to hear about failures on an instance.
    async fn failure_channels(&self, instance: &str) -> Vec<Principal> {
        let mut channels: Vec<Principal> = self
            .routes
            .iter()
            .filter(|r| {
                r.on.contains(&NotifyOn::Failure)
                    && r.instance
                        .as_deref()
                        .is_none_or(|i| i.eq_ignore_ascii_case(instance))
            })
            .map(|r| r.channel.clone())
            .collect();
        if let Ok(subs) = self.store.subscriptions().await {
            channels.extend(
                subs.into_iter()
                    .filter(|s| s.instance.is_empty() || s.instance == instance)
                    .map(|s| Principal::new(s.platform, s.channel_id)),
            );
        }
        channels.sort();
        channels.dedup();
        channels
    }
}

fn threshold_reason(
    deleted: u64,
    max_deleted: Option<u64>,
    failed: u64,
    max_failed: Option<u64>,
    whose: &str,
) -> Option<String> {
    if let Some(max) = max_deleted.filter(|m| deleted > *m) {
        return Some(format!(
            "deleted {deleted} users — more than the {max} set for {whose}"
        ));
    }
    if let Some(max) = max_failed.filter(|m| failed > *m) {
        return Some(format!(
            "failed {failed} users — more than the {max} set for {whose}"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_say_why_they_fired() {
        assert_eq!(
            threshold_reason(240, Some(50), 0, None, "this channel").as_deref(),
            Some("deleted 240 users — more than the 50 set for this channel")
        );
        assert_eq!(threshold_reason(50, Some(50), 0, None, "x"), None);
        assert_eq!(
            threshold_reason(0, Some(50), 3, Some(0), "this route").as_deref(),
            Some("failed 3 users — more than the 0 set for this route")
        );
    }
}

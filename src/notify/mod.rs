//! Completion notifications: the watcher looks at every watched connector's last sync at
//! `[watch] interval`, notices each sync that finishes — scheduled, started from the admin
//! pages or from chat — and announces it, exactly once, in the channels that asked for it
//! (`[[notify]]` routes and `watch` subscriptions). At each look it also records every
//! watched connector's settings (a revision when they changed) and announces each change
//! once to the routes with `on = ["change"]`.
//!
//! `mod.rs` owns the watch loop; `look` one look at an instance (with its pure plan);
//! `audience` who hears what; `announce` posting exactly once; `changes` settings
//! recorded and changes announced; `outage` unreachable instances.

mod announce;
pub use announce::announcement_tag;
mod audience;
mod changes;
mod leader;
mod look;
mod outage;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::watch;

use crate::chat::outbox::{DeliveryError, Outbox};
use crate::config::{Config, NotifyRoute};
use crate::domain::Principal;
use crate::jobs::poller::Pollers;
use crate::jobs::protect::Protected;
use crate::message::Message;
use crate::post_once::{Made, PostOnce};
use crate::signing::BotKey;
use crate::store::{Claim, PostIntent, Replica, Store};
use crate::usersync::{Connector, UserSyncClient};
use announce::Attempts;
use changes::ChangeAnnouncer;
use leader::WATCHER_LEASE;

/// Counters for `/metrics` (`notifications_posted_total`, `notifications_failed_total`),
/// registered by the app.
#[derive(Debug, Default)]
pub struct NotifyMetrics {
    pub posted: Counter,
    pub failed: Counter,
}

/// The watcher of every configured instance.
#[derive(Debug)]
pub struct Watcher {
    store: Arc<dyn Store>,
    outbox: Outbox,
    routes: Vec<NotifyRoute>,
    interval: Duration,
    pollers: Arc<Pollers>,
    /// The slash command as set up on the platforms, for the hint in announcements.
    slash_command: String,
    started_at: DateTime<Utc>,
    pub metrics: NotifyMetrics,
    attempts: Attempts,
    /// The bot's key: secrets of recorded settings are kept as its fingerprints.
    key: BotKey,
    changes: ChangeAnnouncer,
    shutdown_tx: watch::Sender<bool>,
    /// Protected accounts: every sync the watcher sees finish is checked for them.
    protect: Arc<Protected>,
    /// This replica, as it holds leases.
    replica: Replica,
    /// The watcher's lease, while this replica holds it.
    leader: std::sync::Mutex<Option<leader::Leadership>>,
    /// Bumped each time this replica takes the lease, so that the loops look at once.
    leading: watch::Sender<u64>,
    /// The watch loops and the lease's renewer.
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// What the watch loop keeps between two looks at one instance.
#[derive(Debug, Default)]
struct InstanceState {
    connectors: Vec<Connector>,
    cycle: u32,
    failures: u32,
}

impl Watcher {
    /// The watcher of the routes and at the interval `config` sets, as `replica`.
    pub fn new(
        store: Arc<dyn Store>,
        outbox: Outbox,
        pollers: Arc<Pollers>,
        key: BotKey,
        protect: Arc<Protected>,
        config: &Config,
        replica: Replica,
    ) -> Arc<Watcher> {
        let (shutdown_tx, _) = watch::channel(false);
        Arc::new(Watcher {
            replica,
            leader: std::sync::Mutex::new(None),
            leading: watch::channel(0).0,
            tasks: std::sync::Mutex::new(Vec::new()),
            store,
            outbox,
            routes: config.routes.clone(),
            interval: config.watch.interval,
            pollers,
            slash_command: config.slash_command.clone(),
            started_at: Utc::now(),
            metrics: NotifyMetrics::default(),
            attempts: Attempts::default(),
            key,
            changes: ChangeAnnouncer::default(),
            shutdown_tx,
            protect,
        })
    }

    /// Tries for the watcher's lease (at start: a single-process store's is this
    /// process's), then starts the loop of every instance — which looks only while this
    /// replica holds the lease — and the lease's renewer.
    pub async fn start(self: &Arc<Self>, clients: &[UserSyncClient]) {
        self.campaign(Claim::AtStart).await;
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        for client in clients {
            tasks.push(tokio::spawn(self.clone().watch_instance(client.clone())));
        }
        tasks.push(tokio::spawn(self.clone().lead()));
    }

    /// Stops watching: each loop ends after its look under way (within `within`), then
    /// the lease is released at once so that another replica takes the watcher over at
    /// its next try.
    pub async fn stop_and_release(&self, within: Duration) {
        let _ = self.shutdown_tx.send(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        let deadline = tokio::time::Instant::now() + within;
        for mut task in tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                // A look still under way: ended here; it could not post any more anyway
                // once the lease is released.
                task.abort();
            }
        }
        let was_leader = self
            .leader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .is_some();
        if was_leader {
            match self
                .store
                .release_lease(WATCHER_LEASE, &self.replica.owner)
                .await
            {
                Ok(()) => tracing::info!("released the watcher's lease"),
                Err(e) => tracing::warn!(error = %e, "cannot release the watcher's lease"),
            }
        }
    }

    /// Posts a message of the watcher's to a channel, counted in the metrics.
    async fn post_counted(
        &self,
        channel: &Principal,
        message: &Message,
    ) -> Result<(), DeliveryError> {
        let posted = self
            .outbox
            .post(channel.platform, &channel.id, message)
            .await;
        let counter = if posted.is_ok() {
            &self.metrics.posted
        } else {
            &self.metrics.failed
        };
        counter.inc();
        posted.map(|_| ())
    }

    /// Posts a message of the watcher's to a channel once, tagged `tag` (see
    /// `post_once`), counted in the metrics when it is posted now.
    async fn post_once_counted(
        &self,
        channel: &Principal,
        message: &Message,
        tag: &str,
    ) -> Result<(), DeliveryError> {
        let intent = PostIntent {
            id: tag,
            platform: channel.platform,
            channel_id: &channel.id,
            findable: self.outbox.finds_tagged(channel.platform, false),
        };
        let once = PostOnce {
            store: self.store.as_ref(),
            outbox: &self.outbox,
        };
        let made = once
            .post(&intent, || async {
                self.outbox
                    .post_tagged(channel.platform, &channel.id, message, tag)
                    .await
                    .map(Some)
            })
            .await;
        match &made {
            Ok(Made::Now(_)) => self.metrics.posted.inc(),
            Ok(Made::Before) => 0,
            Err(_) => self.metrics.failed.inc(),
        };
        made.map(drop)
    }

    /// One look at an instance and its outage bookkeeping: what the loop does each
    /// interval.
    async fn step(&self, client: &UserSyncClient, state: &mut InstanceState) {
        let ok = self.look(client, &mut state.connectors, state.cycle).await;
        state.failures = if ok { 0 } else { state.failures + 1 };
        self.outage_check(client, state.failures, ok).await;
        state.cycle = state.cycle.wrapping_add(1);
    }

    /// Looks at an instance every interval while this replica runs the watcher; idle
    /// (but ready to look at once on taking the lease) otherwise.
    async fn watch_instance(self: Arc<Self>, client: UserSyncClient) {
        let mut shutdown = self.shutdown_tx.subscribe();
        let mut leading = self.leading.subscribe();
        let mut state = InstanceState::default();
        loop {
            if *shutdown.borrow() {
                return;
            }
            if self.is_leader() {
                self.step(&client, &mut state).await;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = leading.changed() => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

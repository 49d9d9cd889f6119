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
mod audience;
mod changes;
mod look;
mod outage;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::chat::outbox::{DeliveryError, Outbox};
use crate::config::NotifyRoute;
use crate::domain::Principal;
use crate::jobs::poller::Pollers;
use crate::jobs::protect::Protected;
use crate::message::Message;
use crate::signing::BotKey;
use crate::store::Store;
use crate::usersync::{Connector, UserSyncClient};
use announce::Attempts;
use changes::ChangeAnnouncer;

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
}

/// What the watch loop keeps between two looks at one instance.
#[derive(Debug, Default)]
struct InstanceState {
    connectors: Vec<Connector>,
    cycle: u32,
    failures: u32,
}

impl Watcher {
    // Each argument is one piece of the start-up wiring (app::start); a struct of them
    // would only rename the list.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        outbox: Outbox,
        routes: Vec<NotifyRoute>,
        interval: Duration,
        pollers: Arc<Pollers>,
        slash_command: String,
        key: BotKey,
        protect: Arc<Protected>,
    ) -> Arc<Watcher> {
        let (shutdown_tx, _) = watch::channel(false);
        Arc::new(Watcher {
            store,
            outbox,
            routes,
            interval,
            pollers,
            slash_command,
            started_at: Utc::now(),
            metrics: NotifyMetrics::default(),
            attempts: Attempts::default(),
            key,
            changes: ChangeAnnouncer::default(),
            shutdown_tx,
            protect,
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
        counter.fetch_add(1, Ordering::Relaxed);
        posted.map(|_| ())
    }

    /// One look at an instance and its outage bookkeeping: what the loop does each
    /// interval.
    async fn step(&self, client: &UserSyncClient, state: &mut InstanceState) {
        let ok = self.look(client, &mut state.connectors, state.cycle).await;
        state.failures = if ok { 0 } else { state.failures + 1 };
        self.outage_check(client, state.failures, ok).await;
        state.cycle = state.cycle.wrapping_add(1);
    }

    async fn watch_instance(self: Arc<Self>, client: UserSyncClient) {
        let mut shutdown = self.shutdown_tx.subscribe();
        let mut state = InstanceState::default();
        loop {
            if *shutdown.borrow() {
                return;
            }
            self.step(&client, &mut state).await;
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

//! Start-up wiring: opens the store, builds the product clients and the chat APIs, starts
//! the audit writer, the job engine and the watcher, and hands back the shared [`App`].

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::audit::AuditLog;
use super::metrics::Metrics;
use super::redelivery::{forget_old_deliveries, Deliveries};
use super::App;
use crate::chat::mattermost::api::MattermostApi;
use crate::chat::outbox::{ChatApi, Outbox};
use crate::chat::slack::api::SlackApi;
use crate::config::Config;
use crate::jobs::protect::Protected;
use crate::jobs::Jobs;
use crate::notify::Watcher;
use crate::signing::BotKey;
use crate::store::{Replica, StoreError, TimedStore};
use crate::usersync::{UserSyncClient, UserSyncError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    StoreWaited(#[from] crate::store::transient::Waited),
    #[error(transparent)]
    Client(#[from] UserSyncError),
    #[error("cannot set up the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

fn outbox(config: &Config, metrics: &Metrics) -> Result<Outbox, reqwest::Error> {
    let mut apis: Vec<Arc<dyn ChatApi>> = Vec::new();
    let retries = &metrics.outbox_retries;
    if let Some(slack) = &config.slack {
        apis.push(Arc::new(
            SlackApi::new(
                slack.response_url_hosts.clone(),
                slack.api_base_url.clone(),
                slack.bot_token.clone(),
            )?
            .counting_retries(retries.clone()),
        ));
    }
    if let Some(mm) = &config.mattermost {
        apis.push(Arc::new(
            MattermostApi::new(mm.url.clone(), mm.bot_token.clone())?
                .counting_retries(retries.clone()),
        ));
    }
    Ok(Outbox::new(apis))
}

/// The bot's key, made and stored on first start; every replica reads the same one.
async fn bot_key(store: &dyn crate::store::Store) -> Result<BotKey, StoreError> {
    let stored = store.bot_key("main", &BotKey::generate().to_hex()).await?;
    BotKey::from_hex(&stored).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Protocol(
            "the stored bot key is not 32 bytes of hex".into(),
        ))
    })
}

impl App {
    /// Opens the store and builds the clients; returns the app and the audit writer task,
    /// which ends once the app is dropped and every row is written.
    pub async fn start(config: Config) -> Result<(Arc<App>, JoinHandle<()>), StartError> {
        let mut metrics = Metrics::new();
        let started_at = chrono::Utc::now();
        // Opened and written to (the key) until both work or `storage.start_wait` is spent:
        // a locked SQLite file opens and reads but cannot be written.
        let replica = Replica::this_process(config.cluster.lease);
        // Alive before it claims anything: see `App::may_still_run`.
        let (store, key) = crate::store::transient::within(config.storage_start_wait, || async {
            let store = crate::store::open(&config.storage_url).await?;
            let key = bot_key(store.as_ref()).await?;
            store.beat(&replica.owner, replica.ttl()).await?;
            Ok((store, key))
        })
        .await?;
        // Every store operation of the bot is timed: the one place the store is made.
        let store = TimedStore::wrap(store, metrics.store_durations.clone());
        let instances = config
            .instances
            .iter()
            .cloned()
            .map(|i| Ok(UserSyncClient::new(i)?.measured(metrics.upstream.clone())))
            .collect::<Result<Vec<_>, UserSyncError>>()?;
        let outbox = outbox(&config, &metrics)?;
        let (audit, writer) = AuditLog::spawn(store.clone());
        let protect = Protected::new(
            config.protect.clone(),
            config.routes.clone(),
            store.clone(),
            outbox.clone(),
        );
        tracing::info!(owner = %replica.owner, lease = ?replica.lease, "this replica's name in its leases");
        let jobs = Jobs::new(
            store.clone(),
            instances.clone(),
            outbox.clone(),
            config.jobs,
            config.slash_command.clone(),
            protect.clone(),
            replica.clone(),
        );
        jobs.guard_mass_deletion(crate::jobs::guard::DeletionGuard {
            max_deleted: config.guards.max_deleted,
            max_share: config.guards.max_deleted_share,
            routes: config.routes.clone(),
        });
        jobs.resume().await?;
        let watcher = Watcher::new(
            store.clone(),
            outbox.clone(),
            jobs.pollers().clone(),
            key.clone(),
            protect,
            &config,
            replica,
        );
        watcher.start(&instances).await;
        tokio::spawn(forget_old_deliveries(store.clone()));
        metrics.register_watcher(&watcher.metrics);
        metrics.register_audit(&audit.stats);
        let app = App {
            config,
            instances,
            store,
            audit,
            metrics,
            deliveries: Deliveries::default(),
            shared: super::SharedReplies::default(),
            outbox,
            jobs,
            watcher,
            shutting_down: Default::default(),
            socket: super::SocketStatus::default(),
            key,
            started_at,
        };
        Ok((Arc::new(app), writer))
    }
}

//! The running bot's shared state: configuration, product clients, store, audit writer,
//! re-delivery memory and metrics. Built once at start-up (`start`) and passed to every
//! handler.

mod audit;
mod metrics;
mod redelivery;
mod shared_replies;
mod start;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use audit::AuditLog;
pub use metrics::{CommandDecision, Format, Metrics};
pub use redelivery::{claim, Deliveries, Sighting};
pub use shared_replies::{allowed_bits, SharedKey, SharedReplies};
pub use start::StartError;

use crate::chat::outbox::Outbox;
use crate::config::Config;
use crate::jobs::Jobs;
use crate::notify::Watcher;
use crate::reply::CommandError;
use crate::store::Store;
use crate::usersync::UserSyncClient;

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
    /// Replies the same for every caller they are served to (help).
    pub shared: SharedReplies,
    pub outbox: Outbox,
    pub jobs: Arc<Jobs>,
    pub watcher: Arc<Watcher>,
    /// Set once stopping began: `/readyz` then answers 503 so a load balancer stops
    /// sending, while requests in flight finish.
    shutting_down: AtomicBool,
    /// The bot's own key (button tokens, fingerprints), shared through the store.
    pub key: crate::signing::BotKey,
    /// Slack Socket Mode: whether a socket is connected (kept by `server::socket`).
    pub socket: SocketStatus,
    /// When this process opened its store: on a store only one process uses (SQLite), a
    /// command claimed before then and never answered was cut off by a restart.
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// The Socket Mode connections as `/readyz` sees them.
#[derive(Debug, Default)]
pub struct SocketStatus {
    connected: AtomicUsize,
    /// Why the last attempt to connect failed, without secrets (e.g. `invalid_auth`).
    last_problem: Mutex<Option<String>>,
}

impl SocketStatus {
    /// How many sockets are connected (said `hello`); two while one replaces another.
    pub fn set_connected(&self, n: usize) {
        self.connected.store(n, Ordering::SeqCst);
        if n > 0 {
            *self.last_problem.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }

    pub fn connected(&self) -> usize {
        self.connected.load(Ordering::SeqCst)
    }

    /// Remembers why connecting failed, for `/readyz`.
    pub fn set_problem(&self, problem: String) {
        *self.last_problem.lock().unwrap_or_else(|p| p.into_inner()) = Some(problem);
    }

    fn problem(&self) -> Option<String> {
        self.last_problem
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// How long `/readyz` waits for the store before calling it not ready.
pub const READY_STORE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long work with no result recorded may still be running its first time: longer
/// than any command takes (the longest waits are the product's timeout and the chat's
/// retries).
pub const STILL_RUNNING: chrono::Duration = chrono::Duration::seconds(90);

/// Why the bot is not ready; shown in `/readyz`'s body, without secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("shutting down")]
    ShuttingDown,
    /// The store did not answer: the store's error, with any password taken out.
    #[error("store: {0}")]
    Store(String),
    /// Socket Mode is on and no socket is connected: the last problem, if any.
    #[error("slack socket mode: not connected{}", .0.as_deref().map(|p| format!(" ({p})")).unwrap_or_default())]
    NoSocket(Option<String>),
}

impl App {
    /// Marks the bot as stopping: from now on it is not ready.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Ready: not stopping, and the store answers within [`READY_STORE_TIMEOUT`].
    pub async fn ready(&self) -> Result<(), NotReady> {
        if self.is_shutting_down() {
            return Err(NotReady::ShuttingDown);
        }
        let socket_mode = self.config.slack.as_ref().is_some_and(|s| s.socket_mode());
        if socket_mode && self.socket.connected() == 0 {
            return Err(NotReady::NoSocket(self.socket.problem()));
        }
        let reason = match tokio::time::timeout(READY_STORE_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => match self.audit.stats.failing() {
                None => return Ok(()),
                Some(why) => format!("audit rows cannot be written: {why}"),
            },
            Ok(Err(e)) => e.to_string().lines().next().unwrap_or_default().to_string(),
            Err(_) => format!("no answer within {}s", READY_STORE_TIMEOUT.as_secs()),
        };
        let reason = without_password(&reason, &self.config.storage_url);
        tracing::warn!(%reason, "not ready: the store does not answer or take writes");
        Err(NotReady::Store(reason))
    }

    /// This replica's name in the store: in its leases, and on what it claims.
    pub fn owner(&self) -> &str {
        &self.jobs.replica().owner
    }

    /// Whether work begun at `at` by replica `by` (a claimed command, a confirmed change)
    /// that has no result recorded may still be running: for at most [`STILL_RUNNING`],
    /// and only while that replica is alive (it beats in the store; one killed stops
    /// within `[cluster] lease`). On a store only one process uses (SQLite), work begun
    /// before this process started was cut off by the restart. When the store cannot say,
    /// it may.
    pub async fn may_still_run(&self, at: chrono::DateTime<chrono::Utc>, by: Option<&str>) -> bool {
        let single_process = crate::store::Backend::of_url(&self.config.storage_url)
            == Some(crate::store::Backend::Sqlite);
        if single_process && at < self.started_at {
            return false;
        }
        if chrono::Utc::now() - at >= STILL_RUNNING {
            return false;
        }
        match by {
            Some(other) if other != self.owner() => self.store.alive(other).await.unwrap_or(true),
            _ => true,
        }
    }

    /// The instance a command names, or the default one.
    pub fn instance(&self, name: Option<&str>) -> Result<&UserSyncClient, CommandError> {
        let known = || {
            self.instance_names()
                .into_iter()
                .map(String::from)
                .collect()
        };
        match name {
            Some(n) => self
                .instances
                .iter()
                .find(|c| c.instance().eq_ignore_ascii_case(n))
                .ok_or_else(|| CommandError::UnknownInstance {
                    name: n.to_string(),
                    known: known(),
                }),
            None => self
                .config
                .default_instance
                .and_then(|i| self.instances.get(i))
                .ok_or_else(|| CommandError::NoDefaultInstance { known: known() }),
        }
    }

    pub fn instance_names(&self) -> Vec<&str> {
        self.instances.iter().map(|c| c.instance()).collect()
    }
}

/// `text` with the storage URL's password (as written or percent-decoded) replaced by
/// `***`, should a driver's message ever carry it.
fn without_password(text: &str, storage_url: &str) -> String {
    let Some(password) = url::Url::parse(storage_url)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        .filter(|p| !p.is_empty())
    else {
        return text.to_string();
    };
    let decoded = percent_encoding::percent_decode_str(&password)
        .decode_utf8_lossy()
        .into_owned();
    text.replace(&password, "***").replace(&decoded, "***")
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn a_readiness_reason_never_carries_the_storage_password() {
        let url = "postgres://bot:s%40cret@db/bot";
        assert_eq!(
            without_password("failed for bot:s%40cret and s@cret", url),
            "failed for bot:*** and ***"
        );
        assert_eq!(without_password("plain", "sqlite://bot.db"), "plain");
    }
}

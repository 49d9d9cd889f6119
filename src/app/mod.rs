//! The running bot's shared state: configuration, product clients, store, audit writer,
//! re-delivery memory and counters. Built once at start-up (`start`) and passed to every
//! handler.

mod audit;
mod metrics;
mod redelivery;
mod shared_replies;
mod start;

use std::sync::Arc;

pub use audit::AuditLog;
pub use metrics::Metrics;
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
}

impl App {
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

//! Persistence behind one interface: audit rows and re-delivery protection, with the
//! backend picked from the storage URL. Queries use `$N` placeholders and portable SQL so
//! that a PostgreSQL backend can share them.

mod sqlite;

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use sqlite::SqliteStore;

use crate::chat::Platform;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage URL {0:?} is not supported (use sqlite://FILE)")]
    UnsupportedUrl(String),
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
    pub channel_id: String,
    pub command_text: String,
    pub decision: Decision,
    pub outcome: String,
}

#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Writes audit rows, all or none.
    async fn record_audits(&self, entries: &[AuditEntry]) -> Result<(), StoreError>;

    /// The newest audit rows, newest first.
    async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;

    /// Records a delivery; `false` when it was recorded before (a re-delivery).
    async fn claim_delivery(
        &self,
        platform: Platform,
        trigger_id: &str,
    ) -> Result<bool, StoreError>;

    /// Forgets deliveries received before `before`; returns how many.
    async fn forget_deliveries_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Opens (and migrates) the store a URL names.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}

fn platform_from(s: &str) -> Platform {
    match s {
        "mattermost" => Platform::Mattermost,
        _ => Platform::Slack,
    }
}

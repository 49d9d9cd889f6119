//! Mass-deletion alerts as stored.

use chrono::{DateTime, Utc};

/// A sync that deleted more users than the guards allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionAlert {
    pub instance: String,
    pub connector_id: String,
    pub connector_name: String,
    pub sync_id: u64,
    /// Why it fired, as a person reads it.
    pub reason: String,
    pub raised_at: DateTime<Utc>,
    pub acknowledged_by: Option<String>,
}

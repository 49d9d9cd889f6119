//! Pending operations: what a confirmation prompt proposed, bound to who asked, the state it
//! was shown against and its expiry.

use chrono::{DateTime, Utc};

use crate::domain::Platform;

/// Where a pending operation stands. Only `Pending` can be settled, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingState {
    Pending,
    Confirmed,
    /// A confirmed change the product took (its patch answered with success).
    Made,
    Cancelled,
    /// Refused at click time because the connector had changed since the prompt.
    Stale,
}

impl PendingState {
    pub fn as_str(self) -> &'static str {
        match self {
            PendingState::Pending => "pending",
            PendingState::Confirmed => "confirmed",
            PendingState::Made => "made",
            PendingState::Cancelled => "cancelled",
            PendingState::Stale => "stale",
        }
    }

    pub(super) fn parse(s: &str) -> PendingState {
        match s {
            "pending" => PendingState::Pending,
            "confirmed" => PendingState::Confirmed,
            "made" => PendingState::Made,
            "cancelled" => PendingState::Cancelled,
            _ => PendingState::Stale,
        }
    }
}

/// One pending operation as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRecord {
    /// Random, unguessable; the buttons carry it with a MAC.
    pub id: String,
    pub platform: Platform,
    pub user_id: String,
    pub user_name: Option<String>,
    pub channel_id: String,
    /// The command as typed (secret-free: secrets are never set from chat).
    pub command_text: String,
    pub instance: String,
    pub connector_id: String,
    pub connector_name: String,
    /// What will be sent on confirm (JSON, see `handlers::change`).
    pub operation: serde_json::Value,
    /// The keyed fingerprint of the connector as the prompt showed it.
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub state: PendingState,
    pub settled_by: Option<String>,
    pub settled_at: Option<DateTime<Utc>>,
    /// The replica that settled it ([`crate::store::Replica::owner`]): for a confirmed
    /// change, the one making it.
    pub settled_replica: Option<String>,
}

//! Locks: a connector (or every connector, `*`) held by one person for a while, so that
//! nobody else but an admin changes it. A lock counts until it expires, then simply stops
//! counting.

use chrono::{DateTime, Utc};

use crate::domain::Principal;

/// The `connector_id` of a lock on every connector (its `instance` is empty).
pub const EVERY_CONNECTOR: &str = "*";

/// One lock as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRecord {
    /// Empty for a lock on every connector of every instance.
    pub instance: String,
    /// A connector id, or [`EVERY_CONNECTOR`].
    pub connector_id: String,
    /// The connector's name when it was locked, for messages.
    pub connector_name: String,
    /// Who holds it.
    pub owner: Principal,
    /// The name the platform sent for the owner, if any (for messages only).
    pub owner_name: Option<String>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl LockRecord {
    /// Whether the lock is on every connector.
    pub fn is_everything(&self) -> bool {
        self.connector_id == EVERY_CONNECTOR
    }

    /// Whether it still counts at `now`.
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }

    /// Whether it holds this connector of this instance.
    pub fn covers(&self, instance: &str, connector_id: &str) -> bool {
        self.is_everything() || (self.instance == instance && self.connector_id == connector_id)
    }
}

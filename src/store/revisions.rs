//! Revisions of connector settings: each configuration the bot saw that differed from the
//! one before, with secrets only as keyed fingerprints, who changed it (when the change came
//! through the bot) and whether it was announced.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// A configuration to keep, if it differs from the connector's newest revision.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRevision {
    pub instance: String,
    pub connector_id: String,
    pub connector_name: String,
    pub seen_at: DateTime<Utc>,
    /// The settings as stored: every secret already replaced by its fingerprint.
    pub settings: Value,
    /// The principal who made the change through the bot (`slack:U1`); `None`: the bot
    /// found it without making it.
    pub changed_by: Option<String>,
    pub changed_by_name: Option<String>,
}

/// One revision as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub id: i64,
    pub instance: String,
    pub connector_id: String,
    pub connector_name: String,
    /// 1, 2, 3… per connector.
    pub seq: u64,
    pub seen_at: DateTime<Utc>,
    /// Secrets as `fingerprint:<hex>`, never their values.
    pub settings: Value,
    /// The dotted fields changed since the revision before; empty for the first.
    pub fields: Vec<String>,
    pub changed_by: Option<String>,
    pub changed_by_name: Option<String>,
    /// Announced to the routes that hear about changes (the first revision, a baseline,
    /// is never announced and is stored as announced).
    pub announced: bool,
}

impl Revision {
    /// The first revision of a connector: what the bot saw first, not a change.
    pub fn is_first(&self) -> bool {
        self.seq <= 1
    }

    /// Whether the change was found rather than made through the bot.
    pub fn outside_the_bot(&self) -> bool {
        self.changed_by.is_none()
    }
}

/// The newest revisions of a connector, and how many there are in all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RevisionPage {
    /// Newest first.
    pub newest: Vec<Revision>,
    pub total: u64,
}

/// The fields that differ between two stored settings documents, dotted, in path order.
pub(super) fn changed_fields(before: &Value, after: &Value) -> Vec<String> {
    crate::usersync::settings::diff(before, after)
        .iter()
        .map(|c| c.field())
        .collect()
}

/// How many times adding a revision reads the newest one again after a concurrent writer
/// took the sequence number it wanted.
pub(super) const ADD_ATTEMPTS: usize = 16;

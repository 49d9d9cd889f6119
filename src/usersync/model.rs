//! The records of the User Sync API, decoded tolerantly.
//!
//! The vendor calls the API private and documents few fields, so every record keeps
//! the fields it does not know in `extra` (nothing is lost when the bot shows a record),
//! optional fields may be missing or `null`, and unknown enum values decode as `Other`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Field-name fragments that mark a connector setting as secret. The vendor does not say
/// which settings are secret, so any name containing one of these is treated as one.
pub const SECRET_FIELD_HINTS: &[&str] = &[
    "password",
    "secret",
    "token",
    "key",
    "credential",
    "certificate",
];

/// Whether a settings field of this name should be treated as a secret.
pub fn is_secret_field(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_FIELD_HINTS.iter().any(|hint| lower.contains(hint))
}

/// One connector (identity source) with its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connector {
    /// The connector id used in every path.
    #[serde(rename = "uniqueId")]
    pub unique_id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Every other setting, as the product sent it.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Connector {
    /// The name if there is one, else the id.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.unique_id)
    }

    /// The kind of identity provider, from whichever field carries it.
    pub fn kind(&self) -> Option<String> {
        ["type", "connectorType", "kind", "idpType"]
            .iter()
            .find_map(|k| scalar_text(self.extra.get(*k)))
    }

    /// The id of the user directory this connector fills, from whichever field carries it.
    pub fn directory_id(&self) -> Option<String> {
        ["directoryId", "directoryID", "directory"]
            .iter()
            .find_map(|k| scalar_text(self.extra.get(*k)))
    }

    /// The settings with every secret-looking field (at any depth) replaced by a marker.
    pub fn redacted(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        redact_secrets(&mut value);
        value
    }
}

/// Replaces the value of every secret-looking field, at any depth, with `"••••••"`.
/// A secret field holding `null` or an empty string stays as it is: showing that no
/// secret is set leaks nothing and helps the person reading.
pub fn redact_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let empty = v.is_null() || v.as_str().is_some_and(str::is_empty);
                if is_secret_field(k) && !empty {
                    *v = Value::String(REDACTED.to_string());
                } else {
                    redact_secrets(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}

/// What a redacted secret is shown as.
pub const REDACTED: &str = "••••••";

fn scalar_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The `status` of a sync. Only `DONE` is documented; the others are what such a
/// product plausibly reports. Unknown values are kept as they are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SyncState {
    Scheduled,
    Running,
    Done,
    Finished,
    Failed,
    Error,
    Aborted,
    Cancelled,
    Other(String),
}

impl SyncState {
    pub fn as_str(&self) -> &str {
        match self {
            SyncState::Scheduled => "SCHEDULED",
            SyncState::Running => "RUNNING",
            SyncState::Done => "DONE",
            SyncState::Finished => "FINISHED",
            SyncState::Failed => "FAILED",
            SyncState::Error => "ERROR",
            SyncState::Aborted => "ABORTED",
            SyncState::Cancelled => "CANCELLED",
            SyncState::Other(s) => s,
        }
    }

    /// Finished for good. Only clearly terminal values count: an unknown status is
    /// treated as still going, so the bot keeps following rather than reporting early.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            SyncState::Done
                | SyncState::Finished
                | SyncState::Failed
                | SyncState::Error
                | SyncState::Aborted
                | SyncState::Cancelled
        )
    }

    /// Terminal and unsuccessful by its status alone.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            SyncState::Failed | SyncState::Error | SyncState::Aborted | SyncState::Cancelled
        )
    }
}

impl From<&str> for SyncState {
    fn from(s: &str) -> Self {
        match s.to_ascii_uppercase().as_str() {
            "SCHEDULED" | "QUEUED" | "PENDING" => SyncState::Scheduled,
            "RUNNING" | "IN_PROGRESS" | "STARTED" => SyncState::Running,
            "DONE" => SyncState::Done,
            "FINISHED" | "COMPLETED" => SyncState::Finished,
            "FAILED" | "FAILURE" => SyncState::Failed,
            "ERROR" => SyncState::Error,
            "ABORTED" => SyncState::Aborted,
            "CANCELLED" | "CANCELED" => SyncState::Cancelled,
            _ => SyncState::Other(s.to_string()),
        }
    }
}

impl std::fmt::Display for SyncState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SyncState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SyncState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(SyncState::from(s.as_str()))
    }
}

/// The `syncStatusResult` of a sync: `SUCCESS` is documented, anything else is kept as is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SyncOutcome {
    Success,
    Other(String),
}

impl SyncOutcome {
    pub fn as_str(&self) -> &str {
        match self {
            SyncOutcome::Success => "SUCCESS",
            SyncOutcome::Other(s) => s,
        }
    }
}

impl std::fmt::Display for SyncOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SyncOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SyncOutcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(if s.eq_ignore_ascii_case("SUCCESS") {
            SyncOutcome::Success
        } else {
            SyncOutcome::Other(s)
        })
    }
}

/// A sync status record (the outcome of one sync).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    pub id: u64,
    pub status: SyncState,
    #[serde(default)]
    pub sync_status_result: Option<SyncOutcome>,
    #[serde(default)]
    pub added_count: Option<u64>,
    #[serde(default)]
    pub updated_count: Option<u64>,
    #[serde(default)]
    pub deleted_count: Option<u64>,
    #[serde(default)]
    pub failed_count: Option<u64>,
    #[serde(default)]
    pub filtered_count: Option<u64>,
    #[serde(default)]
    pub not_modified_count: Option<u64>,
    #[serde(default)]
    pub result_count: Option<u64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub messages: Vec<String>,
    #[serde(default)]
    pub cluster_node: Option<String>,
    #[serde(default, rename = "connectorUID")]
    pub connector_uid: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub last_modified: Option<String>,
    /// Milliseconds, as far as the vendor's example lets one tell.
    #[serde(default)]
    pub duration: Option<u64>,
    #[serde(default)]
    pub result_message: Option<String>,
    /// Every field this type does not name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SyncStatus {
    /// Terminal and unsuccessful: a failing status, or a result other than SUCCESS.
    pub fn is_failure(&self) -> bool {
        self.status.is_failure()
            || (self.status.is_terminal()
                && matches!(self.sync_status_result, Some(SyncOutcome::Other(_))))
    }
}

/// One entry of a sync's per-user results. The vendor does not document its shape, so
/// it is kept whole and read through accessors that try the likely field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SyncUserResult {
    pub fields: Map<String, Value>,
}

impl SyncUserResult {
    fn first_text(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| scalar_text(self.fields.get(*k)))
    }

    pub fn user_name(&self) -> Option<String> {
        self.first_text(&["userName", "username", "name", "identifier", "user"])
    }

    pub fn display_name(&self) -> Option<String> {
        self.first_text(&["displayName", "fullName"])
    }

    pub fn email(&self) -> Option<String> {
        self.first_text(&["email", "emailAddress", "mail"])
    }

    /// What happened to the user (ADDED, UPDATED, FAILED, …).
    pub fn action(&self) -> Option<String> {
        self.first_text(&["action", "result", "status", "operation", "state"])
    }

    pub fn message(&self) -> Option<String> {
        self.first_text(&["message", "details", "reason", "error"])
    }

    /// Whether this user's update failed.
    pub fn is_failure(&self) -> bool {
        self.action().is_some_and(|a| {
            let a = a.to_ascii_uppercase();
            a.contains("FAIL") || a.contains("ERROR")
        })
    }
}

/// How many per-user results to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultCount {
    /// The product's default (the first 10).
    Default,
    /// At most this many.
    Count(u32),
    /// All of them (`count=-1`).
    All,
}

/// What the product answered to a trigger (sync or single-user update). The answer is
/// not documented: the raw body is kept, and an id is read from it only when it plainly
/// carries one.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerAnswer {
    pub http_status: u16,
    /// The body as JSON, when it was JSON.
    pub json: Option<Value>,
    /// The body as text, when it was not JSON (trimmed; `None` when empty).
    pub text: Option<String>,
}

impl TriggerAnswer {
    /// A sync id carried by the answer: `id` of a status record, or `syncId`.
    pub fn sync_id(&self) -> Option<u64> {
        let obj = self.json.as_ref()?.as_object()?;
        ["id", "syncId", "syncStatusId"]
            .iter()
            .find_map(|k| match obj.get(*k)? {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            })
    }

    /// The answer as a status record, when it is one.
    pub fn as_status(&self) -> Option<SyncStatus> {
        serde_json::from_value(self.json.clone()?).ok()
    }
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vendor_example_decodes_with_every_field() {
        let record = json!({
            "status": "DONE", "addedCount": 0, "resultCount": 2, "notModifiedCount": 2,
            "failedCount": 0, "updatedCount": 0, "deletedCount": 0, "filteredCount": 0,
            "messages": ["Scheduled with jobid 388382e4-46cb-408f-bd12-ee71545653b0"],
            "clusterNode": "NOT_CLUSTERED",
            "connectorUID": "7df9fd3f-793f-4595-b415-b839b76b0018",
            "lastModified": "2022-10-05T08:17:44Z", "created": "2022-10-05T08:17:44Z",
            "duration": 0, "id": 94, "resultMessage": null, "resultFilePath": null,
            "syncUserResults": null, "connectorSupportInformation": null,
            "syncStatusResult": "SUCCESS", "_self": "/syncstatus/94"
        });
        let status: SyncStatus = serde_json::from_value(record).unwrap();
        assert_eq!(status.id, 94);
        assert_eq!(status.status, SyncState::Done);
        assert!(status.status.is_terminal());
        assert!(!status.is_failure());
        assert_eq!(status.result_count, Some(2));
        assert_eq!(status.not_modified_count, Some(2));
        assert_eq!(
            status.connector_uid.as_deref(),
            Some("7df9fd3f-793f-4595-b415-b839b76b0018")
        );
        assert_eq!(status.extra.get("_self"), Some(&json!("/syncstatus/94")));
        assert!(status.extra.contains_key("resultFilePath"));
    }

    #[test]
    fn missing_and_null_fields_decode_and_unknown_values_are_kept() {
        let status: SyncStatus = serde_json::from_value(json!({
            "id": 7, "status": "REINDEXING", "syncStatusResult": "PARTIAL", "messages": null
        }))
        .unwrap();
        assert_eq!(status.status, SyncState::Other("REINDEXING".into()));
        assert!(!status.status.is_terminal());
        assert!(status.messages.is_empty());
        assert_eq!(status.added_count, None);
        let back = serde_json::to_value(&status).unwrap();
        assert_eq!(back["status"], "REINDEXING");
        assert_eq!(back["syncStatusResult"], "PARTIAL");
    }

    #[test]
    fn terminal_states_are_only_the_clear_ones() {
        for s in [
            "DONE",
            "FINISHED",
            "FAILED",
            "ERROR",
            "ABORTED",
            "CANCELLED",
            "canceled",
        ] {
            assert!(SyncState::from(s).is_terminal(), "{s}");
        }
        for s in ["SCHEDULED", "RUNNING", "SOMETHING_NEW", ""] {
            assert!(!SyncState::from(s).is_terminal(), "{s}");
        }
    }

    #[test]
    fn a_done_sync_with_a_non_success_result_is_a_failure() {
        let status: SyncStatus = serde_json::from_value(json!({
            "id": 1, "status": "DONE", "syncStatusResult": "ERROR"
        }))
        .unwrap();
        assert!(status.is_failure());
    }

    #[test]
    fn secret_looking_fields_are_redacted_at_any_depth() {
        let connector: Connector = serde_json::from_value(json!({
            "uniqueId": "c1", "name": "Okta",
            "apiToken": "00abc", "clientSecret": "s3cr3t", "bindPassword": "",
            "nested": {"privateKey": "-----BEGIN", "tenant": "acme"},
            "list": [{"signingCertificate": "MIIC"}]
        }))
        .unwrap();
        let shown = connector.redacted();
        let text = shown.to_string();
        for secret in ["00abc", "s3cr3t", "-----BEGIN", "MIIC"] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
        assert_eq!(shown["nested"]["tenant"], "acme");
        assert_eq!(shown["bindPassword"], "");
        assert_eq!(shown["apiToken"], REDACTED);
    }

    #[test]
    fn trigger_answer_reads_an_id_only_when_it_is_there() {
        let with_id = TriggerAnswer {
            http_status: 200,
            json: Some(json!({"id": 12, "status": "SCHEDULED"})),
            text: None,
        };
        assert_eq!(with_id.sync_id(), Some(12));
        assert!(with_id.as_status().is_some());
        let text = TriggerAnswer {
            http_status: 204,
            json: None,
            text: Some("ok".into()),
        };
        assert_eq!(text.sync_id(), None);
    }
}

//! Connector history: every configuration the bot sees (on `connector` and `history`, after
//! a change made through the bot, at each watcher look) is kept as a revision when it
//! differs from the one before — secrets only as keyed fingerprints, so that a changed
//! secret shows as changed without being stored — with who made the change when it came
//! through the bot. A revision found without a change through the bot was made outside it.
//!
//! Announcing changes is the watcher's (`notify`); the words are `reply::history`'s.

use chrono::Utc;
use serde_json::Value;

use crate::domain::{Invocation, Principal};
use crate::signing::BotKey;
use crate::store::{NewRevision, Revision, Store, StoreError};
use crate::usersync::settings::{diff, fingerprint_secrets, FieldChange};
use crate::usersync::Connector;

/// Who made a change through the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedBy {
    pub principal: Principal,
    /// Their name on the platform, when it gave one (shown as `@name`).
    pub name: Option<String>,
}

impl ChangedBy {
    /// The person who typed a command.
    pub fn of(inv: &Invocation) -> ChangedBy {
        ChangedBy {
            principal: inv.user.clone(),
            name: inv.user_name.clone(),
        }
    }
}

/// A connector's settings as a revision keeps them: the whole settings document with every
/// secret value replaced by its keyed fingerprint (`fingerprint:<hex>`). Pure.
pub fn stored_settings(connector: &Connector, key: &BotKey) -> Value {
    let value = serde_json::to_value(connector).unwrap_or(Value::Null);
    fingerprint_secrets(&value, key)
}

/// Records what the bot saw of a connector of `instance`: a new revision when its settings
/// differ from the newest one kept (the first sighting is revision 1, "first seen": a
/// baseline, never announced). Returns the revision added, or `None` when nothing changed.
///
/// `by`: who made the change, when this call follows a change made through the bot (call it
/// right after the product accepted the change, with the connector as the product returned
/// it); `None` for a configuration merely seen, which — when it differs — was changed
/// outside the bot. Safe to call from several tasks or replicas at once: one revision per
/// configuration.
///
/// A change is announced by the watcher at its next look; `handlers::history::record_seen`
/// also asks it to announce at once.
pub async fn record(
    store: &dyn Store,
    key: &BotKey,
    instance: &str,
    connector: &Connector,
    by: Option<ChangedBy>,
) -> Result<Option<Revision>, StoreError> {
    let new = NewRevision {
        instance: instance.to_string(),
        connector_id: connector.unique_id.clone(),
        connector_name: connector.display_name().to_string(),
        seen_at: Utc::now(),
        settings: stored_settings(connector, key),
        changed_by: by.as_ref().map(|b| b.principal.to_string()),
        changed_by_name: by.and_then(|b| b.name),
    };
    let added = store.add_revision(&new).await?;
    if let Some(r) = &added {
        tracing::info!(
            instance,
            connector = %r.connector_id,
            seq = r.seq,
            fields = ?r.fields,
            outside = r.outside_the_bot(),
            "connector revision recorded"
        );
    }
    Ok(added)
}

/// What changed from `before` to `after` (two revisions' stored settings), field by field.
/// Secret fields carry fingerprints only, so their values are never in here. Pure.
pub fn changes(before: &Revision, after: &Revision) -> Vec<FieldChange> {
    diff(&before.settings, &after.settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Platform;
    use serde_json::json;

    fn okta(token: &str, page: u64) -> Connector {
        serde_json::from_value(json!({
            "uniqueId": "c1",
            "name": "Okta",
            "apiToken": token,
            "sync": {"pageSize": page},
            "credentials": {"user": "svc", "password": "pw-1"},
        }))
        .unwrap()
    }

    #[test]
    fn stored_settings_keep_every_field_but_no_secret_value() {
        let key = BotKey::from_bytes([5; 32]);
        let stored = stored_settings(&okta("tok-SECRET-1", 100), &key);
        let text = stored.to_string();
        assert!(
            !text.contains("tok-SECRET-1") && !text.contains("pw-1"),
            "{text}"
        );
        assert_eq!(stored["sync"]["pageSize"], json!(100));
        assert_eq!(stored["uniqueId"], json!("c1"));
        assert!(stored["apiToken"]
            .as_str()
            .unwrap()
            .starts_with("fingerprint:"));
        // A changed secret is still seen as changed.
        let other = stored_settings(&okta("tok-SECRET-2", 100), &key);
        assert_ne!(stored, other);
        assert_eq!(stored, stored_settings(&okta("tok-SECRET-1", 100), &key));
    }

    #[tokio::test]
    async fn a_first_sighting_is_a_baseline_and_a_change_names_its_author_and_fields() {
        let dir = std::env::temp_dir().join(format!("usersync-bot-rev-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("t.db").display());
        let store = crate::store::open(&url).await.unwrap();
        let key = BotKey::from_bytes([9; 32]);

        let first = record(store.as_ref(), &key, "jira", &okta("tok-A", 100), None)
            .await
            .unwrap()
            .unwrap();
        assert!(first.is_first() && first.announced && first.fields.is_empty());
        assert_eq!(
            record(store.as_ref(), &key, "jira", &okta("tok-A", 100), None)
                .await
                .unwrap(),
            None,
            "seen again unchanged: nothing"
        );
        let by = ChangedBy {
            principal: Principal::new(Platform::Slack, "U1"),
            name: Some("alice".into()),
        };
        let second = record(store.as_ref(), &key, "jira", &okta("tok-B", 500), Some(by))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.seq, 2);
        assert_eq!(second.fields, ["apiToken", "sync.pageSize"]);
        assert_eq!(second.changed_by.as_deref(), Some("slack:U1"));
        assert_eq!(second.changed_by_name.as_deref(), Some("alice"));
        assert!(!second.announced, "a change waits to be announced");
        let fields: Vec<(String, bool)> = changes(&first, &second)
            .iter()
            .map(|c| (c.field(), c.is_secret()))
            .collect();
        assert_eq!(
            fields,
            [("apiToken".into(), true), ("sync.pageSize".into(), false)]
        );

        // No secret value reached the store: not in what it gives back, not in any byte
        // of its files (the database and its write-ahead log).
        let page = store.revisions("jira", "c1", 50).await.unwrap();
        let stored = format!("{page:?}");
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        assert!(
            bytes.windows(8).any(|w| w == b"apiToken"),
            "the files hold the revisions"
        );
        for secret in ["tok-A", "tok-B", "pw-1"] {
            assert!(!stored.contains(secret), "{secret} in {stored}");
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} is in the store's files"
            );
        }
        drop(store);
        std::fs::remove_dir_all(dir).ok();
    }
}

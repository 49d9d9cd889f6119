//! Protected accounts (`[protect] users`) after a sync: whichever sees a finished sync
//! first — the job that follows it, or the watcher — reads its per-user results, and when
//! it deleted, deactivated or failed a protected account, one alert goes to the job's
//! channel and to every channel that wants failures of the connector. Exactly once per
//! sync and channel: each post is claimed in the store first.

use std::future::Future;
use std::sync::Arc;

use crate::chat::outbox::{DeliveryError, Outbox};
use crate::config::{NotifyRoute, ProtectConfig};
use crate::domain::Principal;
use crate::message::Message;
use crate::reply::protect::{alert, ProtectedHit};
use crate::store::Store;
use crate::usersync::{ResultCount, SyncStatus, SyncUserResult, UserSyncClient};

/// Whether a per-user result is one a protected account must not suffer unseen.
fn hurt(u: &SyncUserResult) -> bool {
    let action = u.action().unwrap_or_default().to_ascii_uppercase();
    u.is_failure()
        || ["DELETE", "DEACTIVAT", "DISABLE", "REMOVE"]
            .iter()
            .any(|w| action.contains(w))
}

/// The protected accounts a sync's results hurt, in the order of the results. Pure.
pub fn hits(protect: &ProtectConfig, users: &[SyncUserResult]) -> Vec<ProtectedHit> {
    users
        .iter()
        .filter(|u| hurt(u))
        .filter_map(|u| {
            let names = [u.user_name(), u.email()];
            let pattern = names.iter().flatten().find_map(|n| protect.protecting(n))?;
            Some(ProtectedHit {
                user: u.user_name().or_else(|| u.email()).unwrap_or_default(),
                action: u.action().unwrap_or_default(),
                message: u.message(),
                pattern: pattern.as_str().to_string(),
            })
        })
        .collect()
}

/// A finished sync of a connector.
#[derive(Clone, Copy)]
pub struct SyncSeen<'a> {
    pub client: &'a UserSyncClient,
    pub connector_id: &'a str,
    pub connector_name: &'a str,
    pub sync: &'a SyncStatus,
}

/// The protected accounts and who hears about them.
#[derive(Debug)]
pub struct Protected {
    config: ProtectConfig,
    routes: Vec<NotifyRoute>,
    store: Arc<dyn Store>,
    outbox: Outbox,
}

impl Protected {
    pub fn new(
        config: ProtectConfig,
        routes: Vec<NotifyRoute>,
        store: Arc<dyn Store>,
        outbox: Outbox,
    ) -> Arc<Protected> {
        Arc::new(Protected {
            config,
            routes,
            store,
            outbox,
        })
    }

    /// Whether a finished sync's results are worth reading: some account is protected,
    /// and the counts do not say that nobody was deleted, updated (a deactivation is an
    /// update) or failed.
    pub fn wants_results(&self, s: &SyncStatus) -> bool {
        !self.config.is_empty()
            && s.status.is_terminal()
            && [s.deleted_count, s.updated_count, s.failed_count]
                .iter()
                .any(|c| c.is_none_or(|n| n > 0))
    }

    /// The alert for a finished sync, if it hurt a protected account. `users` are its
    /// results when already read; else they are read here, when worth it.
    pub async fn alert(
        &self,
        seen: SyncSeen<'_>,
        users: Option<&[SyncUserResult]>,
    ) -> Option<Message> {
        if !self.wants_results(seen.sync) {
            return None;
        }
        let read;
        let users = match users {
            Some(u) => u,
            None => match seen
                .client
                .sync_results(seen.sync.id, ResultCount::All)
                .await
            {
                Ok(u) => {
                    read = u;
                    &read
                }
                Err(e) => {
                    tracing::warn!(error = %e, sync = seen.sync.id, "cannot read a sync's results for protected accounts");
                    return None;
                }
            },
        };
        let found = hits(&self.config, users);
        if found.is_empty() {
            return None;
        }
        tracing::warn!(
            sync = seen.sync.id,
            accounts = found.len(),
            "a sync hurt protected accounts"
        );
        Some(alert(
            seen.client.instance(),
            seen.connector_name,
            seen.sync,
            &found,
        ))
    }

    /// Posts in one channel once per sync: claimed first, the claim dropped again when the
    /// post fails (so that a later look may try).
    pub async fn once<F, Fut>(&self, channel: &Principal, instance: &str, sync_id: u64, post: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), DeliveryError>>,
    {
        match self
            .store
            .claim_protected_alert(channel, instance, sync_id)
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot record a protected-account alert");
                return;
            }
        }
        if let Err(e) = post().await {
            tracing::error!(error = %e, channel = %channel, sync = sync_id, "a protected-account alert could not be posted");
            if let Err(e) = self
                .store
                .release_protected_alert(channel, instance, sync_id)
                .await
            {
                tracing::error!(error = %e, "cannot release a protected-account alert");
            }
        }
    }

    /// The channels that want failures of this connector: `[[notify]]` routes on
    /// failures, and the channels that `watch` it.
    async fn failure_channels(&self, instance: &str, id: &str, name: &str) -> Vec<Principal> {
        let subs = match self.store.subscriptions().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot read subscriptions for a protected-account alert");
                Vec::new()
            }
        };
        let mut channels: Vec<Principal> = self
            .routes
            .iter()
            .filter(|r| r.wants_failures() && r.covers(instance, id, Some(name)))
            .map(|r| r.channel.clone())
            .chain(
                subs.iter()
                    .filter(|s| s.covers(instance, id))
                    .map(|s| s.channel()),
            )
            .collect();
        channels.sort();
        channels.dedup();
        channels
    }

    /// Posts an alert, once each, to every channel that wants failures of the connector.
    pub async fn tell_failure_channels(&self, seen: SyncSeen<'_>, message: &Message) {
        let instance = seen.client.instance();
        for channel in self
            .failure_channels(instance, seen.connector_id, seen.connector_name)
            .await
        {
            let to = &channel;
            self.once(to, instance, seen.sync.id, move || async move {
                self.outbox
                    .post(to.platform, &to.id, message)
                    .await
                    .map(|_| ())
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AccountGlob;

    fn result(user: &str, action: &str) -> SyncUserResult {
        serde_json::from_value(serde_json::json!({
            "userName": user, "email": format!("{user}@acme.example"), "action": action,
            "message": "why",
        }))
        .unwrap()
    }

    #[test]
    fn only_protected_accounts_deleted_deactivated_or_failed_are_hits() {
        let protect = ProtectConfig {
            users: ["admin", "break-glass-*", "svc-*"]
                .iter()
                .map(|g| AccountGlob::parse(g).unwrap())
                .collect(),
        };
        let cases = [
            (result("svc-backup", "DELETED"), Some("svc-*")),
            (result("svc-backup", "DEACTIVATED"), Some("svc-*")),
            (result("Break-Glass-1", "FAILED"), Some("break-glass-*")),
            (result("admin", "ERROR"), Some("admin")),
            (result("svc-backup", "UPDATED"), None),
            (result("svc-backup", "NOT_MODIFIED"), None),
            (result("alice.anderson", "DELETED"), None),
            (result("alice.anderson", "FAILED"), None),
        ];
        for (user, expected) in cases {
            let found = hits(&protect, std::slice::from_ref(&user));
            assert_eq!(
                found.first().map(|h| h.pattern.as_str()),
                expected,
                "{user:?}"
            );
        }
        let found = hits(
            &protect,
            &[
                result("svc-a", "DELETED"),
                result("bob", "FAILED"),
                result("admin", "FAILED"),
            ],
        );
        assert_eq!(
            found,
            vec![
                ProtectedHit {
                    user: "svc-a".into(),
                    action: "DELETED".into(),
                    message: Some("why".into()),
                    pattern: "svc-*".into(),
                },
                ProtectedHit {
                    user: "admin".into(),
                    action: "FAILED".into(),
                    message: Some("why".into()),
                    pattern: "admin".into(),
                },
            ]
        );
    }
}

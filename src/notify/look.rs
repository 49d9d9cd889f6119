//! One look at an instance: every watched connector's settings (recorded as a revision when
//! they changed) and last sync, the syncs that finished since the last one dealt with, and
//! the changes not yet announced. What to fetch is decided by the pure [`plan`].

use std::collections::BTreeMap;

use super::announce::Finished;
use super::audience::{changes_wanted, instance_wanted, is_watched};
use super::Watcher;
use crate::jobs::protect::SyncSeen;
use crate::store::{JobKind, JobState, StoreError, Subscription};
use crate::usersync::{Connector, SyncStatus, UserSyncClient, UserSyncError};

/// Cycles between two refreshes of an instance's connector list, when no route hears about
/// changes of settings there (then it is listed at every look, to see them).
const LIST_EVERY: u32 = 10;
/// Syncs fetched by id at most when a connector's last id jumps (after a long outage
/// the oldest beyond this are skipped, with a warning).
const MAX_GAP_FETCH: u64 = 1000;

/// What to do with a connector's last sync, given the newest one already dealt with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// First sight of the connector: what came before is history, not news. Record this
    /// id as dealt with and announce nothing.
    Baseline(u64),
    /// Nothing new since the last look.
    Nothing,
    /// Fetch the syncs `from..latest` by id (`skipped` older ones are left out), then
    /// deal with them and the latest, in order.
    CatchUp { from: u64, skipped: u64 },
}

/// Decides what a look does with a connector. Pure.
pub fn plan(handled: Option<u64>, latest: &SyncStatus) -> Plan {
    let Some(handled) = handled else {
        return Plan::Baseline(if latest.status.is_terminal() {
            latest.id
        } else {
            latest.id.saturating_sub(1)
        });
    };
    if latest.id <= handled {
        return Plan::Nothing;
    }
    let from = (handled + 1).max(latest.id.saturating_sub(MAX_GAP_FETCH));
    Plan::CatchUp {
        from,
        skipped: from - handled - 1,
    }
}

impl Watcher {
    /// One look at an instance. `false` when the instance could not be reached at all.
    pub(super) async fn look(
        &self,
        client: &UserSyncClient,
        connectors: &mut Vec<Connector>,
        cycle: u32,
    ) -> bool {
        let subscriptions = match self.store.subscriptions().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "watcher cannot read subscriptions");
                return true;
            }
        };
        // Nobody asked to hear anything about this instance: leave it alone.
        if !instance_wanted(&self.routes, &subscriptions, client.instance()) {
            connectors.clear();
            return true;
        }
        let listed = connectors.is_empty()
            || cycle % LIST_EVERY == 0
            || changes_wanted(&self.routes, client.instance());
        if listed {
            match client.list_connectors().await {
                Ok(list) => *connectors = list,
                Err(e) => {
                    tracing::warn!(instance = client.instance(), error = %e, "watcher cannot list connectors");
                    return false;
                }
            }
        }
        let followed = self.followed(client.instance()).await;
        let mut reached = false;
        let mut any = false;
        let mut cache = BTreeMap::new();
        for c in connectors.iter() {
            if !is_watched(&self.routes, &subscriptions, client.instance(), c) {
                continue;
            }
            any = true;
            if listed {
                self.record_settings(client, c).await;
            }
            let seen = followed.get(&c.unique_id).cloned();
            reached |= self
                .look_at(client, c, seen, &subscriptions, &mut cache)
                .await;
        }
        self.announce_changes(client.instance()).await;
        reached || !any
    }

    /// The last sync record each job being followed on an instance has seen, by
    /// connector: whichever replica follows the job polls the connector, so the watcher
    /// reads that rather than polling it a second time.
    async fn followed(&self, instance: &str) -> BTreeMap<String, SyncStatus> {
        let jobs = match self.store.open_jobs().await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "watcher cannot read the jobs being followed");
                return BTreeMap::new();
            }
        };
        jobs.into_iter()
            .filter(|j| {
                j.kind == JobKind::Sync && j.state == JobState::Following && j.instance == instance
            })
            .filter_map(|j| {
                let seen = serde_json::from_value(j.last_status?).ok()?;
                Some((j.connector_id, seen))
            })
            .collect()
    }

    /// Looks at one connector; `true` when the product answered. `followed`: what a job
    /// following the connector (on any replica) saw last.
    async fn look_at(
        &self,
        client: &UserSyncClient,
        c: &Connector,
        followed: Option<SyncStatus>,
        subscriptions: &[Subscription],
        cache: &mut BTreeMap<u64, SyncStatus>,
    ) -> bool {
        // A connector a job follows is already polled: use that observation, from this
        // replica's poller or, followed elsewhere, from the job in the store.
        let status = match (
            self.pollers.latest(client.instance(), &c.unique_id),
            followed,
        ) {
            (Some(obs), _) => obs.status,
            (None, Some(seen)) => Ok(seen),
            (None, None) => client.last_sync_status(&c.unique_id).await,
        };
        match status {
            Ok(s) => {
                if let Err(e) = self.observe(client, c, s, subscriptions, cache).await {
                    tracing::error!(error = %e, "watcher cannot record its progress");
                }
                true
            }
            Err(UserSyncError::NotFound { .. }) => true,
            Err(e) => {
                tracing::warn!(instance = client.instance(), connector = %c.unique_id, error = %e, "watcher poll failed");
                false
            }
        }
    }

    /// Deals with a connector's last sync: every sync that finished since the last one
    /// dealt with is announced, in order — those in between fetched by id.
    async fn observe(
        &self,
        client: &UserSyncClient,
        c: &Connector,
        latest: SyncStatus,
        subscriptions: &[Subscription],
        cache: &mut BTreeMap<u64, SyncStatus>,
    ) -> Result<(), StoreError> {
        let instance = client.instance();
        let handled = self.store.handled_sync(instance, &c.unique_id).await?;
        let (from, skipped) = match plan(handled, &latest) {
            Plan::Baseline(id) => {
                return self
                    .store
                    .set_handled_sync(instance, &c.unique_id, id)
                    .await
            }
            Plan::Nothing => return Ok(()),
            Plan::CatchUp { from, skipped } => (from, skipped),
        };
        if skipped > 0 {
            tracing::warn!(instance, connector = %c.unique_id, skipped, "too many syncs since the last look; the oldest are not announced");
        }
        let Some(mut candidates) = self.in_between(client, c, from, latest.id, cache).await else {
            return Ok(());
        };
        candidates.push(latest);
        let handled = handled.unwrap_or_default();
        let mut advanced = handled;
        for s in candidates {
            let finished = Finished {
                client,
                connector: c,
                sync: &s,
            };
            if !s.status.is_terminal() || !self.announce(finished, subscriptions).await {
                break;
            }
            self.protect_check(client, c, &s).await;
            advanced = s.id;
        }
        if advanced > handled {
            self.store
                .set_handled_sync(instance, &c.unique_id, advanced)
                .await?;
        }
        Ok(())
    }

    /// A finished sync that hurt protected accounts: one alert in each channel that wants
    /// failures of the connector (the job's channel, if it has one, hears from the job).
    async fn protect_check(&self, client: &UserSyncClient, c: &Connector, s: &SyncStatus) {
        let seen = SyncSeen {
            client,
            connector_id: &c.unique_id,
            connector_name: c.display_name(),
            sync: s,
        };
        if let Some(alert) = self.protect.alert(seen, None).await {
            self.protect.tell_failure_channels(seen, &alert).await;
        }
    }

    /// The connector's syncs with ids in `from..to`, fetched by id (ids of other
    /// connectors are skipped). `None`: one could not be read; try again at the next look.
    async fn in_between(
        &self,
        client: &UserSyncClient,
        c: &Connector,
        from: u64,
        to: u64,
        cache: &mut BTreeMap<u64, SyncStatus>,
    ) -> Option<Vec<SyncStatus>> {
        let mut found = Vec::new();
        for id in from..to {
            let record = match cache.get(&id) {
                Some(r) => r.clone(),
                None => match client.sync_status(id).await {
                    Ok(r) => {
                        cache.insert(id, r.clone());
                        r
                    }
                    Err(UserSyncError::NotFound { .. }) => continue,
                    Err(e) => {
                        // A sync that keeps failing is skipped rather than blocking every
                        // later announcement.
                        if self.attempts.gap_failed(client.instance(), id, &e) {
                            return None;
                        }
                        continue;
                    }
                },
            };
            if record.connector_uid.as_deref() == Some(c.unique_id.as_str()) {
                found.push(record);
            }
        }
        Some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(id: u64, status: &str) -> SyncStatus {
        serde_json::from_value(serde_json::json!({"id": id, "status": status})).unwrap()
    }

    #[test]
    fn a_look_plans_by_what_was_dealt_with() {
        let cases = [
            (None, sync(10, "DONE"), Plan::Baseline(10)),
            (None, sync(10, "RUNNING"), Plan::Baseline(9)),
            (Some(10), sync(10, "DONE"), Plan::Nothing),
            (Some(10), sync(9, "DONE"), Plan::Nothing),
            (
                Some(10),
                sync(11, "DONE"),
                Plan::CatchUp {
                    from: 11,
                    skipped: 0,
                },
            ),
            (
                Some(10),
                sync(14, "RUNNING"),
                Plan::CatchUp {
                    from: 11,
                    skipped: 0,
                },
            ),
            (
                Some(10),
                sync(2000, "DONE"),
                Plan::CatchUp {
                    from: 1000,
                    skipped: 989,
                },
            ),
        ];
        for (handled, latest, expected) in cases {
            assert_eq!(plan(handled, &latest), expected, "{handled:?} {latest:?}");
        }
    }
}

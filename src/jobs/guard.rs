//! The guard on mass deletion in syncs the bot follows: a sync that deletes more users
//! than `[guards] max_deleted`, or more than `max_deleted_share` of the connector's
//! previous user total, raises an alert — its outcome stands out, the failure routes hear
//! of it, and `run` asks first until an admin acknowledges it.

use chrono::Utc;

use super::Jobs;
use crate::config::{NotifyOn, NotifyRoute};
use crate::domain::Principal;
use crate::message::Message;
use crate::reply;
use crate::store::{DeletionAlert, JobRecord};
use crate::usersync::{SyncStatus, UserSyncClient};

/// The limits, and the routes that want failures.
#[derive(Debug, Clone, Default)]
pub struct DeletionGuard {
    pub max_deleted: Option<u64>,
    pub max_share: Option<f64>,
    pub routes: Vec<NotifyRoute>,
}

/// Why a sync's deletions tripped the guard.
#[derive(Debug, Clone, PartialEq)]
pub enum Tripped {
    Count {
        deleted: u64,
        max: u64,
    },
    Share {
        deleted: u64,
        previous: u64,
        share: f64,
    },
}

/// The decision: pure. The count is checked first; a share needs a previous total.
pub fn tripped(
    deleted: u64,
    previous_total: Option<u64>,
    max_deleted: Option<u64>,
    max_share: Option<f64>,
) -> Option<Tripped> {
    if let Some(max) = max_deleted.filter(|max| deleted > *max) {
        return Some(Tripped::Count { deleted, max });
    }
    let (share, previous) = (max_share?, previous_total?);
    (previous > 0 && deleted as f64 > share * previous as f64).then_some(Tripped::Share {
        deleted,
        previous,
        share,
    })
}

impl DeletionGuard {
    /// The failure routes that cover this connector.
    fn channels(&self, instance: &str, connector_id: &str, name: &str) -> Vec<Principal> {
        let mut out: Vec<Principal> = self
            .routes
            .iter()
            .filter(|r| r.on.contains(&NotifyOn::Failure))
            .filter(|r| {
                r.instance
                    .as_deref()
                    .is_none_or(|i| i.eq_ignore_ascii_case(instance))
            })
            .filter(|r| {
                r.connectors
                    .iter()
                    .any(|w| w == "*" || w == connector_id || w.eq_ignore_ascii_case(name))
            })
            .map(|r| r.channel.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

impl Jobs {
    /// Records the finished sync, and when it deleted too many users raises the alert
    /// (once per sync), posts it to the failure routes and returns the outcome marked.
    pub(super) async fn guard_outcome(
        &self,
        client: &UserSyncClient,
        job: &JobRecord,
        s: &SyncStatus,
        message: Message,
    ) -> Message {
        let instance = client.instance();
        let store = self.store.as_ref();
        let previous = match store
            .previous_total(instance, &job.connector_id, s.id)
            .await
        {
            Ok(Some(n)) => Some(n),
            // Not seen by the bot: the sync before the trigger, from the product.
            _ => match job.baseline_sync_id {
                Some(id) => client
                    .sync_status(id)
                    .await
                    .ok()
                    .and_then(|b| b.result_count),
                None => None,
            },
        };
        if let Err(e) = store
            .record_sync_seen(
                instance,
                &job.connector_id,
                s.id,
                s.result_count,
                s.deleted_count,
            )
            .await
        {
            tracing::warn!(error = %e, "cannot record a finished sync");
        }
        let Some(guard) = self.guard.get() else {
            return message;
        };
        let deleted = s.deleted_count.unwrap_or(0);
        let Some(why) = tripped(deleted, previous, guard.max_deleted, guard.max_share) else {
            return message;
        };
        let reason = match why {
            Tripped::Count { deleted, max } => reply::guards::count_reason(deleted, max),
            Tripped::Share {
                deleted,
                previous,
                share,
            } => reply::guards::share_reason(deleted, previous, share),
        };
        let alert = DeletionAlert {
            instance: instance.to_string(),
            connector_id: job.connector_id.clone(),
            connector_name: job.connector_name.clone(),
            sync_id: s.id,
            reason: reason.clone(),
            raised_at: Utc::now(),
            acknowledged_by: None,
        };
        let marked = reply::guards::alert(message, &alert, &self.slash_command);
        match store.raise_deletion_alert(&alert).await {
            Ok(true) => {
                tracing::warn!(instance, connector = %job.connector_id, sync = s.id, %reason, "mass deletion alert");
                let job_channel = Principal::new(job.platform, job.channel_id.clone());
                for channel in guard.channels(instance, &job.connector_id, &job.connector_name) {
                    if channel == job_channel {
                        continue;
                    }
                    if let Err(e) = self
                        .outbox
                        .post(channel.platform, &channel.id, &marked)
                        .await
                    {
                        tracing::error!(error = %e, %channel, "a mass deletion alert could not be posted");
                    }
                }
            }
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "cannot record a mass deletion alert"),
        }
        marked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_table_of_the_guard() {
        type Case = (u64, Option<u64>, Option<u64>, Option<f64>, Option<Tripped>);
        let cases: Vec<Case> = vec![
            (10, Some(100), None, None, None),
            (
                51,
                None,
                Some(50),
                None,
                Some(Tripped::Count {
                    deleted: 51,
                    max: 50,
                }),
            ),
            (50, None, Some(50), None, None),
            (
                21,
                Some(100),
                None,
                Some(0.2),
                Some(Tripped::Share {
                    deleted: 21,
                    previous: 100,
                    share: 0.2,
                }),
            ),
            (20, Some(100), None, Some(0.2), None),
            (21, None, None, Some(0.2), None),
            (5, Some(0), None, Some(0.2), None),
            (
                60,
                Some(100),
                Some(50),
                Some(0.2),
                Some(Tripped::Count {
                    deleted: 60,
                    max: 50,
                }),
            ),
            (
                30,
                Some(100),
                Some(50),
                Some(0.2),
                Some(Tripped::Share {
                    deleted: 30,
                    previous: 100,
                    share: 0.2,
                }),
            ),
        ];
        for (deleted, previous, max, share, expected) in cases {
            assert_eq!(
                tripped(deleted, previous, max, share),
                expected,
                "{deleted} {previous:?} {max:?} {share:?}"
            );
        }
    }
}

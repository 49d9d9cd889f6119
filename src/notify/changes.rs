//! Connector settings at each look, and their changes announced exactly once: every watched
//! connector's configuration is recorded as a revision when it differs (`revisions`), and
//! every revision that is a change and not yet announced is posted to the routes with
//! `on = ["change"]` that cover its connector, then marked as announced. A revision left
//! unannounced (a crash between posting and marking, a failing post) is announced at the
//! next call.

use std::collections::HashMap;

use tokio::sync::Mutex;

use super::audience::change_channels;
use super::Watcher;
use crate::domain::Principal;
use crate::reply::history::change_announcement;
use crate::revisions;
use crate::store::Revision;
use crate::usersync::{Connector, UserSyncClient};

/// Looks a failing post of a change is retried before it is given up.
const MAX_ATTEMPTS: u32 = 3;

/// Where the announcement of one revision stands in one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Posted (or given up on): not posted again.
    Done,
    /// This many posts failed.
    Failed(u32),
}

/// What announcing changes keeps between calls: per revision and channel, how its post
/// went, until the revision is marked as announced. Its lock is held for a whole round, so
/// that a look and a command that found a change never post the same revision twice.
#[derive(Debug, Default)]
pub struct ChangeAnnouncer {
    progress: Mutex<HashMap<(i64, Principal), Progress>>,
}

impl Watcher {
    /// Records the settings of a connector a look listed; logs what it cannot record.
    pub(super) async fn record_settings(&self, client: &UserSyncClient, c: &Connector) {
        let recorded =
            revisions::record(self.store.as_ref(), &self.key, client.instance(), c, None).await;
        if let Err(e) = recorded {
            tracing::error!(instance = client.instance(), connector = %c.unique_id, error = %e, "watcher cannot record a connector's settings");
        }
    }

    /// Announces every change of an instance's connectors that is not announced yet,
    /// oldest first, in each channel whose route hears about changes of that connector;
    /// marks a revision as announced once every such channel has it (a post that keeps
    /// failing is given up after a few calls). Called at the end of each look, and by a
    /// command that recorded a change.
    ///
    /// Only the replica running the watcher announces; on another, this leaves the change
    /// to the leader's next look.
    pub async fn announce_changes(&self, instance: &str) {
        if !self.is_leader() {
            return;
        }
        let mut progress = self.changes.progress.lock().await;
        let pending = match self.store.unannounced_revisions(instance).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(instance, error = %e, "watcher cannot read the changes to announce");
                return;
            }
        };
        for r in pending {
            let channels =
                change_channels(&self.routes, instance, &r.connector_id, &r.connector_name);
            if !channels.is_empty() && !self.announce_change(&r, &channels, &mut progress).await {
                continue;
            }
            match self.store.mark_revision_announced(r.id).await {
                Ok(()) => progress.retain(|(id, _), _| *id != r.id),
                Err(e) => {
                    tracing::error!(instance, revision = r.id, error = %e, "watcher cannot mark a change as announced");
                }
            }
        }
    }

    /// Posts one change in every channel that has not had it; `true` when none is left to
    /// try again.
    async fn announce_change(
        &self,
        r: &Revision,
        channels: &[Principal],
        progress: &mut HashMap<(i64, Principal), Progress>,
    ) -> bool {
        let before = if r.is_first() {
            None
        } else {
            self.store
                .revision(&r.instance, &r.connector_id, r.seq - 1)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot read the revision before a change; naming its fields only");
                    None
                })
        };
        let changes = before
            .map(|b| revisions::changes(&b, r))
            .unwrap_or_default();
        let message = change_announcement(&r.instance, r, &changes, &self.slash_command);
        let mut all_done = true;
        for channel in channels {
            let key = (r.id, channel.clone());
            let failed = match progress.get(&key) {
                Some(Progress::Done) => continue,
                Some(Progress::Failed(n)) => *n,
                None => 0,
            };
            if !self.may_post().await {
                // Another replica runs the watcher now: it announces this change.
                all_done = false;
                break;
            }
            let tag = format!(
                "revision-{}-{}-{}",
                r.id,
                channel.platform.as_str(),
                channel.id
            );
            match self.post_once_counted(channel, &message, &tag).await {
                Ok(()) => {
                    progress.insert(key, Progress::Done);
                }
                Err(e) if failed + 1 < MAX_ATTEMPTS => {
                    tracing::warn!(error = %e, channel = %channel, revision = r.id, "change announcement not posted; will try again");
                    progress.insert(key, Progress::Failed(failed + 1));
                    all_done = false;
                }
                Err(e) => {
                    tracing::error!(error = %e, channel = %channel, revision = r.id, "change announcement could not be posted; giving up");
                    progress.insert(key, Progress::Done);
                }
            }
        }
        all_done
    }
}

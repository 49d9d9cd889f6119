//! Announcing one finished sync in every channel that asked, exactly once: the last
//! announced sync per channel and connector is stored, and a failing post is tried again
//! at the next looks before it is given up.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, SubsecRound, Utc};

use super::audience::audience;
use super::Watcher;
use crate::domain::Principal;
use crate::message::Message;
use crate::reply::announce::{announcement, Reason};
use crate::store::{Delivery, JobKind, JobState, Subscription};
use crate::usersync::{Connector, SyncStatus, UserSyncClient, UserSyncError};

/// Looks a failing post (or an unreadable sync in between) is retried before it is
/// given up.
const MAX_ATTEMPTS: u32 = 3;

/// Failed attempts, counted per thing tried: posts per (channel, instance, sync), reads
/// of syncs in between per (instance, sync).
#[derive(Debug, Default)]
pub struct Attempts {
    posts: Mutex<HashMap<(Principal, String, u64), u32>>,
    gaps: Mutex<HashMap<(String, u64), u32>>,
}

/// Counts one more failure; `true` while it is worth trying again (the count is dropped
/// once it is not).
fn bump<K: std::hash::Hash + Eq>(map: &Mutex<HashMap<K, u32>>, key: K) -> bool {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    let n = map.entry(key).or_insert(0);
    *n += 1;
    let again = *n < MAX_ATTEMPTS;
    if !again {
        map.retain(|_, n| *n < MAX_ATTEMPTS);
    }
    again
}

impl Attempts {
    /// A sync in between could not be read; `true`: try again at the next look.
    pub fn gap_failed(&self, instance: &str, id: u64, e: &UserSyncError) -> bool {
        let again = bump(&self.gaps, (instance.to_string(), id));
        if again {
            tracing::warn!(error = %e, id, "watcher cannot read a sync in between; will try again");
        } else {
            tracing::error!(error = %e, id, "watcher skips a sync it cannot read");
        }
        again
    }

    fn post_failed(&self, channel: &Principal, instance: &str, id: u64) -> bool {
        bump(&self.posts, (channel.clone(), instance.to_string(), id))
    }

    fn post_done(&self, channel: &Principal, instance: &str, id: u64) {
        let mut map = self.posts.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&(channel.clone(), instance.to_string(), id));
    }
}

/// The tag (and delivery id) of a sync's announcement in one channel.
pub fn announcement_tag(
    channel: &Principal,
    instance: &str,
    connector_id: &str,
    sync: u64,
) -> String {
    format!(
        "sync-{instance}-{connector_id}-{sync}-{}-{}",
        channel.platform.as_str(),
        channel.id
    )
}

/// A finished sync, with the connector and the client of its instance.
#[derive(Clone, Copy)]
pub struct Finished<'a> {
    pub client: &'a UserSyncClient,
    pub connector: &'a Connector,
    pub sync: &'a SyncStatus,
}

impl Watcher {
    /// Announces one finished sync to everyone who asked; `false` when a post failed and
    /// should be tried again at the next look.
    pub(super) async fn announce(&self, f: Finished<'_>, subscriptions: &[Subscription]) -> bool {
        let (instance, c, s) = (f.client.instance(), f.connector, f.sync);
        let mut all_done = true;
        for (channel, reason) in audience(&self.routes, subscriptions, instance, c, s) {
            if let Err(retry) = self.announce_to(f, &channel, &reason).await {
                all_done &= !retry;
            }
        }
        all_done
    }

    /// Announces a sync in one channel, once. `Err(true)` asks for another try later.
    async fn announce_to(
        &self,
        f: Finished<'_>,
        channel: &Principal,
        reason: &Reason,
    ) -> Result<(), bool> {
        let (instance, c, s) = (f.client.instance(), f.connector, f.sync);
        let done = self
            .store
            .announced(channel.platform, &channel.id, instance, &c.unique_id)
            .await
            .map_err(|_| true)?;
        if done.is_some_and(|d| d >= s.id) {
            return Ok(());
        }
        if self.job_posted(instance, c, s, channel).await {
            tracing::debug!(sync = s.id, channel = %channel, "outcome already posted by the job");
        } else {
            if !self.may_post().await {
                // Another replica runs the watcher now: it announces this sync.
                return Err(true);
            }
            let late = self.late(s);
            let message = announcement(instance, c, s, reason, late, &self.slash_command);
            let tag = announcement_tag(channel, instance, &c.unique_id, s.id);
            self.post(instance, s.id, channel, &message, &tag).await?;
        }
        self.store
            .set_announced(channel.platform, &channel.id, instance, &c.unique_id, s.id)
            .await
            .map_err(|_| true)
    }

    /// Posts the announcement of sync `id`; `Err(true)` while a failing post is worth
    /// trying again.
    async fn post(
        &self,
        instance: &str,
        id: u64,
        channel: &Principal,
        message: &Message,
        tag: &str,
    ) -> Result<(), bool> {
        match self.post_once_counted(channel, message, tag).await {
            Ok(()) => {
                self.attempts.post_done(channel, instance, id);
                Ok(())
            }
            Err(e) => {
                if self.attempts.post_failed(channel, instance, id) {
                    tracing::warn!(error = %e, channel = %channel, sync = id, "notification not posted; will try again");
                    return Err(true);
                }
                tracing::error!(error = %e, channel = %channel, sync = id, "notification could not be posted; giving up");
                Ok(())
            }
        }
    }

    /// When the sync finished, if that was before the bot started. Products give the
    /// time to the second, so the start is compared at that precision too: a sync that
    /// ended in the second the bot started is not called late.
    fn late(&self, s: &SyncStatus) -> Option<DateTime<Utc>> {
        let started = self.started_at.trunc_subsecs(0);
        s.last_modified
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| *t < started)
    }

    /// Whether a job started from chat already posted (or will post) this sync's outcome
    /// to this channel.
    async fn job_posted(
        &self,
        instance: &str,
        c: &Connector,
        s: &SyncStatus,
        channel: &Principal,
    ) -> bool {
        self.store.recent_jobs(200).await.is_ok_and(|jobs| {
            jobs.iter().any(|j| {
                let same_place = j.kind == JobKind::Sync
                    && j.instance == instance
                    && j.connector_id == c.unique_id
                    && j.platform == channel.platform
                    && j.channel_id == channel.id;
                // A job that has not yet seen its sync may be following this one.
                let this_sync = j.sync_id == Some(s.id)
                    || (j.sync_id.is_none()
                        && j.state == JobState::Following
                        && j.baseline_sync_id.is_none_or(|b| b < s.id));
                same_place
                    && this_sync
                    && (j.state == JobState::Following || j.delivery != Delivery::Undeliverable)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_tried_again_until_the_limit_then_given_up_once() {
        let a = Attempts::default();
        let e = UserSyncError::Timeout {
            instance: "jira".into(),
            timeout: std::time::Duration::from_secs(1),
        };
        let tries: Vec<bool> = (0..MAX_ATTEMPTS + 1)
            .map(|_| a.gap_failed("jira", 7, &e))
            .collect();
        assert_eq!(
            tries,
            [true, true, false, true],
            "the count starts again after giving up"
        );
    }
}

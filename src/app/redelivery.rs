//! Re-delivery memory: a request that arrives again (same `trigger_id`) gets the first
//! answer and runs nothing. Decided here for every command: in memory for the first answer,
//! and in the store for commands that change something, so that not even a restart runs
//! them twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::app::App;
use crate::domain::{Invocation, Platform};
use crate::reply::error::StoreAction;
use crate::reply::CommandError;
use crate::store::Store;

/// How long a delivery is remembered in memory: past Slack's five-minute signature
/// window a replay is refused anyway.
const DELIVERY_MEMORY: Duration = Duration::from_secs(600);
/// Deliveries remembered before old ones are pruned.
const DELIVERY_MEMORY_SIZE: usize = 10_000;
/// What the in-memory delivery memory knows of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sighting {
    /// Never seen: go ahead.
    First,
    /// Seen before; the reply given then, if it was answered inline.
    Repeat(Option<Bytes>),
}

/// Deliveries seen recently, with the reply each got, so that a re-delivered request
/// gets the same answer without running again. One map per platform, keyed by the
/// trigger id itself, so that a look-up allocates nothing.
#[derive(Debug, Default)]
pub struct Deliveries {
    seen: Mutex<[Seen; 2]>,
}

type Seen = HashMap<String, (Instant, Option<Bytes>)>;

fn index(platform: Platform) -> usize {
    match platform {
        Platform::Slack => 0,
        Platform::Mattermost => 1,
    }
}

/// Makes room in a full memory: drops what is past the window, else the oldest half.
fn prune(seen: &mut Seen) {
    let now = Instant::now();
    seen.retain(|_, (at, _)| now.duration_since(*at) < DELIVERY_MEMORY);
    if seen.len() >= DELIVERY_MEMORY_SIZE {
        let mut ages: Vec<Instant> = seen.values().map(|(at, _)| *at).collect();
        ages.sort();
        let cutoff = ages[ages.len() / 2];
        seen.retain(|_, (at, _)| *at > cutoff);
    }
}

impl Deliveries {
    pub fn sight(&self, platform: Platform, trigger_id: &str) -> Sighting {
        let mut all = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let seen = &mut all[index(platform)];
        if let Some((_, reply)) = seen.get(trigger_id) {
            return Sighting::Repeat(reply.clone());
        }
        if seen.len() >= DELIVERY_MEMORY_SIZE {
            prune(seen);
        }
        seen.insert(trigger_id.to_string(), (Instant::now(), None));
        Sighting::First
    }

    /// The reply a delivery seen before got, if it is known here; records nothing.
    pub fn reply_of(&self, platform: Platform, trigger_id: &str) -> Option<Bytes> {
        let all = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        all[index(platform)]
            .get(trigger_id)
            .and_then(|(_, reply)| reply.clone())
    }

    pub fn remember_reply(&self, platform: Platform, trigger_id: &str, reply: Bytes) {
        let mut all = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = all[index(platform)].get_mut(trigger_id) {
            entry.1 = Some(reply);
        }
    }

    /// Forgets a delivery, so that its next arrival is seen as the first here: for one
    /// whose answer here held only for now (the store still guards it from running twice).
    pub fn forget(&self, platform: Platform, trigger_id: &str) {
        let mut all = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        all[index(platform)].remove(trigger_id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let all = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        all.iter().map(HashMap::len).sum()
    }
}

/// Claims the delivery of a command that changes something, in the store, so that not
/// even a restart (or another replica) runs it twice. `Ok(false)`: it ran before.
pub async fn claim(app: &App, inv: &Invocation) -> Result<bool, CommandError> {
    let Some(trigger) = inv.trigger_id.as_deref() else {
        return Ok(true);
    };
    app.store
        .claim_delivery(inv.platform, trigger, app.owner())
        .await
        .map_err(|e| CommandError::store(StoreAction::ClaimDelivery, e))
}

/// How long a delivery is remembered in the store, and how often old ones are dropped.
const DELIVERY_RETENTION: chrono::Duration = chrono::Duration::days(1);
const DELIVERY_CLEANUP_EVERY: Duration = Duration::from_secs(3600);

/// How long a post made once is remembered: far longer than a job's outcome or an
/// announcement can wait to be posted after a restart.
const POST_RETENTION: chrono::Duration = chrono::Duration::days(7);

/// Drops stored deliveries older than a day, and posts made once older than a week,
/// hourly: re-deliveries come within minutes.
pub(super) async fn forget_old_deliveries(store: Arc<dyn Store>) {
    loop {
        match store
            .forget_deliveries_before(chrono::Utc::now() - DELIVERY_RETENTION)
            .await
        {
            Ok(n) if n > 0 => tracing::debug!(forgotten = n, "old deliveries dropped"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot drop old deliveries"),
        }
        match store
            .forget_posts_before(chrono::Utc::now() - POST_RETENTION)
            .await
        {
            Ok(n) if n > 0 => tracing::debug!(forgotten = n, "old posts made once dropped"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot drop old posts made once"),
        }
        tokio::time::sleep(DELIVERY_CLEANUP_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_first_once_then_a_repeat_with_its_reply() {
        let d = Deliveries::default();
        assert_eq!(d.sight(Platform::Slack, "t1"), Sighting::First);
        assert_eq!(d.sight(Platform::Slack, "t1"), Sighting::Repeat(None));
        d.remember_reply(Platform::Slack, "t1", Bytes::from_static(b"{}"));
        assert_eq!(
            d.sight(Platform::Slack, "t1"),
            Sighting::Repeat(Some(Bytes::from_static(b"{}")))
        );
        assert_eq!(d.sight(Platform::Mattermost, "t1"), Sighting::First);
        assert_eq!(
            d.reply_of(Platform::Slack, "t1"),
            Some(Bytes::from_static(b"{}"))
        );
        assert_eq!(d.reply_of(Platform::Slack, "t2"), None);
        assert_eq!(
            d.sight(Platform::Slack, "t2"),
            Sighting::First,
            "a look records nothing"
        );
        d.forget(Platform::Slack, "t1");
        assert_eq!(d.sight(Platform::Slack, "t1"), Sighting::First, "forgotten");
        assert_eq!(
            d.sight(Platform::Mattermost, "t1"),
            Sighting::Repeat(None),
            "only on that platform"
        );
    }

    #[test]
    fn the_memory_stays_bounded() {
        let d = Deliveries::default();
        for i in 0..(DELIVERY_MEMORY_SIZE * 2) {
            d.sight(Platform::Slack, &i.to_string());
        }
        assert!(d.len() <= DELIVERY_MEMORY_SIZE);
    }
}

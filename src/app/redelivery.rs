//! Re-delivery memory: a request that arrives again (same `trigger_id`) gets the first
//! answer and runs nothing. Decided here for every command: in memory for the first answer,
//! and in the store for commands that change something, so that not even a restart runs
//! them twice.

use std::collections::{HashMap, VecDeque};
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
/// Deliveries remembered at most (per platform), oldest forgotten first.
const DELIVERY_MEMORY_SIZE: usize = 10_000;
/// The bytes of the replies remembered at most (per platform), oldest forgotten first:
/// a flood of fresh commands cannot grow the memory past it. A reply shared by every
/// caller (help) costs nothing here, it is kept anyway.
const DELIVERY_MEMORY_BYTES: usize = 4 << 20;

/// What the in-memory delivery memory knows of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sighting {
    /// Never seen: go ahead.
    First,
    /// Seen before; the reply given then, if it was answered inline.
    Repeat(Option<Bytes>),
}

/// Deliveries seen recently, with the reply each got, so that a re-delivered request
/// gets the same answer without running again. One memory per platform, keyed by the
/// trigger id itself, so that a look-up allocates nothing.
///
/// Forgetting a delivery early is safe: a command that changes something is claimed in
/// the store as well (and its answer kept there), so it never runs twice; a read runs
/// again and answers afresh.
#[derive(Debug, Default)]
pub struct Deliveries {
    seen: Mutex<[Seen; 2]>,
}

#[derive(Debug, Default)]
struct Seen {
    replies: HashMap<Arc<str>, Remembered>,
    /// Every sighting in the order it came, to forget the oldest first. One whose
    /// delivery was forgotten and seen again since is skipped (its `at` differs).
    order: VecDeque<(Arc<str>, Instant)>,
    /// The bytes of the replies in `replies` that are not shared.
    bytes: usize,
}

#[derive(Debug)]
struct Remembered {
    at: Instant,
    reply: Option<Bytes>,
    /// The bytes it counts for in [`DELIVERY_MEMORY_BYTES`].
    cost: usize,
}

fn index(platform: Platform) -> usize {
    match platform {
        Platform::Slack => 0,
        Platform::Mattermost => 1,
    }
}

impl Seen {
    fn remove(&mut self, trigger_id: &str) {
        if let Some(gone) = self.replies.remove(trigger_id) {
            self.bytes -= gone.cost;
        }
    }

    /// Forgets the oldest deliveries while the memory is over a bound, or they are past
    /// the window. A constant amount of work per sighting, not a sweep.
    fn trim(&mut self, now: Instant) {
        while let Some((_, at)) = self.order.front() {
            let over = self.replies.len() > DELIVERY_MEMORY_SIZE
                || self.bytes > DELIVERY_MEMORY_BYTES
                || self.order.len() > 2 * DELIVERY_MEMORY_SIZE
                || now.duration_since(*at) >= DELIVERY_MEMORY;
            if !over {
                break;
            }
            let Some((trigger, at)) = self.order.pop_front() else {
                break;
            };
            if self.replies.get(&*trigger).is_some_and(|r| r.at == at) {
                self.remove(&trigger);
            }
        }
    }
}

impl Deliveries {
    pub fn sight(&self, platform: Platform, trigger_id: &str) -> Sighting {
        let mut all = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let seen = &mut all[index(platform)];
        let now = Instant::now();
        if let Some(known) = seen.replies.get(trigger_id) {
            if now.duration_since(known.at) < DELIVERY_MEMORY {
                return Sighting::Repeat(known.reply.clone());
            }
        }
        seen.remove(trigger_id);
        let trigger: Arc<str> = Arc::from(trigger_id);
        seen.replies.insert(
            trigger.clone(),
            Remembered {
                at: now,
                reply: None,
                cost: 0,
            },
        );
        seen.order.push_back((trigger, now));
        seen.trim(now);
        Sighting::First
    }

    /// The reply a delivery seen before got, if it is known here; records nothing.
    pub fn reply_of(&self, platform: Platform, trigger_id: &str) -> Option<Bytes> {
        let all = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        all[index(platform)]
            .replies
            .get(trigger_id)
            .and_then(|r| r.reply.clone())
    }

    /// Keeps the reply a delivery got. `shared`: the same bytes are kept elsewhere for
    /// every caller (a rendered help), so they cost this memory nothing.
    pub fn remember_reply(&self, platform: Platform, trigger_id: &str, reply: Bytes, shared: bool) {
        let mut all = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let seen = &mut all[index(platform)];
        let Some(entry) = seen.replies.get_mut(trigger_id) else {
            return;
        };
        let cost = if shared { 0 } else { reply.len() };
        seen.bytes = seen.bytes - entry.cost + cost;
        entry.cost = cost;
        entry.reply = Some(reply);
        seen.trim(Instant::now());
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
        all.iter().map(|s| s.replies.len()).sum()
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        let all = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        all.iter().map(|s| s.bytes).sum()
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
        d.remember_reply(Platform::Slack, "t1", Bytes::from_static(b"{}"), false);
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
    fn the_memory_stays_bounded_and_forgets_the_oldest_first() {
        let d = Deliveries::default();
        for i in 0..(DELIVERY_MEMORY_SIZE * 2) {
            d.sight(Platform::Slack, &i.to_string());
        }
        assert_eq!(d.len(), DELIVERY_MEMORY_SIZE);
        assert_eq!(
            d.sight(Platform::Slack, "0"),
            Sighting::First,
            "the oldest went"
        );
        let newest = (DELIVERY_MEMORY_SIZE * 2 - 1).to_string();
        assert_eq!(d.sight(Platform::Slack, &newest), Sighting::Repeat(None));
    }

    #[test]
    fn the_replies_kept_stay_within_their_bytes_and_shared_ones_cost_nothing() {
        let d = Deliveries::default();
        let reply = Bytes::from(vec![b'x'; 1000]);
        let fit = DELIVERY_MEMORY_BYTES / 1000;
        for i in 0..fit + 100 {
            d.sight(Platform::Slack, &format!("own{i}"));
            d.remember_reply(Platform::Slack, &format!("own{i}"), reply.clone(), false);
        }
        assert!(d.bytes() <= DELIVERY_MEMORY_BYTES, "{}", d.bytes());
        assert_eq!(d.len(), fit);
        assert_eq!(
            d.sight(Platform::Slack, "own0"),
            Sighting::First,
            "oldest first"
        );
        let last = format!("own{}", fit + 99);
        assert_eq!(
            d.sight(Platform::Slack, &last),
            Sighting::Repeat(Some(reply.clone()))
        );

        let shared = Deliveries::default();
        for i in 0..fit + 100 {
            shared.sight(Platform::Slack, &format!("help{i}"));
            shared.remember_reply(Platform::Slack, &format!("help{i}"), reply.clone(), true);
        }
        assert_eq!(shared.bytes(), 0);
        assert_eq!(shared.len(), fit + 100, "none forgotten for its bytes");
    }

    #[test]
    fn a_delivery_forgotten_and_seen_again_is_not_dropped_for_its_first_sighting() {
        let d = Deliveries::default();
        d.sight(Platform::Slack, "again");
        d.forget(Platform::Slack, "again");
        for i in 0..DELIVERY_MEMORY_SIZE / 2 {
            d.sight(Platform::Slack, &i.to_string());
        }
        assert_eq!(d.sight(Platform::Slack, "again"), Sighting::First);
        d.remember_reply(Platform::Slack, "again", Bytes::from_static(b"{}"), false);
        // Enough newer sightings to push the first "again" out of the queue, not the second.
        for i in DELIVERY_MEMORY_SIZE / 2..DELIVERY_MEMORY_SIZE {
            d.sight(Platform::Slack, &i.to_string());
        }
        assert_eq!(
            d.sight(Platform::Slack, "again"),
            Sighting::Repeat(Some(Bytes::from_static(b"{}")))
        );
    }
}

//! One watcher in the cluster: the replica holding the store's `watcher` lease looks and
//! announces; the others stay idle but ready, and try for the lease every second (every
//! quarter of `[cluster] lease` if that is shorter). The lease carries a fencing number that grows each time it changes
//! hands: before every post (and the bookkeeping that follows it) the leader checks in
//! the store that it still holds the lease with its number, for longer than a post takes
//! — so a replica that paused and lost the lease cannot announce afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Watcher;
use crate::store::Claim;

/// The lease's name in the store.
pub const WATCHER_LEASE: &str = "watcher";

/// The lease as this replica last confirmed it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Leadership {
    fence: i64,
    /// The moment the confirming request was sent, plus the lease.
    valid_until: Instant,
}

impl Watcher {
    /// How long the lease must still be good for a post to go out.
    fn post_margin(&self) -> Duration {
        self.replica.post_margin()
    }

    /// The fencing number, while this replica holds the lease (as last confirmed) for
    /// longer than a post takes.
    pub(super) fn fence(&self) -> Option<i64> {
        let leader = *self.leader.lock().unwrap_or_else(|p| p.into_inner());
        leader
            .filter(|l| Instant::now() + self.post_margin() < l.valid_until)
            .map(|l| l.fence)
    }

    /// Whether this replica runs the watcher now.
    pub fn is_leader(&self) -> bool {
        self.fence().is_some()
    }

    /// Whether this replica may post now: it holds the lease with its fencing number, as
    /// the store says, for longer than a post takes.
    pub(super) async fn may_post(&self) -> bool {
        let Some(fence) = self.fence() else {
            return false;
        };
        match self
            .store
            .lease_held(
                WATCHER_LEASE,
                &self.replica.owner,
                fence,
                self.post_margin(),
            )
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the watcher's lease; not posting");
                false
            }
        }
    }

    /// Takes or renews the lease; on taking it, the watch loops look at once.
    pub(super) async fn campaign(&self, claim: Claim) {
        let asked = Instant::now();
        let acquired = self
            .store
            .acquire_lease(
                WATCHER_LEASE,
                &self.replica.owner,
                self.replica.ttl(),
                claim,
            )
            .await;
        let mut leader = self.leader.lock().unwrap_or_else(|p| p.into_inner());
        match acquired {
            Ok(Some(fence)) => {
                if leader.is_none_or(|l| l.fence != fence) {
                    tracing::info!(fence, owner = %self.replica.owner, "this replica runs the watcher");
                    self.leading.send_modify(|n| *n += 1);
                }
                *leader = Some(Leadership {
                    fence,
                    valid_until: asked + self.replica.ttl(),
                });
            }
            Ok(None) => {
                if leader.take().is_some() {
                    tracing::warn!("another replica runs the watcher now");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot renew the watcher's lease"),
        }
    }

    /// Renews the lease every quarter of it while this replica holds it, else tries for it
    /// every second (or quarter, if shorter), until the watcher stops.
    pub(super) async fn lead(self: Arc<Self>) {
        let mut shutdown = self.shutdown_tx.subscribe();
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.replica.claim_every()) => {}
                _ = shutdown.changed() => return,
            }
            let holding = self
                .leader
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some();
            if !holding || self.replica.renewal_due(renewed.elapsed()) {
                renewed = Instant::now();
                self.campaign(Claim::Expired).await;
            }
        }
    }
}

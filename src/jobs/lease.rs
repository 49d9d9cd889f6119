//! Several replicas, one job each: a replica follows only the jobs whose lease it holds in
//! the store. A background task renews them every quarter of `[cluster] lease` and, every
//! second (or quarter, if shorter), claims the open jobs nobody holds (a replica died, or
//! stopped and released them); a job whose lease is lost stops being followed here and
//! posts nothing more from here.
//!
//! Times of leases are the database's; this process only measures, on its monotonic
//! clock, how long ago a lease was last confirmed, and counts a lease as good until the
//! moment the confirming request was sent plus the lease — never longer than the
//! database does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::Jobs;
use crate::store::{Claim, JobRecord, JobState, StoreError};

/// A job this replica holds: how to stop its task, and until when its lease is good.
#[derive(Debug)]
struct Held {
    stop: watch::Sender<bool>,
    valid_until: Instant,
    /// Tells this holding from a later one of the same job (after a loss and a claim).
    generation: u64,
}

/// The jobs this replica holds, by id.
#[derive(Debug, Default)]
pub(super) struct HeldJobs {
    jobs: std::sync::Mutex<HashMap<i64, Held>>,
    next_generation: std::sync::atomic::AtomicU64,
    /// The held jobs being followed now (the others are delivering their outcome).
    following: std::sync::atomic::AtomicUsize,
}

/// Counts a job as followed while it lives.
struct Following<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Following<'a> {
    fn start(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Following(count)
    }
}

impl Drop for Following<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl HeldJobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Held>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.lock().keys().copied().collect();
        ids.sort_unstable();
        ids
    }
}

/// Removes a job from the held ones when its task ends, however it ends.
struct Release {
    jobs: Arc<Jobs>,
    id: i64,
    generation: u64,
}

impl Drop for Release {
    fn drop(&mut self) {
        let mut held = self.jobs.held.lock();
        if held
            .get(&self.id)
            .is_some_and(|h| h.generation == self.generation)
        {
            held.remove(&self.id);
        }
    }
}

impl Jobs {
    /// How long the lease of a job must still be good for a post to go out: longer than a
    /// post takes, so that nobody else can have taken the job when it lands.
    pub(super) fn post_margin(&self) -> Duration {
        self.replica.post_margin()
    }

    /// Whether this replica holds the job's lease for at least `margin` more.
    pub(super) fn holds(&self, id: i64, margin: Duration) -> bool {
        self.held
            .lock()
            .get(&id)
            .is_some_and(|h| Instant::now() + margin < h.valid_until)
    }

    /// How many jobs this replica follows or delivers.
    pub fn held_count(&self) -> usize {
        self.held.lock().len()
    }

    /// How many of them it is following now (polling their sync).
    pub fn followed_count(&self) -> usize {
        self.held
            .following
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Follows (or delivers) a job whose lease was taken at `asked` (when the request that
    /// took it was sent), unless a task of this replica already does.
    pub(super) fn spawn_held(self: &Arc<Self>, job: JobRecord, asked: Instant) {
        let valid_until = asked + self.replica.ttl();
        let (stop, stopped) = watch::channel(false);
        let generation = {
            let mut held = self.held.lock();
            if let Some(h) = held.get_mut(&job.id) {
                h.valid_until = valid_until;
                return;
            }
            let generation = self
                .held
                .next_generation
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            held.insert(
                job.id,
                Held {
                    stop,
                    valid_until,
                    generation,
                },
            );
            generation
        };
        let release = Release {
            jobs: self.clone(),
            id: job.id,
            generation,
        };
        let jobs = self.clone();
        tokio::spawn(async move {
            let _release = release;
            if job.state == JobState::Following {
                let _following = Following::start(&jobs.held.following);
                jobs.clone().follow(job, stopped).await;
            } else {
                jobs.redeliver(job, stopped).await;
            }
        });
    }

    /// Takes the open jobs nobody holds and starts following (or delivering) them.
    pub(super) async fn claim(self: &Arc<Self>, claim: Claim) -> Result<usize, StoreError> {
        let asked = Instant::now();
        let claimed = self
            .store
            .claim_jobs(&self.replica.owner, self.replica.ttl(), claim)
            .await?;
        let n = claimed.len();
        for job in claimed {
            if *self.shutdown.borrow() {
                // Stopping: the lease is released with the others.
                continue;
            }
            tracing::info!(
                job = job.id,
                owner = %self.replica.owner,
                "took over a job nobody held"
            );
            self.spawn_held(job, asked);
        }
        Ok(n)
    }

    /// Says in the store that this replica is alive for a lease's ttl: work it claimed
    /// and left unanswered is "on its way" to the others while it beats, cut off after.
    pub(crate) async fn beat(&self) {
        if let Err(e) = self
            .store
            .beat(&self.replica.owner, self.replica.ttl())
            .await
        {
            tracing::warn!(error = %e, "cannot tell the store this replica is alive");
        }
    }

    /// Renews the leases of the jobs held here; stops following those lost.
    async fn renew(&self) {
        let ids = self.held.ids();
        if ids.is_empty() {
            return;
        }
        let asked = Instant::now();
        let kept = match self
            .store
            .renew_job_leases(&self.replica.owner, &ids, self.replica.ttl())
            .await
        {
            Ok(kept) => Some(kept),
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the leases of jobs");
                None
            }
        };
        let now = Instant::now();
        let mut held = self.held.lock();
        held.retain(|id, h| {
            let keep = match &kept {
                Some(kept) if kept.binary_search(id).is_ok() => {
                    h.valid_until = asked + self.replica.ttl();
                    true
                }
                Some(_) => false,
                // Not confirmed: good until its last confirmation runs out.
                None => now < h.valid_until,
            };
            if !keep {
                tracing::warn!(
                    job = id,
                    "lost the lease of a job; another replica follows it"
                );
                let _ = h.stop.send(true);
            }
            keep
        });
    }

    /// Renews every quarter of the lease and claims free jobs every second (or quarter,
    /// if shorter), until the engine stops.
    pub(super) async fn keep_leases(self: Arc<Self>) {
        let mut shutdown = self.shutdown.clone();
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.replica.claim_every()) => {}
                _ = shutdown.changed() => return,
            }
            if self.replica.renewal_due(renewed.elapsed()) {
                renewed = Instant::now();
                self.beat().await;
                self.renew().await;
            }
            if *self.shutdown.borrow() {
                return;
            }
            if let Err(e) = self.claim(Claim::Expired).await {
                tracing::warn!(error = %e, "cannot claim jobs");
            }
        }
    }

    /// Stops following and hands the jobs over: the follow tasks end at their next step
    /// (a post under way is finished), then every lease of this replica whose task has
    /// ended is released at once, so that another replica takes the job over at its next
    /// claim. A task still running after `within` keeps its lease, which then runs out.
    pub async fn stop_and_release(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let _ = self.shutdown_tx.send(true);
        let renewer = self
            .lease_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut renewer) = renewer {
            if tokio::time::timeout_at(deadline, &mut renewer)
                .await
                .is_err()
            {
                renewer.abort();
            }
        }
        while self.held_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let keep = self.held.ids();
        match self
            .store
            .release_job_leases(&self.replica.owner, &keep)
            .await
        {
            Ok(n) if n > 0 => tracing::info!(jobs = n, "released the leases of jobs"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot release the leases of jobs"),
        }
    }
}

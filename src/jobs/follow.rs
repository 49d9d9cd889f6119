//! Following one sync job: a pure step — (job record, observation) → what it means — and
//! a thin loop around it that waits on the connector's shared poller.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::poller::Observation;
use super::Jobs;
use crate::reply;
use crate::store::{JobRecord, JobState};
use tokio::sync::watch;

use crate::usersync::{SyncStatus, UserSyncClient, UserSyncError};

/// Failed polls in a row before the channel is told the bot has trouble following.
pub const REPORT_AFTER_FAILURES: u32 = 5;
/// The shortest gap between two progress updates.
const PROGRESS_MIN_GAP: Duration = Duration::from_secs(20);

/// What one observation of the connector means for a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// Nothing to do until the next observation.
    Nothing,
    /// Polls keep failing: tell the channel, once.
    Trouble(UserSyncError, u32),
    /// The followed sync's record (on first sight, the job takes its id).
    Status(Box<SyncStatus>),
    /// Our sync ended and a newer one started between two polls: read ours by id.
    FetchOwn(u64),
}

/// Reads an observation for a job. Pure: the loop does what it says.
pub fn read(job: &JobRecord, obs: &Observation, trouble_reported: bool) -> Seen {
    let latest = match &obs.status {
        Ok(s) => s,
        Err(UserSyncError::NotFound { .. }) if job.sync_id.is_none() => return Seen::Nothing,
        Err(e) if obs.failures >= REPORT_AFTER_FAILURES && !trouble_reported => {
            return Seen::Trouble(e.clone(), obs.failures)
        }
        Err(_) => return Seen::Nothing,
    };
    match job.sync_id {
        None if job.baseline_sync_id.is_none_or(|b| latest.id > b) => {
            Seen::Status(Box::new(latest.clone()))
        }
        None => Seen::Nothing,
        Some(id) if latest.id == id => Seen::Status(Box::new(latest.clone())),
        Some(id) if latest.id > id => Seen::FetchOwn(id),
        Some(_) => Seen::Nothing,
    }
}

/// What to do with the followed sync's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// It ended: post the outcome.
    Finish,
    /// It moved on since the last progress update, long enough ago: update progress.
    Progress,
    Quiet,
}

/// What progress shows; a new update is due only when this changes.
pub fn progress_key(s: &SyncStatus) -> String {
    format!(
        "{}:{}:{}",
        s.status,
        s.result_count.unwrap_or(0),
        s.failed_count.unwrap_or(0)
    )
}

/// Decides on a record, given the last progress update (its key and how long ago).
pub fn next(s: &SyncStatus, last_progress: Option<(&str, Duration)>) -> Next {
    if s.status.is_terminal() {
        return Next::Finish;
    }
    let due =
        last_progress.is_none_or(|(key, ago)| key != progress_key(s) && ago >= PROGRESS_MIN_GAP);
    if due {
        Next::Progress
    } else {
        Next::Quiet
    }
}

/// What woke the follow loop.
enum Wake {
    Observed(Box<Observation>),
    /// The start window ended and the job has no sync yet.
    StartWindow,
    Deadline,
    Shutdown,
}

/// One job being followed, with what the loop remembers between observations.
struct Follow {
    job: JobRecord,
    client: UserSyncClient,
    trouble_reported: bool,
    /// When progress was last shown, and what it showed.
    last_progress: Option<(Instant, String)>,
}

impl Jobs {
    /// Follows one sync job to its end: wait, read the observation (pure), act. Ends
    /// early, posting nothing more, when the engine stops or `lost` says the job's lease
    /// went to another replica.
    pub(super) async fn follow(
        self: Arc<Self>,
        mut job: JobRecord,
        mut lost: watch::Receiver<bool>,
    ) {
        let Some(client) = self.client(&job.instance).cloned() else {
            job.state = JobState::Failed;
            job.finished_at = Some(Utc::now());
            let message = reply::jobs::instance_gone(&job);
            self.finish(job, message).await;
            return;
        };
        let waited = (Utc::now() - job.started_at).to_std().unwrap_or_default();
        let deadline = tokio::time::Instant::now() + self.settings.max_wait.saturating_sub(waited);
        // A job with no sync of its own yet looks for one only this long.
        let mut look_by =
            tokio::time::Instant::now() + self.settings.start_window.saturating_sub(waited);
        let mut shutdown = self.shutdown.clone();
        let mut updates = self.pollers.subscribe(&client, &job.connector_id);
        let mut f = Follow {
            job,
            client,
            trouble_reported: false,
            last_progress: None,
        };
        loop {
            let start_by = f.job.sync_id.is_none().then_some(look_by);
            match self
                .wake(
                    &mut f,
                    &mut updates,
                    (&mut shutdown, &mut lost),
                    deadline,
                    start_by,
                )
                .await
            {
                Wake::Observed(obs) => {
                    let Some(current) = self.current(&mut f, &obs).await else {
                        continue;
                    };
                    if self.advance(&mut f, current).await {
                        return;
                    }
                }
                Wake::StartWindow => match self.look_for_start(&f).await {
                    Some(Ok(current)) => {
                        if self.advance(&mut f, current).await {
                            return;
                        }
                    }
                    Some(Err(())) => return self.not_started(f.job).await,
                    // The product cannot say now: look again after a poll interval.
                    None => look_by = tokio::time::Instant::now() + self.settings.poll_interval,
                },
                Wake::Deadline => {
                    // Taken over past its deadline (its replica was killed), a job's sync
                    // may have ended meanwhile, or started unrecorded: one look first, so
                    // that it gets its outcome rather than "still running".
                    if let Some(ended) = self.last_look(&f).await.filter(|s| s.status.is_terminal())
                    {
                        if self.advance(&mut f, ended).await {
                            return;
                        }
                    }
                    return self.time_out(f.job).await;
                }
                Wake::Shutdown => return,
            }
        }
    }

    /// Waits for the connector's next observation, the deadline, shutdown, or the loss of
    /// the job's lease.
    async fn wake(
        &self,
        f: &mut Follow,
        updates: &mut watch::Receiver<Option<Observation>>,
        (shutdown, lost): (&mut watch::Receiver<bool>, &mut watch::Receiver<bool>),
        deadline: tokio::time::Instant,
        start_by: Option<tokio::time::Instant>,
    ) -> Wake {
        let start_window = async {
            match start_by {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(start_window);
        loop {
            tokio::select! {
                _ = &mut start_window => return Wake::StartWindow,
                changed = updates.changed() => {
                    if changed.is_err() {
                        // The poller ended (no subscriber for a moment): join a new one.
                        *updates = self.pollers.subscribe(&f.client, &f.job.connector_id);
                        continue;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return Wake::Deadline,
                _ = shutdown.changed() => return Wake::Shutdown,
                _ = lost.changed() => return Wake::Shutdown,
            }
            if let Some(observation) = updates.borrow_and_update().clone() {
                return Wake::Observed(Box::new(observation));
            }
        }
    }

    /// The followed sync's record in an observation, if it holds one; tells the channel
    /// once when polls keep failing.
    async fn current(&self, f: &mut Follow, obs: &Observation) -> Option<SyncStatus> {
        match read(&f.job, obs, f.trouble_reported) {
            Seen::Nothing => None,
            Seen::Trouble(e, failures) => {
                f.trouble_reported = true;
                if !self.holds(f.job.id, self.post_margin()) {
                    return None;
                }
                let message = reply::jobs::trouble(&f.job, &e, failures, self.settings.max_wait);
                // One post stays reserved for the outcome.
                self.post(&mut f.job, &message, 1, None).await.ok();
                None
            }
            Seen::Status(s) => Some(*s),
            Seen::FetchOwn(id) => match f.client.sync_status(id).await {
                Ok(own) => Some(own),
                Err(e) => {
                    tracing::warn!(job = f.job.id, error = %e, "cannot read the followed sync");
                    None
                }
            },
        }
    }

    /// Records what was seen and shows progress or the outcome; `true` once it ended here
    /// (or its lease was lost).
    async fn advance(&self, f: &mut Follow, current: SyncStatus) -> bool {
        f.job.sync_id.get_or_insert(current.id);
        let seen = serde_json::to_value(&current).ok();
        if seen != f.job.last_status {
            f.job.last_status = seen;
            if !self.save(&mut f.job).await {
                return true;
            }
        }
        let last = f
            .last_progress
            .as_ref()
            .map(|(at, k)| (k.as_str(), at.elapsed()));
        match next(&current, last) {
            Next::Finish => {
                let (message, users) = self.outcome(&f.client, &f.job, &current).await;
                f.job.state = JobState::Done;
                f.job.finished_at = Some(Utc::now());
                let job = self.finish(f.job.clone(), message).await;
                self.protect_check(&f.client, job, &current, users.as_deref())
                    .await;
                return true;
            }
            Next::Progress if self.holds(f.job.id, self.post_margin()) => {
                if !self.progress(&mut f.job, &current).await {
                    return true;
                }
                f.last_progress = Some((Instant::now(), progress_key(&current)));
            }
            Next::Progress => {}
            Next::Quiet => {}
        }
        false
    }

    /// At the end of the start window, asks the product directly: `Ok` with a sync newer
    /// than the baseline (it started after all), `Err` when there is none (it did not
    /// start), `None` when the product cannot be asked now.
    async fn look_for_start(&self, f: &Follow) -> Option<Result<SyncStatus, ()>> {
        match f.client.last_sync_status(&f.job.connector_id).await {
            Ok(latest) if f.job.baseline_sync_id.is_none_or(|b| latest.id > b) => Some(Ok(latest)),
            Ok(_) | Err(UserSyncError::NotFound { .. }) => Some(Err(())),
            Err(e) => {
                tracing::warn!(job = f.job.id, error = %e, "cannot tell whether the sync started; asking again");
                None
            }
        }
    }

    /// The job's sync as the product has it now: its own, or the one after the baseline
    /// when none was recorded.
    async fn last_look(&self, f: &Follow) -> Option<SyncStatus> {
        match f.job.sync_id {
            None => self.look_for_start(f).await.and_then(Result::ok),
            Some(id) => f.client.sync_status(id).await.ok(),
        }
    }

    async fn not_started(&self, mut job: JobRecord) {
        tracing::warn!(job = job.id, "no sync started within the start window");
        let message =
            reply::jobs::did_not_start(&job, self.settings.start_window, &self.slash_command);
        job.state = JobState::Failed;
        job.finished_at = Some(Utc::now());
        self.finish(job, message).await;
    }

    async fn time_out(&self, mut job: JobRecord) {
        let message = reply::jobs::timed_out(&job, self.settings.max_wait, &self.slash_command);
        job.state = JobState::TimedOut;
        job.finished_at = Some(Utc::now());
        self.finish(job, message).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Platform;
    use crate::store::JobKind;

    fn job(sync_id: Option<u64>, baseline: Option<u64>) -> JobRecord {
        let mut j = JobRecord::new(
            JobKind::Sync,
            Platform::Slack,
            "jira",
            "c1",
            "Okta",
            "C1",
            "U1",
        );
        j.sync_id = sync_id;
        j.baseline_sync_id = baseline;
        j
    }

    fn status(id: u64, state: &str) -> SyncStatus {
        serde_json::from_value(serde_json::json!({"id": id, "status": state, "resultCount": 3}))
            .unwrap()
    }

    fn seen(id: u64, state: &str) -> Observation {
        Observation {
            status: Ok(status(id, state)),
            failures: 0,
        }
    }

    fn failing(failures: u32) -> Observation {
        Observation {
            status: Err(UserSyncError::Timeout {
                instance: "jira".into(),
                timeout: Duration::from_secs(1),
            }),
            failures,
        }
    }

    fn not_found() -> Observation {
        Observation {
            status: Err(UserSyncError::NotFound {
                instance: "jira".into(),
                what: "sync".into(),
                message: None,
            }),
            failures: 0,
        }
    }

    #[test]
    fn an_observation_means_what_the_table_says() {
        use Seen::*;
        let running = Box::new(status(8, "RUNNING"));
        let cases: Vec<(JobRecord, Observation, bool, Seen)> = vec![
            (job(None, Some(7)), seen(7, "DONE"), false, Nothing),
            (
                job(None, Some(7)),
                seen(8, "RUNNING"),
                false,
                Status(running.clone()),
            ),
            (
                job(None, None),
                seen(8, "RUNNING"),
                false,
                Status(running.clone()),
            ),
            (
                job(Some(8), None),
                seen(8, "RUNNING"),
                false,
                Status(running.clone()),
            ),
            (job(Some(8), None), seen(9, "RUNNING"), false, FetchOwn(8)),
            (job(Some(8), None), seen(7, "DONE"), false, Nothing),
            (job(None, None), not_found(), false, Nothing),
            (
                job(Some(8), None),
                failing(REPORT_AFTER_FAILURES - 1),
                false,
                Nothing,
            ),
            (
                job(Some(8), None),
                failing(REPORT_AFTER_FAILURES),
                true,
                Nothing,
            ),
        ];
        for (i, (job, obs, reported, expected)) in cases.into_iter().enumerate() {
            assert_eq!(read(&job, &obs, reported), expected, "case {i}");
        }
        assert!(matches!(
            read(&job(Some(8), None), &failing(REPORT_AFTER_FAILURES), false),
            Trouble(_, n) if n == REPORT_AFTER_FAILURES
        ));
    }

    #[test]
    fn progress_is_shown_when_it_changed_and_not_too_often() {
        let s = status(8, "RUNNING");
        let key = progress_key(&s);
        let long = PROGRESS_MIN_GAP;
        let short = Duration::from_secs(1);
        assert_eq!(next(&status(8, "DONE"), None), Next::Finish);
        assert_eq!(next(&s, None), Next::Progress);
        assert_eq!(
            next(&s, Some((key.as_str(), long))),
            Next::Quiet,
            "unchanged"
        );
        assert_eq!(next(&s, Some(("other", short))), Next::Quiet, "too soon");
        assert_eq!(next(&s, Some(("other", long))), Next::Progress);
    }
}

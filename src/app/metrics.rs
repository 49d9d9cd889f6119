//! Counters, exposed at `/metrics` in the Prometheus text format, and the rate-limited
//! log of refused requests.

use std::sync::atomic::{AtomicU64, Ordering};

use super::audit::AuditStats;
use crate::chat::Refusal;
use crate::domain::Platform;
use crate::notify::NotifyMetrics;

/// One counter in the text format.
fn counter_text(name: &str, help: &str, counter: &AtomicU64) -> String {
    format!(
        "# HELP usersync_bot_{name} {help}\n# TYPE usersync_bot_{name} counter\nusersync_bot_{name} {}\n",
        counter.load(Ordering::Relaxed)
    )
}

/// What this replica holds in the cluster, as gauges: the jobs it follows and whether it
/// runs the watcher.
pub fn cluster_gauges(jobs_held: usize, watcher_leader: bool) -> String {
    format!(
        "# HELP usersync_bot_jobs_held Jobs this replica holds the lease of and follows.\n\
         # TYPE usersync_bot_jobs_held gauge\nusersync_bot_jobs_held {jobs_held}\n\
         # HELP usersync_bot_watcher_leader 1 while this replica runs the watcher.\n\
         # TYPE usersync_bot_watcher_leader gauge\nusersync_bot_watcher_leader {}\n",
        u8::from(watcher_leader)
    )
}

/// Counters, exposed at `/metrics` in the Prometheus text format.
#[derive(Debug, Default)]
pub struct Metrics {
    refusals: [[AtomicU64; REFUSALS.len()]; 2],
    pub ssl_checks: AtomicU64,
    pub commands: AtomicU64,
    pub denied: AtomicU64,
    pub invalid: AtomicU64,
    pub duplicates: AtomicU64,
    pub deferred: AtomicU64,
    pub followups_sent: AtomicU64,
    pub followups_failed: AtomicU64,
    /// Button clicks verified and handled, and those of them refused.
    pub clicks: AtomicU64,
    pub clicks_refused: AtomicU64,
    refusal_log: RefusalLog,
}

/// Refusals logged line by line in one second before the rest are only counted.
const REFUSAL_LOG_BURST: u64 = 20;

/// Logs refusals so that a flood of forged requests cannot flood the log: the first few
/// each second get a line each, the rest a summary line with their number. Every one is
/// counted in the metrics either way.
#[derive(Debug, Default)]
struct RefusalLog {
    second: AtomicU64,
    in_second: AtomicU64,
    suppressed: AtomicU64,
}

impl RefusalLog {
    fn log(&self, platform: Platform, refusal: Refusal) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.second.swap(now, Ordering::Relaxed) != now {
            self.in_second.store(0, Ordering::Relaxed);
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            if suppressed > 0 {
                tracing::warn!(
                    suppressed,
                    "more requests were refused than are logged one by one; all are counted in /metrics"
                );
            }
        }
        if self.in_second.fetch_add(1, Ordering::Relaxed) < REFUSAL_LOG_BURST {
            tracing::warn!(
                platform = platform.as_str(),
                reason = refusal.reason(),
                "refused a command request"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

const REFUSALS: [Refusal; Refusal::ALL.len()] = Refusal::ALL;
const PLATFORMS: [Platform; 2] = [Platform::Slack, Platform::Mattermost];

fn platform_index(p: Platform) -> usize {
    match p {
        Platform::Slack => 0,
        Platform::Mattermost => 1,
    }
}

impl Metrics {
    /// Counts and logs a refusal (never with the secret or the body).
    pub fn refused(&self, platform: Platform, refusal: Refusal) {
        let i = REFUSALS.iter().position(|r| *r == refusal).unwrap_or(0);
        self.refusals[platform_index(platform)][i].fetch_add(1, Ordering::Relaxed);
        self.refusal_log.log(platform, refusal);
    }

    pub fn refusals(&self, platform: Platform, refusal: Refusal) -> u64 {
        let i = REFUSALS.iter().position(|r| *r == refusal).unwrap_or(0);
        self.refusals[platform_index(platform)][i].load(Ordering::Relaxed)
    }

    pub fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition of every counter, the watcher's included.
    pub fn render(&self, notify: &NotifyMetrics, audit: &AuditStats) -> String {
        let mut out = String::from(
            "# HELP usersync_bot_refused_total Requests refused before any work, by reason.\n\
             # TYPE usersync_bot_refused_total counter\n",
        );
        for p in PLATFORMS {
            for (i, r) in REFUSALS.iter().enumerate() {
                out.push_str(&format!(
                    "usersync_bot_refused_total{{platform=\"{}\",reason=\"{}\"}} {}\n",
                    p.as_str(),
                    r.metric(),
                    self.refusals[platform_index(p)][i].load(Ordering::Relaxed)
                ));
            }
        }
        for (name, help, counter) in [
            (
                "ssl_checks_total",
                "Slack certificate checks answered.",
                &self.ssl_checks,
            ),
            (
                "commands_total",
                "Verified commands received.",
                &self.commands,
            ),
            (
                "denied_total",
                "Commands denied by role or channel.",
                &self.denied,
            ),
            (
                "invalid_total",
                "Commands that did not parse.",
                &self.invalid,
            ),
            (
                "duplicates_total",
                "Re-delivered requests answered without running again.",
                &self.duplicates,
            ),
            (
                "deferred_total",
                "Replies sent later through response_url.",
                &self.deferred,
            ),
            (
                "followups_sent_total",
                "Follow-up messages delivered.",
                &self.followups_sent,
            ),
            (
                "followups_failed_total",
                "Follow-up messages that could not be delivered.",
                &self.followups_failed,
            ),
            (
                "clicks_total",
                "Verified button clicks handled.",
                &self.clicks,
            ),
            (
                "clicks_refused_total",
                "Button clicks refused (not the requester, used, expired, changed, forged).",
                &self.clicks_refused,
            ),
        ] {
            out.push_str(&counter_text(name, help, counter));
        }
        for (name, help, counter) in [
            (
                "notifications_posted_total",
                "Notifications of finished syncs posted.",
                &notify.posted,
            ),
            (
                "notifications_failed_total",
                "Notification posts that failed.",
                &notify.failed,
            ),
        ] {
            out.push_str(&counter_text(name, help, counter));
        }
        for (name, help, counter) in [
            (
                "audit_rows_written_total",
                "Audit rows committed to the store.",
                &audit.written,
            ),
            (
                "audit_write_failures_total",
                "Audit batches the store refused (each is written again).",
                &audit.write_failures,
            ),
        ] {
            out.push_str(&counter_text(name, help, counter));
        }
        out.push_str(&format!(
            "# HELP usersync_bot_audit_backlog Audit rows waiting to be written.\n# TYPE usersync_bot_audit_backlog gauge\nusersync_bot_audit_backlog {}\n",
            audit.backlog.load(Ordering::Relaxed)
        ));
        out
    }
}

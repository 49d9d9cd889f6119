//! `[jobs]`, `[replies]` and `[watch]`: how long the bot waits, and how often it looks.

use std::time::Duration;

use super::{duration, Problems};
use crate::config::raw::{RawJobs, RawReplies, RawWatch};
use crate::config::{JobsConfig, WatchConfig, DEFAULT_INLINE_BUDGET, DEFAULT_WATCH_INTERVAL};

/// Slack gives up on a slash command after 3 seconds; the reply must be sent before.
const INLINE_BUDGET_LIMIT: Duration = Duration::from_millis(2800);

pub(super) fn jobs(raw: Option<RawJobs>, p: &mut Problems) -> JobsConfig {
    let d = JobsConfig::default();
    let Some(j) = raw else {
        return d;
    };
    JobsConfig {
        poll_interval: duration(
            j.poll_interval.as_deref(),
            "jobs.poll_interval",
            d.poll_interval,
            p,
        ),
        max_wait: duration(j.max_wait.as_deref(), "jobs.max_wait", d.max_wait, p),
        response_url_lifetime: duration(
            j.response_url_lifetime.as_deref(),
            "jobs.response_url_lifetime",
            d.response_url_lifetime,
            p,
        ),
    }
}

/// The inline budget: how long a read may wait before the reply is deferred.
pub(super) fn replies(raw: Option<RawReplies>, p: &mut Problems) -> Duration {
    let text = raw.as_ref().and_then(|r| r.inline_budget.as_deref());
    let budget = duration(text, "replies.inline_budget", DEFAULT_INLINE_BUDGET, p);
    if budget >= INLINE_BUDGET_LIMIT {
        p.push("replies.inline_budget: must stay under Slack's 3 seconds (2.8s at most)");
    }
    budget
}

pub(super) fn watch(raw: Option<RawWatch>, p: &mut Problems) -> WatchConfig {
    let text = raw.as_ref().and_then(|w| w.interval.as_deref());
    WatchConfig {
        interval: duration(text, "watch.interval", DEFAULT_WATCH_INTERVAL, p),
    }
}

//! `[jobs]`, `[replies]` and `[watch]`: how long the bot waits, and how often it looks.

use std::time::Duration;

use super::{duration, Problems};
use crate::config::raw::{RawJobs, RawReplies, RawWatch};
use crate::config::{
    JobsConfig, WatchConfig, DEFAULT_INLINE_BUDGET, DEFAULT_SLASH_COMMAND, DEFAULT_WATCH_INTERVAL,
};

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
        start_window: duration(
            j.start_window.as_deref(),
            "jobs.start_window",
            d.start_window,
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

/// The slash command's name: a `/` and a word, as both platforms require.
pub(super) fn slash_command(raw: Option<&RawReplies>, p: &mut Problems) -> String {
    let name = raw.and_then(|r| r.slash_command.clone());
    let name = name.unwrap_or_else(|| DEFAULT_SLASH_COMMAND.to_string());
    let word = name.strip_prefix('/').unwrap_or_default();
    let valid = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    if !valid {
        p.push(format!(
            "replies.slash_command: {name:?} must be a slash and a word, like \"/usersync\""
        ));
    }
    name
}

pub(super) fn watch(raw: Option<RawWatch>, p: &mut Problems) -> WatchConfig {
    let text = raw.as_ref().and_then(|w| w.interval.as_deref());
    WatchConfig {
        interval: duration(text, "watch.interval", DEFAULT_WATCH_INTERVAL, p),
    }
}

#[cfg(test)]
mod tests {
    use super::super::check;
    use super::*;

    #[test]
    fn jobs_default_when_absent_and_refuse_zero() {
        let mut p = Problems::default();
        assert_eq!(jobs(None, &mut p), JobsConfig::default());
        let (made, problems) = check("poll_interval = \"0s\"\nmax_wait = \"1h\"", |r, p| {
            jobs(Some(r), p)
        });
        assert_eq!(problems, ["jobs.poll_interval: must be longer than zero"]);
        assert_eq!(made.max_wait, Duration::from_secs(3600));
    }

    #[test]
    fn the_slash_command_is_a_slash_and_a_word() {
        let (made, problems) = check("slash_command = \"/sync-bot\"", |r, p| {
            slash_command(Some(&r), p)
        });
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(made, "/sync-bot");
        assert_eq!(slash_command(None, &mut Problems::default()), "/usersync");
        let (_, problems) = check("slash_command = \"usersync now\"", |r, p| {
            slash_command(Some(&r), p)
        });
        assert_eq!(
            problems,
            ["replies.slash_command: \"usersync now\" must be a slash and a word, like \"/usersync\""]
        );
    }

    #[test]
    fn the_inline_budget_stays_under_slacks_limit() {
        let (made, problems) = check("inline_budget = \"2799ms\"", |r, p| replies(Some(r), p));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(made, Duration::from_millis(2799));
        let (_, problems) = check("inline_budget = \"2.8s\"", |r, p| replies(Some(r), p));
        assert_eq!(
            problems,
            ["replies.inline_budget: must stay under Slack's 3 seconds (2.8s at most)"]
        );
    }

    #[test]
    fn the_watch_interval_must_be_a_duration() {
        let mut p = Problems::default();
        assert_eq!(watch(None, &mut p).interval, DEFAULT_WATCH_INTERVAL);
        let (_, problems) = check("interval = \"hourly\"", |r, p| watch(Some(r), p));
        assert_eq!(
            problems,
            ["watch.interval: \"hourly\" is not a duration like \"5s\" or \"4h\" (expected number at 0)"]
        );
    }
}

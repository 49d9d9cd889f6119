//! From the file as written to the validated types, one section at a time. Every section
//! is checked even after another failed, so one run lists every problem; problems are
//! listed in the order of the sections below.

mod chat;
mod cluster;
mod confirm;
mod freeze;
mod instances;
mod notify;
mod protect;
mod roles;
mod service;
mod timing;

use std::time::Duration;

use super::raw::RawConfig;
use super::{Config, ConfigError};

/// The problems found so far, one line each, in the order found.
#[derive(Debug, Default)]
pub(super) struct Problems(Vec<String>);

impl Problems {
    pub(super) fn push(&mut self, problem: impl Into<String>) {
        self.0.push(problem.into());
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many so far: a section compares before and after to know whether it failed.
    fn count(&self) -> usize {
        self.0.len()
    }

    #[cfg(test)]
    pub(super) fn into_vec(self) -> Vec<String> {
        self.0
    }

    /// `value` if nothing was found, or every problem.
    pub(super) fn into_result<T>(self, value: T) -> Result<T, ConfigError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError { problems: self.0 })
        }
    }
}

/// Checks every section; the order of the calls is the order problems are listed in.
pub(super) fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let mut p = Problems::default();
    let listen = service::listen(raw.listen, &mut p);
    let metrics_listen = service::metrics_listen(raw.metrics_listen, listen, &mut p);
    let (storage_url, storage_start_wait) = service::storage(raw.storage, &mut p);
    let slack = raw.slack.and_then(|s| chat::slack(s, &mut p));
    let mattermost = raw.mattermost.and_then(|m| chat::mattermost(m, &mut p));
    chat::require_a_platform(slack.is_some() || mattermost.is_some(), &mut p);
    let (instances, default_instance) = instances::instances(raw.instances, &mut p);
    let roles = roles::roles(raw.roles, &mut p);
    let jobs = timing::jobs(raw.jobs, &mut p);
    let slash_command = timing::slash_command(raw.replies.as_ref(), &mut p);
    let inline_budget = timing::replies(raw.replies, &mut p);
    let watch = timing::watch(raw.watch, &mut p);
    let routes = notify::notify(raw.notify, &instances, &mut p);
    let public_url = confirm::public_url(raw.public_url, mattermost.is_some(), &roles, &mut p);
    let confirm = confirm::confirm(raw.confirm, &mut p);
    let guards = confirm::guards(raw.guards, &mut p);
    let freezes = freeze::freezes(raw.freeze, &instances, &mut p);
    let protect = protect::protect(raw.protect, &mut p);
    let cluster = cluster::cluster(raw.cluster, &mut p);
    p.into_result(Config {
        listen,
        metrics_listen,
        storage_url,
        storage_start_wait,
        slack,
        mattermost,
        instances,
        default_instance,
        roles,
        jobs,
        inline_budget,
        slash_command,
        watch,
        routes,
        public_url,
        confirm,
        guards,
        freezes,
        protect,
        cluster,
    })
}

/// A `humantime` duration such as `"5s"`; absent means `default`. Zero is refused: every
/// duration here is a wait or an interval, and zero would spin or never wait.
fn duration(raw: Option<&str>, key: &str, default: Duration, p: &mut Problems) -> Duration {
    let Some(text) = raw else {
        return default;
    };
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => d,
        Ok(_) => {
            p.push(format!("{key}: must be longer than zero"));
            default
        }
        Err(e) => {
            p.push(format!(
                "{key}: {text:?} is not a duration like \"5s\" or \"4h\" ({e})"
            ));
            default
        }
    }
}

/// Runs one section's check on `toml` read as that section's raw type: what it made, and
/// every problem it reported.
#[cfg(test)]
fn check<R: serde::de::DeserializeOwned, T>(
    toml: &str,
    section: impl FnOnce(R, &mut Problems) -> T,
) -> (T, Vec<String>) {
    let raw = toml::from_str(toml).expect("the test's TOML reads");
    let mut p = Problems::default();
    let made = section(raw, &mut p);
    (made, p.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_is_checked_and_defaults_when_absent() {
        let mut p = Problems::default();
        let d = Duration::from_secs(7);
        assert_eq!(duration(None, "k", d, &mut p), d);
        assert_eq!(
            duration(Some("2m"), "k", d, &mut p),
            Duration::from_secs(120)
        );
        assert!(p.is_empty());
        assert_eq!(duration(Some("0s"), "k", d, &mut p), d);
        assert_eq!(duration(Some("soon"), "k", d, &mut p), d);
        assert_eq!(
            p.into_vec(),
            [
                "k: must be longer than zero",
                "k: \"soon\" is not a duration like \"5s\" or \"4h\" (expected number at 0)",
            ]
        );
    }
}

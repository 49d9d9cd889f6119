//! The bot's configuration: TOML with `${VAR}` taken from the environment, loaded and
//! validated once at start-up. Every problem is reported with the key it concerns; an
//! unknown key is an error. Secrets are held in `SecretString` and never printed.
//!
//! Loading runs in steps, one module each: TOML text → [`env`] substitutes `${VAR}` →
//! [`raw`] reads the file as written → [`validate`] checks it section by section into
//! the [`types`] the rest of the bot uses.

mod env;
mod raw;
mod types;
mod validate;

use std::path::Path;

pub use crate::domain::Principal;
pub use types::{
    names_connector, ClusterConfig, Config, ConfigError, ConfirmConfig, Freeze, GuardsConfig,
    JobsConfig, MattermostConfig, NotifyOn, NotifyRoute, ProtectConfig, SlackConfig, WatchConfig,
    DEFAULT_CONFIG_FILE, DEFAULT_CONFIRM_TTL, DEFAULT_INLINE_BUDGET, DEFAULT_LEASE,
    DEFAULT_SLASH_COMMAND, DEFAULT_WATCH_INTERVAL, RESPONSE_URL_LIFETIME,
};

impl Config {
    /// Reads and validates a file, taking `${VAR}` from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::one(format!("{}: cannot read: {e}", path.display())))?;
        Config::parse(&text, &|name| std::env::var(name).ok())
    }

    /// Parses and validates configuration text; `env` looks up `${VAR}` values.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut value: toml::Value = toml::from_str::<toml::Table>(text)
            .map_err(|e| ConfigError::one(format!("not valid TOML: {}", e.message().trim())))
            .map(toml::Value::Table)?;
        let mut problems = validate::Problems::default();
        env::substitute_env(&mut value, "", env, &mut problems);
        problems.into_result(())?;
        validate::validate(raw::RawConfig::from_value(value)?)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::time::Duration;

    use super::*;

    /// The README's example; other modules' tests vary it.
    pub(in crate::config) const GOOD: &str = r#"
listen = "127.0.0.1:3000"

[storage]
url = "sqlite://usersync-bot.db"

[slack]
signing_secrets = ["${SLACK_SIGNING_SECRET}"]
bot_token = "${SLACK_BOT_TOKEN}"
api_base_url = "https://slack.com/api"
response_url_hosts = ["hooks.slack.com"]

[[instances]]
name = "jira"
base_url = "https://jira.example.com"
username = "svc-usersync"
password = "${JIRA_PASSWORD}"
api = "2"
default = true

[roles]
admin = ["slack:U0ADMIN01"]
operator = ["slack:U0ONCALL1"]
helpdesk = ["slack:U0HELP001"]
viewer = ["*"]

[roles.channels]
run = ["slack:C0OPS0001"]

[jobs]
poll_interval = "5s"
max_wait = "4h"
"#;

    /// The environment `GOOD` needs; every other variable is unset.
    pub(in crate::config) fn env(name: &str) -> Option<String> {
        match name {
            "SLACK_SIGNING_SECRET" => Some("sig-secret-value".into()),
            "SLACK_BOT_TOKEN" => Some("xoxb-secret".into()),
            "JIRA_PASSWORD" => Some("jira-pw-value".into()),
            _ => None,
        }
    }

    #[test]
    fn the_documented_example_loads() {
        let config = Config::parse(GOOD, &env).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(config.instances.len(), 1);
        assert_eq!(config.default_instance, Some(0));
        assert_eq!(config.jobs.poll_interval, Duration::from_secs(5));
        assert_eq!(config.jobs.max_wait, Duration::from_secs(4 * 3600));
        let slack = config.slack.as_ref().unwrap();
        assert_eq!(slack.response_url_hosts, ["hooks.slack.com"]);
        let debug = format!("{config:?}");
        for secret in ["sig-secret-value", "xoxb-secret", "jira-pw-value"] {
            assert!(!debug.contains(secret), "{secret} shows in Debug");
        }
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let text = GOOD
            .replace("listen = \"127.0.0.1:3000\"", "listen = \"nowhere\"")
            .replace("api = \"2\"", "api = \"3\"")
            .replace("poll_interval = \"5s\"", "poll_interval = \"often\"")
            .replace("viewer = [\"*\"]", "viewer = [\"U0NOPREFIX\"]")
            .replace("run = [\"slack:C0OPS0001\"]", "rnu = [\"slack:C0OPS0001\"]");
        let err = Config::parse(&text, &env).unwrap_err();
        let all = err.to_string();
        for expected in [
            "listen: \"nowhere\"",
            "instances[0].api: unknown API flavour \"3\"",
            "jobs.poll_interval: \"often\"",
            "roles.viewer[0]:",
            "roles.channels.rnu: no such command",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        assert_eq!(err.problems.len(), 5, "{all}");
    }

    #[test]
    fn mattermost_and_notify_sections_are_checked_too() {
        let text = format!(
            "{GOOD}\n[mattermost]\ncommand_tokens = []\nurl = \"chat.example.com\"\n\n\
             [[notify]]\ninstance = \"confluence\"\nchannel = \"teams:C1\"\n\n\
             [[notify]]\nchannel = \"slack:C0OPS0001\"\non = [\"sometimes\", \"threshold\"]\n"
        );
        let err = Config::parse(&text, &env).unwrap_err();
        let all = err.to_string();
        for expected in [
            "mattermost.command_tokens: at least one slash-command token is required",
            "mattermost.url: \"chat.example.com\" is not an http(s) URL",
            "notify[0].instance: no instance is called \"confluence\"",
            "notify[0].channel: \"teams\" is not a platform",
            "notify[1].on[0]: \"sometimes\" is not one of",
            "notify[1].on: \"threshold\" needs max_deleted or max_failed",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        assert_eq!(err.problems.len(), 6, "{all}");
    }

    #[test]
    fn a_mattermost_only_bot_is_valid_and_routes_default_to_failures() {
        let text = GOOD
            .replace(
                "[slack]\nsigning_secrets = [\"${SLACK_SIGNING_SECRET}\"]\nbot_token = \"${SLACK_BOT_TOKEN}\"\napi_base_url = \"https://slack.com/api\"\nresponse_url_hosts = [\"hooks.slack.com\"]\n",
                "[mattermost]\ncommand_tokens = [\"tok\"]\nurl = \"https://chat.example.com\"\n",
            )
            + "\n[[notify]]\nchannel = \"mattermost:abc123\"\n";
        let config = Config::parse(&text, &env).unwrap();
        assert!(config.slack.is_none());
        assert!(config.mattermost.is_some());
        assert_eq!(config.routes[0].on, [NotifyOn::Failure]);
        assert_eq!(config.routes[0].connectors, ["*"]);
        let err = Config::parse(&text.replace("[mattermost]", "[unused]"), &env).unwrap_err();
        assert!(
            err.problems[0].starts_with("unused: unknown field `unused`"),
            "{err}"
        );
    }

    #[test]
    fn problems_are_listed_in_section_order() {
        let text = GOOD
            .replace("listen = \"127.0.0.1:3000\"", "listen = \"nowhere\"")
            .replace("url = \"sqlite://usersync-bot.db\"", "url = \"mysql://db\"")
            .replace("api = \"2\"", "api = \"3\"")
            .replace("viewer = [\"*\"]", "viewer = [\"U0NOPREFIX\"]")
            .replace("poll_interval = \"5s\"", "poll_interval = \"0s\"")
            + "\n[replies]\ninline_budget = \"3s\"\n[watch]\ninterval = \"0s\"\n\
               [[notify]]\nchannel = \"slack:C1\"\non = [\"threshold\"]\n\
               [mattermost]\ncommand_tokens = [\"\"]\nurl = \"https://chat.example.com\"\n";
        let err = Config::parse(&text, &env).unwrap_err();
        let mut problems = err.problems.into_iter();
        for prefix in [
            "listen: ",
            "storage.url: ",
            "mattermost.command_tokens[0]: is empty",
            "instances[0].api: ",
            "roles.viewer[0]: ",
            "jobs.poll_interval: must be longer than zero",
            "replies.inline_budget: must stay under",
            "watch.interval: must be longer than zero",
            "notify[0].on: \"threshold\" needs",
        ] {
            let problem = problems.next().unwrap_or_default();
            assert!(problem.starts_with(prefix), "{problem:?} is not {prefix:?}");
        }
        assert_eq!(problems.next(), None);
    }
}

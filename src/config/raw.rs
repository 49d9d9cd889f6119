//! The file as written. Every table denies unknown fields, so a misspelt key is an error
//! rather than a silently ignored setting; checking values is left to `validate`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::env::without_values;
use super::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) listen: Option<String>,
    pub(super) metrics_listen: Option<String>,
    pub(super) storage: Option<RawStorage>,
    pub(super) slack: Option<RawSlack>,
    pub(super) mattermost: Option<RawMattermost>,
    #[serde(default)]
    pub(super) instances: Vec<RawInstance>,
    #[serde(default)]
    pub(super) roles: RawRoles,
    pub(super) jobs: Option<RawJobs>,
    pub(super) replies: Option<RawReplies>,
    pub(super) watch: Option<RawWatch>,
    #[serde(default)]
    pub(super) notify: Vec<RawNotify>,
    pub(super) public_url: Option<String>,
    pub(super) confirm: Option<RawConfirm>,
    pub(super) guards: Option<RawGuards>,
    #[serde(default)]
    pub(super) freeze: Vec<RawFreeze>,
    pub(super) protect: Option<RawProtect>,
    pub(super) cluster: Option<RawCluster>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub(super) lease: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGuards {
    pub(super) delete_directory_approvals: Option<u32>,
    pub(super) max_deleted: Option<u64>,
    pub(super) max_deleted_share: Option<f64>,
}

/// `[[freeze]]`. The times are read as written (a string, or a TOML date-time) and
/// checked in `validate`, so that a missing or bad one is listed with every other problem.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFreeze {
    pub(super) instance: Option<String>,
    #[serde(default)]
    pub(super) connectors: Vec<String>,
    pub(super) from: Option<toml::Value>,
    pub(super) until: Option<toml::Value>,
    pub(super) reason: Option<String>,
}

/// `[protect]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProtect {
    #[serde(default)]
    pub(super) users: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfirm {
    pub(super) ttl: Option<String>,
}

impl RawConfig {
    /// Reads the substituted TOML; the one error names its key, and never the value,
    /// which may be a secret after substitution.
    pub(super) fn from_value(value: toml::Value) -> Result<RawConfig, ConfigError> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            // The TOML layer repeats the key on a second line; the path already names it.
            let inner = without_values(inner.lines().next().unwrap_or_default().trim());
            ConfigError::one(if path == "." || path.is_empty() {
                inner
            } else {
                format!("{path}: {inner}")
            })
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWatch {
    pub(super) interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) instance: Option<String>,
    #[serde(default)]
    pub(super) connectors: Vec<String>,
    pub(super) channel: String,
    #[serde(default)]
    pub(super) on: Vec<String>,
    pub(super) max_deleted: Option<u64>,
    pub(super) max_failed: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    pub(super) url: Option<String>,
    pub(super) start_wait: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlack {
    #[serde(default)]
    pub(super) signing_secrets: Vec<String>,
    pub(super) bot_token: Option<String>,
    pub(super) api_base_url: Option<String>,
    pub(super) response_url_hosts: Option<Vec<String>>,
    #[serde(default)]
    pub(super) socket_mode: bool,
    pub(super) app_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMattermost {
    #[serde(default)]
    pub(super) command_tokens: Vec<String>,
    pub(super) url: Option<String>,
    pub(super) bot_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInstance {
    pub(super) name: String,
    pub(super) base_url: String,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) token: Option<String>,
    pub(super) api: Option<String>,
    #[serde(default)]
    pub(super) default: bool,
    pub(super) timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoles {
    #[serde(default)]
    pub(super) admin: Vec<String>,
    #[serde(default)]
    pub(super) operator: Vec<String>,
    #[serde(default)]
    pub(super) helpdesk: Vec<String>,
    #[serde(default)]
    pub(super) viewer: Vec<String>,
    #[serde(default)]
    pub(super) channels: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJobs {
    pub(super) poll_interval: Option<String>,
    pub(super) max_wait: Option<String>,
    pub(super) response_url_lifetime: Option<String>,
    pub(super) start_window: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReplies {
    pub(super) inline_budget: Option<String>,
    pub(super) slash_command: Option<String>,
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{env, GOOD};
    use crate::config::Config;

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let text = GOOD.replace("max_wait = \"4h\"", "max_wait = \"4h\"\nmax_wiat = \"1h\"");
        let err = Config::parse(&text, &env).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(
            err.problems[0],
            "jobs.max_wiat: unknown field `max_wiat`, expected one of `poll_interval`, `max_wait`, `response_url_lifetime`, `start_window`"
        );
    }

    #[test]
    fn a_wrong_type_names_the_key() {
        let text = GOOD.replace("default = true", "default = \"yes\"");
        let err = Config::parse(&text, &env).unwrap_err();
        assert!(
            err.problems[0].starts_with("instances[0].default: invalid type"),
            "{err}"
        );
    }
}

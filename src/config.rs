//! The bot's configuration: TOML with `${VAR}` taken from the environment, loaded and
//! validated once at start-up. Every problem is reported with the key it concerns; an
//! unknown key is an error. Secrets are held in `SecretString` and never printed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::authz::RoleTable;
use crate::command::CommandKind;
pub use crate::domain::Principal;
use crate::domain::Role;
use crate::usersync::{ApiFlavour, Credentials, InstanceConfig, RetryPolicy, DEFAULT_TIMEOUT};

/// Default file name when neither `--config` nor `USERSYNC_BOT_CONFIG` is given.
pub const DEFAULT_CONFIG_FILE: &str = "usersync-bot.toml";
/// How long a read may take before the bot stops waiting and answers later.
pub const DEFAULT_INLINE_BUDGET: Duration = Duration::from_secs(2);

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub storage_url: String,
    pub slack: Option<SlackConfig>,
    pub mattermost: Option<MattermostConfig>,
    pub instances: Vec<InstanceConfig>,
    /// Index into `instances` of the one used when a command names none.
    pub default_instance: Option<usize>,
    pub roles: RoleTable,
    pub jobs: JobsConfig,
    /// How long a read may wait for the product before the reply is deferred.
    pub inline_budget: Duration,
    pub watch: WatchConfig,
    /// Where finished syncs are announced, from the configuration.
    pub routes: Vec<NotifyRoute>,
}

/// Default pause between two looks at every watched connector.
pub const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchConfig {
    /// How often every connector's last sync is looked at.
    pub interval: Duration,
}

/// What a route announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyOn {
    Success,
    Failure,
    Threshold,
}

/// A `[[notify]]` route: finished syncs of some connectors, announced in one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyRoute {
    /// `None`: every instance.
    pub instance: Option<String>,
    /// Names or ids; `*` for all.
    pub connectors: Vec<String>,
    pub channel: Principal,
    pub on: Vec<NotifyOn>,
    pub max_deleted: Option<u64>,
    pub max_failed: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// Every secret accepted; more than one during a rotation.
    pub signing_secrets: Vec<SecretString>,
    pub bot_token: Option<SecretString>,
    pub api_base_url: Url,
    /// Hosts (optionally `host:port`) that follow-ups may be posted to.
    pub response_url_hosts: Vec<String>,
}

/// Slack's documented lifetime of a `response_url`.
pub const RESPONSE_URL_LIFETIME: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone)]
pub struct MattermostConfig {
    /// Every slash-command token accepted; more than one during a rotation.
    pub command_tokens: Vec<SecretString>,
    /// The Mattermost server: follow-ups go only there, and the REST API is called there.
    pub url: Url,
    /// A bot account's token, for posting outcomes and editing progress.
    pub bot_token: Option<SecretString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobsConfig {
    pub poll_interval: Duration,
    pub max_wait: Duration,
    /// How long a command's `response_url` accepts posts (30 minutes on both platforms).
    pub response_url_lifetime: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            poll_interval: Duration::from_secs(5),
            max_wait: Duration::from_secs(4 * 3600),
            response_url_lifetime: RESPONSE_URL_LIFETIME,
        }
    }
}

/// Everything wrong with a configuration, one line each.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl ConfigError {
    fn one(problem: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![problem.into()],
        }
    }
}

// --- the file as written -----------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    storage: Option<RawStorage>,
    slack: Option<RawSlack>,
    mattermost: Option<RawMattermost>,
    #[serde(default)]
    instances: Vec<RawInstance>,
    #[serde(default)]
    roles: RawRoles,
    jobs: Option<RawJobs>,
    replies: Option<RawReplies>,
    watch: Option<RawWatch>,
    #[serde(default)]
    notify: Vec<RawNotify>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    instance: Option<String>,
    #[serde(default)]
    connectors: Vec<String>,
    channel: String,
    #[serde(default)]
    on: Vec<String>,
    max_deleted: Option<u64>,
    max_failed: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    #[serde(default)]
    signing_secrets: Vec<String>,
    bot_token: Option<String>,
    api_base_url: Option<String>,
    response_url_hosts: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMattermost {
    #[serde(default)]
    command_tokens: Vec<String>,
    url: Option<String>,
    bot_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    name: String,
    base_url: String,
    username: Option<String>,
    password: Option<String>,
    token: Option<String>,
    api: Option<String>,
    #[serde(default)]
    default: bool,
    timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoles {
    #[serde(default)]
    admin: Vec<String>,
    #[serde(default)]
    operator: Vec<String>,
    #[serde(default)]
    helpdesk: Vec<String>,
    #[serde(default)]
    viewer: Vec<String>,
    #[serde(default)]
    channels: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJobs {
    poll_interval: Option<String>,
    max_wait: Option<String>,
    response_url_lifetime: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReplies {
    inline_budget: Option<String>,
}

// --- loading ---------------------------------------------------------------------------

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
        let mut problems = Vec::new();
        substitute_env(&mut value, "", env, &mut problems);
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let raw: RawConfig = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            // The TOML layer repeats the key on a second line; the path already names it.
            let inner = without_values(inner.lines().next().unwrap_or_default().trim());
            let inner = inner.as_str();
            ConfigError::one(if path == "." || path.is_empty() {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            })
        })?;
        validate(raw)
    }
}

/// Replaces `${NAME}` in every string with the environment's value. A variable that is
/// not set is a problem naming the key; its value is never echoed.
fn substitute_env(
    value: &mut toml::Value,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) {
    match value {
        toml::Value::String(s) => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let Some(end) = after.find('}') else {
                    problems.push(format!("{key}: unclosed ${{ in value"));
                    return;
                };
                let name = &after[..end];
                let valid = !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !name.starts_with(|c: char| c.is_ascii_digit());
                if !valid {
                    problems.push(format!("{key}: ${{{name}}} is not a valid variable name"));
                    return;
                }
                match env(name) {
                    Some(v) => out.push_str(&v),
                    None => {
                        problems.push(format!("{key}: environment variable {name} is not set"));
                        return;
                    }
                }
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            *s = out;
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute_env(item, &format!("{key}[{i}]"), env, problems);
            }
        }
        toml::Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                let path = if key.is_empty() {
                    k.clone()
                } else {
                    format!("{key}.{k}")
                };
                substitute_env(v, &path, env, problems);
            }
        }
        _ => {}
    }
}

/// serde quotes the offending value in type errors (`invalid type: string "…"`); after
/// `${VAR}` substitution that value can be a secret, so quoted values are left out.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(" \"") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("\", expected") {
            Some(end) => {
                out.push_str(" value");
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn duration(
    raw: Option<&str>,
    key: &str,
    default: Duration,
    problems: &mut Vec<String>,
) -> Duration {
    match raw {
        None => default,
        Some(text) => match humantime::parse_duration(text) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                problems.push(format!("{key}: must be longer than zero"));
                default
            }
            Err(e) => {
                problems.push(format!(
                    "{key}: {text:?} is not a duration like \"5s\" or \"4h\" ({e})"
                ));
                default
            }
        },
    }
}

fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();

    let listen = match raw.listen.as_deref().unwrap_or("127.0.0.1:3000").parse() {
        Ok(addr) => addr,
        Err(_) => {
            problems.push(format!(
                "listen: {:?} is not an address like \"127.0.0.1:3000\"",
                raw.listen.unwrap_or_default()
            ));
            SocketAddr::from(([127, 0, 0, 1], 3000))
        }
    };

    let storage_url = raw
        .storage
        .map(|s| s.url)
        .unwrap_or_else(|| "sqlite://usersync-bot.db".into());
    if !storage_url.starts_with("sqlite:") {
        problems.push(format!(
            "storage.url: {storage_url:?} is not supported (use \"sqlite://FILE\")"
        ));
    }

    let slack = raw.slack.map(|s| validate_slack(s, &mut problems));
    let mattermost = raw
        .mattermost
        .and_then(|m| validate_mattermost(m, &mut problems));
    if slack.is_none() && mattermost.is_none() && problems.is_empty() {
        problems.push(
            "slack: missing: configure [slack] (signing_secrets) or [mattermost] (command_tokens, url), or both"
                .into(),
        );
    }

    let mut instances = Vec::new();
    let mut default_instance = None;
    if raw.instances.is_empty() {
        problems.push("instances: at least one [[instances]] entry is required".into());
    }
    for (i, inst) in raw.instances.into_iter().enumerate() {
        let key = format!("instances[{i}]");
        if inst.default {
            if default_instance.is_some() {
                problems.push(format!(
                    "{key}.default: only one instance can be the default"
                ));
            }
            default_instance = Some(i);
        }
        if let Some(config) = validate_instance(inst, &key, &mut problems) {
            if instances
                .iter()
                .any(|c: &InstanceConfig| c.name.eq_ignore_ascii_case(&config.name))
            {
                problems.push(format!("{key}.name: {:?} is used twice", config.name));
            }
            instances.push(config);
        }
    }
    if instances.len() == 1 {
        default_instance = Some(0);
    }

    let roles = validate_roles(raw.roles, &mut problems);

    let jobs = raw.jobs.map_or(JobsConfig::default(), |j| {
        let d = JobsConfig::default();
        JobsConfig {
            poll_interval: duration(
                j.poll_interval.as_deref(),
                "jobs.poll_interval",
                d.poll_interval,
                &mut problems,
            ),
            max_wait: duration(
                j.max_wait.as_deref(),
                "jobs.max_wait",
                d.max_wait,
                &mut problems,
            ),
            response_url_lifetime: duration(
                j.response_url_lifetime.as_deref(),
                "jobs.response_url_lifetime",
                d.response_url_lifetime,
                &mut problems,
            ),
        }
    });
    let inline_budget = duration(
        raw.replies
            .as_ref()
            .and_then(|r| r.inline_budget.as_deref()),
        "replies.inline_budget",
        DEFAULT_INLINE_BUDGET,
        &mut problems,
    );
    if inline_budget >= Duration::from_millis(2800) {
        problems
            .push("replies.inline_budget: must stay under Slack's 3 seconds (2.8s at most)".into());
    }

    let watch = WatchConfig {
        interval: duration(
            raw.watch.as_ref().and_then(|w| w.interval.as_deref()),
            "watch.interval",
            DEFAULT_WATCH_INTERVAL,
            &mut problems,
        ),
    };
    let mut routes = Vec::new();
    for (i, n) in raw.notify.into_iter().enumerate() {
        let key = format!("notify[{i}]");
        if let Some(name) = &n.instance {
            if !instances
                .iter()
                .any(|c: &InstanceConfig| c.name.eq_ignore_ascii_case(name))
            {
                problems.push(format!("{key}.instance: no instance is called {name:?}"));
            }
        }
        let channel = match Principal::parse(&n.channel) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("{key}.channel: {e}"));
                continue;
            }
        };
        let mut on = Vec::new();
        for (j, o) in n.on.iter().enumerate() {
            match o.as_str() {
                "success" => on.push(NotifyOn::Success),
                "failure" => on.push(NotifyOn::Failure),
                "threshold" => on.push(NotifyOn::Threshold),
                other => problems.push(format!(
                    "{key}.on[{j}]: {other:?} is not one of \"success\", \"failure\", \"threshold\""
                )),
            }
        }
        if on.is_empty() {
            on.push(NotifyOn::Failure);
        }
        if on.contains(&NotifyOn::Threshold) && n.max_deleted.is_none() && n.max_failed.is_none() {
            problems.push(format!(
                "{key}.on: \"threshold\" needs max_deleted or max_failed"
            ));
        }
        routes.push(NotifyRoute {
            instance: n.instance,
            connectors: if n.connectors.is_empty() {
                vec!["*".into()]
            } else {
                n.connectors
            },
            channel,
            on,
            max_deleted: n.max_deleted,
            max_failed: n.max_failed,
        });
    }

    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    Ok(Config {
        listen,
        storage_url,
        slack,
        mattermost,
        instances,
        default_instance,
        roles,
        jobs,
        inline_budget,
        watch,
        routes,
    })
}

fn validate_slack(raw: RawSlack, problems: &mut Vec<String>) -> SlackConfig {
    if raw.signing_secrets.is_empty() {
        problems.push("slack.signing_secrets: at least one signing secret is required".into());
    }
    for (i, s) in raw.signing_secrets.iter().enumerate() {
        if s.trim().is_empty() {
            problems.push(format!("slack.signing_secrets[{i}]: is empty"));
        }
    }
    let api_base_url = raw
        .api_base_url
        .as_deref()
        .unwrap_or("https://slack.com/api");
    let api_base_url = match Url::parse(api_base_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u,
        _ => {
            problems.push(format!(
                "slack.api_base_url: {api_base_url:?} is not an http(s) URL"
            ));
            Url::parse("https://slack.com/api").expect("a constant URL parses")
        }
    };
    let hosts = raw
        .response_url_hosts
        .unwrap_or_else(|| vec!["hooks.slack.com".into()]);
    for (i, h) in hosts.iter().enumerate() {
        if h.is_empty() || h.contains('/') || h.contains('*') || h.contains('@') {
            problems.push(format!(
                "slack.response_url_hosts[{i}]: {h:?} must be a host name (optionally host:port), without wildcards"
            ));
        }
    }
    SlackConfig {
        signing_secrets: raw
            .signing_secrets
            .into_iter()
            .map(SecretString::from)
            .collect(),
        bot_token: raw
            .bot_token
            .filter(|t| !t.trim().is_empty())
            .map(SecretString::from),
        api_base_url,
        response_url_hosts: hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
    }
}

fn validate_mattermost(raw: RawMattermost, problems: &mut Vec<String>) -> Option<MattermostConfig> {
    let before = problems.len();
    if raw.command_tokens.is_empty() {
        problems
            .push("mattermost.command_tokens: at least one slash-command token is required".into());
    }
    for (i, t) in raw.command_tokens.iter().enumerate() {
        if t.trim().is_empty() {
            problems.push(format!("mattermost.command_tokens[{i}]: is empty"));
        }
    }
    let url = match raw.url.as_deref().map(Url::parse) {
        Some(Ok(u)) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        Some(_) => {
            problems.push(format!(
                "mattermost.url: {:?} is not an http(s) URL",
                raw.url.unwrap_or_default()
            ));
            None
        }
        None => {
            problems.push(
                "mattermost.url: required: the Mattermost server's address (its Site URL)".into(),
            );
            None
        }
    };
    if problems.len() != before {
        return None;
    }
    Some(MattermostConfig {
        command_tokens: raw
            .command_tokens
            .into_iter()
            .map(SecretString::from)
            .collect(),
        url: url?,
        bot_token: raw
            .bot_token
            .filter(|t| !t.trim().is_empty())
            .map(SecretString::from),
    })
}

fn validate_instance(
    raw: RawInstance,
    key: &str,
    problems: &mut Vec<String>,
) -> Option<InstanceConfig> {
    let before = problems.len();
    if raw.name.is_empty()
        || !raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        problems.push(format!(
            "{key}.name: {:?} must be letters, digits, '-', '_' or '.'",
            raw.name
        ));
    }
    let base_url = match Url::parse(&raw.base_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        _ => {
            problems.push(format!(
                "{key}.base_url: {:?} is not an http(s) URL",
                raw.base_url
            ));
            None
        }
    };
    let credentials = match (raw.username, raw.password, raw.token) {
        (Some(username), Some(password), None) if !username.is_empty() => {
            Some(Credentials::Basic {
                username,
                password: SecretString::from(password),
            })
        }
        (None, None, Some(token)) if !token.is_empty() => Some(Credentials::Bearer {
            token: SecretString::from(token),
        }),
        (Some(_), None, None) => {
            problems.push(format!("{key}.password: required with username"));
            None
        }
        (None, Some(_), None) => {
            problems.push(format!("{key}.username: required with password"));
            None
        }
        (None, None, None) => {
            problems.push(format!("{key}: give username and password, or token"));
            None
        }
        _ => {
            problems.push(format!(
                "{key}: give either username and password, or token, not both"
            ));
            None
        }
    };
    let api = match raw.api.as_deref().unwrap_or("2").parse::<ApiFlavour>() {
        Ok(api) => api,
        Err(e) => {
            problems.push(format!("{key}.api: {e}"));
            ApiFlavour::V2
        }
    };
    let timeout = duration(
        raw.timeout.as_deref(),
        &format!("{key}.timeout"),
        DEFAULT_TIMEOUT,
        problems,
    );
    if problems.len() != before {
        return None;
    }
    Some(InstanceConfig {
        name: raw.name,
        base_url: base_url?,
        credentials: credentials?,
        api,
        timeout,
        retry: RetryPolicy::default(),
    })
}

fn validate_roles(raw: RawRoles, problems: &mut Vec<String>) -> RoleTable {
    let mut table = RoleTable::default();
    for (role, list) in [
        (Role::Admin, &raw.admin),
        (Role::Operator, &raw.operator),
        (Role::Helpdesk, &raw.helpdesk),
        (Role::Viewer, &raw.viewer),
    ] {
        for (i, p) in list.iter().enumerate() {
            match Principal::parse_pattern(p) {
                Ok(pattern) => table.grant(pattern, role),
                Err(e) => problems.push(format!("roles.{}[{i}]: {e}", role.as_str())),
            }
        }
    }
    for (command, channels) in raw.channels {
        let Some(kind) = CommandKind::from_name(&command) else {
            problems.push(format!("roles.channels.{command}: no such command"));
            continue;
        };
        let mut allowed = Vec::new();
        for (i, c) in channels.iter().enumerate() {
            match Principal::parse(c) {
                Ok(channel) => allowed.push(channel),
                Err(e) => problems.push(format!("roles.channels.{command}[{i}]: {e}")),
            }
        }
        table.restrict_channels(kind, allowed);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
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

    fn env(name: &str) -> Option<String> {
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
    fn an_unknown_key_is_an_error_naming_it() {
        let text = GOOD.replace("max_wait = \"4h\"", "max_wait = \"4h\"\nmax_wiat = \"1h\"");
        let err = Config::parse(&text, &env).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(
            err.problems[0],
            "jobs.max_wiat: unknown field `max_wiat`, expected one of `poll_interval`, `max_wait`, `response_url_lifetime`"
        );
    }

    #[test]
    fn a_missing_variable_names_the_key_and_never_a_value() {
        let err =
            Config::parse(GOOD, &|n| (n != "JIRA_PASSWORD").then(|| env(n)).flatten()).unwrap_err();
        assert_eq!(
            err.problems,
            ["instances[0].password: environment variable JIRA_PASSWORD is not set"]
        );
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
    fn credentials_must_be_one_kind() {
        let text = GOOD.replace(
            "password = \"${JIRA_PASSWORD}\"",
            "password = \"x\"\ntoken = \"t\"",
        );
        let err = Config::parse(&text, &env).unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
        let text = GOOD.replace("password = \"${JIRA_PASSWORD}\"", "");
        let err = Config::parse(&text, &env).unwrap_err();
        assert!(
            err.to_string()
                .contains("instances[0].password: required with username"),
            "{err}"
        );
    }

    #[test]
    fn a_wrong_type_never_echoes_a_substituted_secret() {
        let text = GOOD.replace(
            "signing_secrets = [\"${SLACK_SIGNING_SECRET}\"]",
            "signing_secrets = \"${SLACK_SIGNING_SECRET}\"",
        );
        let err = Config::parse(&text, &env).unwrap_err();
        let all = err.to_string();
        assert!(!all.contains("sig-secret-value"), "{all}");
        assert!(
            all.starts_with("slack.signing_secrets: invalid type: string value, expected"),
            "{all}"
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

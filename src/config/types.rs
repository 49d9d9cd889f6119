//! The validated configuration: what the rest of the bot reads. Every value here has been
//! checked, so users of these types never re-validate; secrets stay in `SecretString`.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use url::Url;

use crate::authz::RoleTable;
use crate::domain::{AccountGlob, Principal};
use crate::usersync::InstanceConfig;

/// Default file name when neither `--config` nor `USERSYNC_BOT_CONFIG` is given.
pub const DEFAULT_CONFIG_FILE: &str = "usersync-bot.toml";
/// How long a read may take before the bot stops waiting and answers later.
pub const DEFAULT_INLINE_BUDGET: Duration = Duration::from_secs(2);
/// The slash command's name when `[replies] slash_command` is not set.
pub const DEFAULT_SLASH_COMMAND: &str = "/usersync";
/// Default pause between two looks at every watched connector.
pub const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_secs(60);
/// Slack's documented lifetime of a `response_url`.
pub const RESPONSE_URL_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Where `/healthz`, `/readyz` and `/metrics` are served instead of on `listen`, so
    /// that the port the chat platforms reach exposes only the webhooks; `None`: on
    /// `listen`.
    pub metrics_listen: Option<SocketAddr>,
    pub storage_url: String,
    /// How long start-up keeps trying a store that is down, starting, locked or full
    /// before giving up (`storage.start_wait`); zero: give up at the first failure.
    pub storage_start_wait: Duration,
    pub slack: Option<SlackConfig>,
    pub mattermost: Option<MattermostConfig>,
    pub instances: Vec<InstanceConfig>,
    /// Index into `instances` of the one used when a command names none.
    pub default_instance: Option<usize>,
    pub roles: RoleTable,
    pub jobs: JobsConfig,
    /// How long a read may wait for the product before the reply is deferred.
    pub inline_budget: Duration,
    /// The slash command as set up on the platforms, named in messages that answer no
    /// command (job outcomes, announcements); replies name the one the person typed.
    pub slash_command: String,
    pub watch: WatchConfig,
    /// Where finished syncs are announced, from the configuration.
    pub routes: Vec<NotifyRoute>,
    /// The bot's own address as the platforms reach it (no trailing slash), for button
    /// callbacks (`{public_url}/mattermost/actions`).
    pub public_url: Option<String>,
    pub confirm: ConfirmConfig,
    pub guards: GuardsConfig,
    /// `[[freeze]]`: change freezes, in configuration order.
    pub freezes: Vec<Freeze>,
    /// `[protect]`: accounts `user` refuses and syncs are checked for.
    pub protect: ProtectConfig,
    pub cluster: ClusterConfig,
}

/// How long a replica's lease on a job or on the watcher lasts when `[cluster] lease` is
/// not set.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

/// `[cluster]`: several replicas on one database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterConfig {
    /// How long a replica holds a job or the watcher without renewing it (it renews every
    /// third of this): a replica that dies loses them within it.
    pub lease: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            lease: DEFAULT_LEASE,
        }
    }
}

/// `[guards]`: the care around operations that destroy something.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardsConfig {
    /// How many distinct admins must confirm `delete-directory` (the requester first).
    pub delete_directory_approvals: u32,
    /// A sync the bot follows that deletes more users than this raises an alert.
    pub max_deleted: Option<u64>,
    /// … or more than this share (0 < x ≤ 1) of the previous sync's user total.
    pub max_deleted_share: Option<f64>,
}

impl Default for GuardsConfig {
    fn default() -> Self {
        GuardsConfig {
            delete_directory_approvals: 1,
            max_deleted: None,
            max_deleted_share: None,
        }
    }
}

/// Whether a list of connectors, as configured (`*`, ids, names in any case), names a
/// connector.
pub fn names_connector(list: &[String], id: &str, name: Option<&str>) -> bool {
    list.iter()
        .any(|w| w == "*" || w == id || name.is_some_and(|n| n.eq_ignore_ascii_case(w)))
}

/// Whether an instance setting (`None`: every instance) covers `instance`.
fn covers_instance(setting: Option<&str>, instance: &str) -> bool {
    setting.is_none_or(|i| i.eq_ignore_ascii_case(instance))
}

/// A `[[freeze]]`: from `from` until `until`, the connectors it names may be changed by
/// admins only, as if locked by nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze {
    /// `None`: every instance.
    pub instance: Option<String>,
    /// Names or ids; `*` for all.
    pub connectors: Vec<String>,
    pub from: DateTime<Utc>,
    /// After `from`.
    pub until: DateTime<Utc>,
    /// Never empty.
    pub reason: String,
}

impl Freeze {
    /// Whether the freeze holds at `now`: from `from` (included) to `until` (excluded).
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.from <= now && now < self.until
    }

    /// Whether it freezes this connector of this instance.
    pub fn covers(&self, instance: &str, id: &str, name: Option<&str>) -> bool {
        covers_instance(self.instance.as_deref(), instance)
            && names_connector(&self.connectors, id, name)
    }

    /// Whether it freezes every connector of every instance.
    pub fn covers_everything(&self) -> bool {
        self.instance.is_none() && self.connectors.iter().any(|c| c == "*")
    }
}

/// `[protect]`: accounts that must not be touched by mistake.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtectConfig {
    pub users: Vec<AccountGlob>,
}

impl ProtectConfig {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The first pattern that protects an account named `name`.
    pub fn pattern_for(&self, name: &str) -> Option<&AccountGlob> {
        self.users.iter().find(|g| g.matches(name))
    }

    /// The pattern that protects an account as a person names it for `user`: its name,
    /// or an e-mail address whose whole or whose part before the `@` is protected.
    pub fn protecting(&self, identifier: &str) -> Option<&AccountGlob> {
        let identifier = identifier.trim();
        self.pattern_for(identifier).or_else(|| {
            identifier
                .split_once('@')
                .and_then(|(local, _)| self.pattern_for(local))
        })
    }
}

/// How long a confirmation prompt waits for its click when `[confirm] ttl` is not set.
pub const DEFAULT_CONFIRM_TTL: Duration = Duration::from_secs(120);

/// `[confirm]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmConfig {
    /// How long a prompt may be confirmed.
    pub ttl: Duration,
}

impl Default for ConfirmConfig {
    fn default() -> Self {
        ConfirmConfig {
            ttl: DEFAULT_CONFIRM_TTL,
        }
    }
}

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
    /// Every change of a connector's settings, made through the bot or outside it.
    Change,
}

impl NotifyOn {
    /// Every kind, in the order the configuration documents them.
    pub const ALL: [NotifyOn; 4] = [
        NotifyOn::Success,
        NotifyOn::Failure,
        NotifyOn::Threshold,
        NotifyOn::Change,
    ];

    /// The word used in the configuration's `on = [...]`, and when a route is shown.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyOn::Success => "success",
            NotifyOn::Failure => "failure",
            NotifyOn::Threshold => "threshold",
            NotifyOn::Change => "change",
        }
    }

    /// The inverse of [`NotifyOn::as_str`], so the words are spelled in one place; the
    /// error lists every accepted word.
    pub fn parse(text: &str) -> Result<NotifyOn, String> {
        NotifyOn::ALL
            .into_iter()
            .find(|on| on.as_str() == text)
            .ok_or_else(|| {
                let words: Vec<String> = NotifyOn::ALL
                    .iter()
                    .map(|on| format!("{:?}", on.as_str()))
                    .collect();
                format!("{text:?} is not one of {}", words.join(", "))
            })
    }
}

/// A `[[notify]]` route: finished syncs (and, with `change`, settings changes) of some
/// connectors, announced in one channel.
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

impl NotifyRoute {
    /// Whether the route is about this instance (some of its connectors, at least).
    pub fn covers_instance(&self, instance: &str) -> bool {
        covers_instance(self.instance.as_deref(), instance)
    }

    /// Whether the route is about this connector of this instance.
    pub fn covers(&self, instance: &str, id: &str, name: Option<&str>) -> bool {
        self.covers_instance(instance) && names_connector(&self.connectors, id, name)
    }

    /// Whether it wants to hear about failures.
    pub fn wants_failures(&self) -> bool {
        self.on.contains(&NotifyOn::Failure)
    }
}

#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// Every secret accepted; more than one during a rotation.
    pub signing_secrets: Vec<SecretString>,
    pub bot_token: Option<SecretString>,
    pub api_base_url: Url,
    /// Hosts (optionally `host:port`) that follow-ups may be posted to.
    pub response_url_hosts: Vec<String>,
    /// Socket Mode (`socket_mode = true`): the app-level token (`xapp-…`) the bot opens
    /// its WebSocket with. `None`: Slack calls the HTTP endpoints.
    pub app_token: Option<SecretString>,
}

impl SlackConfig {
    /// Whether the bot holds a Socket Mode connection to Slack.
    pub fn socket_mode(&self) -> bool {
        self.app_token.is_some()
    }
}

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
    /// How long a job with no sync of its own yet (the trigger's answer was lost, or a
    /// crash came between storing the job and triggering) looks for one newer than its
    /// baseline before it ends as "did not start".
    pub start_window: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            poll_interval: Duration::from_secs(5),
            max_wait: Duration::from_secs(4 * 3600),
            response_url_lifetime: RESPONSE_URL_LIFETIME,
            start_window: Duration::from_secs(120),
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
    /// For failures that stop loading before anything else can be checked.
    pub(super) fn one(problem: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![problem.into()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freeze_holds_from_its_start_until_its_end_on_what_it_names() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let f = Freeze {
            instance: Some("jira".into()),
            connectors: vec!["okta".into(), "c-2".into()],
            from: at("2026-12-20T00:00:00Z"),
            until: at("2027-01-04T00:00:00Z"),
            reason: "year end".into(),
        };
        assert!(!f.in_force(at("2026-12-19T23:59:59Z")));
        assert!(f.in_force(at("2026-12-20T00:00:00Z")));
        assert!(f.in_force(at("2027-01-03T23:59:59Z")));
        assert!(!f.in_force(at("2027-01-04T00:00:00Z")));
        assert!(f.covers("JIRA", "c-1", Some("Okta")));
        assert!(f.covers("jira", "c-2", None));
        assert!(!f.covers("jira", "c-3", Some("Azure AD")));
        assert!(!f.covers("conf", "c-2", None));
        assert!(!f.covers_everything());
        let all = Freeze {
            instance: None,
            connectors: vec!["*".into()],
            ..f
        };
        assert!(all.covers_everything() && all.covers("conf", "c-9", None));
    }

    #[test]
    fn an_account_is_protected_by_name_or_by_the_name_in_its_e_mail_address() {
        let protect = ProtectConfig {
            users: ["admin", "break-glass-*", "svc-*"]
                .iter()
                .map(|g| AccountGlob::parse(g).unwrap())
                .collect(),
        };
        let cases = [
            ("admin", Some("admin")),
            ("Admin", Some("admin")),
            (" admin ", Some("admin")),
            ("admin@acme.example", Some("admin")),
            ("break-glass-2", Some("break-glass-*")),
            ("SVC-Backup@acme.example", Some("svc-*")),
            ("alice.anderson", None),
            ("alice@admin.example", None),
            ("sysadmin", None),
        ];
        for (identifier, pattern) in cases {
            assert_eq!(
                protect.protecting(identifier).map(AccountGlob::as_str),
                pattern,
                "{identifier:?}"
            );
        }
        assert!(ProtectConfig::default().protecting("admin").is_none());
    }

    #[test]
    fn notify_on_words_round_trip() {
        for on in NotifyOn::ALL {
            assert_eq!(NotifyOn::parse(on.as_str()), Ok(on));
        }
        assert_eq!(
            NotifyOn::parse("Success").unwrap_err(),
            "\"Success\" is not one of \"success\", \"failure\", \"threshold\", \"change\""
        );
    }
}

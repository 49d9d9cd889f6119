//! `[slack]` and `[mattermost]`: the platforms the bot answers on. Either or both may be
//! configured; a section that is present must be complete.

use secrecy::SecretString;
use url::Url;

use super::Problems;
use crate::config::raw::{RawMattermost, RawSlack};
use crate::config::{MattermostConfig, SlackConfig};

const DEFAULT_SLACK_API: &str = "https://slack.com/api";
const DEFAULT_RESPONSE_URL_HOST: &str = "hooks.slack.com";

/// `None` when the section has problems (they are in `p`).
pub(super) fn slack(raw: RawSlack, p: &mut Problems) -> Option<SlackConfig> {
    let before = p.count();
    let signing_secrets = secrets(
        raw.signing_secrets,
        "slack.signing_secrets",
        "signing secret",
        p,
    );
    let api_base_url = raw.api_base_url.as_deref().unwrap_or(DEFAULT_SLACK_API);
    let api_base_url = http_url(api_base_url).or_else(|| {
        p.push(format!(
            "slack.api_base_url: {api_base_url:?} is not an http(s) URL"
        ));
        None
    });
    let response_url_hosts = response_url_hosts(raw.response_url_hosts, p);
    if p.count() != before {
        return None;
    }
    Some(SlackConfig {
        signing_secrets,
        bot_token: optional_secret(raw.bot_token),
        api_base_url: api_base_url?,
        response_url_hosts,
    })
}

/// Follow-ups are posted only to these hosts, so a pattern or a URL is refused rather
/// than widened; names are compared lower-case.
fn response_url_hosts(raw: Option<Vec<String>>, p: &mut Problems) -> Vec<String> {
    let hosts = raw.unwrap_or_else(|| vec![DEFAULT_RESPONSE_URL_HOST.into()]);
    for (i, h) in hosts.iter().enumerate() {
        if h.is_empty() || h.contains('/') || h.contains('*') || h.contains('@') {
            p.push(format!(
                "slack.response_url_hosts[{i}]: {h:?} must be a host name (optionally host:port), without wildcards"
            ));
        }
    }
    hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect()
}

/// `None` when the section has problems (they are in `p`).
pub(super) fn mattermost(raw: RawMattermost, p: &mut Problems) -> Option<MattermostConfig> {
    let before = p.count();
    let command_tokens = secrets(
        raw.command_tokens,
        "mattermost.command_tokens",
        "slash-command token",
        p,
    );
    let url = match raw.url {
        Some(text) => http_url(&text).filter(|u| u.host().is_some()).or_else(|| {
            p.push(format!("mattermost.url: {text:?} is not an http(s) URL"));
            None
        }),
        None => {
            p.push("mattermost.url: required: the Mattermost server's address (its Site URL)");
            None
        }
    };
    if p.count() != before {
        return None;
    }
    Some(MattermostConfig {
        command_tokens,
        url: url?,
        bot_token: optional_secret(raw.bot_token),
    })
}

/// A bot with no platform cannot be reached. Said only when nothing else is wrong: a
/// platform section with problems is not "missing".
pub(super) fn require_a_platform(configured: bool, p: &mut Problems) {
    if !configured && p.is_empty() {
        p.push(
            "slack: missing: configure [slack] (signing_secrets) or [mattermost] (command_tokens, url), or both",
        );
    }
}

/// Accepted secrets (several during a rotation): at least one, none blank.
fn secrets(raw: Vec<String>, key: &str, what: &str, p: &mut Problems) -> Vec<SecretString> {
    if raw.is_empty() {
        p.push(format!("{key}: at least one {what} is required"));
    }
    for (i, s) in raw.iter().enumerate() {
        if s.trim().is_empty() {
            p.push(format!("{key}[{i}]: is empty"));
        }
    }
    raw.into_iter().map(SecretString::from).collect()
}

/// A blank optional token (often an empty `${VAR}`) means "not configured".
fn optional_secret(raw: Option<String>) -> Option<SecretString> {
    raw.filter(|t| !t.trim().is_empty()).map(SecretString::from)
}

fn http_url(text: &str) -> Option<Url> {
    Url::parse(text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
}

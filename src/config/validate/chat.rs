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
    let app_token = if raw.socket_mode {
        app_token(raw.app_token, p)
    } else {
        if raw.app_token.is_some() {
            p.push("slack.app_token: only used with socket_mode = true");
        }
        None
    };
    // In Socket Mode the HTTP endpoints are optional: served only with a signing secret.
    let signing_secrets = if raw.socket_mode && raw.signing_secrets.is_empty() {
        Vec::new()
    } else {
        secrets(
            raw.signing_secrets,
            "slack.signing_secrets",
            "signing secret",
            p,
        )
    };
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
        app_token,
    })
}

/// Socket Mode's app-level token: required, and of an app token's shape (`xapp-…`). The
/// problem names the shape, never the value.
fn app_token(raw: Option<String>, p: &mut Problems) -> Option<SecretString> {
    let Some(token) = raw.filter(|t| !t.trim().is_empty()) else {
        p.push("slack.app_token: required with socket_mode = true: an app-level token (xapp-…) with the connections:write scope");
        return None;
    };
    let shaped = token.starts_with("xapp-")
        && token.len() > "xapp-".len()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !shaped {
        let hint = if token.starts_with("xoxb-") {
            " (this looks like a bot token: the app token is under Basic Information, App-Level Tokens)"
        } else {
            ""
        };
        p.push(format!(
            "slack.app_token: not an app-level token: it must start with xapp- and hold only letters, digits and dashes{hint}"
        ));
        return None;
    }
    Some(SecretString::from(token))
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

#[cfg(test)]
mod tests {
    use super::super::check;
    use super::*;

    #[test]
    fn slack_needs_a_signing_secret_and_nothing_else() {
        let (made, problems) = check("signing_secrets = []", slack);
        assert!(made.is_none());
        assert_eq!(
            problems,
            ["slack.signing_secrets: at least one signing secret is required"]
        );
    }

    #[test]
    fn socket_mode_needs_an_app_token_of_the_right_shape_and_no_signing_secret() {
        let (made, problems) = check(
            "socket_mode = true\napp_token = \"xapp-1-A0-123-abc\"",
            slack,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let made = made.unwrap();
        assert!(made.socket_mode());
        assert!(made.signing_secrets.is_empty());
        let (made, problems) = check("socket_mode = true", slack);
        assert!(made.is_none());
        assert!(
            problems[0].starts_with("slack.app_token: required"),
            "{problems:?}"
        );
        for bad in ["xoxb-secret-value-1", "xapp-", "xapp-a b", "secret-value-1"] {
            let (made, problems) =
                check(&format!("socket_mode = true\napp_token = {bad:?}"), slack);
            assert!(made.is_none(), "{bad}");
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].starts_with("slack.app_token: not an app-level token"));
            assert!(
                !problems[0].contains("secret-value"),
                "the token is never echoed: {problems:?}"
            );
        }
        let (made, problems) = check("signing_secrets = [\"s\"]\napp_token = \"xapp-1\"", slack);
        assert!(made.is_none());
        assert_eq!(
            problems,
            ["slack.app_token: only used with socket_mode = true"]
        );
    }

    #[test]
    fn slack_defaults_to_the_public_api_and_hooks_host() {
        let (made, problems) = check("signing_secrets = [\"s\"]\nbot_token = \" \"", slack);
        assert!(problems.is_empty(), "{problems:?}");
        let slack = made.unwrap();
        assert_eq!(slack.api_base_url.as_str(), "https://slack.com/api");
        assert_eq!(slack.response_url_hosts, ["hooks.slack.com"]);
        assert!(slack.bot_token.is_none(), "a blank token is no token");
    }

    #[test]
    fn slack_refuses_a_wildcard_response_url_host() {
        let text = "signing_secrets = [\"s\"]\nresponse_url_hosts = [\"Hooks.Example.com:8443\", \"*.slack.com\"]";
        let (made, problems) = check(text, slack);
        assert!(made.is_none());
        assert_eq!(
            problems,
            ["slack.response_url_hosts[1]: \"*.slack.com\" must be a host name (optionally host:port), without wildcards"]
        );
    }

    #[test]
    fn mattermost_needs_its_server_url() {
        let (made, problems) = check("command_tokens = [\"t\"]", mattermost);
        assert!(made.is_none());
        assert_eq!(
            problems,
            ["mattermost.url: required: the Mattermost server's address (its Site URL)"]
        );
        let text = "command_tokens = [\"t\"]\nurl = \"https://chat.example.com\"";
        let (made, problems) = check(text, mattermost);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(made.unwrap().url.as_str(), "https://chat.example.com/");
    }

    #[test]
    fn a_missing_platform_is_said_only_when_nothing_else_is_wrong() {
        let mut p = Problems::default();
        require_a_platform(true, &mut p);
        assert!(p.is_empty());
        require_a_platform(false, &mut p);
        assert_eq!(p.count(), 1);
        assert!(p.into_vec()[0].starts_with("slack: missing: configure [slack]"));
        let mut p = Problems::default();
        p.push("listen: bad");
        require_a_platform(false, &mut p);
        assert_eq!(p.into_vec(), ["listen: bad"]);
    }
}

//! `[[instances]]`: the products the bot talks to. At least one; names are unique
//! (ignoring case) because commands pick an instance by name.

use secrecy::SecretString;
use url::Url;

use super::{duration, Problems};
use crate::config::raw::RawInstance;
use crate::usersync::{ApiFlavour, Credentials, InstanceConfig, RetryPolicy, DEFAULT_TIMEOUT};

/// The instances, and the index of the default one: the one marked `default`, or the
/// only one.
pub(super) fn instances(
    raw: Vec<RawInstance>,
    p: &mut Problems,
) -> (Vec<InstanceConfig>, Option<usize>) {
    if raw.is_empty() {
        p.push("instances: at least one [[instances]] entry is required");
    }
    let mut instances = Vec::new();
    let mut default_instance = None;
    for (i, inst) in raw.into_iter().enumerate() {
        let key = format!("instances[{i}]");
        if inst.default {
            if default_instance.is_some() {
                p.push(format!(
                    "{key}.default: only one instance can be the default"
                ));
            }
            default_instance = Some(i);
        }
        if let Some(config) = instance(inst, &key, p) {
            check_unique(&config.name, &instances, &key, p);
            instances.push(config);
        }
    }
    if instances.len() == 1 {
        default_instance = Some(0);
    }
    (instances, default_instance)
}

/// Commands pick an instance by name, ignoring case, so two with one name are ambiguous.
fn check_unique(name: &str, earlier: &[InstanceConfig], key: &str, p: &mut Problems) {
    if earlier.iter().any(|c| c.name.eq_ignore_ascii_case(name)) {
        p.push(format!("{key}.name: {name:?} is used twice"));
    }
}

/// One `[[instances]]` entry; `None` when it has problems (they are in `p`).
fn instance(raw: RawInstance, key: &str, p: &mut Problems) -> Option<InstanceConfig> {
    let before = p.count();
    check_name(&raw.name, key, p);
    let base_url = base_url(&raw.base_url, key, p);
    let credentials = credentials(raw.username, raw.password, raw.token, key, p);
    let api = match raw.api.as_deref().unwrap_or("2").parse::<ApiFlavour>() {
        Ok(api) => api,
        Err(e) => {
            p.push(format!("{key}.api: {e}"));
            ApiFlavour::V2
        }
    };
    let timeout_key = format!("{key}.timeout");
    let timeout = duration(raw.timeout.as_deref(), &timeout_key, DEFAULT_TIMEOUT, p);
    if p.count() != before {
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

/// Names are typed in commands, so they are kept to characters that need no quoting.
fn check_name(name: &str, key: &str, p: &mut Problems) {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    if name.is_empty() || !name.chars().all(allowed) {
        p.push(format!(
            "{key}.name: {name:?} must be letters, digits, '-', '_' or '.'"
        ));
    }
}

fn base_url(text: &str, key: &str, p: &mut Problems) -> Option<Url> {
    match Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        _ => {
            p.push(format!("{key}.base_url: {text:?} is not an http(s) URL"));
            None
        }
    }
}

/// Exactly one kind: username and password, or a token. Saying which half is missing
/// is more helpful than a generic refusal.
fn credentials(
    username: Option<String>,
    password: Option<String>,
    token: Option<String>,
    key: &str,
    p: &mut Problems,
) -> Option<Credentials> {
    let problem = match (username, password, token) {
        (Some(username), Some(password), None) if !username.is_empty() => {
            let password = SecretString::from(password);
            return Some(Credentials::Basic { username, password });
        }
        (None, None, Some(token)) if !token.is_empty() => {
            let token = SecretString::from(token);
            return Some(Credentials::Bearer { token });
        }
        (Some(_), None, None) => format!("{key}.password: required with username"),
        (None, Some(_), None) => format!("{key}.username: required with password"),
        (None, None, None) => format!("{key}: give username and password, or token"),
        _ => format!("{key}: give either username and password, or token, not both"),
    };
    p.push(problem);
    None
}

#[cfg(test)]
mod tests {
    use super::super::check;
    use super::*;
    use crate::config::tests::{env, GOOD};
    use crate::config::Config;

    /// `[[instances]]` entries as the `instances` key of a table, the way the file has them.
    fn check_instances(toml: &str) -> ((Vec<InstanceConfig>, Option<usize>), Vec<String>) {
        #[derive(serde::Deserialize)]
        struct File {
            instances: Vec<RawInstance>,
        }
        check(toml, |f: File, p: &mut Problems| instances(f.instances, p))
    }

    const JIRA: &str =
        "[[instances]]\nname = \"jira\"\nbase_url = \"https://jira.example.com\"\ntoken = \"t\"\n";

    #[test]
    fn at_least_one_instance_is_required() {
        let ((made, default), problems) = check_instances("instances = []");
        assert!(made.is_empty());
        assert_eq!(default, None);
        assert_eq!(
            problems,
            ["instances: at least one [[instances]] entry is required"]
        );
    }

    #[test]
    fn the_only_instance_is_the_default() {
        let ((made, default), problems) = check_instances(JIRA);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(made[0].api, ApiFlavour::V2);
        assert_eq!(made[0].timeout, DEFAULT_TIMEOUT);
        assert_eq!(default, Some(0));
    }

    #[test]
    fn a_name_is_used_once_ignoring_case() {
        let text = format!("{JIRA}{}", JIRA.replace("\"jira\"", "\"JIRA\""));
        let (_, problems) = check_instances(&text);
        assert_eq!(problems, ["instances[1].name: \"JIRA\" is used twice"]);
    }

    #[test]
    fn a_token_and_a_password_together_are_refused() {
        let text = JIRA.replace(
            "token = \"t\"",
            "token = \"t\"\nusername = \"u\"\npassword = \"p\"",
        );
        let ((made, _), problems) = check_instances(&text);
        assert!(made.is_empty());
        assert_eq!(
            problems,
            ["instances[0]: give either username and password, or token, not both"]
        );
    }

    #[test]
    fn a_base_url_without_scheme_is_refused() {
        let text = JIRA.replace("https://jira.example.com", "jira.example.com");
        let (_, problems) = check_instances(&text);
        assert_eq!(
            problems,
            ["instances[0].base_url: \"jira.example.com\" is not an http(s) URL"]
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
}

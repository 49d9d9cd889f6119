//! `${VAR}` substitution, done on the TOML value before it is read, so every string key
//! can take a secret from the environment. After substitution a value may be a secret:
//! problems name the key and the variable, never the value.

use super::validate::Problems;

/// Replaces `${NAME}` in every string with the environment's value. A variable that is
/// not set is a problem naming the key; its value is never echoed.
pub(super) fn substitute_env(
    value: &mut toml::Value,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) {
    match value {
        toml::Value::String(s) => match substitute_str(s, key, env) {
            Ok(out) => *s = out,
            Err(problem) => problems.push(problem),
        },
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

/// One string with every `${NAME}` replaced; the first bad reference is the problem, so a
/// string is either fully substituted or left alone.
fn substitute_str(
    s: &str,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("{key}: unclosed ${{ in value"));
        };
        let name = &after[..end];
        if !is_variable_name(name) {
            return Err(format!("{key}: ${{{name}}} is not a valid variable name"));
        }
        match env(name) {
            Some(v) => out.push_str(&v),
            None => return Err(format!("{key}: environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The portable shell spelling: letters, digits and `_`, not starting with a digit.
fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// serde quotes the offending value in type errors (`invalid type: string "…"`); after
/// `${VAR}` substitution that value can be a secret, so quoted values are left out.
pub(super) fn without_values(message: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{env, GOOD};
    use crate::config::Config;

    fn token_env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_string())
    }

    fn substituted(text: &str) -> Result<toml::Value, Vec<String>> {
        let mut value = toml::Value::Table(toml::from_str(text).unwrap());
        let mut problems = Problems::default();
        substitute_env(&mut value, "", &token_env, &mut problems);
        let problems = problems.into_vec();
        if problems.is_empty() {
            Ok(value)
        } else {
            Err(problems)
        }
    }

    #[test]
    fn variables_are_replaced_in_nested_strings() {
        let value = substituted("[a]\nb = [\"x${TOKEN}y\", \"${TOKEN}\"]\nn = 3").unwrap();
        assert_eq!(value["a"]["b"][0].as_str(), Some("xs3crety"));
        assert_eq!(value["a"]["b"][1].as_str(), Some("s3cret"));
        assert_eq!(value["a"]["n"].as_integer(), Some(3));
    }

    #[test]
    fn each_bad_reference_names_its_key_once() {
        let err = substituted(
            "a = \"${MISSING}\"\n[t]\nb = [\"ok\", \"${1X}\"]\nc = \"${TOKEN\"\nd = \"${}\"",
        )
        .unwrap_err();
        assert_eq!(
            err,
            [
                "a: environment variable MISSING is not set",
                "t.b[1]: ${1X} is not a valid variable name",
                "t.c: unclosed ${ in value",
                "t.d: ${} is not a valid variable name",
            ]
        );
    }

    #[test]
    fn quoted_values_are_scrubbed_from_serde_messages() {
        assert_eq!(
            without_values("invalid type: string \"s3cret\", expected a sequence"),
            "invalid type: string value, expected a sequence"
        );
        assert_eq!(
            without_values("unknown field `x`, expected `y`"),
            "unknown field `x`, expected `y`"
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
}

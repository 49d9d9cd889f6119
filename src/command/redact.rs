//! Command text fit for the audit: the secrets a person may type taken out.
//!
//! It works on the raw text, whatever it parses as (a valid command, a mistake, a command
//! of a later version): word by word, as [`tokenize`] splits them,
//!
//! - the value of a `key=value` word whose key, or any dotted segment of it, names a
//!   secret field ([`is_secret_field`]: `password=…`, `ldap.bindPassword=…`) becomes `***`;
//! - the word after a `--flag` that names one (`--token …`) becomes `***`;
//! - a word that is JSON has the secrets inside it replaced: in objects, every field that
//!   names a secret ([`redact_secrets`]); in a JSON Patch, the `value` of an operation
//!   whose `path` ends in such a field. A word that looks like JSON but does not parse,
//!   and names a secret field, is taken out whole.
//!
//! Text in which nothing was found is kept exactly as typed; otherwise the words are
//! joined again with single spaces, each quoted when it needs to be, so that the text
//! still reads like the command. The secrets found are remembered, so that other text
//! about the same command (a usage error quoting a word, a connector argument) can be
//! [`Redacted::scrub`]bed of them too.

use serde_json::Value;

use super::tokenize::{tokenize, TokenizeError};
use crate::usersync::{is_secret_field, redact_secrets, REDACTED};

/// What a secret typed as `key=value` (or after a `--flag`) is shown as.
pub const HIDDEN: &str = "***";

/// The command text without its secrets, and the secrets that were taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    text: String,
    secrets: Vec<String>,
}

impl Redacted {
    /// The text, secret-free.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn into_text(self) -> String {
        self.text
    }

    /// Whether anything was taken out.
    pub fn found_secrets(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// `other` (text about the same command) with every secret found in the command
    /// replaced by `***`, as typed and as `{:?}` writes it inside quotes.
    pub fn scrub(&self, other: &str) -> String {
        let mut out = other.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), HIDDEN);
            }
        }
        out
    }
}

/// The command text fit for the audit (see the module's documentation).
pub fn audit_text(text: &str) -> String {
    redact(text).into_text()
}

/// The command text without its secrets, and the secrets found.
pub fn redact(text: &str) -> Redacted {
    // Nearly every command has none of these: nothing to look at.
    if !text.contains(['=', '{', '[', '-']) {
        return unchanged(text);
    }
    let Some(words) = words(text) else {
        return unchanged(text);
    };
    let mut secrets = Vec::new();
    let mut changed = false;
    let mut out = Vec::with_capacity(words.len());
    let mut hide_next = false;
    for word in &words {
        let redacted = if std::mem::take(&mut hide_next) {
            hidden(word, &mut secrets)
        } else {
            hide_next = names_secret_flag(word);
            redact_word(word, &mut secrets)
        };
        match redacted {
            Some(w) => {
                changed = true;
                out.push(w);
            }
            None => out.push(word.clone()),
        }
    }
    if !changed {
        return unchanged(text);
    }
    // Longest first, so that a secret holding another one is replaced whole; each also as
    // `{:?}` writes it (a usage error quotes the words it names that way).
    let mut all: Vec<String> = Vec::with_capacity(secrets.len() * 2);
    for s in secrets {
        let debug = format!("{s:?}");
        let inner = &debug[1..debug.len() - 1];
        if inner != s {
            all.push(inner.to_string());
        }
        all.push(s);
    }
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    all.dedup();
    Redacted {
        text: out.iter().map(|w| requote(w)).collect::<Vec<_>>().join(" "),
        secrets: all,
    }
}

fn unchanged(text: &str) -> Redacted {
    Redacted {
        text: text.to_string(),
        secrets: Vec::new(),
    }
}

/// The words of the text; an unclosed quote is taken as closed at the end, so a mistake
/// is redacted like the command it was meant to be.
fn words(text: &str) -> Option<Vec<String>> {
    match tokenize(text) {
        Ok(words) => Some(words),
        Err(TokenizeError::Unclosed(close)) => tokenize(&format!("{text}{close}")).ok(),
    }
}

/// `--password`, `--api-token`: a flag whose value would be a secret.
fn names_secret_flag(word: &str) -> bool {
    word.strip_prefix("--")
        .is_some_and(|name| !name.is_empty() && !name.contains('=') && secret_key(name))
}

/// Whether a key, or one of its dotted segments, names a secret field.
fn secret_key(key: &str) -> bool {
    let key = key.trim_start_matches('-');
    key.split('.').any(is_secret_field)
}

/// The word as a whole secret: `***`, remembering it.
fn hidden(word: &str, secrets: &mut Vec<String>) -> Option<String> {
    if word.is_empty() {
        return None;
    }
    secrets.push(word.to_string());
    Some(HIDDEN.to_string())
}

/// The word with its secrets taken out, or `None` when it has none.
fn redact_word(word: &str, secrets: &mut Vec<String>) -> Option<String> {
    if looks_like_json(word) {
        return redact_json(word, secrets);
    }
    if let Some((key, value)) = word.split_once('=') {
        if secret_key(key) {
            return hidden(value, secrets).map(|v| format!("{key}={v}"));
        }
        // `settings={"password": …}`: JSON after a key that is no secret itself.
        return redact_json(value, secrets).map(|v| format!("{key}={v}"));
    }
    redact_json(word, secrets)
}

/// A word that is JSON, with the secrets inside it replaced; `None` when it is not JSON
/// or holds no secret.
fn redact_json(word: &str, secrets: &mut Vec<String>) -> Option<String> {
    if !looks_like_json(word) {
        return None;
    }
    let Ok(mut value) = serde_json::from_str::<Value>(word) else {
        // Broken JSON cannot be taken apart safely: if it names a secret field, the word
        // goes whole.
        return secret_key(word).then(|| hidden(word, secrets)).flatten();
    };
    let before = secrets.len();
    redact_patch(&mut value, secrets);
    collect_secrets(&value, secrets);
    redact_secrets(&mut value);
    (secrets.len() > before).then(|| value.to_string())
}

fn looks_like_json(word: &str) -> bool {
    word.trim_start().starts_with(['{', '['])
}

/// In a JSON Patch (an array of operations), the `value` of each operation whose `path`
/// ends in a secret field.
fn redact_patch(value: &mut Value, secrets: &mut Vec<String>) {
    let Value::Array(ops) = value else {
        return;
    };
    for op in ops.iter_mut().filter_map(Value::as_object_mut) {
        let secret_path = op
            .get("path")
            .and_then(Value::as_str)
            .and_then(|p| p.rsplit('/').next())
            .map(|last| last.replace("~1", "/").replace("~0", "~"))
            .is_some_and(|last| secret_key(&last));
        if let Some(v) = op.get_mut("value").filter(|_| secret_path) {
            let before = secrets.len();
            leaves(v, secrets);
            if secrets.len() > before {
                *v = Value::String(REDACTED.to_string());
            }
        }
    }
}

/// The values [`redact_secrets`] is about to replace: every leaf under a field that
/// names a secret.
fn collect_secrets(value: &Value, secrets: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if is_secret_field(k) {
                    leaves(v, secrets);
                } else {
                    collect_secrets(v, secrets);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_secrets(v, secrets)),
        _ => {}
    }
}

/// Every string and number under `value`, as text (not the one already redacted).
fn leaves(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if !s.is_empty() && s != REDACTED => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| leaves(v, out)),
        Value::Object(map) => map.values().for_each(|v| leaves(v, out)),
        _ => {}
    }
}

/// Quote characters the tokenizer knows.
const QUOTES: [char; 8] = ['"', '\'', '“', '”', '„', '‘', '’', '«'];

/// A word written so that it reads as one: bare when it can be, else in a quote it does
/// not contain (as it was, when it holds every kind of quote: it is for reading only).
fn requote(word: &str) -> String {
    let needs = word.is_empty()
        || word.contains(char::is_whitespace)
        || word.contains(QUOTES)
        || word.contains('»');
    if !needs {
        return word.to_string();
    }
    let has = |cs: &[char]| cs.iter().any(|c| word.contains(*c));
    let (open, close) = if !has(&['\'']) {
        ('\'', '\'')
    } else if !has(&['"']) {
        ('"', '"')
    } else if !has(&['“', '”']) {
        ('“', '”')
    } else if !has(&['‘', '’']) {
        ('‘', '’')
    } else if !has(&['»']) {
        ('«', '»')
    } else {
        return word.to_string();
    };
    format!("{open}{word}{close}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_table() {
        let cases = [
            // Nothing secret: kept exactly as typed.
            ("/usersync status “Azure AD”", "/usersync status “Azure AD”"),
            ("/usersync run okta --local", "/usersync run okta --local"),
            ("/usersync user okta -- --odd", "/usersync user okta -- --odd"),
            ("/usersync set okta enabled=false", "/usersync set okta enabled=false"),
            ("", ""),
            // key=value with a secret key, or a dotted segment of one.
            ("set okta password=hunter2", "set okta password=***"),
            (
                "set okta ldap.bindPassword=\"a b\" enabled=true",
                "set okta ldap.bindPassword=*** enabled=true",
            ),
            ("set okta clientSecret= x", "set okta clientSecret= x"),
            ("set okta API_TOKEN=abc=def", "set okta API_TOKEN=***"),
            ("set \"Azure AD\" key=k1", "set 'Azure AD' key=***"),
            ("run okta --token=abc", "run okta --token=***"),
            ("run okta --token abc --local", "run okta --token *** --local"),
            // An unclosed quote is taken as closed at the end.
            ("set okta password=\"hunter 2", "set okta password=***"),
            // JSON objects: every secret field, however deep.
            (
                "patch okta '{\"password\":\"hunter2\",\"name\":\"Okta\"}'",
                "patch okta '{\"name\":\"Okta\",\"password\":\"••••••\"}'",
            ),
            // Unquoted JSON keeps its quotes: read as JSON all the same.
            (
                "patch okta {\"password\":\"hunter2\"}",
                "patch okta '{\"password\":\"••••••\"}'",
            ),

            (
                "patch okta '{\"ldap\": {\"bindCredential\": 42}, \"enabled\": true}'",
                "patch okta '{\"enabled\":true,\"ldap\":{\"bindCredential\":\"••••••\"}}'",
            ),
            (
                "set okta 'settings={\"clientSecret\":\"s\"}'",
                "set okta 'settings={\"clientSecret\":\"••••••\"}'",
            ),
            // JSON Patch: the value of an operation on a secret path.
            (
                "patch okta '[{\"op\":\"replace\",\"path\":\"/credentials/apiToken\",\"value\":\"t0k\"},{\"op\":\"replace\",\"path\":\"/name\",\"value\":\"Okta 2\"}]'",
                "patch okta '[{\"op\":\"replace\",\"path\":\"/credentials/apiToken\",\"value\":\"••••••\"},{\"op\":\"replace\",\"path\":\"/name\",\"value\":\"Okta 2\"}]'",
            ),
            (
                "patch okta '[{\"op\":\"add\",\"path\":\"/ldap\",\"value\":{\"password\":\"pw\"}}]'",
                "patch okta '[{\"op\":\"add\",\"path\":\"/ldap\",\"value\":{\"password\":\"••••••\"}}]'",
            ),
            // JSON with no secret, and broken JSON.
            (
                "patch okta '[{\"op\":\"remove\",\"path\":\"/password\"}]'",
                "patch okta '[{\"op\":\"remove\",\"path\":\"/password\"}]'",
            ),
            ("patch okta '{\"password\": \"x\"'", "patch okta ***"),
            ("patch okta '{\"name\": \"x\"'", "patch okta '{\"name\": \"x\"'"),
            // Quoting keeps the words readable whatever they hold.
            (
                "set “it's \"x\"” password=1",
                "set “it's \"x\"” password=***",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(audit_text(text), expected, "{text:?}");
        }
    }

    #[test]
    fn other_text_about_the_command_is_scrubbed_of_its_secrets() {
        let r = redact("status okta password=hun\"ter2");
        assert!(r.found_secrets());
        assert_eq!(r.text(), "status okta password=***");
        let problem = crate::command::parse("status okta password=hun\"ter2")
            .expect_err("one word too many")
            .problem
            .to_string();
        assert_eq!(
            r.scrub(&problem),
            "Unexpected \"password=***\". (Put a name with spaces in quotes.)"
        );
        assert_eq!(r.scrub("password=hun\"ter2"), "password=***");
        let none = redact("status okta");
        assert!(!none.found_secrets());
        assert_eq!(none.scrub("status okta"), "status okta");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A secret: marked so that it cannot appear in the rest of the text by chance.
        fn secret() -> impl Strategy<Value = String> {
            "[A-Za-z0-9 !#$%&()*+,./:;<=>?@^_{|}~\"'“”’éü-]{0,12}".prop_map(|s| format!("Zq9{s}"))
        }

        fn secret_key() -> impl Strategy<Value = String> {
            (
                prop::sample::select(vec![
                    "password",
                    "bindPassword",
                    "clientSecret",
                    "apiToken",
                    "privateKey",
                    "credentials",
                    "CERTIFICATE",
                ]),
                prop::option::of("[a-z]{1,6}"),
            )
                .prop_map(|(key, prefix)| match prefix {
                    Some(p) => format!("{p}.{key}"),
                    None => key.to_string(),
                })
        }

        /// A key that names no secret.
        fn plain_key() -> impl Strategy<Value = String> {
            "[a-z]{1,8}".prop_filter("names a secret", |k| !is_secret_field(k))
        }

        /// A word as typed, quoted in a quote it does not contain.
        fn typed(word: &str) -> Option<String> {
            let has = |cs: &[char]| cs.iter().any(|c| word.contains(*c));
            if !has(&['"']) {
                Some(format!("\"{word}\""))
            } else if !has(&['\'']) {
                Some(format!("'{word}'"))
            } else if !has(&['“', '”']) {
                Some(format!("“{word}”"))
            } else {
                None
            }
        }

        /// One word of a command and the secrets in it.
        fn word() -> impl Strategy<Value = (String, Vec<String>)> {
            prop_oneof![
                "[a-z0-9]{1,8}".prop_map(|w| (w, vec![])),
                plain_key().prop_map(|k| (format!("--{k}"), vec![])),
                (plain_key(), "[a-z0-9]{0,6}").prop_map(|(k, v)| (format!("{k}={v}"), vec![])),
                (secret_key(), secret()).prop_filter_map("every quote", |(k, s)| {
                    typed(&format!("{k}={s}")).map(|w| (w, vec![s]))
                }),
                (secret_key(), secret()).prop_filter_map("every quote", |(k, s)| {
                    typed(&s).map(|w| (format!("--{k} {w}"), vec![s]))
                }),
                (secret_key(), secret(), "[a-z]{1,6}").prop_filter_map(
                    "every quote",
                    |(k, s, other)| {
                        let json = serde_json::json!({ other: { k: s }, "enabled": true });
                        typed(&json.to_string()).map(|w| (w, vec![s]))
                    }
                ),
                (secret_key(), secret(), any::<bool>()).prop_filter_map(
                    "every quote",
                    |(k, s, nested)| {
                        let (path, value) = if nested {
                            ("/ldap".to_string(), serde_json::json!({ k: s }))
                        } else {
                            (format!("/ldap/{k}"), serde_json::json!(s))
                        };
                        let patch = serde_json::json!([
                            {"op": "test", "path": "/name", "value": "Okta"},
                            {"op": "replace", "path": path, "value": value},
                        ]);
                        typed(&patch.to_string()).map(|w| (w, vec![s]))
                    }
                ),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 1000,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            #[test]
            fn no_secret_survives(
                name in prop::sample::select(vec!["set", "patch", "status", "run", "frobnicate"]),
                words in prop::collection::vec(word(), 0..6),
                unclosed in any::<bool>(),
            ) {
                let mut text = format!("/usersync {name} okta");
                let mut secrets = Vec::new();
                for (w, s) in words {
                    text.push(' ');
                    text.push_str(&w);
                    secrets.extend(s);
                }
                if unclosed {
                    text.push_str(" \"");
                }
                let r = redact(&text);
                // Usage errors quote the words they name with `{:?}`.
                let problem = crate::command::parse(&text)
                    .err()
                    .map(|e| e.problem.to_string())
                    .unwrap_or_default();
                let scrubbed = r.scrub(&problem);
                for s in &secrets {
                    let debug = format!("{s:?}");
                    let escaped = &debug[1..debug.len() - 1];
                    for out in [r.text(), scrubbed.as_str()] {
                        prop_assert!(!out.contains(s.as_str()), "{:?} in {:?} (from {:?})", s, out, text);
                        prop_assert!(!out.contains(escaped), "{:?} in {:?} (from {:?})", escaped, out, text);
                    }
                }
                prop_assert_eq!(r.found_secrets(), !secrets.is_empty());
                if secrets.is_empty() {
                    prop_assert_eq!(r.text(), text.as_str());
                }
                let start = format!("/usersync {name} okta");
                prop_assert!(r.text().starts_with(&start), "{:?}", r.text());
            }

            #[test]
            fn any_text_is_redacted_without_panicking(text in any::<String>()) {
                let r = redact(&text);
                if !r.found_secrets() {
                    prop_assert_eq!(r.text(), text.as_str());
                }
            }
        }
    }
}

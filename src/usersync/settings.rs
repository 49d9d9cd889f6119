//! Connector settings as documents: the fields they hold, what changed between two of
//! them, merge patches built from `key=value` words, and the redacted form a revision is
//! stored in. Pure functions over JSON.
//!
//! A field is a path of object keys (`sync.pageSize`); arrays and scalars are leaves, so a
//! changed list shows as one field with its old and new value.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::model::is_secret_field;
use crate::signing::BotKey;

/// Where a field is: its object keys, outermost first.
pub type FieldPath = Vec<String>;

/// A path as people write it: keys joined with dots.
pub fn dotted(path: &[String]) -> String {
    path.join(".")
}

/// Whether any key on the path names a secret.
pub fn is_secret_path(path: &[String]) -> bool {
    path.iter().any(|k| is_secret_field(k))
}

/// Every leaf of a document with its path. An empty object inside is a leaf of its own.
pub fn leaves(value: &Value) -> BTreeMap<FieldPath, Value> {
    fn walk(value: &Value, path: &mut FieldPath, out: &mut BTreeMap<FieldPath, Value>) {
        match value {
            Value::Object(map) if !map.is_empty() || path.is_empty() => {
                for (k, v) in map {
                    path.push(k.clone());
                    walk(v, path, out);
                    path.pop();
                }
            }
            other => {
                out.insert(path.clone(), other.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

/// One field that differs between two documents (`None`: absent on that side).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub path: FieldPath,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl FieldChange {
    pub fn field(&self) -> String {
        dotted(&self.path)
    }

    pub fn is_secret(&self) -> bool {
        is_secret_path(&self.path)
    }
}

/// The fields that differ, in path order.
pub fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    let (b, a) = (leaves(before), leaves(after));
    let mut paths: Vec<&FieldPath> = b.keys().chain(a.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| b.get(*p) != a.get(*p))
        .map(|p| FieldChange {
            path: p.clone(),
            before: b.get(p).cloned(),
            after: a.get(p).cloned(),
        })
        .collect()
}

/// Whether the document has a value (of any kind) at this path.
pub fn has_path(doc: &Value, path: &[String]) -> bool {
    let mut at = doc;
    for key in path {
        match at.get(key) {
            Some(v) => at = v,
            None => return false,
        }
    }
    true
}

/// The value a `key=value` word gives: JSON when it parses as JSON (`500`, `true`,
/// `null`, `["a","b"]`, `"quoted"`), else the text itself.
pub fn parse_value(text: &str) -> Value {
    if let Ok(v) = serde_json::from_str(text) {
        return v;
    }
    // Chat clients may turn straight quotes into curly ones.
    let straight: String = text
        .chars()
        .map(|c| {
            if matches!(c, '“' | '”' | '„') {
                '"'
            } else {
                c
            }
        })
        .collect();
    serde_json::from_str(&straight).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// Why assignments do not make a merge patch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    #[error("{0:?} is not key=value (write sync.pageSize=500, or name=\"Azure AD\").")]
    NotAnAssignment(String),
    #[error("{0:?} has an empty key.")]
    EmptyKey(String),
    #[error("{0} is set twice, or both as a value and as a group of fields.")]
    Conflict(String),
}

/// The JSON Merge Patch (RFC 7386) that `key=value` words describe: dotted keys nest
/// (`sync.pageSize=500` → `{"sync":{"pageSize":500}}`), values as [`parse_value`] reads
/// them.
pub fn merge_patch_from_assignments(words: &[String]) -> Result<Value, AssignmentError> {
    let mut patch = Map::new();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(AssignmentError::NotAnAssignment(word.clone()));
        };
        let path: Vec<&str> = key.split('.').collect();
        if path.iter().any(|k| k.trim().is_empty()) {
            return Err(AssignmentError::EmptyKey(word.clone()));
        }
        let conflict = || AssignmentError::Conflict(key.to_string());
        let (last, parents) = path.split_last().ok_or_else(conflict)?;
        let mut at = &mut patch;
        for k in parents {
            let entry = at
                .entry(k.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            at = entry.as_object_mut().ok_or_else(conflict)?;
        }
        if at.contains_key(*last) {
            return Err(conflict());
        }
        at.insert(last.to_string(), parse_value(value));
    }
    Ok(Value::Object(patch))
}

/// The merge patch that makes `current` equal to `target` on every non-secret field:
/// changed fields set, fields that `target` lacks removed (`null`). Secrets are left
/// alone (a revision keeps only their fingerprint).
pub fn merge_patch_restoring(current: &Value, target: &Value) -> Value {
    let mut patch = Map::new();
    for change in diff(current, target) {
        if change.is_secret() {
            continue;
        }
        let Some((last, parents)) = change.path.split_last() else {
            continue;
        };
        // A field that became a value where there was a group: the value alone says it.
        let mut at = Some(&mut patch);
        for k in parents {
            let Some(map) = at else { break };
            let entry = map
                .entry(k.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if entry.is_null() {
                // A value that became a group: the group replaces the removal.
                *entry = Value::Object(Map::new());
            }
            at = entry.as_object_mut();
        }
        if let Some(map) = at {
            map.insert(last.clone(), change.after.clone().unwrap_or(Value::Null));
        }
    }
    Value::Object(patch)
}

/// The prefix of a secret's fingerprint in a stored revision.
pub const FINGERPRINT_PREFIX: &str = "fingerprint:";

/// A document fit to store: every secret value that is set replaced by its keyed
/// fingerprint, so that a changed secret is seen as changed and never stored.
pub fn fingerprint_secrets(value: &Value, key: &BotKey) -> Value {
    fn walk(value: &mut Value, key: &BotKey) {
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    let empty = v.is_null() || v.as_str().is_some_and(str::is_empty);
                    if is_secret_field(k) && !empty {
                        let bytes = serde_json::to_vec(v).unwrap_or_default();
                        *v = Value::String(format!(
                            "{FINGERPRINT_PREFIX}{}",
                            key.fingerprint("secret", &bytes)
                        ));
                    } else {
                        walk(v, key);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, key)),
            _ => {}
        }
    }
    let mut out = value.clone();
    walk(&mut out, key);
    out
}

/// A keyed fingerprint of a whole document (secrets included): the state a confirmation
/// prompt was shown against. Object keys serialize sorted, so equal documents give equal
/// fingerprints.
pub fn state_fingerprint(value: &Value, key: &BotKey) -> String {
    key.fingerprint("state", &serde_json::to_vec(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn words(ws: &[&str]) -> Vec<String> {
        ws.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn assignments_make_nested_merge_patches_with_json_values() {
        let patch = merge_patch_from_assignments(&words(&[
            "sync.pageSize=500",
            "sync.enabled=true",
            "name=Azure AD",
            "groups=[\"a\",\"b\"]",
            "curly=[“x”]",
            "note=null",
            "label=500x",
            "quoted=\"500\"",
            "expr=a=b",
        ]))
        .unwrap();
        assert_eq!(
            patch,
            json!({
                "sync": {"pageSize": 500, "enabled": true},
                "name": "Azure AD",
                "groups": ["a", "b"],
                "curly": ["x"],
                "note": null,
                "label": "500x",
                "quoted": "500",
                "expr": "a=b",
            })
        );
    }

    #[test]
    fn bad_assignments_are_refused_with_the_word() {
        let cases = [
            (
                vec!["pageSize"],
                AssignmentError::NotAnAssignment("pageSize".into()),
            ),
            (vec!["=5"], AssignmentError::EmptyKey("=5".into())),
            (
                vec!["sync..x=5"],
                AssignmentError::EmptyKey("sync..x=5".into()),
            ),
            (vec!["a=1", "a=2"], AssignmentError::Conflict("a".into())),
            (
                vec!["a=1", "a.b=2"],
                AssignmentError::Conflict("a.b".into()),
            ),
            (vec!["a.b=1", "a=2"], AssignmentError::Conflict("a".into())),
        ];
        for (ws, expected) in cases {
            assert_eq!(
                merge_patch_from_assignments(&words(&ws)),
                Err(expected),
                "{ws:?}"
            );
        }
    }

    #[test]
    fn a_diff_lists_changed_added_and_removed_leaves_in_order() {
        let before = json!({"name": "Okta", "sync": {"pageSize": 100, "on": true}, "groups": ["a"], "old": 1});
        let after = json!({"name": "Okta", "sync": {"pageSize": 500, "on": true}, "groups": ["a", "b"], "new": {}});
        let fields: Vec<(String, Option<Value>, Option<Value>)> = diff(&before, &after)
            .into_iter()
            .map(|c| (c.field(), c.before, c.after))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("groups".into(), Some(json!(["a"])), Some(json!(["a", "b"]))),
                ("new".into(), None, Some(json!({}))),
                ("old".into(), Some(json!(1)), None),
                ("sync.pageSize".into(), Some(json!(100)), Some(json!(500))),
            ]
        );
        assert!(diff(&before, &before).is_empty());
    }

    #[test]
    fn secret_paths_are_recognised_at_any_depth() {
        let path = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
        assert!(is_secret_path(&path("clientSecret")));
        assert!(is_secret_path(&path("auth.apiToken")));
        assert!(is_secret_path(&path("credentials.user")));
        assert!(!is_secret_path(&path("sync.pageSize")));
    }

    #[test]
    fn restoring_sets_changed_fields_removes_extra_ones_and_leaves_secrets_alone() {
        let current = json!({"name": "Okta 2", "sync": {"pageSize": 500, "on": true}, "extra": 1, "apiToken": "new"});
        let target = json!({"name": "Okta", "sync": {"pageSize": 100, "on": true}, "apiToken": "fingerprint:00"});
        let patch = merge_patch_restoring(&current, &target);
        assert_eq!(
            patch,
            json!({"name": "Okta", "sync": {"pageSize": 100}, "extra": null})
        );
        let mut restored = current.clone();
        json_patch::merge(&mut restored, &patch);
        assert_eq!(restored["apiToken"], json!("new"));
        assert_eq!(restored["sync"], json!({"pageSize": 100, "on": true}));
    }

    #[test]
    fn restoring_across_a_value_and_a_group_gives_the_target() {
        for (current, target) in [
            (json!({"a": 1}), json!({"a": {"b": 2}})),
            (json!({"a": {"b": 2}}), json!({"a": 1})),
            (json!({"a": {"b": 2, "c": 3}}), json!({"a": {"b": 2}})),
        ] {
            let mut restored = current.clone();
            json_patch::merge(&mut restored, &merge_patch_restoring(&current, &target));
            assert_eq!(restored, target, "from {current}");
        }
    }

    #[test]
    fn fingerprints_show_a_changed_secret_without_keeping_it() {
        let key = BotKey::from_bytes([3; 32]);
        let a = fingerprint_secrets(
            &json!({"apiToken": "s3cret", "name": "Okta", "password": ""}),
            &key,
        );
        let b = fingerprint_secrets(
            &json!({"apiToken": "other", "name": "Okta", "password": ""}),
            &key,
        );
        let text = a.to_string();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(a["apiToken"]
            .as_str()
            .unwrap()
            .starts_with(FINGERPRINT_PREFIX));
        assert_eq!(a["password"], json!(""));
        let changed: Vec<String> = diff(&a, &b).iter().map(FieldChange::field).collect();
        assert_eq!(changed, vec!["apiToken"]);
        assert_eq!(
            state_fingerprint(&json!({"a": 1, "b": 2}), &key),
            state_fingerprint(&json!({"b": 2, "a": 1}), &key)
        );
        assert_ne!(
            state_fingerprint(&json!({"a": 1}), &key),
            state_fingerprint(&json!({"a": 2}), &key)
        );
    }

    #[test]
    fn has_path_follows_object_keys() {
        let doc = json!({"sync": {"pageSize": 1}, "n": null});
        let p = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
        assert!(has_path(&doc, &p("sync.pageSize")));
        assert!(has_path(&doc, &p("n")));
        assert!(!has_path(&doc, &p("sync.other")));
        assert!(!has_path(&doc, &p("nope")));
    }
}

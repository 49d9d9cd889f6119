//! What the bot says about a connector's history: `history` (its revisions, newest first)
//! and the announcement of one change. Secret fields are named, never valued: a revision
//! keeps only their fingerprints, and even those are not shown.

use serde_json::Value;

use crate::message::{Block, Message, Text, Tone};
use crate::store::{Revision, RevisionPage};
use crate::usersync::settings::{is_secret_path, FieldChange, FINGERPRINT_PREFIX};
use crate::usersync::REDACTED;

/// Fields named on one line of `history` at most; the rest are counted.
const FIELDS_PER_LINE: usize = 8;
/// Changes listed in an announcement at most; the rest are counted.
const CHANGES_LISTED: usize = 15;
/// The longest value shown in an announcement, in characters.
const VALUE_CHARS: usize = 60;

/// Who made a revision: `@name`, their principal, or "outside the bot".
fn author(r: &Revision) -> Text {
    match &r.changed_by {
        Some(principal) => Text::new().plain(super::who(r.changed_by_name.as_deref(), principal)),
        None => Text::new().em("outside the bot"),
    }
}

fn when(r: &Revision) -> String {
    r.seen_at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Whether a dotted field, as a revision lists it, is a secret.
fn secret_field(field: &str) -> bool {
    is_secret_path(&field.split('.').map(String::from).collect::<Vec<_>>())
}

/// `#seq · when · who · fields`.
fn revision_line(r: &Revision) -> Text {
    let mut t = Text::new()
        .strong(format!("#{}", r.seq))
        .plain(format!(" · {} · ", when(r)));
    if r.is_first() {
        return t.plain("first seen");
    }
    t.0.extend(author(r).0);
    t = t.plain(" · ");
    if r.fields.is_empty() {
        return t.plain("no field named");
    }
    for (i, field) in r.fields.iter().take(FIELDS_PER_LINE).enumerate() {
        if i > 0 {
            t = t.plain(", ");
        }
        t = t.code(field);
        if secret_field(field) {
            t = t.plain(" (secret changed)");
        }
    }
    let more = r.fields.len().saturating_sub(FIELDS_PER_LINE);
    if more > 0 {
        t = t.plain(format!(" and {more} more field(s)"));
    }
    t
}

/// `history`: a connector's revisions, newest first, cut after the page.
pub fn history(instance: &str, connector_name: &str, page: &RevisionPage) -> Message {
    let m = Message::new(Tone::Info, format!("History of {connector_name}"));
    if page.newest.is_empty() {
        return m.text(Text::new().plain(format!(
            "No configuration of {connector_name} on {instance} is kept yet."
        )));
    }
    let shown = page.newest.len() as u64;
    m.text(Text::new().plain(format!(
        "{} revision(s) of {connector_name} on {instance}, newest first.",
        page.total
    )))
    .push(Block::List {
        items: page.newest.iter().map(revision_line).collect(),
        more: usize::try_from(page.total.saturating_sub(shown)).unwrap_or(usize::MAX),
    })
    .context(
        "A revision is kept whenever the bot sees a configuration that differs from the one \
         before; one it did not make itself is marked as made outside the bot. Secret values \
         are never kept: a changed secret shows only as changed.",
    )
}

/// A stored value as shown: compact JSON, fingerprints of secrets masked, cut to
/// [`VALUE_CHARS`].
fn shown_value(v: &Value) -> String {
    fn mask(v: &mut Value) {
        match v {
            Value::String(s) if s.starts_with(FINGERPRINT_PREFIX) => *s = REDACTED.to_string(),
            Value::Array(items) => items.iter_mut().for_each(mask),
            Value::Object(map) => map.values_mut().for_each(mask),
            _ => {}
        }
    }
    let mut v = v.clone();
    mask(&mut v);
    let text = v.to_string();
    if text.chars().count() <= VALUE_CHARS {
        return text;
    }
    let cut: String = text.chars().take(VALUE_CHARS - 1).collect();
    format!("{cut}…")
}

/// One change: `field: before → after`; a secret only as set, removed or changed.
fn change_line(c: &FieldChange) -> Text {
    let t = Text::new().code(c.field()).plain(": ");
    if c.is_secret() {
        return t.plain(match (&c.before, &c.after) {
            (None, Some(_)) => "secret set",
            (Some(_), None) => "secret removed",
            _ => "secret changed",
        });
    }
    match (&c.before, &c.after) {
        (Some(b), Some(a)) => t.code(shown_value(b)).plain(" → ").code(shown_value(a)),
        (None, Some(a)) => t.plain("added, ").code(shown_value(a)),
        (Some(b), None) => t.plain("removed, was ").code(shown_value(b)),
        (None, None) => t.plain("changed"),
    }
}

/// How a person names the connector in a command: quoted when it has a space.
fn command_word(name: &str) -> String {
    if name.chars().any(char::is_whitespace) {
        format!("\"{name}\"")
    } else {
        name.to_string()
    }
}

/// A change of a connector's settings, announced in a channel: who (or "outside the
/// bot"), where, and which fields (`changes`, from the revision before to this one).
pub fn change_announcement(
    instance: &str,
    r: &Revision,
    changes: &[FieldChange],
    slash: &str,
) -> Message {
    let name = &r.connector_name;
    let (tone, title) = match &r.changed_by {
        Some(principal) => (
            Tone::Info,
            format!(
                "🔔 {name} changed by {}",
                super::who(r.changed_by_name.as_deref(), principal)
            ),
        ),
        None => (Tone::Warning, format!("🔔 {name} changed outside the bot")),
    };
    let mut m = Message::new(tone, title).in_channel().text(
        Text::new().plain("Connector ").strong(name).plain(format!(
            " on {instance} · revision #{} · {}",
            r.seq,
            when(r)
        )),
    );
    let items: Vec<Text> = if changes.is_empty() {
        // The settings before are not at hand: the field names are.
        r.fields
            .iter()
            .map(|f| {
                let t = Text::new().code(f);
                if secret_field(f) {
                    t.plain(": secret changed")
                } else {
                    t
                }
            })
            .collect()
    } else {
        changes.iter().map(change_line).collect()
    };
    let more = items.len().saturating_sub(CHANGES_LISTED);
    m = m.push(Block::List {
        items: items.into_iter().take(CHANGES_LISTED).collect(),
        more,
    });
    if r.outside_the_bot() {
        m = m
            .text(Text::new().em(
                "Made outside the bot: it found this configuration without having changed it.",
            ));
    }
    m.context(
        Text::new()
            .plain("Notification: a connector's settings changed (secret values are never shown). See ")
            .code(format!("{slash} history {}", command_word(name)))
            .plain("; change what this channel hears with ")
            .code(format!("{slash} watches")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn revision(seq: u64, fields: &[&str], by: Option<(&str, Option<&str>)>) -> Revision {
        Revision {
            id: seq as i64,
            instance: "jira".into(),
            connector_id: "c1".into(),
            connector_name: "Okta".into(),
            seq,
            seen_at: chrono::Utc
                .with_ymd_and_hms(2026, 3, 4, 5, 6, 7)
                .single()
                .unwrap(),
            settings: json!({}),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            changed_by: by.map(|(p, _)| p.to_string()),
            changed_by_name: by.and_then(|(_, n)| n.map(String::from)),
            announced: false,
        }
    }

    fn lines(m: &Message) -> Vec<String> {
        m.blocks
            .iter()
            .find_map(|b| match b {
                Block::List { items, more } => Some(
                    items
                        .iter()
                        .map(Text::to_plain)
                        .chain((*more > 0).then(|| format!("… and {more} more")))
                        .collect(),
                ),
                _ => None,
            })
            .unwrap_or_default()
    }

    #[test]
    fn history_lines_say_when_who_and_which_fields_newest_first() {
        let page = RevisionPage {
            newest: vec![
                revision(3, &["apiToken", "sync.pageSize"], None),
                revision(2, &["name"], Some(("slack:U1", Some("alice")))),
                revision(1, &[], None),
            ],
            total: 5,
        };
        let m = history("jira", "Okta", &page);
        assert_eq!(m.title, "History of Okta");
        assert_eq!(
            lines(&m),
            [
                "#3 · 2026-03-04 05:06 UTC · outside the bot · apiToken (secret changed), sync.pageSize",
                "#2 · 2026-03-04 05:06 UTC · @alice · name",
                "#1 · 2026-03-04 05:06 UTC · first seen",
                "… and 2 more",
            ]
        );
        let by_principal = revision(2, &["name"], Some(("mattermost:u9", None)));
        assert_eq!(
            revision_line(&by_principal).to_plain(),
            "#2 · 2026-03-04 05:06 UTC · mattermost:u9 · name"
        );
        let many: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(revision_line(&revision(4, &many, None))
            .to_plain()
            .ends_with("f7 and 2 more field(s)"));
        let empty = history("jira", "Okta", &RevisionPage::default());
        assert!(empty
            .to_plain()
            .contains("No configuration of Okta on jira is kept yet."));
    }

    #[test]
    fn an_announcement_names_the_author_and_the_fields_but_no_secret() {
        let changes = vec![
            FieldChange {
                path: vec!["apiToken".into()],
                before: Some(json!("fingerprint:0011")),
                after: Some(json!("fingerprint:2233")),
            },
            FieldChange {
                path: vec!["clientSecret".into()],
                before: None,
                after: Some(json!("fingerprint:4455")),
            },
            FieldChange {
                path: vec!["sync".into(), "pageSize".into()],
                before: Some(json!(100)),
                after: Some(json!(500)),
            },
            FieldChange {
                path: vec!["groups".into()],
                before: None,
                after: Some(json!(["a", {"password": "fingerprint:6677"}])),
            },
            FieldChange {
                path: vec!["note".into()],
                before: Some(json!("x".repeat(100))),
                after: None,
            },
        ];
        let r = revision(
            2,
            &[
                "apiToken",
                "clientSecret",
                "groups",
                "note",
                "sync.pageSize",
            ],
            None,
        );
        let m = change_announcement("jira", &r, &changes, "/usersync");
        assert_eq!(m.title, "🔔 Okta changed outside the bot");
        assert_eq!(m.tone, Tone::Warning);
        let got = lines(&m);
        assert_eq!(got[0], "apiToken: secret changed");
        assert_eq!(got[1], "clientSecret: secret set");
        assert_eq!(got[2], "sync.pageSize: 100 → 500");
        assert_eq!(got[3], "groups: added, [\"a\",{\"password\":\"••••••\"}]");
        assert!(got[4].starts_with("note: removed, was \"xxx") && got[4].ends_with('…'));
        let text = m.to_plain();
        assert!(!text.contains("fingerprint:"), "{text}");
        assert!(text.contains("/usersync history Okta"), "{text}");
        assert!(text.contains("Made outside the bot"), "{text}");

        let by = revision(3, &["name"], Some(("slack:U1", Some("alice"))));
        let m = change_announcement("jira", &by, &[], "/usersync");
        assert_eq!(m.title, "🔔 Okta changed by @alice");
        assert_eq!(lines(&m), ["name"]);
        assert!(!m.to_plain().contains("outside the bot"));
        assert_eq!(command_word("Azure AD"), "\"Azure AD\"");
    }
}

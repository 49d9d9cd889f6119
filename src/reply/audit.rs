//! What `audit` says: the newest audit rows, one line each — when, who, where, the command,
//! the decision and the outcome — with the filters it was asked for.

use crate::command::{AuditArgs, AUDIT_MAX_ROWS};
use crate::domain::{Invocation, Principal};
use crate::message::{Block, Message, Text, Tone};
use crate::store::{AuditEntry, AuditPage};

/// Rows in one list block, so that each block stays within a platform's section limits.
const ROWS_PER_BLOCK: usize = 10;
/// Characters of a command text or an outcome shown; longer ones are cut with "…".
const MAX_SHOWN: usize = 100;

/// The answer to `audit`.
pub fn list(inv: &Invocation, args: &AuditArgs, page: &AuditPage) -> Message {
    if page.rows.is_empty() {
        let m = Message::new(Tone::Info, "No audit rows match");
        let m = match filters(args) {
            Some(f) => m.text(join(
                join(Text::new().plain("Nothing audited matches "), f),
                Text::new().plain("."),
            )),
            None => m.text("No command has been audited yet."),
        };
        return m.context("Rows are written within a second of each command.");
    }
    let mut m = Message::new(Tone::Info, "Audit — newest first");
    let chunks: Vec<&[AuditEntry]> = page.rows.chunks(ROWS_PER_BLOCK).collect();
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.into_iter().enumerate() {
        m = m.push(Block::List {
            items: chunk.iter().map(row).collect(),
            more: if i == last {
                usize::try_from(page.more).unwrap_or(usize::MAX)
            } else {
                0
            },
        });
    }
    let shown = page.rows.len();
    let mut context = Text::new().plain(format!(
        "The newest {shown} row{}",
        if shown == 1 { "" } else { "s" }
    ));
    if let Some(f) = filters(args) {
        context = join(context.plain(" with "), f);
    }
    context = context.plain(". Times are UTC.");
    if page.more > 0 && args.rows < AUDIT_MAX_ROWS {
        context = context.plain(" More: ").code(more_command(inv, args));
    }
    m.context(context)
}

/// The same `audit`, for as many rows as it shows.
fn more_command(inv: &Invocation, args: &AuditArgs) -> String {
    let mut out = format!("{} audit {AUDIT_MAX_ROWS}", inv.command);
    let flags = [
        ("user", args.user.as_deref()),
        ("connector", args.connector.as_deref()),
        ("command", args.command.map(|k| k.name())),
    ];
    for (flag, value) in flags {
        if let Some(v) = value {
            out.push_str(&format!(" --{flag} {}", typed(v)));
        }
    }
    out
}

/// A value as it would be typed: bare, or quoted when it has spaces or quotes.
fn typed(value: &str) -> String {
    if !value.is_empty() && !value.contains(|c: char| c.is_whitespace() || "\"'“”‘’«»".contains(c))
    {
        value.to_string()
    } else if !value.contains('"') {
        format!("\"{value}\"")
    } else if !value.contains('\'') {
        format!("'{value}'")
    } else {
        format!("“{value}”")
    }
}

fn join(mut a: Text, b: Text) -> Text {
    a.0.extend(b.0);
    a
}

/// `user @alice, connector okta, command run`, or `None` without filters.
fn filters(args: &AuditArgs) -> Option<Text> {
    let mut parts: Vec<(&str, String)> = Vec::new();
    if let Some(u) = &args.user {
        parts.push(("user ", u.clone()));
    }
    if let Some(c) = &args.connector {
        parts.push(("connector ", c.clone()));
    }
    if let Some(k) = args.command {
        parts.push(("command ", k.name().to_string()));
    }
    if parts.is_empty() {
        return None;
    }
    let mut t = Text::new();
    for (i, (label, value)) in parts.into_iter().enumerate() {
        if i > 0 {
            t = t.plain(", ");
        }
        t = t.plain(label).code(value);
    }
    Some(t)
}

/// One row: `2026-12-01 21:52:48 — @alice (slack:U1) in C1 — /usersync run okta — allowed — ok`.
fn row(e: &AuditEntry) -> Text {
    let principal = Principal::new(e.platform, e.user_id.clone());
    let mut t = Text::new().plain(format!("{} — ", e.at.format("%Y-%m-%d %H:%M:%S")));
    t = match &e.user_name {
        Some(name) => t
            .strong(format!("@{name}"))
            .plain(" (")
            .code(principal.to_string())
            .plain(")"),
        None => t.code(principal.to_string()),
    };
    t.plain(" in ")
        .code(&e.channel_id)
        .plain(" — ")
        .code(cut(&e.command_text))
        .plain(" — ")
        .em(e.decision.as_str())
        .plain(" — ")
        .plain(cut(&e.outcome))
}

/// At most [`MAX_SHOWN`] characters, with "…" when cut.
fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::CommandKind;
    use crate::domain::Platform;
    use crate::store::Decision;
    use chrono::TimeZone;

    fn inv() -> Invocation {
        Invocation {
            platform: Platform::Slack,
            user: Principal::new(Platform::Slack, "U0ADMIN01"),
            user_name: Some("root".into()),
            channel: Principal::new(Platform::Slack, "C1"),
            team_id: None,
            command: "/usersync".into(),
            text: "audit".into(),
            response_url: None,
            trigger_id: None,
        }
    }

    fn args(rows: u32) -> AuditArgs {
        AuditArgs {
            rows,
            user: None,
            connector: None,
            command: None,
        }
    }

    fn entry(user_name: Option<&str>, text: &str, decision: Decision, outcome: &str) -> AuditEntry {
        AuditEntry {
            at: chrono::Utc
                .with_ymd_and_hms(2026, 12, 1, 21, 52, 48)
                .single()
                .unwrap_or_default(),
            platform: Platform::Slack,
            user_id: "U1".into(),
            user_name: user_name.map(str::to_string),
            channel_id: "C0OPS0001".into(),
            command_text: text.into(),
            command: None,
            connector: None,
            decision,
            outcome: outcome.into(),
        }
    }

    #[test]
    fn each_row_says_when_who_where_what_the_decision_and_the_outcome() {
        let page = AuditPage {
            rows: vec![
                entry(
                    Some("alice"),
                    "/usersync run okta",
                    Decision::Denied,
                    "denied: Role",
                ),
                entry(
                    None,
                    "/usersync frob",
                    Decision::Invalid,
                    "invalid: There is no command",
                ),
            ],
            more: 3,
        };
        let text = list(&inv(), &args(2), &page).to_plain();
        assert_eq!(
            text,
            "ℹ️ Audit — newest first\n\
             • 2026-12-01 21:52:48 — @alice (slack:U1) in C0OPS0001 — /usersync run okta — denied — denied: Role\n\
             • 2026-12-01 21:52:48 — slack:U1 in C0OPS0001 — /usersync frob — invalid — invalid: There is no command\n\
             … and 3 more\n\
             The newest 2 rows. Times are UTC. More: /usersync audit 100"
        );
    }

    #[test]
    fn filters_are_echoed_and_no_match_says_so() {
        let filtered = AuditArgs {
            rows: 100,
            user: Some("@alice".into()),
            connector: Some("okta".into()),
            command: Some(CommandKind::Run),
        };
        let none = list(&inv(), &filtered, &AuditPage::default()).to_plain();
        assert_eq!(
            none,
            "ℹ️ No audit rows match\n\
             Nothing audited matches user @alice, connector okta, command run.\n\
             Rows are written within a second of each command."
        );
        let empty = list(&inv(), &args(20), &AuditPage::default()).to_plain();
        assert!(
            empty.contains("No command has been audited yet."),
            "{empty}"
        );
        let page = AuditPage {
            rows: vec![entry(None, "/usersync run okta", Decision::Allowed, "ok")],
            more: 0,
        };
        let cut = AuditArgs {
            rows: 5,
            connector: Some("Azure AD".into()),
            ..filtered.clone()
        };
        let more = AuditPage {
            more: 2,
            ..page.clone()
        };
        assert!(
            list(&inv(), &cut, &more).to_plain().ends_with(
                "More: /usersync audit 100 --user @alice --connector \"Azure AD\" --command run"
            ),
            "{:?}",
            list(&inv(), &cut, &more).to_plain()
        );
        let one = list(&inv(), &filtered, &page).to_plain();
        assert!(
            one.ends_with(
                "The newest 1 row with user @alice, connector okta, command run. Times are UTC."
            ),
            "{one}"
        );
    }

    #[test]
    fn long_lists_are_split_into_blocks_and_long_texts_cut() {
        let long = "x".repeat(300);
        let page = AuditPage {
            rows: (0..25)
                .map(|_| entry(None, &long, Decision::Allowed, &long))
                .collect(),
            more: 7,
        };
        let m = list(&inv(), &args(25), &page);
        let lists: Vec<(usize, usize)> = m
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::List { items, more } => Some((items.len(), *more)),
                _ => None,
            })
            .collect();
        assert_eq!(lists, [(10, 0), (10, 0), (5, 7)]);
        let text = m.to_plain();
        assert!(
            text.contains(&format!("{}…", "x".repeat(MAX_SHOWN))),
            "{text}"
        );
        assert!(!text.contains(&"x".repeat(MAX_SHOWN + 1)), "{text}");
    }

    #[test]
    fn user_text_stays_in_spans() {
        let page = AuditPage {
            rows: vec![entry(
                Some("<!channel>"),
                "/usersync status <@U123>",
                Decision::Allowed,
                "error: No connector is called \"<@U123>\"",
            )],
            more: 0,
        };
        let m = list(&inv(), &args(20), &page);
        assert!(!m.title.contains('<'));
        let Some(Block::List { items, .. }) = m.blocks.first() else {
            panic!("a list first: {m:?}");
        };
        use crate::message::Span;
        assert!(items[0].0.contains(&Span::Strong("@<!channel>".into())));
        assert!(items[0]
            .0
            .contains(&Span::Code("/usersync status <@U123>".into())));
    }
}

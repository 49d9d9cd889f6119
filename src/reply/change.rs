//! What a person reads about changing a connector: the prompt with its diff and buttons,
//! why a change is refused before any prompt, why a click is refused, and what changed.

use std::time::Duration;

use serde_json::Value;

use crate::message::{
    Block, Button, ButtonAction, ButtonStyle, ConfirmDialog, Message, Text, Tone,
};
use crate::store::PendingState;
use crate::usersync::settings::FieldChange;

/// Longest value shown in a diff line; longer ones are cut.
const MAX_VALUE_CHARS: usize = 120;
/// Most diff lines shown; the rest are counted.
const MAX_DIFF_LINES: usize = 25;

/// Why a change is refused before anything is shown to confirm. Nothing is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeRefusal {
    /// Secret settings are never set from chat.
    Secret {
        fields: Vec<String>,
        instance: String,
    },
    /// Fields the product owns (`uniqueId`, `directoryId`).
    ProductOwned { fields: Vec<String> },
    /// Fields the connector does not have; `known` lists some it has.
    Unknown {
        fields: Vec<String>,
        known: Vec<String>,
    },
    /// The patch leaves every setting as it is.
    NoChange,
    /// The patch cannot be applied to the connector as it is.
    DoesNotApply(String),
    /// Mattermost buttons need `public_url`, which is not set.
    NoCallbackUrl,
}

impl ChangeRefusal {
    pub fn message(&self, connector: &str) -> Message {
        let title = format!("{connector} was not changed");
        match self {
            ChangeRefusal::Secret { fields, instance } => Message::new(Tone::Warning, title)
                .text(
                    Text::new()
                        .plain("Secret settings are never changed from chat: the message would stay in the channel's history. Change ")
                        .plain(list(fields))
                        .plain(format!(" in the User Sync admin pages of {instance} (the connector's settings), or with the REST API from a terminal.")),
                ),
            ChangeRefusal::ProductOwned { fields } => Message::new(Tone::Warning, title).text(
                Text::new()
                    .plain(list(fields))
                    .plain(" belong to the product and cannot be changed."),
            ),
            ChangeRefusal::Unknown { fields, known } => {
                let mut m = Message::new(Tone::Warning, title).text(
                    Text::new()
                        .plain(format!("{connector} has no setting "))
                        .plain(list(fields))
                        .plain(". Nothing was sent."),
                );
                if !known.is_empty() {
                    m = m.context(Text::new().plain("Its settings include ").plain(list(known)));
                }
                m
            }
            ChangeRefusal::NoChange => Message::new(Tone::Info, title)
                .text("The change leaves every setting as it is. Nothing was sent."),
            ChangeRefusal::DoesNotApply(why) => Message::new(Tone::Warning, title).text(
                Text::new()
                    .plain("The patch does not apply to the connector as it is: ")
                    .plain(why.as_str())
                    .plain(". Nothing was sent."),
            ),
            ChangeRefusal::NoCallbackUrl => Message::new(Tone::Warning, title).text(
                "Confirming a change needs a button, and buttons on Mattermost need the bot's public_url, which is not configured. Ask the bot's administrator to set it.",
            ),
        }
    }
}

fn list(fields: &[String]) -> String {
    fields.join(", ")
}

/// A value as a diff line shows it: compact JSON, cut.
fn shown(value: &Option<Value>) -> String {
    match value {
        None => "(not set)".into(),
        Some(v) => {
            let text = v.to_string();
            if text.chars().count() <= MAX_VALUE_CHARS {
                return text;
            }
            let cut: String = text.chars().take(MAX_VALUE_CHARS - 1).collect();
            format!("{cut}…")
        }
    }
}

/// One line per changed field: `field: before → after`; a secret only as "changed".
pub fn diff_lines(changes: &[FieldChange]) -> Block {
    let items = changes
        .iter()
        .take(MAX_DIFF_LINES)
        .map(|c| {
            let t = Text::new().code(c.field()).plain(": ");
            if c.is_secret() {
                t.em("secret changed")
            } else {
                t.code(shown(&c.before)).plain(" → ").code(shown(&c.after))
            }
        })
        .collect();
    Block::List {
        items,
        more: changes.len().saturating_sub(MAX_DIFF_LINES),
    }
}

/// What the prompt needs to say.
pub struct Prompt<'a> {
    pub instance: &'a str,
    pub connector: &'a str,
    pub connector_id: &'a str,
    /// `@name` of the person who asked.
    pub requester: &'a str,
    pub changes: &'a [FieldChange],
    /// "JSON Merge Patch" or "JSON Patch".
    pub format: &'a str,
    /// The revision a rollback restores.
    pub rollback_to: Option<u64>,
    pub ttl: Duration,
    pub confirm_token: String,
    pub cancel_token: String,
    pub callback_url: Option<String>,
}

fn fields_count(n: usize) -> String {
    if n == 1 {
        "1 setting".into()
    } else {
        format!("{n} settings")
    }
}

/// The confirmation prompt: what will change, who may confirm, until when.
pub fn prompt(p: Prompt<'_>) -> Message {
    let ttl = humantime::format_duration(p.ttl).to_string();
    let dialog = ConfirmDialog {
        title: format!("Change {}?", p.connector),
        text: format!(
            "This changes {} of {} on {}.",
            fields_count(p.changes.len()),
            p.connector,
            p.instance
        ),
        confirm: "Change it".into(),
        deny: "Back".into(),
    };
    let title = match p.rollback_to {
        Some(seq) => format!("Roll {} back to revision #{seq}?", p.connector),
        None => format!("Change {}?", p.connector),
    };
    let secrets = p
        .rollback_to
        .map(|_| " Secret settings are not rolled back (only their fingerprints are kept).")
        .unwrap_or_default();
    Message::new(Tone::Warning, title)
        .text(
            Text::new()
                .plain(format!("{} of ", fields_count(p.changes.len())))
                .strong(p.connector)
                .plain(" (id ")
                .code(p.connector_id)
                .plain(format!(") on {} will change:{secrets}", p.instance)),
        )
        .push(diff_lines(p.changes))
        .context(format!(
            "Asked by {} · only they can confirm · expires in {ttl} · sent as a {}",
            p.requester, p.format
        ))
        .push(Block::Actions {
            buttons: vec![
                Button {
                    action: ButtonAction::Confirm,
                    label: "Confirm change".into(),
                    style: ButtonStyle::Danger,
                    token: p.confirm_token,
                    confirm: Some(dialog),
                },
                Button {
                    action: ButtonAction::Cancel,
                    label: "Cancel".into(),
                    style: ButtonStyle::Default,
                    token: p.cancel_token,
                    confirm: None,
                },
            ],
            callback_url: p.callback_url,
        })
}

/// Why a click did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClickRefusal {
    /// The button's token did not check (forged, altered, or another bot's).
    Forged,
    /// No such pending operation.
    Unknown,
    /// Someone other than the person who asked clicked.
    NotYours {
        requester: String,
    },
    /// Confirmed before, by a click whose change was never made (the bot stopped between
    /// the confirmation and the change): the connector is still as the prompt showed it.
    ConfirmedNotMade {
        connector: String,
        by: Option<String>,
    },
    /// Confirmed before, and the connector does not show the change yet: it may still be
    /// being made (another replica), or have been cut off — not known yet.
    ConfirmedNotYetMade {
        connector: String,
        by: Option<String>,
    },
    /// Confirmed before, and the connector changed since the prompt, with no result
    /// recorded: the change is being made (`underway`, on another replica), or the bot
    /// stopped between sending it and recording it — made or not, not known here.
    ConfirmedUnrecorded {
        connector: String,
        by: Option<String>,
        underway: bool,
    },
    /// Confirmed, cancelled or refused before.
    Settled {
        state: PendingState,
        by: Option<String>,
    },
    Expired {
        ttl: Duration,
    },
    /// The connector is not as the prompt showed it.
    Changed {
        connector: String,
    },
    /// The person's role or channel no longer allows the command.
    NoLongerAllowed {
        command: String,
    },
    /// The product or the store could not be asked.
    Unavailable(String),
    /// This admin confirmed this deletion already.
    AlreadyApproved {
        needed: u32,
    },
    /// The connector is locked by someone else, or frozen, at click time.
    Held {
        connector: String,
        hold: Box<super::locks::Hold>,
        now: chrono::DateTime<chrono::Utc>,
    },
}

impl ClickRefusal {
    pub fn message(&self) -> Message {
        let nothing = "Nothing was sent to the product.";
        // " by <who>", when the store knows who settled it.
        let settled_by = |by: &Option<String>| {
            by.as_deref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default()
        };
        match self {
            ClickRefusal::Forged => Message::new(Tone::Failure, "This button is not valid")
                .text(format!("It was not made by this bot, or it was altered. {nothing}")),
            ClickRefusal::Unknown => Message::new(Tone::Warning, "This confirmation is unknown")
                .text(format!("The bot has no record of it. {nothing}")),
            ClickRefusal::NotYours { requester } => Message::new(
                Tone::Warning,
                format!("Only {requester} can confirm this"),
            )
            .text(format!(
                "A change is confirmed by the person who asked for it. {nothing} Run the command yourself to make a change."
            )),
            ClickRefusal::Settled {
                state: PendingState::Confirmed,
                by,
            } => {
                let by = settled_by(by);
                Message::new(Tone::Info, "Confirmed before, no result recorded").text(format!(
                    "It was confirmed{by}, and no result is recorded: it is being carried out, or the bot stopped \
                     before it finished. A confirmation is used once; check the connector before asking again. {nothing}"
                ))
            }
            ClickRefusal::Settled { state, by } => {
                let by = settled_by(by);
                let what = match state {
                    // Told above: no result recorded.
                    PendingState::Confirmed => "confirmed",
                    PendingState::Made => "already confirmed and made",
                    PendingState::Cancelled => "cancelled",
                    PendingState::Stale => "refused: the connector had changed",
                    PendingState::Pending => "still waiting",
                };
                Message::new(Tone::Info, format!("This change was {what}"))
                    .text(format!("It was settled{by}; a confirmation is used once. {nothing}"))
            }
            ClickRefusal::ConfirmedNotMade { connector, by } => {
                let by = settled_by(by);
                Message::new(Tone::Warning, format!("{connector} was not changed"))
                    .text(format!(
                        "This change was confirmed{by}, but the bot stopped before making it: {connector} is still as the prompt showed it. \
                         A confirmation is used once; run the command again to see a fresh diff. {nothing}"
                    ))
            }
            ClickRefusal::ConfirmedNotYetMade { connector, by } => {
                let by = settled_by(by);
                Message::new(Tone::Warning, format!("{connector} does not show this change yet"))
                    .text(format!(
                        "This change was confirmed{by} moments ago and {connector} is still as the prompt showed it: it is being made, \
                         or the bot stopped while making it. A confirmation is used once; check {connector}'s history in a minute \
                         and run the command again if the change is not there. {nothing}"
                    ))
            }
            ClickRefusal::ConfirmedUnrecorded {
                by, underway: true, ..
            } => {
                let by = settled_by(by);
                Message::new(Tone::Info, "This change is being made").text(format!(
                    "It was confirmed{by} moments ago; its result is posted when it is made. \
                     A confirmation is used once. {nothing}"
                ))
            }
            ClickRefusal::ConfirmedUnrecorded {
                connector,
                by,
                underway: false,
            } => {
                let by = settled_by(by);
                Message::new(Tone::Warning, "Not known whether this change was made")
                    .text(format!(
                        "This change was confirmed{by}, but the bot stopped before recording its result, and {connector} has changed \
                         since the prompt. A confirmation is used once; check {connector}'s history and run the command again if \
                         the change is not there. {nothing}"
                    ))
            }
            ClickRefusal::Expired { ttl } => Message::new(Tone::Warning, "This confirmation expired")
                .text(format!(
                    "It could be confirmed for {}. {nothing} Run the command again to see a fresh diff.",
                    humantime::format_duration(*ttl)
                )),
            ClickRefusal::Changed { connector } => Message::new(
                Tone::Warning,
                format!("{connector} changed since this prompt"),
            )
            .text(format!(
                "Its settings are no longer those the diff was made against. {nothing} Run the command again to see the new diff."
            )),
            ClickRefusal::NoLongerAllowed { command } => Message::new(
                Tone::Warning,
                "You may no longer do this",
            )
            .text(
                Text::new()
                    .plain("Your role or this channel no longer allows ")
                    .code(command.as_str())
                    .plain(format!(". {nothing}")),
            ),
            ClickRefusal::Unavailable(why) => Message::new(Tone::Failure, "Not changed")
                .text(Text::new().plain(why.as_str()).plain(format!(" {nothing}"))),
            ClickRefusal::AlreadyApproved { needed } => Message::new(
                Tone::Info,
                "You confirmed this already",
            )
            .text(format!(
                "{needed} different admins must confirm; your own second confirmation does not count. {nothing}"
            )),
            ClickRefusal::Held {
                connector,
                hold,
                now,
            } => super::locks::refusal(hold, connector, *now),
        }
    }

    /// The short outcome the audit records.
    pub fn summary(&self) -> String {
        match self {
            ClickRefusal::Forged => "refused: forged or altered token".into(),
            ClickRefusal::Unknown => "refused: unknown confirmation".into(),
            ClickRefusal::NotYours { .. } => "refused: not the requester".into(),
            ClickRefusal::Settled { state, .. } => format!("refused: already {}", state.as_str()),
            ClickRefusal::ConfirmedNotMade { .. } => {
                "refused: confirmed before, by a click cut off before the change".into()
            }
            ClickRefusal::ConfirmedNotYetMade { .. } => {
                "refused: confirmed before; the change not made yet".into()
            }
            ClickRefusal::ConfirmedUnrecorded { underway: true, .. } => {
                "refused: confirmed before; the change being made".into()
            }
            ClickRefusal::ConfirmedUnrecorded {
                underway: false, ..
            } => "refused: confirmed before, by a click cut off with no result recorded".into(),
            ClickRefusal::Expired { .. } => "refused: expired".into(),
            ClickRefusal::Changed { .. } => "refused: connector changed since the prompt".into(),
            ClickRefusal::NoLongerAllowed { .. } => "refused: no longer allowed".into(),
            ClickRefusal::Unavailable(_) => "refused: product or store unavailable".into(),
            ClickRefusal::AlreadyApproved { .. } => {
                "refused: already confirmed by this admin".into()
            }
            ClickRefusal::Held { .. } => "refused: the connector is locked or frozen".into(),
        }
    }
}

/// The prompt after Cancel.
pub fn cancelled(connector: &str, by: &str) -> Message {
    Message::new(Tone::Info, format!("Change of {connector} cancelled")).text(format!(
        "Cancelled by {by}. Nothing was sent to the product."
    ))
}

/// What a confirmed change did.
pub struct Applied<'a> {
    pub instance: &'a str,
    pub connector: &'a str,
    pub by: &'a str,
    /// What the product shows changed (before the change → read back after it).
    pub changed: &'a [FieldChange],
    /// Fields the product changed that were not asked for.
    pub more: Vec<String>,
    /// Fields asked for that the product did not change as asked.
    pub less: Vec<String>,
    pub revision: Option<i64>,
}

pub fn applied(a: Applied<'_>) -> Message {
    let tone = if a.less.is_empty() && a.more.is_empty() {
        Tone::Success
    } else {
        Tone::Warning
    };
    let mut m = Message::new(tone, format!("{} changed", a.connector)).text(
        Text::new()
            .plain(format!("{} of ", fields_count(a.changed.len())))
            .strong(a.connector)
            .plain(format!(
                " on {} changed, as read back from the product:",
                a.instance
            )),
    );
    if a.changed.is_empty() {
        m = m.text(Text::new().em("The product shows no change."));
    } else {
        m = m.push(diff_lines(a.changed));
    }
    if !a.more.is_empty() {
        m = m.text(
            Text::new()
                .strong("The product changed more than asked: ")
                .plain(list(&a.more)),
        );
    }
    if !a.less.is_empty() {
        m = m.text(
            Text::new()
                .strong("The product did not change as asked: ")
                .plain(list(&a.less)),
        );
    }
    let revision = a
        .revision
        .map(|r| format!(" · revision #{r}"))
        .unwrap_or_default();
    m.context(format!("Confirmed by {}{revision}", a.by))
}

/// The change was confirmed and sent, and the product refused it or could not be asked.
pub fn failed(connector: &str, why: &str) -> Message {
    Message::new(Tone::Failure, format!("{connector} was not changed"))
        .text(Text::new().plain(why))
        .context("The confirmation is used up: run the command again to retry.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(field: &str, before: Option<Value>, after: Option<Value>) -> FieldChange {
        FieldChange {
            path: field.split('.').map(String::from).collect(),
            before,
            after,
        }
    }

    #[test]
    fn a_diff_never_shows_a_secret_value() {
        let lines = diff_lines(&[
            change("sync.pageSize", Some(json!(100)), Some(json!(500))),
            change(
                "auth.apiToken",
                Some(json!("old-s3cret")),
                Some(json!("new-s3cret")),
            ),
            change("note", Some(json!("x")), None),
        ]);
        let text = Message::new(Tone::Info, "t").push(lines).to_plain();
        assert!(text.contains("sync.pageSize: 100 → 500"), "{text}");
        assert!(text.contains("auth.apiToken: secret changed"), "{text}");
        assert!(text.contains("note: \"x\" → (not set)"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn the_prompt_names_who_may_confirm_and_carries_both_buttons() {
        let changes = [change("sync.pageSize", Some(json!(100)), Some(json!(500)))];
        let m = prompt(Prompt {
            instance: "jira",
            connector: "Okta",
            connector_id: "okta-1",
            requester: "@alice",
            changes: &changes,
            format: "JSON Merge Patch",
            ttl: Duration::from_secs(120),
            rollback_to: None,
            confirm_token: "p.c".into(),
            cancel_token: "p.x".into(),
            callback_url: None,
        });
        let text = m.to_plain();
        assert!(
            text.contains("1 setting of Okta (id okta-1) on jira will change:"),
            "{text}"
        );
        assert!(
            text.contains("Asked by @alice · only they can confirm · expires in 2m"),
            "{text}"
        );
        assert!(text.ends_with("[Confirm change] [Cancel]"), "{text}");
    }
}

//! What can go wrong with a command, and the one place it becomes words. Internal details
//! (URLs, transport errors, SQL errors) are logged here, never sent to chat.

use crate::chat::transport::DeliveryError;
use crate::message::{Block, Message, Text, Tone};
use crate::store::StoreError;
use crate::usersync::UserSyncError;

/// Candidates listed when a connector name is unknown or ambiguous.
pub const MAX_CANDIDATES: usize = 20;

/// A connector offered when a name matched none or several: how to name it, and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    pub id: String,
}

/// What the store was asked to do when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAction {
    ListJobs,
    ReadAudit,
    ChangeSubscriptions,
    ClaimDelivery,
    RecordConfirmation,
    ReadHistory,
    /// Locks could not be read: a changing command is not run (the lock may be there).
    ReadLocks,
    ChangeLocks,
}

/// Why a command could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The product failed; `title` says what could not be done.
    #[error("{title}: {error}")]
    Upstream { title: String, error: UserSyncError },
    #[error("store: {action:?}: {error}")]
    Store {
        action: StoreAction,
        error: StoreError,
    },
    #[error("no instance {name:?}")]
    UnknownInstance { name: String, known: Vec<String> },
    #[error("no default instance")]
    NoDefaultInstance { known: Vec<String> },
    #[error("no connector {wanted:?}")]
    NoSuchConnector {
        wanted: String,
        candidates: Vec<Candidate>,
        /// Instances that could not be searched.
        unsearched: Vec<UserSyncError>,
    },
    /// A command that changes something, whose outcome could not be posted anywhere.
    #[error("undeliverable: {0}")]
    Undeliverable(DeliveryError),
    #[error("{wanted:?} is ambiguous")]
    AmbiguousConnector {
        wanted: String,
        candidates: Vec<Candidate>,
    },
    /// A command that only the pipeline itself runs reached a handler.
    #[error("not routable to a handler")]
    Unroutable,
    #[error("no revision {seq} of {connector:?}")]
    NoSuchRevision { connector: String, seq: u64 },
    #[error("no directory {id:?}")]
    NoSuchDirectory { id: String },
    #[error("{connector:?} has no directory")]
    NoDirectory { connector: String },
    /// A change refused before any prompt: nothing was sent.
    #[error("change of {connector:?} refused: {refusal:?}")]
    ChangeRefused {
        connector: String,
        refusal: super::change::ChangeRefusal,
    },
    /// The connector is locked by someone else, or frozen: nothing was sent.
    #[error("{connector:?} is held: {hold:?}")]
    Held {
        connector: String,
        hold: Box<super::locks::Hold>,
        now: chrono::DateTime<chrono::Utc>,
    },
    /// `user` on a protected account: nothing was sent.
    #[error("{identifier:?} is protected by {pattern:?}")]
    ProtectedAccount { identifier: String, pattern: String },
}

impl CommandError {
    pub fn upstream(title: impl Into<String>, error: UserSyncError) -> Self {
        CommandError::Upstream {
            title: title.into(),
            error,
        }
    }

    pub fn store(action: StoreAction, error: StoreError) -> Self {
        CommandError::Store { action, error }
    }

    /// What a person reads.
    pub fn message(&self) -> Message {
        match self {
            CommandError::Upstream { title, error } => upstream_message(title, error),
            CommandError::Store { action, .. } => store_message(*action),
            CommandError::UnknownInstance { name, known } => Message::new(
                Tone::Warning,
                "Unknown instance",
            )
            .text(format!(
                "There is no instance {name:?}. Instances: {}.",
                known.join(", ")
            )),
            CommandError::NoDefaultInstance { known } => Message::new(Tone::Warning, "Which instance?").text(format!(
                "Several instances are configured and none is the default: add --instance NAME ({}).",
                known.join(", ")
            )),
            CommandError::NoSuchConnector {
                wanted,
                candidates,
                unsearched,
            } => no_such_connector(wanted, candidates, unsearched),
            CommandError::Undeliverable(e) => undeliverable(e),
            CommandError::AmbiguousConnector { wanted, candidates } => candidate_list(
                Message::new(
                    Tone::Warning,
                    format!("{wanted:?} matches several connectors"),
                )
                .text("Say which one: by its full name, its id, or instance/name."),
                candidates,
            ),
            CommandError::ChangeRefused { connector, refusal } => refusal.message(connector),
            CommandError::Unroutable => super::pipeline::went_wrong(),
            CommandError::NoSuchRevision { connector, seq } => Message::new(Tone::Warning, format!("{connector} has no revision #{seq}"))
                .text(Text::new().plain("See ").code(format!("history {connector}")).plain(" for its revisions.")),
            CommandError::NoSuchDirectory { id } => Message::new(Tone::Warning, format!("No connector fills directory {id}"))
                .text("Name the connector instead (see `connectors` for each one's directory)."),
            CommandError::NoDirectory { connector } => Message::new(Tone::Warning, format!("{connector} has no directory"))
                .text("The product shows no directory id for it: there is nothing to delete."),
            CommandError::Held {
                connector,
                hold,
                now,
            } => super::locks::refusal(hold, connector, *now),
            CommandError::ProtectedAccount {
                identifier,
                pattern,
            } => super::protect::user_refused(identifier, pattern),
        }
    }

    /// Whether the command was refused by a rule (a lock, a freeze, a protected account)
    /// rather than failing: the audit records it as denied.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            CommandError::Held { .. } | CommandError::ProtectedAccount { .. }
        )
    }

    /// The short outcome the audit records (after `error: `).
    pub fn summary(&self) -> String {
        let m = self.message();
        let first = m.blocks.iter().find_map(|b| match b {
            Block::Text(t) => Some(t.to_plain()),
            _ => None,
        });
        match first {
            Some(t) => format!("{} — {}", m.title, t),
            None => m.title,
        }
    }

    /// Logs what a person is not shown: the full error with its internal details.
    pub fn log(&self) {
        match self {
            CommandError::Upstream { error, .. } => {
                tracing::warn!(instance = error.instance(), error = ?error, "upstream call failed")
            }
            CommandError::Store { action, error } => {
                tracing::error!(?action, error = %error, "store failed")
            }
            CommandError::Undeliverable(e) => {
                tracing::warn!(reason = %e, "a changing command was refused: its outcome could not be posted")
            }
            other => tracing::debug!(error = %other, "command refused"),
        }
    }
}

/// An upstream error as a person reads it: what failed and what to do, without URLs or
/// transport detail (those are in the log).
pub fn upstream_text(e: &UserSyncError) -> String {
    match e {
        UserSyncError::Timeout { instance, timeout } => format!(
            "{instance} could not be reached (no answer within {}) — the product may be overloaded or down; try again shortly",
            humantime::format_duration(*timeout)
        ),
        UserSyncError::CannotConnect { instance, .. } => format!(
            "{instance} could not be reached — check that it is up, and the instance's base_url in the bot's configuration"
        ),
        UserSyncError::Transport { instance, .. } => format!(
            "{instance} could not be reached; the details are in the bot's log"
        ),
        UserSyncError::BadAnswer { instance, expected, .. } => format!(
            "{instance}: the answer was not {expected} — is base_url pointing at the product? (details in the bot's log)"
        ),
        other => other.to_string(),
    }
}

pub fn upstream_message(title: &str, e: &UserSyncError) -> Message {
    Message::new(Tone::Failure, title.to_string()).text(Text::new().plain(upstream_text(e)))
}

fn store_message(action: StoreAction) -> Message {
    match action {
        StoreAction::ListJobs => Message::new(Tone::Failure, "Cannot list jobs")
            .text("The bot's store cannot be read; see its log."),
        StoreAction::ReadAudit => Message::new(Tone::Failure, "Cannot read the audit")
            .text("The bot's store cannot be read; see its log."),
        StoreAction::ChangeSubscriptions => Message::new(Tone::Failure, "Not changed")
            .text("The bot's store cannot be written; see its log."),
        StoreAction::RecordConfirmation => Message::new(Tone::Failure, "Not proposed").text(
            "The bot cannot record the confirmation in its store, so it shows no button. Try again shortly.",
        ),
        StoreAction::ClaimDelivery => Message::new(Tone::Failure, "Not started").text(
            "The bot cannot record the request in its store, so it does not act on it. Try again shortly.",
        ),
        StoreAction::ReadHistory => Message::new(Tone::Failure, "Cannot show the history")
            .text("The bot's store cannot be read; see its log."),
        StoreAction::ReadLocks => Message::new(Tone::Failure, "Not done").text(
            "The bot cannot read its locks from its store, so it does not act: the connector may be locked. Try again shortly.",
        ),
        StoreAction::ChangeLocks => Message::new(Tone::Failure, "Not changed")
            .text("The bot's store cannot be written; see its log."),
    }
}

fn undeliverable(e: &DeliveryError) -> Message {
    let reason = match e {
        DeliveryError::NotAllowed(why) => why.clone(),
        other => other.to_string(),
    };
    Message::new(Tone::Failure, "Not started: the outcome could not be posted")
        .text(Text::new().plain(format!(
            "Nothing was sent to the product, because the bot could not tell you how it ended: {reason}."
        )))
        .context(
            "The bot's administrator can allow this chat server's reply address (response_url_hosts, or the Mattermost url) or configure a bot token.",
        )
}

fn no_such_connector(
    wanted: &str,
    candidates: &[Candidate],
    unsearched: &[UserSyncError],
) -> Message {
    if candidates.is_empty() {
        if let Some(e) = unsearched.first() {
            return upstream_message("Cannot list connectors", e);
        }
    }
    let mut message = Message::new(Tone::Warning, format!("No connector is called {wanted:?}"));
    for e in unsearched {
        message = message.text(Text::new().plain(format!("(Not searched: {})", upstream_text(e))));
    }
    candidate_list(message.text("Connectors:"), candidates)
}

fn candidate_list(message: Message, list: &[Candidate]) -> Message {
    if list.is_empty() {
        return message.text("(none)");
    }
    let items = list
        .iter()
        .take(MAX_CANDIDATES)
        .map(|c| Text::new().code(&c.name).plain(" — id ").code(&c.id))
        .collect();
    message.push(Block::List {
        items,
        more: list.len().saturating_sub(MAX_CANDIDATES),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_person_never_reads_a_url_or_transport_detail() {
        let cases = [
            UserSyncError::CannotConnect {
                instance: "jira".into(),
                url: "http://10.1.2.3:8080/secret-path".into(),
            },
            UserSyncError::Transport {
                instance: "jira".into(),
                detail: "error sending request for url (http://10.1.2.3/x)".into(),
            },
            UserSyncError::BadAnswer {
                instance: "jira".into(),
                expected: "JSON",
                detail: "expected value at line 1 column 1: <html>".into(),
            },
        ];
        for e in cases {
            let text = upstream_message("Cannot", &e).to_plain();
            assert!(!text.contains("10.1.2.3"), "{text}");
            assert!(!text.contains("<html>"), "{text}");
            assert!(text.contains("jira"), "{text}");
        }
        let t = upstream_text(&UserSyncError::Timeout {
            instance: "jira".into(),
            timeout: Duration::from_secs(10),
        });
        assert_eq!(t, "jira could not be reached (no answer within 10s) — the product may be overloaded or down; try again shortly");
    }

    #[test]
    fn the_audit_summary_is_title_and_first_line() {
        let e = CommandError::NoDefaultInstance {
            known: vec!["jira".into(), "conf".into()],
        };
        assert_eq!(
            e.summary(),
            "Which instance? — Several instances are configured and none is the default: add --instance NAME (jira, conf)."
        );
    }
}

//! Everything a person reads: replies, help, denials, usage errors, job progress and
//! outcomes, announcements and outage reports, connector history and change
//! announcements. Handlers, jobs and notify decide *what* happened and call here for the
//! words; the platform renderers in `chat` decide how the neutral [`Message`] looks.
//!
//! This tree may import the vocabulary below it (domain, message, command, authz, store
//! and usersync records, config types) and nothing above it.

pub mod announce;
pub mod audit;
pub mod change;
pub mod connector;
pub mod directory;
pub mod error;
pub mod guards;
pub mod help;
pub mod history;
pub mod jobs;
pub mod locks;
pub mod pipeline;
pub mod protect;
pub mod sync;
pub mod watch;

pub use error::CommandError;

use std::sync::Arc;

use bytes::Bytes;

use crate::message::Message;

/// What a handler answers: the message, and the outcome the audit records.
#[derive(Debug, Clone)]
pub struct Reply {
    pub answer: Answer,
    pub outcome: Outcome,
}

impl Reply {
    pub fn ok(message: Message) -> Self {
        Reply::with(message, Outcome::Ok)
    }

    pub fn with(message: Message, outcome: Outcome) -> Self {
        Reply {
            answer: Answer::Fresh(message),
            outcome,
        }
    }

    /// A reply rendered before, the same for every caller it is served to.
    pub fn shared(rendered: Arc<Rendered>) -> Self {
        Reply {
            answer: Answer::Shared(rendered),
            outcome: Outcome::Ok,
        }
    }
}

/// A message, made for this caller or shared with every caller of the same kind.
#[derive(Debug, Clone)]
pub enum Answer {
    Fresh(Message),
    Shared(Arc<Rendered>),
    /// True only for now: the request's own answer may still come from a run elsewhere
    /// (another replica's). Sent, never remembered as the request's answer, so that the
    /// next re-delivery asks again.
    ForNow(Message),
}

impl Answer {
    pub fn message(&self) -> &Message {
        match self {
            Answer::Fresh(m) | Answer::ForNow(m) => m,
            Answer::Shared(r) => &r.message,
        }
    }
}

impl From<Message> for Answer {
    fn from(m: Message) -> Self {
        Answer::Fresh(m)
    }
}

/// A message with its rendered reply body for one platform.
#[derive(Debug)]
pub struct Rendered {
    pub message: Message,
    pub body: Bytes,
}

/// What a command achieved, as the audit row records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A sync was triggered (with the id the product gave, if any).
    SyncStarted {
        sync: Option<u64>,
    },
    /// The trigger got no clear answer; the job looks for the sync it may have started.
    SyncUnconfirmed {
        job: i64,
    },
    /// A job of the bot already follows a sync of the connector.
    AlreadyFollowing {
        job: i64,
    },
    /// The product already runs a sync of the connector.
    AlreadyRunning {
        sync: u64,
    },
    /// A single-user update ran; the product's word for what it did.
    UserUpdated {
        action: String,
    },
    /// The same request was received before and ran then.
    Duplicate,
    /// A change was shown for confirmation (the pending operation's id).
    Proposed {
        pending: String,
    },
    /// A confirmed change was sent; how many fields the product shows changed.
    Changed {
        fields: usize,
    },
    /// A confirmation was cancelled.
    Cancelled,
    /// A click was refused; why.
    ClickRefused(String),
    /// A typed confirmation form was opened.
    FormOpened,
    /// A typed confirmation was taken; `have` of `needed` admins so far.
    Approved {
        have: usize,
        needed: u32,
    },
    /// A directory was deleted.
    DirectoryDeleted,
    /// A typed confirmation did not match.
    WrongEntry,
    /// Refused: the connector's directory was deleted.
    DirectoryGone,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::SyncStarted { sync: Some(n) } => write!(f, "sync started as sync {n}"),
            Outcome::SyncStarted { sync: None } => f.write_str("sync started"),
            Outcome::SyncUnconfirmed { job } => {
                write!(f, "trigger not confirmed: job {job} looks for the sync")
            }
            Outcome::AlreadyFollowing { job } => {
                write!(f, "not started: job {job} still following")
            }
            Outcome::AlreadyRunning { sync } => {
                write!(f, "not started: sync {sync} still running")
            }
            Outcome::UserUpdated { action } => write!(f, "user update: {action}"),
            Outcome::Duplicate => f.write_str("duplicate delivery: not run again"),
            Outcome::Proposed { pending } => write!(f, "proposed: awaiting confirmation {pending}"),
            Outcome::Changed { fields } => write!(f, "changed: {fields} field(s)"),
            Outcome::Cancelled => f.write_str("cancelled: nothing sent"),
            Outcome::ClickRefused(why) => f.write_str(why),
            Outcome::FormOpened => f.write_str("typed confirmation asked for"),
            Outcome::Approved { have, needed } => write!(f, "confirmed: {have} of {needed}"),
            Outcome::DirectoryDeleted => f.write_str("directory deleted"),
            Outcome::DirectoryGone => f.write_str("not run: the connector's directory was deleted"),
            Outcome::WrongEntry => f.write_str("refused: the typed directory id did not match"),
        }
    }
}

/// How a job or record names the person who started it: `@name`, else the principal.
pub fn who(user_name: Option<&str>, principal: impl std::fmt::Display) -> String {
    match user_name {
        Some(name) => format!("@{name}"),
        None => principal.to_string(),
    }
}

//! Errors of the User Sync client: each names the instance and says what a person can do.

use std::time::Duration;

/// What went wrong talking to one product instance. The `Display` text is meant for the
/// person in chat: it names the instance and the next step, and never carries a secret or
/// a raw response body beyond the product's own short error message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UserSyncError {
    #[error(
        "{instance}: credentials rejected (HTTP {status}) — check the username and password \
         or token the bot uses for this instance, and that the account is an administrator"
    )]
    CredentialsRejected { instance: String, status: u16 },

    #[error("{instance}: {what} not found{}", detail(.message))]
    NotFound {
        instance: String,
        what: String,
        message: Option<String>,
    },

    #[error("{instance}: the request was refused (HTTP {status}){}", detail(.message))]
    Rejected {
        instance: String,
        status: u16,
        message: Option<String>,
    },

    #[error("{instance}: the product answered with an error (HTTP {status}){}", detail(.message))]
    Upstream {
        instance: String,
        status: u16,
        message: Option<String>,
    },

    #[error("{instance}: no answer within {} — the product may be overloaded or down", humantime::format_duration(*.timeout))]
    Timeout { instance: String, timeout: Duration },

    #[error(
        "{instance}: cannot connect to {url} — check the instance's base_url and that it is up"
    )]
    CannotConnect { instance: String, url: String },

    #[error("{instance}: the answer was not {expected} ({detail}) — is base_url pointing at the product?")]
    BadAnswer {
        instance: String,
        expected: &'static str,
        detail: String,
    },

    #[error("{instance}: the answer was larger than {} MiB — is base_url pointing at the product?", .limit / (1024 * 1024))]
    TooLarge { instance: String, limit: usize },

    #[error("{instance}: the connection was cut before the product answered — it may be restarting, or a proxy before it failing")]
    Interrupted { instance: String },

    #[error("{instance}: {message}")]
    InvalidArgument { instance: String, message: String },

    #[error("{instance}: the request could not be sent ({detail})")]
    Transport { instance: String, detail: String },
}

fn detail(message: &Option<String>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!(": {m}"),
        _ => String::new(),
    }
}

impl UserSyncError {
    /// The instance the error is about.
    pub fn instance(&self) -> &str {
        match self {
            UserSyncError::CredentialsRejected { instance, .. }
            | UserSyncError::NotFound { instance, .. }
            | UserSyncError::Rejected { instance, .. }
            | UserSyncError::Upstream { instance, .. }
            | UserSyncError::Timeout { instance, .. }
            | UserSyncError::CannotConnect { instance, .. }
            | UserSyncError::BadAnswer { instance, .. }
            | UserSyncError::TooLarge { instance, .. }
            | UserSyncError::Interrupted { instance }
            | UserSyncError::InvalidArgument { instance, .. }
            | UserSyncError::Transport { instance, .. } => instance,
        }
    }

    /// Worth trying an idempotent request again: the product may answer next time.
    /// Whether a change that failed so may have been made all the same: the request may
    /// have reached the product, which did it, and only the answer was lost (no answer in
    /// time, the connection cut, a gateway between giving up).
    pub fn may_have_been_done(&self) -> bool {
        match self {
            UserSyncError::Timeout { .. } | UserSyncError::Interrupted { .. } => true,
            UserSyncError::Upstream { status, .. } => matches!(status, 502 | 504),
            _ => false,
        }
    }

    pub fn is_transient(&self) -> bool {
        match self {
            UserSyncError::Timeout { .. }
            | UserSyncError::CannotConnect { .. }
            | UserSyncError::Interrupted { .. } => true,
            UserSyncError::Upstream { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }
}

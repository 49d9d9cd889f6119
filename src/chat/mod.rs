//! Chat platform adapters: each verifies its platform's requests, turns them into a
//! neutral [`Invocation`], and renders neutral messages its own way.

pub mod slack;

use crate::authz::Principal;

/// A chat platform the bot serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    Slack,
    Mattermost,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Mattermost => "mattermost",
        }
    }
}

/// A verified slash command, whatever the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub platform: Platform,
    pub user: Principal,
    /// The display name the platform sent, for messages only (never for decisions).
    pub user_name: Option<String>,
    pub channel: Principal,
    pub team_id: Option<String>,
    /// The slash command itself, e.g. `/usersync`.
    pub command: String,
    /// What was typed after the command.
    pub text: String,
    pub response_url: Option<String>,
    pub trigger_id: Option<String>,
}

impl Invocation {
    /// `/usersync text`, as the person typed it.
    pub fn command_line(&self) -> String {
        if self.text.is_empty() {
            self.command.clone()
        } else {
            format!("{} {}", self.command, self.text)
        }
    }
}

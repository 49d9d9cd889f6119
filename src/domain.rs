//! The vocabulary every layer shares: platforms, principals, roles and the neutral
//! invocation. A leaf: it imports nothing of the crate, so the store, jobs, notify and
//! config can use these words without reaching into the chat adapters or the role table.

/// A chat platform the bot serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

/// Roles, ordered: each includes what the ones before it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Viewer,
    Helpdesk,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Helpdesk => "helpdesk",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user or channel on one platform, written `slack:U123` or `mattermost:abc`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    pub platform: Platform,
    pub id: String,
}

impl Principal {
    pub fn new(platform: Platform, id: impl Into<String>) -> Self {
        Principal {
            platform,
            id: id.into(),
        }
    }

    /// Parses `slack:<id>` or `mattermost:<id>`.
    pub fn parse(text: &str) -> Result<Principal, String> {
        let (platform, id) = text
            .split_once(':')
            .ok_or_else(|| format!("{text:?} must be \"slack:<id>\" or \"mattermost:<id>\""))?;
        let platform = match platform {
            "slack" => Platform::Slack,
            "mattermost" => Platform::Mattermost,
            other => return Err(format!("{other:?} is not a platform (slack or mattermost)")),
        };
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!("{text:?}: the id must be letters and digits"));
        }
        Ok(Principal::new(platform, id))
    }

    /// Parses a role entry: a principal, or `"*"` for every verified user.
    pub fn parse_pattern(text: &str) -> Result<PrincipalPattern, String> {
        if text == "*" {
            Ok(PrincipalPattern::AnyVerified)
        } else {
            Principal::parse(text).map(PrincipalPattern::Exact)
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.platform.as_str(), self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalPattern {
    AnyVerified,
    Exact(Principal),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_parse_strictly() {
        assert!(Principal::parse("slack:U0ADMIN01").is_ok());
        assert!(Principal::parse("mattermost:abc123xyz").is_ok());
        for bad in ["U0ADMIN01", "slack:", "teams:U1", "slack:U1 U2", "*"] {
            assert!(Principal::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Principal::parse_pattern("*"),
            Ok(PrincipalPattern::AnyVerified)
        );
    }
}

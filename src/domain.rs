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

/// A pattern of account names, like `svc-*`, matched against a whole name and without
/// regard to case: `*` stands for any run of characters, `?` for one, `[…]` for one of
/// a set (`a-z` ranges; `!` first to negate). Every other character is itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountGlob {
    text: String,
    parts: Vec<GlobPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobPart {
    /// One character, lower-cased.
    Char(char),
    /// `?`
    One,
    /// `*`
    Run,
    /// `[…]`: lower-cased ranges (a single character is a range of one).
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

impl GlobPart {
    /// Whether this part, which stands for one character, takes `c` (lower-cased).
    fn takes(&self, c: char) -> bool {
        match self {
            GlobPart::Char(x) => *x == c,
            GlobPart::One => true,
            GlobPart::Run => false,
            GlobPart::Set { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
        }
    }
}

impl AccountGlob {
    /// Reads a pattern; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<AccountGlob, String> {
        if text.trim().is_empty() {
            return Err("an empty pattern protects no account".into());
        }
        let mut parts = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            parts.push(match c {
                '*' => GlobPart::Run,
                '?' => GlobPart::One,
                '[' => {
                    let negated = chars.next_if_eq(&'!').is_some();
                    let mut ranges = Vec::new();
                    loop {
                        let Some(lo) = chars.next() else {
                            return Err(format!("{text:?}: a `[` is not closed by `]`"));
                        };
                        if lo == ']' {
                            break;
                        }
                        let hi = match chars.next_if_eq(&'-') {
                            Some(_) => match chars.next() {
                                Some(']') | None => {
                                    return Err(format!(
                                        "{text:?}: the range after {lo:?}- has no end"
                                    ))
                                }
                                Some(hi) => hi,
                            },
                            None => lo,
                        };
                        let (lo, hi) = (lower(lo), lower(hi));
                        if lo > hi {
                            return Err(format!("{text:?}: the range {lo}-{hi} is backwards"));
                        }
                        ranges.push((lo, hi));
                    }
                    if ranges.is_empty() {
                        return Err(format!("{text:?}: `[]` matches no character"));
                    }
                    GlobPart::Set { negated, ranges }
                }
                ']' => return Err(format!("{text:?}: a `]` has no `[` before it")),
                other => GlobPart::Char(lower(other)),
            });
        }
        Ok(AccountGlob {
            text: text.to_string(),
            parts,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the whole of `name` fits the pattern, in any case.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().map(lower).collect();
        let parts = &self.parts;
        // The classic two-cursor match: every part but `*` takes one character, so going
        // back to the last `*` and letting it take one more is enough.
        let (mut p, mut n) = (0, 0);
        let mut last_run: Option<(usize, usize)> = None;
        while n < name.len() {
            match parts.get(p) {
                Some(GlobPart::Run) => {
                    last_run = Some((p, n));
                    p += 1;
                }
                Some(part) if part.takes(name[n]) => {
                    p += 1;
                    n += 1;
                }
                _ => match last_run {
                    Some((rp, rn)) => {
                        last_run = Some((rp, rn + 1));
                        p = rp + 1;
                        n = rn + 1;
                    }
                    None => return false,
                },
            }
        }
        parts[p..].iter().all(|part| *part == GlobPart::Run)
    }
}

impl std::fmt::Display for AccountGlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
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

    #[test]
    fn account_globs_match_whole_names_in_any_case() {
        let cases: &[(&str, &str, bool)] = &[
            ("admin", "admin", true),
            ("admin", "ADMIN", true),
            ("admin", "admin2", false),
            ("admin", "sysadmin", false),
            ("break-glass-*", "break-glass-1", true),
            ("break-glass-*", "Break-Glass-", true),
            ("break-glass-*", "break-glass", false),
            ("svc-*", "svc-backup", true),
            ("svc-*", "my-svc-backup", false),
            ("*-admin", "jira-admin", true),
            ("*-admin", "jira-admins", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a*b*c", "abcbc", true),
            ("svc-?", "svc-1", true),
            ("svc-?", "svc-12", false),
            ("svc-[0-9]", "svc-7", true),
            ("svc-[0-9]", "svc-x", false),
            ("svc-[!0-9]", "svc-x", true),
            ("svc-[!0-9]", "svc-7", false),
            ("[A-C]dmin", "bdmin", true),
            ("*", "anyone", true),
            ("*", "", true),
            ("jürgen*", "JÜRGEN MÜLLER", true),
        ];
        for (glob, name, expected) in cases {
            let g = AccountGlob::parse(glob).unwrap();
            assert_eq!(g.matches(name), *expected, "{glob:?} ~ {name:?}");
        }
    }

    #[test]
    fn a_bad_account_glob_says_what_is_wrong() {
        let cases = [
            ("", "an empty pattern protects no account"),
            ("  ", "an empty pattern protects no account"),
            ("svc-[0-9", "\"svc-[0-9\": a `[` is not closed by `]`"),
            ("svc-[]", "\"svc-[]\": `[]` matches no character"),
            ("svc-[9-0]", "\"svc-[9-0]\": the range 9-0 is backwards"),
            ("svc-[a-]", "\"svc-[a-]\": the range after 'a'- has no end"),
            ("svc-]", "\"svc-]\": a `]` has no `[` before it"),
        ];
        for (glob, problem) in cases {
            assert_eq!(
                AccountGlob::parse(glob),
                Err(problem.to_string()),
                "{glob:?}"
            );
        }
    }
}

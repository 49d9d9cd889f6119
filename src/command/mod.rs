//! The command language: one table declares every command's name, usage, help text,
//! example and the role it needs; parsing is a pure function over the text typed after
//! `/usersync`.

pub mod redact;
mod tokenize;

pub use tokenize::{tokenize, TokenizeError};

use crate::domain::Role;

/// Who may run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any verified user, with or without a role.
    Anyone,
    /// Users with this role or a higher one.
    Role(Role),
}

/// A positional argument: `<name>` when required, `[name]` when optional; `<name>…` when
/// it takes every word left (the last argument only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Positional {
    pub name: &'static str,
    pub optional: bool,
    pub repeats: bool,
}

const fn arg(name: &'static str) -> Positional {
    Positional {
        name,
        optional: false,
        repeats: false,
    }
}

const fn optional(name: &'static str) -> Positional {
    Positional {
        name,
        optional: true,
        repeats: false,
    }
}

/// One or more words.
const fn many(name: &'static str) -> Positional {
    Positional {
        name,
        optional: false,
        repeats: true,
    }
}

/// A `--flag`, or a `--flag VALUE` when `value` names the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    pub name: &'static str,
    pub value: Option<&'static str>,
}

const fn flag(name: &'static str) -> Flag {
    Flag { name, value: None }
}

const fn option(name: &'static str, value: &'static str) -> Flag {
    Flag {
        name,
        value: Some(value),
    }
}

/// One row of the command table: everything parsing, help and authorization need.
#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub args: &'static [Positional],
    pub flags: &'static [Flag],
    pub summary: &'static str,
    /// Text after `/usersync` in the example shown by `help`.
    pub example: &'static str,
    pub access: Access,
    /// Whether the command changes something in the product: a re-delivery of it is
    /// refused durably, across restarts.
    pub changes: bool,
}

/// Declares the kinds of command and their list together, so that `ALL` cannot miss one.
macro_rules! command_kinds {
    ($($kind:ident),+ $(,)?) => {
        /// The kinds of command, in the order `help` lists them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum CommandKind {
            $($kind),+
        }

        impl CommandKind {
            pub const ALL: &'static [CommandKind] = &[$(CommandKind::$kind),+];
        }
    };
}

command_kinds!(
    Help,
    Whoami,
    Connectors,
    Status,
    Show,
    Results,
    Connector,
    History,
    Jobs,
    User,
    Run,
    Watch,
    Unwatch,
    Watches,
    Set,
    Patch,
    Rollback,
    Audit,
    DeleteDirectory,
    Confirm,
    Acknowledge,
    Lock,
    Unlock,
    Locks,
);

const VIEWER: Access = Access::Role(Role::Viewer);

impl CommandKind {
    /// The command table. An exhaustive match: a new command cannot exist without its
    /// arguments, help text and role.
    pub fn spec(self) -> &'static CommandSpec {
        match self {
            CommandKind::Help => &CommandSpec {
                name: "help",
                aliases: &[],
                args: const { &[optional("command")] },
                flags: &[],
                summary: "Usage of all commands, or of one.",
                example: "help run",
                access: Access::Anyone,
                changes: false,
            },
            CommandKind::Whoami => &CommandSpec {
                name: "whoami",
                aliases: &[],
                args: &[],
                flags: &[],
                summary: "Your principal and role.",
                example: "whoami",
                access: Access::Anyone,
                changes: false,
            },
            CommandKind::Connectors => &CommandSpec {
                name: "connectors",
                aliases: &["list"],
                args: &[],
                flags: const { &[option("instance", "NAME")] },
                summary: "Connectors with id, kind, directory and last sync outcome.",
                example: "connectors",
                access: VIEWER,
                changes: false,
            },
            CommandKind::Status => &CommandSpec {
                name: "status",
                aliases: &[],
                args: const { &[arg("connector")] },
                flags: &[],
                summary: "The connector's last sync.",
                example: "status \"Azure AD\"",
                access: VIEWER,
                changes: false,
            },
            CommandKind::Show => &CommandSpec {
                name: "show",
                aliases: &[],
                args: const { &[arg("sync-id")] },
                flags: const { &[option("instance", "NAME")] },
                summary: "One sync, by id.",
                example: "show 94",
                access: VIEWER,
                changes: false,
            },
            CommandKind::Results => &CommandSpec {
                name: "results",
                aliases: &[],
                args: const { &[arg("sync-id")] },
                flags: const { &[flag("all"), option("instance", "NAME")] },
                summary: "Per-user results of a sync, failures first.",
                example: "results 94 --all",
                access: VIEWER,
                changes: false,
            },
            CommandKind::Connector => &CommandSpec {
                name: "connector",
                aliases: &[],
                args: const { &[arg("connector")] },
                flags: &[],
                summary: "A connector's settings, secrets redacted.",
                example: "connector okta",
                access: VIEWER,
                changes: false,
            },
            CommandKind::History => &CommandSpec {
                name: "history",
                aliases: &[],
                args: const { &[arg("connector"), optional("N")] },
                flags: &[],
                summary:
                    "Revisions of a connector's settings, newest first: when, who, which fields.",
                example: "history okta 5",
                access: VIEWER,
                changes: false,
            },
            CommandKind::Jobs => &CommandSpec {
                name: "jobs",
                aliases: &[],
                args: &[],
                flags: &[],
                summary: "Syncs and user updates started from chat, with their state.",
                example: "jobs",
                access: VIEWER,
                changes: false,
            },
            CommandKind::User => &CommandSpec {
                name: "user",
                aliases: &[],
                args: const { &[arg("connector"), arg("identifier")] },
                flags: const { &[flag("by-username")] },
                summary: "Update one user from the identity provider.",
                example: "user okta jdoe@example.com",
                access: Access::Role(Role::Helpdesk),
                changes: true,
            },
            CommandKind::Run => &CommandSpec {
                name: "run",
                aliases: &[],
                args: const { &[arg("connector")] },
                flags: const { &[flag("local")] },
                summary: "Start a sync of a connector (--local: on the receiving node only).",
                example: "run \"Azure AD\"",
                access: Access::Role(Role::Operator),
                changes: true,
            },
            CommandKind::Watch => &CommandSpec {
                name: "watch",
                aliases: &["subscribe"],
                args: const { &[arg("connector|*")] },
                flags: const { &[flag("failures-only"), option("max-deleted", "N")] },
                summary: "Announce finished syncs of a connector (or all) in this channel.",
                example: "watch okta --failures-only",
                access: Access::Role(Role::Operator),
                changes: false,
            },
            CommandKind::Unwatch => &CommandSpec {
                name: "unwatch",
                aliases: &["unsubscribe"],
                args: const { &[arg("connector|*")] },
                flags: &[],
                summary: "Stop announcing a connector's (or all) syncs in this channel.",
                example: "unwatch okta",
                access: Access::Role(Role::Operator),
                changes: false,
            },
            CommandKind::Watches => &CommandSpec {
                name: "watches",
                aliases: &[],
                args: &[],
                flags: &[],
                summary: "What is announced in this channel, and why.",
                example: "watches",
                access: VIEWER,
                changes: false,
            },
            CommandKind::Set => &CommandSpec {
                name: "set",
                aliases: &[],
                args: const { &[arg("connector"), many("key=value")] },
                flags: &[],
                summary: "Change connector settings (dotted keys, JSON values); shows the diff to confirm.",
                example: "set okta sync.pageSize=500",
                access: Access::Role(Role::Admin),
                changes: true,
            },
            CommandKind::Patch => &CommandSpec {
                name: "patch",
                aliases: &[],
                args: const { &[arg("connector"), arg("json-patch")] },
                flags: &[],
                summary: "Apply a JSON Patch (RFC 6902) to a connector; shows the diff to confirm.",
                example: "patch okta '[{\"op\":\"replace\",\"path\":\"/sync/pageSize\",\"value\":500}]'",
                access: Access::Role(Role::Admin),
                changes: true,
            },
            CommandKind::Audit => &CommandSpec {
                name: "audit",
                aliases: &[],
                args: const { &[optional("N")] },
                flags: const {
                    &[
                        option("user", "U"),
                        option("connector", "C"),
                        option("command", "NAME"),
                    ]
                },
                summary: "Recent audit rows, newest first (N: 20, at most 100), by user, connector or command.",
                example: "audit 10 --command run",
                access: Access::Role(Role::Admin),
                changes: false,
            },
            CommandKind::Rollback => &CommandSpec {
                name: "rollback",
                aliases: &[],
                args: const { &[arg("connector"), arg("revision")] },
                flags: &[],
                summary: "Restore a revision's settings (secrets excepted); shows the diff to confirm.",
                example: "rollback okta 3",
                access: Access::Role(Role::Admin),
                changes: true,
            },
            CommandKind::DeleteDirectory => &CommandSpec {
                name: "delete-directory",
                aliases: &[],
                args: const { &[arg("connector|directory-id")] },
                flags: &[],
                summary: "Delete a connector's user directory and every user in it (typed confirmation; no undo).",
                example: "delete-directory okta",
                access: Access::Role(Role::Admin),
                changes: true,
            },
            CommandKind::Acknowledge => &CommandSpec {
                name: "acknowledge",
                aliases: &["ack"],
                args: const { &[arg("connector")] },
                flags: &[],
                summary: "Acknowledge a connector's mass-deletion alert: runs of it stop asking first.",
                example: "acknowledge okta",
                access: Access::Role(Role::Admin),
                changes: false,
            },
            CommandKind::Confirm => &CommandSpec {
                name: "confirm",
                aliases: &[],
                args: const { &[arg("code"), arg("directory-id")] },
                flags: &[],
                summary: "Confirm a directory deletion by typing its code and directory id (where no button can open a form).",
                example: "confirm 3f9a1c2b7d4e 10200",
                access: Access::Role(Role::Admin),
                // It changes nothing by itself: the deletion it confirms is used once.
                changes: false,
            },
            CommandKind::Lock => &CommandSpec {
                name: "lock",
                aliases: &[],
                args: const { &[arg("connector|*"), arg("duration"), many("reason")] },
                flags: &[],
                summary: "Lock a connector (or all) for a while (at most 7d): only you and admins may change it.",
                example: "lock okta 2h \"Okta tenant migration\"",
                access: Access::Role(Role::Operator),
                changes: false,
            },
            CommandKind::Unlock => &CommandSpec {
                name: "unlock",
                aliases: &[],
                args: const { &[arg("connector|*")] },
                flags: &[],
                summary: "End a lock: your own, or anyone's as an admin.",
                example: "unlock okta",
                access: Access::Role(Role::Operator),
                changes: false,
            },
            CommandKind::Locks => &CommandSpec {
                name: "locks",
                aliases: &[],
                args: &[],
                flags: &[],
                summary: "Locks and change freezes in force, and freezes to come.",
                example: "locks",
                access: VIEWER,
                changes: false,
            },
        }
    }

    /// The command called `name` or one of its aliases (case-insensitive).
    pub fn from_name(name: &str) -> Option<CommandKind> {
        let name = name.to_ascii_lowercase();
        CommandKind::ALL.iter().copied().find(|k| {
            let spec = k.spec();
            spec.name == name || spec.aliases.contains(&name.as_str())
        })
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// `name args [--flags]`, as shown in usage lines: derived from the table.
    pub fn usage(self) -> String {
        let spec = self.spec();
        let mut out = spec.name.to_string();
        for a in spec.args {
            if a.optional {
                out.push_str(&format!(" [{}]", a.name));
            } else if a.repeats {
                out.push_str(&format!(" <{}>…", a.name));
            } else {
                out.push_str(&format!(" <{}>", a.name));
            }
        }
        for f in spec.flags {
            match f.value {
                Some(v) => out.push_str(&format!(" [--{} {v}]", f.name)),
                None => out.push_str(&format!(" [--{}]", f.name)),
            }
        }
        out
    }
}

/// Names kept for commands of later versions, so that they are never taken for typos.
pub const RESERVED: &[&str] = &[];

/// Audit rows `audit` shows when no N is given, and the most it shows.
pub const AUDIT_DEFAULT_ROWS: u32 = 20;
pub const AUDIT_MAX_ROWS: u32 = 100;

/// The longest a lock may last: a lock longer than a week is a forgotten lock.
pub const LOCK_MAX: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// `results <sync-id> [--all] [--instance NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsArgs {
    pub sync_id: u64,
    pub all: bool,
    pub instance: Option<String>,
}

/// `user <connector> <identifier> [--by-username]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserArgs {
    pub connector: String,
    pub identifier: String,
    pub by_username: bool,
}

/// `watch <connector|*> [--failures-only] [--max-deleted N]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchArgs {
    pub connector: String,
    pub failures_only: bool,
    pub max_deleted: Option<u64>,
}

/// Revisions `history` shows when not told.
pub const HISTORY_DEFAULT: u32 = 10;
/// The most revisions `history` shows.
pub const HISTORY_MAX: u32 = 50;

/// `audit [N] [--user U] [--connector C] [--command NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditArgs {
    /// How many rows to show, 1 to [`AUDIT_MAX_ROWS`].
    pub rows: u32,
    /// A user id (with or without the platform) or a user name (a leading `@` is ignored).
    pub user: Option<String>,
    /// The connector argument as typed (case-insensitive).
    pub connector: Option<String>,
    /// The command, whatever name or alias was typed.
    pub command: Option<CommandKind>,
}

/// `lock <connector|*> <duration> <reason>…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockArgs {
    /// As typed; `*` for every connector.
    pub connector: String,
    /// Longer than zero, at most [`LOCK_MAX`].
    pub duration: std::time::Duration,
    /// Why, in the words typed (never empty).
    pub reason: String,
}

/// A parsed command with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help {
        topic: Option<String>,
    },
    Whoami,
    Connectors {
        instance: Option<String>,
    },
    Status {
        connector: String,
    },
    Show {
        sync_id: u64,
        instance: Option<String>,
    },
    Results(ResultsArgs),
    Connector {
        connector: String,
    },
    /// `history <connector> [N]`: `limit` is 1 to [`HISTORY_MAX`].
    History {
        connector: String,
        limit: u32,
    },
    Jobs,
    User(UserArgs),
    Run {
        connector: String,
        local: bool,
    },
    Watch(WatchArgs),
    Unwatch {
        connector: String,
    },
    Watches,
    /// `set <connector> key=value…`: the merge patch the words describe.
    Set {
        connector: String,
        patch: serde_json::Value,
    },
    /// `patch <connector> '<JSON Patch>'`: the document, checked to be a JSON Patch.
    Patch {
        connector: String,
        patch: serde_json::Value,
    },
    Audit(AuditArgs),
    /// `rollback <connector> <revision>`.
    Rollback {
        connector: String,
        revision: u64,
    },
    /// `delete-directory <connector|directory-id>`.
    DeleteDirectory {
        target: String,
    },
    /// `acknowledge <connector>`.
    Acknowledge {
        connector: String,
    },
    /// `confirm <code> <directory-id>`: the typed confirmation as a command.
    Confirm {
        code: String,
        directory: String,
    },
    Lock(LockArgs),
    Unlock {
        connector: String,
    },
    Locks,
}

impl Command {
    pub fn kind(&self) -> CommandKind {
        match self {
            Command::Help { .. } => CommandKind::Help,
            Command::Whoami => CommandKind::Whoami,
            Command::Connectors { .. } => CommandKind::Connectors,
            Command::Status { .. } => CommandKind::Status,
            Command::Show { .. } => CommandKind::Show,
            Command::Results(_) => CommandKind::Results,
            Command::Connector { .. } => CommandKind::Connector,
            Command::History { .. } => CommandKind::History,
            Command::Jobs => CommandKind::Jobs,
            Command::User(_) => CommandKind::User,
            Command::Run { .. } => CommandKind::Run,
            Command::Watch(_) => CommandKind::Watch,
            Command::Unwatch { .. } => CommandKind::Unwatch,
            Command::Watches => CommandKind::Watches,
            Command::Set { .. } => CommandKind::Set,
            Command::Patch { .. } => CommandKind::Patch,
            Command::Audit(_) => CommandKind::Audit,
            Command::Rollback { .. } => CommandKind::Rollback,
            Command::DeleteDirectory { .. } => CommandKind::DeleteDirectory,
            Command::Confirm { .. } => CommandKind::Confirm,
            Command::Acknowledge { .. } => CommandKind::Acknowledge,
            Command::Lock(_) => CommandKind::Lock,
            Command::Unlock { .. } => CommandKind::Unlock,
            Command::Locks => CommandKind::Locks,
        }
    }

    /// The connector the command acts on, as typed (`*` for `watch *`); `None` for
    /// commands that name no connector (`audit --connector` only filters).
    pub fn connector_arg(&self) -> Option<&str> {
        match self {
            Command::Status { connector }
            | Command::Connector { connector }
            | Command::Run { connector, .. }
            | Command::Unwatch { connector }
            | Command::Unlock { connector }
            | Command::Set { connector, .. }
            | Command::Patch { connector, .. }
            | Command::Rollback { connector, .. }
            | Command::Acknowledge { connector }
            | Command::DeleteDirectory { target: connector } => Some(connector),
            Command::History { connector, .. } => Some(connector),
            Command::User(u) => Some(&u.connector),
            Command::Watch(w) => Some(&w.connector),
            Command::Lock(l) => Some(&l.connector),
            Command::Help { .. }
            | Command::Whoami
            | Command::Connectors { .. }
            | Command::Show { .. }
            | Command::Results(_)
            | Command::Jobs
            | Command::Watches
            | Command::Audit(_)
            | Command::Confirm { .. }
            | Command::Locks => None,
        }
    }
}

/// Why the text is not a command. `command` is set when the command was recognised, so
/// the reply can show its usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub command: Option<CommandKind>,
    pub problem: ParseProblem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseProblem {
    /// Not a command; `suggestion` is a close command name.
    Unknown {
        word: String,
        suggestion: Option<&'static str>,
    },
    /// A name kept for a later version.
    Reserved { word: String },
    /// The text cannot be split into words.
    Syntax(String),
    /// The arguments do not fit the command.
    Arguments(String),
}

impl std::fmt::Display for ParseProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseProblem::Unknown { word, suggestion } => {
                write!(f, "There is no command {word:?}.")?;
                if let Some(s) = suggestion {
                    write!(f, " Did you mean `{s}`?")?;
                }
                Ok(())
            }
            ParseProblem::Reserved { word } => {
                write!(f, "`{word}` is not available in this version of the bot.")
            }
            ParseProblem::Syntax(m) | ParseProblem::Arguments(m) => f.write_str(m),
        }
    }
}

/// Parses the text typed after `/usersync`. Empty text asks for help.
pub fn parse(text: &str) -> Result<Command, ParseError> {
    let words = tokenize(text).map_err(|e| ParseError {
        command: None,
        problem: ParseProblem::Syntax(e.to_string()),
    })?;
    let Some((first, rest)) = words.split_first() else {
        return Ok(Command::Help { topic: None });
    };
    let Some(kind) = CommandKind::from_name(first) else {
        let lower = first.to_ascii_lowercase();
        let problem = if RESERVED.contains(&lower.as_str()) {
            ParseProblem::Reserved { word: lower }
        } else {
            ParseProblem::Unknown {
                word: first.clone(),
                suggestion: suggest(&lower),
            }
        };
        return Err(ParseError {
            command: None,
            problem,
        });
    };
    let args = Args::split(kind, rest)?;
    args.count()?;
    let fail = |message: String| ParseError {
        command: Some(kind),
        problem: ParseProblem::Arguments(message),
    };
    let command = match kind {
        CommandKind::Help => Command::Help {
            topic: args.positional.first().cloned(),
        },
        CommandKind::Whoami => Command::Whoami,
        CommandKind::Connectors => Command::Connectors {
            instance: args.option("instance"),
        },
        CommandKind::Status => Command::Status {
            connector: args.positional[0].clone(),
        },
        CommandKind::Show => Command::Show {
            sync_id: sync_id(&args.positional[0]).map_err(fail)?,
            instance: args.option("instance"),
        },
        CommandKind::Results => Command::Results(ResultsArgs {
            sync_id: sync_id(&args.positional[0]).map_err(fail)?,
            all: args.flag("all"),
            instance: args.option("instance"),
        }),
        CommandKind::Connector => Command::Connector {
            connector: args.positional[0].clone(),
        },
        CommandKind::History => Command::History {
            connector: args.positional[0].clone(),
            limit: match args.positional.get(1) {
                None => HISTORY_DEFAULT,
                Some(n) => history_limit(n).map_err(fail)?,
            },
        },
        CommandKind::Jobs => Command::Jobs,
        CommandKind::User => Command::User(UserArgs {
            connector: args.positional[0].clone(),
            identifier: args.positional[1].clone(),
            by_username: args.flag("by-username"),
        }),
        CommandKind::Run => Command::Run {
            connector: args.positional[0].clone(),
            local: args.flag("local"),
        },
        CommandKind::Watch => {
            let max_deleted = match args.option("max-deleted") {
                None => None,
                Some(n) => Some(n.parse::<u64>().map_err(|_| {
                    fail(format!("--max-deleted takes a number of users, not {n:?}."))
                })?),
            };
            Command::Watch(WatchArgs {
                connector: args.positional[0].clone(),
                failures_only: args.flag("failures-only"),
                max_deleted,
            })
        }
        CommandKind::Unwatch => Command::Unwatch {
            connector: args.positional[0].clone(),
        },
        CommandKind::Watches => Command::Watches,
        CommandKind::Set => Command::Set {
            connector: args.positional[0].clone(),
            patch: crate::usersync::settings::merge_patch_from_assignments(&args.positional[1..])
                .map_err(|e| fail(e.to_string()))?,
        },
        CommandKind::Patch => Command::Patch {
            connector: args.positional[0].clone(),
            patch: json_patch_document(&args.positional[1]).map_err(fail)?,
        },
        CommandKind::Rollback => Command::Rollback {
            connector: args.positional[0].clone(),
            revision: args.positional[1]
                .trim_start_matches('#')
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    fail(format!(
                        "{:?} is not a revision number (like 3; see `history`).",
                        args.positional[1]
                    ))
                })?,
        },
        CommandKind::DeleteDirectory => Command::DeleteDirectory {
            target: args.positional[0].clone(),
        },
        CommandKind::Acknowledge => Command::Acknowledge {
            connector: args.positional[0].clone(),
        },
        CommandKind::Confirm => Command::Confirm {
            code: args.positional[0].to_ascii_lowercase(),
            directory: args.positional[1].clone(),
        },
        CommandKind::Audit => Command::Audit(AuditArgs {
            rows: match args.positional.first() {
                None => AUDIT_DEFAULT_ROWS,
                Some(n) => audit_rows(n).map_err(fail)?,
            },
            user: args.option("user"),
            connector: args.option("connector"),
            command: match args.option("command") {
                None => None,
                Some(name) => Some(CommandKind::from_name(&name).ok_or_else(|| {
                    fail(format!(
                        "--command takes the name of a command, like run, not {name:?}."
                    ))
                })?),
            },
        }),
        CommandKind::Lock => Command::Lock(LockArgs {
            connector: args.positional[0].clone(),
            duration: lock_duration(&args.positional[1]).map_err(fail)?,
            reason: lock_reason(&args.positional[2..]).map_err(fail)?,
        }),
        CommandKind::Unlock => Command::Unlock {
            connector: args.positional[0].clone(),
        },
        CommandKind::Locks => Command::Locks,
    };
    Ok(command)
}

fn history_limit(text: &str) -> Result<u32, String> {
    text.parse::<u32>()
        .ok()
        .filter(|n| (1..=HISTORY_MAX).contains(n))
        .ok_or_else(|| {
            format!("N is how many revisions to show, from 1 to {HISTORY_MAX}, not {text:?}.")
        })
}

/// How long a lock lasts: a duration like `2h` or `30m`, longer than zero and at most
/// [`LOCK_MAX`].
fn lock_duration(text: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err(format!(
            "A lock lasts longer than zero, like 2h or 30m, not {text:?}."
        )),
        Ok(d) if d > LOCK_MAX => Err(format!(
            "A lock lasts at most 7 days (7d), not {text:?}: lock again when it ends."
        )),
        Ok(d) => Ok(d),
        Err(_) => Err(format!(
            "{text:?} is not a duration: say how long the lock lasts, like 2h or 30m."
        )),
    }
}

/// The reason of a lock: every word left, as typed; never empty.
fn lock_reason(words: &[String]) -> Result<String, String> {
    let reason = words.join(" ").trim().to_string();
    if reason.is_empty() {
        return Err("Say why: the reason is shown to everyone the lock refuses.".into());
    }
    Ok(reason)
}

/// A JSON Patch (RFC 6902) as typed: a JSON array of operations with valid paths. Chat
/// clients may turn straight quotes into curly ones; those are read as straight.
fn json_patch_document(text: &str) -> Result<serde_json::Value, String> {
    let straight: String = text
        .chars()
        .map(|c| match c {
            '“' | '”' | '„' => '"',
            '‘' | '’' => '\'',
            other => other,
        })
        .collect();
    let value: serde_json::Value = serde_json::from_str(&straight)
        .map_err(|e| format!("The patch is not JSON ({e}). Put it in single quotes."))?;
    if !value.is_array() {
        return Err(
            "A JSON Patch is a list of operations, like [{\"op\":\"replace\",\"path\":\"/name\",\"value\":\"Okta\"}]."
                .into(),
        );
    }
    let ops: json_patch::Patch = serde_json::from_value(value.clone())
        .map_err(|e| format!("The JSON Patch is not valid: {e}."))?;
    if ops.0.is_empty() {
        return Err("The JSON Patch has no operations.".into());
    }
    Ok(value)
}

/// The N of `audit [N]`: a count of rows from 1 to [`AUDIT_MAX_ROWS`].
fn audit_rows(text: &str) -> Result<u32, String> {
    text.parse::<u32>()
        .ok()
        .filter(|n| (1..=AUDIT_MAX_ROWS).contains(n))
        .ok_or_else(|| {
            format!("N is how many rows to show, from 1 to {AUDIT_MAX_ROWS}, not {text:?}.")
        })
}

fn sync_id(text: &str) -> Result<u64, String> {
    text.trim_start_matches('#')
        .parse::<u64>()
        .map_err(|_| format!("{text:?} is not a sync id (a number, like 94)."))
}

/// Positional words and `--flags` of one command, checked against its usage line.
struct Args {
    kind: CommandKind,
    positional: Vec<String>,
    flags: Vec<(String, Option<String>)>,
}

impl Args {
    /// Splits words into positionals and the flags the command table names; `--`
    /// ends the flags, so an identifier may start with a dash.
    fn split(kind: CommandKind, words: &[String]) -> Result<Args, ParseError> {
        let mut args = Args {
            kind,
            positional: Vec::new(),
            flags: Vec::new(),
        };
        let mut iter = words.iter();
        let mut flags_done = false;
        while let Some(word) = iter.next() {
            if flags_done || !word.starts_with("--") {
                args.positional.push(word.clone());
                continue;
            }
            if word == "--" {
                flags_done = true;
                continue;
            }
            let (name, inline) = match word[2..].split_once('=') {
                Some((n, v)) => (n.to_ascii_lowercase(), Some(v.to_string())),
                None => (word[2..].to_ascii_lowercase(), None),
            };
            let Some(spec) = kind.spec().flags.iter().find(|f| f.name == name) else {
                return Err(args.error(format!(
                    "`{kind}` has no option --{name}.",
                    kind = kind.name()
                )));
            };
            let value = match (spec.value, inline) {
                (Some(_), Some(v)) => Some(v),
                (Some(_), None) => Some(
                    iter.next()
                        .cloned()
                        .ok_or_else(|| args.error(format!("--{name} needs a value.")))?,
                ),
                (None, Some(_)) => return Err(args.error(format!("--{name} takes no value."))),
                (None, None) => None,
            };
            args.flags.push((name, value));
        }
        Ok(args)
    }

    fn error(&self, message: String) -> ParseError {
        ParseError {
            command: Some(self.kind),
            problem: ParseProblem::Arguments(message),
        }
    }

    /// Checks the number of positionals against the table's arguments.
    fn count(&self) -> Result<(), ParseError> {
        let spec = self.kind.spec().args;
        let min = spec.iter().filter(|a| !a.optional).count();
        let n = self.positional.len();
        if n < min {
            return Err(self.error(format!("Missing <{}>.", spec[n].name)));
        }
        let repeats = spec.last().is_some_and(|a| a.repeats);
        if let Some(extra) = self.positional.get(spec.len()).filter(|_| !repeats) {
            return Err(self.error(format!(
                "Unexpected {extra:?}. (Put a name with spaces in quotes.)"
            )));
        }
        Ok(())
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, _)| n == name)
    }

    fn option(&self, name: &str) -> Option<String> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    }
}

/// A command name within two edits of `word`, for "did you mean".
fn suggest(word: &str) -> Option<&'static str> {
    // Names whose length is off by more than two are more than two edits away: skipping
    // them keeps a long word (the body may be 64 KiB) from costing length × names.
    let len = word.chars().count();
    CommandKind::ALL
        .iter()
        .flat_map(|k| std::iter::once(k.spec().name).chain(k.spec().aliases.iter().copied()))
        .filter(|name| name.chars().count().abs_diff(len) <= 2)
        .map(|name| (edit_distance(word, name), name))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_name_is_suggested_and_a_long_word_gets_none() {
        assert_eq!(suggest("stauts"), Some("status"));
        assert_eq!(suggest("connectr"), Some("connector"));
        assert_eq!(suggest(&"s".repeat(65_536)), None);
        assert_eq!(suggest("statusxyz"), None);
    }

    fn ok(text: &str) -> Command {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
    }

    fn err(text: &str) -> ParseError {
        parse(text).expect_err(text)
    }

    #[test]
    fn set_and_patch_read_their_patch_and_refuse_bad_ones_with_the_reason() {
        assert_eq!(
            ok("set okta sync.pageSize=500 name=\"Azure AD\" on=true"),
            Command::Set {
                connector: "okta".into(),
                patch: serde_json::json!({"sync": {"pageSize": 500}, "name": "Azure AD", "on": true}),
            }
        );
        assert_eq!(
            ok("patch okta '[{\"op\":\"replace\",\"path\":\"/sync/pageSize\",\"value\":5}]'"),
            Command::Patch {
                connector: "okta".into(),
                patch: serde_json::json!([{"op": "replace", "path": "/sync/pageSize", "value": 5}]),
            }
        );
        // Curly quotes, as chat clients type them, read as straight ones.
        assert!(matches!(
            ok("patch okta '[{“op”:“remove”,“path”:“/a”}]'"),
            Command::Patch { .. }
        ));
        for (text, problem) in [
            ("set okta", "Missing <key=value>."),
            ("set okta pageSize", "\"pageSize\" is not key=value"),
            ("set okta a=1 a=2", "a is set twice"),
            ("patch okta", "Missing <json-patch>."),
            (
                "patch okta '{\"op\":\"remove\"}'",
                "A JSON Patch is a list of operations",
            ),
            (
                "patch okta '[{\"op\":\"explode\",\"path\":\"/a\"}]'",
                "The JSON Patch is not valid",
            ),
            ("patch okta '[]'", "The JSON Patch has no operations."),
            ("patch okta nope", "The patch is not JSON"),
        ] {
            let e = err(text);
            assert!(e.command.is_some(), "{text}");
            assert!(
                e.problem.to_string().starts_with(problem),
                "{text}: {}",
                e.problem
            );
        }
    }

    #[test]
    fn one_line_table() {
        let cases: Vec<(&str, Command)> = vec![
            ("", Command::Help { topic: None }),
            ("help", Command::Help { topic: None }),
            (
                "HELP run",
                Command::Help {
                    topic: Some("run".into()),
                },
            ),
            ("whoami", Command::Whoami),
            ("list", Command::Connectors { instance: None }),
            (
                "connectors --instance conf",
                Command::Connectors {
                    instance: Some("conf".into()),
                },
            ),
            (
                "connectors --instance=conf",
                Command::Connectors {
                    instance: Some("conf".into()),
                },
            ),
            (
                "status azure",
                Command::Status {
                    connector: "azure".into(),
                },
            ),
            (
                "status \"Azure AD\"",
                Command::Status {
                    connector: "Azure AD".into(),
                },
            ),
            (
                "status “Azure AD”",
                Command::Status {
                    connector: "Azure AD".into(),
                },
            ),
            (
                "status 'Azure AD'",
                Command::Status {
                    connector: "Azure AD".into(),
                },
            ),
            (
                "show 94",
                Command::Show {
                    sync_id: 94,
                    instance: None,
                },
            ),
            (
                "show #94 --instance jira",
                Command::Show {
                    sync_id: 94,
                    instance: Some("jira".into()),
                },
            ),
            (
                "results 94",
                Command::Results(ResultsArgs {
                    sync_id: 94,
                    all: false,
                    instance: None,
                }),
            ),
            (
                "results 94 --all",
                Command::Results(ResultsArgs {
                    sync_id: 94,
                    all: true,
                    instance: None,
                }),
            ),
            (
                "connector okta",
                Command::Connector {
                    connector: "okta".into(),
                },
            ),
            (
                "history okta",
                Command::History {
                    connector: "okta".into(),
                    limit: 10,
                },
            ),
            (
                "history \"Azure AD\" 50",
                Command::History {
                    connector: "Azure AD".into(),
                    limit: 50,
                },
            ),
            ("jobs", Command::Jobs),
            (
                "user okta \"Jürgen Müller\" --by-username",
                Command::User(UserArgs {
                    connector: "okta".into(),
                    identifier: "Jürgen Müller".into(),
                    by_username: true,
                }),
            ),
            (
                "user okta -- --weird-name",
                Command::User(UserArgs {
                    connector: "okta".into(),
                    identifier: "--weird-name".into(),
                    by_username: false,
                }),
            ),
            (
                "run okta --local",
                Command::Run {
                    connector: "okta".into(),
                    local: true,
                },
            ),
            (
                "watch * --failures-only --max-deleted 50",
                Command::Watch(WatchArgs {
                    connector: "*".into(),
                    failures_only: true,
                    max_deleted: Some(50),
                }),
            ),
            (
                "unwatch okta",
                Command::Unwatch {
                    connector: "okta".into(),
                },
            ),
            ("watches", Command::Watches),
            (
                "audit",
                Command::Audit(AuditArgs {
                    rows: 20,
                    user: None,
                    connector: None,
                    command: None,
                }),
            ),
            (
                "AUDIT 100 --user @alice --connector \"Azure AD\" --command subscribe",
                Command::Audit(AuditArgs {
                    rows: 100,
                    user: Some("@alice".into()),
                    connector: Some("Azure AD".into()),
                    command: Some(CommandKind::Watch),
                }),
            ),
            (
                "audit --command=RUN --user slack:U0ONCALL1 1",
                Command::Audit(AuditArgs {
                    rows: 1,
                    user: Some("slack:U0ONCALL1".into()),
                    connector: None,
                    command: Some(CommandKind::Run),
                }),
            ),
            (
                "audit --command audit",
                Command::Audit(AuditArgs {
                    rows: 20,
                    user: None,
                    connector: None,
                    command: Some(CommandKind::Audit),
                }),
            ),
            (
                "  run   okta  ",
                Command::Run {
                    connector: "okta".into(),
                    local: false,
                },
            ),
            (
                "lock okta 2h \"Okta tenant migration\"",
                Command::Lock(LockArgs {
                    connector: "okta".into(),
                    duration: std::time::Duration::from_secs(7200),
                    reason: "Okta tenant migration".into(),
                }),
            ),
            (
                "LOCK * 30m planned   maintenance",
                Command::Lock(LockArgs {
                    connector: "*".into(),
                    duration: std::time::Duration::from_secs(1800),
                    reason: "planned maintenance".into(),
                }),
            ),
            (
                "lock \"Azure AD\" 7d “year end”",
                Command::Lock(LockArgs {
                    connector: "Azure AD".into(),
                    duration: LOCK_MAX,
                    reason: "year end".into(),
                }),
            ),
            (
                "unlock okta",
                Command::Unlock {
                    connector: "okta".into(),
                },
            ),
            (
                "unlock *",
                Command::Unlock {
                    connector: "*".into(),
                },
            ),
            ("locks", Command::Locks),
        ];
        for (text, expected) in cases {
            assert_eq!(ok(text), expected, "{text:?}");
        }
    }

    #[test]
    fn mistakes_say_what_is_wrong() {
        let cases: Vec<(&str, Option<CommandKind>, &str)> = vec![
            (
                "stauts azure",
                None,
                "There is no command \"stauts\". Did you mean `status`?",
            ),
            ("frobnicate", None, "There is no command \"frobnicate\"."),
            (
                "audit 0",
                Some(CommandKind::Audit),
                "N is how many rows to show, from 1 to 100, not \"0\".",
            ),
            (
                "audit 101",
                Some(CommandKind::Audit),
                "N is how many rows to show, from 1 to 100, not \"101\".",
            ),
            (
                "audit -5",
                Some(CommandKind::Audit),
                "N is how many rows to show, from 1 to 100, not \"-5\".",
            ),
            (
                "audit lots",
                Some(CommandKind::Audit),
                "N is how many rows to show, from 1 to 100, not \"lots\".",
            ),
            (
                "audit 5 6",
                Some(CommandKind::Audit),
                "Unexpected \"6\". (Put a name with spaces in quotes.)",
            ),
            (
                "audit --command frobnicate",
                Some(CommandKind::Audit),
                "--command takes the name of a command, like run, not \"frobnicate\".",
            ),
            (
                "audit --command frobnicate",
                Some(CommandKind::Audit),
                "--command takes the name of a command, like run, not \"frobnicate\".",
            ),
            (
                "audit --user",
                Some(CommandKind::Audit),
                "--user needs a value.",
            ),
            (
                "audit --all",
                Some(CommandKind::Audit),
                "`audit` has no option --all.",
            ),
            (
                "watch okta --max-deleted lots",
                Some(CommandKind::Watch),
                "--max-deleted takes a number of users, not \"lots\".",
            ),
            ("status", Some(CommandKind::Status), "Missing <connector>."),
            (
                "status Azure AD",
                Some(CommandKind::Status),
                "Unexpected \"AD\". (Put a name with spaces in quotes.)",
            ),
            (
                "show abc",
                Some(CommandKind::Show),
                "\"abc\" is not a sync id (a number, like 94).",
            ),
            (
                "run okta --force",
                Some(CommandKind::Run),
                "`run` has no option --force.",
            ),
            (
                "run okta --local=yes",
                Some(CommandKind::Run),
                "--local takes no value.",
            ),
            (
                "connectors --instance",
                Some(CommandKind::Connectors),
                "--instance needs a value.",
            ),
            (
                "status \"Azure AD",
                None,
                "Unclosed quote: add the closing \".",
            ),
            (
                "user okta",
                Some(CommandKind::User),
                "Missing <identifier>.",
            ),
            (
                "history",
                Some(CommandKind::History),
                "Missing <connector>.",
            ),
            (
                "history okta 0",
                Some(CommandKind::History),
                "N is how many revisions to show, from 1 to 50, not \"0\".",
            ),
            (
                "history okta 51",
                Some(CommandKind::History),
                "N is how many revisions to show, from 1 to 50, not \"51\".",
            ),
            (
                "history okta -3",
                Some(CommandKind::History),
                "N is how many revisions to show, from 1 to 50, not \"-3\".",
            ),
            (
                "history okta ten",
                Some(CommandKind::History),
                "N is how many revisions to show, from 1 to 50, not \"ten\".",
            ),
            (
                "history okta 5 6",
                Some(CommandKind::History),
                "Unexpected \"6\". (Put a name with spaces in quotes.)",
            ),
            ("lock okta", Some(CommandKind::Lock), "Missing <duration>."),
            ("lock okta 2h", Some(CommandKind::Lock), "Missing <reason>."),
            (
                "lock okta 0s maintenance",
                Some(CommandKind::Lock),
                "A lock lasts longer than zero, like 2h or 30m, not \"0s\".",
            ),
            (
                "lock okta 8d maintenance",
                Some(CommandKind::Lock),
                "A lock lasts at most 7 days (7d), not \"8d\": lock again when it ends.",
            ),
            (
                "lock okta 7d1s maintenance",
                Some(CommandKind::Lock),
                "A lock lasts at most 7 days (7d), not \"7d1s\": lock again when it ends.",
            ),
            (
                "lock okta soon maintenance",
                Some(CommandKind::Lock),
                "\"soon\" is not a duration: say how long the lock lasts, like 2h or 30m.",
            ),
            (
                "lock okta 2h \"  \"",
                Some(CommandKind::Lock),
                "Say why: the reason is shown to everyone the lock refuses.",
            ),
            (
                "unlock",
                Some(CommandKind::Unlock),
                "Missing <connector|*>.",
            ),
            (
                "unlock okta azure",
                Some(CommandKind::Unlock),
                "Unexpected \"azure\". (Put a name with spaces in quotes.)",
            ),
            (
                "locks okta",
                Some(CommandKind::Locks),
                "Unexpected \"okta\". (Put a name with spaces in quotes.)",
            ),
        ];
        for (text, command, message) in cases {
            let e = err(text);
            assert_eq!(e.command, command, "{text:?}");
            assert_eq!(e.problem.to_string(), message, "{text:?}");
        }
    }

    #[test]
    fn the_connector_argument_is_the_one_typed() {
        let cases = [
            ("status \"Azure AD\"", Some("Azure AD")),
            ("connector okta", Some("okta")),
            ("history \"Azure AD\" 5", Some("Azure AD")),
            ("run OKTA --local", Some("OKTA")),
            ("user okta jdoe", Some("okta")),
            ("watch * --failures-only", Some("*")),
            ("unwatch okta", Some("okta")),
            ("lock * 2h why", Some("*")),
            ("unlock Okta", Some("Okta")),
            ("locks", None),
            ("audit --connector okta", None),
            ("show 94 --instance okta", None),
            ("help status", None),
            ("whoami", None),
        ];
        for (text, connector) in cases {
            assert_eq!(ok(text).connector_arg(), connector, "{text:?}");
        }
    }

    #[test]
    fn every_command_has_help_and_an_example_that_parses() {
        for &kind in CommandKind::ALL {
            let spec = kind.spec();
            assert!(!spec.summary.is_empty());
            let parsed = ok(spec.example);
            assert_eq!(parsed.kind(), kind, "example of {}", spec.name);
            assert_eq!(CommandKind::from_name(spec.name), Some(kind));
        }
    }

    #[test]
    fn usage_lines_are_derived_from_the_table() {
        let cases = [
            (CommandKind::Help, "help [command]"),
            (CommandKind::Whoami, "whoami"),
            (CommandKind::History, "history <connector> [N]"),
            (CommandKind::Connectors, "connectors [--instance NAME]"),
            (
                CommandKind::Results,
                "results <sync-id> [--all] [--instance NAME]",
            ),
            (
                CommandKind::User,
                "user <connector> <identifier> [--by-username]",
            ),
            (
                CommandKind::Watch,
                "watch <connector|*> [--failures-only] [--max-deleted N]",
            ),
            (
                CommandKind::Audit,
                "audit [N] [--user U] [--connector C] [--command NAME]",
            ),
            (CommandKind::Lock, "lock <connector|*> <duration> <reason>…"),
            (CommandKind::Unlock, "unlock <connector|*>"),
            (CommandKind::Locks, "locks"),
        ];
        for (kind, usage) in cases {
            assert_eq!(kind.usage(), usage);
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use proptest::test_runner::Config;

        fn config(cases: u32) -> Config {
            Config {
                cases,
                failure_persistence: None,
                ..Config::default()
            }
        }

        /// Every name and alias of the table, and the reserved ones.
        fn names() -> Vec<&'static str> {
            CommandKind::ALL
                .iter()
                .flat_map(|k| {
                    std::iter::once(k.spec().name).chain(k.spec().aliases.iter().copied())
                })
                .chain(RESERVED.iter().copied())
                .collect()
        }

        /// A word: a command name in any case, a flag of the table (bare, with `=value`,
        /// or unknown), `--`, a number or sync id, a quoted part, or anything.
        fn word() -> impl Strategy<Value = String> {
            let flags: Vec<String> = CommandKind::ALL
                .iter()
                .flat_map(|k| k.spec().flags.iter().map(|f| format!("--{}", f.name)))
                .collect();
            prop_oneof![
                (prop::sample::select(names()), any::<bool>()).prop_map(|(n, upper)| if upper {
                    n.to_uppercase()
                } else {
                    n.to_string()
                }),
                prop::sample::select(flags.clone()),
                (prop::sample::select(flags), any::<String>())
                    .prop_map(|(f, v)| format!("{f}={v}")),
                Just("--".to_string()),
                Just("--frobnicate".to_string()),
                Just("--=x".to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
                any::<u64>().prop_map(|n| format!("#{n}")),
                "[\"'“„‘«][^\"'”“’‘»]{0,8}[\"'”“’‘»]?",
                any::<String>(),
                "[a-z*]{1,8}",
            ]
        }

        fn text() -> impl Strategy<Value = String> {
            (
                prop::collection::vec(word(), 0..7),
                prop::sample::select(vec![" ", "  ", "\t", "\u{A0}", "\n"]),
            )
                .prop_map(|(words, gap)| words.join(gap))
        }

        /// A word written so that the tokenizer gives it back: in a quote it does not
        /// contain, if there is one.
        fn quoted(word: &str) -> Option<String> {
            let has = |cs: &[char]| cs.iter().any(|c| word.contains(*c));
            let (open, close) = if !has(&['"']) {
                ('"', '"')
            } else if !has(&['\'']) {
                ('\'', '\'')
            } else if !has(&['“', '”']) {
                ('“', '”')
            } else if !has(&['‘', '’']) {
                ('‘', '’')
            } else if !has(&['»']) {
                ('«', '»')
            } else {
                return None;
            };
            Some(format!("{open}{word}{close}"))
        }

        /// The command written back as text from the command table: its name, its flags,
        /// `--`, then its positionals, each value quoted. `None` when a value holds every
        /// kind of quote.
        fn render(command: &Command) -> Option<String> {
            let kind = command.kind();
            let mut flags: Vec<String> = Vec::new();
            let mut positional: Vec<String> = Vec::new();
            let mut option = |name: &str, value: &Option<String>| -> Option<()> {
                if let Some(v) = value {
                    flags.push(format!("--{name}"));
                    flags.push(quoted(v)?);
                }
                Some(())
            };
            match command {
                Command::Help { topic } => positional.extend(topic.clone()),
                Command::Whoami | Command::Jobs | Command::Watches | Command::Locks => {}
                Command::Connectors { instance } => option("instance", instance)?,
                Command::Status { connector }
                | Command::Connector { connector }
                | Command::Unlock { connector }
                | Command::Unwatch { connector } => positional.push(connector.clone()),
                Command::History { connector, limit } => {
                    positional.push(connector.clone());
                    positional.push(limit.to_string());
                }
                Command::Lock(l) => {
                    positional.push(l.connector.clone());
                    positional.push(humantime::format_duration(l.duration).to_string());
                    positional.push(l.reason.clone());
                }
                Command::Show { sync_id, instance } => {
                    option("instance", instance)?;
                    positional.push(sync_id.to_string());
                }
                Command::Results(r) => {
                    option("instance", &r.instance)?;
                    if r.all {
                        flags.push("--all".into());
                    }
                    positional.push(r.sync_id.to_string());
                }
                Command::User(u) => {
                    if u.by_username {
                        flags.push("--by-username".into());
                    }
                    positional.push(u.connector.clone());
                    positional.push(u.identifier.clone());
                }
                Command::Run { connector, local } => {
                    if *local {
                        flags.push("--local".into());
                    }
                    positional.push(connector.clone());
                }
                Command::Watch(w) => {
                    if w.failures_only {
                        flags.push("--failures-only".into());
                    }
                    if let Some(n) = w.max_deleted {
                        flags.push(format!("--max-deleted={n}"));
                    }
                    positional.push(w.connector.clone());
                }
                // Their words are checked by their own tests: a patch has no one spelling.
                Command::Set { .. } | Command::Patch { .. } => return None,
                Command::DeleteDirectory { target } => positional.push(target.clone()),
                Command::Acknowledge { connector } => positional.push(connector.clone()),
                Command::Rollback {
                    connector,
                    revision,
                } => {
                    positional.push(connector.clone());
                    positional.push(revision.to_string());
                }
                Command::Confirm { code, directory } => {
                    positional.push(code.clone());
                    positional.push(directory.clone());
                }
                Command::Audit(a) => {
                    option("user", &a.user)?;
                    option("connector", &a.connector)?;
                    option("command", &a.command.map(|k| k.name().to_string()))?;
                    positional.push(a.rows.to_string());
                }
            }
            let mut out = vec![kind.spec().name.to_string()];
            out.extend(flags);
            out.push("--".into());
            for p in &positional {
                out.push(quoted(p)?);
            }
            Some(out.join(" "))
        }

        fn check(text: &str) -> Result<(), TestCaseError> {
            let Ok(command) = parse(text) else {
                return Ok(());
            };
            let kind = command.kind();
            // The kind is the one the table names for the first word.
            match tokenize(text)
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .first()
            {
                None => prop_assert_eq!(&command, &Command::Help { topic: None }),
                Some(first) => prop_assert_eq!(CommandKind::from_name(first), Some(kind)),
            }
            prop_assert_eq!(CommandKind::from_name(kind.name()), Some(kind));
            // Written back from the table, it parses to the very same command.
            if let Some(again) = render(&command) {
                prop_assert_eq!(
                    parse(&again),
                    Ok(command),
                    "{:?} re-rendered as {:?}",
                    text,
                    again
                );
            }
            Ok(())
        }

        /// Whether a value, as written, is a word that starts with `--`: quotes do not
        /// keep it from being read as a flag, only `--` before it does.
        fn dashed(written: &str) -> bool {
            tokenize(written)
                .ok()
                .and_then(|w| w.first().cloned())
                .is_some_and(|w| w.starts_with("--"))
        }

        /// The text of a command as a person would type it: a name or alias of the kind
        /// in any case, as many values as the table asks for (bare when they can be,
        /// quoted otherwise), and any of its flags, before or after them.
        fn well_formed() -> impl Strategy<Value = (CommandKind, String)> {
            let value = prop_oneof![
                "[a-zA-Z0-9._@*-]{1,12}",
                any::<String>().prop_filter_map("holds every quote", |v| quoted(&v)),
            ];
            (
                prop::sample::select(CommandKind::ALL.to_vec()),
                any::<prop::sample::Index>(),
                any::<bool>(),
                prop::collection::vec(value, 3),
                prop::collection::vec(any::<bool>(), 3),
                any::<u64>(),
                any::<bool>(),
            )
                .prop_map(|(kind, alias, upper, values, use_flag, n, flags_first)| {
                    let spec = kind.spec();
                    let mut names = vec![spec.name];
                    names.extend(spec.aliases);
                    let name = names[alias.index(names.len())];
                    let name = if upper {
                        name.to_uppercase()
                    } else {
                        name.to_string()
                    };
                    let numeric = matches!(kind, CommandKind::Show | CommandKind::Results);
                    let positional: Vec<String> = spec
                        .args
                        .iter()
                        .zip(&values)
                        .enumerate()
                        .map(|(i, (_, v))| match (kind, i) {
                            _ if numeric => format!("#{n}"),
                            (CommandKind::Audit, _) => {
                                (n % u64::from(AUDIT_MAX_ROWS) + 1).to_string()
                            }
                            (CommandKind::History, 1) => {
                                (n % u64::from(HISTORY_MAX) + 1).to_string()
                            }
                            (CommandKind::Set, 1) => format!("sync.page_{n}={v}"),
                            (CommandKind::Rollback, 1) => format!("#{}", n % 1000 + 1),
                            (CommandKind::Lock, 1) => format!("{}m", n % 600 + 1),
                            // Words of a reason after the first are flags when they start with `--`.
                            (CommandKind::Lock, 2) if dashed(v) => "because maintenance".into(),
                            (CommandKind::Lock, 2) => format!("because {v}"),
                            (CommandKind::Patch, 1) => {
                                format!("'[{{\"op\":\"remove\",\"path\":\"/a{n}\"}}]'")
                            }
                            _ => v.clone(),
                        })
                        .collect();
                    // `--command` names a command: any name or alias of the table.
                    let command_names: Vec<&str> = CommandKind::ALL
                        .iter()
                        .flat_map(|k| {
                            std::iter::once(k.spec().name).chain(k.spec().aliases.iter().copied())
                        })
                        .collect();
                    let command_name = command_names[alias.index(command_names.len())];
                    let flags: Vec<String> = spec
                        .flags
                        .iter()
                        .zip(&use_flag)
                        .filter(|(_, on)| **on)
                        .map(|(f, _)| match f.value {
                            None => format!("--{}", f.name.to_uppercase()),
                            Some(_) if f.name == "max-deleted" => format!("--{}={n}", f.name),
                            Some(_) if f.name == "command" => format!("--command {command_name}"),
                            Some(_) => format!("--{} {}", f.name, values[2]),
                        })
                        .collect();
                    let mut words = vec![name];
                    // A value that starts with `--` must follow `--` to stay a value.
                    if flags_first || positional.iter().any(|p| dashed(p)) {
                        words.extend(flags);
                        words.push("--".into());
                        words.extend(positional);
                    } else {
                        words.extend(positional);
                        words.extend(flags);
                    }
                    (kind, words.join(" "))
                })
        }

        proptest! {
            #![proptest_config(config(1000))]

            #[test]
            fn a_well_formed_command_parses_to_its_kind_and_renders_back_to_itself(
                (kind, text) in well_formed(),
            ) {
                let parsed = parse(&text);
                prop_assert!(parsed.is_ok(), "{:?}: {:?}", text, parsed);
                prop_assert_eq!(parsed.map(|c| c.kind()), Ok(kind));
                check(&text)?;
            }

            #[test]
            fn the_parser_never_panics_and_a_parsed_command_renders_back_to_itself(text in text()) {
                check(&text)?;
            }

            #[test]
            fn any_text_after_a_command_name_never_panics_the_parser(
                name in prop::sample::select(names()),
                rest in any::<String>(),
            ) {
                check(&format!("{name} {rest}"))?;
            }
        }

        proptest! {
            #![proptest_config(config(16))]

            #[test]
            fn a_very_long_text_parses_without_panicking(
                words in prop::collection::vec(word(), 10..40),
                times in 20..100usize,
            ) {
                check(&vec![words.join(" "); times].join(" "))?;
            }
        }
    }
}

//! Help, `whoami`, denials and usage errors: the words around the command table.

use crate::authz::Denial;
use crate::command::{Access, CommandKind, ParseError};
use crate::domain::{Invocation, Role};
use crate::message::{Block, Message, Text, Tone};

fn role_name(role: Option<Role>) -> String {
    role.map_or("no role".into(), |r| format!("the {r} role"))
}

fn access_text(access: Access) -> String {
    match access {
        Access::Anyone => "anyone".into(),
        Access::Role(r) => format!("{r} or higher"),
    }
}

/// Help for one command: usage, example, who may run it and whether this person may here.
pub fn topic(
    inv: &Invocation,
    kind: CommandKind,
    role: Option<Role>,
    allowed: Result<(), Denial>,
) -> Message {
    let slash = &inv.command;
    let spec = kind.spec();
    let mut m = Message::new(Tone::Info, format!("{slash} {}", spec.name))
        .text(Text::new().plain(spec.summary))
        .push(Block::Fields(vec![
            (
                "Usage".into(),
                Text::new().code(format!("{slash} {}", kind.usage())),
            ),
            (
                "Example".into(),
                Text::new().code(format!("{slash} {}", spec.example)),
            ),
            ("Needs".into(), Text::new().plain(access_text(spec.access))),
        ]));
    if !spec.aliases.is_empty() {
        m = m.text(
            Text::new()
                .plain("Also called: ")
                .code(spec.aliases.join(", ")),
        );
    }
    m.context(match allowed {
        Ok(()) => Text::new().plain("You may run this here."),
        Err(Denial::Role { .. }) => Text::new().plain(format!(
            "You have {}: you cannot run this.",
            role_name(role)
        )),
        Err(Denial::Channel { .. }) => {
            Text::new().plain("This command is allowed only in certain channels, not this one.")
        }
    })
}

/// `help <topic>` for a topic that is no command.
pub fn unknown_topic(inv: &Invocation, topic: &str) -> Message {
    let slash = &inv.command;
    Message::new(Tone::Warning, format!("{slash}: no command {topic:?}")).text(
        Text::new()
            .plain("Try ")
            .code(format!("{slash} help"))
            .plain(" for the list."),
    )
}

/// Help written for the person asking: what they may run first, with an example each;
/// the rest with the role it needs.
pub fn all(
    inv: &Invocation,
    role: Option<Role>,
    mine: &[CommandKind],
    others: &[CommandKind],
) -> Message {
    let slash = &inv.command;
    let mut m = Message::new(
        Tone::Info,
        format!("{} help — what you can do", slash.trim_start_matches('/')),
    );
    m = m.text(Text::new().strong("You can run"));
    m = m.push(Block::List {
        items: mine
            .iter()
            .map(|k| {
                Text::new()
                    .code(format!("{slash} {}", k.usage()))
                    .plain(format!(" — {} e.g. ", k.spec().summary))
                    .code(format!("{slash} {}", k.spec().example))
            })
            .collect(),
        more: 0,
    });
    if !others.is_empty() {
        m = m.text(Text::new().strong("Needs another role or channel"));
        m = m.push(Block::List {
            items: others
                .iter()
                .map(|k| {
                    Text::new()
                        .code(format!("{slash} {}", k.usage()))
                        .plain(format!(" — {}", access_text(k.spec().access)))
                })
                .collect(),
            more: 0,
        });
    }
    // The same for everyone with this role here: it names no person, so it can be reused.
    m.context(Text::new().plain(format!(
        "You have {}. Name a connector by its name, its id or instance/name; quote names with spaces.",
        role_name(role)
    )))
}

/// `whoami`: principal, role, channel and the commands allowed here.
pub fn whoami(inv: &Invocation, role: Option<Role>, may: &[CommandKind]) -> Message {
    let may: Vec<&str> = may.iter().map(|k| k.name()).collect();
    Message::new(Tone::Info, "Who you are to usersync-bot").push(Block::Fields(vec![
        ("Principal".into(), Text::new().code(inv.user.to_string())),
        (
            "Role".into(),
            Text::new().plain(role.map_or("none".to_string(), |r| r.to_string())),
        ),
        ("Channel".into(), Text::new().code(inv.channel.to_string())),
        ("Commands here".into(), Text::new().plain(may.join(", "))),
    ]))
}

/// The answer to a denied command: the role it needs and the role the user has.
pub fn denied(inv: &Invocation, kind: CommandKind, denial: &Denial) -> Message {
    let slash = &inv.command;
    match denial {
        Denial::Role { needed, has } => Message::new(
            Tone::Failure,
            format!("Not allowed: {slash} {}", kind.name()),
        )
        .text(Text::new().code(kind.name()).plain(format!(
            " needs the {needed} role; you have {}.",
            role_name(*has)
        )))
        .context("Ask an administrator of the bot if you need it."),
        Denial::Channel { allowed } => {
            // Only the channels of the user's own platform are any use to them.
            let list: Vec<String> = allowed
                .iter()
                .filter(|c| c.platform == inv.platform)
                .map(|c| c.to_string())
                .collect();
            Message::new(
                Tone::Failure,
                format!("Not allowed here: {slash} {}", kind.name()),
            )
            .text(
                Text::new()
                    .code(kind.name())
                    .plain(" is allowed only in these channels: ")
                    .code(list.join(", ")),
            )
        }
    }
}

/// The answer to text that is not a valid command: what is wrong and the usage.
pub fn invalid(inv: &Invocation, e: &ParseError) -> Message {
    let slash = &inv.command;
    let m = Message::new(Tone::Warning, e.problem.to_string());
    match e.command {
        Some(kind) => m.text(
            Text::new()
                .plain("Usage: ")
                .code(format!("{slash} {}", kind.usage()))
                .plain(" — e.g. ")
                .code(format!("{slash} {}", kind.spec().example)),
        ),
        None => m.text(
            Text::new()
                .plain("Try ")
                .code(format!("{slash} help"))
                .plain("."),
        ),
    }
}

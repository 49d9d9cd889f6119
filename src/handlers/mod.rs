//! What each command does, once it has been parsed and authorized. Every handler answers
//! with a neutral [`Message`]; mistakes and upstream failures are messages too.

pub mod present;
pub mod resolve;

mod actions;
mod reads;
mod watch;

use crate::app::App;
use crate::authz::Denial;
use crate::command::{Access, Command, CommandKind, ParseError};
use crate::domain::Invocation;
use crate::domain::Role;
use crate::message::{Block, Message, Text, Tone};

/// A handler's answer and the one-line outcome recorded in the audit.
#[derive(Debug, Clone)]
pub struct Handled {
    pub message: Message,
    pub outcome: String,
}

impl Handled {
    pub fn ok(message: Message) -> Self {
        Handled {
            message,
            outcome: "ok".into(),
        }
    }

    pub fn failed(message: Message) -> Self {
        let outcome = format!("error: {}", message_summary(&message));
        Handled { message, outcome }
    }
}

fn message_summary(m: &Message) -> String {
    let first = m.blocks.iter().find_map(|b| match b {
        Block::Text(t) => Some(t.to_plain()),
        _ => None,
    });
    match first {
        Some(t) => format!("{} — {}", m.title, t),
        None => m.title.clone(),
    }
}

/// Runs an authorized command.
pub async fn handle(app: &App, inv: &Invocation, role: Option<Role>, command: Command) -> Handled {
    match command {
        Command::Help { topic } => Handled::ok(help(app, inv, role, topic.as_deref())),
        Command::Whoami => Handled::ok(whoami(app, inv, role)),
        Command::Connectors { instance } => reads::connectors(app, instance.as_deref()).await,
        Command::Status { connector } => reads::status(app, &connector).await,
        Command::Show { sync_id, instance } => reads::show(app, sync_id, instance.as_deref()).await,
        Command::Results {
            sync_id,
            all,
            instance,
        } => reads::results(app, sync_id, all, instance.as_deref()).await,
        Command::Connector { connector } => reads::connector(app, &connector).await,
        Command::Jobs => reads::jobs(app).await,
        Command::User {
            connector,
            identifier,
            by_username,
        } => actions::user(app, inv, &connector, &identifier, by_username).await,
        Command::Run { connector, local } => actions::run(app, inv, &connector, local).await,
        Command::Watch {
            connector,
            failures_only,
            max_deleted,
        } => watch::watch(app, inv, &connector, failures_only, max_deleted).await,
        Command::Unwatch { connector } => watch::unwatch(app, inv, &connector).await,
        Command::Watches => watch::watches(app, inv).await,
    }
}

fn role_name(role: Option<Role>) -> String {
    role.map_or("no role".into(), |r| format!("the {r} role"))
}

fn access_text(access: Access) -> String {
    match access {
        Access::Anyone => "anyone".into(),
        Access::Role(r) => format!("{r} or higher"),
    }
}

/// Help written for the person asking: what they may run first, with an example each;
/// the rest with the role it needs.
pub fn help(app: &App, inv: &Invocation, role: Option<Role>, topic: Option<&str>) -> Message {
    let slash = &inv.command;
    if let Some(topic) = topic {
        let Some(kind) = CommandKind::from_name(topic) else {
            return Message::new(Tone::Warning, format!("{slash}: no command {topic:?}")).text(
                Text::new()
                    .plain("Try ")
                    .code(format!("{slash} help"))
                    .plain(" for the list."),
            );
        };
        let spec = kind.spec();
        let allowed = app.config.roles.authorize(kind, &inv.user, &inv.channel);
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
        m = m.context(match allowed {
            Ok(_) => Text::new().plain("You may run this here."),
            Err(Denial::Role { .. }) => Text::new().plain(format!(
                "You have {}: you cannot run this.",
                role_name(role)
            )),
            Err(Denial::Channel { .. }) => {
                Text::new().plain("This command is allowed only in certain channels, not this one.")
            }
        });
        return m;
    }
    let (mine, others): (Vec<CommandKind>, Vec<CommandKind>) =
        CommandKind::ALL.into_iter().partition(|k| {
            app.config
                .roles
                .authorize(*k, &inv.user, &inv.channel)
                .is_ok()
        });
    let mut m = Message::new(
        Tone::Info,
        format!("{} help — what you can do", slash.trim_start_matches('/')),
    );
    m = m.text(Text::new().strong("You can run"));
    m = m.push(Block::List {
        items: mine
            .iter()
            .map(|k| {
                let spec = k.spec();
                Text::new()
                    .code(format!("{slash} {}", k.usage()))
                    .plain(format!(" — {} e.g. ", spec.summary))
                    .code(format!("{slash} {}", spec.example))
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
    m.context(Text::new().plain(format!(
        "You are {} with {}. Name a connector by its name, its id or instance/name; quote names with spaces.",
        inv.user,
        role_name(role)
    )))
}

fn whoami(app: &App, inv: &Invocation, role: Option<Role>) -> Message {
    let may: Vec<&str> = CommandKind::ALL
        .into_iter()
        .filter(|k| {
            app.config
                .roles
                .authorize(*k, &inv.user, &inv.channel)
                .is_ok()
        })
        .map(CommandKind::name)
        .collect();
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
    let mut m = Message::new(Tone::Warning, e.problem.to_string());
    m = match e.command {
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
    };
    m
}

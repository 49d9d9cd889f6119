//! What each command does, once it has been parsed and authorized. A handler reads like
//! its help line: it asks the product, the store or the job engine, and hands what
//! happened to `reply` for the words. Handlers are reachable only through [`handle`],
//! which takes the [`Authorized`] capability that only the permission check makes.

pub mod actions;
pub mod change;
pub mod directory;
mod history;
pub mod locks;
mod pending;
mod reads;
pub mod resolve;
mod watch;

use crate::app::{allowed_bits, App, SharedKey};
use crate::authz::Authorized;
use crate::command::{Command, CommandKind};
use crate::domain::Invocation;
use crate::reply::{self, CommandError, Reply};

/// Runs an authorized command. Each command's work is boxed: this future (and the
/// pipeline's around it) stays small instead of as large as the largest command's, so
/// that a command answered at once (help, whoami) allocates nothing for it (measured: a
/// 3.6 KB pipeline future cost an allocation from malloc's large bins for every command).
pub async fn handle(app: &App, inv: &Invocation, auth: &Authorized) -> Result<Reply, CommandError> {
    match auth.command() {
        Command::Help { topic } => Ok(help(app, inv, auth, topic.as_deref())),
        Command::Whoami => Ok(Reply::ok(whoami(app, inv, auth))),
        Command::Connectors { instance } => {
            Box::pin(reads::connectors(app, instance.as_deref())).await
        }
        Command::Status { connector } => Box::pin(reads::status(app, connector)).await,
        Command::Show { sync_id, instance } => {
            Box::pin(reads::show(app, *sync_id, instance.as_deref())).await
        }
        Command::Results(args) => Box::pin(reads::results(app, args)).await,
        Command::Connector { connector } => Box::pin(reads::connector(app, connector)).await,
        Command::History { connector, limit } => {
            Box::pin(history::history(app, connector, *limit)).await
        }
        Command::Jobs => Box::pin(reads::jobs(app)).await,
        Command::User(args) => Box::pin(actions::user(app, inv, args)).await,
        Command::Run { connector, local } => {
            Box::pin(actions::run(app, inv, connector, *local)).await
        }
        Command::Watch(args) => Box::pin(watch::watch(app, inv, args)).await,
        Command::Unwatch { connector } => Box::pin(watch::unwatch(app, inv, connector)).await,
        Command::Watches => Box::pin(watch::watches(app, inv)).await,
        Command::Set { connector, patch } => {
            Box::pin(change::propose(
                app,
                inv,
                connector,
                change::Patch::Merge(patch.clone()),
            ))
            .await
        }
        Command::Patch { connector, patch } => {
            Box::pin(change::propose(
                app,
                inv,
                connector,
                change::Patch::Json(patch.clone()),
            ))
            .await
        }
        Command::Audit(args) => Box::pin(reads::audit(app, inv, args)).await,
        Command::Rollback {
            connector,
            revision,
        } => Box::pin(change::rollback(app, inv, connector, *revision)).await,
        Command::DeleteDirectory { target } => Box::pin(directory::propose(app, inv, target)).await,
        Command::Acknowledge { connector } => {
            Box::pin(actions::acknowledge(app, inv, connector)).await
        }
        // Handled by the pipeline (`dispatch::typed`), which checks who may confirm.
        Command::Confirm { .. } => Err(CommandError::Unroutable),
        Command::Lock(args) => Box::pin(locks::lock(app, inv, auth, args)).await,
        Command::Unlock { connector } => Box::pin(locks::unlock(app, inv, auth, connector)).await,
        Command::Locks => Box::pin(locks::locks(app)).await,
    }
}

fn whoami(app: &App, inv: &Invocation, auth: &Authorized) -> crate::message::Message {
    reply::help::whoami(inv, auth.role(), &allowed_here(app, inv))
}

/// The commands this person may run in this channel, in table order.
fn allowed_here(app: &App, inv: &Invocation) -> Vec<CommandKind> {
    CommandKind::ALL
        .iter()
        .copied()
        .filter(|k| {
            app.config
                .roles
                .permits(*k, &inv.user, &inv.channel)
                .is_ok()
        })
        .collect()
}

/// Help is the same for everyone with this role, here: it is built and rendered once
/// per platform, slash command, role and set of allowed commands, then shared.
fn help(app: &App, inv: &Invocation, auth: &Authorized, topic: Option<&str>) -> Reply {
    let mine = allowed_here(app, inv);
    let topic = match topic.map(|t| (t, CommandKind::from_name(t))) {
        None => None,
        Some((_, Some(kind))) => Some(kind),
        // The answer names what was typed: made for this caller only.
        Some((typed, None)) => return Reply::ok(reply::help::unknown_topic(inv, typed)),
    };
    let key = SharedKey {
        platform: inv.platform,
        slash: inv.command.clone(),
        role: auth.role(),
        allowed: allowed_bits(&mine),
        topic,
    };
    Reply::shared(app.shared.get_or_render(key, || match topic {
        Some(kind) => {
            let allowed = app
                .config
                .roles
                .permits(kind, &inv.user, &inv.channel)
                .map(|_| ());
            reply::help::topic(inv, kind, auth.role(), allowed)
        }
        None => {
            let others: Vec<CommandKind> = CommandKind::ALL
                .iter()
                .copied()
                .filter(|k| !mine.contains(k))
                .collect();
            reply::help::all(inv, auth.role(), &mine, &others)
        }
    }))
}

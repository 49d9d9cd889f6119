//! Commands that change something in the product: `run` and `user`. The job engine does
//! the orchestration; a re-delivered request never gets here (the pipeline claims every
//! changing command's delivery in the store first).

use super::resolve::{self, Found};
use crate::app::App;
use crate::command::UserArgs;
use crate::domain::Invocation;
use crate::jobs::{SyncStart, SyncStartError};
use crate::reply::jobs::SyncStarted;
use crate::reply::{self, CommandError, Outcome, Reply};
use crate::store::{JobKind, JobRecord};

pub async fn run(
    app: &App,
    inv: &Invocation,
    wanted: &str,
    local: bool,
) -> Result<Reply, CommandError> {
    let found = resolve::connector(app, wanted).await?;
    let name = found.connector.display_name();
    let mut job = new_job(app, inv, JobKind::Sync, &found);
    job.local = local;
    let started = app.jobs.start_sync(&found.client, job).await;
    let started = started.map_err(|e| not_started(name, e))?;
    Ok(answer(app, inv, &found, local, started))
}

/// What `run` says about what the job engine did.
fn answer(app: &App, inv: &Invocation, found: &Found, local: bool, started: SyncStart) -> Reply {
    let name = found.connector.display_name();
    match started {
        SyncStart::AlreadyFollowing(job) => {
            let outcome = Outcome::AlreadyFollowing { job: job.id };
            Reply::with(reply::jobs::already_following(name, &job), outcome)
        }
        SyncStart::AlreadyRunning { status, job } => {
            let words = reply::jobs::already_running(name, &status, job.as_deref());
            Reply::with(words, Outcome::AlreadyRunning { sync: status.id })
        }
        SyncStart::Started { sync_id, job_id } => {
            let words = reply::jobs::sync_started(SyncStarted {
                inv,
                connector: name,
                instance: found.client.instance(),
                sync_id,
                local,
                job_id,
                can_post_late: app.jobs.can_post_late(inv.platform),
            });
            Reply::with(words, Outcome::SyncStarted { sync: sync_id })
        }
    }
}

fn new_job(app: &App, inv: &Invocation, kind: JobKind, found: &Found) -> JobRecord {
    let (c, instance) = (&found.connector, found.client.instance());
    app.jobs
        .new_job(kind, inv, instance, &c.unique_id, c.display_name())
}

fn not_started(name: &str, e: SyncStartError) -> CommandError {
    match e {
        SyncStartError::Check(e) => CommandError::upstream(format!("Not started: {name}"), e),
        SyncStartError::Trigger(e) => {
            CommandError::upstream(format!("Sync of {name} not started"), e)
        }
    }
}

pub async fn user(app: &App, inv: &Invocation, args: &UserArgs) -> Result<Reply, CommandError> {
    // A protected account is refused before anything is asked of the product.
    if let Some(pattern) = app.config.protect.protecting(&args.identifier) {
        return Err(CommandError::ProtectedAccount {
            identifier: args.identifier.clone(),
            pattern: pattern.as_str().to_string(),
        });
    }
    let found = resolve::connector(app, &args.connector).await?;
    let name = found.connector.display_name();
    let mut job = new_job(app, inv, JobKind::User, &found);
    job.subject = Some(args.identifier.clone());
    let update = app
        .jobs
        .update_user(&found.client, job, args.by_username)
        .await
        .map_err(|e| CommandError::upstream(format!("User update on {name} failed"), e))?;
    Ok(Reply::with(
        reply::jobs::user_update(name, &args.identifier, &update),
        Outcome::UserUpdated {
            action: update.action_or_done(),
        },
    ))
}

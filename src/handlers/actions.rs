//! Commands that change something in the product: `run` and `user`. The job engine does
//! the orchestration; a re-delivered request never gets here (the pipeline claims every
//! changing command's delivery in the store first).

use super::resolve;
use crate::app::App;
use crate::domain::Invocation;
use crate::jobs::{SyncStart, SyncStartError};
use crate::reply::jobs::SyncStarted;
use crate::reply::{self, CommandError, Outcome, Reply};
use crate::store::JobKind;

pub async fn run(
    app: &App,
    inv: &Invocation,
    wanted: &str,
    local: bool,
) -> Result<Reply, CommandError> {
    let found = resolve::connector(app, wanted).await?;
    let (instance, name) = (found.client.instance(), found.connector.display_name());
    let mut job = app.jobs.new_job(
        JobKind::Sync,
        inv,
        instance,
        &found.connector.unique_id,
        name,
    );
    job.local = local;
    let started = app
        .jobs
        .start_sync(&found.client, job)
        .await
        .map_err(|e| match e {
            SyncStartError::Check(e) => CommandError::upstream(format!("Not started: {name}"), e),
            SyncStartError::Trigger(e) => {
                CommandError::upstream(format!("Sync of {name} not started"), e)
            }
        })?;
    Ok(match started {
        SyncStart::AlreadyFollowing(job) => Reply::with(
            reply::jobs::already_following(name, &job),
            Outcome::AlreadyFollowing { job: job.id },
        ),
        SyncStart::AlreadyRunning { status, job } => Reply::with(
            reply::jobs::already_running(name, &status, job.as_deref()),
            Outcome::AlreadyRunning { sync: status.id },
        ),
        SyncStart::Started { sync_id, job_id } => Reply::with(
            reply::jobs::sync_started(SyncStarted {
                inv,
                connector: name,
                instance,
                sync_id,
                local,
                job_id,
                can_post_late: app.jobs.can_post_late(inv.platform),
            }),
            Outcome::SyncStarted { sync: sync_id },
        ),
    })
}

pub async fn user(
    app: &App,
    inv: &Invocation,
    wanted: &str,
    identifier: &str,
    by_username: bool,
) -> Result<Reply, CommandError> {
    let found = resolve::connector(app, wanted).await?;
    let name = found.connector.display_name();
    let mut job = app.jobs.new_job(
        JobKind::User,
        inv,
        found.client.instance(),
        &found.connector.unique_id,
        name,
    );
    job.subject = Some(identifier.to_string());
    let update = app
        .jobs
        .update_user(&found.client, job, by_username)
        .await
        .map_err(|e| CommandError::upstream(format!("User update on {name} failed"), e))?;
    Ok(Reply::with(
        reply::jobs::user_update(name, identifier, &update),
        Outcome::UserUpdated {
            action: update.action_or_done(),
        },
    ))
}

//! Commands that change something in the product: `run` and `user`. The job engine does
//! the orchestration; a re-delivered request never gets here (the pipeline claims every
//! changing command's delivery in the store first).

use super::resolve::{self, Found};
use crate::app::App;
use crate::authz::Authorized;
use crate::command::UserArgs;
use crate::domain::Invocation;
use crate::jobs::{SyncStart, SyncStartError};
use crate::message::{ButtonAction, Message};
use crate::reply::change::ClickRefusal;
use crate::reply::error::StoreAction;
use crate::reply::jobs::SyncStarted;
use crate::reply::{self, CommandError, Outcome, Reply};
use crate::store::{JobKind, JobRecord, PendingRecord};

pub async fn run(
    app: &App,
    inv: &Invocation,
    wanted: &str,
    local: bool,
) -> Result<Reply, CommandError> {
    let found = resolve::connector(app, wanted).await?;
    if let Some(gone) = super::directory::gone(app, inv, &found).await {
        return Ok(gone);
    }
    if let Some(asks) = ask_after_mass_deletion(app, inv, &found, local).await? {
        return Ok(asks);
    }
    start(app, inv, &found, local).await
}

/// Starts the sync and says so.
async fn start(
    app: &App,
    inv: &Invocation,
    found: &Found,
    local: bool,
) -> Result<Reply, CommandError> {
    let name = found.connector.display_name();
    let mut job = new_job(app, inv, JobKind::Sync, found);
    job.local = local;
    let started = app.jobs.start_sync(&found.client, job).await;
    let started = started.map_err(|e| not_started(name, e))?;
    Ok(answer(app, inv, found, local, started))
}

/// While a mass-deletion alert on the connector is open, `run` asks first: a prompt with
/// "Run anyway", bound to the person who asked, like every confirmation.
async fn ask_after_mass_deletion(
    app: &App,
    inv: &Invocation,
    found: &Found,
    local: bool,
) -> Result<Option<Reply>, CommandError> {
    let instance = found.client.instance();
    let alert = match app
        .store
        .open_deletion_alert(instance, &found.connector.unique_id)
        .await
    {
        Ok(Some(alert)) => alert,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read mass deletion alerts");
            return Ok(None);
        }
    };
    let pending = super::pending::create(
        app,
        inv,
        super::pending::Operation {
            id: uuid::Uuid::new_v4().simple().to_string(),
            instance,
            connector_id: &found.connector.unique_id,
            connector_name: found.connector.display_name(),
            operation: serde_json::json!({"format": RUN_FORMAT, "local": local}),
            fingerprint: String::new(),
        },
    )
    .await?;
    let callback_url = app
        .config
        .public_url
        .as_ref()
        .filter(|_| inv.platform == crate::domain::Platform::Mattermost)
        .map(|base| format!("{base}/mattermost/actions"));
    let message = reply::guards::run_asks(
        &alert,
        app.key
            .button_token(&pending.id, ButtonAction::Confirm.as_str()),
        app.key
            .button_token(&pending.id, ButtonAction::Cancel.as_str()),
        callback_url,
    );
    Ok(Some(Reply::with(
        message,
        Outcome::Proposed {
            pending: pending.id,
        },
    )))
}

/// The operation of a `run` that asked first.
pub const RUN_FORMAT: &str = "run";

pub fn is_run(pending: &PendingRecord) -> bool {
    pending
        .operation
        .get("format")
        .and_then(serde_json::Value::as_str)
        == Some(RUN_FORMAT)
}

/// "Run anyway" clicked by the person who asked, still allowed to run (`_auth`).
pub async fn run_confirmed(
    app: &App,
    _auth: &Authorized,
    pending: &PendingRecord,
    inv: &Invocation,
) -> Result<(Message, Outcome), ClickRefusal> {
    super::pending::use_up(app, pending, &inv.user.to_string()).await?;
    let client = app.instance(Some(&pending.instance)).map_err(|_| {
        ClickRefusal::Unavailable("The connector's instance is no longer configured.".into())
    })?;
    let connector = client
        .get_connector(&pending.connector_id)
        .await
        .map_err(|e| ClickRefusal::Unavailable(reply::error::upstream_text(&e)))?;
    let found = Found {
        client: client.clone(),
        connector,
    };
    let local = pending
        .operation
        .get("local")
        .and_then(serde_json::Value::as_bool)
        == Some(true);
    match start(app, inv, &found, local).await {
        Ok(reply) => Ok((reply.answer.message().clone(), reply.outcome)),
        Err(e) => Ok((
            e.message(),
            Outcome::ClickRefused(format!("error: {}", e.summary())),
        )),
    }
}

/// `acknowledge <connector>` (admin): the connector's open mass-deletion alerts are
/// acknowledged; runs no longer ask.
pub async fn acknowledge(app: &App, inv: &Invocation, wanted: &str) -> Result<Reply, CommandError> {
    let found = resolve::connector(app, wanted).await?;
    let by = reply::who(inv.user_name.as_deref(), &inv.user);
    let n = app
        .store
        .acknowledge_deletion_alerts(
            found.client.instance(),
            &found.connector.unique_id,
            &inv.user.to_string(),
            chrono::Utc::now(),
        )
        .await
        .map_err(|e| CommandError::store(StoreAction::RecordConfirmation, e))?;
    Ok(Reply::ok(reply::guards::acknowledged(
        found.connector.display_name(),
        &by,
        n,
    )))
}

/// What `run` says about what the job engine did.
fn answer(app: &App, inv: &Invocation, found: &Found, local: bool, started: SyncStart) -> Reply {
    let name = found.connector.display_name();
    match started {
        SyncStart::Unconfirmed { job_id, error } => {
            tracing::warn!(job = job_id, %error, "run: the trigger was not confirmed");
            let words = reply::jobs::sync_unconfirmed(
                inv,
                name,
                found.client.instance(),
                job_id,
                app.config.jobs.start_window,
            );
            Reply::with(words, Outcome::SyncUnconfirmed { job: job_id })
        }
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
    if let Some(gone) = super::directory::gone(app, inv, &found).await {
        return Ok(gone);
    }
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

//! `delete-directory`: the prompt (what will be lost, no undo), the deletion once enough
//! admins typed the directory id, and the way back ("Recreate and sync").
//!
//! Who may confirm, and the typed entry, are checked in `dispatch` (the click and
//! submission pipelines); what needs the product is here.

use chrono::Utc;
use serde_json::{json, Value};

use super::resolve::{self, Found};
use crate::app::App;
use crate::authz::Authorized;
use crate::domain::{Invocation, Platform};
use crate::jobs::SyncStart;
use crate::message::{ButtonAction, Message};
use crate::reply::change::ClickRefusal;
use crate::reply::directory::DeletePrompt;
use crate::reply::{self, CommandError, Outcome, Reply};
use crate::revisions::{self, ChangedBy};
use crate::store::{JobKind, PendingRecord, PendingState};
use crate::usersync::settings;
use crate::usersync::Connector;

/// The operation a deletion prompt stores.
pub const DELETE_FORMAT: &str = "delete-directory";
/// The operation of the "Recreate and sync" button.
pub const RECREATE_FORMAT: &str = "recreate";
/// The action of the token a typed-confirmation form carries back.
pub const TYPED_ACTION: &str = "typed";

/// The directory id a pending deletion is for.
pub fn directory_of(pending: &PendingRecord) -> Option<&str> {
    (pending.operation.get("format")?.as_str()? == DELETE_FORMAT)
        .then(|| pending.operation.get("directory_id")?.as_str())
        .flatten()
}

pub fn is_recreate(pending: &PendingRecord) -> bool {
    pending.operation.get("format").and_then(Value::as_str) == Some(RECREATE_FORMAT)
}

fn document(c: &Connector) -> Value {
    serde_json::to_value(c).unwrap_or(Value::Null)
}

fn callback_url(app: &App, platform: Platform) -> Option<String> {
    match platform {
        Platform::Slack => None,
        Platform::Mattermost => app
            .config
            .public_url
            .as_ref()
            .map(|base| format!("{base}/mattermost/actions")),
    }
}

/// A short code, typed in `confirm <code> <directory-id>` where no form can open.
fn new_code() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// `delete-directory <connector|directory-id>`: the prompt, where the channel sees it.
/// Nothing is deleted here.
pub async fn propose(app: &App, inv: &Invocation, target: &str) -> Result<Reply, CommandError> {
    let found = if !target.is_empty() && target.chars().all(|c| c.is_ascii_digit()) {
        resolve::by_directory(app, target).await?
    } else {
        resolve::connector(app, target).await?
    };
    let Found { client, connector } = &found;
    let connector = client
        .get_connector(&connector.unique_id)
        .await
        .map_err(|e| CommandError::upstream("Cannot read the connector", e))?;
    let name = connector.display_name().to_string();
    let Some(directory_id) = connector.directory_id() else {
        return Err(CommandError::NoDirectory { connector: name });
    };
    let users = client
        .last_sync_status(&connector.unique_id)
        .await
        .ok()
        .and_then(|s| s.result_count.map(|n| (n, s.id, s.created.clone())));
    let before = document(&connector);
    // The settings as they were, stored before anything can be deleted.
    if let Err(e) = revisions::record(
        app.store.as_ref(),
        &app.key,
        client.instance(),
        &connector,
        None,
    )
    .await
    {
        tracing::warn!(error = %e, "cannot record the connector's revision");
    }
    let pending = super::pending::create(
        app,
        inv,
        super::pending::Operation {
            id: new_code(),
            instance: client.instance(),
            connector_id: &connector.unique_id,
            connector_name: &name,
            operation: json!({"format": DELETE_FORMAT, "directory_id": directory_id}),
            fingerprint: settings::state_fingerprint(&before, &app.key),
        },
    )
    .await?;
    let requester = reply::who(inv.user_name.as_deref(), &inv.user);
    let message = prompt_for(
        app,
        &pending,
        &requester,
        &[],
        &directory_id,
        users,
        &connector,
    );
    Ok(Reply::with(
        message,
        Outcome::Proposed {
            pending: pending.id,
        },
    ))
}

/// The prompt of a pending deletion, with the approvals so far.
fn prompt_for(
    app: &App,
    pending: &PendingRecord,
    requester: &str,
    approvers: &[String],
    directory_id: &str,
    users: Option<(u64, u64, Option<String>)>,
    connector: &Connector,
) -> Message {
    let can_open_form = app.outbox.has_bot_token(pending.platform)
        && (pending.platform == Platform::Slack || app.config.public_url.is_some());
    let buttons = can_open_form.then(|| {
        (
            app.key
                .button_token(&pending.id, ButtonAction::Confirm.as_str()),
            app.key
                .button_token(&pending.id, ButtonAction::Cancel.as_str()),
        )
    });
    reply::directory::prompt(DeletePrompt {
        instance: &pending.instance,
        connector: connector.display_name(),
        connector_id: &connector.unique_id,
        directory_id,
        users,
        requester,
        ttl: app.config.confirm.ttl,
        needed: app.config.guards.delete_directory_approvals,
        approvers,
        buttons,
        code: &pending.id,
        slash: &app.config.slash_command,
        callback_url: callback_url(app, pending.platform),
    })
}

/// The form state: the bot's token for the typed confirmation, and where the answer goes.
pub fn form_state(app: &App, pending: &PendingRecord, response_url: Option<&str>) -> String {
    json!({
        "t": app.key.button_token(&pending.id, TYPED_ACTION),
        "r": response_url,
        "c": pending.channel_id,
    })
    .to_string()
}

/// Every admin needed has typed the directory id: check the connector is as shown, use
/// the confirmation up, store the snapshot, delete, and offer the way back.
pub async fn delete(
    app: &App,
    _auth: &Authorized,
    pending: &PendingRecord,
    approvers: &[String],
    by: ChangedBy,
) -> Result<(Message, Outcome), ClickRefusal> {
    let unavailable = |what: &str| ClickRefusal::Unavailable(what.to_string());
    let Some(directory_id) = directory_of(pending) else {
        return Err(ClickRefusal::Unknown);
    };
    let client = app
        .instance(Some(&pending.instance))
        .map_err(|_| unavailable("The connector's instance is no longer configured."))?;
    let current = client
        .get_connector(&pending.connector_id)
        .await
        .map_err(|e| ClickRefusal::Unavailable(reply::error::upstream_text(&e)))?;
    let now = Utc::now();
    let settler = by.principal.to_string();
    if settings::state_fingerprint(&document(&current), &app.key) != pending.fingerprint {
        let _ = app
            .store
            .settle_pending(&pending.id, PendingState::Stale, &settler, app.owner(), now)
            .await;
        return Err(ClickRefusal::Changed {
            connector: pending.connector_name.clone(),
        });
    }
    super::pending::use_up(app, pending, &settler).await?;
    // The snapshot: the settings as they were just before the deletion.
    let revision = match revisions::record(
        app.store.as_ref(),
        &app.key,
        &pending.instance,
        &current,
        None,
    )
    .await
    {
        Ok(r) => r.map(|r| r.seq),
        Err(e) => {
            tracing::warn!(error = %e, "cannot record the snapshot revision");
            None
        }
    };
    let revision = match revision {
        Some(r) => Some(r),
        None => app
            .store
            .revisions(&pending.instance, &pending.connector_id, 1)
            .await
            .ok()
            .and_then(|page| page.newest.first().map(|r| r.seq)),
    };
    let name = &pending.connector_name;
    if let Err(e) = client.delete_directory(directory_id).await {
        tracing::warn!(error = ?e, "the product refused a confirmed directory deletion");
        let message =
            reply::directory::not_deleted(name, directory_id, &reply::error::upstream_text(&e));
        return Ok((
            message,
            Outcome::ClickRefused("error: the product refused the deletion".into()),
        ));
    }
    tracing::warn!(instance = %pending.instance, directory = directory_id, by = %by.principal, "directory deleted");
    if let Err(e) = app.store.pending_made(&pending.id).await {
        tracing::warn!(error = %e, "cannot record a confirmed deletion as made");
    }
    if let Err(e) = app
        .store
        .record_deleted_directory(
            &pending.instance,
            &pending.connector_id,
            directory_id,
            &settler,
            Utc::now(),
        )
        .await
    {
        tracing::error!(error = %e, "cannot record the deleted directory");
    }
    let recreate = offer_recreate(app, pending, directory_id).await;
    let message = reply::directory::deleted(
        &pending.instance,
        name,
        directory_id,
        approvers,
        revision,
        recreate,
    );
    Ok((message, Outcome::DirectoryDeleted))
}

/// The "Recreate and sync" button: a pending operation of its own, for the requester.
async fn offer_recreate(
    app: &App,
    deleted: &PendingRecord,
    directory_id: &str,
) -> Option<(String, Option<String>)> {
    let now = Utc::now();
    let pending = PendingRecord {
        id: uuid::Uuid::new_v4().simple().to_string(),
        operation: json!({"format": RECREATE_FORMAT, "directory_id": directory_id}),
        created_at: now,
        // The way back stays offered for as long as a prompt can be edited.
        expires_at: now + chrono::Duration::minutes(30),
        state: PendingState::Pending,
        settled_by: None,
        settled_at: None,
        settled_replica: None,
        ..deleted.clone()
    };
    match app.store.insert_pending(&pending).await {
        Ok(()) => Some((
            app.key
                .button_token(&pending.id, ButtonAction::Confirm.as_str()),
            callback_url(app, pending.platform),
        )),
        Err(e) => {
            tracing::error!(error = %e, "cannot offer the way back");
            None
        }
    }
}

/// `run` and `user` on a connector whose directory the bot deleted: say so, with the way
/// back (the button for those who may delete directories, the words for everyone).
pub async fn gone(app: &App, inv: &Invocation, found: &Found) -> Option<Reply> {
    let connector = &found.connector;
    let directory_id = connector.directory_id()?;
    let instance = found.client.instance();
    match app
        .store
        .directory_deleted(instance, &connector.unique_id, &directory_id)
        .await
    {
        Ok(true) => {}
        Ok(false) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell whether a directory was deleted");
            return None;
        }
    }
    let may_recreate = app
        .config
        .roles
        .permits(
            crate::command::CommandKind::DeleteDirectory,
            &inv.user,
            &inv.channel,
        )
        .is_ok();
    let button = if may_recreate {
        let now = Utc::now();
        let base = PendingRecord {
            id: String::new(),
            platform: inv.platform,
            user_id: inv.user.id.clone(),
            user_name: inv.user_name.clone(),
            channel_id: inv.channel.id.clone(),
            // Clicked, it is authorized again as what it is: an admin's operation.
            command_text: format!("delete-directory {}", connector.unique_id),
            instance: instance.to_string(),
            connector_id: connector.unique_id.clone(),
            connector_name: connector.display_name().to_string(),
            operation: Value::Null,
            fingerprint: String::new(),
            created_at: now,
            expires_at: now,
            state: PendingState::Pending,
            settled_by: None,
            settled_at: None,
            settled_replica: None,
        };
        offer_recreate(app, &base, &directory_id).await
    } else {
        None
    };
    Some(Reply::with(
        reply::directory::gone(connector.display_name(), &directory_id, button),
        Outcome::DirectoryGone,
    ))
}

/// "Recreate and sync": save the connector unchanged (the product creates a new
/// directory), then run and follow a sync as `run` does.
pub async fn recreate(
    app: &App,
    _auth: &Authorized,
    pending: &PendingRecord,
    inv: &Invocation,
) -> Result<(Message, Outcome), ClickRefusal> {
    let unavailable = |what: &str| ClickRefusal::Unavailable(what.to_string());
    let client = app
        .instance(Some(&pending.instance))
        .map_err(|_| unavailable("The connector's instance is no longer configured."))?;
    super::pending::use_up(app, pending, &inv.user.to_string()).await?;
    let saved = client
        .merge_patch_connector(&pending.connector_id, &json!({}))
        .await
        .map_err(|e| ClickRefusal::Unavailable(reply::error::upstream_text(&e)))?;
    if let Err(e) = app.store.pending_made(&pending.id).await {
        tracing::warn!(error = %e, "cannot record a recreated directory as made");
    }
    let old = pending
        .operation
        .get("directory_id")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let new = saved.and_then(|c| c.directory_id());
    let mut message = reply::directory::recreated(&pending.connector_name, old, new.as_deref());
    let job = app.jobs.new_job(
        JobKind::Sync,
        inv,
        client.instance(),
        &pending.connector_id,
        &pending.connector_name,
    );
    match app.jobs.start_sync(client, job).await {
        Ok(SyncStart::Started { sync_id, job_id }) => {
            let started = reply::jobs::sync_started(reply::jobs::SyncStarted {
                inv,
                connector: &pending.connector_name,
                instance: client.instance(),
                sync_id,
                local: false,
                job_id,
                can_post_late: app.jobs.can_post_late(inv.platform),
            });
            message.blocks.extend(started.blocks);
            Ok((message, Outcome::SyncStarted { sync: sync_id }))
        }
        Ok(_) => Ok((message, Outcome::Ok)),
        Err(e) => {
            tracing::warn!(error = ?e, "the sync after recreating a directory did not start");
            Ok((
                message.text("The sync did not start: run it with `run`."),
                Outcome::Ok,
            ))
        }
    }
}

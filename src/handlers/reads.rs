//! Read-only commands: connectors, status, show, results, connector (which records the
//! settings it shows as a revision), jobs, audit.

use super::resolve;
use crate::app::App;
use crate::command::{AuditArgs, ResultsArgs};
use crate::domain::Invocation;
use crate::reply::connector::InstanceListing;
use crate::reply::error::StoreAction;
use crate::reply::{self, CommandError, Reply};
use crate::store::AuditFilter;
use crate::usersync::{ResultCount, SyncStatus, UserSyncClient, UserSyncError};

/// Finished jobs listed after the ones being followed.
const RECENT_JOBS: usize = 5;

/// One instance's connectors, each with its last sync, asked for at once.
async fn listing(client: &UserSyncClient) -> Result<InstanceListing, UserSyncError> {
    let list = client.list_connectors().await?;
    let mut set = tokio::task::JoinSet::new();
    for (i, c) in list.iter().enumerate() {
        let (client, id) = (client.clone(), c.unique_id.clone());
        set.spawn(async move { (i, client.last_sync_status(&id).await) });
    }
    let mut last: Vec<Option<Result<SyncStatus, UserSyncError>>> = vec![None; list.len()];
    while let Some(Ok((i, r))) = set.join_next().await {
        last[i] = Some(r);
    }
    let connectors = list.into_iter().zip(last).collect();
    Ok(InstanceListing {
        instance: client.instance().to_string(),
        connectors,
    })
}

pub async fn connectors(app: &App, instance: Option<&str>) -> Result<Reply, CommandError> {
    let clients: Vec<&UserSyncClient> = match instance {
        Some(name) => vec![app.instance(Some(name))?],
        None => app.instances.iter().collect(),
    };
    let mut listed = Vec::new();
    for client in clients {
        listed.push(listing(client).await);
    }
    if let Some(Err(e)) = listed
        .iter()
        .find(|l| l.is_err())
        .filter(|_| listed.iter().all(|l| l.is_err()))
    {
        return Err(CommandError::upstream("Connectors", e.clone()));
    }
    Ok(Reply::ok(reply::connector::connectors(
        &listed,
        app.instances.len() > 1,
    )))
}

pub async fn status(app: &App, wanted: &str) -> Result<Reply, CommandError> {
    let found = resolve::connector(app, wanted).await?;
    let name = found.connector.display_name();
    let s = found
        .client
        .last_sync_status(&found.connector.unique_id)
        .await
        .map_err(|e| CommandError::upstream(format!("No status for {name}"), e))?;
    let mut message = reply::sync::sync_message(found.client.instance(), Some(name), &s);
    let target = super::locks::Target {
        instance: found.client.instance().to_string(),
        id: found.connector.unique_id.clone(),
        name: name.to_string(),
    };
    let (holds, now) = super::locks::holds_on(app, &target).await;
    if let Some(line) = reply::locks::status_line(&holds, name, now) {
        message.blocks.insert(0, crate::message::Block::Text(line));
    }
    Ok(Reply::ok(message))
}

pub async fn show(app: &App, sync_id: u64, instance: Option<&str>) -> Result<Reply, CommandError> {
    let client = app.instance(instance)?;
    let s = client
        .sync_status(sync_id)
        .await
        .map_err(|e| CommandError::upstream(format!("Cannot show sync {sync_id}"), e))?;
    // The connector's name, when the product tells it cheaply.
    let name = match s.connector_uid.as_deref() {
        Some(uid) => client
            .get_connector(uid)
            .await
            .ok()
            .map(|c| c.display_name().to_string()),
        None => None,
    };
    Ok(Reply::ok(reply::sync::sync_message(
        client.instance(),
        name.as_deref(),
        &s,
    )))
}

pub async fn results(app: &App, args: &ResultsArgs) -> Result<Reply, CommandError> {
    let (sync_id, all) = (args.sync_id, args.all);
    let client = app.instance(args.instance.as_deref())?;
    // All results are fetched either way, so that failures further down are shown first.
    let mut users = client
        .sync_results(sync_id, ResultCount::All)
        .await
        .map_err(|e| CommandError::upstream(format!("No results for sync {sync_id}"), e))?;
    users.sort_by_key(|u| !u.is_failure());
    Ok(Reply::ok(reply::sync::results(sync_id, &users, all)))
}

pub async fn connector(app: &App, wanted: &str) -> Result<Reply, CommandError> {
    let found = resolve::connector(app, wanted).await?;
    super::history::record_shown(app, found.client.instance(), &found.connector).await;
    Ok(Reply::ok(reply::connector::connector_message(
        found.client.instance(),
        &found.connector,
    )))
}

pub async fn jobs(app: &App) -> Result<Reply, CommandError> {
    let jobs = app
        .jobs
        .list(RECENT_JOBS)
        .await
        .map_err(|e| CommandError::store(StoreAction::ListJobs, e))?;
    let mut message = reply::jobs::list(&jobs, RECENT_JOBS);
    if let Some(blocks) = super::locks::jobs_blocks(app).await {
        message.blocks.extend(blocks);
    }
    Ok(Reply::ok(message))
}

pub async fn audit(app: &App, inv: &Invocation, args: &AuditArgs) -> Result<Reply, CommandError> {
    let filter = AuditFilter {
        user: args.user.clone(),
        connector: args.connector.clone(),
        command: args.command.map(|k| k.name().to_string()),
    };
    let page = app
        .store
        .audit_rows(&filter, args.rows)
        .await
        .map_err(|e| CommandError::store(StoreAction::ReadAudit, e))?;
    Ok(Reply::ok(reply::audit::list(inv, args, &page)))
}

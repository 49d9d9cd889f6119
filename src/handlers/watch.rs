//! `watch`, `unwatch` and `watches`: which finished syncs a channel hears about.

use chrono::Utc;

use super::resolve;
use crate::app::App;
use crate::command::WatchArgs;
use crate::domain::Invocation;
use crate::reply::error::StoreAction;
use crate::reply::{self, CommandError, Reply};
use crate::store::Subscription;

/// The (instance, connector id, connector name) a `watch` (or `lock`) argument names.
pub(super) async fn target(
    app: &App,
    wanted: &str,
) -> Result<(String, String, String), CommandError> {
    if wanted == "*" {
        return Ok((String::new(), "*".into(), "every connector".into()));
    }
    let found = resolve::connector(app, wanted).await?;
    Ok((
        found.client.instance().to_string(),
        found.connector.unique_id.clone(),
        found.connector.display_name().to_string(),
    ))
}

fn store_failed(e: crate::store::StoreError) -> CommandError {
    CommandError::store(StoreAction::ChangeSubscriptions, e)
}

pub async fn watch(app: &App, inv: &Invocation, args: &WatchArgs) -> Result<Reply, CommandError> {
    let (instance, connector, connector_name) = target(app, &args.connector).await?;
    let sub = Subscription {
        id: 0,
        platform: inv.platform,
        channel_id: inv.channel.id.clone(),
        instance,
        connector,
        connector_name,
        failures_only: args.failures_only,
        max_deleted: args.max_deleted,
        created_by: inv.user.to_string(),
        created_at: Utc::now(),
    };
    app.store.subscribe(&sub).await.map_err(store_failed)?;
    Ok(Reply::ok(reply::watch::watching(
        inv,
        &args.connector,
        &sub,
    )))
}

pub async fn unwatch(app: &App, inv: &Invocation, wanted: &str) -> Result<Reply, CommandError> {
    let (instance, connector, name) = target(app, wanted).await?;
    let removed = app
        .store
        .unsubscribe(inv.platform, &inv.channel.id, &instance, &connector)
        .await
        .map_err(store_failed)?;
    Ok(Reply::ok(if removed {
        reply::watch::unwatched(inv, &name)
    } else {
        reply::watch::not_watching(inv, &name)
    }))
}

pub async fn watches(app: &App, inv: &Invocation) -> Result<Reply, CommandError> {
    let subs = app.store.subscriptions().await.map_err(store_failed)?;
    let here: Vec<&Subscription> = subs
        .iter()
        .filter(|s| s.platform == inv.platform && s.channel_id == inv.channel.id)
        .collect();
    let routes: Vec<_> = app
        .config
        .routes
        .iter()
        .filter(|r| r.channel == inv.channel)
        .collect();
    Ok(Reply::ok(reply::watch::watches(
        inv,
        &here,
        &routes,
        app.instances.len() > 1,
    )))
}

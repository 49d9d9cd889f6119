//! `history`, and recording what a command saw of a connector: every configuration the bot
//! sees is kept as a revision when it differs from the one before (`revisions`).

use super::resolve;
use crate::app::App;
use crate::reply::error::StoreAction;
use crate::reply::{self, CommandError, Reply};
use crate::revisions::{self, ChangedBy};
use crate::store::{Revision, StoreError};
use crate::usersync::Connector;

/// Records a connector's settings as a revision when they differ from the newest one kept
/// and, when that is a change, has the watcher announce it at once (it would at its next
/// look otherwise). `by`: who made the change through the bot, right after the product
/// accepted it (`ChangedBy::of(inv)`); `None` for a configuration merely seen.
pub async fn record_seen(
    app: &App,
    instance: &str,
    connector: &Connector,
    by: Option<ChangedBy>,
) -> Result<Option<Revision>, StoreError> {
    let added = revisions::record(app.store.as_ref(), &app.key, instance, connector, by).await?;
    if added.as_ref().is_some_and(|r| !r.is_first()) {
        let (watcher, instance) = (app.watcher.clone(), instance.to_string());
        tokio::spawn(async move { watcher.announce_changes(&instance).await });
    }
    Ok(added)
}

/// [`record_seen`] for what a read command showed: a store that fails does not fail the
/// command, it is logged.
pub async fn record_shown(app: &App, instance: &str, connector: &Connector) {
    if let Err(e) = record_seen(app, instance, connector, None).await {
        tracing::error!(instance, connector = %connector.unique_id, error = %e, "cannot record the connector's settings");
    }
}

/// `history <connector> [N]`: the connector's newest revisions, the one just seen
/// included.
pub async fn history(app: &App, wanted: &str, limit: u32) -> Result<Reply, CommandError> {
    let found = resolve::connector(app, wanted).await?;
    let (instance, c) = (found.client.instance(), &found.connector);
    record_shown(app, instance, c).await;
    let page = app
        .store
        .revisions(instance, &c.unique_id, limit)
        .await
        .map_err(|e| CommandError::store(StoreAction::ReadHistory, e))?;
    Ok(Reply::ok(reply::history::history(
        instance,
        c.display_name(),
        &page,
    )))
}

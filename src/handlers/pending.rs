//! Pending operations, as every confirmed command makes and uses them: one made for the
//! person who asked, stored before its buttons are shown; one used up once, by one
//! conditional update, before anything is sent.

use chrono::Utc;
use serde_json::Value;

use crate::app::App;
use crate::domain::Invocation;
use crate::reply::change::ClickRefusal;
use crate::reply::error::StoreAction;
use crate::reply::CommandError;
use crate::store::{PendingRecord, PendingState};

/// What a new pending operation is for.
pub struct Operation<'a> {
    pub id: String,
    pub instance: &'a str,
    pub connector_id: &'a str,
    pub connector_name: &'a str,
    pub operation: Value,
    /// The keyed fingerprint of the connector as shown (empty when nothing is compared).
    pub fingerprint: String,
}

/// Stores a pending operation for the person who asked, expiring after `[confirm] ttl`.
pub async fn create(
    app: &App,
    inv: &Invocation,
    op: Operation<'_>,
) -> Result<PendingRecord, CommandError> {
    let now = Utc::now();
    let pending = PendingRecord {
        id: op.id,
        platform: inv.platform,
        user_id: inv.user.id.clone(),
        user_name: inv.user_name.clone(),
        channel_id: inv.channel.id.clone(),
        command_text: inv.text.clone(),
        instance: op.instance.to_string(),
        connector_id: op.connector_id.to_string(),
        connector_name: op.connector_name.to_string(),
        operation: op.operation,
        fingerprint: op.fingerprint,
        created_at: now,
        expires_at: now + chrono::Duration::from_std(app.config.confirm.ttl).unwrap_or_default(),
        state: PendingState::Pending,
        settled_by: None,
        settled_at: None,
        settled_replica: None,
    };
    app.store
        .insert_pending(&pending)
        .await
        .map_err(|e| CommandError::store(StoreAction::RecordConfirmation, e))?;
    Ok(pending)
}

/// Uses a pending operation up: `Ok` only for the one caller that found it still pending.
pub async fn use_up(app: &App, pending: &PendingRecord, by: &str) -> Result<(), ClickRefusal> {
    match app
        .store
        .settle_pending(
            &pending.id,
            PendingState::Confirmed,
            by,
            app.owner(),
            Utc::now(),
        )
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => {
            let settled = app.store.pending(&pending.id).await.ok().flatten();
            Err(ClickRefusal::Settled {
                state: settled
                    .as_ref()
                    .map_or(PendingState::Confirmed, |p| p.state),
                by: settled.and_then(|p| p.settled_by),
            })
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot use up a confirmation");
            Err(ClickRefusal::Unavailable(
                "The bot's store cannot be written.".into(),
            ))
        }
    }
}

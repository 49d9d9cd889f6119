//! The pipeline every command goes through, whatever the platform:
//! parse → authorize → claim (commands that change something) → handle → audit.
//! Platform adapters only verify before it and render after it.

use crate::app::{self, App, Metrics};
use crate::command;
use crate::domain::Invocation;
use crate::handlers;
use crate::reply::{self, Answer, CommandError, Outcome, Reply};
use crate::store::{AuditEntry, Decision};

/// Runs one verified invocation to its reply, and audits it.
pub async fn dispatch(app: &App, inv: &Invocation) -> Answer {
    Metrics::incr(&app.metrics.commands);
    let (decision, answer, outcome) = decide(app, inv).await;
    app.audit.record(AuditEntry {
        at: chrono::Utc::now(),
        platform: inv.platform,
        user_id: inv.user.id.clone(),
        channel_id: inv.channel.id.clone(),
        command_text: inv.command_line(),
        decision,
        outcome,
    });
    answer
}

/// For a command that changes something: refused up front when its outcome could not be
/// posted, then its delivery claimed in the store. `Ok(false)`: it ran before.
async fn may_change(app: &App, inv: &Invocation) -> Result<bool, CommandError> {
    app.outbox
        .can_answer_later(inv.platform, inv.response_url.as_deref())
        .map_err(CommandError::Undeliverable)?;
    app::claim(app.store.as_ref(), inv).await
}

/// What was decided, what the person reads, and the outcome the audit records.
async fn decide(app: &App, inv: &Invocation) -> (Decision, Answer, String) {
    let command = match command::parse(&inv.text) {
        Ok(c) => c,
        Err(e) => {
            Metrics::incr(&app.metrics.invalid);
            let outcome = format!("invalid: {}", e.problem);
            return (
                Decision::Invalid,
                reply::help::invalid(inv, &e).into(),
                outcome,
            );
        }
    };
    let kind = command.kind();
    let auth = match app.config.roles.authorize(command, &inv.user, &inv.channel) {
        Ok(auth) => auth,
        Err(denial) => {
            Metrics::incr(&app.metrics.denied);
            tracing::info!(user = %inv.user, channel = %inv.channel, command = kind.name(), ?denial, "command denied");
            let message = reply::help::denied(inv, kind, &denial);
            return (
                Decision::Denied,
                message.into(),
                format!("denied: {denial:?}"),
            );
        }
    };
    let first = if kind.spec().changes {
        may_change(app, inv).await
    } else {
        Ok(true)
    };
    let result = match first {
        Ok(true) => handlers::handle(app, inv, &auth).await,
        Ok(false) => Ok(Reply::with(
            reply::pipeline::already_done(),
            Outcome::Duplicate,
        )),
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => (Decision::Allowed, r.answer, r.outcome.to_string()),
        Err(e) => {
            e.log();
            let outcome = format!("error: {}", e.summary());
            (Decision::Allowed, e.message().into(), outcome)
        }
    }
}

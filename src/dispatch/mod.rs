//! The pipeline every command goes through, whatever the platform:
//! parse → authorize → claim (commands that change something) → handle → audit.
//! Platform adapters only verify before it and render after it.

mod click;
mod typed;

pub use click::{click, ClickAnswer};
pub use typed::{submit, SubmitAnswer};

use crate::app::{self, App, Metrics};
use crate::command::{self, CommandKind};
use crate::domain::Invocation;
use crate::handlers;
use crate::reply::{self, Answer, CommandError, Outcome, Reply};
use crate::store::{AuditEntry, Decision};

/// Runs one verified invocation to its reply, and audits it.
pub async fn dispatch(app: &App, inv: &Invocation) -> Answer {
    Metrics::incr(&app.metrics.commands);
    let decided = decide(app, inv).await;
    // The audit never keeps a secret that was typed: not in the text, nor in an outcome
    // or argument that quotes it.
    let redacted = command::redact::redact(&inv.command_line());
    app.audit.record(AuditEntry {
        at: chrono::Utc::now(),
        platform: inv.platform,
        user_id: inv.user.id.clone(),
        user_name: inv.user_name.clone(),
        channel_id: inv.channel.id.clone(),
        command: decided.kind.map(|k| k.name().to_string()),
        connector: decided.connector.map(|c| redacted.scrub(&c)),
        decision: decided.decision,
        outcome: redacted.scrub(&decided.outcome),
        command_text: redacted.into_text(),
    });
    decided.answer
}

/// What became of one invocation.
struct Decided {
    decision: Decision,
    /// What the person reads.
    answer: Answer,
    /// What the audit records as the outcome.
    outcome: String,
    /// The command the text named, if it named one (even with wrong arguments).
    kind: Option<CommandKind>,
    /// The connector argument of a parsed command.
    connector: Option<String>,
}

/// For a command that changes something: refused up front when its outcome could not be
/// posted, then its delivery claimed in the store. `Ok(false)`: it ran before.
async fn may_change(app: &App, inv: &Invocation) -> Result<bool, CommandError> {
    app.outbox
        .can_answer_later(inv.platform, inv.response_url.as_deref())
        .map_err(CommandError::Undeliverable)?;
    app::claim(app.store.as_ref(), inv).await
}

/// What was decided, what the person reads, and what the audit records.
async fn decide(app: &App, inv: &Invocation) -> Decided {
    let command = match command::parse(&inv.text) {
        Ok(c) => c,
        Err(e) => {
            Metrics::incr(&app.metrics.invalid);
            return Decided {
                decision: Decision::Invalid,
                answer: reply::help::invalid(inv, &e).into(),
                outcome: format!("invalid: {}", e.problem),
                kind: e.command,
                connector: None,
            };
        }
    };
    let kind = command.kind();
    let connector = command.connector_arg().map(str::to_string);
    let decided = |decision, answer, outcome| Decided {
        decision,
        answer,
        outcome,
        kind: Some(kind),
        connector: connector.clone(),
    };
    let auth = match app.config.roles.authorize(command, &inv.user, &inv.channel) {
        Ok(auth) => auth,
        Err(denial) => {
            Metrics::incr(&app.metrics.denied);
            tracing::info!(user = %inv.user, channel = %inv.channel, command = kind.name(), ?denial, "command denied");
            let message = reply::help::denied(inv, kind, &denial);
            return decided(
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
    if let (Ok(true), command::Command::Confirm { .. }) = (&first, auth.command()) {
        let (message, outcome) = typed::by_command(app, inv, &auth).await;
        return decided(Decision::Allowed, message.into(), outcome);
    }
    let result = match first {
        Ok(true) => handlers::handle(app, inv, &auth).await,
        Ok(false) => Ok(Reply::with(
            reply::pipeline::already_done(),
            Outcome::Duplicate,
        )),
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => decided(Decision::Allowed, r.answer, r.outcome.to_string()),
        Err(e) => {
            e.log();
            let outcome = format!("error: {}", e.summary());
            decided(Decision::Allowed, e.message().into(), outcome)
        }
    }
}

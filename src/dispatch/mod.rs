//! The pipeline every command goes through, whatever the platform:
//! parse → authorize → claim (commands that change something) → handle → audit.
//! Platform adapters only verify before it and render after it.

mod click;
mod typed;

pub use click::{click, ClickAnswer};
pub use typed::{submit, SubmitAnswer};

use crate::app::{self, App, CommandDecision, Metrics};
use crate::authz::Authorized;
use crate::command::{self, CommandKind};
use crate::domain::Invocation;
use crate::handlers;
use crate::message::{Message, Text};
use crate::reply::{self, Answer, CommandError, Outcome, Reply};
use crate::store::{AuditEntry, Decision};

/// Runs one verified invocation to its reply, and audits it.
pub async fn dispatch(app: &App, inv: &Invocation) -> Answer {
    Metrics::incr(&app.metrics.commands);
    let decided = decide(app, inv).await;
    if decided.claimed {
        Box::pin(keep_first_answer(app, inv, decided.answer.message())).await;
    }
    let decision = match decided.duplicate {
        true => CommandDecision::Duplicate,
        false => decided.decision.into(),
    };
    app.metrics.command_decided(decided.kind, decision);
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
    /// It ran before (its delivery was claimed already): answered without running.
    duplicate: bool,
    /// Its delivery was claimed here: its answer is kept for a re-delivery.
    claimed: bool,
}

/// Keeps the answer of a claimed delivery before it is sent, so that a re-delivery after
/// a restart gets it again.
async fn keep_first_answer(app: &App, inv: &Invocation, answer: &Message) {
    let Some(trigger) = inv.trigger_id.as_deref() else {
        return;
    };
    let kept = match serde_json::to_string(answer) {
        Ok(json) => app
            .store
            .record_delivery_answer(inv.platform, trigger, &json)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = kept {
        tracing::warn!(%error, "cannot keep the answer of a claimed delivery; a re-delivery will say it ran before");
    }
}

/// What a re-delivery of a command that ran before reads: its first answer, kept in the
/// store; "on its way" while the first run may still be going; else that the first run
/// was cut off before it answered (the process stopped), so whether it took effect is
/// not known here.
async fn redelivered(app: &App, inv: &Invocation) -> Answer {
    let Some(trigger) = inv.trigger_id.as_deref() else {
        return reply::pipeline::already_done().into();
    };
    let message = match app.store.delivery_answer(inv.platform, trigger).await {
        Ok(Some(claim)) => match claim.answer {
            Some(json) => {
                serde_json::from_str(&json).unwrap_or_else(|_| reply::pipeline::already_done())
            }
            None if app
                .may_still_run(claim.received_at, claim.claimed_by.as_deref())
                .await =>
            {
                return Answer::ForNow(reply::pipeline::already_received());
            }
            None => reply::pipeline::cut_off(claim.received_at, &inv.command),
        },
        Ok(None) | Err(_) => reply::pipeline::already_done(),
    };
    message.into()
}

/// For a command that changes something: refused up front when its outcome could not be
/// posted or when its connector is locked by someone else or frozen, then its delivery
/// claimed in the store. `Ok(None)`: it ran before; `Ok(Some(notice))`: go on, telling an
/// admin what they act past, if anything.
async fn may_change(
    app: &App,
    inv: &Invocation,
    auth: &Authorized,
) -> Result<Option<Option<Text>>, CommandError> {
    app.outbox
        .can_answer_later(inv.platform, inv.response_url.as_deref())
        .map_err(CommandError::Undeliverable)?;
    let notice = handlers::locks::guard(app, auth, None).await?;
    Ok(app::claim(app, inv).await?.then_some(notice))
}

/// A message with an admin's notice at its end.
pub(crate) fn with_notice(mut message: Message, notice: Option<Text>) -> Message {
    if let Some(text) = notice {
        message = message.context(text);
    }
    message
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
                duplicate: false,
                claimed: false,
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
        duplicate: false,
        claimed: false,
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
        Box::pin(may_change(app, inv, &auth)).await
    } else {
        Ok(Some(None))
    };
    let claimed = kind.spec().changes && matches!(first, Ok(Some(_)));
    if let (Ok(Some(_)), command::Command::Confirm { .. }) = (&first, auth.command()) {
        let (message, outcome) = Box::pin(typed::by_command(app, inv, &auth)).await;
        return Decided {
            claimed,
            ..decided(Decision::Allowed, message.into(), outcome)
        };
    }
    let (result, notice) = match first {
        Ok(Some(notice)) => (handlers::handle(app, inv, &auth).await, notice),
        Ok(None) => (
            Ok(Reply {
                answer: Box::pin(redelivered(app, inv)).await,
                outcome: Outcome::Duplicate,
            }),
            None,
        ),
        Err(e) => (Err(e), None),
    };
    // The audit says when an admin acted past a lock or freeze.
    let past = if notice.is_some() {
        " (an admin, past a lock or freeze)"
    } else {
        ""
    };
    let mut out = match result {
        Ok(r) => {
            let duplicate = matches!(r.outcome, Outcome::Duplicate);
            let answer = match r.answer {
                Answer::Fresh(m) => Answer::Fresh(with_notice(m, notice)),
                other => other,
            };
            Decided {
                duplicate,
                ..decided(Decision::Allowed, answer, format!("{}{past}", r.outcome))
            }
        }
        Err(e) if e.is_refusal() => {
            Metrics::incr(&app.metrics.denied);
            tracing::info!(user = %inv.user, command = kind.name(), refused = %e, "command refused by a rule");
            let outcome = format!("refused: {}", e.summary());
            decided(Decision::Denied, e.message().into(), outcome)
        }
        Err(e) => {
            e.log();
            let outcome = format!("error: {}{past}", e.summary());
            decided(
                Decision::Allowed,
                with_notice(e.message(), notice).into(),
                outcome,
            )
        }
    };
    out.claimed = claimed;
    out
}

//! The pipeline every command goes through, whatever the platform:
//! parse → authorize → claim (commands that change something) → handle → audit.
//! Platform adapters only verify before it and render after it.

use crate::app::{self, App, Metrics};
use crate::authz::Authorized;
use crate::chat::click::Click;
use crate::command::{self, CommandKind};
use crate::domain::Invocation;
use crate::handlers;
use crate::handlers::locks::Target;
use crate::message::{ButtonAction, Message, Text};
use crate::reply::change::ClickRefusal;
use crate::reply::{self, Answer, CommandError, Outcome, Reply};
use crate::store::{AuditEntry, Decision, PendingState};

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
    Ok(app::claim(app.store.as_ref(), inv).await?.then_some(notice))
}

/// A message with an admin's notice at its end.
fn with_notice(mut message: Message, notice: Option<Text>) -> Message {
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
        may_change(app, inv, &auth).await
    } else {
        Ok(Some(None))
    };
    let (result, notice) = match first {
        Ok(Some(notice)) => (handlers::handle(app, inv, &auth).await, notice),
        Ok(None) => (
            Ok(Reply::with(
                reply::pipeline::already_done(),
                Outcome::Duplicate,
            )),
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
    match result {
        Ok(r) => {
            let answer = match r.answer {
                Answer::Fresh(m) => Answer::Fresh(with_notice(m, notice)),
                shared => shared,
            };
            decided(Decision::Allowed, answer, format!("{}{past}", r.outcome))
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
    }
}

/// What a click led to: the message, and whether it replaces the prompt (the prompt's
/// life ended: changed, cancelled, expired) or is told only to the person who clicked.
#[derive(Debug, Clone)]
pub struct ClickAnswer {
    pub message: crate::message::Message,
    pub replace_prompt: bool,
}

/// Runs one button click: the token's MAC, the pending operation, the requester, single
/// use, expiry, the permission checked again now, then the change itself. Audited like
/// a command, accepted or refused.
pub async fn click(app: &App, click: &Click) -> ClickAnswer {
    Metrics::incr(&app.metrics.clicks);
    let (text, decision, answer, outcome) = decide_click(app, click).await;
    if !matches!(outcome, Outcome::Changed { .. } | Outcome::Cancelled) {
        Metrics::incr(&app.metrics.clicks_refused);
    }
    // The row names the command the click was for, so `audit --command set` finds it.
    let parsed = command::parse(&text).ok();
    let shown = match text.is_empty() {
        true => format!("[{}]", click.action.as_str()),
        false => format!(
            "[{}] {} {text}",
            click.action.as_str(),
            app.config.slash_command
        ),
    };
    let redacted = command::redact::redact(&shown);
    app.audit.record(AuditEntry {
        at: chrono::Utc::now(),
        platform: click.platform,
        user_id: click.user.id.clone(),
        user_name: click.user_name.clone(),
        channel_id: click.channel.id.clone(),
        command: parsed.as_ref().map(|c| c.kind().name().to_string()),
        connector: parsed
            .as_ref()
            .and_then(|c| c.connector_arg())
            .map(|c| redacted.scrub(c)),
        decision,
        outcome: redacted.scrub(&outcome.to_string()),
        command_text: redacted.into_text(),
    });
    answer
}

/// The command text the click was for (empty when unknown), the decision, the answer
/// and the outcome.
async fn decide_click(app: &App, click: &Click) -> (String, Decision, ClickAnswer, Outcome) {
    let refused = |text: String, decision, refusal: ClickRefusal, replace_prompt| {
        let outcome = Outcome::ClickRefused(refusal.summary());
        tracing::info!(user = %click.user, outcome = %outcome, "click refused");
        let answer = ClickAnswer {
            message: refusal.message(),
            replace_prompt,
        };
        (text, decision, answer, outcome)
    };
    let Some(id) = app
        .key
        .check_button_token(&click.token, click.action.as_str())
    else {
        return refused(String::new(), Decision::Denied, ClickRefusal::Forged, false);
    };
    let pending = match app.store.pending(id).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return refused(
                String::new(),
                Decision::Denied,
                ClickRefusal::Unknown,
                false,
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read a confirmation");
            let why = ClickRefusal::Unavailable("The bot's store cannot be read.".into());
            return refused(String::new(), Decision::Allowed, why, false);
        }
    };
    let text = pending.command_text.clone();
    let requester = reply::who(pending.user_name.as_deref(), &pending.user_id);
    if pending.platform != click.platform || pending.user_id != click.user.id {
        let why = ClickRefusal::NotYours { requester };
        return refused(text, Decision::Denied, why, false);
    }
    if pending.state != PendingState::Pending {
        let why = ClickRefusal::Settled {
            state: pending.state,
            by: pending.settled_by.clone(),
        };
        return refused(text, Decision::Denied, why, false);
    }
    let by = reply::who(click.user_name.as_deref(), &click.user);
    let now = chrono::Utc::now();
    if click.action == ButtonAction::Cancel {
        return match app
            .store
            .settle_pending(&pending.id, PendingState::Cancelled, &by, now)
            .await
        {
            Ok(true) => {
                let message = reply::change::cancelled(&pending.connector_name, &by);
                let answer = ClickAnswer {
                    message,
                    replace_prompt: true,
                };
                (text, Decision::Allowed, answer, Outcome::Cancelled)
            }
            Ok(false) => {
                let why = ClickRefusal::Settled {
                    state: PendingState::Confirmed,
                    by: None,
                };
                refused(text, Decision::Denied, why, false)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot cancel a confirmation");
                let why = ClickRefusal::Unavailable("The bot's store cannot be written.".into());
                refused(text, Decision::Allowed, why, false)
            }
        };
    }
    if now > pending.expires_at {
        let why = ClickRefusal::Expired {
            ttl: app.config.confirm.ttl,
        };
        return refused(text, Decision::Denied, why, true);
    }
    // The permission, checked again now: roles or channel rules may have changed.
    let command = match command::parse(&pending.command_text) {
        Ok(c) => c,
        Err(_) => return refused(text, Decision::Invalid, ClickRefusal::Unknown, false),
    };
    let kind = command.kind();
    let auth = match app
        .config
        .roles
        .authorize(command, &click.user, &click.channel)
    {
        Ok(auth) => auth,
        Err(denial) => {
            tracing::info!(user = %click.user, ?denial, "click denied: no longer allowed");
            let why = ClickRefusal::NoLongerAllowed {
                command: kind.name().to_string(),
            };
            return refused(text, Decision::Denied, why, false);
        }
    };
    // Locks and freezes, checked again now: one may have been taken since the prompt.
    let target = Target {
        instance: pending.instance.clone(),
        id: pending.connector_id.clone(),
        name: pending.connector_name.clone(),
    };
    let notice = match handlers::locks::guard(app, &auth, Some(target)).await {
        Ok(notice) => notice,
        Err(CommandError::Held {
            connector,
            hold,
            now,
        }) => {
            let why = ClickRefusal::Held {
                connector,
                hold,
                now,
            };
            return refused(text, Decision::Denied, why, false);
        }
        Err(e) => {
            e.log();
            let why = ClickRefusal::Unavailable("The bot cannot read its locks.".into());
            return refused(text, Decision::Allowed, why, false);
        }
    };
    match handlers::change::confirm(app, &auth, &pending, &by).await {
        Ok((message, outcome)) => {
            let answer = ClickAnswer {
                message: with_notice(message, notice),
                replace_prompt: true,
            };
            (text, Decision::Allowed, answer, outcome)
        }
        Err(why) => {
            let replace = matches!(why, ClickRefusal::Changed { .. });
            refused(text, Decision::Allowed, why, replace)
        }
    }
}

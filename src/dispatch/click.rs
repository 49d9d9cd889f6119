//! The click pipeline: a button's token, the pending operation, who clicked, single use,
//! expiry, the permission checked again, then what the operation does.

use crate::app::{App, Metrics};
use crate::chat::click::Click;
use crate::command;
use crate::domain::{Invocation, Principal};
use crate::handlers;
use crate::handlers::locks::Target;
use crate::message::{ButtonAction, Message};
use crate::reply::change::ClickRefusal;
use crate::reply::{self, CommandError, Outcome};
use crate::store::{AuditEntry, Decision, PendingRecord, PendingState};

/// What a click led to: the message, and whether it replaces the prompt (the prompt's
/// life ended: changed, cancelled, expired) or is told only to the person who clicked.
#[derive(Debug, Clone)]
pub struct ClickAnswer {
    /// `None`: nothing to say (a form was opened instead).
    pub message: Option<Message>,
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
            message: Some(refusal.message()),
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
    let deletion = handlers::directory::directory_of(&pending).is_some();
    if deletion && click.action == ButtonAction::Confirm {
        // More than one admin may confirm a deletion, the requester first.
        let approvers = app.store.approvals(&pending.id).await.unwrap_or_default();
        let needed = app.config.guards.delete_directory_approvals;
        if let Err(why) = may_approve(&pending, &approvers, needed, &click.user) {
            return refused(text, Decision::Denied, why, false);
        }
    } else if !is_requester(&pending, &click.user) {
        let requester = reply::who(pending.user_name.as_deref(), &pending.user_id);
        let why = ClickRefusal::NotYours { requester };
        return refused(text, Decision::Denied, why, false);
    }
    if pending.state != PendingState::Pending {
        let why = match handlers::change::not_made(app, &pending).await {
            Some(handlers::change::NotMade::CutOff) => ClickRefusal::ConfirmedNotMade {
                connector: pending.connector_name.clone(),
                by: pending.settled_by.clone(),
            },
            Some(handlers::change::NotMade::NotYet) => ClickRefusal::ConfirmedNotYetMade {
                connector: pending.connector_name.clone(),
                by: pending.settled_by.clone(),
            },
            Some(handlers::change::NotMade::Unrecorded { underway }) => {
                ClickRefusal::ConfirmedUnrecorded {
                    connector: pending.connector_name.clone(),
                    by: pending.settled_by.clone(),
                    underway,
                }
            }
            None => ClickRefusal::Settled {
                state: pending.state,
                by: pending.settled_by.clone(),
            },
        };
        return refused(text, Decision::Denied, why, false);
    }
    let by = reply::who(click.user_name.as_deref(), &click.user);
    let now = chrono::Utc::now();
    if click.action == ButtonAction::Cancel {
        return match app
            .store
            .settle_pending(&pending.id, PendingState::Cancelled, &by, app.owner(), now)
            .await
        {
            Ok(true) => {
                let message = reply::change::cancelled(&pending.connector_name, &by);
                let answer = ClickAnswer {
                    message: Some(message),
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
    if let Some(directory) = handlers::directory::directory_of(&pending) {
        let answer = open_typed_form(app, click, &pending, directory).await;
        return (text, Decision::Allowed, answer, Outcome::FormOpened);
    }
    let result = if handlers::actions::is_run(&pending) {
        handlers::actions::run_confirmed(app, &auth, &pending, &as_invocation(app, click)).await
    } else if handlers::directory::is_recreate(&pending) {
        handlers::directory::recreate(app, &auth, &pending, &as_invocation(app, click)).await
    } else {
        handlers::change::confirm(app, &auth, &pending, &by).await
    };
    match result {
        Ok((message, outcome)) => {
            let answer = ClickAnswer {
                message: Some(super::with_notice(message, notice)),
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

fn is_requester(pending: &PendingRecord, user: &Principal) -> bool {
    pending.platform == user.platform && pending.user_id == user.id
}

/// Who may confirm a deletion now: the requester first, then other admins, each once,
/// until `needed` have.
pub(super) fn may_approve(
    pending: &PendingRecord,
    approvers: &[String],
    needed: u32,
    user: &Principal,
) -> Result<(), ClickRefusal> {
    let requester = Principal::new(pending.platform, pending.user_id.clone()).to_string();
    let me = user.to_string();
    if approvers.contains(&me) {
        return Err(ClickRefusal::AlreadyApproved { needed });
    }
    if me == requester || (needed > 1 && approvers.contains(&requester)) {
        return Ok(());
    }
    Err(ClickRefusal::NotYours {
        requester: reply::who(pending.user_name.as_deref(), &pending.user_id),
    })
}

/// Opens the form asking for the directory id; where none can be opened (no bot token,
/// no trigger), says which command to type instead.
async fn open_typed_form(
    app: &App,
    click: &Click,
    pending: &PendingRecord,
    directory: &str,
) -> ClickAnswer {
    let slash = &app.config.slash_command;
    let typed = || ClickAnswer {
        message: Some(reply::directory::type_the_command(
            slash,
            &pending.id,
            directory,
        )),
        replace_prompt: false,
    };
    let Some(trigger) = click.trigger_id.as_deref() else {
        return typed();
    };
    let callback = app
        .config
        .public_url
        .as_ref()
        .map(|base| format!("{base}/mattermost/dialogs"));
    let state = handlers::directory::form_state(app, pending, click.response_url.as_deref());
    let form = reply::directory::form(directory, &pending.connector_name, state, callback);
    match app.outbox.open_form(click.platform, trigger, &form).await {
        Ok(()) => ClickAnswer {
            message: None,
            replace_prompt: false,
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot open the typed confirmation form");
            typed()
        }
    }
}

/// A click as the invocation a job started from it follows up to.
fn as_invocation(app: &App, click: &Click) -> Invocation {
    Invocation {
        platform: click.platform,
        user: click.user.clone(),
        user_name: click.user_name.clone(),
        channel: click.channel.clone(),
        team_id: None,
        command: app.config.slash_command.clone(),
        text: String::new(),
        response_url: click.response_url.clone(),
        trigger_id: click.trigger_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Platform;

    fn pending() -> PendingRecord {
        let now = chrono::Utc::now();
        PendingRecord {
            id: "p".into(),
            platform: Platform::Slack,
            user_id: "U1".into(),
            user_name: Some("alice".into()),
            channel_id: "C1".into(),
            command_text: "delete-directory okta".into(),
            instance: "jira".into(),
            connector_id: "okta".into(),
            connector_name: "Okta".into(),
            operation: serde_json::json!({"format": "delete-directory", "directory_id": "1"}),
            fingerprint: String::new(),
            created_at: now,
            expires_at: now,
            state: PendingState::Pending,
            settled_by: None,
            settled_at: None,
            settled_replica: None,
        }
    }

    #[test]
    fn the_requester_confirms_first_then_other_admins_each_once() {
        let p = pending();
        let u = |id: &str| Principal::new(Platform::Slack, id);
        let mm = Principal::new(Platform::Mattermost, "U1");
        let req = "slack:U1".to_string();
        let table: Vec<(Vec<String>, u32, Principal, bool)> = vec![
            (vec![], 1, u("U1"), true),
            (vec![], 1, u("U2"), false),
            (vec![], 2, u("U2"), false),
            (vec![], 1, mm.clone(), false),
            (vec![req.clone()], 2, u("U1"), false),
            (vec![req.clone()], 2, u("U2"), true),
            (vec![req.clone(), "slack:U2".into()], 3, u("U2"), false),
            (vec![req.clone(), "slack:U2".into()], 3, u("U3"), true),
        ];
        for (approvers, needed, user, ok) in table {
            assert_eq!(
                may_approve(&p, &approvers, needed, &user).is_ok(),
                ok,
                "{approvers:?} {needed} {user}"
            );
        }
    }
}

//! Typed confirmations: the directory id typed into the bot's form (Slack modal,
//! Mattermost dialog) or as `confirm <code> <directory-id>`. The same checks as a click —
//! the form's token, the pending operation, who may confirm, single use, expiry, the
//! permission checked again — then the entry itself, then enough admins.

use crate::app::{App, Metrics};
use crate::authz::Authorized;
use crate::chat::click::Submission;
use crate::command::{self, Command};
use crate::domain::{Invocation, Principal};
use crate::handlers;
use crate::message::{ButtonAction, Message};
use crate::reply::change::ClickRefusal;
use crate::reply::{self, Outcome};
use crate::revisions::ChangedBy;
use crate::store::{AuditEntry, Decision, PendingState};

/// What a form submission is answered with.
#[derive(Debug, Clone)]
pub enum SubmitAnswer {
    /// Close the form; the message (if any) replaces the prompt.
    Close {
        message: Option<Message>,
        response_url: Option<String>,
        channel: Option<String>,
    },
    /// Keep the form open with this error under the field.
    Errors(String),
}

/// What a typed confirmation led to.
enum Typed {
    Wrong(String),
    Refused(ClickRefusal),
    /// Taken; waiting for more admins.
    Waiting(Message, Outcome),
    Done(Message, Outcome),
}

/// A form submission. Audited like a command.
pub async fn submit(app: &App, sub: &Submission) -> SubmitAnswer {
    Metrics::incr(&app.metrics.clicks);
    let state: serde_json::Value = serde_json::from_str(&sub.state).unwrap_or_default();
    let token = state["t"].as_str().unwrap_or_default();
    let response_url = state["r"].as_str().map(str::to_string);
    let channel_id = sub
        .channel
        .as_ref()
        .map(|c| c.id.clone())
        .or_else(|| state["c"].as_str().map(str::to_string))
        .unwrap_or_default();
    let channel = Principal::new(sub.platform, channel_id.clone());
    let Some(id) = app
        .key
        .check_button_token(token, handlers::directory::TYPED_ACTION)
    else {
        audit(
            app,
            &sub.user,
            sub.user_name.as_deref(),
            &channel,
            "",
            Decision::Denied,
            "refused: forged or altered token",
        );
        return SubmitAnswer::Errors(ClickRefusal::Forged.message().to_plain());
    };
    let (text, typed) = confirm(
        app,
        id,
        &sub.user,
        sub.user_name.as_deref(),
        &channel,
        &sub.entered,
    )
    .await;
    let close = |message| SubmitAnswer::Close {
        message: Some(message),
        response_url: response_url.clone(),
        channel: Some(channel_id.clone()),
    };
    match typed {
        Typed::Wrong(why) => {
            audit(
                app,
                &sub.user,
                sub.user_name.as_deref(),
                &channel,
                &text,
                Decision::Denied,
                &Outcome::WrongEntry.to_string(),
            );
            SubmitAnswer::Errors(why)
        }
        Typed::Refused(why) => {
            Metrics::incr(&app.metrics.clicks_refused);
            audit(
                app,
                &sub.user,
                sub.user_name.as_deref(),
                &channel,
                &text,
                Decision::Denied,
                &why.summary(),
            );
            SubmitAnswer::Errors(why.message().to_plain())
        }
        Typed::Waiting(message, outcome) | Typed::Done(message, outcome) => {
            audit(
                app,
                &sub.user,
                sub.user_name.as_deref(),
                &channel,
                &text,
                Decision::Allowed,
                &outcome.to_string(),
            );
            close(message)
        }
    }
}

/// `confirm <code> <directory-id>`, typed as a command where no form can open. The
/// person is an admin already (the pipeline authorized `confirm`).
pub(super) async fn by_command(
    app: &App,
    inv: &Invocation,
    _auth: &Authorized,
) -> (Message, String) {
    let Some(Command::Confirm { code, directory }) = command::parse(&inv.text).ok() else {
        return (
            reply::pipeline::went_wrong(),
            "error: not a confirm command".into(),
        );
    };
    let (_, typed) = confirm(
        app,
        &code,
        &inv.user,
        inv.user_name.as_deref(),
        &inv.channel,
        &directory,
    )
    .await;
    match typed {
        Typed::Wrong(why) => (
            Message::new(crate::message::Tone::Warning, "Not confirmed").text(why),
            Outcome::WrongEntry.to_string(),
        ),
        Typed::Refused(why) => (why.message(), why.summary()),
        Typed::Waiting(m, o) | Typed::Done(m, o) => (m, o.to_string()),
    }
}

/// The checks, the entry, the approval, and the deletion once enough admins confirmed.
/// Returns the command text the confirmation is for (for the audit).
async fn confirm(
    app: &App,
    pending_id: &str,
    user: &Principal,
    user_name: Option<&str>,
    channel: &Principal,
    entered: &str,
) -> (String, Typed) {
    let pending = match app.store.pending(pending_id).await {
        Ok(Some(p)) => p,
        Ok(None) => return (String::new(), Typed::Refused(ClickRefusal::Unknown)),
        Err(e) => {
            tracing::error!(error = %e, "cannot read a confirmation");
            let why = ClickRefusal::Unavailable("The bot's store cannot be read.".into());
            return (String::new(), Typed::Refused(why));
        }
    };
    let text = pending.command_text.clone();
    let Some(directory) = handlers::directory::directory_of(&pending).map(str::to_string) else {
        return (text, Typed::Refused(ClickRefusal::Unknown));
    };
    if pending.state != PendingState::Pending {
        let why = ClickRefusal::Settled {
            state: pending.state,
            by: pending.settled_by.clone(),
        };
        return (text, Typed::Refused(why));
    }
    let needed = app.config.guards.delete_directory_approvals;
    let approvers = app.store.approvals(&pending.id).await.unwrap_or_default();
    if let Err(why) = super::click::may_approve(&pending, &approvers, needed, user) {
        return (text, Typed::Refused(why));
    }
    if chrono::Utc::now() > pending.expires_at {
        let why = ClickRefusal::Expired {
            ttl: app.config.confirm.ttl,
        };
        return (text, Typed::Refused(why));
    }
    let Ok(command) = command::parse(&pending.command_text) else {
        return (text, Typed::Refused(ClickRefusal::Unknown));
    };
    let kind = command.kind();
    let auth = match app.config.roles.authorize(command, user, channel) {
        Ok(auth) => auth,
        Err(denial) => {
            tracing::info!(user = %user, ?denial, "typed confirmation denied: no longer allowed");
            let why = ClickRefusal::NoLongerAllowed {
                command: kind.name().to_string(),
            };
            return (text, Typed::Refused(why));
        }
    };
    if entered.trim() != directory {
        return (
            text,
            Typed::Wrong(reply::directory::wrong_entry(&directory)),
        );
    }
    let who = reply::who(user_name, user);
    let approvers = match app
        .store
        .approve(&pending.id, &user.to_string(), chrono::Utc::now())
        .await
    {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot record an approval");
            let why = ClickRefusal::Unavailable("The bot's store cannot be written.".into());
            return (text, Typed::Refused(why));
        }
    };
    if approvers.len() < needed as usize {
        let buttons = (
            app.key
                .button_token(&pending.id, ButtonAction::Confirm.as_str()),
            app.key
                .button_token(&pending.id, ButtonAction::Cancel.as_str()),
        );
        let callback = app
            .config
            .public_url
            .as_ref()
            .filter(|_| pending.platform == crate::domain::Platform::Mattermost)
            .map(|base| format!("{base}/mattermost/actions"));
        let message = reply::directory::approved(
            &pending.connector_name,
            &directory,
            &who,
            approvers.len(),
            needed,
            buttons,
            callback,
        );
        let outcome = Outcome::Approved {
            have: approvers.len(),
            needed,
        };
        return (text, Typed::Waiting(message, outcome));
    }
    let by = ChangedBy {
        principal: user.clone(),
        name: user_name.map(str::to_string),
    };
    let names: Vec<String> = approvers
        .iter()
        .map(|a| {
            if *a == user.to_string() {
                who.clone()
            } else {
                a.clone()
            }
        })
        .collect();
    match handlers::directory::delete(app, &auth, &pending, &names, by).await {
        Ok((message, outcome)) => (text, Typed::Done(message, outcome)),
        Err(why) => (text, Typed::Refused(why)),
    }
}

fn audit(
    app: &App,
    user: &Principal,
    user_name: Option<&str>,
    channel: &Principal,
    text: &str,
    decision: Decision,
    outcome: &str,
) {
    let shown = if text.is_empty() {
        "[typed]".to_string()
    } else {
        format!("[typed] {} {text}", app.config.slash_command)
    };
    let parsed = command::parse(text).ok();
    app.audit.record(AuditEntry {
        at: chrono::Utc::now(),
        platform: user.platform,
        user_id: user.id.clone(),
        user_name: user_name.map(str::to_string),
        channel_id: channel.id.clone(),
        command: parsed.as_ref().map(|c| c.kind().name().to_string()),
        connector: parsed
            .as_ref()
            .and_then(|c| c.connector_arg())
            .map(str::to_string),
        decision,
        outcome: outcome.to_string(),
        command_text: shown,
    });
}

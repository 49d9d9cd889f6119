//! Answering button clicks. The work runs in its own task, so that a change confirmed is
//! finished and told even when the platform stops waiting.
//!
//! Slack wants its 200 within 3 s and nothing in it: the task edits the prompt (or tells
//! the clicker why not, ephemerally) through the payload's `response_url`. Mattermost
//! takes the answer in the response itself (`update` replaces the prompt and its buttons,
//! `ephemeral_text` tells only the clicker) and waits up to 30 s for it.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::{App, Metrics};
use crate::chat::click::Click;
use crate::chat::click::Submission;
use crate::chat::mattermost::render::render_post;
use crate::dispatch::{self, ClickAnswer, SubmitAnswer};
use crate::domain::Platform;
use crate::reply;

/// How long a Mattermost click waits for its answer inline (Mattermost gives up at 30 s).
const MATTERMOST_INLINE: Duration = Duration::from_secs(10);

fn spawn(app: &Arc<App>, click: Click) -> tokio::sync::oneshot::Receiver<ClickAnswer> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let app = app.clone();
    let span = tracing::info_span!(
        "click",
        platform = click.platform.as_str(),
        trigger = click.trigger_id.as_deref().unwrap_or("-")
    );
    let work = async move {
        let answer = dispatch::click(&app, &click).await;
        if let Err(answer) = tx.send(answer) {
            deliver_later(&app, &click, answer).await;
        }
    };
    tokio::spawn(tracing::Instrument::instrument(work, span));
    rx
}

/// Slack: acknowledged at once; the answer follows through `response_url`.
pub fn slack(app: &Arc<App>, click: Click) -> Response {
    slack_ack(app, click);
    StatusCode::OK.into_response()
}

/// Starts a Slack click's work; its answer follows through `response_url`.
pub(super) fn slack_ack(app: &Arc<App>, click: Click) {
    drop(spawn(app, click));
}

/// Mattermost: the answer in the response when it comes in time.
pub async fn mattermost(app: &Arc<App>, click: Click) -> Response {
    let mut rx = spawn(app, click);
    let body = match tokio::time::timeout(MATTERMOST_INLINE, &mut rx).await {
        Ok(Ok(answer)) => mattermost_body(&answer),
        Ok(Err(_)) => json!({"ephemeral_text": render_post(&reply::pipeline::went_wrong()).0}),
        Err(_) => match (rx.close(), rx.try_recv()).1 {
            Ok(answer) => mattermost_body(&answer),
            Err(_) => {
                Metrics::incr(&app.metrics.deferred);
                json!({"ephemeral_text": render_post(&reply::pipeline::working_on_it()).0})
            }
        },
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `update` replaces the prompt's text and props (so its buttons go); `ephemeral_text`
/// is shown to the clicker only.
fn mattermost_body(answer: &ClickAnswer) -> serde_json::Value {
    let Some(message) = &answer.message else {
        return json!({});
    };
    let (text, props) = render_post(message);
    if answer.replace_prompt {
        json!({"update": {"message": text, "props": props}, "skip_slack_parsing": true})
    } else {
        json!({"ephemeral_text": text, "skip_slack_parsing": true})
    }
}

/// Slack's answer, or a Mattermost answer that missed the inline wait.
async fn deliver_later(app: &App, click: &Click, answer: ClickAnswer) {
    let Some(message) = &answer.message else {
        return;
    };
    let result = match (click.platform, click.response_url.as_deref()) {
        (Platform::Slack, Some(url)) => {
            app.outbox
                .follow_up(Platform::Slack, url, message, answer.replace_prompt)
                .await
        }
        (Platform::Mattermost, _) if app.outbox.has_bot_token(Platform::Mattermost) => app
            .outbox
            .post(Platform::Mattermost, &click.channel.id, message)
            .await
            .map(drop),
        _ => {
            Metrics::incr(&app.metrics.followups_failed);
            tracing::error!(user = %click.user, "a click's answer could not be delivered: nowhere to post it");
            return;
        }
    };
    match result {
        Ok(()) => Metrics::incr(&app.metrics.followups_sent),
        Err(e) => {
            Metrics::incr(&app.metrics.followups_failed);
            tracing::error!(error = %e, user = %click.user, "a click's answer could not be delivered");
        }
    }
}

/// A typed confirmation from the bot's form. Both platforms wait for the answer (it
/// decides whether the form stays open); the deletion's result then replaces the prompt
/// (Slack, through the click's `response_url`) or is posted in the channel (Mattermost).
pub async fn submission(app: &Arc<App>, platform: Platform, sub: Submission) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        submission_body(app, platform, sub).await.to_string(),
    )
        .into_response()
}

/// The answer to a form submission: what the HTTP endpoint returns and what a Socket
/// Mode acknowledgement carries.
pub(super) async fn submission_body(
    app: &Arc<App>,
    platform: Platform,
    sub: Submission,
) -> serde_json::Value {
    let app2 = app.clone();
    // In its own task: a confirmed deletion finishes even if the platform hangs up.
    let work = tokio::spawn(async move {
        let answer = dispatch::submit(&app2, &sub).await;
        if let SubmitAnswer::Close {
            message: Some(message),
            response_url,
            channel,
        } = &answer
        {
            post_result(
                &app2,
                platform,
                message,
                response_url.as_deref(),
                channel.as_deref(),
            )
            .await;
        }
        answer
    });
    let answer = match tokio::time::timeout(FORM_INLINE, work).await {
        Ok(Ok(answer)) => answer,
        // Still working, or gone: close the form; the result is posted when it comes.
        _ => SubmitAnswer::Close {
            message: None,
            response_url: None,
            channel: None,
        },
    };
    match (platform, answer) {
        (_, SubmitAnswer::Close { .. }) => json!({}),
        (Platform::Slack, SubmitAnswer::Errors(why)) => json!({
            "response_action": "errors",
            "errors": {crate::chat::slack::render::FORM_BLOCK: why},
        }),
        (Platform::Mattermost, SubmitAnswer::Errors(why)) => json!({
            "errors": {crate::chat::mattermost::render::FORM_FIELD: why},
        }),
    }
}

/// Slack wants a form's answer within 3 s.
const FORM_INLINE: Duration = Duration::from_millis(2500);

async fn post_result(
    app: &App,
    platform: Platform,
    message: &crate::message::Message,
    response_url: Option<&str>,
    channel: Option<&str>,
) {
    let result = match (platform, response_url, channel) {
        (Platform::Slack, Some(url), _) => app.outbox.follow_up(platform, url, message, true).await,
        (_, _, Some(channel)) if app.outbox.has_bot_token(platform) => {
            app.outbox.post(platform, channel, message).await.map(drop)
        }
        _ => {
            Metrics::incr(&app.metrics.followups_failed);
            tracing::error!(
                "a typed confirmation's result could not be posted: nowhere to post it"
            );
            return;
        }
    };
    match result {
        Ok(()) => Metrics::incr(&app.metrics.followups_sent),
        Err(e) => {
            Metrics::incr(&app.metrics.followups_failed);
            tracing::error!(error = %e, "a typed confirmation's result could not be posted");
        }
    }
}

//! The rule that decides whether a reply goes back inline or later through
//! `response_url`: the work's first step runs in the request's own task; work that waits
//! on something goes on in a task of its own, and the HTTP answer waits for it at most
//! the inline budget.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::oneshot;
use tracing::{Instrument, Span};

use crate::app::{App, Metrics, Sighting};
use crate::chat::render_reply;
use crate::dispatch::dispatch;
use crate::domain::Invocation;
use crate::message::Message;
use crate::reply::{self, Answer};

fn json_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A re-delivered request (same `trigger_id`) gets the first answer again and runs
/// nothing; one whose answer is still being worked on is told so.
fn repeat(app: &App, inv: &Invocation) -> Option<Bytes> {
    let trigger = inv.trigger_id.as_deref()?;
    let Sighting::Repeat(reply) = app.deliveries.sight(inv.platform, trigger) else {
        return None;
    };
    app.metrics.redelivered(&inv.text);
    tracing::debug!(user = %inv.user, "re-delivered request answered without running again");
    Some(reply.unwrap_or_else(|| already_received(inv)))
}

/// What a delivery seen before gets when its first answer is not known here.
pub(super) fn already_received(inv: &Invocation) -> Bytes {
    render_reply(inv.platform, &reply::pipeline::already_received())
}

/// The pipeline of one command, owning what it needs, so that it can move to a task of
/// its own.
type Work = Pin<Box<dyn Future<Output = Answer> + Send>>;

fn work(app: &Arc<App>, inv: &Arc<Invocation>, span: &Span) -> Work {
    let (app, inv) = (app.clone(), inv.clone());
    Box::pin(async move { dispatch(&app, &inv).await }.instrument(span.clone()))
}

/// Moves unfinished work to its own task, so that it finishes even when the platform
/// hangs up: the answer comes back on the channel, or is posted later when nobody waits.
fn spawn_rest(
    app: &Arc<App>,
    inv: &Arc<Invocation>,
    work: Work,
    span: Span,
) -> oneshot::Receiver<Answer> {
    let (tx, rx) = oneshot::channel::<Answer>();
    let (app, inv) = (app.clone(), inv.clone());
    let rest = async move {
        let answer = work.await;
        if let Err(answer) = tx.send(answer) {
            // Nobody waits (the platform hung up, or was told "working on it"): a
            // re-delivery here gets this answer too, not "on its way" for ever.
            remembered(&app, &inv, &answer);
            deliver_later(&app, &inv, answer.message()).await;
        }
    };
    tokio::spawn(rest.instrument(span));
    rx
}

/// Answers a verified command: at once when the work finishes within the inline budget,
/// else with an acknowledgement now and the answer through `response_url` later.
pub async fn answer(app: Arc<App>, inv: Invocation) -> Response {
    json_response(reply_body(app, inv).await)
}

/// The body of the answer to a verified command: what the HTTP endpoint returns and what
/// a Socket Mode acknowledgement carries.
pub(super) async fn reply_body(app: Arc<App>, inv: Invocation) -> Bytes {
    if let Some(body) = repeat(&app, &inv) {
        return body;
    }
    // Shared with the task rather than copied: the invocation is a dozen strings.
    let inv = Arc::new(inv);
    // Every log line about this command carries its platform and trigger id.
    let span = tracing::info_span!(
        "command",
        platform = inv.platform.as_str(),
        trigger = inv.trigger_id.as_deref().unwrap_or("-")
    );
    let mut work = work(&app, &inv, &span);
    // The first step runs here: a command that waits on nothing outside the process
    // (help, whoami, a refusal) is answered in it, with no task of its own and no wake-up
    // of another thread. Nothing can interrupt a step, so handing the rest over loses
    // nothing.
    if let Poll::Ready(answer) = poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await {
        return remembered(&app, &inv, &answer);
    }
    let mut rx = spawn_rest(&app, &inv, work, span);
    let answer = match tokio::time::timeout(app.config.inline_budget, &mut rx).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => {
            tracing::error!("command task ended without an answer");
            return render_reply(inv.platform, &reply::pipeline::went_wrong());
        }
        // Closing first makes the hand-over exact: either the answer is already here, or
        // the task will find the channel closed and post it itself.
        Err(_) => match (rx.close(), rx.try_recv()).1 {
            Ok(answer) => answer,
            Err(_) => {
                Metrics::incr(&app.metrics.deferred);
                return render_reply(inv.platform, &reply::pipeline::working_on_it());
            }
        },
    };
    remembered(&app, &inv, &answer)
}

/// The reply body of an answer, remembered for a re-delivery of the request (the same
/// answer again, without running), or forgotten when it holds only for now, so that the
/// next re-delivery runs the pipeline again to find the real one.
fn remembered(app: &App, inv: &Invocation, answer: &Answer) -> Bytes {
    let body = match answer {
        Answer::Fresh(message) | Answer::ForNow(message) => render_reply(inv.platform, message),
        Answer::Shared(rendered) => rendered.body.clone(),
    };
    if let Some(trigger) = inv.trigger_id.as_deref() {
        match answer {
            Answer::ForNow(_) => app.deliveries.forget(inv.platform, trigger),
            Answer::Shared(_) => {
                app.deliveries
                    .remember_reply(inv.platform, trigger, body.clone(), true)
            }
            Answer::Fresh(_) => {
                app.deliveries
                    .remember_reply(inv.platform, trigger, body.clone(), false)
            }
        }
    }
    body
}

/// Posts an answer that missed the inline budget to the command's `response_url`.
async fn deliver_later(app: &App, inv: &Invocation, message: &Message) {
    let Some(url) = inv.response_url.as_deref() else {
        Metrics::incr(&app.metrics.followups_failed);
        tracing::error!(user = %inv.user, "an answer could not be delivered: no response_url");
        return;
    };
    match app
        .outbox
        .follow_up(inv.platform, url, message, false)
        .await
    {
        Ok(()) => Metrics::incr(&app.metrics.followups_sent),
        Err(e) => {
            Metrics::incr(&app.metrics.followups_failed);
            tracing::error!(error = %e, user = %inv.user, "an answer could not be delivered");
        }
    }
}

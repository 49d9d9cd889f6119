//! The HTTP server: routes, and the rule that decides whether a reply goes back inline or
//! later through `response_url`. Handlers stay thin: verify (extractor), then hand over.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use tokio::sync::oneshot;

use crate::app::{App, Metrics, Sighting};
use crate::chat::mattermost::{render as mm_render, MattermostCommand};
use crate::chat::slack::{render as slack_render, SlackRequest};
use crate::dispatch::dispatch;
use crate::domain::{Invocation, Platform};
use crate::message::{Message, Tone};

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/slack/commands", post(slack_command))
        .route("/mattermost/commands", post(mattermost_command))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state(app)
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        format!(
            "{}# HELP usersync_bot_notifications_posted_total Notifications of finished syncs posted.\n\
             # TYPE usersync_bot_notifications_posted_total counter\n\
             usersync_bot_notifications_posted_total {}\n\
             # HELP usersync_bot_notifications_failed_total Notification posts that failed.\n\
             # TYPE usersync_bot_notifications_failed_total counter\n\
             usersync_bot_notifications_failed_total {}\n",
            app.metrics.render(),
            app.watcher.metrics.posted.load(std::sync::atomic::Ordering::Relaxed),
            app.watcher.metrics.failed.load(std::sync::atomic::Ordering::Relaxed),
        ),
    )
        .into_response()
}

async fn slack_command(State(app): State<Arc<App>>, request: SlackRequest) -> Response {
    match request {
        SlackRequest::SslCheck => {
            Metrics::incr(&app.metrics.ssl_checks);
            StatusCode::OK.into_response()
        }
        SlackRequest::Command(inv) => answer(app, *inv).await,
    }
}

async fn mattermost_command(State(app): State<Arc<App>>, command: MattermostCommand) -> Response {
    answer(app, *command.0).await
}

fn json_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A reply in the platform's own format (JSON, so Mattermost does not post it raw).
fn render_immediate(platform: Platform, message: &Message) -> Bytes {
    let body = match platform {
        Platform::Slack => slack_render::render_response(message),
        Platform::Mattermost => mm_render::render_response(message),
    };
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

/// Answers a verified command: at once when the work finishes within the inline budget,
/// else with an acknowledgement now and the answer through `response_url` later. The work
/// runs in its own task, so it finishes even when Slack hangs up after three seconds.
async fn answer(app: Arc<App>, inv: Invocation) -> Response {
    if let Some(trigger) = inv.trigger_id.as_deref() {
        if let Sighting::Repeat(reply) = app.deliveries.sight(inv.platform, trigger) {
            Metrics::incr(&app.metrics.duplicates);
            tracing::debug!(user = %inv.user, "re-delivered request answered without running again");
            return json_response(reply.unwrap_or_else(|| {
                render_immediate(
                    inv.platform,
                    &Message::new(Tone::Info, "Already received").text(
                        "This request arrived before; it runs once, and its answer is on its way.",
                    ),
                )
            }));
        }
    }

    let (tx, mut rx) = oneshot::channel::<Message>();
    let worker_app = app.clone();
    let worker_inv = inv.clone();
    tokio::spawn(async move {
        let message = dispatch(&worker_app, &worker_inv).await;
        if let Err(message) = tx.send(message) {
            deliver_later(&worker_app, &worker_inv, &message).await;
        }
    });

    let message = match tokio::time::timeout(app.config.inline_budget, &mut rx).await {
        Ok(Ok(message)) => Some(message),
        Ok(Err(_)) => {
            tracing::error!("command task ended without an answer");
            return json_response(render_immediate(
                inv.platform,
                &Message::new(Tone::Failure, "Something went wrong")
                    .text("The command stopped unexpectedly; it has been logged."),
            ));
        }
        Err(_) => {
            // Closing first makes the hand-over exact: either the answer is already here,
            // or the task will find the channel closed and post it itself.
            rx.close();
            rx.try_recv().ok()
        }
    };
    match message {
        Some(message) => {
            let body = render_immediate(inv.platform, &message);
            if let Some(trigger) = inv.trigger_id.as_deref() {
                app.deliveries
                    .remember_reply(inv.platform, trigger, body.clone());
            }
            json_response(body)
        }
        None => {
            Metrics::incr(&app.metrics.deferred);
            json_response(render_immediate(
                inv.platform,
                &Message::new(Tone::Info, "Working on it…")
                    .text("The product is taking a moment; the answer follows here."),
            ))
        }
    }
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

/// A bot serving on a listener: what `serve`, `demo` and the tests run.
pub struct RunningBot {
    pub addr: std::net::SocketAddr,
    pub app: Arc<App>,
    shutdown: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
}

/// How long a stopping bot waits for its audit writer to finish.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl RunningBot {
    /// Starts the bot on a listener the caller bound.
    pub async fn start(
        config: crate::config::Config,
        listener: tokio::net::TcpListener,
    ) -> Result<RunningBot, crate::app::StartError> {
        let addr = listener.local_addr().map_err(|e| {
            crate::app::StartError::Store(crate::store::StoreError::Database(sqlx::Error::Io(e)))
        })?;
        let (app, writer) = App::start(config).await?;
        let (tx, rx) = oneshot::channel::<()>();
        let routes = router(app.clone());
        let server = tokio::spawn(async move {
            let result = axum::serve(listener, routes)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "server stopped");
            }
        });
        Ok(RunningBot {
            addr,
            app,
            shutdown: Some(tx),
            server,
            writer,
        })
    }

    /// Stops accepting requests, lets those in flight finish, and flushes the audit log.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
        self.app.jobs.stop();
        self.app.watcher.stop();
        drop(self.app);
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, &mut self.writer).await;
    }
}

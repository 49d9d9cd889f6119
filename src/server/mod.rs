//! The HTTP server: routes and the running bot. Handlers stay thin: verify (extractor in
//! `extract`), then hand over to `answer`, which runs the pipeline in `dispatch`.

mod answer;
mod click;
mod extract;
mod socket;

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;

use crate::app::{App, Format, Metrics};
use answer::answer;
use extract::{MattermostClick, MattermostCommand, MattermostDialog, SlackClick, SlackRequest};

/// Every route on one port: the webhooks, health and metrics (no `metrics_listen`).
pub fn router(app: Arc<App>) -> Router {
    measured(webhooks(app.clone()).merge(health(app.clone())), &app)
}

/// `routes`, each request counted and timed in `http_requests_total` and
/// `http_request_duration_seconds` by the route it matched (never the path asked, so
/// the labels stay few), or `unmatched`.
fn measured(routes: Router, app: &Arc<App>) -> Router {
    routes.layer(axum::middleware::from_fn_with_state(app.clone(), measure))
}

async fn measure(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    // The matched path is shared (an `Arc<str>` inside): kept without copying it.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    app.metrics.http_request(
        route.as_ref().map(MatchedPath::as_str),
        method.as_str(),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// What the chat platforms call.
pub fn webhooks(app: Arc<App>) -> Router {
    Router::new()
        .route("/slack/commands", post(slack_command))
        .route("/slack/interactions", post(slack_interaction))
        .route("/mattermost/commands", post(mattermost_command))
        .route("/mattermost/actions", post(mattermost_action))
        .route("/mattermost/dialogs", post(mattermost_dialog))
        .with_state(app)
}

/// What probes and scrapers call: `/healthz` (alive), `/readyz` (may take traffic) and
/// `/metrics`.
pub fn health(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(app)
}

/// 200 `ready`, or 503 with the reason (`shutting down`, `store: …`).
async fn readyz(State(app): State<Arc<App>>) -> Response {
    match app.ready().await {
        Ok(()) => "ready".into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason.to_string()).into_response(),
    }
}

/// Every metric, in the Prometheus text format, or OpenMetrics when `Accept` asks for it.
async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    app.metrics.set_cluster(
        app.jobs.held_count(),
        app.jobs.followed_count(),
        app.watcher.is_leader(),
    );
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let format = Format::from_accept(Some(&accept));
    let text = app.metrics.render(format);
    ([(header::CONTENT_TYPE, format.content_type())], text).into_response()
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

async fn slack_interaction(State(app): State<Arc<App>>, interaction: SlackClick) -> Response {
    match interaction.0 {
        crate::chat::click::SlackInteraction::Click(c) => click::slack(&app, *c),
        crate::chat::click::SlackInteraction::Submission(sub) => {
            click::submission(&app, crate::domain::Platform::Slack, *sub).await
        }
        crate::chat::click::SlackInteraction::Ignored => StatusCode::OK.into_response(),
    }
}

async fn mattermost_action(State(app): State<Arc<App>>, action: MattermostClick) -> Response {
    click::mattermost(&app, *action.0).await
}

async fn mattermost_dialog(State(app): State<Arc<App>>, dialog: MattermostDialog) -> Response {
    match dialog.0 {
        Some(sub) => click::submission(&app, crate::domain::Platform::Mattermost, *sub).await,
        // Cancelled, or not the bot's dialog.
        None => StatusCode::OK.into_response(),
    }
}

/// A bot serving on a listener: what `serve`, `demo` and the tests run.
pub struct RunningBot {
    pub addr: std::net::SocketAddr,
    /// Where health and metrics are served when `metrics_listen` is set (bound by
    /// [`RunningBot::start`]); `None`: on `addr`.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub app: Arc<App>,
    shutdown: Option<watch::Sender<bool>>,
    servers: Vec<tokio::task::JoinHandle<()>>,
    writer: tokio::task::JoinHandle<()>,
    /// The Slack Socket Mode client, when `socket_mode` is on.
    socket: Option<socket::SocketClient>,
}

/// The longest a stop takes, from SIGTERM to the end (within the 10 s a container gets).
const STOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(9);
/// Of which, for the requests in flight to be answered.
const REQUESTS_WITHIN: std::time::Duration = std::time::Duration::from_secs(4);
/// Of which, for the job tasks and the watcher's look under way to end before their
/// leases are released.
const HANDOVER_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves `routes` on `listener` until `stop` says so, letting requests in flight finish.
fn serve(
    listener: tokio::net::TcpListener,
    routes: Router,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let result = axum::serve(listener, routes)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "server stopped");
        }
    })
}

impl RunningBot {
    /// Starts the bot on a listener the caller bound; binds `metrics_listen` if set.
    pub async fn start(
        config: crate::config::Config,
        listener: tokio::net::TcpListener,
    ) -> Result<RunningBot, crate::app::StartError> {
        let addr = listener.local_addr().map_err(|e| {
            crate::app::StartError::Store(crate::store::StoreError::Database(sqlx::Error::Io(e)))
        })?;
        let metrics_listener = match config.metrics_listen {
            Some(at) => {
                let listen = |source| crate::app::StartError::Listen { addr: at, source };
                let listener = tokio::net::TcpListener::bind(at).await.map_err(listen)?;
                let bound = listener.local_addr().map_err(listen)?;
                Some((listener, bound))
            }
            None => None,
        };
        let metrics_addr = metrics_listener.as_ref().map(|(_, bound)| *bound);
        let (app, writer) = App::start(config).await?;
        let (tx, rx) = watch::channel(false);
        let servers = match metrics_listener {
            Some((metrics_listener, _)) => vec![
                serve(listener, measured(webhooks(app.clone()), &app), rx.clone()),
                serve(metrics_listener, measured(health(app.clone()), &app), rx),
            ],
            None => vec![serve(listener, router(app.clone()), rx)],
        };
        let socket = socket::SocketClient::start(&app);
        Ok(RunningBot {
            addr,
            metrics_addr,
            app,
            shutdown: Some(tx),
            servers,
            writer,
            socket,
        })
    }

    /// Where `/healthz`, `/readyz` and `/metrics` are served.
    pub fn health_addr(&self) -> std::net::SocketAddr {
        self.metrics_addr.unwrap_or(self.addr)
    }

    /// Marks the bot as stopping, so `/readyz` answers 503 `shutting down`; requests are
    /// still served. [`RunningBot::stop`] begins with this.
    pub fn begin_shutdown(&self) {
        self.app.begin_shutdown();
    }

    /// Says it is not ready, stops accepting requests, lets those in flight finish, stops
    /// following jobs and watching and releases their leases (so that another replica
    /// takes them over at once), and flushes the audit log — all within [`STOP_WITHIN`].
    pub async fn stop(mut self) {
        let deadline = tokio::time::Instant::now() + STOP_WITHIN;
        self.begin_shutdown();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(socket) = self.socket.take() {
            socket.stop().await;
        }
        let requests = tokio::time::Instant::now() + REQUESTS_WITHIN;
        for server in &mut self.servers {
            if tokio::time::timeout_at(requests, &mut *server)
                .await
                .is_err()
            {
                tracing::warn!("requests still in flight when stopping; dropping them");
                server.abort();
            }
        }
        tokio::join!(
            self.app.jobs.stop_and_release(HANDOVER_WITHIN),
            self.app.watcher.stop_and_release(HANDOVER_WITHIN),
        );
        // Gone from now: another replica tells a re-delivery of anything this one left
        // unanswered that it was cut off, without waiting for the beat to run out.
        let owner = self.app.owner();
        if let Ok(Err(e)) = tokio::time::timeout_at(deadline, self.app.store.leave(owner)).await {
            tracing::warn!(error = %e, "cannot record this replica as gone");
        }
        drop(self.app);
        let _ = tokio::time::timeout_at(deadline, &mut self.writer).await;
    }
}

//! The HTTP server: routes and the running bot. Handlers stay thin: verify (extractor in
//! `extract`), then hand over to `answer`, which runs the pipeline in `dispatch`.

mod answer;
mod extract;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::oneshot;

use crate::app::{App, Metrics};
use answer::answer;
use extract::{MattermostCommand, SlackRequest};

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
        app.metrics.render(&app.watcher.metrics, &app.audit.stats),
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

//! A stateful simulator of the User Sync REST API, for development, tests and the demo.
//!
//! Run it as a process (`usersync-bot simulate`) or in-process with [`Simulator::start`];
//! either way it is reached over real HTTP. Its admin endpoints under
//! [`ADMIN_PREFIX`](http::ADMIN_PREFIX) switch faults on and off, change how long syncs
//! take, start "scheduled" syncs and read the call log.

mod http;
mod seed;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use http::{router, ADMIN_PREFIX};
pub use state::{
    ApiFailure, Faults, RecordedCall, SettingsUpdate, SimAuth, SimSettings, SimState, SyncOrigin,
    TriggerAnswerMode, UserUpdate,
};

use crate::usersync::ApiFlavour;

/// How to start a simulator.
#[derive(Debug, Clone, Default)]
pub struct Simulator {
    pub api: ApiFlavour,
    pub auth: SimAuth,
    pub settings: SimSettings,
}

/// A running simulator. Dropping it stops the server.
pub struct SimulatorHandle {
    addr: SocketAddr,
    state: Arc<SimState>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    schedule: JoinHandle<()>,
}

impl Simulator {
    /// Binds `addr` (port 0 for any free port) and serves until the handle is dropped or
    /// stopped.
    pub async fn start(self, addr: SocketAddr) -> std::io::Result<SimulatorHandle> {
        let listener = TcpListener::bind(addr).await?;
        Ok(self.serve(listener))
    }

    /// Serves on a listener the caller bound.
    pub fn serve(self, listener: TcpListener) -> SimulatorHandle {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let state = SimState::new(self.api, self.auth, self.settings);
        let (tx, rx) = oneshot::channel::<()>();
        let app = router(state.clone());
        let server = tokio::spawn(async move {
            let result = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "simulator stopped");
            }
        });
        let schedule = tokio::spawn(run_schedule(state.clone()));
        SimulatorHandle {
            addr,
            state,
            shutdown: Some(tx),
            server,
            schedule,
        }
    }
}

/// Starts syncs at the configured interval, as a product's sync schedule does; picks up
/// a changed interval at once.
async fn run_schedule(state: Arc<SimState>) {
    loop {
        let changed = state.settings_changed.notified();
        match state.settings().schedule_interval {
            None => changed.await,
            Some(interval) => {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {
                        let started = state.run_schedule();
                        tracing::info!(?started, "simulator: scheduled syncs started");
                    }
                    _ = changed => {}
                }
            }
        }
    }
}

impl SimulatorHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL a client uses (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}", self.addr)).expect("a socket address forms a URL")
    }

    /// The state, for tests that drive or inspect it directly.
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// Stops serving and waits until the port is closed.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.schedule.abort();
        // Connections that hang (fault injection) would hold graceful shutdown forever.
        self.server.abort();
        let _ = (&mut self.server).await;
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.schedule.abort();
        self.server.abort();
    }
}

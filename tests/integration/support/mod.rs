//! Helpers shared by the integration tests: a simulator on a random port, clients
//! pointed at it, and bounded waits.

pub mod bot;
pub mod pg;
pub mod proxy;
pub mod socket_mode;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use usersync_bot::simulator::{SimSettings, Simulator, SimulatorHandle};
use usersync_bot::usersync::{
    ApiFlavour, Credentials, InstanceConfig, RetryPolicy, UserSyncClient,
};

/// The real binary, for tests that run it as a person would.
pub const BIN: &str = env!("CARGO_BIN_EXE_usersync-bot");

/// The longest a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(10);

/// Retries of idempotent GETs for tests: as many attempts as in production, sooner.
pub const QUICK_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base_delay: Duration::from_millis(10),
    max_delay: Duration::from_millis(40),
};

pub const AZURE: &str = "7df9fd3f-793f-4595-b415-b839b76b0018";
pub const OKTA: &str = "0b8a2f64-93c1-4d4e-8f0a-6c1e5d2b7a90";

pub async fn simulator(api: ApiFlavour, sync_duration: Duration) -> SimulatorHandle {
    Simulator {
        api,
        settings: SimSettings {
            sync_duration,
            ..SimSettings::default()
        },
        ..Simulator::default()
    }
    .start(SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .expect("simulator starts")
}

pub fn basic(user: &str, password: &str) -> Credentials {
    Credentials::Basic {
        username: user.into(),
        password: SecretString::from(password),
    }
}

pub fn bearer(token: &str) -> Credentials {
    Credentials::Bearer {
        token: SecretString::from(token),
    }
}

/// A client with quick retries and a short timeout, for tests.
pub fn client_with(
    sim: &SimulatorHandle,
    api: ApiFlavour,
    credentials: Credentials,
) -> UserSyncClient {
    UserSyncClient::new(InstanceConfig {
        name: "jira".into(),
        base_url: sim.base_url(),
        credentials,
        api,
        timeout: Duration::from_millis(500),
        retry: QUICK_RETRY,
    })
    .expect("client builds")
}

pub fn client(sim: &SimulatorHandle, api: ApiFlavour) -> UserSyncClient {
    client_with(sim, api, basic("admin", "admin"))
}

/// How many requests with `method` the simulator received (e.g. sync triggers: POST).
pub fn calls_with(sim: &SimulatorHandle, method: &str) -> usize {
    sim.state()
        .calls()
        .iter()
        .filter(|c| c.method == method)
        .count()
}

/// How many times the connector's last sync was asked for (`GET …/connector/{id}/syncstatus`):
/// one per poll of a job's poller or per look of the watcher, retries included.
pub fn polls_of(sim: &SimulatorHandle, connector: &str) -> usize {
    let suffix = format!("/connector/{connector}/syncstatus");
    sim.state()
        .calls()
        .iter()
        .filter(|c| c.method == "GET" && c.path.ends_with(&suffix))
        .count()
}

/// Waits until the simulator has been asked `n` more times for the connector's last sync.
pub async fn wait_for_more_polls(sim: &SimulatorHandle, connector: &str, n: usize) {
    let from = polls_of(sim, connector);
    wait_for(&format!("{n} more poll(s) of {connector}"), || async {
        (polls_of(sim, connector) >= from + n).then_some(())
    })
    .await;
}

/// Polls `check` until it yields a value, failing the test after [`WAIT`]. The only place
/// where a test sleeps: between two checks.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A free port on loopback (bound and released: the bot binds it right after).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

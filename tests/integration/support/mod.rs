//! Helpers shared by the integration tests: a simulator on a random port, clients
//! pointed at it, and bounded waits.

pub mod bot;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use usersync_bot::simulator::{SimSettings, Simulator, SimulatorHandle};
use usersync_bot::usersync::{
    ApiFlavour, Credentials, InstanceConfig, RetryPolicy, UserSyncClient,
};

/// The longest a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(10);

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
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
        },
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

/// Polls `check` until it yields a value, failing the test after [`WAIT`].
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

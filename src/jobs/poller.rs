//! One poll per connector, however many follow it: every job (and later the watcher)
//! waiting on a connector subscribes to the same poller, which asks the product for the
//! connector's last sync and hands the answer to all of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::usersync::{SyncStatus, UserSyncClient, UserSyncError};

/// The longest pause between two polls of a connector, whatever the backoff.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(60);
/// A long-running sync is polled at about a tenth of its age (gentle backoff).
const AGE_DIVISOR: u32 = 10;

/// What one poll saw.
#[derive(Debug, Clone)]
pub struct Observation {
    pub status: Result<SyncStatus, UserSyncError>,
    /// Failed polls in a row, this one included (0 after a success).
    pub failures: u32,
}

type Key = (String, String);

/// The pollers running, one per (instance, connector).
#[derive(Debug)]
pub struct Pollers {
    running: Mutex<HashMap<Key, watch::Sender<Option<Observation>>>>,
    interval: Duration,
}

/// The pause before the next poll: the configured interval while the poller is young,
/// then a tenth of its age, capped; doubling after each failure, capped.
pub fn next_delay(interval: Duration, age: Duration, failures: u32) -> Duration {
    let cap = MAX_POLL_INTERVAL.max(interval);
    if failures > 0 {
        return interval
            .saturating_mul(2u32.saturating_pow(failures.min(16)))
            .min(cap);
    }
    interval.max(age / AGE_DIVISOR).min(cap)
}

impl Pollers {
    pub fn new(interval: Duration) -> Arc<Self> {
        Arc::new(Pollers {
            running: Mutex::new(HashMap::new()),
            interval,
        })
    }

    /// Subscribes to the connector's poller, starting it if none runs. The poller stops
    /// once its last subscriber is gone.
    pub fn subscribe(
        self: &Arc<Self>,
        client: &UserSyncClient,
        connector_id: &str,
    ) -> watch::Receiver<Option<Observation>> {
        let key = (client.instance().to_string(), connector_id.to_string());
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = running.get(&key) {
            return tx.subscribe();
        }
        let (tx, rx) = watch::channel(None);
        running.insert(key.clone(), tx.clone());
        drop(running);
        tokio::spawn(poll(self.clone(), key, client.clone(), tx));
        rx
    }

    /// The last observation of a connector whose poller runs (a job follows it), so that
    /// others looking at the same connector need not poll it again.
    pub fn latest(&self, instance: &str, connector_id: &str) -> Option<Observation> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let tx = running.get(&(instance.to_string(), connector_id.to_string()))?;
        let latest = tx.borrow().clone();
        latest
    }

    /// How many connectors are being polled.
    pub fn active(&self) -> usize {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

async fn poll(
    pollers: Arc<Pollers>,
    key: Key,
    client: UserSyncClient,
    tx: watch::Sender<Option<Observation>>,
) {
    let started = Instant::now();
    let mut failures = 0u32;
    loop {
        {
            // Checked under the lock, so that no subscriber joins a poller about to end.
            let mut running = pollers.running.lock().unwrap_or_else(|p| p.into_inner());
            if tx.receiver_count() == 0 {
                running.remove(&key);
                return;
            }
        }
        let status = client.last_sync_status(&key.1).await;
        failures = if status.is_ok() { 0 } else { failures + 1 };
        tx.send_replace(Some(Observation { status, failures }));
        let delay = next_delay(pollers.interval, started.elapsed(), failures);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = tx.closed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_slow_down_gently_for_long_syncs_and_after_failures() {
        let base = Duration::from_secs(5);
        assert_eq!(next_delay(base, Duration::from_secs(10), 0), base);
        assert_eq!(
            next_delay(base, Duration::from_secs(120), 0),
            Duration::from_secs(12)
        );
        assert_eq!(
            next_delay(base, Duration::from_secs(3600), 0),
            MAX_POLL_INTERVAL
        );
        assert_eq!(next_delay(base, Duration::ZERO, 1), Duration::from_secs(10));
        assert_eq!(next_delay(base, Duration::ZERO, 3), Duration::from_secs(40));
        assert_eq!(next_delay(base, Duration::ZERO, 30), MAX_POLL_INTERVAL);
    }
}

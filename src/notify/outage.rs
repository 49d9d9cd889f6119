//! An instance that cannot be reached is reported once to the channels that want
//! failures, and once more when it is back; the state lives in the store.

use chrono::Utc;

use super::audience::failure_channels;
use super::Watcher;
use crate::message::Message;
use crate::reply::announce::{outage, recovered};
use crate::usersync::UserSyncClient;

/// Failed looks in a row before an instance is reported as unreachable.
const OUTAGE_AFTER: u32 = 2;

impl Watcher {
    /// Reports an instance that cannot be reached once, and once more when it is back.
    pub(super) async fn outage_check(&self, client: &UserSyncClient, failures: u32, ok: bool) {
        let instance = client.instance();
        let known = match self.store.outage(instance).await {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(error = %e, "watcher cannot read outages");
                return;
            }
        };
        let news = matches!(
            (known, ok, failures >= OUTAGE_AFTER),
            (None, false, true) | (Some(_), true, _)
        );
        if news && !self.may_post().await {
            // Another replica runs the watcher now: it reports this.
            return;
        }
        let message = match (known, ok, failures >= OUTAGE_AFTER) {
            (None, false, true) => {
                let since = Utc::now()
                    - chrono::Duration::from_std(self.interval * failures).unwrap_or_default();
                if self.store.set_outage(instance, Some(since)).await.is_err() {
                    return;
                }
                outage(
                    instance,
                    &client.base_url().origin().ascii_serialization(),
                    since,
                )
            }
            (Some(since), true, _) => {
                if self.store.set_outage(instance, None).await.is_err() {
                    return;
                }
                recovered(instance, since)
            }
            _ => return,
        };
        self.tell_failure_channels(instance, &message).await;
    }

    async fn tell_failure_channels(&self, instance: &str, message: &Message) {
        let subs = self.store.subscriptions().await.unwrap_or_default();
        for channel in failure_channels(&self.routes, &subs, instance) {
            if let Err(e) = self.post_counted(&channel, message).await {
                tracing::error!(error = %e, channel = %channel, "outage report could not be posted");
            }
        }
    }
}

//! The store, timed: every operation of the [`Store`] behind it observed in
//! `store_operation_duration_seconds{operation}`, the label being the method's name (a
//! bounded set). Installed once, where the app opens its store.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use super::*;

/// The label of a store operation's duration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

/// Durations of store operations, by operation.
pub type OperationDurations = Family<OperationLabels, Histogram, fn() -> Histogram>;

/// Upper bounds of store operation durations, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// An empty family of store operation durations.
pub fn operation_durations() -> OperationDurations {
    Family::new_with_constructor(histogram)
}

/// A [`Store`] that times every call of the one it wraps.
#[derive(Debug)]
pub struct TimedStore {
    inner: Arc<dyn Store>,
    durations: OperationDurations,
}

impl TimedStore {
    /// `inner`, each of its operations timed in `durations`.
    pub fn wrap(inner: Arc<dyn Store>, durations: OperationDurations) -> Arc<dyn Store> {
        Arc::new(TimedStore { inner, durations })
    }

    fn observe(&self, operation: &'static str, started: Instant) {
        self.durations
            .get_or_create(&OperationLabels { operation })
            .observe(started.elapsed().as_secs_f64());
    }
}

/// Calls the wrapped store's method of the same name and observes how long it took.
macro_rules! timed {
    ($s:ident, $method:ident($($arg:expr),*)) => {{
        let started = Instant::now();
        let result = $s.inner.$method($($arg),*).await;
        $s.observe(stringify!($method), started);
        result
    }};
}

#[async_trait::async_trait]
impl Store for TimedStore {
    async fn ping(&self) -> Result<(), StoreError> {
        timed!(self, ping())
    }

    async fn record_audits(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        timed!(self, record_audits(entries))
    }

    async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        timed!(self, recent_audit(limit))
    }

    async fn audit_rows(&self, filter: &AuditFilter, limit: u32) -> Result<AuditPage, StoreError> {
        timed!(self, audit_rows(filter, limit))
    }

    async fn claim_delivery(
        &self,
        platform: Platform,
        trigger_id: &str,
        by: &str,
    ) -> Result<bool, StoreError> {
        timed!(self, claim_delivery(platform, trigger_id, by))
    }

    async fn record_delivery_answer(
        &self,
        platform: Platform,
        trigger_id: &str,
        answer: &str,
    ) -> Result<(), StoreError> {
        timed!(self, record_delivery_answer(platform, trigger_id, answer))
    }

    async fn delivery_answer(
        &self,
        platform: Platform,
        trigger_id: &str,
    ) -> Result<Option<DeliveryClaim>, StoreError> {
        timed!(self, delivery_answer(platform, trigger_id))
    }

    async fn beat(&self, owner: &str, ttl: Duration) -> Result<(), StoreError> {
        timed!(self, beat(owner, ttl))
    }

    async fn alive(&self, owner: &str) -> Result<bool, StoreError> {
        timed!(self, alive(owner))
    }

    async fn leave(&self, owner: &str) -> Result<(), StoreError> {
        timed!(self, leave(owner))
    }

    async fn forget_deliveries_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        timed!(self, forget_deliveries_before(before))
    }

    async fn begin_post(&self, intent: &PostIntent<'_>) -> Result<PostMark, StoreError> {
        timed!(self, begin_post(intent))
    }

    async fn finish_post(&self, id: &str, post_id: Option<&str>) -> Result<(), StoreError> {
        timed!(self, finish_post(id, post_id))
    }

    async fn forget_posts_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        timed!(self, forget_posts_before(before))
    }

    async fn insert_job(&self, job: &JobRecord) -> Result<i64, StoreError> {
        timed!(self, insert_job(job))
    }

    async fn update_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        timed!(self, update_job(job))
    }

    async fn open_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        timed!(self, open_jobs())
    }

    async fn insert_leased_job(
        &self,
        job: &JobRecord,
        owner: &str,
        lease: Duration,
    ) -> Result<i64, StoreError> {
        timed!(self, insert_leased_job(job, owner, lease))
    }

    async fn claim_jobs(
        &self,
        owner: &str,
        lease: Duration,
        claim: Claim,
    ) -> Result<Vec<JobRecord>, StoreError> {
        timed!(self, claim_jobs(owner, lease, claim))
    }

    async fn renew_job_leases(
        &self,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        timed!(self, renew_job_leases(owner, ids, lease))
    }

    async fn release_job_leases(&self, owner: &str, keep: &[i64]) -> Result<u64, StoreError> {
        timed!(self, release_job_leases(owner, keep))
    }

    async fn update_leased_job(
        &self,
        job: &JobRecord,
        owner: &str,
        valid_for: Duration,
    ) -> Result<bool, StoreError> {
        timed!(self, update_leased_job(job, owner, valid_for))
    }

    async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        lease: Duration,
        claim: Claim,
    ) -> Result<Option<i64>, StoreError> {
        timed!(self, acquire_lease(name, owner, lease, claim))
    }

    async fn lease_held(
        &self,
        name: &str,
        owner: &str,
        fence: i64,
        valid_for: Duration,
    ) -> Result<bool, StoreError> {
        timed!(self, lease_held(name, owner, fence, valid_for))
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        timed!(self, release_lease(name, owner))
    }

    async fn recent_jobs(&self, limit: u32) -> Result<Vec<JobRecord>, StoreError> {
        timed!(self, recent_jobs(limit))
    }

    async fn subscribe(&self, s: &Subscription) -> Result<(), StoreError> {
        timed!(self, subscribe(s))
    }

    async fn unsubscribe(
        &self,
        platform: Platform,
        channel_id: &str,
        instance: &str,
        connector: &str,
    ) -> Result<bool, StoreError> {
        timed!(self, unsubscribe(platform, channel_id, instance, connector))
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        timed!(self, subscriptions())
    }

    async fn add_revision(&self, new: &NewRevision) -> Result<Option<Revision>, StoreError> {
        timed!(self, add_revision(new))
    }

    async fn revisions(
        &self,
        instance: &str,
        connector_id: &str,
        limit: u32,
    ) -> Result<RevisionPage, StoreError> {
        timed!(self, revisions(instance, connector_id, limit))
    }

    async fn revision(
        &self,
        instance: &str,
        connector_id: &str,
        seq: u64,
    ) -> Result<Option<Revision>, StoreError> {
        timed!(self, revision(instance, connector_id, seq))
    }

    async fn unannounced_revisions(&self, instance: &str) -> Result<Vec<Revision>, StoreError> {
        timed!(self, unannounced_revisions(instance))
    }

    async fn mark_revision_announced(&self, id: i64) -> Result<(), StoreError> {
        timed!(self, mark_revision_announced(id))
    }

    async fn handled_sync(
        &self,
        instance: &str,
        connector_id: &str,
    ) -> Result<Option<u64>, StoreError> {
        timed!(self, handled_sync(instance, connector_id))
    }

    async fn set_handled_sync(
        &self,
        instance: &str,
        connector_id: &str,
        id: u64,
    ) -> Result<(), StoreError> {
        timed!(self, set_handled_sync(instance, connector_id, id))
    }

    async fn announced(
        &self,
        platform: Platform,
        channel_id: &str,
        instance: &str,
        connector_id: &str,
    ) -> Result<Option<u64>, StoreError> {
        timed!(
            self,
            announced(platform, channel_id, instance, connector_id)
        )
    }

    async fn set_announced(
        &self,
        platform: Platform,
        channel_id: &str,
        instance: &str,
        connector_id: &str,
        sync_id: u64,
    ) -> Result<(), StoreError> {
        timed!(
            self,
            set_announced(platform, channel_id, instance, connector_id, sync_id)
        )
    }

    async fn outage(&self, instance: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        timed!(self, outage(instance))
    }

    async fn set_outage(
        &self,
        instance: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        timed!(self, set_outage(instance, since))
    }

    async fn take_lock(&self, lock: &LockRecord, take_over: bool) -> Result<bool, StoreError> {
        timed!(self, take_lock(lock, take_over))
    }

    async fn locks(&self, now: DateTime<Utc>) -> Result<Vec<LockRecord>, StoreError> {
        timed!(self, locks(now))
    }

    async fn remove_lock(&self, instance: &str, connector_id: &str) -> Result<bool, StoreError> {
        timed!(self, remove_lock(instance, connector_id))
    }

    async fn claim_protected_alert(
        &self,
        channel: &crate::domain::Principal,
        instance: &str,
        sync_id: u64,
    ) -> Result<bool, StoreError> {
        timed!(self, claim_protected_alert(channel, instance, sync_id))
    }

    async fn release_protected_alert(
        &self,
        channel: &crate::domain::Principal,
        instance: &str,
        sync_id: u64,
    ) -> Result<(), StoreError> {
        timed!(self, release_protected_alert(channel, instance, sync_id))
    }

    async fn bot_key(&self, name: &str, fresh: &str) -> Result<String, StoreError> {
        timed!(self, bot_key(name, fresh))
    }

    async fn insert_pending(&self, p: &PendingRecord) -> Result<(), StoreError> {
        timed!(self, insert_pending(p))
    }

    async fn pending(&self, id: &str) -> Result<Option<PendingRecord>, StoreError> {
        timed!(self, pending(id))
    }

    async fn settle_pending(
        &self,
        id: &str,
        state: PendingState,
        by: &str,
        replica: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        timed!(self, settle_pending(id, state, by, replica, at))
    }

    async fn pending_made(&self, id: &str) -> Result<bool, StoreError> {
        timed!(self, pending_made(id))
    }

    async fn approve(
        &self,
        pending_id: &str,
        approver: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        timed!(self, approve(pending_id, approver, at))
    }

    async fn approvals(&self, pending_id: &str) -> Result<Vec<String>, StoreError> {
        timed!(self, approvals(pending_id))
    }

    async fn record_deleted_directory(
        &self,
        instance: &str,
        connector_id: &str,
        directory_id: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        timed!(
            self,
            record_deleted_directory(instance, connector_id, directory_id, by, at)
        )
    }

    async fn record_sync_seen(
        &self,
        instance: &str,
        connector_id: &str,
        sync_id: u64,
        total: Option<u64>,
        deleted: Option<u64>,
    ) -> Result<(), StoreError> {
        timed!(
            self,
            record_sync_seen(instance, connector_id, sync_id, total, deleted)
        )
    }

    async fn previous_total(
        &self,
        instance: &str,
        connector_id: &str,
        before: u64,
    ) -> Result<Option<u64>, StoreError> {
        timed!(self, previous_total(instance, connector_id, before))
    }

    async fn raise_deletion_alert(&self, alert: &DeletionAlert) -> Result<bool, StoreError> {
        timed!(self, raise_deletion_alert(alert))
    }

    async fn open_deletion_alert(
        &self,
        instance: &str,
        connector_id: &str,
    ) -> Result<Option<DeletionAlert>, StoreError> {
        timed!(self, open_deletion_alert(instance, connector_id))
    }

    async fn acknowledge_deletion_alerts(
        &self,
        instance: &str,
        connector_id: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        timed!(
            self,
            acknowledge_deletion_alerts(instance, connector_id, by, at)
        )
    }

    async fn directory_deleted(
        &self,
        instance: &str,
        connector_id: &str,
        directory_id: &str,
    ) -> Result<bool, StoreError> {
        timed!(
            self,
            directory_deleted(instance, connector_id, directory_id)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_call_is_timed_under_its_method_name_and_answered_by_the_inner_store() {
        let dir = std::env::temp_dir().join(format!("usersync-bot-timed-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let url = format!("sqlite://{}", dir.join("bot.db").display());
        let Ok(inner) = open(&url).await else {
            panic!("a SQLite store opens in a temporary folder");
        };
        let durations = operation_durations();
        let store = TimedStore::wrap(inner, durations.clone());
        assert!(store.ping().await.is_ok());
        assert!(store.ping().await.is_ok());
        assert!(matches!(store.subscriptions().await.as_deref(), Ok([])));
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register(
            "store_operation_duration_seconds",
            "Store operations",
            durations,
        );
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap_or_default();
        assert!(
            text.contains("store_operation_duration_seconds_count{operation=\"ping\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "store_operation_duration_seconds_count{operation=\"subscriptions\"} 1\n"
            ),
            "{text}"
        );
        assert!(!text.contains("operation=\"locks\""), "{text}");
        let _ = std::fs::remove_dir_all(dir);
    }
}

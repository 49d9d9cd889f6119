//! The audit writer: rows are written in the background, in batches, so that answering a
//! command never waits on the disk. The queue is unbounded on purpose: under overload a
//! reply is never held up and no acknowledged row is dropped; the backlog is reported in
//! the log and in `/metrics` instead.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{AuditEntry, Store};

/// Audit rows written in one transaction at most.
const AUDIT_BATCH: usize = 512;
/// How long the writer gathers rows after the first one before it writes them: few,
/// large transactions instead of one wake-up of the database thread per command. Well
/// inside the promise that a row is committed within a second of its reply.
const AUDIT_LINGER: Duration = Duration::from_millis(100);
/// How often the writer looks whether a batch is full while it gathers one.
const AUDIT_LOOK_EVERY: Duration = Duration::from_millis(5);
/// Rows waiting past which the writer says it is behind (once per `BACKLOG_WARN_EVERY`).
const BACKLOG_WARN: i64 = 10_000;
const BACKLOG_WARN_EVERY: Duration = Duration::from_secs(5);
/// Pause before a failed batch is written again, doubled up to the cap.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_CAP: Duration = Duration::from_secs(5);

/// What the writer has done, for `/metrics` (registered there under these names).
#[derive(Debug, Default)]
pub struct AuditStats {
    /// Rows handed to the writer and not yet written (`audit_backlog`).
    pub backlog: Gauge,
    /// `audit_rows_written_total`.
    pub written: Counter,
    /// `audit_write_failures_total`.
    pub write_failures: Counter,
    /// Why the batch being written now failed its last try; `None` once one succeeds.
    /// `/readyz` says so: a store that answers but cannot take rows (full, read-only) is
    /// not ready.
    failing: std::sync::Mutex<Option<String>>,
}

impl AuditStats {
    /// The reason the writer is failing now, if it is.
    pub fn failing(&self) -> Option<String> {
        self.failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_failing(&self, reason: Option<String>) {
        *self.failing.lock().unwrap_or_else(|p| p.into_inner()) = reason;
    }
}

/// Writes audit rows in the background, in batches.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::UnboundedSender<AuditEntry>,
    pub stats: Arc<AuditStats>,
}

impl AuditLog {
    pub fn spawn(store: Arc<dyn Store>) -> (AuditLog, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel::<AuditEntry>();
        let stats = Arc::new(AuditStats::default());
        let writer = tokio::spawn(write_all(store, rx, stats.clone()));
        (AuditLog { tx, stats }, writer)
    }

    pub fn record(&self, entry: AuditEntry) {
        self.stats.backlog.inc();
        if self.tx.send(entry).is_err() {
            self.stats.backlog.dec();
            tracing::error!("audit writer has stopped; an audit row was not written");
        }
    }
}

/// Takes rows off the queue in batches until every sender is gone and the queue is empty.
async fn write_all(
    store: Arc<dyn Store>,
    mut rx: mpsc::UnboundedReceiver<AuditEntry>,
    stats: Arc<AuditStats>,
) {
    let mut warned: Option<tokio::time::Instant> = None;
    while let Some(first) = rx.recv().await {
        // A look at the queue every few milliseconds, not a wake-up for every row: the
        // rows that come meanwhile wait in the queue. A full batch, the end of the
        // linger, or shutting down writes now; so batches stay small and even under
        // load, and the database thread never takes the core for long at once.
        let deadline = tokio::time::Instant::now() + AUDIT_LINGER;
        while rx.len() + 1 < AUDIT_BATCH && !rx.is_closed() {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep(AUDIT_LOOK_EVERY.min(deadline - now)).await;
        }
        let mut batch = Vec::with_capacity((rx.len() + 1).min(AUDIT_BATCH));
        batch.push(first);
        while batch.len() < AUDIT_BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        let backlog = stats.backlog.get();
        if backlog > BACKLOG_WARN && warned.is_none_or(|at| at.elapsed() >= BACKLOG_WARN_EVERY) {
            warned = Some(tokio::time::Instant::now());
            tracing::warn!(
                backlog,
                "the audit writer is behind; replies are not held up and no row is dropped"
            );
        }
        write_batch(store.as_ref(), &batch, &stats).await;
    }
}

/// Writes one batch, trying again (with a growing pause) until the store takes it: a
/// locked or briefly unreachable database must not lose acknowledged rows.
async fn write_batch(store: &dyn Store, batch: &[AuditEntry], stats: &AuditStats) {
    let mut pause = RETRY_FIRST;
    let mut failed = false;
    loop {
        match store.record_audits(batch).await {
            Ok(()) => {
                if failed {
                    stats.set_failing(None);
                    tracing::info!(rows = batch.len(), "audit rows written after failed tries");
                }
                stats
                    .written
                    .inc_by(u64::try_from(batch.len()).unwrap_or(u64::MAX));
                stats
                    .backlog
                    .dec_by(i64::try_from(batch.len()).unwrap_or(i64::MAX));
                return;
            }
            Err(e) => {
                stats.write_failures.inc();
                failed = true;
                stats.set_failing(Some(
                    e.to_string().lines().next().unwrap_or_default().into(),
                ));
                tracing::warn!(error = %e, rows = batch.len(), ?pause, "audit write failed; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_CAP);
            }
        }
    }
}

//! The audit writer: rows are written in the background, in batches, so that answering a
//! command never waits on the disk.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{AuditEntry, Store};

/// Audit rows written in one transaction at most.
const AUDIT_BATCH: usize = 512;

/// Writes audit rows in the background, in batches, so that answering a command never
/// waits on the disk.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::UnboundedSender<AuditEntry>,
}

impl AuditLog {
    pub fn spawn(store: Arc<dyn Store>) -> (AuditLog, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<AuditEntry>();
        let writer = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < AUDIT_BATCH {
                    match rx.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(_) => break,
                    }
                }
                if let Err(e) = store.record_audits(&batch).await {
                    // One retry after a pause: a locked database usually frees up.
                    tracing::warn!(error = %e, rows = batch.len(), "audit write failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if let Err(e) = store.record_audits(&batch).await {
                        tracing::error!(error = %e, rows = batch.len(), "audit rows could not be written");
                    }
                }
            }
        });
        (AuditLog { tx }, writer)
    }

    pub fn record(&self, entry: AuditEntry) {
        if self.tx.send(entry).is_err() {
            tracing::error!("audit writer has stopped; an audit row was not written");
        }
    }
}

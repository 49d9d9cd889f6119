//! What the client measures of its calls: one count and one duration per call, by
//! instance, endpoint and status. The endpoint is the name of a path template, never the
//! URL (which carries ids); the app registers these families in its registry.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use super::error::UserSyncError;

/// The calls of the User Sync API, each named after its path template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /connector/`
    Connectors,
    /// `GET /connector/{id}`
    Connector,
    /// `PATCH /connector/{id}`
    Patch,
    /// `POST /connector/{id}/sync`
    Sync,
    /// `POST /connector/{id}/syncsingle` (1.9: `…/syncsingle/{user}`)
    User,
    /// `GET /connector/{id}/syncstatus`
    Syncstatus,
    /// `GET /syncstatus/{id}`
    SyncById,
    /// `GET /syncstatus/{id}/results`
    Results,
    /// `DELETE /directory/{id}`
    Directory,
}

impl Endpoint {
    pub const ALL: [Endpoint; 9] = [
        Endpoint::Connectors,
        Endpoint::Connector,
        Endpoint::Patch,
        Endpoint::Sync,
        Endpoint::User,
        Endpoint::Syncstatus,
        Endpoint::SyncById,
        Endpoint::Results,
        Endpoint::Directory,
    ];

    /// The `endpoint` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Connectors => "connectors",
            Endpoint::Connector => "connector",
            Endpoint::Patch => "patch",
            Endpoint::Sync => "sync",
            Endpoint::User => "user",
            Endpoint::Syncstatus => "syncstatus",
            Endpoint::SyncById => "sync_by_id",
            Endpoint::Results => "results",
            Endpoint::Directory => "directory",
        }
    }
}

/// Labels of a call's count.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CallLabels {
    pub instance: String,
    pub endpoint: &'static str,
    /// The HTTP status, or `timeout`, or `error` (no answer: cannot connect, cut off).
    pub status: String,
}

/// Labels of a call's duration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EndpointLabels {
    pub instance: String,
    pub endpoint: &'static str,
}

/// Upper bounds of the call durations, in seconds (the client's timeout is 10 s).
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Calls counted and timed. Cheap to clone: every clone counts into the same families.
#[derive(Debug, Clone)]
pub struct UpstreamMetrics {
    pub requests: Family<CallLabels, Counter>,
    pub durations: Family<EndpointLabels, Histogram, fn() -> Histogram>,
}

impl Default for UpstreamMetrics {
    fn default() -> Self {
        UpstreamMetrics {
            requests: Family::default(),
            durations: Family::new_with_constructor(histogram),
        }
    }
}

impl UpstreamMetrics {
    /// Counts one call and its duration.
    pub fn observe(&self, instance: &str, endpoint: Endpoint, status: String, took: Duration) {
        self.requests
            .get_or_create(&CallLabels {
                instance: instance.to_string(),
                endpoint: endpoint.as_str(),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&EndpointLabels {
                instance: instance.to_string(),
                endpoint: endpoint.as_str(),
            })
            .observe(took.as_secs_f64());
    }
}

/// The `status` label of a call's result: the HTTP status when there was an answer.
pub(super) fn status_label(result: Result<u16, &UserSyncError>) -> String {
    match result {
        Ok(status) => status.to_string(),
        Err(
            UserSyncError::CredentialsRejected { status, .. }
            | UserSyncError::Rejected { status, .. }
            | UserSyncError::Upstream { status, .. },
        ) => status.to_string(),
        Err(UserSyncError::NotFound { .. }) => "404".into(),
        Err(UserSyncError::Timeout { .. }) => "timeout".into(),
        Err(_) => "error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_label_is_a_name_without_slashes_or_ids() {
        let mut names: Vec<&str> = Endpoint::ALL.iter().map(|e| e.as_str()).collect();
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Endpoint::ALL.len());
    }

    #[test]
    fn the_status_label_is_the_http_status_or_timeout_or_error() {
        let instance = || "jira".to_string();
        assert_eq!(status_label(Ok(200)), "200");
        assert_eq!(
            status_label(Err(&UserSyncError::NotFound {
                instance: instance(),
                what: "x".into(),
                message: None
            })),
            "404"
        );
        assert_eq!(
            status_label(Err(&UserSyncError::Upstream {
                instance: instance(),
                status: 503,
                message: None
            })),
            "503"
        );
        assert_eq!(
            status_label(Err(&UserSyncError::Timeout {
                instance: instance(),
                timeout: Duration::from_secs(1)
            })),
            "timeout"
        );
        assert_eq!(
            status_label(Err(&UserSyncError::CannotConnect {
                instance: instance(),
                url: "http://x".into()
            })),
            "error"
        );
    }
}

//! `[cluster]`: several replicas on one database, each holding leases on the jobs it
//! follows and, for one of them, on the watcher.

use std::time::Duration;

use super::{duration, Problems};
use crate::config::raw::RawCluster;
use crate::config::{ClusterConfig, DEFAULT_LEASE};

/// Shorter leases would be renewed (every third) more often than a busy database answers.
const MIN_LEASE: Duration = Duration::from_secs(3);
/// Longer leases would leave a dead replica's jobs unfollowed for too long.
const MAX_LEASE: Duration = Duration::from_secs(5 * 60);

pub(super) fn cluster(raw: Option<RawCluster>, p: &mut Problems) -> ClusterConfig {
    let text = raw.as_ref().and_then(|c| c.lease.as_deref());
    let lease = duration(text, "cluster.lease", DEFAULT_LEASE, p);
    if !(MIN_LEASE..=MAX_LEASE).contains(&lease) {
        p.push(format!(
            "cluster.lease: {} is not between \"3s\" and \"5m\"",
            humantime::format_duration(lease)
        ));
        return ClusterConfig::default();
    }
    ClusterConfig { lease }
}

#[cfg(test)]
mod tests {
    use super::super::check;
    use super::*;

    #[test]
    fn the_lease_defaults_and_stays_within_bounds() {
        let mut p = Problems::default();
        assert_eq!(cluster(None, &mut p).lease, DEFAULT_LEASE);
        assert!(p.is_empty());
        let (made, problems) = check("lease = \"3s\"", |r, p| cluster(Some(r), p));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(made.lease, Duration::from_secs(3));
        let (made, problems) = check("lease = \"5m\"", |r, p| cluster(Some(r), p));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(made.lease, Duration::from_secs(300));
        for (text, shown) in [("2999ms", "2s 999ms"), ("301s", "5m 1s")] {
            let (made, problems) =
                check(&format!("lease = \"{text}\""), |r, p| cluster(Some(r), p));
            assert_eq!(
                problems,
                [format!(
                    "cluster.lease: {shown} is not between \"3s\" and \"5m\""
                )]
            );
            assert_eq!(made, ClusterConfig::default());
        }
    }
}

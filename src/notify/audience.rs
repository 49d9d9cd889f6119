//! Who hears about a finished sync, and why, and who hears about a change of a
//! connector's settings: pure functions of the configured routes, the chat subscriptions
//! and the sync record.

use std::collections::BTreeMap;

use crate::config::{names_connector, NotifyOn, NotifyRoute};
use crate::domain::Principal;
use crate::reply::announce::Reason;
use crate::store::Subscription;
use crate::usersync::{Connector, SyncStatus};

/// Whether a route's connector list names this connector (`*`, its id or its name).
pub fn matches_connector(list: &[String], c: &Connector) -> bool {
    names_connector(list, &c.unique_id, c.name.as_deref())
}

fn route_covers(r: &NotifyRoute, instance: &str) -> bool {
    r.covers_instance(instance)
}

fn subscription_covers(s: &Subscription, instance: &str, c: &Connector) -> bool {
    s.covers(instance, &c.unique_id)
}

/// Whether anyone asked to hear about this instance at all.
pub fn instance_wanted(routes: &[NotifyRoute], subs: &[Subscription], instance: &str) -> bool {
    routes.iter().any(|r| route_covers(r, instance))
        || subs
            .iter()
            .any(|s| s.instance.is_empty() || s.instance == instance)
}

/// Whether anyone asked to hear about this connector.
pub fn is_watched(
    routes: &[NotifyRoute],
    subs: &[Subscription],
    instance: &str,
    c: &Connector,
) -> bool {
    routes
        .iter()
        .any(|r| route_covers(r, instance) && matches_connector(&r.connectors, c))
        || subs.iter().any(|s| subscription_covers(s, instance, c))
}

/// Why a threshold fired, if one did.
pub fn threshold_reason(
    deleted: u64,
    max_deleted: Option<u64>,
    failed: u64,
    max_failed: Option<u64>,
    whose: &str,
) -> Option<String> {
    if let Some(max) = max_deleted.filter(|m| deleted > *m) {
        return Some(format!(
            "deleted {deleted} users — more than the {max} set for {whose}"
        ));
    }
    if let Some(max) = max_failed.filter(|m| failed > *m) {
        return Some(format!(
            "failed {failed} users — more than the {max} set for {whose}"
        ));
    }
    None
}

/// Keeps the strongest reason per channel: a threshold over a failure over a success.
fn add(out: &mut BTreeMap<Principal, Reason>, channel: Principal, reason: Reason) {
    let better = matches!(
        (out.get(&channel), &reason),
        (None, _) | (Some(Reason::Success), _) | (Some(Reason::Failure), Reason::Threshold(_))
    );
    if better {
        out.insert(channel, reason);
    }
}

fn route_reason(r: &NotifyRoute, s: &SyncStatus) -> Option<Reason> {
    let (deleted, failed_users) = (s.deleted_count.unwrap_or(0), s.failed_count.unwrap_or(0));
    if r.on.contains(&NotifyOn::Threshold) {
        if let Some(t) = threshold_reason(
            deleted,
            r.max_deleted,
            failed_users,
            r.max_failed,
            "this route",
        ) {
            return Some(Reason::Threshold(t));
        }
    }
    match s.is_failure() {
        true if r.on.contains(&NotifyOn::Failure) => Some(Reason::Failure),
        false if r.on.contains(&NotifyOn::Success) => Some(Reason::Success),
        _ => None,
    }
}

fn subscription_reason(sub: &Subscription, s: &SyncStatus) -> Option<Reason> {
    if let Some(t) = threshold_reason(
        s.deleted_count.unwrap_or(0),
        sub.max_deleted,
        0,
        None,
        "this channel",
    ) {
        Some(Reason::Threshold(t))
    } else if s.is_failure() {
        Some(Reason::Failure)
    } else {
        (!sub.failures_only).then_some(Reason::Success)
    }
}

/// The channels that hear about a sync, and why.
pub fn audience(
    routes: &[NotifyRoute],
    subs: &[Subscription],
    instance: &str,
    c: &Connector,
    s: &SyncStatus,
) -> BTreeMap<Principal, Reason> {
    let mut out = BTreeMap::new();
    for r in routes
        .iter()
        .filter(|r| route_covers(r, instance) && matches_connector(&r.connectors, c))
    {
        if let Some(reason) = route_reason(r, s) {
            add(&mut out, r.channel.clone(), reason);
        }
    }
    for sub in subs
        .iter()
        .filter(|sub| subscription_covers(sub, instance, c))
    {
        if let Some(reason) = subscription_reason(sub, s) {
            add(
                &mut out,
                Principal::new(sub.platform, sub.channel_id.clone()),
                reason,
            );
        }
    }
    out
}

/// Whether a route hears about changes of connector settings on this instance.
pub fn changes_wanted(routes: &[NotifyRoute], instance: &str) -> bool {
    routes
        .iter()
        .any(|r| r.on.contains(&NotifyOn::Change) && route_covers(r, instance))
}

/// The channels that hear about a change of a connector's settings: every route with
/// `change` that covers the connector, each channel once, in order.
pub fn change_channels(
    routes: &[NotifyRoute],
    instance: &str,
    connector_id: &str,
    connector_name: &str,
) -> Vec<Principal> {
    let c = Connector {
        unique_id: connector_id.to_string(),
        name: Some(connector_name.to_string()),
        extra: Default::default(),
    };
    let mut channels: Vec<Principal> = routes
        .iter()
        .filter(|r| {
            r.on.contains(&NotifyOn::Change)
                && route_covers(r, instance)
                && matches_connector(&r.connectors, &c)
        })
        .map(|r| r.channel.clone())
        .collect();
    channels.sort();
    channels.dedup();
    channels
}

/// Channels that want to hear about failures on an instance (for outage reports).
pub fn failure_channels(
    routes: &[NotifyRoute],
    subs: &[Subscription],
    instance: &str,
) -> Vec<Principal> {
    let mut channels: Vec<Principal> = routes
        .iter()
        .filter(|r| r.on.contains(&NotifyOn::Failure) && route_covers(r, instance))
        .map(|r| r.channel.clone())
        .chain(
            subs.iter()
                .filter(|s| s.instance.is_empty() || s.instance == instance)
                .map(|s| Principal::new(s.platform, s.channel_id.clone())),
        )
        .collect();
    channels.sort();
    channels.dedup();
    channels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Platform;

    fn connector() -> Connector {
        serde_json::from_value(serde_json::json!({"uniqueId": "c1", "name": "Okta"})).unwrap()
    }

    fn sync(status: &str, deleted: u64, failed: u64) -> SyncStatus {
        serde_json::from_value(serde_json::json!({
            "id": 9, "status": status, "deletedCount": deleted, "failedCount": failed
        }))
        .unwrap()
    }

    fn route(channel: &str, on: &[NotifyOn], max_deleted: Option<u64>) -> NotifyRoute {
        NotifyRoute {
            instance: None,
            connectors: vec!["okta".into()],
            channel: Principal::parse(channel).unwrap(),
            on: on.to_vec(),
            max_deleted,
            max_failed: None,
        }
    }

    fn sub(channel: &str, failures_only: bool, max_deleted: Option<u64>) -> Subscription {
        Subscription {
            id: 1,
            platform: Platform::Slack,
            channel_id: channel.into(),
            instance: String::new(),
            connector: "c1".into(),
            connector_name: "Okta".into(),
            failures_only,
            max_deleted,
            created_by: "slack:U1".into(),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn changes_go_to_the_routes_that_hear_about_them_once_per_channel() {
        let ops = Principal::parse("slack:COPS").unwrap();
        let mm = Principal::parse("mattermost:mmops").unwrap();
        let mut conf_only = route("slack:CCONF", &[NotifyOn::Change], None);
        conf_only.instance = Some("conf".into());
        let mut azure = route("slack:CAZURE", &[NotifyOn::Change], None);
        azure.connectors = vec!["azure-id".into()];
        let routes = vec![
            route("slack:COPS", &[NotifyOn::Change], None),
            route("slack:COPS", &[NotifyOn::Failure, NotifyOn::Change], None),
            route("mattermost:mmops", &[NotifyOn::Change], None),
            route("slack:CFAIL", &[NotifyOn::Failure], None),
            conf_only,
            azure,
        ];
        type Case<'a> = (&'a str, &'a str, &'a str, Vec<Principal>);
        let cases: Vec<Case> = vec![
            ("jira", "c1", "Okta", vec![ops.clone(), mm.clone()]),
            ("JIRA", "c1", "OKTA", vec![ops.clone(), mm.clone()]),
            ("jira", "c2", "Azure AD", vec![]),
            (
                "jira",
                "azure-id",
                "Azure AD",
                vec![Principal::parse("slack:CAZURE").unwrap()],
            ),
            (
                "conf",
                "c1",
                "Okta",
                vec![
                    Principal::parse("slack:CCONF").unwrap(),
                    ops.clone(),
                    mm.clone(),
                ],
            ),
        ];
        for (instance, id, name, expected) in cases {
            let mut expected = expected;
            expected.sort();
            assert_eq!(
                change_channels(&routes, instance, id, name),
                expected,
                "{instance} {id} {name}"
            );
        }
        assert!(changes_wanted(&routes, "jira"));
        assert!(!changes_wanted(&routes[3..4], "jira"));
        // A route that hears about changes only announces no sync.
        let only_changes = vec![route("slack:COPS", &[NotifyOn::Change], None)];
        for s in [sync("DONE", 0, 0), sync("FAILED", 0, 0)] {
            assert!(audience(&only_changes, &[], "jira", &connector(), &s).is_empty());
        }
        assert!(failure_channels(&only_changes, &[], "jira").is_empty());
    }

    #[test]
    fn thresholds_say_why_they_fired() {
        assert_eq!(
            threshold_reason(240, Some(50), 0, None, "this channel").as_deref(),
            Some("deleted 240 users — more than the 50 set for this channel")
        );
        assert_eq!(threshold_reason(50, Some(50), 0, None, "x"), None);
        assert_eq!(
            threshold_reason(0, Some(50), 3, Some(0), "this route").as_deref(),
            Some("failed 3 users — more than the 0 set for this route")
        );
    }

    #[test]
    fn who_hears_what_is_one_line_per_case() {
        let c = connector();
        let ops = Principal::parse("slack:COPS").unwrap();
        let done = sync("DONE", 0, 0);
        let failed = sync("FAILED", 0, 0);
        let purge = sync("DONE", 300, 0);
        type Case<'a> = (
            Vec<NotifyRoute>,
            Vec<Subscription>,
            &'a SyncStatus,
            Option<Reason>,
        );
        let cases: Vec<Case> = vec![
            (
                vec![route("slack:COPS", &[NotifyOn::Failure], None)],
                vec![],
                &done,
                None,
            ),
            (
                vec![route("slack:COPS", &[NotifyOn::Failure], None)],
                vec![],
                &failed,
                Some(Reason::Failure),
            ),
            (
                vec![route("slack:COPS", &[NotifyOn::Success], None)],
                vec![],
                &done,
                Some(Reason::Success),
            ),
            (
                vec![route("slack:COPS", &[NotifyOn::Threshold], Some(50))],
                vec![],
                &purge,
                Some(Reason::Threshold(
                    "deleted 300 users — more than the 50 set for this route".into(),
                )),
            ),
            (vec![], vec![sub("COPS", true, None)], &done, None),
            (
                vec![],
                vec![sub("COPS", false, None)],
                &done,
                Some(Reason::Success),
            ),
            (
                vec![route("slack:COPS", &[NotifyOn::Success], None)],
                vec![sub("COPS", false, Some(100))],
                &purge,
                Some(Reason::Threshold(
                    "deleted 300 users — more than the 100 set for this channel".into(),
                )),
            ),
        ];
        for (i, (routes, subs, s, expected)) in cases.into_iter().enumerate() {
            let got = audience(&routes, &subs, "jira", &c, s);
            assert_eq!(got.get(&ops).cloned(), expected, "case {i}");
            assert!(got.len() <= 1, "case {i}: {got:?}");
        }
    }
}

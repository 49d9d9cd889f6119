//! `[[notify]]`: routes announcing finished syncs (and, with `on = ["change"]`, changes of
//! connector settings) in a channel. Checked last, because a route may name an instance.

use super::Problems;
use crate::config::raw::RawNotify;
use crate::config::{NotifyOn, NotifyRoute};
use crate::domain::Principal;
use crate::usersync::InstanceConfig;

pub(super) fn notify(
    raw: Vec<RawNotify>,
    instances: &[InstanceConfig],
    p: &mut Problems,
) -> Vec<NotifyRoute> {
    raw.into_iter()
        .enumerate()
        .filter_map(|(i, n)| route(n, &format!("notify[{i}]"), instances, p))
        .collect()
}

/// One route; `None` when its channel is unusable, as nothing more can be said about it.
fn route(
    n: RawNotify,
    key: &str,
    instances: &[InstanceConfig],
    p: &mut Problems,
) -> Option<NotifyRoute> {
    check_instance(n.instance.as_deref(), key, instances, p);
    let channel = Principal::parse(&n.channel)
        .map_err(|e| p.push(format!("{key}.channel: {e}")))
        .ok()?;
    let on = notify_on(&n.on, key, p);
    if on.contains(&NotifyOn::Threshold) && n.max_deleted.is_none() && n.max_failed.is_none() {
        p.push(format!(
            "{key}.on: \"threshold\" needs max_deleted or max_failed"
        ));
    }
    let connectors = if n.connectors.is_empty() {
        vec!["*".into()]
    } else {
        n.connectors
    };
    Some(NotifyRoute {
        instance: n.instance,
        connectors,
        channel,
        on,
        max_deleted: n.max_deleted,
        max_failed: n.max_failed,
    })
}

/// A route naming an instance that does not exist would never announce anything.
pub(super) fn check_instance(
    name: Option<&str>,
    key: &str,
    instances: &[InstanceConfig],
    p: &mut Problems,
) {
    let Some(name) = name else {
        return;
    };
    if !instances.iter().any(|c| c.name.eq_ignore_ascii_case(name)) {
        p.push(format!("{key}.instance: no instance is called {name:?}"));
    }
}

/// What the route announces; failures only when not said, the case people ask for.
fn notify_on(raw: &[String], key: &str, p: &mut Problems) -> Vec<NotifyOn> {
    let mut on = Vec::new();
    for (j, text) in raw.iter().enumerate() {
        match NotifyOn::parse(text) {
            Ok(kind) => on.push(kind),
            Err(e) => p.push(format!("{key}.on[{j}]: {e}")),
        }
    }
    if on.is_empty() {
        on.push(NotifyOn::Failure);
    }
    on
}

#[cfg(test)]
mod tests {
    use super::super::check;
    use super::*;
    use crate::config::raw::RawNotify;

    fn check_notify(toml: &str) -> (Vec<NotifyRoute>, Vec<String>) {
        #[derive(serde::Deserialize)]
        struct File {
            notify: Vec<RawNotify>,
        }
        check(toml, |f: File, p: &mut Problems| notify(f.notify, &[], p))
    }

    #[test]
    fn a_route_defaults_to_failures_of_every_connector() {
        let (routes, problems) = check_notify("[[notify]]\nchannel = \"slack:C1\"");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(routes[0].on, [NotifyOn::Failure]);
        assert_eq!(routes[0].connectors, ["*"]);
    }

    #[test]
    fn a_threshold_route_needs_a_threshold() {
        let text = "[[notify]]\nchannel = \"slack:C1\"\non = [\"success\", \"threshold\"]";
        let (_, problems) = check_notify(text);
        assert_eq!(
            problems,
            ["notify[0].on: \"threshold\" needs max_deleted or max_failed"]
        );
    }

    #[test]
    fn an_unknown_kind_lists_the_accepted_ones() {
        let (_, problems) = check_notify("[[notify]]\nchannel = \"slack:C1\"\non = [\"always\"]");
        assert_eq!(
            problems,
            ["notify[0].on[0]: \"always\" is not one of \"success\", \"failure\", \"threshold\", \"change\""]
        );
    }

    #[test]
    fn a_route_may_hear_about_changes_alone_or_with_syncs() {
        let (routes, problems) =
            check_notify("[[notify]]\nchannel = \"slack:C1\"\non = [\"change\"]\n\n[[notify]]\nchannel = \"slack:C2\"\non = [\"failure\", \"change\"]");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(routes[0].on, [NotifyOn::Change]);
        assert_eq!(routes[1].on, [NotifyOn::Failure, NotifyOn::Change]);
    }

    #[test]
    fn a_route_to_an_unknown_instance_is_refused() {
        let text = "[[notify]]\nchannel = \"slack:C1\"\ninstance = \"jira\"";
        let (_, problems) = check_notify(text);
        assert_eq!(
            problems,
            ["notify[0].instance: no instance is called \"jira\""]
        );
    }
}

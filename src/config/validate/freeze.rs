//! `[[freeze]]`: change freezes — from `from` until `until`, the connectors named may be
//! changed by admins only. Checked after the instances, because a freeze may name one.

use chrono::{DateTime, Utc};

use super::notify::check_instance;
use super::Problems;
use crate::config::raw::RawFreeze;
use crate::config::Freeze;
use crate::usersync::InstanceConfig;

/// How a time is asked for in problems.
const EXAMPLE: &str = "\"2026-12-20T00:00:00Z\"";

pub(super) fn freezes(
    raw: Vec<RawFreeze>,
    instances: &[InstanceConfig],
    p: &mut Problems,
) -> Vec<Freeze> {
    raw.into_iter()
        .enumerate()
        .filter_map(|(i, f)| freeze(f, &format!("freeze[{i}]"), instances, p))
        .collect()
}

/// One freeze; `None` when something about it is wrong (every problem is listed).
fn freeze(
    f: RawFreeze,
    key: &str,
    instances: &[InstanceConfig],
    p: &mut Problems,
) -> Option<Freeze> {
    let before = p.count();
    check_instance(f.instance.as_deref(), key, instances, p);
    if f.connectors.is_empty() {
        p.push(format!(
            "{key}.connectors: name the connectors frozen (names or ids), or \"*\" for all"
        ));
    }
    for (j, c) in f.connectors.iter().enumerate() {
        if c.trim().is_empty() {
            p.push(format!("{key}.connectors[{j}]: is empty"));
        }
    }
    let from = time(f.from.as_ref(), &format!("{key}.from"), "starts", p);
    let until = time(f.until.as_ref(), &format!("{key}.until"), "ends", p);
    if let (Some(from), Some(until)) = (from, until) {
        if from >= until {
            p.push(format!(
                "{key}: from ({}) must be before until ({})",
                from.to_rfc3339(),
                until.to_rfc3339()
            ));
        }
    }
    let reason = f.reason.as_deref().map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        p.push(format!(
            "{key}.reason: say why: the reason is shown to everyone the freeze refuses"
        ));
    }
    if p.count() > before {
        return None;
    }
    Some(Freeze {
        instance: f.instance,
        connectors: f.connectors,
        from: from?,
        until: until?,
        reason: reason.to_string(),
    })
}

/// An RFC 3339 time with its offset, as a string or a TOML offset date-time.
fn time(
    raw: Option<&toml::Value>,
    key: &str,
    what: &str,
    p: &mut Problems,
) -> Option<DateTime<Utc>> {
    let text = match raw {
        None => {
            p.push(format!(
                "{key}: missing: when the freeze {what}, in RFC 3339 like {EXAMPLE}"
            ));
            return None;
        }
        Some(toml::Value::String(s)) => s.clone(),
        Some(toml::Value::Datetime(d)) => d.to_string(),
        Some(other) => {
            p.push(format!(
                "{key}: must be a time in RFC 3339 like {EXAMPLE}, not a {}",
                other.type_str()
            ));
            return None;
        }
    };
    match DateTime::parse_from_rfc3339(&text) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            p.push(format!(
                "{key}: {text:?} is not an RFC 3339 time with its offset, like {EXAMPLE}"
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::check;
    use super::*;

    fn check_freezes(toml: &str) -> (Vec<Freeze>, Vec<String>) {
        #[derive(serde::Deserialize)]
        struct File {
            freeze: Vec<RawFreeze>,
        }
        check(toml, |f: File, p: &mut Problems| freezes(f.freeze, &[], p))
    }

    #[test]
    fn a_freeze_reads_its_times_as_strings_or_toml_date_times() {
        let (made, problems) = check_freezes(
            "[[freeze]]\nconnectors = [\"okta\"]\nfrom = \"2026-12-20T00:00:00+01:00\"\n\
             until = 2027-01-04T00:00:00Z\nreason = \" Year-end freeze \"\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(made.len(), 1);
        assert_eq!(made[0].from.to_rfc3339(), "2026-12-19T23:00:00+00:00");
        assert_eq!(made[0].until.to_rfc3339(), "2027-01-04T00:00:00+00:00");
        assert_eq!(made[0].reason, "Year-end freeze");
        assert_eq!(made[0].connectors, ["okta"]);
        assert_eq!(made[0].instance, None);
    }

    #[test]
    fn every_problem_of_a_freeze_is_listed() {
        let (made, problems) = check_freezes(
            "[[freeze]]\ninstance = \"conf\"\nconnectors = []\nfrom = \"tomorrow\"\n\
             until = 2027-01-04T00:00:00\nreason = \"  \"\n\
             [[freeze]]\nconnectors = [\"*\", \"\"]\nuntil = 5\n\
             [[freeze]]\nconnectors = [\"*\"]\nfrom = \"2027-01-04T00:00:00Z\"\n\
             until = \"2026-12-20T00:00:00Z\"\nreason = \"backwards\"\n",
        );
        assert!(made.is_empty());
        assert_eq!(
            problems,
            [
                "freeze[0].instance: no instance is called \"conf\"",
                "freeze[0].connectors: name the connectors frozen (names or ids), or \"*\" for all",
                "freeze[0].from: \"tomorrow\" is not an RFC 3339 time with its offset, like \"2026-12-20T00:00:00Z\"",
                "freeze[0].until: \"2027-01-04T00:00:00\" is not an RFC 3339 time with its offset, like \"2026-12-20T00:00:00Z\"",
                "freeze[0].reason: say why: the reason is shown to everyone the freeze refuses",
                "freeze[1].connectors[1]: is empty",
                "freeze[1].from: missing: when the freeze starts, in RFC 3339 like \"2026-12-20T00:00:00Z\"",
                "freeze[1].until: must be a time in RFC 3339 like \"2026-12-20T00:00:00Z\", not a integer",
                "freeze[1].reason: say why: the reason is shown to everyone the freeze refuses",
                "freeze[2]: from (2027-01-04T00:00:00+00:00) must be before until (2026-12-20T00:00:00+00:00)",
            ]
        );
    }
}

//! `public_url` and `[confirm]`: where the bot's buttons send their clicks, and how long a
//! confirmation waits for one.

use std::time::Duration;

use super::{duration, Problems};
use crate::authz::RoleTable;
use crate::config::raw::{RawConfirm, RawGuards};
use crate::config::{ConfirmConfig, GuardsConfig, DEFAULT_CONFIRM_TTL};
use crate::domain::{Platform, Role};

/// A confirmation cannot outlive the `response_url` its prompt is edited through.
const MAX_CONFIRM_TTL: Duration = Duration::from_secs(30 * 60);

pub(super) fn confirm(raw: Option<RawConfirm>, p: &mut Problems) -> ConfirmConfig {
    let text = raw.as_ref().and_then(|c| c.ttl.as_deref());
    let ttl = duration(text, "confirm.ttl", DEFAULT_CONFIRM_TTL, p);
    if ttl > MAX_CONFIRM_TTL {
        p.push("confirm.ttl: at most \"30m\" (a prompt is edited through its response_url, which lasts 30 minutes)");
    }
    ConfirmConfig { ttl }
}

/// Most admins a deletion may wait for: more could never be gathered in a ttl.
const MAX_APPROVALS: u32 = 5;

pub(super) fn guards(raw: Option<RawGuards>, p: &mut Problems) -> GuardsConfig {
    let d = GuardsConfig::default();
    let Some(g) = raw else { return d };
    let approvals = match g.delete_directory_approvals {
        None => d.delete_directory_approvals,
        Some(n) if (1..=MAX_APPROVALS).contains(&n) => n,
        Some(n) => {
            p.push(format!(
                "guards.delete_directory_approvals: {n} is not between 1 and {MAX_APPROVALS}"
            ));
            d.delete_directory_approvals
        }
    };
    let share = match g.max_deleted_share {
        Some(x) if !(x > 0.0 && x <= 1.0) => {
            p.push(format!(
                "guards.max_deleted_share: {x} is not a share of users above 0 and at most 1 (like 0.2)"
            ));
            None
        }
        other => other,
    };
    GuardsConfig {
        delete_directory_approvals: approvals,
        max_deleted: g.max_deleted,
        max_deleted_share: share,
    }
}

/// The bot's own public address, without a trailing slash. Mattermost sends button clicks
/// to `{public_url}/mattermost/actions`: it is required when Mattermost is set up and
/// someone there may run a command that asks for confirmation (an admin).
pub(super) fn public_url(
    raw: Option<String>,
    mattermost: bool,
    roles: &RoleTable,
    p: &mut Problems,
) -> Option<String> {
    let Some(text) = raw else {
        if mattermost && roles.anyone_reaches(Platform::Mattermost, Role::Admin) {
            p.push(
                "public_url: required with [mattermost] when anyone there is an admin: \
                 confirmation buttons send their clicks to {public_url}/mattermost/actions \
                 (set it to the address Mattermost reaches the bot at, like \
                 \"https://usersync-bot.example.com\")",
            );
        }
        return None;
    };
    let bad = |why: &str| format!("public_url: {text:?} {why}");
    match url::Url::parse(&text) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            p.push(bad("must be an http:// or https:// URL"));
            None
        }
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            p.push(bad("has no host"));
            None
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            p.push(bad("must not carry a user or password"));
            None
        }
        Ok(u) if u.query().is_some() || u.fragment().is_some() => {
            p.push(bad("must not have a query or fragment"));
            None
        }
        Ok(u) => Some(u.as_str().trim_end_matches('/').to_string()),
        Err(_) => {
            p.push(bad(
                "is not a URL like \"https://usersync-bot.example.com\"",
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Principal, PrincipalPattern};

    fn admin_on_mattermost() -> RoleTable {
        let mut roles = RoleTable::default();
        roles.grant(
            PrincipalPattern::Exact(Principal::new(Platform::Mattermost, "u1")),
            Role::Admin,
        );
        roles
    }

    #[test]
    fn public_url_is_required_only_where_a_mattermost_admin_could_need_a_button() {
        let mut p = Problems::default();
        assert_eq!(public_url(None, true, &admin_on_mattermost(), &mut p), None);
        let problems = p.into_vec();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("public_url: required with [mattermost]"));

        let mut p = Problems::default();
        assert_eq!(
            public_url(None, false, &admin_on_mattermost(), &mut p),
            None
        );
        let mut viewers = RoleTable::default();
        viewers.grant(PrincipalPattern::AnyVerified, Role::Operator);
        assert_eq!(public_url(None, true, &viewers, &mut p), None);
        assert!(p.into_vec().is_empty());
    }

    #[test]
    fn public_url_must_be_a_plain_http_url_and_loses_its_trailing_slash() {
        let roles = RoleTable::default();
        let mut p = Problems::default();
        assert_eq!(
            public_url(
                Some("https://bot.example.com/".into()),
                true,
                &roles,
                &mut p
            ),
            Some("https://bot.example.com".into())
        );
        assert_eq!(
            public_url(
                Some("http://127.0.0.1:3000/usersync".into()),
                true,
                &roles,
                &mut p
            ),
            Some("http://127.0.0.1:3000/usersync".into())
        );
        assert!(p.into_vec().is_empty());
        for bad in [
            "ftp://bot.example.com",
            "bot.example.com",
            "https://user:pw@bot.example.com",
            "https://bot.example.com/?a=1",
            "https://bot.example.com/#x",
        ] {
            let mut p = Problems::default();
            assert_eq!(public_url(Some(bad.into()), true, &roles, &mut p), None);
            let problems = p.into_vec();
            assert_eq!(problems.len(), 1, "{bad}");
            assert!(
                problems[0].starts_with(&format!("public_url: {bad:?}")),
                "{problems:?}"
            );
        }
    }

    #[test]
    fn deletion_approvals_default_to_one_and_are_bounded() {
        let mut p = Problems::default();
        assert_eq!(guards(None, &mut p).delete_directory_approvals, 1);
        let raw = |n| {
            Some(RawGuards {
                delete_directory_approvals: Some(n),
                max_deleted: None,
                max_deleted_share: None,
            })
        };
        assert_eq!(guards(raw(2), &mut p).delete_directory_approvals, 2);
        assert!(p.into_vec().is_empty());
        let mut p = Problems::default();
        guards(raw(0), &mut p);
        guards(raw(9), &mut p);
        for share in [0.0, 1.5, -0.1, f64::NAN] {
            guards(
                Some(RawGuards {
                    delete_directory_approvals: None,
                    max_deleted: None,
                    max_deleted_share: Some(share),
                }),
                &mut p,
            );
        }
        assert_eq!(p.into_vec().len(), 6);
    }

    #[test]
    fn the_confirmation_ttl_defaults_to_two_minutes_and_is_bounded() {
        let mut p = Problems::default();
        assert_eq!(confirm(None, &mut p).ttl, Duration::from_secs(120));
        let raw = |ttl: &str| {
            Some(RawConfirm {
                ttl: Some(ttl.into()),
            })
        };
        assert_eq!(confirm(raw("30s"), &mut p).ttl, Duration::from_secs(30));
        assert!(p.into_vec().is_empty());
        let mut p = Problems::default();
        confirm(raw("2h"), &mut p);
        confirm(raw("0s"), &mut p);
        let problems = p.into_vec();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("confirm.ttl: at most"));
    }
}

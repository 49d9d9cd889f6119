//! `[roles]`: who may run what, and `[roles.channels]`: where a command may be run.

use std::collections::BTreeMap;

use super::Problems;
use crate::authz::RoleTable;
use crate::command::CommandKind;
use crate::config::raw::RawRoles;
use crate::domain::{Principal, Role};

pub(super) fn roles(raw: RawRoles, p: &mut Problems) -> RoleTable {
    let mut table = RoleTable::default();
    for (role, list) in [
        (Role::Admin, &raw.admin),
        (Role::Operator, &raw.operator),
        (Role::Helpdesk, &raw.helpdesk),
        (Role::Viewer, &raw.viewer),
    ] {
        for (i, text) in list.iter().enumerate() {
            match Principal::parse_pattern(text) {
                Ok(pattern) => table.grant(pattern, role),
                Err(e) => p.push(format!("roles.{}[{i}]: {e}", role.as_str())),
            }
        }
    }
    channels(raw.channels, &mut table, p);
    table
}

/// Restrictions are keyed by command name; a misspelt name would restrict nothing, so it
/// is refused.
fn channels(raw: BTreeMap<String, Vec<String>>, table: &mut RoleTable, p: &mut Problems) {
    for (command, channels) in raw {
        let Some(kind) = CommandKind::from_name(&command) else {
            p.push(format!("roles.channels.{command}: no such command"));
            continue;
        };
        let mut allowed = Vec::new();
        for (i, text) in channels.iter().enumerate() {
            match Principal::parse(text) {
                Ok(channel) => allowed.push(channel),
                Err(e) => p.push(format!("roles.channels.{command}[{i}]: {e}")),
            }
        }
        table.restrict_channels(kind, allowed);
    }
}

#[cfg(test)]
mod tests {
    use super::super::check;
    use super::*;

    #[test]
    fn a_principal_without_platform_is_refused() {
        let text = "admin = [\"slack:U1\"]\nviewer = [\"*\", \"U0NOPREFIX\"]";
        let (_, problems) = check(text, roles);
        assert_eq!(
            problems,
            ["roles.viewer[1]: \"U0NOPREFIX\" must be \"slack:<id>\" or \"mattermost:<id>\""]
        );
    }

    #[test]
    fn a_channel_restriction_must_name_a_command() {
        let (_, problems) = check(
            "[channels]\nrun = [\"slack:C1\"]\nrnu = [\"slack:C1\"]",
            roles,
        );
        assert_eq!(problems, ["roles.channels.rnu: no such command"]);
    }
}

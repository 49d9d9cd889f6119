//! Who may run what: roles, principals, and the one decision every command goes through.
//!
//! Deny by default: a principal has the highest role it is listed under (`"*"` lists every
//! verified user), and a command runs only when that role reaches the one the command
//! table names, in a channel the command is allowed in.

use std::collections::HashMap;

use crate::command::{Access, Command, CommandKind};
use crate::domain::{Platform, Principal, PrincipalPattern, Role};

/// The role grants and channel restrictions of the configuration.
#[derive(Debug, Clone, Default)]
pub struct RoleTable {
    grants: Vec<(PrincipalPattern, Role)>,
    channels: HashMap<CommandKind, Vec<Principal>>,
}

/// Proof that a command passed the permission check, with who asked and the role they
/// have. Only [`RoleTable::authorize`] makes one: its fields are private.
#[derive(Debug, Clone)]
pub struct Authorized {
    principal: Principal,
    role: Option<Role>,
    command: Command,
}

impl Authorized {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn role(&self) -> Option<Role> {
        self.role
    }

    pub fn command(&self) -> &Command {
        &self.command
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The user's role is below the one needed (`has` is `None` with no role at all).
    Role { needed: Role, has: Option<Role> },
    /// The command is allowed only in other channels.
    Channel { allowed: Vec<Principal> },
}

impl RoleTable {
    pub fn grant(&mut self, pattern: PrincipalPattern, role: Role) {
        self.grants.push((pattern, role));
    }

    pub fn restrict_channels(&mut self, command: CommandKind, channels: Vec<Principal>) {
        self.channels.insert(command, channels);
    }

    /// The highest role the user is listed under, if any.
    pub fn role_of(&self, user: &Principal) -> Option<Role> {
        self.grants
            .iter()
            .filter(|(pattern, _)| match pattern {
                PrincipalPattern::AnyVerified => true,
                PrincipalPattern::Exact(p) => p == user,
            })
            .map(|(_, role)| *role)
            .max()
    }

    /// Whether some principal of this platform (or every verified user) has `role` or a
    /// higher one.
    pub fn anyone_reaches(&self, platform: Platform, role: Role) -> bool {
        self.grants.iter().any(|(pattern, granted)| {
            *granted >= role
                && match pattern {
                    PrincipalPattern::AnyVerified => true,
                    PrincipalPattern::Exact(p) => p.platform == platform,
                }
        })
    }

    /// The one permission check, as a capability: a handler takes the [`Authorized`] this
    /// returns, so no code path reaches a handler without passing here.
    pub fn authorize(
        &self,
        command: Command,
        user: &Principal,
        channel: &Principal,
    ) -> Result<Authorized, Denial> {
        let role = self.permits(command.kind(), user, channel)?;
        Ok(Authorized {
            principal: user.clone(),
            role,
            command,
        })
    }

    /// The decision itself: the role the command needs (from the command table) and the
    /// channels it is allowed in. Returns the user's role when allowed. Grants nothing:
    /// help and `whoami` use it to say what a person may run.
    pub fn permits(
        &self,
        command: CommandKind,
        user: &Principal,
        channel: &Principal,
    ) -> Result<Option<Role>, Denial> {
        let has = self.role_of(user);
        if let Access::Role(needed) = command.spec().access {
            if has.is_none_or(|r| r < needed) {
                return Err(Denial::Role { needed, has });
            }
        }
        if let Some(allowed) = self.channels.get(&command) {
            if !allowed.contains(channel) {
                return Err(Denial::Channel {
                    allowed: allowed.clone(),
                });
            }
        }
        Ok(has)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Platform;

    fn slack(id: &str) -> Principal {
        Principal::new(Platform::Slack, id)
    }

    fn table() -> RoleTable {
        let mut t = RoleTable::default();
        t.grant(PrincipalPattern::Exact(slack("UADMIN")), Role::Admin);
        t.grant(PrincipalPattern::Exact(slack("UOPS")), Role::Operator);
        t.grant(PrincipalPattern::Exact(slack("UHELP")), Role::Helpdesk);
        t.grant(PrincipalPattern::AnyVerified, Role::Viewer);
        t.restrict_channels(CommandKind::Run, vec![slack("COPS")]);
        t
    }

    #[test]
    fn the_highest_listed_role_wins_and_star_gives_viewer() {
        let t = table();
        assert_eq!(t.role_of(&slack("UADMIN")), Some(Role::Admin));
        assert_eq!(t.role_of(&slack("USTRANGER")), Some(Role::Viewer));
        assert_eq!(
            t.role_of(&Principal::new(Platform::Mattermost, "UADMIN")),
            Some(Role::Viewer),
            "the platform is part of the principal"
        );
    }

    #[test]
    fn deny_by_default_without_any_grant() {
        let t = RoleTable::default();
        assert_eq!(
            t.permits(CommandKind::Status, &slack("U1"), &slack("C1")),
            Err(Denial::Role {
                needed: Role::Viewer,
                has: None
            })
        );
        assert_eq!(
            t.permits(CommandKind::Help, &slack("U1"), &slack("C1")),
            Ok(None)
        );
        assert_eq!(
            t.permits(CommandKind::Whoami, &slack("U1"), &slack("C1")),
            Ok(None)
        );
    }

    #[test]
    fn role_boundaries() {
        let t = table();
        let c = slack("COPS");
        assert!(t.permits(CommandKind::Run, &slack("UOPS"), &c).is_ok());
        assert!(t.permits(CommandKind::Run, &slack("UADMIN"), &c).is_ok());
        assert_eq!(
            t.permits(CommandKind::Run, &slack("UHELP"), &c),
            Err(Denial::Role {
                needed: Role::Operator,
                has: Some(Role::Helpdesk)
            })
        );
        assert!(t.permits(CommandKind::User, &slack("UHELP"), &c).is_ok());
        assert!(t.permits(CommandKind::User, &slack("UX"), &c).is_err());
        assert!(t.permits(CommandKind::Status, &slack("UX"), &c).is_ok());
    }

    #[test]
    fn an_authorized_command_carries_who_and_which_role() {
        let t = table();
        let auth = t
            .authorize(
                Command::Run {
                    connector: "okta".into(),
                    local: false,
                },
                &slack("UOPS"),
                &slack("COPS"),
            )
            .unwrap();
        assert_eq!(auth.principal(), &slack("UOPS"));
        assert_eq!(auth.role(), Some(Role::Operator));
        assert_eq!(auth.command().kind(), CommandKind::Run);
        let denied = t.authorize(Command::Jobs, &slack("U1"), &slack("C1"));
        assert!(denied.is_ok(), "viewer via *");
        let denied = RoleTable::default().authorize(Command::Jobs, &slack("U1"), &slack("C1"));
        assert!(denied.is_err());
    }

    #[test]
    fn channel_restrictions_apply_to_everyone() {
        let t = table();
        assert_eq!(
            t.permits(CommandKind::Run, &slack("UADMIN"), &slack("CRANDOM")),
            Err(Denial::Channel {
                allowed: vec![slack("COPS")]
            })
        );
    }
}

//! `[protect]`: account name patterns (`admin`, `break-glass-*`, `svc-*`) that `user`
//! refuses and that every sync's results are checked for.

use super::Problems;
use crate::config::raw::RawProtect;
use crate::config::ProtectConfig;
use crate::domain::AccountGlob;

pub(super) fn protect(raw: Option<RawProtect>, p: &mut Problems) -> ProtectConfig {
    let users = raw
        .map(|r| r.users)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, text)| {
            AccountGlob::parse(text)
                .map_err(|e| p.push(format!("protect.users[{i}]: {e}")))
                .ok()
        })
        .collect();
    ProtectConfig { users }
}

#[cfg(test)]
mod tests {
    use super::super::check;
    use super::*;

    fn check_protect(toml: &str) -> (ProtectConfig, Vec<String>) {
        check(toml, |r: RawProtect, p: &mut Problems| protect(Some(r), p))
    }

    #[test]
    fn protected_accounts_are_patterns_and_each_bad_one_is_listed() {
        let (made, problems) = check_protect("users = [\"admin\", \"break-glass-*\", \"svc-*\"]");
        assert!(problems.is_empty(), "{problems:?}");
        let patterns: Vec<&str> = made.users.iter().map(AccountGlob::as_str).collect();
        assert_eq!(patterns, ["admin", "break-glass-*", "svc-*"]);

        let (made, problems) = check_protect("users = [\"\", \"svc-[0-9\", \"ok\", \"x]\"]");
        assert_eq!(made.users.len(), 1);
        assert_eq!(
            problems,
            [
                "protect.users[0]: an empty pattern protects no account",
                "protect.users[1]: \"svc-[0-9\": a `[` is not closed by `]`",
                "protect.users[3]: \"x]\": a `]` has no `[` before it",
            ]
        );
        let mut p = Problems::default();
        assert!(protect(None, &mut p).is_empty());
        assert!(p.is_empty());
    }
}

//! Locks and change freezes: `lock`, `unlock`, `locks`, and the one check ([`guard`]) the
//! pipeline runs before every command that changes something — and again when a
//! confirmation is clicked. Whether a person may pass is the pure [`verdict`].

use chrono::{DateTime, Utc};

use super::resolve;
use super::watch::target;
use crate::app::App;
use crate::authz::Authorized;
use crate::command::LockArgs;
use crate::domain::{Invocation, Principal, Role};
use crate::message::Text;
use crate::reply::error::StoreAction;
use crate::reply::locks::Hold;
use crate::reply::{self, CommandError, Reply};
use crate::store::{LockRecord, StoreError};

/// The connector a changing command acts on, once known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub instance: String,
    pub id: String,
    pub name: String,
}

impl Hold {
    fn covers(&self, t: &Target) -> bool {
        match self {
            Hold::Lock(l) => l.covers(&t.instance, &t.id),
            Hold::Freeze(f) => f.covers(&t.instance, &t.id, Some(&t.name)),
        }
    }

    fn in_force(&self, now: DateTime<Utc>) -> bool {
        match self {
            Hold::Lock(l) => l.in_force(now),
            Hold::Freeze(f) => f.in_force(now),
        }
    }

    /// A freeze is held by nobody.
    fn held_by(&self, who: &Principal) -> bool {
        matches!(self, Hold::Lock(l) if l.owner == *who)
    }
}

/// What the holds on a connector mean for one person, now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing holds it, or only the person's own locks.
    Free,
    /// An admin passes, and is told what they pass.
    AdminPasses(Vec<Hold>),
    /// Refused: the first hold that is someone else's (or a freeze).
    Refused(Hold),
}

/// Who may pass: the holds in force at `now` on `target` that are not `who`'s own lock
/// refuse everyone but an admin. Pure.
pub fn verdict(
    holds: &[Hold],
    target: &Target,
    who: &Principal,
    admin: bool,
    now: DateTime<Utc>,
) -> Verdict {
    let against: Vec<Hold> = holds
        .iter()
        .filter(|h| h.in_force(now) && h.covers(target) && !h.held_by(who))
        .cloned()
        .collect();
    match against.first() {
        None => Verdict::Free,
        Some(_) if admin => Verdict::AdminPasses(against),
        Some(first) => Verdict::Refused(first.clone()),
    }
}

/// Every lock and freeze in force at `now`.
async fn in_force(app: &App, now: DateTime<Utc>) -> Result<Vec<Hold>, StoreError> {
    let mut holds: Vec<Hold> = app
        .store
        .locks(now)
        .await?
        .into_iter()
        .map(Hold::Lock)
        .collect();
    holds.extend(
        app.config
            .freezes
            .iter()
            .filter(|f| f.in_force(now))
            .cloned()
            .map(Hold::Freeze),
    );
    Ok(holds)
}

/// The holds in force on a connector now, for `status`; none when the store cannot say.
pub async fn holds_on(app: &App, target: &Target) -> (Vec<Hold>, DateTime<Utc>) {
    let now = Utc::now();
    match in_force(app, now).await {
        Ok(all) => (all.into_iter().filter(|h| h.covers(target)).collect(), now),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read locks for status");
            (Vec::new(), now)
        }
    }
}

/// The check before a command that changes something: `Ok(None)` to go on, `Ok(Some)`
/// to go on and tell an admin what they act past, `Err` to refuse (a lock of someone
/// else or a freeze: [`CommandError::Held`]). `known` is the connector when it is known
/// already (a confirmation click); else the command's connector is resolved — only when
/// something holds a connector at all.
pub async fn guard(
    app: &App,
    auth: &Authorized,
    known: Option<Target>,
) -> Result<Option<Text>, CommandError> {
    let Some(wanted) = auth.command().connector_arg() else {
        return Ok(None);
    };
    let now = Utc::now();
    let holds = in_force(app, now)
        .await
        .map_err(|e| CommandError::store(StoreAction::ReadLocks, e))?;
    if holds.is_empty() {
        return Ok(None);
    }
    let target = match known {
        Some(t) => t,
        None => {
            let found = resolve::connector(app, wanted).await?;
            Target {
                instance: found.client.instance().to_string(),
                id: found.connector.unique_id.clone(),
                name: found.connector.display_name().to_string(),
            }
        }
    };
    let admin = auth.role() == Some(Role::Admin);
    match verdict(&holds, &target, auth.principal(), admin, now) {
        Verdict::Free => Ok(None),
        Verdict::AdminPasses(passed) => {
            tracing::info!(user = %auth.principal(), connector = %target.id, "an admin acts on a locked or frozen connector");
            Ok(Some(reply::locks::admin_notice(&passed, &target.name, now)))
        }
        Verdict::Refused(hold) => Err(CommandError::Held {
            connector: target.name,
            hold: Box::new(hold),
            now,
        }),
    }
}

fn store_failed(e: StoreError) -> CommandError {
    CommandError::store(StoreAction::ChangeLocks, e)
}

/// The lock in force on exactly this target (not a `*` lock over it), if any.
async fn current(
    app: &App,
    instance: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<LockRecord>, CommandError> {
    let locks = app
        .store
        .locks(now)
        .await
        .map_err(|e| CommandError::store(StoreAction::ReadLocks, e))?;
    Ok(locks
        .into_iter()
        .find(|l| l.instance == instance && l.connector_id == id))
}

/// `lock <connector|*> <duration> <reason>…`.
pub async fn lock(
    app: &App,
    inv: &Invocation,
    auth: &Authorized,
    args: &LockArgs,
) -> Result<Reply, CommandError> {
    let (instance, id, name) = target(app, &args.connector).await?;
    let now = Utc::now();
    let record = LockRecord {
        instance,
        connector_id: id,
        connector_name: name,
        owner: inv.user.clone(),
        owner_name: inv.user_name.clone(),
        reason: args.reason.clone(),
        created_at: now,
        expires_at: now + chrono::Duration::from_std(args.duration).unwrap_or_default(),
    };
    let before = current(app, &record.instance, &record.connector_id, now).await?;
    let admin = auth.role() == Some(Role::Admin);
    if !app
        .store
        .take_lock(&record, admin)
        .await
        .map_err(store_failed)?
    {
        let held = current(app, &record.instance, &record.connector_id, now).await?;
        return Ok(match held.or(before) {
            Some(l) => Reply::ok(reply::locks::already_locked(&l, now)),
            None => Reply::ok(reply::locks::not_locked(&record.connector_name)),
        });
    }
    let replaced = before.filter(|b| b.owner != record.owner);
    Ok(Reply::ok(reply::locks::locked(
        &inv.command,
        &args.connector,
        &record,
        replaced.as_ref(),
        now,
    )))
}

/// `unlock <connector|*>`: the owner's or an admin's.
pub async fn unlock(
    app: &App,
    inv: &Invocation,
    auth: &Authorized,
    wanted: &str,
) -> Result<Reply, CommandError> {
    let (instance, id, name) = target(app, wanted).await?;
    let now = Utc::now();
    let Some(lock) = current(app, &instance, &id, now).await? else {
        return Ok(Reply::ok(reply::locks::not_locked(&name)));
    };
    let admin = auth.role() == Some(Role::Admin);
    if lock.owner != inv.user && !admin {
        return Ok(Reply::ok(reply::locks::unlock_refused(&lock, now)));
    }
    app.store
        .remove_lock(&instance, &id)
        .await
        .map_err(store_failed)?;
    let by = reply::who(inv.user_name.as_deref(), &inv.user);
    Ok(Reply::ok(reply::locks::unlocked(&lock, &by)))
}

/// `locks`: what is held now, and the freezes to come.
pub async fn locks(app: &App) -> Result<Reply, CommandError> {
    let now = Utc::now();
    let locks = app
        .store
        .locks(now)
        .await
        .map_err(|e| CommandError::store(StoreAction::ReadLocks, e))?;
    let freezes: Vec<_> = app
        .config
        .freezes
        .iter()
        .filter(|f| now < f.until)
        .collect();
    Ok(Reply::ok(reply::locks::list(
        &locks,
        &freezes,
        app.instances.len() > 1,
        now,
    )))
}

/// The locks and freezes in force, for the end of `jobs`.
pub async fn jobs_blocks(app: &App) -> Option<Vec<crate::message::Block>> {
    let now = Utc::now();
    let locks = match app.store.locks(now).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read locks for jobs");
            Vec::new()
        }
    };
    let freezes: Vec<_> = app.config.freezes.iter().collect();
    reply::locks::jobs_block(&locks, &freezes, app.instances.len() > 1, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Freeze;
    use crate::domain::Platform;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn person(id: &str) -> Principal {
        Principal::new(Platform::Slack, id)
    }

    fn lock(owner: &str, connector_id: &str, until: &str) -> Hold {
        Hold::Lock(LockRecord {
            instance: if connector_id == "*" { "" } else { "jira" }.into(),
            connector_id: connector_id.into(),
            connector_name: "Okta".into(),
            owner: person(owner),
            owner_name: None,
            reason: "why".into(),
            created_at: at("2026-12-01T10:00:00Z"),
            expires_at: at(until),
        })
    }

    fn freeze(connectors: &[&str], from: &str, until: &str) -> Hold {
        Hold::Freeze(Freeze {
            instance: None,
            connectors: connectors.iter().map(|c| c.to_string()).collect(),
            from: at(from),
            until: at(until),
            reason: "freeze".into(),
        })
    }

    #[test]
    fn who_may_pass_a_lock_or_freeze_is_one_line_per_case() {
        let okta = Target {
            instance: "jira".into(),
            id: "c-okta".into(),
            name: "Okta".into(),
        };
        let noon = "2026-12-01T12:00:00Z";
        let (two, one) = ("2026-12-01T14:00:00Z", "2026-12-01T11:00:00Z");
        let refused = |h: &Hold| Verdict::Refused(h.clone());
        let passes = |h: &Hold| Verdict::AdminPasses(vec![h.clone()]);
        let alices = lock("UALICE", "c-okta", two);
        let every = lock("UALICE", "*", two);
        let frozen = freeze(&["okta"], "2026-12-01T00:00:00Z", two);
        // (holds, who, admin, at, verdict)
        let cases: Vec<(Vec<Hold>, &str, bool, &str, Verdict)> = vec![
            (vec![], "UBOB", false, noon, Verdict::Free),
            (vec![alices.clone()], "UBOB", false, noon, refused(&alices)),
            (vec![alices.clone()], "UALICE", false, noon, Verdict::Free),
            (vec![alices.clone()], "UADMIN", true, noon, passes(&alices)),
            (vec![alices.clone()], "UALICE", true, noon, Verdict::Free),
            // Expired: it simply stops counting.
            (
                vec![lock("UALICE", "c-okta", one)],
                "UBOB",
                false,
                noon,
                Verdict::Free,
            ),
            (vec![alices.clone()], "UBOB", false, two, Verdict::Free),
            // Another connector's lock does not hold this one; `*` holds them all.
            (
                vec![lock("UALICE", "c-azure", two)],
                "UBOB",
                false,
                noon,
                Verdict::Free,
            ),
            (vec![every.clone()], "UBOB", false, noon, refused(&every)),
            (vec![every.clone()], "UALICE", false, noon, Verdict::Free),
            // A freeze is held by nobody: even the owner of a lock is refused by it.
            (vec![frozen.clone()], "UBOB", false, noon, refused(&frozen)),
            (
                vec![alices.clone(), frozen.clone()],
                "UALICE",
                false,
                noon,
                refused(&frozen),
            ),
            (vec![frozen.clone()], "UADMIN", true, noon, passes(&frozen)),
            (
                vec![alices.clone(), frozen.clone()],
                "UADMIN",
                true,
                noon,
                Verdict::AdminPasses(vec![alices.clone(), frozen.clone()]),
            ),
            (
                vec![freeze(&["okta"], two, "2026-12-02T00:00:00Z")],
                "UBOB",
                false,
                noon,
                Verdict::Free,
            ),
            (
                vec![freeze(&["Azure AD"], one, two)],
                "UBOB",
                false,
                noon,
                Verdict::Free,
            ),
            (
                vec![freeze(&["c-okta"], one, two)],
                "UBOB",
                false,
                noon,
                refused(&freeze(&["c-okta"], one, two)),
            ),
            (
                vec![freeze(&["*"], one, two)],
                "UBOB",
                false,
                noon,
                refused(&freeze(&["*"], one, two)),
            ),
        ];
        for (i, (holds, who, admin, now, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                verdict(&holds, &okta, &person(who), admin, at(now)),
                expected,
                "case {i}"
            );
        }
    }
}

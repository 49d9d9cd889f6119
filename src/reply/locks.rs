//! What the bot says about locks and change freezes: a command refused on a held
//! connector, the notice an admin gets when acting past one, `lock`, `unlock`, `locks`,
//! and the lines `status` and `jobs` show.

use chrono::{DateTime, Utc};

use super::who;
use crate::command::CommandKind;
use crate::config::Freeze;
use crate::message::{Block, Message, Text, Tone};
use crate::store::LockRecord;

/// What holds a connector: a lock someone took from chat, or a freeze of the
/// configuration (held by nobody).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    Lock(LockRecord),
    Freeze(Freeze),
}

impl Hold {
    /// When it stops counting.
    pub fn until(&self) -> DateTime<Utc> {
        match self {
            Hold::Lock(l) => l.expires_at,
            Hold::Freeze(f) => f.until,
        }
    }
}

/// A time as people read it next to now: the hour when it is today, else the date too.
pub fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t.date_naive() == now.date_naive() {
        t.format("%H:%M UTC").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

fn owner(l: &LockRecord) -> String {
    who(l.owner_name.as_deref(), &l.owner)
}

/// The commands a lock refuses: every command of the table that changes something.
pub fn held_commands() -> String {
    let names: Vec<&str> = CommandKind::ALL
        .iter()
        .filter(|k| k.spec().changes)
        .map(|k| k.name())
        .collect();
    names.join(", ")
}

/// "Okta is locked by @alice until 14:00 UTC: reason" — one sentence for both kinds.
fn held_sentence(hold: &Hold, connector: &str, now: DateTime<Utc>) -> String {
    let until = when(hold.until(), now);
    match hold {
        Hold::Lock(l) if l.is_everything() => format!(
            "{connector} is locked by {} until {until} (a lock on every connector): {}",
            owner(l),
            l.reason
        ),
        Hold::Lock(l) => format!(
            "{connector} is locked by {} until {until}: {}",
            owner(l),
            l.reason
        ),
        Hold::Freeze(f) => format!(
            "{connector} is frozen until {until} (a change freeze of the bot's configuration): {}",
            f.reason
        ),
    }
}

/// A command refused because the connector is held by someone else (or frozen).
pub fn refusal(hold: &Hold, connector: &str, now: DateTime<Utc>) -> Message {
    let (title, who_may) = match hold {
        Hold::Lock(l) => (
            format!("Not done: {connector} is locked"),
            format!("Only {} and admins may", owner(l)),
        ),
        Hold::Freeze(_) => (
            format!("Not done: {connector} is frozen"),
            "Only admins may".to_string(),
        ),
    };
    Message::new(Tone::Warning, title)
        .text(Text::new().plain(held_sentence(hold, connector, now)))
        .context(Text::new().plain(format!(
            "{who_may} use {} on it until then. Nothing was sent to the product.",
            held_commands()
        )))
}

/// The context line an admin reads when acting on a held connector.
pub fn admin_notice(holds: &[Hold], connector: &str, now: DateTime<Utc>) -> Text {
    let held: Vec<String> = holds
        .iter()
        .map(|h| held_sentence(h, connector, now))
        .collect();
    Text::new().plain(format!(
        "🔒 You acted as an admin although {}.",
        held.join("; and ")
    ))
}

/// `lock`: the lock is taken. `replaced` is someone else's lock an admin took over.
pub fn locked(
    slash: &str,
    wanted: &str,
    lock: &LockRecord,
    replaced: Option<&LockRecord>,
    now: DateTime<Utc>,
) -> Message {
    let name = &lock.connector_name;
    let mut m = Message::new(
        Tone::Success,
        format!("🔒 {name} locked until {}", when(lock.expires_at, now)),
    )
    .in_channel()
    .text(Text::new().plain(format!(
        "Only {} and admins may use {} on {name} until then: {}",
        owner(lock),
        held_commands(),
        lock.reason
    )));
    if let Some(old) = replaced {
        m = m.text(Text::new().plain(format!(
            "This replaces the lock of {} ({}).",
            owner(old),
            old.reason
        )));
    }
    m.context(
        Text::new()
            .plain("It ends on its own; end it sooner with ")
            .code(format!("{slash} unlock {wanted}")),
    )
}

/// `lock` of something someone else holds.
pub fn already_locked(lock: &LockRecord, now: DateTime<Utc>) -> Message {
    let name = &lock.connector_name;
    Message::new(Tone::Warning, format!("{name} is already locked"))
        .text(Text::new().plain(held_sentence(&Hold::Lock(lock.clone()), name, now)))
        .context(format!(
            "Only {} or an admin can lock it again before then.",
            owner(lock)
        ))
}

/// `unlock` that ended a lock.
pub fn unlocked(lock: &LockRecord, by: &str) -> Message {
    Message::new(
        Tone::Success,
        format!("🔓 {} unlocked", lock.connector_name),
    )
    .in_channel()
    .text(Text::new().plain(format!(
        "The lock of {} ({}) was ended by {by}.",
        owner(lock),
        lock.reason
    )))
}

/// `unlock` of a connector nobody holds.
pub fn not_locked(name: &str) -> Message {
    Message::new(Tone::Info, format!("{name} is not locked"))
        .text("There was no lock in force to end.")
}

/// `unlock` of someone else's lock by someone who is not an admin.
pub fn unlock_refused(lock: &LockRecord, now: DateTime<Utc>) -> Message {
    let name = &lock.connector_name;
    Message::new(
        Tone::Warning,
        format!("Not unlocked: {name} is {}'s lock", owner(lock)),
    )
    .text(Text::new().plain(held_sentence(&Hold::Lock(lock.clone()), name, now)))
    .context(format!(
        "Only {} or an admin can end it; otherwise it ends on its own.",
        owner(lock)
    ))
}

fn lock_line(l: &LockRecord, several_instances: bool, now: DateTime<Utc>) -> Text {
    let mut t = Text::new().plain("🔒 ").strong(&l.connector_name);
    if several_instances && !l.instance.is_empty() {
        t = t.plain(format!(" ({})", l.instance));
    }
    t.plain(format!(
        " — locked by {} until {}: {}",
        owner(l),
        when(l.expires_at, now),
        l.reason
    ))
}

fn frozen_what(f: &Freeze) -> String {
    let what = if f.connectors.iter().any(|c| c == "*") {
        "every connector".to_string()
    } else {
        f.connectors.join(", ")
    };
    match &f.instance {
        Some(i) => format!("{what} ({i})"),
        None => what,
    }
}

fn freeze_line(f: &Freeze, now: DateTime<Utc>) -> Text {
    let span = if f.in_force(now) {
        format!("frozen until {}", when(f.until, now))
    } else {
        format!(
            "frozen from {} until {}",
            when(f.from, now),
            when(f.until, now)
        )
    };
    Text::new()
        .plain("❄️ ")
        .strong(frozen_what(f))
        .plain(format!(" — {span}: {}", f.reason))
}

/// `locks`: the locks and freezes in force, and the freezes to come.
pub fn list(
    locks: &[LockRecord],
    freezes: &[&Freeze],
    several_instances: bool,
    now: DateTime<Utc>,
) -> Message {
    let (in_force, coming): (Vec<&Freeze>, Vec<&Freeze>) =
        freezes.iter().copied().partition(|f| f.in_force(now));
    let held = locks.len() + in_force.len();
    let m = Message::new(Tone::Info, format!("Locks and freezes: {held} in force"));
    if held == 0 && coming.is_empty() {
        return m.text(
            "No lock or change freeze is in force: anyone with the role may change any connector.",
        );
    }
    let mut items: Vec<Text> = locks
        .iter()
        .map(|l| lock_line(l, several_instances, now))
        .collect();
    items.extend(in_force.iter().map(|f| freeze_line(f, now)));
    let mut m = m;
    if !items.is_empty() {
        m = m.push(Block::List { items, more: 0 });
    }
    if !coming.is_empty() {
        m = m
            .text(Text::new().strong("Freezes to come"))
            .push(Block::List {
                items: coming.iter().map(|f| freeze_line(f, now)).collect(),
                more: 0,
            });
    }
    m.context(format!(
        "A lock or freeze refuses {} on what it holds for everyone but its owner and admins.",
        held_commands()
    ))
}

/// The line `status` shows under a connector's last sync while something holds it.
pub fn status_line(holds: &[Hold], connector: &str, now: DateTime<Utc>) -> Option<Text> {
    if holds.is_empty() {
        return None;
    }
    let held: Vec<String> = holds
        .iter()
        .map(|h| held_sentence(h, connector, now))
        .collect();
    Some(Text::new().plain(format!("🔒 {}.", held.join("; and "))))
}

/// The block `jobs` ends with while locks or freezes are in force.
pub fn jobs_block(
    locks: &[LockRecord],
    freezes: &[&Freeze],
    several_instances: bool,
    now: DateTime<Utc>,
) -> Option<Vec<Block>> {
    let mut items: Vec<Text> = locks
        .iter()
        .map(|l| lock_line(l, several_instances, now))
        .collect();
    items.extend(
        freezes
            .iter()
            .filter(|f| f.in_force(now))
            .map(|f| freeze_line(f, now)),
    );
    if items.is_empty() {
        return None;
    }
    Some(vec![
        Block::Text(Text::new().strong("Locks and freezes in force")),
        Block::List { items, more: 0 },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Platform, Principal};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn lock(connector_id: &str) -> LockRecord {
        LockRecord {
            instance: "jira".into(),
            connector_id: connector_id.into(),
            connector_name: "Okta".into(),
            owner: Principal::new(Platform::Slack, "UALICE"),
            owner_name: Some("alice".into()),
            reason: "tenant migration".into(),
            created_at: at("2026-12-01T12:00:00Z"),
            expires_at: at("2026-12-01T14:00:00Z"),
        }
    }

    #[test]
    fn a_refusal_says_who_holds_it_until_when_and_why() {
        let now = at("2026-12-01T12:30:00Z");
        let m = refusal(&Hold::Lock(lock("c1")), "Okta", now).to_plain();
        assert!(
            m.contains("Okta is locked by @alice until 14:00 UTC: tenant migration"),
            "{m}"
        );
        assert!(
            m.contains("Only @alice and admins may use user, run, set, patch, rollback, delete-directory on it"),
            "{m}"
        );
        assert!(m.contains("Nothing was sent to the product."), "{m}");
        let all = LockRecord {
            connector_id: "*".into(),
            instance: String::new(),
            ..lock("*")
        };
        let m = refusal(&Hold::Lock(all), "Azure AD", now).to_plain();
        assert!(
            m.contains("Azure AD is locked by @alice until 14:00 UTC (a lock on every connector)"),
            "{m}"
        );
        let freeze = Freeze {
            instance: None,
            connectors: vec!["*".into()],
            from: at("2026-11-30T00:00:00Z"),
            until: at("2027-01-04T00:00:00Z"),
            reason: "year end".into(),
        };
        let m = refusal(&Hold::Freeze(freeze), "Okta", now).to_plain();
        assert!(m.contains("Not done: Okta is frozen"), "{m}");
        assert!(
            m.contains("Okta is frozen until 2027-01-04 00:00 UTC (a change freeze of the bot's configuration): year end"),
            "{m}"
        );
        assert!(m.contains("Only admins may use"), "{m}");
    }
}

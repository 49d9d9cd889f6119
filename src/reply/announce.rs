//! What the watcher says: a finished sync announced in a channel, and an instance that
//! cannot be reached (once) or is back (once).

use chrono::{DateTime, Utc};

use super::sync::{state_text, sync_message};
use crate::message::{Block, Message, Text, Tone};
use crate::usersync::{Connector, SyncStatus};

/// Why a channel hears about a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Success,
    Failure,
    /// A threshold fired; the text says which and by how much.
    Threshold(String),
}

/// A finished sync, announced. `late` is when it finished, if that was while the bot was
/// not running.
pub fn announcement(
    instance: &str,
    c: &Connector,
    s: &SyncStatus,
    reason: &Reason,
    late: Option<DateTime<Utc>>,
    slash: &str,
) -> Message {
    let mut m = sync_message(instance, Some(c.display_name()), s).in_channel();
    let verb = if s.is_failure() { "failed" } else { "finished" };
    m.title = format!(
        "🔔 Sync of {} {verb} — sync {}: {}",
        c.display_name(),
        s.id,
        state_text(s)
    );
    if let Reason::Threshold(why) = reason {
        m.tone = if s.is_failure() {
            Tone::Failure
        } else {
            Tone::Warning
        };
        m.title = format!("🔔 Threshold: {} — sync {} {why}", c.display_name(), s.id);
        m.blocks.insert(
            0,
            Block::Text(
                Text::new()
                    .strong("Why you see this: ")
                    .plain(format!("{why}.")),
            ),
        );
    }
    if let Some(finished) = late {
        m = m.text(Text::new().em(format!(
            "Late: this sync finished at {} while the bot was not running.",
            finished.format("%Y-%m-%d %H:%M UTC")
        )));
    }
    m.context(
        Text::new()
            .plain("Notification: a sync finished. Change what this channel hears with ")
            .code(format!("{slash} watches")),
    )
}

/// An instance that cannot be reached; `origin` is its scheme, host and port.
pub fn outage(instance: &str, origin: &str, since: DateTime<Utc>) -> Message {
    Message::new(
        Tone::Failure,
        format!("Cannot reach {instance} since {}", since.format("%H:%M UTC")),
    )
    .in_channel()
    .text(Text::new().plain(format!(
        "The bot cannot read the sync status of {instance} ({origin}): syncs finishing there are not announced until it is back."
    )))
}

/// An instance that is back after an outage.
pub fn recovered(instance: &str, since: DateTime<Utc>) -> Message {
    Message::new(Tone::Success, format!("{instance} is reachable again"))
        .in_channel()
        .text(format!(
            "It could not be reached since {}.",
            since.format("%Y-%m-%d %H:%M UTC")
        ))
}

//! Rendered replies that are the same for every caller they are served to — help for a
//! platform, a slash command, a role and the set of commands allowed in the channel — kept
//! so that a fresh `help` costs a lookup instead of building and rendering the message.
//! Nothing that names a person, a channel or the product's state is ever kept here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::chat::render_reply;
use crate::command::CommandKind;
use crate::domain::{Platform, Role};
use crate::message::Message;
use crate::reply::Rendered;

/// Kinds of reply kept at most; past it, replies are rendered each time (a platform that
/// sent many different slash command names should not grow the memory).
const MAX_ENTRIES: usize = 256;

/// What makes two help replies the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SharedKey {
    pub platform: Platform,
    pub slash: String,
    pub role: Option<Role>,
    /// The commands allowed here, one bit per [`CommandKind::ALL`] position.
    pub allowed: u64,
    /// `help <topic>`, or the whole list.
    pub topic: Option<CommandKind>,
}

/// One bit per allowed command, in table order.
pub fn allowed_bits(allowed: &[CommandKind]) -> u64 {
    CommandKind::ALL
        .iter()
        .enumerate()
        .filter(|(_, k)| allowed.contains(k))
        .fold(0, |bits, (i, _)| bits | (1 << i))
}

#[derive(Debug, Default)]
pub struct SharedReplies {
    entries: Mutex<HashMap<SharedKey, Arc<Rendered>>>,
}

impl SharedReplies {
    /// The reply kept for `key`, or the one `make` builds, rendered and kept.
    pub fn get_or_render(&self, key: SharedKey, make: impl FnOnce() -> Message) -> Arc<Rendered> {
        if let Some(hit) = self.lock().get(&key) {
            return hit.clone();
        }
        let message = make();
        let body = render_reply(key.platform, &message);
        let rendered = Arc::new(Rendered { message, body });
        let mut entries = self.lock();
        if entries.len() < MAX_ENTRIES {
            entries.insert(key, rendered.clone());
        }
        rendered
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SharedKey, Arc<Rendered>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Tone;

    fn key(role: Option<Role>) -> SharedKey {
        SharedKey {
            platform: Platform::Slack,
            slash: "/usersync".into(),
            role,
            allowed: allowed_bits(&[CommandKind::Help, CommandKind::Whoami]),
            topic: None,
        }
    }

    #[test]
    fn a_reply_is_made_once_per_key_and_shared() {
        let shared = SharedReplies::default();
        let mut made = 0;
        let first = shared.get_or_render(key(Some(Role::Viewer)), || {
            made += 1;
            Message::new(Tone::Info, "help")
        });
        let again = shared.get_or_render(key(Some(Role::Viewer)), || {
            made += 1;
            Message::new(Tone::Info, "other")
        });
        assert_eq!(made, 1);
        assert!(Arc::ptr_eq(&first, &again));
        let admin =
            shared.get_or_render(key(Some(Role::Admin)), || Message::new(Tone::Info, "admin"));
        assert_eq!(
            admin.message.title, "admin",
            "another role is another reply"
        );
        assert_eq!(
            allowed_bits(&[CommandKind::Help, CommandKind::Whoami]),
            0b11
        );
    }
}

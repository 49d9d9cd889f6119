//! What the bot says about protected accounts (`[protect] users`): `user` refused on one,
//! and the alert after a sync that deleted, deactivated or failed one.

use crate::message::{Block, Message, Text, Tone};
use crate::usersync::SyncStatus;

/// Protected accounts listed in an alert at most.
const HITS_SHOWN: usize = 20;

/// A protected account a sync did something to that needs a look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedHit {
    /// The account's name as the product reported it.
    pub user: String,
    /// What the sync did (DELETED, DEACTIVATED, FAILED, …).
    pub action: String,
    pub message: Option<String>,
    /// The pattern of `[protect] users` that protects it.
    pub pattern: String,
}

/// `user` on a protected account: refused before anything is sent.
pub fn user_refused(identifier: &str, pattern: &str) -> Message {
    Message::new(
        Tone::Warning,
        format!("Not done: {identifier} is a protected account"),
    )
    .text(
        Text::new()
            .plain("The bot's configuration protects accounts matching ")
            .code(pattern)
            .plain(
                " ([protect] users): they are not updated from chat, so that one is never resynced by mistake. Nothing was sent to the product.",
            ),
    )
    .context("If it must be done, an administrator of the product does it in its admin pages.")
}

/// After a sync: the protected accounts it deleted, deactivated or failed.
pub fn alert(instance: &str, connector: &str, s: &SyncStatus, hits: &[ProtectedHit]) -> Message {
    let items = hits
        .iter()
        .take(HITS_SHOWN)
        .map(|h| {
            let t = Text::new().code(&h.user).plain(" — ").strong(&h.action);
            let t = match h.message.as_deref().filter(|m| !m.trim().is_empty()) {
                Some(m) => t.plain(format!(": {m}")),
                None => t,
            };
            t.plain(" (protected by ").code(&h.pattern).plain(")")
        })
        .collect();
    Message::new(
        Tone::Failure,
        format!(
            "🛡️ Protected accounts hit by the sync of {connector} — sync {}",
            s.id
        ),
    )
    .in_channel()
    .text(Text::new().plain(format!(
        "Sync {} of {connector} on {instance} deleted, deactivated or failed {} account(s) the bot's configuration protects:",
        s.id,
        hits.len()
    )))
    .push(Block::List {
        items,
        more: hits.len().saturating_sub(HITS_SHOWN),
    })
    .context("Check them in the product now: a break-glass or service account may be locked out. ([protect] users)")
}

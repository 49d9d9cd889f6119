//! What the bot says about connectors: the list with each one's last sync, and one
//! connector's settings with secrets redacted.

use super::error::upstream_text;
use super::sync::sync_tone;
use crate::message::{Block, Message, Text, Tone};
use crate::usersync::{Connector, SyncStatus, UserSyncError};

/// One instance's connectors, each with its last sync (or why it is unknown).
pub struct InstanceListing {
    pub instance: String,
    /// `None` when the status could not be asked for at all.
    pub connectors: Vec<(Connector, Option<Result<SyncStatus, UserSyncError>>)>,
}

fn last_sync(s: &Option<Result<SyncStatus, UserSyncError>>) -> Text {
    match s {
        None => Text::new().plain("unknown"),
        Some(Ok(s)) => {
            let result = s
                .sync_status_result
                .as_ref()
                .map(|r| format!(" {r}"))
                .unwrap_or_default();
            Text::new().plain(format!(
                "{} {} {}{} ({})",
                sync_tone(s).emoji(),
                s.id,
                s.status,
                result,
                s.created.as_deref().unwrap_or("?")
            ))
        }
        Some(Err(e)) => Text::new().em(upstream_text(e)),
    }
}

fn connector_line(c: &Connector, s: &Option<Result<SyncStatus, UserSyncError>>) -> Text {
    let mut t = Text::new()
        .strong(c.display_name())
        .plain(" — ")
        .plain(c.kind().unwrap_or_else(|| "?".into()))
        .plain(" · id ")
        .code(&c.unique_id)
        .plain(" · directory ")
        .plain(c.directory_id().unwrap_or_else(|| "–".into()))
        .plain(" · last sync: ");
    t.0.extend(last_sync(s).0);
    t
}

/// `connectors`: every instance's connectors; instances that could not be listed say why.
pub fn connectors(listed: &[Result<InstanceListing, UserSyncError>], several: bool) -> Message {
    let mut m = Message::new(Tone::Info, "Connectors");
    for listing in listed {
        let listing = match listing {
            Ok(l) => l,
            Err(e) => {
                m = m.text(Text::new().plain(upstream_text(e)));
                continue;
            }
        };
        if several {
            m = m.text(Text::new().strong(format!("Instance {}", listing.instance)));
        }
        if listing.connectors.is_empty() {
            m = m.text("No connectors are configured.");
        } else {
            let items = listing
                .connectors
                .iter()
                .map(|(c, s)| connector_line(c, s))
                .collect();
            m = m.push(Block::List { items, more: 0 });
        }
    }
    m
}

/// A connector's settings with every secret-looking field redacted.
pub fn connector_message(instance: &str, c: &Connector) -> Message {
    let settings = serde_json::to_string_pretty(&c.redacted()).unwrap_or_default();
    Message::new(Tone::Info, format!("Connector {}", c.display_name()))
        .push(Block::Fields(vec![
            ("Id".into(), Text::new().code(&c.unique_id)),
            ("Kind".into(), Text::new().plain(c.kind().unwrap_or_else(|| "–".into()))),
            (
                "Directory".into(),
                Text::new().plain(c.directory_id().unwrap_or_else(|| "–".into())),
            ),
            ("Instance".into(), Text::new().plain(instance)),
        ]))
        .push(Block::Code(settings))
        .context("Secret-looking settings (password, secret, token, key, credential, certificate) are redacted.")
}

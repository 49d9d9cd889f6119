//! The words of the guard on mass deletion: why it fired, the marked outcome, `run`
//! asking first, and the acknowledgement.

use crate::message::{
    Block, Button, ButtonAction, ButtonStyle, ConfirmDialog, Message, Text, Tone,
};
use crate::store::DeletionAlert;

/// Why the guard fired on a count, as a person reads it.
pub fn count_reason(deleted: u64, max: u64) -> String {
    format!("deleted {deleted} users — more than the {max} that [guards] max_deleted allows")
}

/// Why the guard fired on a share of the previous total.
pub fn share_reason(deleted: u64, previous: u64, share: f64) -> String {
    format!(
        "deleted {deleted} users — more than {:.0}% of the {previous} the previous sync counted ([guards] max_deleted_share)",
        share * 100.0
    )
}

/// A job's outcome, marked as a mass-deletion alert.
pub fn alert(mut outcome: Message, alert: &DeletionAlert, slash: &str) -> Message {
    outcome.tone = Tone::Warning;
    outcome.title = format!("Mass deletion — {}", outcome.title);
    outcome.blocks.insert(
        0,
        Block::Text(
            Text::new()
                .strong(format!(
                    "Sync {} of {}: ",
                    alert.sync_id, alert.connector_name
                ))
                .plain(alert.reason.as_str())
                .plain("."),
        ),
    );
    outcome.blocks.insert(
        1,
        Block::Context(
            Text::new()
                .plain("Until an admin acknowledges it (")
                .code(format!(
                    "{slash} acknowledge {}",
                    quoted(&alert.connector_name)
                ))
                .plain("), starting a sync of this connector from chat asks for confirmation."),
        ),
    );
    outcome
}

/// `run` while an alert is open: what happened, and the buttons.
pub fn run_asks(
    alert: &DeletionAlert,
    confirm_token: String,
    cancel_token: String,
    callback_url: Option<String>,
) -> Message {
    Message::new(Tone::Warning, format!("Run {} anyway?", alert.connector_name))
        .text(
            Text::new()
                .plain(format!("Sync {} of {} ", alert.sync_id, alert.connector_name))
                .plain(alert.reason.as_str())
                .plain(", and no admin has acknowledged it yet."),
        )
        .context("Confirm to start the sync anyway; an admin can acknowledge the alert with `acknowledge <connector>`.")
        .push(Block::Actions {
            buttons: vec![
                Button {
                    action: ButtonAction::Confirm,
                    label: "Run anyway".into(),
                    style: ButtonStyle::Danger,
                    token: confirm_token,
                    confirm: Some(ConfirmDialog {
                        title: format!("Run {}?", alert.connector_name),
                        text: "Its last sync deleted many users.".into(),
                        confirm: "Run".into(),
                        deny: "Back".into(),
                    }),
                },
                Button {
                    action: ButtonAction::Cancel,
                    label: "Cancel".into(),
                    style: ButtonStyle::Default,
                    token: cancel_token,
                    confirm: None,
                },
            ],
            callback_url,
        })
}

/// `acknowledge <connector>`.
pub fn acknowledged(connector: &str, by: &str, n: u64) -> Message {
    if n == 0 {
        return Message::new(Tone::Info, format!("No open alert on {connector}"))
            .text("Nothing to acknowledge: runs of it do not ask.");
    }
    Message::new(Tone::Success, format!("Alert on {connector} acknowledged"))
        .in_channel()
        .text(format!(
            "Acknowledged by {by}: starting a sync of {connector} no longer asks for confirmation."
        ))
}

/// A connector name as it is typed in a command: quoted when it has spaces.
fn quoted(name: &str) -> String {
    if name.contains(char::is_whitespace) {
        format!("\"{name}\"")
    } else {
        name.to_string()
    }
}

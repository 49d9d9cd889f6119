//! What a person reads about deleting a user directory: what will be lost, the typed
//! confirmation, approvals, the result and the way back.

use std::time::Duration;

use crate::message::{
    Block, Button, ButtonAction, ButtonStyle, ConfirmDialog, Message, Text, Tone, TypedForm,
};

/// What the prompt shows.
pub struct DeletePrompt<'a> {
    pub instance: &'a str,
    pub connector: &'a str,
    pub connector_id: &'a str,
    pub directory_id: &'a str,
    /// The last sync's user total, and its id and time.
    pub users: Option<(u64, u64, Option<String>)>,
    pub requester: &'a str,
    pub ttl: Duration,
    pub needed: u32,
    /// Who confirmed so far.
    pub approvers: &'a [String],
    /// `None` where no form can be opened: the prompt asks for the command instead.
    pub buttons: Option<(String, String)>,
    pub code: &'a str,
    pub slash: &'a str,
    pub callback_url: Option<String>,
}

fn admins(n: u32) -> String {
    if n == 1 {
        "1 admin".into()
    } else {
        format!("{n} admins")
    }
}

/// The deletion prompt, posted where the channel sees it.
pub fn prompt(p: DeletePrompt<'_>) -> Message {
    let lost = match &p.users {
        Some((n, sync, when)) => format!(
            "It held {n} users at its last sync (#{sync}{}).",
            when.as_deref()
                .map(|w| format!(", {w}"))
                .unwrap_or_default()
        ),
        None => "How many users it holds is not known (no sync was found).".into(),
    };
    let mut m = Message::new(
        Tone::Failure,
        format!("Delete directory {} of {}?", p.directory_id, p.connector),
    )
    .in_channel()
    .text(
        Text::new()
            .plain("Directory ")
            .code(p.directory_id)
            .plain(" on ")
            .plain(p.instance)
            .plain(", filled by ")
            .strong(p.connector)
            .plain(" (id ")
            .code(p.connector_id)
            .plain("). ")
            .plain(lost),
    )
    .text(
        Text::new()
            .strong("There is no undo: the directory and every user in it are deleted at once."),
    );
    let approvals = if p.approvers.is_empty() {
        String::new()
    } else {
        format!(" · confirmed so far by {}", p.approvers.join(", "))
    };
    let ttl = humantime::format_duration(p.ttl);
    m = m.context(format!(
        "Asked by {} · {} must confirm by typing the directory id, the requester first{approvals} · expires in {ttl}",
        p.requester,
        admins(p.needed),
    ));
    match p.buttons {
        Some((confirm, cancel)) => m.push(Block::Actions {
            buttons: vec![
                Button {
                    action: ButtonAction::Confirm,
                    label: "Delete directory…".into(),
                    style: ButtonStyle::Danger,
                    token: confirm,
                    confirm: None,
                },
                Button {
                    action: ButtonAction::Cancel,
                    label: "Cancel".into(),
                    style: ButtonStyle::Default,
                    token: cancel,
                    confirm: None,
                },
            ],
            callback_url: p.callback_url,
        }),
        None => m.text(
            Text::new()
                .plain("To confirm, type ")
                .code(format!("{} confirm {} {}", p.slash, p.code, p.directory_id)),
        ),
    }
}

/// The form that asks for the directory id.
pub fn form(
    directory_id: &str,
    connector: &str,
    state: String,
    callback_url: Option<String>,
) -> TypedForm {
    TypedForm {
        title: "Delete directory".into(),
        text: format!(
            "This deletes directory {directory_id} of {connector} and every user in it. There is no undo. Type the directory id to confirm."
        ),
        label: "Directory id".into(),
        submit: "Delete".into(),
        state,
        callback_url,
    }
}

/// Said in the form when the entry is not the directory id.
pub fn wrong_entry(directory_id: &str) -> String {
    format!("That is not the directory id: type {directory_id} exactly.")
}

/// Where no form can be opened, a click on the confirm button says what to type.
pub fn type_the_command(slash: &str, code: &str, directory_id: &str) -> Message {
    Message::new(Tone::Info, "Confirm by typing").text(
        Text::new()
            .plain("Type ")
            .code(format!("{slash} confirm {code} {directory_id}"))
            .plain(" to confirm the deletion."),
    )
}

/// The directory was deleted: the result and the way back.
pub fn deleted(
    instance: &str,
    connector: &str,
    directory_id: &str,
    by: &[String],
    revision: Option<u64>,
    recreate: Option<(String, Option<String>)>,
) -> Message {
    let snapshot = revision
        .map(|r| format!(" The connector's settings before it are revision #{r} (history)."))
        .unwrap_or_default();
    let m = Message::new(
        Tone::Warning,
        format!("Directory {directory_id} of {connector} deleted"),
    )
    .in_channel()
    .text(
        Text::new()
            .plain(format!("Directory {directory_id} on {instance} and every user in it were deleted, confirmed by "))
            .plain(by.join(" and "))
            .plain(format!(".{snapshot}")),
    )
    .text(
        "The way back: save the connector to create its directory again (under a new id), then sync. \"Recreate and sync\" does both.",
    );
    match recreate {
        Some((token, callback_url)) => m.push(recreate_button(connector, token, callback_url)),
        None => m,
    }
}

/// A confirmation recorded, waiting for another admin: posted where the channel sees it,
/// with the buttons for the next admin.
pub fn approved(
    connector: &str,
    directory_id: &str,
    by: &str,
    have: usize,
    needed: u32,
    buttons: (String, String),
    callback_url: Option<String>,
) -> Message {
    Message::new(Tone::Warning, format!("Deletion of directory {directory_id} confirmed by {by}"))
        .in_channel()
        .text(format!(
            "{have} of {needed} confirmations. Another admin must type the directory id before directory {directory_id} of {connector} and every user in it are deleted. There is no undo."
        ))
        .push(Block::Actions {
            buttons: vec![
                Button {
                    action: ButtonAction::Confirm,
                    label: "Confirm deletion…".into(),
                    style: ButtonStyle::Danger,
                    token: buttons.0,
                    confirm: None,
                },
                Button {
                    action: ButtonAction::Cancel,
                    label: "Cancel".into(),
                    style: ButtonStyle::Default,
                    token: buttons.1,
                    confirm: None,
                },
            ],
            callback_url,
        })
}

/// The product refused or could not be reached.
pub fn not_deleted(connector: &str, directory_id: &str, why: &str) -> Message {
    Message::new(
        Tone::Failure,
        format!("Directory {directory_id} of {connector} was not deleted"),
    )
    .text(Text::new().plain(why))
    .context("The confirmation is used up: run the command again to retry.")
}

/// After "Recreate and sync".
pub fn recreated(connector: &str, old: &str, new: Option<&str>) -> Message {
    let new = new
        .map(|n| format!(" as directory {n}"))
        .unwrap_or_default();
    Message::new(Tone::Success, format!("Directory of {connector} recreated"))
        .in_channel()
        .text(format!(
            "{connector} was saved unchanged: its directory (was {old}) exists again{new}."
        ))
}

/// `run` or `user` on a connector whose directory the bot deleted.
pub fn gone(
    connector: &str,
    directory_id: &str,
    recreate: Option<(String, Option<String>)>,
) -> Message {
    let m = Message::new(Tone::Warning, format!("The directory of {connector} was deleted"))
        .text(format!(
            "Directory {directory_id} of {connector} was deleted from chat: a sync or user update has nowhere to go. Nothing was sent."
        ))
        .text(
            "The way back: save the connector to create its directory again (under a new id), then sync.",
        );
    match recreate {
        Some((token, callback_url)) => m.push(recreate_button(connector, token, callback_url)),
        None => m.context("An admin can do it: \"Recreate and sync\" on the deletion's message, or save the connector in the User Sync admin pages."),
    }
}

/// The way back after a deletion, as one confirmed button.
fn recreate_button(connector: &str, token: String, callback_url: Option<String>) -> Block {
    Block::Actions {
            buttons: vec![Button {
                action: ButtonAction::Confirm,
                label: "Recreate and sync".into(),
                style: ButtonStyle::Default,
                token,
                confirm: Some(ConfirmDialog {
                    title: format!("Recreate the directory of {connector}?"),
                    text: format!("This saves {connector} unchanged, which creates a new directory, then starts a sync."),
                    confirm: "Recreate and sync".into(),
                    deny: "Back".into(),
                }),
            }],
            callback_url,
        }
}

//! What the bot says about syncs: one place decides the content of a sync record, its
//! tone and hints, and of per-user results, for every platform.

use crate::message::{Block, Message, Text, Tone};
use crate::usersync::{SyncStatus, SyncUserResult};

/// Status messages shown in full; the rest are counted.
const MAX_MESSAGES: usize = 10;

/// A duration in milliseconds, for people (`2m 5s`).
pub fn human_ms(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0 => format!("{ms} ms"),
        1..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {}s", secs / 60, secs % 60),
        _ => format!("{}h {}m", secs / 3600, (secs % 3600) / 60),
    }
}

fn count(v: Option<u64>) -> Text {
    Text::new().plain(v.map_or("–".to_string(), |n| n.to_string()))
}

/// The tone of a sync record: failed, finished with failed users, done, or still going.
pub fn sync_tone(s: &SyncStatus) -> Tone {
    if s.is_failure() {
        Tone::Failure
    } else if !s.status.is_terminal() {
        Tone::Info
    } else if s.failed_count.unwrap_or(0) > 0 {
        Tone::Warning
    } else {
        Tone::Success
    }
}

/// A hint for a known failure, from the record's messages.
pub fn failure_hint(s: &SyncStatus) -> Option<Text> {
    let all = s
        .messages
        .iter()
        .chain(s.result_message.iter())
        .map(|m| m.to_ascii_lowercase())
        .collect::<Vec<_>>();
    if all.iter().any(|m| m.contains("does not exist")) {
        return Some(
            Text::new()
                .strong("The connector's user directory is gone. ")
                .plain("Open the connector in the User Sync admin pages and save it once (this recreates its directory under a new id), then sync again."),
        );
    }
    if all.iter().any(|m| {
        m.contains("unauthorized")
            || m.contains("invalid_client")
            || m.contains("credentials")
            || m.contains("401")
    }) {
        return Some(Text::new().plain(
            "The identity provider rejected the connector's credentials: check the client secret, token or bind password in the connector's settings.",
        ));
    }
    None
}

/// The full picture of one sync: every count, status and result, id, start, duration,
/// node and the messages.
pub fn sync_message(instance: &str, connector: Option<&str>, s: &SyncStatus) -> Message {
    let who = connector.unwrap_or("Sync");
    let mut m = Message::new(
        sync_tone(s),
        format!("{who} — sync {}: {}", s.id, state_text(s)),
    );
    m = m.push(Block::Fields(vec![
        ("Added".into(), count(s.added_count)),
        ("Updated".into(), count(s.updated_count)),
        ("Deleted".into(), count(s.deleted_count)),
        ("Failed".into(), count(s.failed_count)),
        ("Filtered".into(), count(s.filtered_count)),
        ("Not modified".into(), count(s.not_modified_count)),
        ("Total".into(), count(s.result_count)),
    ]));
    m = m.push(Block::Fields(vec![
        ("Status".into(), Text::new().code(s.status.as_str())),
        (
            "Result".into(),
            Text::new().code(s.sync_status_result.as_ref().map_or("–", |r| r.as_str())),
        ),
        ("Sync id".into(), Text::new().plain(s.id.to_string())),
        (
            "Started".into(),
            Text::new().plain(s.created.clone().unwrap_or_else(|| "–".into())),
        ),
        (
            "Duration".into(),
            Text::new().plain(match (s.duration, s.status.is_terminal()) {
                (Some(ms), true) => human_ms(ms),
                _ => "still running".into(),
            }),
        ),
        (
            "Cluster node".into(),
            Text::new().plain(s.cluster_node.clone().unwrap_or_else(|| "–".into())),
        ),
    ]));
    if let Some(hint) = s.is_failure().then(|| failure_hint(s)).flatten() {
        m = m.text(Text::new().plain("💡 ").plain(hint.to_plain()));
    }
    if let Some(result) = s.result_message.as_deref().filter(|r| !r.is_empty()) {
        m = m.text(Text::new().strong("Result: ").plain(result));
    }
    if !s.messages.is_empty() {
        let shown: Vec<Text> = s
            .messages
            .iter()
            .take(MAX_MESSAGES)
            .map(|msg| Text::new().plain(msg))
            .collect();
        m = m.text(Text::new().strong("Messages"));
        m = m.push(Block::List {
            items: shown,
            more: s.messages.len().saturating_sub(MAX_MESSAGES),
        });
    }
    m.context(Text::new().plain(format!(
        "instance {instance} · connector {}",
        s.connector_uid.as_deref().unwrap_or("?")
    )))
}

/// `DONE · SUCCESS` for a finished sync, the status alone while it runs.
pub fn state_text(s: &SyncStatus) -> String {
    match &s.sync_status_result {
        Some(result) if s.status.is_terminal() => format!("{} · {}", s.status, result),
        _ => s.status.to_string(),
    }
}

/// One line for a user result: name, e-mail, what happened and why.
pub fn user_result_line(r: &SyncUserResult) -> Text {
    let mut t = Text::new().code(r.user_name().unwrap_or_else(|| "?".into()));
    if let Some(d) = r.display_name() {
        t = t.plain(format!(" ({d})"));
    }
    if let Some(e) = r.email() {
        t = t.plain(format!(" <{e}>"));
    }
    t = t
        .plain(" — ")
        .strong(r.action().unwrap_or_else(|| "?".into()));
    if let Some(msg) = r.message() {
        t = t.plain(format!(": {msg}"));
    }
    t
}

/// Result lines shown without `--all`, and with it.
const RESULTS_SHOWN: usize = 15;
const RESULTS_SHOWN_ALL: usize = 200;

/// `results`: the per-user results of a sync, failures first (the caller sorts).
pub fn results(sync_id: u64, users: &[SyncUserResult], all: bool) -> Message {
    let failed = users.iter().filter(|u| u.is_failure()).count();
    let limit = if all {
        RESULTS_SHOWN_ALL
    } else {
        RESULTS_SHOWN
    };
    let tone = if failed > 0 {
        Tone::Warning
    } else {
        Tone::Info
    };
    let mut m = Message::new(
        tone,
        format!(
            "Results of sync {sync_id}: {} users, {failed} failed",
            users.len()
        ),
    );
    if users.is_empty() {
        return m.text("No per-user results.");
    }
    m = m.push(Block::List {
        items: users.iter().take(limit).map(user_result_line).collect(),
        more: users.len().saturating_sub(limit),
    });
    if !all && users.len() > limit {
        m = m.context(
            Text::new()
                .plain("Add ")
                .code("--all")
                .plain(" to see more."),
        );
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_ms(0), "0 ms");
        assert_eq!(human_ms(1500), "1s");
        assert_eq!(human_ms(125_000), "2m 5s");
        assert_eq!(human_ms(3_720_000), "1h 2m");
    }
}

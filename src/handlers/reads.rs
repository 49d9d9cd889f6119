//! Read-only commands: connectors, status, show, results, connector, jobs.

use super::present::{self, error_message, sync_message, user_result_line};
use super::{resolve, Handled};
use crate::app::App;
use crate::message::{Block, Message, Text, Tone};
use crate::store::{Delivery, JobKind, JobRecord, JobState};
use crate::usersync::{ResultCount, SyncStatus, UserSyncClient};

/// Result lines shown without `--all`, and with it.
const RESULTS_SHOWN: usize = 15;
const RESULTS_SHOWN_ALL: usize = 200;

pub async fn connectors(app: &App, instance: Option<&str>) -> Handled {
    let clients: Vec<UserSyncClient> = match instance {
        Some(name) => match app.instance(Some(name)) {
            Ok(c) => vec![c.clone()],
            Err(e) => {
                return Handled::failed(Message::new(Tone::Warning, "Unknown instance").text(e))
            }
        },
        None => app.instances.clone(),
    };
    let mut m = Message::new(Tone::Info, "Connectors");
    let mut any_error = None;
    for client in clients {
        let list = match client.list_connectors().await {
            Ok(l) => l,
            Err(e) => {
                m = m.text(Text::new().plain(e.to_string()));
                any_error = Some(e);
                continue;
            }
        };
        // The last sync of every connector, asked for at once.
        let mut set = tokio::task::JoinSet::new();
        for (i, c) in list.iter().enumerate() {
            let client = client.clone();
            let id = c.unique_id.clone();
            set.spawn(async move { (i, client.last_sync_status(&id).await) });
        }
        let mut last: Vec<Option<Result<SyncStatus, String>>> = vec![None; list.len()];
        while let Some(Ok((i, r))) = set.join_next().await {
            last[i] = Some(r.map_err(|e| e.to_string()));
        }
        let items: Vec<Text> = list
            .iter()
            .zip(last)
            .map(|(c, s)| {
                let mut t = Text::new()
                    .strong(c.display_name())
                    .plain(" — ")
                    .plain(c.kind().unwrap_or_else(|| "?".into()))
                    .plain(" · id ")
                    .code(&c.unique_id)
                    .plain(" · directory ")
                    .plain(c.directory_id().unwrap_or_else(|| "–".into()))
                    .plain(" · last sync: ");
                t = match s {
                    Some(Ok(s)) => {
                        let result = s
                            .sync_status_result
                            .as_ref()
                            .map(|r| format!(" {r}"))
                            .unwrap_or_default();
                        t.plain(format!(
                            "{} {} {}{} ({})",
                            present::sync_tone(&s).emoji(),
                            s.id,
                            s.status,
                            result,
                            s.created.as_deref().unwrap_or("?")
                        ))
                    }
                    Some(Err(e)) => t.em(e),
                    None => t.plain("unknown"),
                };
                t
            })
            .collect();
        if app.instances.len() > 1 {
            m = m.text(Text::new().strong(format!("Instance {}", client.instance())));
        }
        if items.is_empty() {
            m = m.text("No connectors are configured.");
        } else {
            m = m.push(Block::List { items, more: 0 });
        }
    }
    match any_error {
        Some(_) if m.blocks.iter().all(|b| matches!(b, Block::Text(_))) => {
            m.tone = Tone::Failure;
            Handled::failed(m)
        }
        _ => Handled::ok(m),
    }
}

pub async fn status(app: &App, wanted: &str) -> Handled {
    let found = match resolve::connector(app, wanted).await {
        Ok(f) => f,
        Err(m) => return Handled::failed(m),
    };
    match found
        .client
        .last_sync_status(&found.connector.unique_id)
        .await
    {
        Ok(s) => Handled::ok(sync_message(
            found.client.instance(),
            Some(found.connector.display_name()),
            &s,
        )),
        Err(e) => Handled::failed(error_message(
            &format!("No status for {}", found.connector.display_name()),
            &e,
        )),
    }
}

pub async fn show(app: &App, sync_id: u64, instance: Option<&str>) -> Handled {
    let client = match app.instance(instance) {
        Ok(c) => c,
        Err(e) => return Handled::failed(Message::new(Tone::Warning, "Which instance?").text(e)),
    };
    match client.sync_status(sync_id).await {
        Ok(s) => {
            let name = connector_name(client, &s).await;
            Handled::ok(sync_message(client.instance(), name.as_deref(), &s))
        }
        Err(e) => Handled::failed(error_message(&format!("Cannot show sync {sync_id}"), &e)),
    }
}

/// The name of a sync's connector, when the product tells it cheaply.
async fn connector_name(client: &UserSyncClient, s: &SyncStatus) -> Option<String> {
    let uid = s.connector_uid.as_deref()?;
    client
        .get_connector(uid)
        .await
        .ok()
        .map(|c| c.display_name().to_string())
}

pub async fn results(app: &App, sync_id: u64, all: bool, instance: Option<&str>) -> Handled {
    let client = match app.instance(instance) {
        Ok(c) => c,
        Err(e) => return Handled::failed(Message::new(Tone::Warning, "Which instance?").text(e)),
    };
    // All results are fetched either way, so that failures further down are shown first.
    let mut users = match client.sync_results(sync_id, ResultCount::All).await {
        Ok(u) => u,
        Err(e) => {
            return Handled::failed(error_message(&format!("No results for sync {sync_id}"), &e))
        }
    };
    users.sort_by_key(|u| !u.is_failure());
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
        m = m.text("No per-user results.");
    } else {
        m = m.push(Block::List {
            items: users.iter().take(limit).map(user_result_line).collect(),
            more: users.len().saturating_sub(limit),
        });
    }
    if !all && users.len() > limit {
        m = m.context(
            Text::new()
                .plain("Add ")
                .code("--all")
                .plain(" to see more."),
        );
    }
    Handled::ok(m)
}

pub async fn connector(app: &App, wanted: &str) -> Handled {
    match resolve::connector(app, wanted).await {
        Ok(found) => Handled::ok(present::connector_message(
            found.client.instance(),
            &found.connector,
        )),
        Err(m) => Handled::failed(m),
    }
}

pub async fn jobs(app: &App) -> Handled {
    let jobs = match app.jobs.list(RECENT_JOBS).await {
        Ok(j) => j,
        Err(e) => {
            tracing::error!(error = %e, "cannot list jobs");
            return Handled::failed(
                Message::new(Tone::Failure, "Cannot list jobs")
                    .text("The bot's store cannot be read; see its log."),
            );
        }
    };
    let following = jobs
        .iter()
        .filter(|j| j.state == JobState::Following)
        .count();
    let mut m = Message::new(Tone::Info, format!("Jobs: {following} being followed"));
    if jobs.is_empty() {
        return Handled::ok(m.text("No syncs or user updates have been started from chat yet."));
    }
    let items: Vec<Text> = jobs.iter().map(job_line).collect();
    m = m.push(Block::List { items, more: 0 });
    Handled::ok(m.context(format!(
        "Jobs being followed, then the last {RECENT_JOBS} finished."
    )))
}

/// Finished jobs listed after the ones being followed.
const RECENT_JOBS: usize = 5;

fn job_line(j: &JobRecord) -> Text {
    let by = j
        .user_name
        .as_ref()
        .map_or(format!("{}:{}", j.platform.as_str(), j.user_id), |n| {
            format!("@{n}")
        });
    let mut t = Text::new()
        .strong(&j.connector_name)
        .plain(format!(" ({}) — ", j.instance));
    t = match j.kind {
        JobKind::Sync => t.plain(
            j.sync_id
                .map_or("sync (id not yet known)".to_string(), |id| {
                    format!("sync {id}")
                }),
        ),
        JobKind::User => t.plain("user ").code(j.subject.clone().unwrap_or_default()),
    };
    t = t.plain(format!(
        " — by {by} since {} — ",
        j.started_at.format("%Y-%m-%d %H:%M UTC")
    ));
    let status: Option<SyncStatus> = j
        .last_status
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    t = match (j.kind, &status, &j.last_status) {
        (JobKind::Sync, Some(s), _) => t.plain(format!(
            "{} {}: {} users ({} added, {} updated, {} deleted, {} failed)",
            present::sync_tone(s).emoji(),
            s.status,
            s.result_count.unwrap_or(0),
            s.added_count.unwrap_or(0),
            s.updated_count.unwrap_or(0),
            s.deleted_count.unwrap_or(0),
            s.failed_count.unwrap_or(0)
        )),
        (JobKind::User, _, Some(v)) => t.plain(
            v.get("action")
                .and_then(|a| a.as_str())
                .unwrap_or("done")
                .to_string(),
        ),
        _ => t.plain("waiting for the first status"),
    };
    if j.state != JobState::Following && j.kind == JobKind::Sync {
        t = t.plain(format!(" — {}", j.state.as_str().replace('_', " ")));
    }
    if j.delivery == Delivery::Undeliverable {
        t = t.em(format!(
            " — outcome not delivered: {}",
            j.delivery_error.clone().unwrap_or_default()
        ));
    }
    t
}

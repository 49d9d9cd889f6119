//! What the bot says about jobs: `run` and `user` answers, progress kept up to date, the
//! outcome of a followed sync, and the `jobs` list.

use std::time::Duration;

use super::sync::{state_text, sync_message, sync_tone, user_result_line};
use super::who;
use crate::domain::Invocation;
use crate::message::{Block, Message, Text, Tone};
use crate::store::{Delivery, JobKind, JobRecord, JobState};
use crate::usersync::{SyncStatus, SyncUserResult, UserSyncError};

/// Failed users listed in an outcome.
const FAILED_USERS_SHOWN: usize = 10;

fn started_by(job: &JobRecord) -> String {
    who(
        job.user_name.as_deref(),
        format_args!("{}:{}", job.platform.as_str(), job.user_id),
    )
}

/// The answer to `run` once the sync is triggered.
pub struct SyncStarted<'a> {
    pub inv: &'a Invocation,
    pub connector: &'a str,
    pub instance: &'a str,
    pub sync_id: Option<u64>,
    pub local: bool,
    /// The job's id, or `None` when it could not be stored.
    pub job_id: Option<i64>,
    pub can_post_late: bool,
}

pub fn sync_started(s: SyncStarted<'_>) -> Message {
    let sync = s
        .sync_id
        .map(|n| format!(" as sync {n}"))
        .unwrap_or_default();
    let mode = if s.local {
        " on the receiving node only"
    } else {
        ""
    };
    let follow = match s.job_id {
        Some(job_id) => format!(
            "Following it as job {job_id}: this message shows its progress, and the outcome is posted here."
        ),
        None => "The bot cannot record the job, so it will not post the outcome: check it with status.".into(),
    };
    let by = who(s.inv.user_name.as_deref(), &s.inv.user);
    let mut message = Message::new(
        Tone::Info,
        format!("Sync of {} started by {by}", s.connector),
    )
    .in_channel()
    .text(Text::new().plain(format!("Started{sync}{mode} on {}. {follow}", s.instance)));
    if !s.can_post_late {
        message = message.context(
            Text::new()
                .plain("No bot token is configured: the outcome of a sync that runs longer than the 30-minute reply window cannot be posted; ")
                .code(format!("{} jobs", s.inv.command))
                .plain(" and ")
                .code(format!("{} show", s.inv.command))
                .plain(" keep it."),
        );
    }
    message
}

/// `run` while the bot already follows a sync of the connector.
pub fn already_following(connector: &str, job: &JobRecord) -> Message {
    Message::new(Tone::Warning, format!("{connector} is already syncing")).text(
        Text::new().plain(format!(
            "The bot is following a sync of it started from chat by {} at {} (job {}). A second one was not started.",
            started_by(job),
            job.started_at.format("%H:%M UTC"),
            job.id
        )),
    )
}

/// `run` while the product already runs a sync: which one, since when, and who started
/// it when the bot did.
pub fn already_running(connector: &str, s: &SyncStatus, job: Option<&JobRecord>) -> Message {
    let by = job.map_or(String::new(), |job| {
        format!(
            ", started from chat by {} at {}",
            started_by(job),
            job.started_at.format("%H:%M UTC")
        )
    });
    Message::new(Tone::Warning, format!("{connector} is already syncing")).text(Text::new().plain(
        format!(
            "Sync {} is {} (created {}{by}). A second one was not started.",
            s.id,
            s.status,
            s.created.as_deref().unwrap_or("?")
        ),
    ))
}

/// What the product said about a single-user update.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub action: Option<String>,
    pub user_name: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub message: Option<String>,
}

impl UserUpdate {
    pub fn failed(&self) -> bool {
        self.action
            .as_deref()
            .is_some_and(|a| a.to_ascii_uppercase().contains("FAIL"))
    }

    pub fn action_or_done(&self) -> String {
        self.action.clone().unwrap_or_else(|| "done".into())
    }
}

pub fn user_update(connector: &str, identifier: &str, u: &UserUpdate) -> Message {
    let tone = if u.failed() {
        Tone::Failure
    } else {
        Tone::Success
    };
    let mut fields = vec![("User".to_string(), Text::new().code(identifier))];
    if let Some(name) = &u.user_name {
        fields.push(("Username".into(), Text::new().code(name)));
    }
    if let Some(d) = &u.display_name {
        fields.push(("Name".into(), Text::new().plain(d)));
    }
    if let Some(e) = &u.email {
        fields.push(("E-mail".into(), Text::new().plain(e)));
    }
    fields.push(("Outcome".into(), Text::new().strong(u.action_or_done())));
    let m = Message::new(tone, format!("User update on {connector}")).push(Block::Fields(fields));
    match u.message.as_deref().filter(|m| !m.trim().is_empty()) {
        Some(text) => m.text(Text::new().plain(text)),
        None => m,
    }
}

/// The failed users of a finished sync, as the bot could read them.
pub enum FailedUsers {
    /// The sync counts no failed users.
    None,
    Listed(Vec<SyncUserResult>),
    Unreadable(UserSyncError),
}

/// The full outcome of a finished sync, with the first failed users.
pub fn outcome(instance: &str, job: &JobRecord, s: &SyncStatus, failed: FailedUsers) -> Message {
    let mut message = sync_message(instance, Some(&job.connector_name), s).in_channel();
    let verb = if s.is_failure() { "failed" } else { "finished" };
    message.title = format!(
        "Sync of {} {verb} — sync {}: {}",
        job.connector_name,
        s.id,
        state_text(s)
    );
    match failed {
        FailedUsers::None => {}
        FailedUsers::Listed(users) => {
            let failed: Vec<_> = users.iter().filter(|u| u.is_failure()).collect();
            if failed.is_empty() {
                return message.context(format!(
                    "The product counts {} failed users but lists none as failed in the results.",
                    s.failed_count.unwrap_or(0)
                ));
            }
            message = message
                .text(Text::new().strong(format!("Failed users ({})", failed.len())))
                .push(Block::List {
                    items: failed
                        .iter()
                        .take(FAILED_USERS_SHOWN)
                        .map(|u| user_result_line(u))
                        .collect(),
                    more: failed.len().saturating_sub(FAILED_USERS_SHOWN),
                });
        }
        FailedUsers::Unreadable(e) => {
            message = message.text(Text::new().plain(format!(
                "(Failed users could not be read: {})",
                super::error::upstream_text(&e)
            )));
        }
    }
    message.context(Text::new().plain(format!(
        "Started from chat by {} · job {}",
        started_by(job),
        job.id
    )))
}

/// The progress message kept up to date while a sync runs.
pub fn progress(job: &JobRecord, s: &SyncStatus) -> Message {
    let started = job
        .user_name
        .as_ref()
        .map_or(String::new(), |n| format!(" started by @{n}"));
    Message::new(
        Tone::Info,
        format!(
            "Sync of {}{started}: {} (sync {})",
            job.connector_name, s.status, s.id
        ),
    )
    .in_channel()
    .text(Text::new().plain(format!(
        "{} users so far: {} added, {} updated, {} deleted, {} failed.",
        s.result_count.unwrap_or(0),
        s.added_count.unwrap_or(0),
        s.updated_count.unwrap_or(0),
        s.deleted_count.unwrap_or(0),
        s.failed_count.unwrap_or(0)
    )))
    .context("The outcome is posted here when it finishes.")
}

/// Told once when polls keep failing while a job is followed.
pub fn trouble(job: &JobRecord, e: &UserSyncError, failures: u32, max_wait: Duration) -> Message {
    Message::new(
        Tone::Warning,
        format!("Trouble following the sync of {}", job.connector_name),
    )
    .in_channel()
    .text(Text::new().plain(super::error::upstream_text(e)))
    .context(format!(
        "{failures} polls in a row failed; the bot keeps trying until {} after the start.",
        humantime::format_duration(max_wait)
    ))
}

/// A job stopped because it ran past `jobs.max_wait`.
/// `run` whose trigger got no clear answer: it may have started; the job looks for it.
pub fn sync_unconfirmed(
    inv: &Invocation,
    connector: &str,
    instance: &str,
    job_id: i64,
    start_window: Duration,
) -> Message {
    let by = who(inv.user_name.as_deref(), &inv.user);
    Message::new(
        Tone::Warning,
        format!("Sync of {connector} asked for by {by}: not confirmed"),
    )
    .in_channel()
    .text(Text::new().plain(format!(
        "{instance} did not confirm the start, so it may or may not have started. It was not asked again. \
         The bot looks for it as job {job_id}: the outcome is posted here, or that it did not start \
         if no new sync shows up within {}.",
        humantime::format_duration(start_window)
    )))
}

/// A job whose sync never showed up within the start window.
pub fn did_not_start(job: &JobRecord, start_window: Duration, slash: &str) -> Message {
    Message::new(
        Tone::Failure,
        format!("Sync of {} did not start", job.connector_name),
    )
    .in_channel()
    .text(Text::new().plain(format!(
        "No new sync of it appeared on {} within {} of the request (job {}), so nothing is running. ",
        job.instance,
        humantime::format_duration(start_window),
        job.id
    )))
    .context(
        Text::new()
            .plain("Start it again with ")
            .code(format!("{slash} run {}", job.connector_name)),
    )
}

pub fn timed_out(job: &JobRecord, max_wait: Duration, slash: &str) -> Message {
    let status: Option<SyncStatus> = job
        .last_status
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    let mut message = Message::new(
        Tone::Warning,
        format!(
            "Sync of {} still running after {}",
            job.connector_name,
            humantime::format_duration(max_wait)
        ),
    )
    .in_channel()
    .text("The bot has stopped following it. It may still finish on its own.");
    if let Some(s) = status {
        message = message.text(Text::new().plain(format!(
            "Last seen: sync {} {} with {} results.",
            s.id,
            s.status,
            s.result_count.unwrap_or(0)
        )));
    }
    message.context(
        Text::new()
            .plain("Check it later with ")
            .code(format!("{slash} status {}", job.connector_name)),
    )
}

/// A job whose instance left the configuration.
pub fn instance_gone(job: &JobRecord) -> Message {
    Message::new(
        Tone::Failure,
        format!("Stopped following {}", job.connector_name),
    )
    .in_channel()
    .text(format!(
        "The instance {} is no longer configured.",
        job.instance
    ))
}

/// A job that ended before a restart without a full outcome to show.
pub fn ended(job: &JobRecord) -> Message {
    Message::new(
        Tone::Warning,
        format!(
            "Job {} on {} ended: {}",
            job.id,
            job.connector_name,
            job.state.as_str()
        ),
    )
    .in_channel()
}

/// `jobs`: the jobs being followed, then the most recent finished ones.
pub fn list(jobs: &[JobRecord], recent: usize) -> Message {
    let following = jobs
        .iter()
        .filter(|j| j.state == JobState::Following)
        .count();
    let m = Message::new(Tone::Info, format!("Jobs: {following} being followed"));
    if jobs.is_empty() {
        return m.text("No syncs or user updates have been started from chat yet.");
    }
    m.push(Block::List {
        items: jobs.iter().map(job_line).collect(),
        more: 0,
    })
    .context(format!(
        "Jobs being followed, then the last {recent} finished."
    ))
}

fn job_state_text(j: &JobRecord) -> String {
    let status: Option<SyncStatus> = j
        .last_status
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    match (j.kind, &status, &j.last_status) {
        (JobKind::Sync, Some(s), _) => format!(
            "{} {}: {} users ({} added, {} updated, {} deleted, {} failed)",
            sync_tone(s).emoji(),
            s.status,
            s.result_count.unwrap_or(0),
            s.added_count.unwrap_or(0),
            s.updated_count.unwrap_or(0),
            s.deleted_count.unwrap_or(0),
            s.failed_count.unwrap_or(0)
        ),
        (JobKind::User, _, Some(v)) => v
            .get("action")
            .and_then(|a| a.as_str())
            .unwrap_or("done")
            .to_string(),
        _ => "waiting for the first status".into(),
    }
}

fn job_line(j: &JobRecord) -> Text {
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
        " — by {} since {} — ",
        started_by(j),
        j.started_at.format("%Y-%m-%d %H:%M UTC")
    ));
    t = t.plain(job_state_text(j));
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

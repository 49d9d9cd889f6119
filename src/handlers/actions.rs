//! Commands that change something in the product: `run` and `user`. Both claim the
//! request's delivery in the store first, so a re-delivered request never runs twice,
//! even across a restart.

use chrono::Utc;

use super::present::error_message;
use super::{resolve, Handled};
use crate::app::App;
use crate::domain::Invocation;
use crate::message::{Block, Message, Text, Tone};
use crate::store::{Delivery, JobKind, JobRecord, JobState};

/// Taken off a `response_url`'s lifetime, so that the bot never posts at the last second.
const RESPONSE_URL_MARGIN: chrono::Duration = chrono::Duration::seconds(60);

/// A new job for this invocation.
fn new_job(app: &App, inv: &Invocation, kind: JobKind, found: &resolve::Found) -> JobRecord {
    let lifetime = app.config.jobs.response_url_lifetime;
    let lifetime = chrono::Duration::from_std(lifetime).unwrap_or_default() - RESPONSE_URL_MARGIN;
    let mut job = JobRecord::new(
        kind,
        inv.platform,
        found.client.instance(),
        &found.connector.unique_id,
        found.connector.display_name(),
        &inv.channel.id,
        &inv.user.id,
    );
    job.user_name = inv.user_name.clone();
    job.response_url = inv.response_url.clone();
    job.response_url_expires_at = inv.response_url.as_ref().map(|_| job.started_at + lifetime);
    job
}

/// Claims the delivery; `Some(answer)` when it was handled before.
async fn claim(app: &App, inv: &Invocation) -> Option<Handled> {
    let trigger = inv.trigger_id.as_deref()?;
    match app.store.claim_delivery(inv.platform, trigger).await {
        Ok(true) => None,
        Ok(false) => Some(Handled {
            message: Message::new(Tone::Info, "Already done")
                .text("This request was received before and has run once; it does not run again."),
            outcome: "duplicate delivery: not run again".into(),
        }),
        Err(e) => {
            tracing::error!(error = %e, "cannot record a delivery");
            Some(Handled::failed(
                Message::new(Tone::Failure, "Not started")
                    .text("The bot cannot record the request in its store, so it does not act on it. Try again shortly."),
            ))
        }
    }
}

fn who(inv: &Invocation) -> String {
    match &inv.user_name {
        Some(name) => format!("@{name}"),
        None => inv.user.to_string(),
    }
}

pub async fn run(app: &App, inv: &Invocation, wanted: &str, local: bool) -> Handled {
    let found = match resolve::connector(app, wanted).await {
        Ok(f) => f,
        Err(m) => return Handled::failed(m),
    };
    let name = found.connector.display_name().to_string();
    let id = &found.connector.unique_id;
    // Check and trigger under one lock per connector, so that two people typing `run`
    // at once cannot both pass the check.
    let _start = app.jobs.start_lock(found.client.instance(), id).await;
    // A re-delivered request is recognised before anything else is said about it.
    if let Some(done) = claim(app, inv).await {
        return done;
    }
    if let Some(job) = app.jobs.following_on(found.client.instance(), id).await {
        return Handled {
            message: Message::new(Tone::Warning, format!("{name} is already syncing")).text(
                Text::new().plain(format!(
                    "The bot is following a sync of it started from chat by {} at {} (job {}). A second one was not started.",
                    job.user_name.map_or(format!("{}:{}", job.platform.as_str(), job.user_id), |n| format!("@{n}")),
                    job.started_at.format("%H:%M UTC"),
                    job.id
                )),
            ),
            outcome: format!("not started: job {} still following", job.id),
        };
    }
    // Never start a second sync while one runs.
    let before = match found.client.last_sync_status(id).await {
        Ok(s) => Some(s),
        Err(crate::usersync::UserSyncError::NotFound { .. }) => None,
        Err(e) => return Handled::failed(error_message(&format!("Not started: {name}"), &e)),
    };
    if let Some(s) = before.as_ref().filter(|s| !s.status.is_terminal()) {
        return already_running(app, &found, s).await;
    }
    let answer = match found.client.trigger_sync(id, local).await {
        Ok(a) => a,
        Err(e) => {
            return Handled::failed(error_message(&format!("Sync of {name} not started"), &e))
        }
    };
    let sync = answer
        .sync_id()
        .map(|n| format!(" as sync {n}"))
        .unwrap_or_default();
    let mode = if local {
        " on the receiving node only"
    } else {
        ""
    };
    let mut job = new_job(app, inv, JobKind::Sync, &found);
    job.baseline_sync_id = before.as_ref().map(|s| s.id);
    job.sync_id = answer.sync_id();
    job.local = local;
    let follow = match app.jobs.start(job).await {
        Ok(job_id) => format!(
            "Following it as job {job_id}: this message shows its progress, and the outcome is posted here."
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot store a job");
            "The bot cannot record the job, so it will not post the outcome: check it with status."
                .into()
        }
    };
    let mut message = Message::new(
        Tone::Info,
        format!("Sync of {name} started by {}", who(inv)),
    )
    .in_channel()
    .text(Text::new().plain(format!(
        "Started{sync}{mode} on {}. {follow}",
        found.client.instance()
    )));
    if !app.jobs.can_post_late(inv.platform) {
        message = message.context(
            Text::new()
                .plain("No bot token is configured: the outcome of a sync that runs longer than the 30-minute reply window cannot be posted; ")
                .code(format!("{} jobs", inv.command))
                .plain(" and ")
                .code(format!("{} show", inv.command))
                .plain(" keep it."),
        );
    }
    Handled {
        message,
        outcome: format!("sync started{sync}"),
    }
}

/// The answer when a sync already runs: which one, since when, and who started it when
/// the bot did.
async fn already_running(
    app: &App,
    found: &resolve::Found,
    s: &crate::usersync::SyncStatus,
) -> Handled {
    let name = found.connector.display_name();
    let by = match app
        .jobs
        .job_for_sync(found.client.instance(), &found.connector.unique_id, s.id)
        .await
    {
        Some(job) => format!(
            ", started from chat by {} at {}",
            job.user_name.map_or(
                format!("{}:{}", job.platform.as_str(), job.user_id),
                |n| format!("@{n}")
            ),
            job.started_at.format("%H:%M UTC")
        ),
        None => String::new(),
    };
    Handled {
        message: Message::new(Tone::Warning, format!("{name} is already syncing")).text(
            Text::new().plain(format!(
                "Sync {} is {} (created {}{by}). A second one was not started.",
                s.id,
                s.status,
                s.created.as_deref().unwrap_or("?")
            )),
        ),
        outcome: format!("not started: sync {} still running", s.id),
    }
}

pub async fn user(
    app: &App,
    inv: &Invocation,
    wanted: &str,
    identifier: &str,
    by_username: bool,
) -> Handled {
    let found = match resolve::connector(app, wanted).await {
        Ok(f) => f,
        Err(m) => return Handled::failed(m),
    };
    if let Some(done) = claim(app, inv).await {
        return done;
    }
    let name = found.connector.display_name().to_string();
    match found
        .client
        .sync_single_user(&found.connector.unique_id, identifier, by_username)
        .await
    {
        Ok(answer) => {
            let json = answer.json.unwrap_or_default();
            let field = |k: &str| json.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let action = field("action")
                .or_else(|| field("result"))
                .or_else(|| field("status"));
            let failed = action
                .as_deref()
                .is_some_and(|a| a.to_ascii_uppercase().contains("FAIL"));
            let tone = if failed { Tone::Failure } else { Tone::Success };
            let mut fields = vec![("User".to_string(), Text::new().code(identifier))];
            if let Some(u) = field("userName") {
                fields.push(("Username".into(), Text::new().code(u)));
            }
            if let Some(d) = field("displayName") {
                fields.push(("Name".into(), Text::new().plain(d)));
            }
            if let Some(e) = field("email") {
                fields.push(("E-mail".into(), Text::new().plain(e)));
            }
            fields.push((
                "Outcome".into(),
                Text::new().strong(action.clone().unwrap_or_else(|| "done".into())),
            ));
            let mut m =
                Message::new(tone, format!("User update on {name}")).push(Block::Fields(fields));
            if let Some(msg) = field("message")
                .or(answer.text)
                .filter(|m| !m.trim().is_empty())
            {
                m = m.text(Text::new().plain(msg));
            }
            let mut job = new_job(app, inv, JobKind::User, &found);
            job.subject = Some(identifier.to_string());
            job.state = if failed {
                JobState::Failed
            } else {
                JobState::Done
            };
            job.last_status = Some(json.clone());
            job.delivery = Delivery::Posted;
            job.finished_at = Some(Utc::now());
            if let Err(e) = app.jobs.start(job).await {
                tracing::error!(error = %e, "cannot record a user update");
            }
            Handled {
                message: m,
                outcome: format!("user update: {}", action.unwrap_or_else(|| "done".into())),
            }
        }
        Err(e) => Handled::failed(error_message(&format!("User update on {name} failed"), &e)),
    }
}

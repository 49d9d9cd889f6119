//! Posts made exactly once across a crash: each outcome and announcement carries its
//! delivery's id as a tag (Slack `metadata`, Mattermost `props`); one whose intent is
//! found "in flight" — as a process that died between posting and recording leaves it —
//! is looked for in its channel (`conversations.history`, Mattermost's channel posts)
//! and posted again only when it is not there, or when the platform cannot be asked.

use std::time::Duration;

use serde_json::{json, Value};
use usersync_bot::chat::mattermost::api::TAG_PROP;
use usersync_bot::chat::slack::api::{tag_metadata, TAG_EVENT_TYPE};
use usersync_bot::domain::{Platform, Principal};
use usersync_bot::jobs::outcome_tag;
use usersync_bot::notify::announcement_tag;
use usersync_bot::simulator::SimulatorHandle;
use usersync_bot::store::{Delivery, PostIntent, PostMark};
use usersync_bot::usersync::ApiFlavour;

use crate::support::bot::*;
use crate::support::*;

const TOKEN_OUTCOMES: &str = "bot_token = \"xoxb-once\"\napi_base_url = \"{SLACK}\"";
/// The response_url lapses at once: the outcome goes with the bot token, tagged.
const JOBS: &str = "poll_interval = \"50ms\"\nmax_wait = \"1m\"\nresponse_url_lifetime = \"1ms\"";

async fn slack_bot(sim: &SimulatorHandle, slack: &FakeSlackHandle) -> TestBot {
    let mut setup = BotSetup::new(sim);
    setup.extra = Box::leak(format!("[jobs]\n{JOBS}\n").into_boxed_str());
    setup.slack_extra = TOKEN_OUTCOMES.replace("{SLACK}", &format!("http://{}/api", slack.addr));
    setup.start().await
}

/// Starts `run okta` and records its outcome's intent as a process before a crash would
/// have: in flight. Returns the outcome's tag.
async fn run_with_outcome_in_flight(
    bot: &TestBot,
    slack: &FakeSlackHandle,
    channel: &str,
) -> String {
    bot.command(&run_cmd(slack, "run okta", "once")).await;
    let job = bot.bot.app.store.recent_jobs(1).await.unwrap().remove(0);
    assert!(job.finished_at.is_none(), "the sync is still running");
    let tag = outcome_tag(job.id);
    let intent = PostIntent {
        id: &tag,
        platform: Platform::Slack,
        channel_id: channel,
        findable: true,
    };
    assert_eq!(
        bot.bot.app.store.begin_post(&intent).await.unwrap(),
        PostMark::New
    );
    tag
}

fn token_outcomes(slack: &FakeSlackHandle) -> Vec<Value> {
    slack
        .received()
        .into_iter()
        .filter(|(p, b)| {
            p == "/api/chat.postMessage" && visible(b).contains("Sync of Okta finished")
        })
        .map(|(_, b)| b)
        .collect()
}

fn history_calls(slack: &FakeSlackHandle) -> Vec<std::collections::HashMap<String, String>> {
    slack.slack.history_calls.lock().unwrap().clone()
}

#[tokio::test]
async fn an_outcome_left_in_flight_and_found_in_its_channel_is_not_posted_again() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(800)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = slack_bot(&sim, &slack).await;
    let started = chrono::Utc::now().timestamp();
    let tag = run_with_outcome_in_flight(&bot, &slack, OPS_CHANNEL).await;
    // What the process before the crash posted: the channel has the tagged message.
    slack.slack.history.lock().unwrap().push(json!({
        "channel": OPS_CHANNEL, "ts": "1699999999.000001",
        "text": "Sync of Okta finished", "metadata": tag_metadata(&tag),
    }));

    let job = bot.wait_job_over().await;
    assert_eq!(job.delivery, Delivery::Posted, "{job:?}");
    assert!(
        token_outcomes(&slack).is_empty(),
        "found in the channel, so not posted again: {:?}",
        slack.received()
    );
    let calls = history_calls(&slack);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["channel"], OPS_CHANNEL);
    assert_eq!(calls[0]["include_all_metadata"], "true");
    let oldest: f64 = calls[0]["oldest"].parse().unwrap();
    assert!(
        oldest <= started as f64 && oldest >= (started - 300) as f64,
        "looked from a little before the intent: {oldest} vs {started}"
    );
    let intent = PostIntent {
        id: &tag,
        platform: Platform::Slack,
        channel_id: OPS_CHANNEL,
        findable: true,
    };
    assert_eq!(
        bot.bot.app.store.begin_post(&intent).await.unwrap(),
        PostMark::Posted,
        "and recorded as posted"
    );
}

#[tokio::test]
async fn an_outcome_left_in_flight_and_not_in_its_channel_is_posted_once_with_its_tag() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(800)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = slack_bot(&sim, &slack).await;
    let tag = run_with_outcome_in_flight(&bot, &slack, OPS_CHANNEL).await;
    // Another message with a tag, not this one's: no reason to hold back.
    slack.slack.history.lock().unwrap().push(json!({
        "channel": OPS_CHANNEL, "ts": "1699999999.000001",
        "metadata": tag_metadata("job-999-outcome"),
    }));

    let job = bot.wait_job_over().await;
    assert_eq!(job.delivery, Delivery::Posted);
    let posted = token_outcomes(&slack);
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0]["metadata"]["event_type"], TAG_EVENT_TYPE);
    assert_eq!(
        posted[0]["metadata"]["event_payload"]["delivery_id"],
        tag.as_str()
    );
    assert_eq!(history_calls(&slack).len(), 1, "looked once before posting");
}

#[tokio::test]
async fn without_the_history_scope_a_post_left_in_flight_is_posted_again_at_least_once() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(800)).await;
    let slack = FakeSlackHandle::start().await;
    *slack.slack.history_error.lock().unwrap() = Some("missing_scope".into());
    let bot = slack_bot(&sim, &slack).await;
    let tag = run_with_outcome_in_flight(&bot, &slack, OPS_CHANNEL).await;
    slack.slack.history.lock().unwrap().push(json!({
        "channel": OPS_CHANNEL, "ts": "1699999999.000001", "metadata": tag_metadata(&tag),
    }));

    let job = bot.wait_job_over().await;
    assert_eq!(job.delivery, Delivery::Posted);
    let posted = token_outcomes(&slack);
    assert_eq!(
        posted.len(),
        1,
        "the platform could not be asked: posted again"
    );
    assert_eq!(
        posted[0]["metadata"]["event_payload"]["delivery_id"],
        tag.as_str()
    );
    assert_eq!(history_calls(&slack).len(), 1, "it was asked, and said no");
}

#[tokio::test]
async fn an_outcome_posted_at_once_is_tagged_and_nobody_is_asked() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(200)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = slack_bot(&sim, &slack).await;
    bot.command(&run_cmd(&slack, "run okta", "fresh")).await;
    let job = bot.wait_job_over().await;
    let posted = token_outcomes(&slack);
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(
        posted[0]["metadata"]["event_payload"]["delivery_id"],
        outcome_tag(job.id).as_str()
    );
    assert!(history_calls(&slack).is_empty(), "no post was in flight");
}

#[tokio::test]
async fn a_mattermost_outcome_is_tagged_in_its_props_and_found_in_the_channel_posts() {
    const CHANNEL: &str = MM_OPS_CHANNEL;
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(600)).await;
    let mm = FakeMattermostHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.mattermost = Some(mm_section(&mm.url(), Some("mm-bot-token")));
    setup.roles_extra = format!(", \"mattermost:{MM_OPERATOR}\"");
    setup.extra = Box::leak(
        "[jobs]\npoll_interval = \"50ms\"\nmax_wait = \"1m\"\n"
            .to_string()
            .into_boxed_str(),
    );
    let bot = setup.start().await;

    // First job: its outcome goes through the response_url, tagged in its props.
    bot.mm_say(MM_OPERATOR, CHANNEL, "run okta", &mm.response_url("first"))
        .await;
    let first = bot.wait_job_over().await;
    let hooks: Vec<Value> = mm
        .received()
        .into_iter()
        .filter(|(m, p, _, _)| m == "POST" && p == "/hooks/commands/first")
        .map(|(_, _, _, b)| b)
        .collect();
    let outcome: Vec<&Value> = hooks
        .iter()
        .filter(|b| {
            b["text"]
                .as_str()
                .unwrap_or_default()
                .contains("Sync of Okta finished")
        })
        .collect();
    assert_eq!(outcome.len(), 1, "{hooks:?}");
    assert_eq!(
        outcome[0]["props"][TAG_PROP],
        outcome_tag(first.id).as_str()
    );

    // Second job, its outcome left in flight and already in the channel: not posted.
    bot.mm_say(MM_OPERATOR, CHANNEL, "run okta", &mm.response_url("second"))
        .await;
    let job = bot.bot.app.store.recent_jobs(1).await.unwrap().remove(0);
    assert_ne!(job.id, first.id);
    let tag = outcome_tag(job.id);
    let intent = PostIntent {
        id: &tag,
        platform: Platform::Mattermost,
        channel_id: CHANNEL,
        findable: true,
    };
    bot.bot.app.store.begin_post(&intent).await.unwrap();
    mm.mm.posts.lock().unwrap().push(json!({
        "id": "crashedpost1", "channel_id": CHANNEL, "props": {TAG_PROP: tag},
    }));
    let over = wait_for("the second job to be over", || async {
        let j = bot.bot.app.store.recent_jobs(1).await.unwrap().remove(0);
        (j.finished_at.is_some() && j.delivery == Delivery::Posted).then_some(j)
    })
    .await;
    assert_eq!(over.id, job.id);
    let all = mm.received();
    let second_outcomes = all
        .iter()
        .filter(|(m, p, _, b)| {
            m == "POST"
                && (p == "/hooks/commands/second" || p == "/api/v4/posts")
                && b.to_string().contains("Sync of Okta finished")
        })
        .count();
    assert_eq!(second_outcomes, 0, "found in the channel: {all:?}");
    let lookups: Vec<_> = all
        .iter()
        .filter(|(m, p, _, _)| {
            m == "GET" && p.starts_with(&format!("/api/v4/channels/{CHANNEL}/posts?since="))
        })
        .collect();
    assert_eq!(lookups.len(), 1, "{all:?}");
    assert_eq!(lookups[0].2.as_deref(), Some("Bearer mm-bot-token"));
}

#[tokio::test]
async fn an_announcement_left_in_flight_and_found_in_its_channel_is_not_posted_again() {
    const WATCHED: &str = "C0ONCEANN";
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let db = temp_db();
    let start = |db: std::path::PathBuf| {
        let mut setup = BotSetup::new(&sim);
        setup.db = db;
        setup.slack_extra = format!(
            "bot_token = \"xoxb-notify\"\napi_base_url = \"http://{}/api\"",
            slack.addr
        );
        setup.extra = Box::leak(
            format!(
                "[jobs]\npoll_interval = \"50ms\"\n[watch]\ninterval = \"100ms\"\n\
                 [[notify]]\nconnectors = [\"Okta\"]\nchannel = \"slack:{WATCHED}\"\non = [\"success\"]\n"
            )
            .into_boxed_str(),
        );
        setup.start()
    };
    let bot = start(db.clone()).await;
    wait_baseline(&bot, OKTA).await;
    let store = bot.bot.app.store.clone();
    bot.bot.stop().await;

    // While the bot is down a sync finishes; its announcement was begun, and posted,
    // by a process that died before recording it (as far as the store knows: in flight).
    let done = scheduled_sync(&sim, OKTA).await;
    let channel = Principal::new(Platform::Slack, WATCHED.to_string());
    let tag = announcement_tag(&channel, "jira", OKTA, done);
    let intent = PostIntent {
        id: &tag,
        platform: Platform::Slack,
        channel_id: WATCHED,
        findable: true,
    };
    assert_eq!(store.begin_post(&intent).await.unwrap(), PostMark::New);
    slack.slack.history.lock().unwrap().push(json!({
        "channel": WATCHED, "ts": "1699999999.000001", "metadata": tag_metadata(&tag),
    }));
    let bot = start(db).await;
    wait_for("the announcement to be settled", || async {
        let mark = bot.bot.app.store.begin_post(&intent).await.unwrap();
        (mark == PostMark::Posted).then_some(())
    })
    .await;
    let next = scheduled_sync(&sim, OKTA).await;
    wait_for("the next sync's announcement", || async {
        let posts: Vec<Value> = slack
            .received()
            .into_iter()
            .filter(|(p, b)| p == "/api/chat.postMessage" && b["channel"] == WATCHED)
            .map(|(_, b)| b)
            .collect();
        (!posts.is_empty()).then_some(posts)
    })
    .await;
    let posts: Vec<Value> = slack
        .received()
        .into_iter()
        .filter(|(p, b)| p == "/api/chat.postMessage" && b["channel"] == WATCHED)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(posts.len(), 1, "only the next sync's: {posts:?}");
    assert!(
        visible(&posts[0]).contains(&format!("sync {next}")),
        "{posts:?}"
    );
    assert_eq!(
        posts[0]["metadata"]["event_payload"]["delivery_id"],
        announcement_tag(&channel, "jira", OKTA, next).as_str()
    );
}

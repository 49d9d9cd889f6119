//! What a person reads, pinned as snapshots: the JSON each platform renders for the main
//! replies, as answered over HTTP or as posted to the fake chat server. Times, ports and
//! random ids are normalised so that the snapshots hold on any machine and any day.

use std::time::Duration;

use serde_json::Value;
use usersync_bot::simulator::SimulatorHandle;
use usersync_bot::usersync::ApiFlavour;

use crate::support::bot::*;
use crate::support::*;

const FAST_JOBS: &str = "[jobs]\npoll_interval = \"50ms\"\nmax_wait = \"1m\"\n";
const ALERTS: &str = "mmalerts0chan";
const CHANNEL: &str = "C0SUCCESS1";

/// Pretty JSON with what changes from run to run replaced.
fn normalised(body: &Value) -> String {
    let mut body = body.clone();
    normalise(&mut body);
    serde_json::to_string_pretty(&body).unwrap()
}

fn normalise(v: &mut Value) {
    match v {
        Value::String(s) => *s = scrub(s),
        Value::Array(items) => items.iter_mut().for_each(normalise),
        Value::Object(map) => map.values_mut().for_each(normalise),
        _ => {}
    }
}

/// Connector ids are the simulator's seed and stay; other UUIDs (job ids the product
/// makes up) change at every run.
const SEEDED: [&str; 2] = [AZURE, OKTA];

fn scrub(s: &str) -> String {
    let s = replace_shape(s, "dddd-dd-ddTdd:dd:ddZ", |_| "[time]".into());
    let s = replace_shape(&s, "dddd-dd-dd dd:dd:dd", |_| "[time]".into());
    let s = replace_shape(&s, "dddd-dd-dd dd:dd UTC", |_| "[time]".into());
    let s = replace_shape(&s, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", |uuid| {
        if SEEDED.contains(&uuid) || uuid.starts_with("c5e7a9b1") {
            uuid.to_string()
        } else {
            "[uuid]".into()
        }
    });
    // A fallback text cut short may end in the middle of a job id.
    let s = replace_after(
        &s,
        "jobid ",
        |c| c.is_ascii_hexdigit() || c == '-',
        "[uuid]",
    );
    replace_after(&s, "127.0.0.1:", |c| c.is_ascii_digit(), "[port]")
}

/// Replaces every run of characters matching `shape`: `d` a digit, `x` a lowercase hex
/// digit, anything else itself.
fn replace_shape(s: &str, shape: &str, with: impl Fn(&str) -> String) -> String {
    let (bytes, shape) = (s.as_bytes(), shape.as_bytes());
    let fits = |at: usize| {
        bytes.len() >= at + shape.len()
            && shape.iter().zip(&bytes[at..]).all(|(p, b)| match p {
                b'd' => b.is_ascii_digit(),
                b'x' => b.is_ascii_digit() || (b'a'..=b'f').contains(b),
                p => p == b,
            })
    };
    let mut out = String::new();
    let mut at = 0;
    let mut copied = 0;
    while at < bytes.len() {
        // Only ASCII matches, so `at` is on a character boundary whenever one fits.
        if fits(at) {
            out.push_str(&s[copied..at]);
            out.push_str(&with(&s[at..at + shape.len()]));
            at += shape.len();
            copied = at;
        } else {
            at += 1;
        }
    }
    out.push_str(&s[copied..]);
    out
}

/// Replaces the characters matching `keep` that follow each `prefix`.
fn replace_after(s: &str, prefix: &str, keep: impl Fn(char) -> bool, with: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(prefix) {
        out.push_str(&rest[..i + prefix.len()]);
        rest = &rest[i + prefix.len()..];
        let end = rest.find(|c: char| !keep(c)).unwrap_or(rest.len());
        if end > 0 {
            out.push_str(with);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

async fn sim() -> SimulatorHandle {
    simulator(ApiFlavour::V2, Duration::from_millis(200)).await
}

/// A bot on both platforms, posting to the fake servers with their bot accounts.
async fn bot_on_both(
    sim: &SimulatorHandle,
    slack: &FakeSlackHandle,
    mm: &FakeMattermostHandle,
    extra: &str,
) -> TestBot {
    let mut setup = BotSetup::new(sim);
    setup.mattermost = Some(mm_section(&mm.url(), None));
    setup.roles_extra = format!(", \"mattermost:{MM_OPERATOR}\"");
    setup.slack_extra = format!("api_base_url = \"http://{}/api\"", slack.addr);
    setup.extra = extra;
    setup.start().await
}

async fn mm_reply(bot: &TestBot, user: &str, text: &str) -> Value {
    bot.mm_say(
        user,
        MM_OPS_CHANNEL,
        text,
        "http://127.0.0.1:1/hooks/commands/unused",
    )
    .await
}

#[test]
fn the_normaliser_replaces_times_ports_and_random_ids_only() {
    let scrubbed = scrub(&format!(
        "at 2026-12-01T21:52:48Z from http://127.0.0.1:41234/x, jobid \
         a133de33-629f-4fd0-865d-e16276e6543e, connector {OKTA}, sync 95, 127.0.0.1:, \
         finished at 2026-12-01 21:57 UTC, jobid 1fee6c06-68b9-4e6…, audited 2026-12-01 21:57:03 —"
    ));
    assert_eq!(
        scrubbed,
        format!(
            "at [time] from http://127.0.0.1:[port]/x, jobid [uuid], connector {OKTA}, \
             sync 95, 127.0.0.1:, finished at [time], jobid [uuid]…, audited [time] —"
        )
    );
}

#[tokio::test]
async fn help_reads_the_same_every_time_on_slack_and_mattermost() {
    let sim = sim().await;
    let (slack, mm) = (
        FakeSlackHandle::start().await,
        FakeMattermostHandle::start().await,
    );
    let bot = bot_on_both(&sim, &slack, &mm, "").await;
    insta::assert_snapshot!("slack_help", normalised(&bot.say(OPERATOR, "help").await));
    insta::assert_snapshot!(
        "mattermost_help",
        normalised(&mm_reply(&bot, MM_OPERATOR, "help").await)
    );
}

#[tokio::test]
async fn status_of_a_connector_reads_the_same_every_time_on_slack_and_mattermost() {
    let sim = sim().await;
    let (slack, mm) = (
        FakeSlackHandle::start().await,
        FakeMattermostHandle::start().await,
    );
    let bot = bot_on_both(&sim, &slack, &mm, "").await;
    insta::assert_snapshot!(
        "slack_status_okta",
        normalised(&bot.say(VIEWER, "status okta").await)
    );
    insta::assert_snapshot!(
        "mattermost_status_okta",
        normalised(&mm_reply(&bot, "mmsomeoneuser", "status okta").await)
    );
}

#[tokio::test]
async fn a_denial_reads_the_same_every_time_on_slack_and_mattermost() {
    let sim = sim().await;
    let (slack, mm) = (
        FakeSlackHandle::start().await,
        FakeMattermostHandle::start().await,
    );
    let bot = bot_on_both(&sim, &slack, &mm, "").await;
    insta::assert_snapshot!(
        "slack_denial",
        normalised(&bot.say(VIEWER, "run okta").await)
    );
    insta::assert_snapshot!(
        "mattermost_denial",
        normalised(&mm_reply(&bot, "mmsomeoneuser", "run okta").await)
    );
}

#[tokio::test]
async fn the_audit_reads_the_same_every_time_on_slack_and_mattermost() {
    const MM_ADMIN: &str = "mmadmin0user";
    let sim = sim().await;
    let mm = FakeMattermostHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.mattermost = Some(mm_section(&mm.url(), None));
    setup.admin_extra = format!(", \"mattermost:{MM_ADMIN}\"");
    setup.top_extra = "public_url = \"https://usersync-bot.example.com\"".into();
    let bot = setup.start().await;
    bot.say(VIEWER, "status okta").await;
    bot.say(VIEWER, "run okta").await;
    bot.say(VIEWER, "frobnicate <!channel>").await;
    bot.audit_rows(3).await;
    insta::assert_snapshot!("slack_audit", normalised(&bot.say(ADMIN, "audit").await));
    bot.audit_rows(4).await;
    insta::assert_snapshot!(
        "mattermost_audit",
        normalised(&mm_reply(&bot, MM_ADMIN, "audit 2 --user U0SOMEONE").await)
    );
}

#[tokio::test]
async fn a_finished_sync_posted_by_its_job_reads_the_same_every_time_on_slack_and_mattermost() {
    let sim = sim().await;
    let (slack, mm) = (
        FakeSlackHandle::start().await,
        FakeMattermostHandle::start().await,
    );
    let bot = bot_on_both(&sim, &slack, &mm, FAST_JOBS).await;

    let mut cmd = Cmd::new(OPERATOR, "run okta");
    cmd.response_url = Some(slack.response_url("outcome"));
    bot.command(&cmd).await;
    bot.wait_job_over().await;
    let (_, outcome) = slack
        .received()
        .into_iter()
        .rfind(|(p, b)| p == "/commands/T0001/outcome" && b["replace_original"] == false)
        .expect("the outcome was posted");
    insta::assert_snapshot!("slack_job_outcome", normalised(&outcome));

    bot.mm_say(
        MM_OPERATOR,
        MM_OPS_CHANNEL,
        "run okta",
        &mm.response_url("outcome"),
    )
    .await;
    bot.wait_job_over().await;
    let (_, _, _, outcome) = mm
        .received()
        .into_iter()
        .rfind(|(_, p, _, b)| p == "/hooks/commands/outcome" && b["text"].is_string())
        .expect("the outcome was posted");
    insta::assert_snapshot!("mattermost_job_outcome", normalised(&outcome));
}

#[tokio::test]
async fn an_announcement_of_a_finished_sync_reads_the_same_every_time_on_slack_and_mattermost() {
    let sim = sim().await;
    let (slack, mm) = (
        FakeSlackHandle::start().await,
        FakeMattermostHandle::start().await,
    );
    let mut setup = BotSetup::new(&sim);
    setup.mattermost = Some(mm_section(&mm.url(), Some("mm-bot-token")));
    setup.slack_extra = format!(
        "bot_token = \"xoxb-notify\"\napi_base_url = \"http://{}/api\"",
        slack.addr
    );
    let extra = format!(
        "[watch]\ninterval = \"50ms\"\n\
         [[notify]]\nconnectors = [\"okta\"]\nchannel = \"slack:{CHANNEL}\"\non = [\"success\"]\n\
         [[notify]]\nconnectors = [\"okta\"]\nchannel = \"mattermost:{ALERTS}\"\non = [\"success\"]\n"
    );
    setup.extra = &extra;
    let bot = setup.start().await;
    wait_baseline(&bot, OKTA).await;
    scheduled_sync(&sim, OKTA).await;
    let slack_post = wait_for("the Slack announcement", || async {
        slack
            .received()
            .into_iter()
            .find(|(p, b)| p == "/api/chat.postMessage" && b["channel"] == CHANNEL)
    })
    .await;
    let mm_post = wait_for("the Mattermost announcement", || async {
        mm.received()
            .into_iter()
            .find(|(m, p, _, b)| m == "POST" && p == "/api/v4/posts" && b["channel_id"] == ALERTS)
    })
    .await;
    insta::assert_snapshot!("slack_announcement", normalised(&slack_post.1));
    insta::assert_snapshot!("mattermost_announcement", normalised(&mm_post.3));
}

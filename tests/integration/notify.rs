//! Completion notifications over real HTTP: the simulator runs syncs on its own, the bot
//! watches, and a fake Slack records what is posted.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::bot::*;
use crate::support::*;
use serde_json::json;
use usersync_bot::simulator::{Faults, SimulatorHandle, SyncOrigin};
use usersync_bot::usersync::ApiFlavour;

const CFAIL: &str = "C0FAILURES";
const COK: &str = "C0SUCCESS1";
const CTH: &str = "C0THRESHLD";

async fn bot_with(
    sim: &SimulatorHandle,
    slack: &FakeSlackHandle,
    extra: &str,
    db: std::path::PathBuf,
) -> TestBot {
    let mut setup = BotSetup::new(sim);
    setup.db = db;
    setup.slack_extra = format!(
        "bot_token = \"xoxb-notify\"\napi_base_url = \"http://{}/api\"",
        slack.addr
    );
    setup.extra = Box::leak(extra.to_string().into_boxed_str());
    setup.start().await
}

fn routes(interval: &str, routes: &str) -> String {
    format!("[jobs]\npoll_interval = \"50ms\"\n[watch]\ninterval = \"{interval}\"\n{routes}")
}

/// Posts made with chat.postMessage: (channel, visible text).
fn posts(slack: &FakeSlackHandle) -> Vec<(String, String)> {
    slack
        .received()
        .into_iter()
        .filter(|(p, _)| p == "/api/chat.postMessage")
        .map(|(_, b)| {
            (
                b["channel"].as_str().unwrap_or_default().to_string(),
                visible(&b),
            )
        })
        .collect()
}

fn posts_to(slack: &FakeSlackHandle, channel: &str) -> Vec<String> {
    posts(slack)
        .into_iter()
        .filter(|(c, _)| c == channel)
        .map(|(_, t)| t)
        .collect()
}

async fn wait_posts(slack: &FakeSlackHandle, channel: &str, n: usize) -> Vec<String> {
    wait_for(&format!("{n} post(s) to {channel}"), || async {
        let p = posts_to(slack, channel);
        (p.len() >= n).then_some(p)
    })
    .await
}

/// Waits until the watcher has made two whole looks after this call: a look asks for
/// `connector`'s last sync `per_look` times (more when GETs are retried) and posts what it
/// announces before the next look begins, so the polls of four looks from now on are
/// enough. Whatever those looks would announce has then been announced.
async fn two_whole_looks_at(sim: &SimulatorHandle, connector: &str, per_look: usize) {
    wait_for_more_polls(sim, connector, 3 * per_look + 1).await;
}

async fn two_whole_looks(sim: &SimulatorHandle) {
    two_whole_looks_at(sim, OKTA, 1).await;
}

#[tokio::test]
async fn failures_and_successes_go_where_their_routes_say() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let extra = routes(
        "100ms",
        &format!(
            "[[notify]]\nconnectors = [\"*\"]\nchannel = \"slack:{CFAIL}\"\non = [\"failure\"]\n\n\
             [[notify]]\ninstance = \"jira\"\nconnectors = [\"Okta\"]\nchannel = \"slack:{COK}\"\non = [\"success\"]\n"
        ),
    );
    let bot = bot_with(&sim, &slack, &extra, temp_db()).await;
    wait_baseline(&bot, AZURE).await;
    wait_baseline(&bot, OKTA).await;

    sim.state()
        .set_connector_failure(AZURE, Some("Graph API answered 503".into()))
        .unwrap();
    let failed = scheduled_sync(&sim, AZURE).await;
    let got = wait_posts(&slack, CFAIL, 1).await;
    assert!(
        got[0].contains(&format!(
            "🔔 Sync of Azure AD failed — sync {failed}: FAILED · ERROR"
        )),
        "{}",
        got[0]
    );
    assert!(got[0].contains("Graph API answered 503"));
    assert!(
        !got[0].contains("Late:"),
        "a sync that finished while the bot runs is not late, even in the second it started: {}",
        got[0]
    );

    let ok = scheduled_sync(&sim, OKTA).await;
    let got = wait_posts(&slack, COK, 1).await;
    assert!(
        got[0].contains(&format!(
            "🔔 Sync of Okta finished — sync {ok}: DONE · SUCCESS"
        )),
        "{}",
        got[0]
    );
    two_whole_looks(&sim).await;
    assert_eq!(
        posts_to(&slack, CFAIL).len(),
        1,
        "a success is not a failure"
    );
    assert_eq!(
        posts_to(&slack, COK).len(),
        1,
        "Azure's failure is not Okta's success"
    );
    assert!(posts(&slack).iter().all(|(c, _)| c == CFAIL || c == COK));
    drop(bot);
}

#[tokio::test]
async fn a_threshold_alert_says_why_and_routine_syncs_stay_quiet() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(300)).await;
    let slack = FakeSlackHandle::start().await;
    let extra = routes(
        "100ms",
        &format!("[[notify]]\nconnectors = [\"okta\"]\nchannel = \"slack:{CTH}\"\non = [\"threshold\"]\nmax_deleted = 50\n"),
    );
    let bot = bot_with(&sim, &slack, &extra, temp_db()).await;
    wait_baseline(&bot, OKTA).await;
    scheduled_sync(&sim, OKTA).await;
    two_whole_looks(&sim).await;
    assert!(
        posts_to(&slack, CTH).is_empty(),
        "a routine sync is not announced here"
    );

    let record = sim
        .state()
        .start_sync(OKTA, false, SyncOrigin::Schedule)
        .unwrap();
    let id = record["id"].as_u64().unwrap();
    sim.state()
        .override_sync(id, json!({"deletedCount": 240}))
        .unwrap();
    let got = wait_posts(&slack, CTH, 1).await;
    assert!(got[0].contains(&format!("🔔 Threshold: Okta — sync {id} deleted 240 users — more than the 50 set for this route")), "{}", got[0]);
    let body = slack
        .received()
        .into_iter()
        .rev()
        .find(|(p, _)| p == "/api/chat.postMessage")
        .unwrap()
        .1;
    assert!(
        body["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with("⚠️"),
        "visually distinct: {body}"
    );
    drop(bot);
}

#[tokio::test]
async fn channels_subscribe_and_unsubscribe_from_chat() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let extra = routes(
        "100ms",
        &format!("[[notify]]\nconnectors = [\"*\"]\nchannel = \"slack:{OPS_CHANNEL}\"\non = [\"threshold\"]\nmax_failed = 5\n"),
    );
    let bot = bot_with(&sim, &slack, &extra, temp_db()).await;
    let denied = visible(&bot.say(VIEWER, "watch okta").await);
    assert!(denied.contains("needs the operator role"), "{denied}");

    let reply = bot.say(OPERATOR, "watch okta").await;
    assert_eq!(reply["response_type"], "in_channel");
    assert!(
        visible(&reply).contains("This channel now hears about Okta"),
        "{}",
        visible(&reply)
    );
    bot.say(OPERATOR, "watch * --failures-only --max-deleted 100")
        .await;
    let listed = visible(&bot.say(VIEWER, "watches").await);
    assert!(
        listed.contains("*Okta* — every finished sync — set up by `slack:U0ONCALL1`"),
        "{listed}"
    );
    assert!(
        listed.contains("*every connector* — failures only, alert above 100 deleted users"),
        "{listed}"
    );
    assert!(
        listed.contains("every instance on `*`: threshold, more than 5 failed"),
        "{listed}"
    );

    wait_baseline(&bot, OKTA).await;
    let id = scheduled_sync(&sim, OKTA).await;
    let got = wait_posts(&slack, OPS_CHANNEL, 1).await;
    assert!(
        got[0].contains(&format!("Sync of Okta finished — sync {id}")),
        "{}",
        got[0]
    );
    // A successful Google sync: the `*` subscription wants failures only.
    scheduled_sync(&sim, "c5e7a9b1-2d4f-4a6c-8e0b-1f3d5a7c9e2b").await;
    two_whole_looks(&sim).await;
    assert_eq!(posts_to(&slack, OPS_CHANNEL).len(), 1);

    let gone = visible(&bot.say(OPERATOR, "unwatch okta").await);
    assert!(
        gone.contains("This channel no longer hears about Okta"),
        "{gone}"
    );
    let again = visible(&bot.say(OPERATOR, "unwatch okta").await);
    assert!(again.contains("was not watching Okta"), "{again}");
    scheduled_sync(&sim, OKTA).await;
    two_whole_looks(&sim).await;
    assert_eq!(
        posts_to(&slack, OPS_CHANNEL).len(),
        1,
        "no more Okta news after unwatch"
    );
}

#[tokio::test]
async fn several_syncs_between_two_looks_are_all_announced_in_order() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(30)).await;
    let slack = FakeSlackHandle::start().await;
    let extra = routes(
        "400ms",
        &format!(
            "[[notify]]\nconnectors = [\"okta\"]\nchannel = \"slack:{COK}\"\non = [\"success\"]\n"
        ),
    );
    let bot = bot_with(&sim, &slack, &extra, temp_db()).await;
    wait_baseline(&bot, OKTA).await;
    // Right after a look, so that the three short syncs fit before the next one.
    wait_for_more_polls(&sim, OKTA, 1).await;
    let first = scheduled_sync(&sim, OKTA).await;
    scheduled_sync(&sim, AZURE).await; // an id of another connector in between
    let second = scheduled_sync(&sim, OKTA).await;
    assert!(second > first + 1);
    let got = wait_posts(&slack, COK, 2).await;
    assert!(got[0].contains(&format!("sync {first}:")), "{}", got[0]);
    assert!(got[1].contains(&format!("sync {second}:")), "{}", got[1]);
    two_whole_looks(&sim).await;
    assert_eq!(posts_to(&slack, COK).len(), 2);
    drop(bot);
}

#[tokio::test]
async fn a_restart_neither_repeats_nor_skips_and_a_sync_finished_while_down_is_late() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let db = temp_db();
    let extra = routes(
        "100ms",
        &format!(
            "[[notify]]\nconnectors = [\"okta\"]\nchannel = \"slack:{COK}\"\non = [\"success\"]\n"
        ),
    );
    let bot = bot_with(&sim, &slack, &extra, db.clone()).await;
    wait_baseline(&bot, OKTA).await;
    let before = scheduled_sync(&sim, OKTA).await;
    wait_posts(&slack, COK, 1).await;
    bot.bot.stop().await;

    let while_down = scheduled_sync(&sim, OKTA).await;
    // The product gives times to the second: the bot comes back in a later second than
    // the one the sync finished in, as a real restart does.
    let ended = chrono::Utc::now().timestamp();
    wait_for("the clock to pass the second the sync ended in", || async {
        (chrono::Utc::now().timestamp() > ended).then_some(())
    })
    .await;
    let bot = bot_with(&sim, &slack, &extra, db).await;
    let got = wait_posts(&slack, COK, 2).await;
    assert!(got[0].contains(&format!("sync {before}:")));
    assert!(
        got[1].contains(&format!("sync {while_down}:")),
        "{}",
        got[1]
    );
    assert!(got[1].contains("Late: this sync finished at"), "{}", got[1]);
    two_whole_looks(&sim).await;
    assert_eq!(
        posts_to(&slack, COK).len(),
        2,
        "nothing repeated after the restart"
    );
    drop(bot);
}

#[tokio::test]
async fn a_sync_started_from_chat_is_not_announced_twice_in_its_channel() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(200)).await;
    let slack = FakeSlackHandle::start().await;
    let extra = routes(
        "100ms",
        &format!("[[notify]]\nconnectors = [\"okta\"]\nchannel = \"slack:{OPS_CHANNEL}\"\non = [\"success\"]\n\n[[notify]]\nconnectors = [\"okta\"]\nchannel = \"slack:{COK}\"\non = [\"success\"]\n"),
    );
    let bot = bot_with(&sim, &slack, &extra, temp_db()).await;
    wait_baseline(&bot, OKTA).await;
    let mut cmd = Cmd::new(OPERATOR, "run okta");
    cmd.response_url = Some(slack.response_url("chat"));
    bot.command(&cmd).await;
    // The other channel hears of it through the watcher…
    let other = wait_posts(&slack, COK, 1).await;
    assert!(other[0].contains("Sync of Okta finished"));
    // …and the channel it was started from only through the job's own outcome.
    let outcome = wait_for("the job's outcome", || async {
        slack.received().into_iter().find(|(p, b)| {
            p == "/commands/T0001/chat"
                && b["replace_original"] == false
                && visible(b).contains("finished")
        })
    })
    .await;
    assert!(visible(&outcome.1).contains("Sync of Okta finished"));
    // Once the job is over the watcher alone asks for Okta's last sync.
    bot.wait_job_over().await;
    two_whole_looks(&sim).await;
    assert!(
        posts_to(&slack, OPS_CHANNEL).is_empty(),
        "{:?}",
        posts(&slack)
    );
    drop(bot);
}

#[tokio::test]
async fn a_rate_limited_announcement_is_retried_after_slacks_retry_after() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let extra = routes(
        "100ms",
        &format!(
            "[[notify]]\nconnectors = [\"okta\"]\nchannel = \"slack:{COK}\"\non = [\"success\"]\n"
        ),
    );
    let bot = bot_with(&sim, &slack, &extra, temp_db()).await;
    wait_baseline(&bot, OKTA).await;
    slack.slack.rate_limit.store(1, Ordering::SeqCst);
    scheduled_sync(&sim, OKTA).await;
    wait_posts(&slack, COK, 1).await;
    let calls = slack.slack.api_calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "one refused with 429, one delivered");
    let gap = calls[1].0.duration_since(calls[0].0);
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
    two_whole_looks(&sim).await;
    assert_eq!(posts_to(&slack, COK).len(), 1);
    drop(bot);
}

#[tokio::test]
async fn an_outage_is_reported_once_and_the_recovery_once() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let extra = routes(
        "100ms",
        &format!(
            "[[notify]]\nconnectors = [\"*\"]\nchannel = \"slack:{CFAIL}\"\non = [\"failure\"]\n"
        ),
    );
    let bot = bot_with(&sim, &slack, &extra, temp_db()).await;
    wait_baseline(&bot, OKTA).await;
    sim.state().set_faults(Faults {
        error_rate: 1.0,
        error_status: 503,
        method: Some("GET".into()),
        ..Faults::default()
    });
    let got = wait_posts(&slack, CFAIL, 1).await;
    assert!(got[0].contains("Cannot reach jira since"), "{}", got[0]);
    // Every look now asks three times (the first try and two retries of the 503).
    two_whole_looks_at(&sim, OKTA, 3).await;
    assert_eq!(
        posts_to(&slack, CFAIL).len(),
        1,
        "reported once, not at every look"
    );
    sim.state().set_faults(Faults::default());
    let got = wait_posts(&slack, CFAIL, 2).await;
    assert!(got[1].contains("jira is reachable again"), "{}", got[1]);
    two_whole_looks(&sim).await;
    assert_eq!(posts_to(&slack, CFAIL).len(), 2);
    let metrics = bot.metrics_text().await;
    assert!(
        metrics.contains("usersync_bot_notifications_posted_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_route_to_a_mattermost_channel_posts_with_the_bot_account() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let mm = FakeMattermostHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.mattermost = Some(mm_section(&mm.url(), Some("mm-bot-token")));
    setup.extra = Box::leak(
        routes(
            "100ms",
            "[[notify]]\nconnectors = [\"okta\"]\nchannel = \"mattermost:mmalerts0chan\"\non = [\"success\"]\n",
        )
        .into_boxed_str(),
    );
    let bot = setup.start().await;
    wait_baseline(&bot, OKTA).await;
    let id = scheduled_sync(&sim, OKTA).await;
    let got = wait_for("the Mattermost post", || async {
        let r: Vec<_> = mm
            .received()
            .into_iter()
            .filter(|(m, p, _, _)| m == "POST" && p == "/api/v4/posts")
            .collect();
        (!r.is_empty()).then_some(r)
    })
    .await;
    let (_, _, auth, body) = &got[0];
    assert_eq!(auth.as_deref(), Some("Bearer mm-bot-token"));
    assert_eq!(body["channel_id"], "mmalerts0chan");
    let text = body["message"].as_str().unwrap();
    assert!(
        text.contains(&format!("Sync of Okta finished — sync {id}")),
        "{text}"
    );
    two_whole_looks(&sim).await;
    assert_eq!(mm.received().len(), 1);
}

#[tokio::test]
async fn a_connector_a_job_follows_is_not_polled_twice() {
    let sim = simulator(ApiFlavour::V2, Duration::from_secs(60)).await;
    let slack = FakeSlackHandle::start().await;
    let extra = format!(
        "[jobs]\npoll_interval = \"200ms\"\n[watch]\ninterval = \"50ms\"\n\
         [[notify]]\nconnectors = [\"okta\", \"azure ad\"]\nchannel = \"slack:{COK}\"\non = [\"success\"]\n"
    );
    let bot = bot_with(&sim, &slack, &extra, temp_db()).await;
    wait_baseline(&bot, OKTA).await;
    let mut cmd = Cmd::new(OPERATOR, "run okta");
    cmd.response_url = Some(slack.response_url("shared"));
    bot.command(&cmd).await;
    let mut polls = bot.watch_polls(OKTA);
    bot.next_poll(&mut polls).await;
    sim.state().clear_calls();
    // The watcher looks at Azure AD (nobody follows it) four times a poll of Okta; it
    // reads Okta from the job's poller: Okta is asked for once per poll, never more. The
    // loop runs at least once (the call log was just cleared) and ends after some looks.
    let mut seen = 0;
    while polls_of(&sim, AZURE) < 6 {
        bot.next_poll(&mut polls).await;
        seen += 1;
        assert_eq!(polls_of(&sim, OKTA), seen, "{:?}", sim.state().calls());
    }
}

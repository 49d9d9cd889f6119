//! Following jobs end to end over real HTTP: bot, simulator, and a fake Slack that
//! records response_url posts and Web API calls.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::bot::*;
use crate::support::*;
use serde_json::Value;
use usersync_bot::jobs::REPORT_AFTER_FAILURES;
use usersync_bot::simulator::{Faults, SimulatorHandle};
use usersync_bot::store::{Delivery, JobState};
use usersync_bot::usersync::{ApiFlavour, ResultCount};

/// A bot following jobs quickly, posting to a fake Slack.
async fn setup(
    sync_ms: u64,
    jobs: &str,
    slack_extra: &str,
) -> (SimulatorHandle, FakeSlackHandle, TestBot) {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(sync_ms)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = bot_for(&sim, &slack, jobs, slack_extra, temp_db()).await;
    (sim, slack, bot)
}

async fn bot_for(
    sim: &SimulatorHandle,
    slack: &FakeSlackHandle,
    jobs: &str,
    slack_extra: &str,
    db: std::path::PathBuf,
) -> TestBot {
    let mut setup = BotSetup::new(sim);
    setup.db = db;
    let extra = format!("[jobs]\n{jobs}\n");
    setup.extra = Box::leak(extra.into_boxed_str());
    setup.slack_extra = slack_extra.replace("{SLACK}", &format!("http://{}/api", slack.addr));
    setup.start().await
}

const FAST: &str = "poll_interval = \"50ms\"\nmax_wait = \"1m\"";

#[tokio::test]
async fn a_sync_started_from_chat_is_followed_and_its_full_outcome_posted_in_channel() {
    let (sim, slack, bot) = setup(600, FAST, "").await;
    let reply = bot.command(&run_cmd(&slack, "run okta", "happy")).await;
    assert_eq!(reply["response_type"], "in_channel");
    let text = visible(&reply);
    assert!(text.contains("Sync of Okta started by @tester"), "{text}");
    assert!(text.contains("Following it as job 1"), "{text}");
    assert!(text.contains("No bot token is configured"), "{text}");

    let posted = wait_outcome(&slack, 1).await;
    assert_eq!(posted.len(), 1);
    let (path, body) = &posted[0];
    assert_eq!(path, "/commands/T0001/happy");
    assert_eq!(body["response_type"], "in_channel");
    let shown = visible(body);

    // The counts are the simulator's own.
    let client = client(&sim, ApiFlavour::V2);
    let done = client.last_sync_status(OKTA).await.unwrap();
    assert!(
        shown.contains(&format!(
            "Sync of Okta finished — sync {}: DONE · SUCCESS",
            done.id
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("*Total*\n{}", done.result_count.unwrap())),
        "{shown}"
    );
    assert!(shown.contains(&format!("*Added*\n{}", done.added_count.unwrap())));
    assert!(shown.contains(&format!(
        "*Not modified*\n{}",
        done.not_modified_count.unwrap()
    )));
    assert!(shown.contains("*Duration*\n600 ms"), "{shown}");
    assert!(shown.contains("*Failed users (2)*"), "{shown}");
    let failed = client
        .sync_results(done.id, ResultCount::All)
        .await
        .unwrap();
    let first_failed = failed
        .iter()
        .find(|u| u.is_failure())
        .unwrap()
        .user_name()
        .unwrap();
    assert!(shown.contains(&first_failed), "{shown}");
    assert!(shown.contains("Started from chat by @tester · job 1"));

    // Progress replaced the original in place, within Slack's five posts.
    let all = slack.received();
    assert!(all.len() <= 5, "{all:?}");
    assert!(all
        .iter()
        .filter(|(_, b)| b["replace_original"] == true)
        .all(|(p, _)| p == "/commands/T0001/happy"));

    let job = bot.wait_job_over().await;
    assert_eq!(job.state, JobState::Done);
    assert_eq!(job.delivery, Delivery::Posted);
    assert_eq!(job.sync_id, Some(done.id));
    assert_eq!(outcomes(&slack).len(), 1, "posted exactly once");
}

#[tokio::test]
async fn a_failing_sync_is_shown_as_failed_with_its_messages() {
    let (sim, slack, bot) = setup(200, FAST, "").await;
    sim.state()
        .set_connector_failure(
            AZURE,
            Some("Graph API answered 401 Unauthorized: invalid_client".into()),
        )
        .unwrap();
    bot.command(&run_cmd(&slack, "run azure", "fail")).await;
    let posted = wait_outcome(&slack, 1).await;
    let shown = visible(&posted[0].1);
    assert!(shown.contains("❌ Sync of Azure AD failed"), "{shown}");
    assert!(shown.contains("Graph API answered 401 Unauthorized: invalid_client"));
    assert!(
        shown.contains("rejected the connector's credentials"),
        "a hint: {shown}"
    );
}

#[tokio::test]
async fn a_deleted_directory_gets_the_way_back_as_a_hint() {
    let (sim, slack, bot) = setup(200, FAST, "").await;
    client(&sim, ApiFlavour::V2)
        .delete_directory("10200")
        .await
        .unwrap();
    bot.command(&run_cmd(&slack, "run okta", "gone")).await;
    let posted = wait_outcome(&slack, 1).await;
    let shown = visible(&posted[0].1);
    assert!(shown.contains("Directory 10200 does not exists"), "{shown}");
    assert!(
        shown.contains(
            "save it once (this recreates its directory under a new id), then sync again"
        ),
        "{shown}"
    );
}

#[tokio::test]
async fn a_second_run_while_one_is_going_says_who_started_it() {
    let (sim, slack, bot) = setup(30_000, FAST, "").await;
    bot.command(&run_cmd(&slack, "run okta", "first")).await;
    let again = visible(&bot.command(&run_cmd(&slack, "run okta", "second")).await);
    assert!(again.contains("Okta is already syncing"), "{again}");
    assert!(again.contains("started from chat by @tester at"), "{again}");
    let posts = calls_with(&sim, "POST");
    assert_eq!(posts, 1, "no second trigger");
}

#[tokio::test]
async fn single_user_updates_with_hostile_identifiers_never_change_the_url() {
    let sim2 = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let sim19 = simulator(ApiFlavour::V1_9, Duration::from_millis(100)).await;
    let mut setup = BotSetup::new(&sim2);
    setup.instances = vec![("jira", &sim2, true), ("legacy", &sim19, false)];
    let bot = setup.start().await;
    let slack = FakeSlackHandle::start().await;
    for (hostile, encoded) in [
        ("../../directory/7", "..%2F..%2Fdirectory%2F7"),
        ("a/b?c#d", "a%2Fb%3Fc%23d"),
        ("Jürgen Müller", "J%C3%BCrgen%20M%C3%BCller"),
    ] {
        let text = format!("user legacy/azure \"{hostile}\"");
        let reply = visible(&bot.say_to(&slack, HELPDESK, &text).await);
        assert!(reply.contains("User update on Azure AD"), "{reply}");
        let last = sim19
            .state()
            .calls()
            .into_iter()
            .rev()
            .find(|c| c.method == "POST")
            .unwrap();
        assert_eq!(
            last.path,
            format!("/rest/samlsso-admin/1.0/usersync/connector/{AZURE}/syncsingle/{encoded}")
        );
        assert_eq!(last.query, None);

        let text = format!("user jira/azure \"{hostile}\"");
        bot.say_to(&slack, HELPDESK, &text).await;
        let last = sim2
            .state()
            .calls()
            .into_iter()
            .rev()
            .find(|c| c.method == "POST")
            .unwrap();
        assert_eq!(
            last.path,
            format!("/rest/samlsso-admin/1.0/usersync/connector/{AZURE}/syncsingle")
        );
        assert_eq!(
            serde_json::from_str::<Value>(&last.body).unwrap()["identifier"],
            hostile
        );
    }
    // An e-mail address from a ticket works.
    let ok = visible(
        &bot.say_to(
            &slack,
            HELPDESK,
            "user jira/azure juergen.mueller@acme.example",
        )
        .await,
    );
    assert!(ok.contains("✅ User update on Azure AD"), "{ok}");
    assert!(ok.contains("jürgen müller"));
    let jobs = visible(&bot.say(VIEWER, "jobs").await);
    assert!(
        jobs.contains("user `juergen.mueller@acme.example`"),
        "{jobs}"
    );
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_job_posts_the_outcome_exactly_once() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(1500)).await;
    let slack = FakeSlackHandle::start().await;
    let db = temp_db();
    let bot = bot_for(&sim, &slack, FAST, "", db.clone()).await;
    bot.command(&run_cmd(&slack, "run okta", "restart")).await;
    // Wait until the job has seen its sync, then stop the bot in the middle of polling.
    wait_for("the job to know its sync", || async {
        let jobs = bot.bot.app.store.recent_jobs(1).await.unwrap();
        jobs[0].sync_id.map(|_| ())
    })
    .await;
    bot.bot.stop().await;
    let before_restart = slack.received().len();
    assert!(outcomes(&slack).is_empty());

    let bot = bot_for(&sim, &slack, FAST, "", db).await;
    let posted = wait_outcome(&slack, 1).await;
    assert!(visible(&posted[0].1).contains("Sync of Okta finished"));
    let job = bot.wait_job_over().await;
    assert_eq!(job.state, JobState::Done);
    assert_eq!(job.delivery, Delivery::Posted);
    let all = slack.received();
    let after_restart = &all[before_restart..];
    assert_eq!(
        after_restart.iter().filter(|p| is_outcome(p)).count(),
        1,
        "the resumed job posts one outcome: {after_restart:?}"
    );
    assert!(
        is_outcome(all.last().unwrap()),
        "nothing after the outcome: {all:?}"
    );
    assert_eq!(outcomes(&slack).len(), 1, "and nothing else ever did");
    // Everything else only replaced the original, within Slack's five posts.
    assert!(all.iter().all(|(p, b)| p == "/commands/T0001/restart"
        && (is_outcome(&(p.clone(), b.clone())) || b["replace_original"] == true)));
    assert!(all.len() <= 5, "{all:?}");
    let triggers = calls_with(&sim, "POST");
    assert_eq!(triggers, 1, "the restart did not run the sync again");
}

/// `run azure` on a bot that is then dropped without a clean stop, as SIGKILL would
/// leave it: the job in the store, following, nothing posted, and no poll answered yet
/// (the first one is immediate; the next in an hour).
async fn run_then_kill(
    sim: &SimulatorHandle,
    slack: &FakeSlackHandle,
    db: &std::path::Path,
    name: &str,
) {
    let bot = bot_for(
        sim,
        slack,
        "poll_interval = \"1h\"\nmax_wait = \"1m\"",
        "",
        db.to_path_buf(),
    )
    .await;
    bot.command(&run_cmd(slack, "run azure", name)).await;
    std::mem::forget(bot);
}

#[tokio::test]
async fn a_killed_bot_resumes_a_job_found_in_the_store() {
    if crate::support::pg::sqlite_only("a_killed_bot_resumes_a_job_found_in_the_store") {
        return;
    }
    // A job left in the store as a killed process leaves it: following, nothing posted.
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(300)).await;
    let slack = FakeSlackHandle::start().await;
    let db = temp_db();
    run_then_kill(&sim, &slack, &db, "killed").await;
    let bot = bot_for(&sim, &slack, FAST, "", db).await;
    let posted = wait_outcome(&slack, 1).await;
    assert!(
        visible(&posted[0].1).contains("Sync of Azure AD finished"),
        "{:?}",
        posted
    );
    let job = bot.wait_job_over().await;
    assert_eq!(job.state, JobState::Done);
    assert_eq!(job.delivery, Delivery::Posted);
    assert_eq!(outcomes(&slack).len(), 1, "one outcome after the resume");
    assert_eq!(calls_with(&sim, "POST"), 1, "the sync was not run again");
}

#[tokio::test]
async fn a_job_resumed_past_its_max_wait_looks_once_and_posts_the_outcome_of_its_ended_sync() {
    if crate::support::pg::sqlite_only("a_job_resumed_past_its_max_wait") {
        return;
    }
    // Killed after the trigger, before any poll: the job is in the store, its sync not.
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(300)).await;
    let slack = FakeSlackHandle::start().await;
    let db = temp_db();
    run_then_kill(&sim, &slack, &db, "late").await;
    // Back only after the sync ended and after the job's whole max_wait: its deadline and
    // its first observation are both due at once.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let bot = bot_for(
        &sim,
        &slack,
        "poll_interval = \"1h\"\nmax_wait = \"200ms\"",
        "",
        db,
    )
    .await;
    let posted = wait_outcome(&slack, 1).await;
    let shown = visible(&posted[0].1);
    assert!(shown.contains("Sync of Azure AD finished"), "{shown}");
    let job = bot.wait_job_over().await;
    assert_eq!(job.state, JobState::Done, "{job:?}");
    assert!(job.sync_id.is_some(), "{job:?}");
    assert_eq!(outcomes(&slack).len(), 1, "one outcome");
    assert_eq!(calls_with(&sim, "POST"), 1, "the sync was not run again");
}

#[tokio::test]
async fn after_the_response_url_expires_the_outcome_goes_through_chat_post_message() {
    let slack_extra = "bot_token = \"xoxb-test-token\"\napi_base_url = \"{SLACK}\"";
    let jobs = "poll_interval = \"50ms\"\nmax_wait = \"1m\"\nresponse_url_lifetime = \"1s\"";
    let (_sim, slack, bot) = setup(300, jobs, slack_extra).await;
    let reply = visible(&bot.command(&run_cmd(&slack, "run okta", "expired")).await);
    assert!(!reply.contains("No bot token"), "{reply}");
    let posted = wait_outcome(&slack, 1).await;
    let (path, body) = &posted[0];
    assert_eq!(path, "/api/chat.postMessage");
    assert_eq!(body["channel"], OPS_CHANNEL);
    assert!(visible(body).contains("Sync of Okta finished"));
    assert!(
        slack
            .received()
            .iter()
            .all(|(p, _)| !p.starts_with("/commands/")),
        "the expired response_url was not used"
    );
    let calls = slack.slack.api_calls.lock().unwrap().clone();
    assert!(calls
        .iter()
        .all(|(_, _, auth)| auth.as_deref() == Some("Bearer xoxb-test-token")));
}

#[tokio::test]
async fn a_rate_limited_outcome_is_retried_after_slacks_retry_after() {
    let slack_extra = "bot_token = \"xoxb-test-token\"\napi_base_url = \"{SLACK}\"";
    let jobs = "poll_interval = \"50ms\"\nmax_wait = \"1m\"\nresponse_url_lifetime = \"1s\"";
    let (_sim, slack, bot) = setup(200, jobs, slack_extra).await;
    slack.slack.rate_limit.store(1, Ordering::SeqCst);
    bot.command(&run_cmd(&slack, "run okta", "limited")).await;
    let posted = wait_outcome(&slack, 1).await;
    assert_eq!(posted.len(), 1);
    let calls: Vec<_> = slack
        .slack
        .api_calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m, _)| m == "chat.postMessage")
        .cloned()
        .collect();
    // Progress may also use the Web API; the limited call and its retry are the first two.
    assert!(calls.len() >= 2, "{calls:?} {:?}", slack.received());
    let gap = calls[1].0.duration_since(calls[0].0);
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, before Retry-After"
    );
}

#[tokio::test]
async fn fifty_jobs_on_one_connector_share_one_poll_per_interval() {
    let sim = simulator(ApiFlavour::V2, Duration::from_secs(60)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = bot_for(
        &sim,
        &slack,
        "poll_interval = \"100ms\"\nmax_wait = \"1m\"",
        "",
        temp_db(),
    )
    .await;
    bot.command(&run_cmd(&slack, "run okta", "lead")).await;
    let template = bot.bot.app.store.recent_jobs(1).await.unwrap()[0].clone();
    for i in 0..49 {
        let mut job = template.clone();
        job.response_url = Some(slack.response_url(&format!("extra{i}")));
        bot.bot.app.jobs.start(job).await.unwrap();
    }
    // Every job has seen a poll once each has posted its first progress.
    wait_for("every job's first progress", || async {
        let posted = slack
            .received()
            .iter()
            .filter(|(p, b)| p.contains("/extra") && b["replace_original"] == true)
            .count();
        (posted == 49).then_some(())
    })
    .await;
    assert_eq!(bot.bot.app.jobs.pollers().active(), 1);
    // From one poll to the next, the product is asked exactly once, however many follow.
    let mut polls = bot.watch_polls(OKTA);
    bot.next_poll(&mut polls).await;
    sim.state().clear_calls();
    for n in 1..=3 {
        bot.next_poll(&mut polls).await;
        assert_eq!(polls_of(&sim, OKTA), n, "{:?}", sim.state().calls());
    }
    let listed = visible(&bot.say(VIEWER, "jobs").await);
    assert!(listed.contains("Jobs: 50 being followed"), "{listed}");
}

#[tokio::test]
async fn max_wait_ends_a_job_with_a_clear_message() {
    let (_sim, slack, bot) =
        setup(60_000, "poll_interval = \"50ms\"\nmax_wait = \"400ms\"", "").await;
    bot.command(&run_cmd(&slack, "run okta", "slow")).await;
    let posted = wait_outcome(&slack, 1).await;
    let shown = visible(&posted[0].1);
    assert!(
        shown.contains("Sync of Okta still running after 400ms"),
        "{shown}"
    );
    let job = &bot.bot.app.store.recent_jobs(1).await.unwrap()[0];
    assert_eq!(job.state, JobState::TimedOut);
}

#[tokio::test]
async fn upstream_failures_while_polling_are_reported_once() {
    let (sim, slack, bot) = setup(60_000, "poll_interval = \"5ms\"\nmax_wait = \"1m\"", "").await;
    bot.command(&run_cmd(&slack, "run okta", "flaky")).await;
    sim.state().set_faults(Faults {
        error_rate: 1.0,
        error_status: 500,
        method: Some("GET".into()),
        path_contains: Some("/syncstatus".into()),
        ..Faults::default()
    });
    let posted = wait_outcome(&slack, 1).await;
    let shown = visible(&posted[0].1);
    assert!(
        shown.contains("Trouble following the sync of Okta"),
        "{shown}"
    );
    assert!(
        shown.contains("jira: the product answered with an error (HTTP 500)"),
        "{shown}"
    );
    // Two more failed polls reach the job after the report (the job has dealt with the
    // first when the second comes); neither is reported again.
    let mut polls = bot.watch_polls(OKTA);
    let first = bot.next_poll(&mut polls).await.failures;
    let second = bot.next_poll(&mut polls).await.failures;
    assert!(
        first > REPORT_AFTER_FAILURES,
        "{first} failed polls in a row"
    );
    assert_eq!(second, first + 1);
    assert_eq!(
        outcomes(&slack).len(),
        1,
        "reported once, not at every poll"
    );
}

#[tokio::test]
async fn the_jobs_command_lists_what_is_followed() {
    let (_sim, slack, bot) = setup(30_000, FAST, "").await;
    bot.command(&run_cmd(&slack, "run okta", "listed")).await;
    let listed = wait_for("the job to see its sync", || async {
        let t = visible(&bot.say(VIEWER, "jobs").await);
        t.contains("SCHEDULED").then_some(t)
    })
    .await;
    assert!(listed.contains("Jobs: 1 being followed"), "{listed}");
    assert!(
        listed.contains("*Okta* (jira) — sync 95 — by @tester since"),
        "{listed}"
    );
}

#[tokio::test]
async fn two_people_running_the_same_connector_at_once_start_one_sync() {
    let (sim, slack, bot) = setup(30_000, FAST, "").await;
    let a = run_cmd(&slack, "run okta", "a");
    let mut b = run_cmd(&slack, "run okta", "b");
    b.user = ADMIN;
    let (ra, rb) = tokio::join!(bot.command(&a), bot.command(&b));
    let texts = [visible(&ra), visible(&rb)];
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("Sync of Okta started"))
            .count(),
        1,
        "{texts:?}"
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("Okta is already syncing"))
            .count(),
        1,
        "{texts:?}"
    );
    let posts = calls_with(&sim, "POST");
    assert_eq!(posts, 1, "one trigger reached the product");
}

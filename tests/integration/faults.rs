//! Upstream faults end to end: the product hangs, answers 5xx, cut-off JSON, or slowly;
//! for each, the person's `status` and `run` get a 200 with a plain answer that names the
//! instance (never a raw error, never past Slack's 3 s), nothing is triggered, `/readyz`
//! stays ready (the bot itself is fine), and once the product recovers the same command
//! works again without a restart. The same for an answer too large to buffer (the client
//! stops at 16 MiB), a connection reset before any answer, and one dripped byte by byte.
//! The chat's Web API failing: a 5xx burst is waited out
//! and the outcome posted once; one that never ends leaves the job recorded as
//! undeliverable, with the reason, and nothing posted twice.

use std::time::{Duration, Instant};

use usersync_bot::simulator::{Faults, SimulatorHandle};
use usersync_bot::usersync::ApiFlavour;

use crate::support::bot::*;
use crate::support::proxy::{FaultProxy, Mode};
use crate::support::*;

fn faults(name: &str) -> Faults {
    let base = Faults::default();
    match name {
        "hang" => Faults { hang: true, ..base },
        "5xx" => Faults {
            error_rate: 1.0,
            error_status: 502,
            ..base
        },
        "malformed" => Faults {
            malformed_json: true,
            ..base
        },
        "slow" => Faults {
            latency_ms: 5_000,
            ..base
        },
        other => panic!("no fault {other}"),
    }
}

#[tokio::test]
async fn every_upstream_fault_gets_a_plain_answer_changes_nothing_and_passes() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let mut setup = BotSetup::new(&sim);
    // Short upstream time, so that a hang is an answer well within Slack's 3 s.
    setup.inline_budget = "2s";
    let bot = setup.start().await;
    let slack = FakeSlackHandle::start().await;
    for fault in ["hang", "5xx", "malformed", "slow", "huge", "huge-declared"] {
        let plain = match fault {
            "hang" | "slow" => "jira could not be reached (no answer within 3s)",
            "5xx" => "jira: the product answered with an error (HTTP 502)",
            "huge" | "huge-declared" => "jira: the answer was larger than 16 MiB",
            _ => "jira: the answer was not JSON of the expected shape",
        };
        let upstream = if fault.starts_with("huge") {
            // Valid JSON after 20 MiB of whitespace, streamed with no length, or with its
            // length said up front (refused before a byte of the body is read).
            Faults {
                oversize_bytes: 20 * 1024 * 1024,
                oversize_declared: fault == "huge-declared",
                ..Faults::default()
            }
        } else {
            faults(fault)
        };
        sim.state().set_faults(upstream);
        if fault.starts_with("huge") {
            // The simulator answers as it should for the case: a length said or not.
            let raw = reqwest::Client::new()
                .get(format!(
                    "{}rest/samlsso-admin/1.0/usersync/connector",
                    sim.base_url()
                ))
                .basic_auth("admin", Some("admin"))
                .send()
                .await
                .unwrap();
            let said = raw.content_length().is_some_and(|n| n > 16 * 1024 * 1024);
            assert_eq!(
                said,
                fault == "huge-declared",
                "{fault}: {:?}",
                raw.content_length()
            );
        }
        told_plainly(&bot, &slack, &sim, fault, plain).await;
        sim.state().set_faults(Faults::default());
        recovered(&bot, fault).await;
    }
}

/// Faults of the connection itself, made by a proxy between the bot and the product: the
/// connection reset before any answer, and an answer dripped a byte every 50 ms.
#[tokio::test]
async fn a_reset_or_a_dripping_connection_gets_a_plain_answer_and_passes() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let proxy = FaultProxy::start(sim.addr()).await;
    let mut setup = BotSetup::new(&sim);
    setup.inline_budget = "2s";
    setup.base_url_override = Some(proxy.url());
    let bot = setup.start().await;
    let slack = FakeSlackHandle::start().await;
    for (fault, mode, plain) in [
        (
            "reset",
            Mode::Reset,
            "jira: the connection was cut before the product answered",
        ),
        (
            "drip",
            Mode::Drip(Duration::from_millis(50)),
            "jira could not be reached (no answer within 3s)",
        ),
    ] {
        proxy.set(mode);
        // Connections the bot keeps from before go through the fault too.
        proxy.cut_all();
        let before = proxy.accepted();
        told_plainly(&bot, &slack, &sim, fault, plain).await;
        assert!(
            proxy.accepted() > before,
            "{fault}: the bot's calls went through the faulty connection"
        );
        proxy.set(Mode::Pass);
        proxy.cut_all();
        recovered(&bot, fault).await;
    }
}

/// `status` and `run` under `fault`: each answered within 3 s, with `plain` and no raw
/// error; the bot stays ready; no sync triggered.
async fn told_plainly(
    bot: &TestBot,
    slack: &FakeSlackHandle,
    sim: &SimulatorHandle,
    fault: &str,
    plain: &str,
) {
    let readyz = bot.url.replace("/slack/commands", "/readyz");
    for (text, user) in [("status okta", VIEWER), ("run okta", OPERATOR)] {
        let id = format!("{fault}-{}", text.replace(' ', "-"));
        let mut cmd = Cmd::new(user, text);
        cmd.response_url = Some(slack.response_url(&id));
        let asked = Instant::now();
        let reply = bot.command(&cmd).await;
        let took = asked.elapsed();
        assert!(
            took < Duration::from_millis(3_000),
            "{fault}/{text}: answered within Slack's 3 s ({took:?})"
        );
        // The answer itself: inline, or posted to the response_url once it is known.
        let mut shown = visible(&reply);
        if shown.contains("Working on it") {
            let path = format!("/commands/T0001/{id}");
            shown = wait_for(&format!("{fault}/{text}: the answer"), || async {
                slack
                    .received()
                    .into_iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, b)| visible(&b))
            })
            .await;
        }
        assert!(
            shown.contains(plain),
            "{fault}/{text}: says plainly what happened ({plain}): {shown}"
        );
        for raw in [
            "panicked",
            "reqwest",
            "error decoding",
            "hyper",
            "Os {",
            "127.0.0.1",
        ] {
            assert!(
                !shown.contains(raw),
                "{fault}/{text}: no raw error ({raw}): {shown}"
            );
        }
    }
    let ready = bot.http.get(&readyz).send().await.unwrap();
    assert_eq!(
        ready.status(),
        200,
        "{fault}: the bot itself is ready; the product is what fails"
    );
    assert_eq!(
        calls_with(sim, "POST"),
        0,
        "{fault}: no sync was triggered through a failing product"
    );
}

async fn recovered(bot: &TestBot, fault: &str) {
    let reply = visible(&bot.command(&Cmd::new(VIEWER, "status okta")).await);
    assert!(
        reply.contains("Okta") && reply.contains("sync"),
        "{fault}: recovered without a restart: {reply}"
    );
}

/// A bot whose outcomes go with the bot token (the response_url lapses at once).
async fn token_bot(
    sim: &usersync_bot::simulator::SimulatorHandle,
    slack: &FakeSlackHandle,
) -> TestBot {
    let mut setup = BotSetup::new(sim);
    setup.slack_extra = format!(
        "bot_token = \"xoxb-faults\"\napi_base_url = \"http://{}/api\"",
        slack.addr
    );
    setup.extra =
        "[jobs]\npoll_interval = \"50ms\"\nmax_wait = \"1m\"\nresponse_url_lifetime = \"1ms\"\n";
    setup.start().await
}

fn token_outcomes(slack: &FakeSlackHandle) -> usize {
    slack
        .received()
        .into_iter()
        .filter(|(p, b)| {
            p == "/api/chat.postMessage" && visible(b).contains("Sync of Okta finished")
        })
        .count()
}

#[tokio::test]
async fn a_burst_of_chat_server_errors_is_waited_out_and_the_outcome_posted_once() {
    use std::sync::atomic::Ordering;
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(300)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = token_bot(&sim, &slack).await;
    slack.slack.server_errors.store(2, Ordering::SeqCst);
    bot.command(&run_cmd(&slack, "run okta", "burst")).await;
    let job = bot.wait_job_over().await;
    assert_eq!(
        job.delivery,
        usersync_bot::store::Delivery::Posted,
        "{job:?}"
    );
    assert_eq!(token_outcomes(&slack), 1, "{:?}", slack.received());
    assert_eq!(
        slack.slack.server_errors.load(Ordering::SeqCst),
        0,
        "the burst was met"
    );
}

#[tokio::test]
async fn a_chat_server_that_keeps_failing_leaves_the_job_undeliverable_with_the_reason() {
    use std::sync::atomic::Ordering;
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(200)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = token_bot(&sim, &slack).await;
    slack.slack.server_errors.store(1_000, Ordering::SeqCst);
    let reply = visible(&bot.command(&run_cmd(&slack, "run okta", "down")).await);
    assert!(reply.contains("Sync of Okta started"), "{reply}");
    let job = wait_for("the job to give up delivering", || async {
        let j = bot.bot.app.store.recent_jobs(1).await.unwrap().remove(0);
        (j.delivery == usersync_bot::store::Delivery::Undeliverable).then_some(j)
    })
    .await;
    assert!(
        job.delivery_error
            .as_deref()
            .is_some_and(|e| e.contains("503")),
        "{job:?}"
    );
    assert_eq!(token_outcomes(&slack), 0, "nothing reached the channel");
    assert_eq!(
        calls_with(&sim, "POST"),
        1,
        "the sync ran once all the same"
    );
}

/// Slack takes the outcome's post but never confirms it (the call times out): the bot
/// does not post it again blindly; it finds it in the channel by its tag.
#[tokio::test]
async fn a_post_the_chat_took_without_answering_is_found_by_its_tag_not_posted_twice() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = token_bot(&sim, &slack).await;
    slack
        .slack
        .swallow_posts
        .store(1, std::sync::atomic::Ordering::SeqCst);
    bot.command(&run_cmd(&slack, "run okta", "swallowed")).await;
    // Past the bot's 10 s call timeout, so longer than `wait_for` waits.
    let until = Instant::now() + Duration::from_secs(30);
    let job = loop {
        let j = bot.bot.app.store.recent_jobs(1).await.unwrap().remove(0);
        if !matches!(
            j.delivery,
            usersync_bot::store::Delivery::Pending | usersync_bot::store::Delivery::Posting
        ) {
            break j;
        }
        assert!(Instant::now() < until, "not delivered in 30 s: {j:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        job.delivery,
        usersync_bot::store::Delivery::Posted,
        "{job:?}"
    );
    assert_eq!(
        token_outcomes(&slack),
        1,
        "posted once: {:?}",
        slack.received()
    );
    let looked = slack.slack.history_calls.lock().unwrap().len();
    assert!(looked >= 1, "looked for the post in the channel");
}

/// Every message posted to the response_url of `id`, as a person reads them, in order.
fn posted_to(slack: &FakeSlackHandle, id: &str) -> Vec<String> {
    let path = format!("/commands/T0001/{id}");
    slack
        .received()
        .into_iter()
        .filter(|(p, _)| *p == path)
        .map(|(_, b)| visible(&b))
        .collect()
}

/// The product starts the sync but its answer never comes (a proxy before it timed out):
/// the person is told it may have started, the trigger is not sent again, and the job
/// finds the sync newer than its baseline and posts its outcome once.
#[tokio::test]
async fn a_trigger_whose_answer_is_lost_is_followed_to_its_outcome_and_never_sent_twice() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(300)).await;
    let baseline = client(&sim, ApiFlavour::V2)
        .last_sync_status(OKTA)
        .await
        .unwrap()
        .id;
    let slack = FakeSlackHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.extra = "[jobs]\npoll_interval = \"50ms\"\nmax_wait = \"1m\"\nstart_window = \"30s\"\n";
    let bot = setup.start().await;
    sim.state().set_faults(Faults {
        hang_after: true,
        method: Some("POST".into()),
        ..Faults::default()
    });
    let reply = visible(&bot.command(&run_cmd(&slack, "run okta", "lost")).await);
    assert!(
        reply.contains("Working on it"),
        "deferred while the trigger waits: {reply}"
    );
    let said = wait_for("the unconfirmed start", || async {
        posted_to(&slack, "lost")
            .into_iter()
            .find(|t| t.contains("not confirmed"))
    })
    .await;
    assert!(
        said.contains("Sync of Okta asked for by @tester: not confirmed")
            && said.contains("may or may not have started. It was not asked again.")
            && said.contains("looks for it as job 1"),
        "{said}"
    );
    sim.state().set_faults(Faults::default());
    let job = bot.wait_job_over().await;
    assert_eq!(job.state, usersync_bot::store::JobState::Done, "{job:?}");
    let started = client(&sim, ApiFlavour::V2)
        .last_sync_status(OKTA)
        .await
        .unwrap();
    assert!(started.id > baseline);
    assert_eq!(
        job.sync_id,
        Some(started.id),
        "the job found the sync it started"
    );
    let finished: Vec<_> = posted_to(&slack, "lost")
        .into_iter()
        .filter(|t| t.contains("Sync of Okta finished"))
        .collect();
    assert_eq!(finished.len(), 1, "one outcome: {finished:?}");
    assert!(
        finished[0].contains(&format!("sync {}", started.id)),
        "{finished:?}"
    );
    assert_eq!(calls_with(&sim, "POST"), 1, "the trigger was sent once");
}

/// The trigger never reached the product (it hung before doing anything): after the
/// start window the job ends as "did not start", and `run` works again at once.
#[tokio::test]
async fn a_trigger_that_never_started_a_sync_ends_as_did_not_start_and_frees_the_connector() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let baseline = client(&sim, ApiFlavour::V2)
        .last_sync_status(OKTA)
        .await
        .unwrap()
        .id;
    let slack = FakeSlackHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.extra = "[jobs]\npoll_interval = \"50ms\"\nmax_wait = \"1m\"\nstart_window = \"1s\"\n";
    let bot = setup.start().await;
    sim.state().set_faults(Faults {
        hang: true,
        method: Some("POST".into()),
        ..Faults::default()
    });
    bot.command(&run_cmd(&slack, "run okta", "never")).await;
    let said = wait_for("the job to end", || async {
        posted_to(&slack, "never")
            .into_iter()
            .find(|t| t.contains("Sync of Okta did not start"))
    })
    .await;
    assert!(
        said.contains("No new sync of it appeared on jira within 1s of the request (job 1)"),
        "{said}"
    );
    let posted = posted_to(&slack, "never");
    assert!(
        posted.iter().any(|t| t.contains("not confirmed")),
        "{posted:?}"
    );
    assert!(!posted.iter().any(|t| t.contains("finished")), "{posted:?}");
    let job = bot.wait_job_over().await;
    assert_eq!(job.state, usersync_bot::store::JobState::Failed);
    assert_eq!(job.sync_id, None);
    let latest = client(&sim, ApiFlavour::V2)
        .last_sync_status(OKTA)
        .await
        .unwrap();
    assert_eq!(latest.id, baseline, "no sync was started");

    // The connector is free: the next run starts and is followed, not "already syncing".
    sim.state().set_faults(Faults::default());
    let reply = visible(&bot.command(&run_cmd(&slack, "run okta", "again")).await);
    assert!(reply.contains("Sync of Okta started by @tester"), "{reply}");
    assert_eq!(calls_with(&sim, "POST"), 2);
}

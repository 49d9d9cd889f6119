//! Kill tests: the real binary on SQLite, SIGKILLed at seeded random moments while it
//! follows runs and announces syncs, restarted each time on the same store; then every
//! run got one answer and at most one sync, every job exactly one outcome, and every
//! sync the watcher saw finish exactly one announcement — none repeated, none skipped.
//! `KILL_SEED=<n>` replays a run; the seed is printed.

use std::time::Duration;

use serde_json::Value;
use usersync_bot::chat::slack::verify::sign;
use usersync_bot::domain::{Platform, Principal};
use usersync_bot::jobs::outcome_tag;
use usersync_bot::notify::announcement_tag;
use usersync_bot::simulator::SyncOrigin;
use usersync_bot::store::{Delivery, JobKind, Store};
use usersync_bot::usersync::ApiFlavour;

use crate::shutdown::serve;
use crate::support::bot::*;
use crate::support::*;

/// SIGKILLs per run.
const KILLS: usize = 50;
/// The channel the watcher announces Okta's syncs in.
const WATCHED: &str = "C0KILLWAT";

/// A small seeded generator (splitmix64): the same seed, the same kills.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn setup<'a>(
    sim: &'a usersync_bot::simulator::SimulatorHandle,
    slack: &FakeSlackHandle,
    db: &std::path::Path,
) -> BotSetup<'a> {
    let mut setup = BotSetup::new(sim);
    setup.db = db.to_path_buf();
    setup.slack_extra = format!(
        "bot_token = \"xoxb-kill\"\napi_base_url = \"http://{}/api\"",
        slack.addr
    );
    // The response_url lapses at once: outcomes go with the bot token, tagged and findable.
    setup.extra = Box::leak(
        format!(
            "[jobs]\npoll_interval = \"50ms\"\nmax_wait = \"1m\"\nresponse_url_lifetime = \"1ms\"\n\
             [watch]\ninterval = \"100ms\"\n\
             [[notify]]\nconnectors = [\"Okta\"]\nchannel = \"slack:{WATCHED}\"\non = [\"success\", \"failure\"]\n"
        )
        .into_boxed_str(),
    );
    setup
}

/// Sends a signed command; `None` when the process died before answering.
async fn send(port: u16, body: &str, retry: u32) -> Option<Value> {
    let ts = now();
    let mut request = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/slack/commands"))
        .timeout(Duration::from_secs(5))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign(SECRET, ts, body.as_bytes()))
        .body(body.to_string());
    if retry > 0 {
        request = request
            .header("x-slack-retry-num", retry.to_string())
            .header("x-slack-retry-reason", "http_error");
    }
    let response = request.send().await.ok()?;
    assert_eq!(response.status().as_u16(), 200, "never a 5xx");
    let text = response.text().await.ok()?;
    Some(serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn kill(child: &tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn fifty_sigkills_lose_no_outcome_and_repeat_no_sync_or_announcement() {
    if crate::support::pg::sqlite_only("fifty_sigkills_lose_no_outcome") {
        return;
    }
    let seed = std::env::var("KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("kill test seed: {seed} (KILL_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(300)).await;
    let slack = FakeSlackHandle::start().await;
    let db = temp_db();
    let url = format!("sqlite://{}", db.display());

    // The first start: the watcher's baseline, before anything is killed.
    let (mut child, mut port) = serve(setup(&sim, &slack, &db), &[]).await;
    let store: std::sync::Arc<dyn Store> = usersync_bot::store::open(&url).await.unwrap();
    wait_for("the watcher's first look", || async {
        store.handled_sync("jira", OKTA).await.unwrap().map(|_| ())
    })
    .await;

    let mut commands: Vec<(String, Option<Value>)> = Vec::new();
    let mut okta_syncs: Vec<u64> = Vec::new();
    for round in 0..KILLS {
        // Whatever was not answered before the last kill is delivered again, as Slack does.
        for (body, answer) in commands.iter_mut().filter(|(_, a)| a.is_none()) {
            *answer = send(port, body, 1).await;
        }
        let mut cmd = run_cmd(&slack, "run azure", &format!("kill{round}"));
        cmd.trigger = format!("kill-{seed}-{round}");
        let body = cmd.body();
        if rng.below(3) == 0 {
            // A sync on Okta's schedule, unless the last one still runs (409).
            if let Ok(record) = sim.state().start_sync(OKTA, false, SyncOrigin::Schedule) {
                okta_syncs.push(record["id"].as_u64().unwrap());
            }
        }
        let delay = Duration::from_millis(rng.below(450));
        let answer = tokio::select! {
            a = send(port, &body, 0) => a,
            _ = tokio::time::sleep(delay) => None,
        };
        commands.push((body, answer));
        tokio::time::sleep(delay.saturating_sub(Duration::from_millis(rng.below(100)))).await;
        kill(&child);
        let _ = child.wait().await;
        (child, port) = serve(setup(&sim, &slack, &db), &[]).await;
    }
    for (body, answer) in commands.iter_mut().filter(|(_, a)| a.is_none()) {
        *answer = send(port, body, 1).await;
    }

    // Let everything settle: every job over, every Okta sync announced.
    let last_okta = okta_syncs.last().copied();
    wait_for("every job over and every sync announced", || async {
        let open = store.open_jobs().await.unwrap();
        let announced = store
            .announced(Platform::Slack, WATCHED, "jira", OKTA)
            .await
            .unwrap();
        (open.is_empty() && announced >= last_okta).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    crate::shutdown::terminate(&mut child).await;

    let unanswered = commands.iter().filter(|(_, a)| a.is_none()).count();
    assert_eq!(unanswered, 0, "seed {seed}: every command got an answer");
    let jobs: Vec<_> = store
        .recent_jobs(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == JobKind::Sync)
        .collect();
    let triggers = calls_with(&sim, "POST");
    assert_eq!(
        triggers,
        jobs.len(),
        "seed {seed}: one sync triggered per job, none twice, none without a job"
    );
    let mut sync_ids: Vec<_> = jobs.iter().filter_map(|j| j.sync_id).collect();
    sync_ids.sort_unstable();
    sync_ids.dedup();
    assert_eq!(
        sync_ids.len(),
        jobs.len(),
        "seed {seed}: each job its own sync"
    );
    assert!(!jobs.is_empty(), "seed {seed}: some runs started");

    let posts: Vec<Value> = slack
        .received()
        .into_iter()
        .filter(|(p, _)| p == "/api/chat.postMessage")
        .map(|(_, b)| b)
        .collect();
    let tagged = |tag: &str| {
        posts
            .iter()
            .filter(|b| b["metadata"]["event_payload"]["delivery_id"] == tag)
            .count()
    };
    for job in &jobs {
        assert_eq!(job.delivery, Delivery::Posted, "seed {seed}: {job:?}");
        assert_eq!(
            tagged(&outcome_tag(job.id)),
            1,
            "seed {seed}: job {} has exactly one outcome",
            job.id
        );
    }
    let channel = Principal::new(Platform::Slack, WATCHED.to_string());
    for id in &okta_syncs {
        assert_eq!(
            tagged(&announcement_tag(&channel, "jira", OKTA, *id)),
            1,
            "seed {seed}: sync {id} announced exactly once"
        );
    }
    let announcements = posts.iter().filter(|b| b["channel"] == WATCHED).count();
    assert_eq!(
        announcements,
        okta_syncs.len(),
        "seed {seed}: nothing else announced"
    );
    eprintln!(
        "kill test: {KILLS} kills, {} commands, {} jobs, {} announcements, seed {seed}",
        commands.len(),
        jobs.len(),
        okta_syncs.len()
    );
}

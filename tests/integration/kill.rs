//! Kill tests: the real binary on SQLite (and two replicas of it on PostgreSQL), SIGKILLed
//! at seeded random moments while it follows runs and announces syncs, restarted each
//! time on the same store; then every
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

/// Where the replicas keep their store: a SQLite file (one replica), or a PostgreSQL
/// database shared by all.
#[derive(Clone)]
enum Storage {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Storage {
    fn url(&self) -> String {
        match self {
            Storage::Sqlite(db) => format!("sqlite://{}", db.display()),
            Storage::Postgres(url) => url.clone(),
        }
    }
}

/// Replica `n`'s configuration: its own folder (for its configuration file), the shared
/// store, the simulator and the fake Slack.
fn setup<'a>(
    sim: &'a usersync_bot::simulator::SimulatorHandle,
    slack: &FakeSlackHandle,
    storage: &Storage,
    dirs: &[std::path::PathBuf],
    n: usize,
) -> BotSetup<'a> {
    let mut setup = BotSetup::new(sim);
    match storage {
        Storage::Sqlite(db) => setup.db = db.clone(),
        Storage::Postgres(url) => {
            setup.db = dirs[n].clone();
            setup.storage_url = Some(url.clone());
        }
    }
    setup.slack_extra = format!(
        "bot_token = \"xoxb-kill\"\napi_base_url = \"http://{}/api\"",
        slack.addr
    );
    let cluster = match storage {
        Storage::Sqlite(_) => "",
        Storage::Postgres(_) => "[cluster]\nlease = \"3s\"\n",
    };
    // The response_url lapses at once: outcomes go with the bot token, tagged and findable.
    setup.extra = Box::leak(
        format!(
            "[jobs]\npoll_interval = \"50ms\"\nmax_wait = \"5s\"\nresponse_url_lifetime = \"1ms\"\n\
             [watch]\ninterval = \"100ms\"\n{cluster}\
             [[notify]]\nconnectors = [\"Okta\"]\nchannel = \"slack:{WATCHED}\"\non = [\"success\", \"failure\"]\n"
        )
        .into_boxed_str(),
    );
    setup
}

/// A free port on loopback (bound and released: the bot binds it right after).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `usersync-bot serve` on a free port, its log (info) appended to `bot.log` beside its
/// configuration (printed when it does not come up); waits until it is healthy.
async fn serve(setup: BotSetup<'_>) -> (tokio::process::Child, u16) {
    let port = free_port();
    let config = setup.config_text().replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    let path = setup.db.with_file_name("usersync-bot.toml");
    std::fs::write(&path, config).unwrap();
    let log_path = setup.db.with_file_name("bot.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .unwrap();
    let child = tokio::process::Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .env("TEST_SIGNING_SECRET", SECRET)
        .env("RUST_LOG", "info")
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let healthy = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let health = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await;
        if health.is_ok_and(|r| r.status().is_success()) {
            return (child, port);
        }
        if tokio::time::Instant::now() > healthy {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "the bot did not come up in 20 s; its log ends:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
    kill_run(Storage::Sqlite(temp_db()), 1).await;
}

#[tokio::test]
async fn two_replicas_on_postgres_killed_in_turn_lose_nothing_and_repeat_nothing() {
    // Its own database: run once, in the SQLite run of the suite.
    if crate::support::pg::sqlite_only("two_replicas_on_postgres_killed_in_turn") {
        return;
    }
    let Some(db) =
        crate::support::pg::fresh_database("two_replicas_on_postgres_killed_in_turn").await
    else {
        return;
    };
    kill_run(Storage::Postgres(db.url.clone()), 2).await;
}

/// `KILLS` rounds on `replicas` processes sharing `storage`: each round one command goes
/// to a replica drawn at random and one replica drawn at random is SIGKILLed and started
/// again; then the checks.
async fn kill_run(storage: Storage, replicas: usize) {
    let seed = std::env::var("KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("kill test seed: {seed} (KILL_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(300)).await;
    let slack = FakeSlackHandle::start().await;
    let url = storage.url();
    let dirs: Vec<_> = (0..replicas).map(|_| temp_db()).collect();
    let start = |n: usize| serve(setup(&sim, &slack, &storage, &dirs, n));

    // The first start: the watcher's baseline, before anything is killed.
    let mut running = Vec::new();
    for n in 0..replicas {
        running.push(start(n).await);
    }
    let store: std::sync::Arc<dyn Store> = usersync_bot::store::open(&url).await.unwrap();
    wait_for("the watcher's first look", || async {
        store.handled_sync("jira", OKTA).await.unwrap().map(|_| ())
    })
    .await;

    let mut commands: Vec<(String, Option<Value>)> = Vec::new();
    let mut okta_syncs: Vec<u64> = Vec::new();
    for round in 0..KILLS {
        // Whatever was not answered before the last kill is delivered again, as Slack does.
        let port = running[rng.below(replicas as u64) as usize].1;
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
        let victim = rng.below(replicas as u64) as usize;
        kill(&running[victim].0);
        let _ = running[victim].0.wait().await;
        running[victim] = start(victim).await;
    }
    for (body, answer) in commands.iter_mut().filter(|(_, a)| a.is_none()) {
        *answer = send(running[0].1, body, 1).await;
    }

    // Let everything settle: every job over, every Okta sync announced.
    let last_okta = okta_syncs.last().copied();
    // (a job whose trigger a kill prevented ends at `max_wait`, 5 s).
    let settled = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let open = store.open_jobs().await.unwrap();
        let announced = store
            .announced(Platform::Slack, WATCHED, "jira", OKTA)
            .await
            .unwrap();
        if open.is_empty() && announced >= last_okta {
            break;
        }
        assert!(
            tokio::time::Instant::now() < settled,
            "seed {seed}: not settled within 60 s: open jobs {open:?}, announced {announced:?} of {last_okta:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (child, _) in &mut running {
        crate::shutdown::terminate(child).await;
    }

    let unanswered = commands.iter().filter(|(_, a)| a.is_none()).count();
    assert_eq!(unanswered, 0, "seed {seed}: every command got an answer");
    let jobs: Vec<_> = store
        .recent_jobs(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == JobKind::Sync)
        .collect();
    // A job whose trigger was refused was told in the reply and has nothing to post.
    let refused = |j: &usersync_bot::store::JobRecord| {
        j.state == usersync_bot::store::JobState::Failed && j.sync_id.is_none()
    };
    let triggers = calls_with(&sim, "POST");
    let with_sync = jobs.iter().filter(|j| j.sync_id.is_some()).count();
    assert_eq!(
        triggers, with_sync,
        "seed {seed}: each sync triggered was found by its job, none triggered twice or without a job"
    );
    let mut sync_ids: Vec<_> = jobs.iter().filter_map(|j| j.sync_id).collect();
    sync_ids.sort_unstable();
    sync_ids.dedup();
    assert_eq!(
        sync_ids.len(),
        with_sync,
        "seed {seed}: each job its own sync"
    );
    assert!(with_sync > 0, "seed {seed}: some runs started");

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
            usize::from(!refused(job)),
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
        "kill test: {KILLS} kills of {replicas} replica(s), {} commands, {} jobs ({with_sync} with a sync), {} announcements, seed {seed}",
        commands.len(),
        jobs.len(),
        okta_syncs.len()
    );
}

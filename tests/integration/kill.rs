//! Kill tests: the real binary on SQLite (and two replicas of it on PostgreSQL), SIGKILLed
//! at seeded random moments while it follows runs, updates users, carries out confirmed
//! changes and announces syncs, restarted each time on the same store; then every
//! command got one answer, every run at most one sync, every user update at most one
//! call to the product (exactly one unless its answer says it was cut off), every
//! confirmation at most one change (exactly one when its click said it was made), every
//! job exactly one outcome, and every sync the watcher saw finish exactly one
//! announcement — none repeated, none skipped.
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

/// What a command of the kill run asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Asked {
    Run,
    /// `user okta kill-user-<round>`.
    User(usize),
    /// `set okta syncSchedule.intervalMinutes=<n>`, then its confirming click.
    Change(u64),
}

/// One command sent during the kill run: its body, its answer once one came, and for a
/// change, its confirming clicks (response_url id, and how many restarts had been made
/// when it was clicked).
struct Sent {
    asked: Asked,
    body: String,
    answer: Option<Value>,
    clicks: Vec<(String, usize)>,
}

impl Sent {
    /// What every click of a change was answered, so far.
    fn click_answers(&self, slack: &FakeSlackHandle) -> Vec<String> {
        self.clicks
            .iter()
            .filter_map(|(id, _)| click_answer(slack, id))
            .collect()
    }
}

/// Sends a signed command; `None` when the process died before answering.
async fn send(port: u16, body: &str, retry: u32) -> Option<Value> {
    send_to(port, "/slack/commands", body, retry).await
}

/// Clicks the confirm button of a change's prompt as its requester, answered through
/// `response_url` `id`; `false` when the process died before taking the click.
async fn click(port: u16, slack: &FakeSlackHandle, prompt: &Value, id: &str) -> bool {
    let token = crate::changes::slack_token(prompt, "usersync_confirm");
    let body =
        crate::changes::block_actions(ADMIN, "usersync_confirm", &token, &slack.response_url(id));
    send_to(port, "/slack/interactions", &body, 0)
        .await
        .is_some()
}

/// The answer posted to a click's `response_url`, if any yet.
fn click_answer(slack: &FakeSlackHandle, id: &str) -> Option<String> {
    let path = format!("/commands/T0001/{id}");
    slack
        .received()
        .into_iter()
        .find(|(p, _)| *p == path)
        .map(|(_, b)| visible(&b))
}

/// Whether a prompt carries buttons (a re-delivery cut off before it answered does not).
fn has_buttons(answer: &Value) -> bool {
    answer["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|b| b["type"] == "actions")
}

/// Sends a signed request to `path`; `None` when the process died before answering.
async fn send_to(port: u16, path: &str, body: &str, retry: u32) -> Option<Value> {
    let ts = now();
    let mut request = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}{path}"))
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

    // Every call to the product takes a while, so that kills land inside user updates and
    // changes too (between the claim or the confirmation and the product's answer).
    sim.state().set_faults(usersync_bot::simulator::Faults {
        latency_ms: 120,
        ..Default::default()
    });
    let mut commands: Vec<Sent> = Vec::new();
    let mut okta_syncs: Vec<u64> = Vec::new();
    for round in 0..KILLS {
        // Whatever was not answered before the last kill is delivered again, as Slack does;
        // a prompt not yet confirmed (or whose click got no answer) is clicked (again), as
        // a person would.
        let port = running[rng.below(replicas as u64) as usize].1;
        settle(&mut commands, port, &slack, round).await;
        let asked = match rng.below(4) {
            0 | 1 => Asked::Run,
            2 => Asked::User(round),
            _ => Asked::Change(100 + round as u64),
        };
        let text = match asked {
            Asked::Run => "run azure".to_string(),
            Asked::User(n) => format!("user okta kill-user-{n}"),
            Asked::Change(n) => format!("set okta syncSchedule.intervalMinutes={n}"),
        };
        let user = match asked {
            Asked::Run => OPERATOR,
            Asked::User(_) => HELPDESK,
            Asked::Change(_) => ADMIN,
        };
        let mut cmd = Cmd::new(user, &text);
        cmd.response_url = Some(slack.response_url(&format!("kill{round}")));
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
        commands.push(Sent {
            asked,
            body,
            answer,
            clicks: Vec::new(),
        });
        if asked != Asked::Run {
            // The click (or the update) races the kill too.
            settle(&mut commands, port, &slack, round).await;
        }
        tokio::time::sleep(delay.saturating_sub(Duration::from_millis(rng.below(100)))).await;
        let victim = rng.below(replicas as u64) as usize;
        kill(&running[victim].0);
        let _ = running[victim].0.wait().await;
        running[victim] = start(victim).await;
    }
    // After the last kill: everything answered, every prompt clicked and its click
    // answered (clicked again when a kill took the first click's answer).
    let settled_clicks = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        settle(&mut commands, running[0].1, &slack, KILLS).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let waiting: Vec<_> = commands
            .iter()
            .filter(|c| {
                !answered(c) || (!c.clicks.is_empty() && c.click_answers(&slack).is_empty())
            })
            .map(|c| (c.asked, c.answer.as_ref().map(visible), &c.clicks))
            .collect();
        if waiting.is_empty() {
            break;
        }
        if tokio::time::Instant::now() >= settled_clicks {
            // What the store says of each: who claimed it, whether that one is alive.
            let mut claims = Vec::new();
            for c in commands.iter().filter(|c| !answered(c)) {
                let trigger = c
                    .body
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("trigger_id="))
                    .unwrap_or_default();
                let claim = store.delivery_answer(Platform::Slack, trigger).await;
                let by = match &claim {
                    Ok(Some(c)) => c.claimed_by.clone(),
                    _ => None,
                };
                let alive = match by {
                    Some(by) => Some(store.alive(&by).await),
                    None => None,
                };
                claims.push((trigger.to_string(), claim, alive));
            }
            panic!("seed {seed}: command(s) or click(s) never answered: {waiting:?}; claims {claims:?}");
        }
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

    let unanswered = commands.iter().filter(|c| !answered(c)).count();
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
    // The calls the product carried out: a call the bot's kill cut off while the product
    // was still slow to take it was never handled (it has no status).
    let calls: Vec<_> = sim
        .state()
        .calls()
        .into_iter()
        .filter(|c| c.status.is_some())
        .collect();
    let triggers = calls
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/sync"))
        .count();
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
    // User updates: at most one call each, exactly one unless the answer says the first
    // run was cut off (then the product may or may not have been asked).
    let (mut users, mut users_cut_off) = (0, 0);
    for c in &commands {
        let Asked::User(n) = c.asked else { continue };
        users += 1;
        let id = format!("\"kill-user-{n}\"");
        let made = calls
            .iter()
            .filter(|call| call.path.ends_with("/syncsingle") && call.body.contains(&id))
            .count();
        let said = visible(c.answer.as_ref().unwrap());
        assert!(
            made <= 1,
            "seed {seed}: user kill-user-{n} updated {made} times: {said}"
        );
        if said.contains("Cut off before it answered") {
            users_cut_off += 1;
        } else {
            assert_eq!(
                made, 1,
                "seed {seed}: user kill-user-{n} answered without being updated: {said}"
            );
        }
    }
    // Confirmed changes: at most one PATCH each; exactly one when the click said so.
    let (mut changes, mut changed, mut confirmed_unapplied) = (0, 0, 0);
    for c in &commands {
        let Asked::Change(n) = c.asked else { continue };
        changes += 1;
        let made = calls
            .iter()
            .filter(|call| {
                call.method == "PATCH"
                    && serde_json::from_str::<Value>(&call.body)
                        .is_ok_and(|b| b["syncSchedule"]["intervalMinutes"] == n)
            })
            .count();
        assert!(
            made <= 1,
            "seed {seed}: the change to {n} was made {made} times"
        );
        let said = c.click_answers(&slack).join("\n");
        if c.clicks.is_empty() {
            assert_eq!(made, 0, "seed {seed}: change to {n} made without a click");
            continue;
        }
        if said.contains("✅ Okta changed") {
            changed += 1;
            assert_eq!(made, 1, "seed {seed}: change to {n} said made: {said}");
        }
        if made == 0 {
            // Never "already confirmed" for a change that was not made.
            assert!(
                !said.contains("already confirmed"),
                "seed {seed}: change to {n} not made, yet: {said}"
            );
            // Said so: cut off, or (on a shared store, while it may still run) not yet.
            if said.contains("Okta was not changed")
                || said.contains("does not show this change yet")
            {
                confirmed_unapplied += 1;
            }
        }
    }
    eprintln!(
        "kill test: {KILLS} kills of {replicas} replica(s), {} commands, {} jobs ({with_sync} with a sync), \
         {users} user updates ({users_cut_off} cut off), {changes} changes ({changed} made, \
         {confirmed_unapplied} confirmed by a click a kill cut off before the change), {} announcements, seed {seed}",
        commands.len(),
        jobs.len(),
        okta_syncs.len()
    );
}

/// Whether a command has its answer: "Already received" (its first run may still be going:
/// on another replica, alive) is not one; it is asked again, as Slack retries. A claim a
/// killed replica left is "cut off" once its beat runs out (`[cluster] lease`), on
/// PostgreSQL as on SQLite.
fn answered(c: &Sent) -> bool {
    c.answer
        .as_ref()
        .is_some_and(|a| !visible(a).contains("Already received"))
}

/// Re-delivers every command not answered yet, and clicks every prompt that has buttons
/// and no click yet, or whose clicks got no answer before the last restart (a person
/// clicks again). `restarts`: how many have been made so far.
async fn settle(commands: &mut [Sent], port: u16, slack: &FakeSlackHandle, restarts: usize) {
    for (i, c) in commands.iter_mut().enumerate() {
        if !answered(c) {
            c.answer = send(port, &c.body, 1).await;
        }
        let Asked::Change(_) = c.asked else { continue };
        let Some(prompt) = c.answer.as_ref().filter(|a| has_buttons(a)) else {
            continue;
        };
        let lost =
            c.click_answers(slack).is_empty() && c.clicks.iter().all(|(_, at)| *at < restarts);
        if lost {
            let id = format!("click{i}-{}", c.clicks.len());
            if click(port, slack, prompt, &id).await {
                c.clicks.push((id, restarts));
            }
        }
    }
}

//! Measurements for job following (not a test: numbers to report, not assert).
//!
//! ```sh
//! cargo run --release --example measure_jobs -- calls 300 5   # one sync of 300 s, polled every 5 s
//! cargo run --release --example measure_jobs -- memory 1000   # RSS with 1,000 jobs being followed
//! ```
//!
//! `calls` starts a sync through the bot's HTTP front door and counts what the simulated
//! product received until the outcome was posted. `memory` reads the process's resident
//! set before and after 1,000 jobs are being followed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::Utc;
use usersync_bot::chat::slack::verify::sign;
use usersync_bot::config::Config;
use usersync_bot::domain::Platform;
use usersync_bot::server::RunningBot;
use usersync_bot::simulator::{SimSettings, Simulator};
use usersync_bot::store::{JobKind, JobRecord, JobState};

const SECRET: &str = "measure-secret";

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

async fn start(
    sync: Duration,
    poll: Duration,
) -> (usersync_bot::simulator::SimulatorHandle, RunningBot) {
    let sim = Simulator {
        settings: SimSettings {
            sync_duration: sync,
            ..SimSettings::default()
        },
        ..Simulator::default()
    }
    .start(SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .expect("simulator");
    let db = std::env::temp_dir().join(format!("usersync-measure-{}.db", std::process::id()));
    let text = format!(
        r#"
listen = "127.0.0.1:0"
[storage]
url = "sqlite://{db}"
[slack]
signing_secrets = ["{SECRET}"]
response_url_hosts = ["127.0.0.1"]
[[instances]]
name = "jira"
base_url = "{sim}"
username = "admin"
password = "admin"
[roles]
operator = ["slack:UOPS"]
[jobs]
poll_interval = "{poll}"
max_wait = "4h"
"#,
        db = db.display(),
        sim = sim.base_url(),
        poll = humantime::format_duration(poll),
    );
    let config = Config::parse(&text, &|_| None).expect("config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let bot = RunningBot::start(config, listener).await.expect("bot");
    (sim, bot)
}

async fn calls(sync_secs: u64, poll_secs: f64) {
    let (sim, bot) = start(
        Duration::from_secs(sync_secs),
        Duration::from_secs_f64(poll_secs),
    )
    .await;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("user_id", "UOPS")
        .append_pair("user_name", "ops")
        .append_pair("channel_id", "COPS")
        .append_pair("command", "/usersync")
        .append_pair("text", "run okta")
        .append_pair("trigger_id", "measure.1")
        .finish();
    let ts = Utc::now().timestamp();
    let started = Instant::now();
    let reply = reqwest::Client::new()
        .post(format!("http://{}/slack/commands", bot.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign(SECRET, ts, body.as_bytes()))
        .body(body)
        .send()
        .await
        .expect("bot answers");
    assert!(reply.status().is_success());
    loop {
        let jobs = bot.app.store.recent_jobs(1).await.expect("store");
        if jobs.first().is_some_and(|j| j.state != JobState::Following) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let calls = sim.state().calls();
    let polls = calls
        .iter()
        .filter(|c| c.path.ends_with("/syncstatus"))
        .count();
    println!(
        "sync of {sync_secs} s, poll_interval {poll_secs} s: followed to the end in {:.1} s with {} upstream calls ({} last-status polls, {} other: {:?})",
        started.elapsed().as_secs_f64(),
        calls.len(),
        polls,
        calls.len() - polls,
        calls
            .iter()
            .filter(|c| !c.path.ends_with("/syncstatus"))
            .map(|c| format!("{} {}", c.method, c.path.rsplit('/').next().unwrap_or_default()))
            .collect::<Vec<_>>()
    );
    bot.stop().await;
}

async fn memory(n: usize) {
    let (sim, bot) = start(Duration::from_secs(3600), Duration::from_secs(5)).await;
    let connectors: Vec<(String, String)> = sim
        .state()
        .list_connectors()
        .into_iter()
        .map(|c| {
            (
                c["uniqueId"].as_str().unwrap_or_default().to_string(),
                c["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib();
    let now = Utc::now();
    for i in 0..n {
        let (id, name) = &connectors[i % connectors.len()];
        let mut job = JobRecord::new(
            JobKind::Sync,
            Platform::Slack,
            "jira",
            id,
            name,
            "COPS",
            format!("U{i}"),
        );
        job.user_name = Some(format!("user{i}"));
        job.response_url = Some(format!("http://127.0.0.1:9/response/{i}"));
        job.response_url_expires_at = Some(now + chrono::Duration::minutes(29));
        job.baseline_sync_id = Some(1_000_000);
        bot.app.jobs.start(job).await.expect("job stored");
    }
    sim.state().clear_calls();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let after = rss_kib();
    let polls = sim.state().calls().len();
    println!(
        "{n} jobs being followed: RSS {:.1} MiB before, {:.1} MiB after (+{:.1} KiB per job); {} pollers; {polls} upstream calls in 12 s",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / n as f64,
        bot.app.jobs.pollers().active(),
    );
    bot.stop().await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("calls") => {
            let sync = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(300);
            let poll = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5.0);
            calls(sync, poll).await;
        }
        Some("memory") => memory(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000)).await,
        _ => eprintln!("usage: measure_jobs calls [SYNC_SECS] [POLL_SECS] | memory [JOBS]"),
    }
}

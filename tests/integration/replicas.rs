//! Several replicas on one PostgreSQL database, as real processes (`usersync-bot serve`)
//! on ports of their own, with the simulator and a fake Slack in the test: a replica
//! killed mid-sync has its job taken over within the lease and the outcome posted once;
//! the same Slack request delivered to both runs once; a confirmation clicked on both is
//! used once; the watcher announces each sync once, also when its leader pauses and
//! loses the lease; a replica stopped with SIGTERM hands its jobs over at once. Skipped
//! (with a notice) unless `USERSYNC_BOT_TEST_DATABASE_URL` names a server.
//!
//! `measure_takeover_after_sigkill` and `measure_upstream_polls` (ignored) measure what
//! the README reports.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use usersync_bot::chat::slack::verify::sign;
use usersync_bot::simulator::SimulatorHandle;
use usersync_bot::store::{Delivery, JobRecord, JobState, Store};
use usersync_bot::usersync::ApiFlavour;

use crate::changes::{block_actions, patches, slack_token};
use crate::support::bot::*;
use crate::support::pg::{fresh_database, FreshDatabase};
use crate::support::*;

/// `[cluster] lease` of the replicas under test: short, to keep the tests fast.
const LEASE: Duration = Duration::from_secs(4);
/// Allowed on top of a bound, for the database and the processes to answer.
const SLACK_TIME: Duration = Duration::from_millis(500);
/// The channel the watcher's route announces in.
const WATCHED: &str = "C0WATCHED";

/// One database, one simulated product and one fake Slack, shared by the replicas.
struct Cluster {
    db: FreshDatabase,
    sim: SimulatorHandle,
    slack: FakeSlackHandle,
    /// Where the replicas' configurations and logs are.
    dir: PathBuf,
    /// The test's own look at the database.
    store: Arc<dyn Store>,
}

/// A replica: a `usersync-bot serve` process.
struct Replica {
    name: String,
    child: tokio::process::Child,
    port: u16,
    http: reqwest::Client,
}

impl Cluster {
    /// `None` (with a notice) without a PostgreSQL server.
    async fn new(test: &str, sync_duration: Duration) -> Option<Cluster> {
        let db = fresh_database(test).await?;
        let store = usersync_bot::store::open(&db.url).await.unwrap();
        let dir = temp_db().parent().unwrap().to_path_buf();
        Some(Cluster {
            db,
            sim: simulator(ApiFlavour::V2, sync_duration).await,
            slack: FakeSlackHandle::start().await,
            dir,
            store,
        })
    }

    /// The replicas' configuration: this database, simulator and Slack (with a bot token
    /// for the watcher), fast polls and looks, a short lease, and `extra`.
    fn config(&self, lease: Duration, extra: &str) -> String {
        let mut setup = BotSetup::new(&self.sim);
        setup.storage_url = Some(self.db.url.clone());
        setup.slack_extra = format!(
            "bot_token = \"xoxb-replicas\"\napi_base_url = \"http://{}/api\"",
            self.slack.addr
        );
        let extra = format!(
            "[jobs]\npoll_interval = \"100ms\"\nmax_wait = \"1m\"\n\
             [watch]\ninterval = \"200ms\"\n\
             [cluster]\nlease = \"{}ms\"\n{extra}",
            lease.as_millis()
        );
        setup.extra = &extra;
        setup.config_text()
    }

    /// Starts a replica with `config` and waits until it serves.
    async fn start(&self, name: &str, config: &str) -> Replica {
        Replica::start(name, config, &self.dir).await
    }

    /// The newest job, as the database has it.
    async fn job(&self) -> Option<JobRecord> {
        self.store.recent_jobs(1).await.unwrap().into_iter().next()
    }

    /// Waits until the newest job knows the sync it follows.
    async fn job_following_its_sync(&self) -> JobRecord {
        wait_for("the job to know its sync", || async {
            self.job().await.filter(|j| j.sync_id.is_some())
        })
        .await
    }

    /// Waits until the newest job is over with its outcome posted.
    async fn job_posted(&self) -> JobRecord {
        wait_for("the job's outcome to be recorded as posted", || async {
            self.job()
                .await
                .filter(|j| j.state != JobState::Following && j.delivery == Delivery::Posted)
        })
        .await
    }

    /// Announcements posted in the watched channel.
    fn announcements(&self) -> Vec<String> {
        self.slack
            .received()
            .into_iter()
            .filter(|(p, b)| p == "/api/chat.postMessage" && b["channel"] == WATCHED)
            .map(|(_, b)| visible(&b))
            .collect()
    }

    async fn wait_announcements(&self, n: usize) -> Vec<String> {
        wait_for(&format!("{n} announcement(s)"), || async {
            let posted = self.announcements();
            (posted.len() >= n).then_some(posted)
        })
        .await
    }
}

impl Replica {
    async fn start(name: &str, config: &str, dir: &Path) -> Replica {
        let port = free_port();
        let config = config.replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        );
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        // The log stays next to the configuration, for a failed test to be looked into.
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let child = tokio::process::Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&path)
            .env("TEST_SIGNING_SECRET", SECRET)
            .env("RUST_LOG", "info")
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let replica = Replica {
            name: name.to_string(),
            child,
            port,
            http: reqwest::Client::new(),
        };
        wait_for(&format!("replica {name} to serve"), || async {
            let health = replica.http.get(replica.url("/healthz")).send().await;
            health.ok().filter(|r| r.status().is_success())
        })
        .await;
        replica
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Posts a body signed as Slack signs it, at `ts`.
    async fn post_signed(&self, path: &str, body: &str, ts: i64) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign(SECRET, ts, body.as_bytes()))
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// A slash command, as Slack sends it; the JSON reply.
    async fn command(&self, cmd: &Cmd<'_>) -> Value {
        let r = self
            .post_signed("/slack/commands", &cmd.body(), now())
            .await;
        assert_eq!(r.status(), 200, "{}", self.name);
        r.json().await.unwrap()
    }

    /// A gauge of `/metrics` (`usersync_bot_{name}`).
    async fn gauge(&self, name: &str) -> Option<u64> {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let line = format!("usersync_bot_{name} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Waits until a gauge of this replica reads `value`.
    async fn wait_gauge(&self, name: &str, value: u64) {
        wait_for(
            &format!("{name} = {value} on replica {}", self.name),
            || async { (self.gauge(name).await == Some(value)).then_some(()) },
        )
        .await;
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().unwrap().to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} {pid}");
    }

    /// SIGKILL, and wait until the process is gone.
    async fn kill(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }

    /// SIGTERM; how it exited and how long that took.
    async fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let sent = Instant::now();
        self.signal("TERM");
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("a replica stops within the wait after SIGTERM")
            .unwrap();
        (status, sent.elapsed())
    }
}

/// Waits until `replica` holds one job, and returns how long that took since `since`.
async fn takeover(replica: &Replica, since: Instant) -> Duration {
    replica.wait_gauge("jobs_held", 1).await;
    since.elapsed()
}

/// Exactly one outcome was posted (announcements of the watcher aside), it says the sync
/// finished, and the product ran one sync.
fn posted_once(c: &Cluster) {
    let posted: Vec<_> = outcomes(&c.slack)
        .into_iter()
        .filter(|(_, body)| body["channel"] != WATCHED)
        .collect();
    assert_eq!(posted.len(), 1, "one outcome: {posted:?}");
    assert!(
        visible(&posted[0].1).contains("Sync of Okta finished"),
        "{posted:?}"
    );
    assert_eq!(calls_with(&c.sim, "POST"), 1, "one sync triggered");
}

#[tokio::test]
async fn a_replica_killed_mid_sync_has_its_job_taken_over_within_the_lease_and_posted_once() {
    let test = "a_replica_killed_mid_sync_has_its_job_taken_over";
    let Some(c) = Cluster::new(test, Duration::from_secs(5)).await else {
        return;
    };
    let config = c.config(LEASE, "");
    let mut a = c.start("killed-a", &config).await;
    let b = c.start("killed-b", &config).await;
    let reply = visible(&a.command(&run_cmd(&c.slack, "run okta", "killed")).await);
    assert!(reply.contains("Sync of Okta started"), "{reply}");
    c.job_following_its_sync().await;
    assert_eq!(
        a.gauge("jobs_held").await,
        Some(1),
        "the replica that started it"
    );
    assert_eq!(b.gauge("jobs_held").await, Some(0));

    let killed = Instant::now();
    a.kill().await;
    let took = takeover(&b, killed).await;
    assert!(took <= LEASE + SLACK_TIME, "taken over after {took:?}");
    assert!(
        outcomes(&c.slack).is_empty(),
        "the sync was still running when the replica died"
    );
    wait_outcome(&c.slack, 1).await;
    let job = c.job_posted().await;
    assert_eq!(job.state, JobState::Done);
    b.wait_gauge("jobs_held", 0).await;
    posted_once(&c);
}

#[tokio::test]
async fn the_same_slack_request_delivered_to_both_replicas_runs_once() {
    let test = "the_same_slack_request_delivered_to_both_replicas_runs_once";
    let Some(c) = Cluster::new(test, Duration::from_millis(300)).await else {
        return;
    };
    let config = c.config(LEASE, "");
    let a = c.start("twice-a", &config).await;
    let b = c.start("twice-b", &config).await;
    let body = run_cmd(&c.slack, "run okta", "twice").body();
    let ts = now();
    let (first, second) = tokio::join!(
        a.post_signed("/slack/commands", &body, ts),
        b.post_signed("/slack/commands", &body, ts),
    );
    let mut replies = Vec::new();
    for r in [first, second] {
        assert_eq!(r.status(), 200);
        replies.push(visible(&r.json::<Value>().await.unwrap()));
    }
    let started = replies
        .iter()
        .filter(|r| r.contains("Sync of Okta started"))
        .count();
    let on_its_way = replies
        .iter()
        .filter(|r| r.contains("Already received"))
        .count();
    // The second is told it is on its way (the first still runs) or, once the first has
    // answered, gets that answer again from the store; either way one sync.
    assert!(started >= 1 && started + on_its_way == 2, "{replies:?}");
    assert_eq!(
        c.sim
            .state()
            .calls()
            .iter()
            .filter(|c| c.method == "POST")
            .count(),
        1
    );
    wait_outcome(&c.slack, 1).await;
    c.job_posted().await;
    assert_eq!(c.store.recent_jobs(10).await.unwrap().len(), 1, "one job");
    posted_once(&c);
}

#[tokio::test]
async fn a_confirmation_clicked_on_both_replicas_is_used_once() {
    let test = "a_confirmation_clicked_on_both_replicas_is_used_once";
    let Some(c) = Cluster::new(test, Duration::from_millis(300)).await else {
        return;
    };
    let config = c.config(LEASE, "");
    let a = c.start("click-a", &config).await;
    let b = c.start("click-b", &config).await;
    let mut ask = Cmd::new(ADMIN, "set okta enabled=false");
    ask.response_url = Some(c.slack.response_url("prompt"));
    let prompt = a.command(&ask).await;
    let token = slack_token(&prompt, "usersync_confirm");
    assert!(patches(&c.sim).is_empty(), "nothing sent before the click");

    // The click reaches the other replica — and, retried, the first one at the same time.
    let on_b = block_actions(
        ADMIN,
        "usersync_confirm",
        &token,
        &c.slack.response_url("on-b"),
    );
    let on_a = block_actions(
        ADMIN,
        "usersync_confirm",
        &token,
        &c.slack.response_url("on-a"),
    );
    let (ts, ts_again) = (now(), now());
    let (from_b, from_a) = tokio::join!(
        b.post_signed("/slack/interactions", &on_b, ts),
        a.post_signed("/slack/interactions", &on_a, ts_again),
    );
    assert_eq!(
        (from_b.status().as_u16(), from_a.status().as_u16()),
        (200, 200)
    );
    let answers = wait_for("both clicks answered", || async {
        let got: Vec<String> = c
            .slack
            .received()
            .into_iter()
            .filter(|(p, _)| p.ends_with("/on-a") || p.ends_with("/on-b"))
            .map(|(_, body)| visible(&body))
            .collect();
        (got.len() == 2).then_some(got)
    })
    .await;
    // The other click says so: the prompt was used, or (when it passed that check while
    // the first was still under way) Okta's settings no longer match the prompt.
    let changed = answers
        .iter()
        .filter(|t| t.starts_with("✅ Okta changed"))
        .count();
    assert_eq!(changed, 1, "{answers:?}");
    assert_eq!(patches(&c.sim).len(), 1, "one PATCH sent");

    // Clicked once more, on the other replica: used up.
    let later = block_actions(
        ADMIN,
        "usersync_confirm",
        &token,
        &c.slack.response_url("later"),
    );
    assert_eq!(
        b.post_signed("/slack/interactions", &later, now())
            .await
            .status(),
        200
    );
    let again = wait_for("the late click's answer", || async {
        c.slack
            .received()
            .into_iter()
            .find(|(p, _)| p.ends_with("/later"))
            .map(|(_, body)| visible(&body))
    })
    .await;
    assert!(again.contains("already confirmed"), "{again}");
    assert_eq!(patches(&c.sim).len(), 1, "nothing more sent");
}

/// Starts a sync as the product's schedule would and waits until it is over; its id.
async fn scheduled(c: &Cluster) -> u64 {
    scheduled_sync(&c.sim, OKTA).await
}

#[tokio::test]
async fn with_two_replicas_the_watcher_announces_each_sync_once_even_when_its_leader_pauses() {
    let test = "with_two_replicas_the_watcher_announces_each_sync_once";
    let Some(c) = Cluster::new(test, Duration::from_millis(100)).await else {
        return;
    };
    let route = format!(
        "[[notify]]\nconnectors = [\"okta\"]\nchannel = \"slack:{WATCHED}\"\non = [\"success\"]\n"
    );
    let config = c.config(LEASE, &route);
    let a = c.start("watch-a", &config).await;
    let b = c.start("watch-b", &config).await;
    assert_eq!(
        a.gauge("watcher_leader").await,
        Some(1),
        "the first one leads"
    );
    assert_eq!(b.gauge("watcher_leader").await, Some(0), "the other waits");
    wait_for("the watcher's first look", || async {
        c.store.handled_sync("jira", OKTA).await.unwrap()
    })
    .await;

    let first = scheduled(&c).await;
    c.wait_announcements(1).await;

    // The leader pauses (as a process stopped by the OS or a long GC would) and loses the
    // lease: the other takes over within the lease and announces the next sync.
    a.signal("STOP");
    let paused = Instant::now();
    b.wait_gauge("watcher_leader", 1).await;
    let took = paused.elapsed();
    assert!(
        took <= LEASE + SLACK_TIME,
        "the watcher was taken over after {took:?}"
    );
    let second = scheduled(&c).await;
    c.wait_announcements(2).await;

    // Back, it finds the lease gone (and its fencing number stale): it announces nothing.
    a.signal("CONT");
    a.wait_gauge("watcher_leader", 0).await;
    let third = scheduled(&c).await;
    c.wait_announcements(3).await;
    // Looks enough for a duplicate to show up, were there one.
    wait_for_more_polls(&c.sim, OKTA, 10).await;
    let posted = c.announcements();
    assert_eq!(posted.len(), 3, "{posted:#?}");
    for (text, id) in posted.iter().zip([first, second, third]) {
        assert!(text.contains(&format!("sync {id}:")), "{id}: {text}");
    }
    assert_eq!(a.gauge("watcher_leader").await, Some(0));
    assert_eq!(b.gauge("watcher_leader").await, Some(1));
}

#[tokio::test]
async fn the_jobs_replica_polls_and_the_watcher_on_another_reads_what_it_saw() {
    let test = "the_jobs_replica_polls_and_the_watcher_on_another_reads";
    let Some(c) = Cluster::new(test, Duration::from_secs(4)).await else {
        return;
    };
    let route = format!(
        "[[notify]]\nconnectors = [\"okta\"]\nchannel = \"slack:{WATCHED}\"\non = [\"success\"]\n"
    );
    let config = c
        .config(LEASE, &route)
        .replace("poll_interval = \"100ms\"", "poll_interval = \"500ms\"");
    let a = c.start("polls-a", &config).await;
    let b = c.start("polls-b", &config).await;
    assert_eq!(a.gauge("watcher_leader").await, Some(1));
    wait_for("the watcher's first look", || async {
        c.store.handled_sync("jira", OKTA).await.unwrap()
    })
    .await;
    b.command(&run_cmd(&c.slack, "run okta", "polls")).await;
    let job = c.job_following_its_sync().await;
    assert_eq!(b.gauge("jobs_held").await, Some(1));

    // The watcher looks every 200 ms, the job's poller polls every 500 ms: the watcher
    // reads the job's last status from the store rather than polling again.
    let before = polls_of(&c.sim, OKTA);
    let window = Duration::from_secs(2);
    tokio::time::sleep(window).await;
    let polls = polls_of(&c.sim, OKTA) - before;
    assert!(
        (2..=5).contains(&polls),
        "{polls} polls in {window:?}: the job's poller's alone would be about 4"
    );

    // Once it ends, the job posts its outcome and the watcher announces the sync, once each.
    wait_outcome(&c.slack, 1).await;
    let announced = c.wait_announcements(1).await;
    let id = job.sync_id.unwrap_or_default();
    assert!(
        announced[0].contains(&format!("sync {id}:")),
        "{announced:?}"
    );
    c.job_posted().await;
    wait_for_more_polls(&c.sim, OKTA, 5).await;
    assert_eq!(c.announcements().len(), 1);
    posted_once(&c);
}

#[tokio::test]
async fn a_replica_stopped_with_sigterm_hands_its_jobs_over_at_once() {
    let test = "a_replica_stopped_with_sigterm_hands_its_jobs_over_at_once";
    let Some(c) = Cluster::new(test, Duration::from_secs(4)).await else {
        return;
    };
    let config = c.config(LEASE, "");
    let mut a = c.start("term-a", &config).await;
    let b = c.start("term-b", &config).await;
    a.command(&run_cmd(&c.slack, "run okta", "term")).await;
    c.job_following_its_sync().await;
    a.wait_gauge("jobs_held", 1).await;

    let stopping = Instant::now();
    let (status, stopped_in) = a.terminate().await;
    assert!(status.success(), "{status:?}");
    assert!(stopped_in < Duration::from_secs(10), "{stopped_in:?}");
    let took = takeover(&b, stopping).await;
    // Left to run out, the lease would hold for at least half of it after the last
    // renewal; released, the other replica takes the job at its next claim (a second).
    assert!(
        took < LEASE / 2,
        "taken over after {took:?} (stopped in {stopped_in:?})"
    );
    assert!(outcomes(&c.slack).is_empty(), "the sync was still running");
    wait_outcome(&c.slack, 1).await;
    c.job_posted().await;
    posted_once(&c);
}

/// How long after a SIGKILL (and after a SIGTERM) the other replica holds the job, for
/// two leases, stopped at different points of the renewal period:
/// `cargo test --test integration replicas::measure -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a test: run it by name"]
async fn measure_takeover_after_sigkill() {
    for (lease, samples) in [(LEASE, 6), (Duration::from_secs(15), 4)] {
        for signal in ["KILL", "TERM"] {
            let mut took = Vec::new();
            for i in 0..samples {
                let Some(c) = Cluster::new("measure", Duration::from_secs(120)).await else {
                    return;
                };
                let config = c.config(lease, "");
                let mut a = c.start(&format!("measure-a{i}"), &config).await;
                let b = c.start(&format!("measure-b{i}"), &config).await;
                a.command(&run_cmd(&c.slack, "run okta", "measure")).await;
                c.job_following_its_sync().await;
                // Stopped at a different point of the renewal period each time.
                tokio::time::sleep(lease * i / samples).await;
                let stopped = Instant::now();
                if signal == "KILL" {
                    a.kill().await;
                } else {
                    a.terminate().await;
                }
                let deadline = Instant::now() + lease * 2;
                while b.gauge("jobs_held").await != Some(1) {
                    assert!(Instant::now() < deadline, "no takeover");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                took.push(stopped.elapsed());
            }
            took.sort();
            println!(
                "lease {lease:?}: takeover after SIG{signal}, {samples} samples: min {:?}, median {:?}, max {:?}",
                took[0],
                took[took.len() / 2],
                took[took.len() - 1]
            );
        }
    }
}

/// Upstream polls of a connector, with 1 and 3 replicas: a job followed on Okta (polled
/// every second) and the watcher on Okta and Azure AD (a look every second), over 20 s:
/// `cargo test --test integration replicas::measure -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a test: run it by name"]
async fn measure_upstream_polls() {
    for replicas in [1, 3] {
        let Some(c) = Cluster::new("measure", Duration::from_secs(60)).await else {
            return;
        };
        let route = format!(
            "[[notify]]\nconnectors = [\"Okta\", \"Azure AD\"]\nchannel = \"slack:{WATCHED}\"\non = [\"success\"]\n"
        );
        let config = c
            .config(LEASE, &route)
            .replace("poll_interval = \"100ms\"", "poll_interval = \"1s\"")
            .replace("interval = \"200ms\"", "interval = \"1s\"");
        let mut running = Vec::new();
        for i in 0..replicas {
            running.push(c.start(&format!("polls-{replicas}-{i}"), &config).await);
        }
        running[replicas - 1]
            .command(&run_cmd(&c.slack, "run okta", "polls"))
            .await;
        c.job_following_its_sync().await;
        let (okta, azure) = (polls_of(&c.sim, OKTA), polls_of(&c.sim, AZURE));
        let window = Duration::from_secs(20);
        tokio::time::sleep(window).await;
        let per_second = |n: usize| n as f64 / window.as_secs_f64();
        println!(
            "{replicas} replica(s): okta (followed by a job, watched) {:.1} polls/s, azure (watched) {:.1} polls/s",
            per_second(polls_of(&c.sim, OKTA) - okta),
            per_second(polls_of(&c.sim, AZURE) - azure),
        );
    }
}

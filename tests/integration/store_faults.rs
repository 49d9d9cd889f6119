//! The store failing under the bot: PostgreSQL down at start (waited for within
//! `storage.start_wait`, or a clear failure after it) and gone mid-run then back; SQLite
//! locked by another process at start and mid-run; SQLite's disk full. For each: the
//! person in chat is told plainly within Slack's 3 s, nothing acknowledged is lost,
//! `/readyz` tells the truth, the webhooks never answer 5xx, and the bot recovers on its
//! own. PostgreSQL is reached through a [`FaultProxy`]: the shared server is never stopped.

use std::time::{Duration, Instant};

use crate::support::bot::*;
use crate::support::pg::fresh_database;
use crate::support::proxy::{FaultProxy, Mode};
use crate::support::*;
use usersync_bot::server::RunningBot;
use usersync_bot::usersync::ApiFlavour;

/// A proxy before the PostgreSQL server of `url`, and `url` pointed at it.
async fn proxied(url: &str) -> (FaultProxy, String) {
    let mut url = url::Url::parse(url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let target = tokio::net::lookup_host(target)
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = FaultProxy::start(target).await;
    url.set_port(Some(proxy.addr.port())).unwrap();
    (proxy, url.to_string())
}

/// Waits until `/readyz` says ready.
async fn until_ready(bot: &TestBot) {
    wait_for("ready again", || async {
        (bot.readyz().await.0 == 200).then_some(())
    })
    .await;
}

/// Waits until `/readyz` says 503, and returns why.
async fn until_not_ready(bot: &TestBot) -> String {
    wait_for("not ready", || async {
        let (status, reason) = bot.readyz().await;
        (status == 503).then_some(reason)
    })
    .await
}

/// The command texts of the first `n` audit rows to land, sorted.
async fn audited(bot: &TestBot, n: usize) -> Vec<String> {
    let mut texts: Vec<_> = bot
        .audit_rows(n)
        .await
        .into_iter()
        .map(|a| a.command_text)
        .collect();
    texts.sort_unstable();
    texts
}

/// Sends `text` as `user` and returns what a person finally reads (inline, or posted after
/// "Working on it"), checking the first answer came within Slack's 3 s with 200 (never a
/// 5xx from the bot's webhook).
async fn asked(bot: &TestBot, slack: &FakeSlackHandle, user: &str, text: &str, id: &str) -> String {
    let mut cmd = Cmd::new(user, text);
    cmd.response_url = Some(slack.response_url(id));
    let at = Instant::now();
    let reply = bot.command(&cmd).await;
    let took = at.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "{text}: answered within 3 s ({took:?})"
    );
    finally(slack, visible(&reply), id).await
}

#[tokio::test]
async fn on_postgres_a_database_gone_mid_run_is_said_plainly_and_the_bot_recovers_when_it_is_back()
{
    let Some(db) = fresh_database("on_postgres_a_database_gone_mid_run").await else {
        return;
    };
    let (proxy, url) = proxied(&db.url).await;
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(200)).await;
    let slack = FakeSlackHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.storage_url = Some(url);
    setup.extra = "[jobs]\npoll_interval = \"50ms\"\nmax_wait = \"1m\"\n";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bot = TestBot::from_running(RunningBot::start(setup.config(), listener).await.unwrap());
    assert_eq!(bot.readyz().await, (200, "ready".into()));

    // The server goes away: every open connection is cut and new ones are refused.
    proxy.set(Mode::Reset);
    proxy.cut_all();
    let (status, reason) = bot.readyz().await;
    assert_eq!(status, 503, "{reason}");
    assert!(reason.starts_with("store: "), "{reason}");

    let shown = asked(&bot, &slack, VIEWER, "status okta", "down-status").await;
    assert!(
        shown.contains("Okta — sync"),
        "a read needs only the product: {shown}"
    );
    let shown = asked(&bot, &slack, OPERATOR, "run okta", "down-run").await;
    assert!(
        shown.contains("cannot read its locks from its store, so it does not act"),
        "{shown}"
    );
    let shown = asked(&bot, &slack, VIEWER, "jobs", "down-jobs").await;
    assert!(shown.contains("Cannot list jobs"), "{shown}");
    assert!(shown.contains("store cannot be read"), "{shown}");
    assert_eq!(
        calls_with(&sim, "POST"),
        0,
        "nothing was started while the store was gone"
    );

    // The server is back: the bot is ready again on its own and acts.
    proxy.set(Mode::Pass);
    until_ready(&bot).await;
    let shown = asked(&bot, &slack, OPERATOR, "run okta", "after").await;
    assert!(shown.contains("Sync of Okta started by @tester"), "{shown}");
    let posted = wait_outcome(&slack, 1).await;
    assert_eq!(posted.len(), 1);
    assert!(
        visible(&posted[0].1).contains("Sync of Okta finished"),
        "{posted:?}"
    );
    assert_eq!(calls_with(&sim, "POST"), 1);
    // Every command was audited, those of the outage once the store was back.
    assert_eq!(
        audited(&bot, 4).await,
        [
            "/usersync jobs",
            "/usersync run okta",
            "/usersync run okta",
            "/usersync status okta"
        ],
        "every command of the outage audited once the store was back"
    );
    let audit = bot.audit_rows(4).await;
    assert!(
        audit
            .iter()
            .any(|a| a.outcome.starts_with("error: Not done")),
        "the refused run is audited as refused: {audit:?}"
    );
    bot.bot.stop().await;
}

#[tokio::test]
async fn on_postgres_a_database_down_at_start_is_waited_for_and_then_served() {
    let Some(db) = fresh_database("on_postgres_a_database_down_at_start").await else {
        return;
    };
    let (proxy, url) = proxied(&db.url).await;
    proxy.set(Mode::Reset);
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let mut setup = BotSetup::new(&sim);
    setup.storage_url = Some(url);
    setup.storage_extra = "start_wait = \"30s\"".into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let starting = tokio::spawn(RunningBot::start(setup.config(), listener));
    wait_for("a few refused tries", || async {
        (proxy.accepted() >= 3).then_some(())
    })
    .await;
    assert!(
        !starting.is_finished(),
        "start-up gave up on a database that is only down"
    );
    proxy.set(Mode::Pass);
    let bot = TestBot::from_running(
        starting
            .await
            .unwrap()
            .expect("started once the database was back"),
    );
    assert_eq!(bot.readyz().await, (200, "ready".into()));
    let reply = bot.say(VIEWER, "whoami").await;
    assert!(visible(&reply).contains("viewer"), "{}", visible(&reply));
    bot.bot.stop().await;
}

#[tokio::test]
async fn on_postgres_a_database_down_past_start_wait_fails_the_start_with_the_reason() {
    let Some(db) = fresh_database("on_postgres_a_database_down_past_start_wait").await else {
        return;
    };
    let (proxy, url) = proxied(&db.url).await;
    proxy.set(Mode::Reset);
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let mut setup = BotSetup::new(&sim);
    setup.storage_url = Some(url);
    setup.storage_extra = "start_wait = \"2s\"".into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = Instant::now();
    let Err(e) = RunningBot::start(setup.config(), listener).await else {
        panic!("started without its database");
    };
    let text = e.to_string();
    assert!(
        text.starts_with("cannot reach the database at postgres://"),
        "{text}"
    );
    assert!(text.contains("storage.start_wait sets how long"), "{text}");
    assert!(
        proxy.accepted() >= 3,
        "tried more than once: {}",
        proxy.accepted()
    );
    assert!(
        at.elapsed() < Duration::from_secs(15),
        "gave up soon after the wait"
    );
}

/// Holds SQLite's write lock on `path` from another connection (as another process
/// would) until the returned sender is dropped or sent to.
async fn lock_sqlite(path: &std::path::Path) -> tokio::sync::oneshot::Sender<()> {
    use sqlx::Connection;
    let mut holder = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = rx.await;
        sqlx::query("ROLLBACK").execute(&mut holder).await.ok();
    });
    tx
}

/// The answer a person finally reads: inline, or posted to the response_url after
/// "Working on it".
async fn finally(slack: &FakeSlackHandle, shown: String, id: &str) -> String {
    if !shown.contains("Working on it") {
        return shown;
    }
    let path = format!("/commands/T0001/{id}");
    wait_for(&format!("the answer to {id}"), || async {
        slack
            .received()
            .into_iter()
            .find(|(p, _)| *p == path)
            .map(|(_, b)| visible(&b))
    })
    .await
}

#[tokio::test]
async fn sqlite_locked_by_another_process_mid_run_is_said_plainly_and_nothing_is_lost() {
    if crate::support::pg::sqlite_only("sqlite_locked_by_another_process_mid_run") {
        return;
    }
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(200)).await;
    let slack = FakeSlackHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.extra = "[jobs]\npoll_interval = \"50ms\"\nmax_wait = \"1m\"\n";
    let path = setup.db.clone();
    let bot = setup.start().await;
    let lock = lock_sqlite(&path).await;
    let shown = asked(&bot, &slack, VIEWER, "status okta", "locked-status").await;
    assert!(
        shown.contains("Okta — sync"),
        "a read needs only the product: {shown}"
    );
    let shown = asked(&bot, &slack, OPERATOR, "run okta", "locked-run").await;
    assert!(
        shown.contains("Not started") && shown.contains("cannot record the request in its store"),
        "{shown}"
    );
    let shown = asked(&bot, &slack, VIEWER, "whoami", "locked-whoami").await;
    assert!(shown.contains("Role: viewer"), "{shown}");
    assert_eq!(
        calls_with(&sim, "POST"),
        0,
        "nothing was started that could not be recorded"
    );

    // Not ready once a write failed (the audit rows of these commands wait for the lock).
    let reason = until_not_ready(&bot).await;
    assert!(
        reason.starts_with("store: audit rows cannot be written:") && reason.contains("locked"),
        "{reason}"
    );

    // The other process lets go: ready again, the same request now runs, and every
    // command of the lock was audited once the file could be written.
    lock.send(()).unwrap();
    until_ready(&bot).await;
    let shown = asked(&bot, &slack, OPERATOR, "run okta", "unlocked-run").await;
    assert!(shown.contains("Sync of Okta started by @tester"), "{shown}");
    assert_eq!(calls_with(&sim, "POST"), 1);
    assert_eq!(
        audited(&bot, 4).await,
        [
            "/usersync run okta",
            "/usersync run okta",
            "/usersync status okta",
            "/usersync whoami"
        ],
        "every command audited"
    );
    bot.bot.stop().await;
}

#[tokio::test]
async fn sqlite_locked_at_start_is_waited_for_and_then_served() {
    if crate::support::pg::sqlite_only("sqlite_locked_at_start") {
        return;
    }
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let mut setup = BotSetup::new(&sim);
    setup.storage_extra = "start_wait = \"30s\"".into();
    // A store made before (as by an earlier run), then locked by another process.
    let path = setup.db.clone();
    drop(
        usersync_bot::store::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap(),
    );
    let lock = lock_sqlite(&path).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let starting = tokio::spawn(RunningBot::start(setup.config(), listener));
    // Past one try (SQLite's own 5 s busy wait): start-up is still waiting, not failed.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        !starting.is_finished(),
        "start-up gave up on a file that is only locked"
    );
    lock.send(()).unwrap();
    let bot = TestBot::from_running(
        starting
            .await
            .unwrap()
            .expect("started once the lock was let go"),
    );
    assert_eq!(bot.readyz().await, (200, "ready".into()));
    let reply = bot.say(VIEWER, "whoami").await;
    assert!(
        visible(&reply).contains("Role: viewer"),
        "{}",
        visible(&reply)
    );
    bot.bot.stop().await;
}

/// A small tmpfs of its own (root only), lazily unmounted when dropped.
struct SmallDisk {
    dir: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = std::env::temp_dir().join(format!("usersync-bot-full-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk { dir })
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[tokio::test]
async fn sqlite_on_a_full_disk_is_said_plainly_not_ready_and_loses_nothing_once_space_is_back() {
    if crate::support::pg::sqlite_only("sqlite_on_a_full_disk") {
        return;
    }
    let Some(disk) = SmallDisk::mount("8m") else {
        eprintln!("NOTICE: cannot mount a small tmpfs (not root?): the disk-full test is skipped");
        return;
    };
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(200)).await;
    let slack = FakeSlackHandle::start().await;
    let mut setup = BotSetup::new(&sim);
    setup.extra = "[jobs]\npoll_interval = \"50ms\"\nmax_wait = \"1m\"\n";
    setup.db = disk.dir.join("bot.db");
    let bot = setup.start().await;
    asked(&bot, &slack, VIEWER, "whoami", "before").await;
    bot.audit_rows(1).await;

    let filler = disk.fill();
    let shown = asked(&bot, &slack, OPERATOR, "run okta", "full-run").await;
    assert!(
        shown.contains("Not started") && shown.contains("cannot record the request in its store"),
        "{shown}"
    );
    let shown = asked(&bot, &slack, VIEWER, "status okta", "full-status").await;
    assert!(
        shown.contains("Okta — sync"),
        "a read needs only the product: {shown}"
    );
    assert_eq!(
        calls_with(&sim, "POST"),
        0,
        "nothing was started that could not be recorded"
    );
    let reason = until_not_ready(&bot).await;
    assert!(
        reason.starts_with("store: audit rows cannot be written:") && reason.contains("full"),
        "{reason}"
    );

    // Space is back: ready again on its own, every row of the full disk written.
    std::fs::remove_file(&filler).unwrap();
    until_ready(&bot).await;
    assert_eq!(
        audited(&bot, 3).await,
        [
            "/usersync run okta",
            "/usersync status okta",
            "/usersync whoami"
        ],
        "every command audited"
    );
    let shown = asked(&bot, &slack, OPERATOR, "run okta", "freed-run").await;
    assert!(shown.contains("Sync of Okta started by @tester"), "{shown}");
    assert_eq!(calls_with(&sim, "POST"), 1);
    bot.bot.stop().await;
}

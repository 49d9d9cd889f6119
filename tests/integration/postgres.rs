//! The bot on PostgreSQL, end to end: a `run` followed to its outcome, a restart that
//! posts the outcome once, and a re-delivered command claimed once. Skipped (with a
//! notice) unless `USERSYNC_BOT_TEST_DATABASE_URL` names a server; the same scenarios on
//! SQLite are in `jobs.rs` and `slack_commands.rs`.

use std::time::Duration;

use crate::support::bot::*;
use crate::support::pg::{fresh_database, FreshDatabase};
use crate::support::*;
use usersync_bot::simulator::SimulatorHandle;
use usersync_bot::store::{Delivery, JobState};
use usersync_bot::usersync::ApiFlavour;

async fn bot_on(db: &FreshDatabase, sim: &SimulatorHandle) -> TestBot {
    let mut setup = BotSetup::new(sim);
    setup.storage_url = Some(db.url.clone());
    setup.extra = "[jobs]\npoll_interval = \"50ms\"\nmax_wait = \"1m\"\n";
    setup.start().await
}

#[tokio::test]
async fn on_postgres_a_sync_started_from_chat_is_followed_and_its_outcome_posted_once() {
    let Some(db) = fresh_database("on_postgres_a_sync_started_from_chat_is_followed").await else {
        return;
    };
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(300)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = bot_on(&db, &sim).await;
    let reply = bot.command(&run_cmd(&slack, "run okta", "pg-happy")).await;
    let text = visible(&reply);
    assert!(text.contains("Sync of Okta started by @tester"), "{text}");
    assert!(text.contains("Following it as job 1"), "{text}");

    let posted = wait_outcome(&slack, 1).await;
    assert_eq!(posted[0].0, "/commands/T0001/pg-happy");
    let done = client(&sim, ApiFlavour::V2)
        .last_sync_status(OKTA)
        .await
        .unwrap();
    let shown = visible(&posted[0].1);
    assert!(
        shown.contains(&format!("Sync of Okta finished — sync {}: DONE", done.id)),
        "{shown}"
    );
    let job = bot.wait_job_over().await;
    assert_eq!(job.state, JobState::Done);
    assert_eq!(job.delivery, Delivery::Posted);
    assert_eq!(job.sync_id, Some(done.id));
    assert_eq!(outcomes(&slack).len(), 1, "posted exactly once");
    let audit = bot.audit_rows(1).await;
    assert!(
        audit.iter().any(|a| a.command_text.contains("run okta")),
        "{audit:?}"
    );
    bot.bot.stop().await;
}

#[tokio::test]
async fn on_postgres_a_restart_in_the_middle_of_a_job_posts_the_outcome_exactly_once() {
    let Some(db) = fresh_database("on_postgres_a_restart_in_the_middle_of_a_job").await else {
        return;
    };
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(1500)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = bot_on(&db, &sim).await;
    bot.command(&run_cmd(&slack, "run okta", "pg-restart"))
        .await;
    wait_for("the job to know its sync", || async {
        let jobs = bot.bot.app.store.recent_jobs(1).await.unwrap();
        jobs[0].sync_id.map(|_| ())
    })
    .await;
    bot.bot.stop().await;
    assert!(outcomes(&slack).is_empty());

    let bot = bot_on(&db, &sim).await;
    let posted = wait_outcome(&slack, 1).await;
    assert!(visible(&posted[0].1).contains("Sync of Okta finished"));
    let job = bot.wait_job_over().await;
    assert_eq!(job.state, JobState::Done);
    assert_eq!(job.delivery, Delivery::Posted);
    assert_eq!(
        outcomes(&slack).len(),
        1,
        "the resumed job posts one outcome"
    );
    assert_eq!(
        calls_with(&sim, "POST"),
        1,
        "the restart did not run the sync again"
    );
    bot.bot.stop().await;
}

#[tokio::test]
async fn on_postgres_a_redelivered_run_after_a_restart_does_not_start_a_second_sync() {
    let Some(db) = fresh_database("on_postgres_a_redelivered_run_after_a_restart").await else {
        return;
    };
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let bot = bot_on(&db, &sim).await;
    let cmd = run_cmd(&slack, "run okta", "pg-redelivered");
    let first = visible(&bot.command(&cmd).await);
    assert!(first.contains("Sync of Okta started"), "{first}");
    bot.bot.stop().await;

    // The re-delivery reaches a fresh process: only the claim in the database remembers.
    let bot = bot_on(&db, &sim).await;
    let second = visible(&bot.command(&cmd).await);
    assert_eq!(
        second, first,
        "the re-delivery gets the first answer, kept in the store"
    );
    assert_eq!(calls_with(&sim, "POST"), 1);
    bot.bot.stop().await;
}

#[tokio::test]
async fn start_up_against_an_unreachable_database_says_so_without_the_password() {
    // Runs with or without a server: nothing listens on port 1.
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let mut setup = BotSetup::new(&sim);
    setup.storage_url = Some("postgres://bot:${PG_PASSWORD}@127.0.0.1:1/bot?sslmode=prefer".into());
    // Given up at once: waiting for a database that is down is `store_faults.rs`'s.
    setup.storage_extra = "start_wait = \"0s\"".into();
    let config = usersync_bot::config::Config::parse(&setup.config_text(), &|name| match name {
        "TEST_SIGNING_SECRET" => Some(SECRET.to_string()),
        "PG_PASSWORD" => Some("pg-s3cret".to_string()),
        _ => None,
    })
    .expect("a postgres:// storage URL is valid");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let Err(e) = usersync_bot::server::RunningBot::start(config, listener).await else {
        panic!("the bot started without its database");
    };
    let text = e.to_string();
    assert!(
        text.starts_with("cannot reach the database at postgres://bot:***@127.0.0.1:1/bot: "),
        "{text}"
    );
    assert!(!text.contains("pg-s3cret"), "{text}");
}

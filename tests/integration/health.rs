//! Health over real HTTP: `/readyz` (ready, shutting down, store not answering), the
//! `healthcheck` subcommand of the real binary, and `metrics_listen` serving health and
//! metrics on a port of their own.

use std::process::Command;
use std::time::Duration;

use crate::support::bot::*;
use crate::support::pg::fresh_database;
use crate::support::*;
use sqlx::{Connection, Executor};
use usersync_bot::config::Config;
use usersync_bot::server::RunningBot;
use usersync_bot::usersync::ApiFlavour;

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn health_url(bot: &RunningBot, path: &str) -> String {
    format!("http://{}{path}", bot.health_addr())
}

/// A bot whose configuration text is the usual one changed by `edit`.
async fn bot_with(setup: &BotSetup<'_>, edit: impl Fn(String) -> String) -> RunningBot {
    let config = Config::parse(&edit(setup.config_text()), &|name| {
        (name == "TEST_SIGNING_SECRET").then(|| SECRET.to_string())
    })
    .expect("test config is valid");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    RunningBot::start(config, listener)
        .await
        .expect("bot starts")
}

#[tokio::test]
async fn readyz_answers_200_ready_when_the_store_answers() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let bot = BotSetup::new(&sim).start().await;
    assert_eq!(
        get(&health_url(&bot.bot, "/readyz")).await,
        (200, "ready".into())
    );
    assert_eq!(
        get(&health_url(&bot.bot, "/healthz")).await,
        (200, "ok".into())
    );
    bot.bot.stop().await;
}

#[tokio::test]
async fn readyz_answers_503_shutting_down_once_stopping_began_while_healthz_stays_ok() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let bot = BotSetup::new(&sim).start().await;
    bot.bot.begin_shutdown();
    assert_eq!(
        get(&health_url(&bot.bot, "/readyz")).await,
        (503, "shutting down".into())
    );
    assert_eq!(
        get(&health_url(&bot.bot, "/healthz")).await,
        (200, "ok".into())
    );
    // Requests are still answered until the server stops.
    let reply = bot.say(VIEWER, "whoami").await;
    assert!(!visible(&reply).is_empty());
    bot.bot.stop().await;
}

#[tokio::test]
async fn stop_marks_the_bot_as_shutting_down_before_the_server_stops() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let bot = BotSetup::new(&sim).start().await;
    let app = bot.bot.app.clone();
    assert!(!app.is_shutting_down());
    bot.bot.stop().await;
    assert!(app.is_shutting_down());
    assert_eq!(
        app.ready().await,
        Err(usersync_bot::app::NotReady::ShuttingDown)
    );
}

#[tokio::test]
async fn on_postgres_readyz_answers_503_with_a_store_reason_once_the_database_is_dropped() {
    let Some(db) = fresh_database("on_postgres_readyz_answers_503_with_a_store_reason").await
    else {
        return;
    };
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let mut setup = BotSetup::new(&sim);
    setup.storage_url = Some(db.url.clone());
    let bot = setup.start().await;
    let readyz = health_url(&bot.bot, "/readyz");
    assert_eq!(get(&readyz).await, (200, "ready".into()));

    let admin = std::env::var("USERSYNC_BOT_TEST_DATABASE_URL").unwrap();
    let name = url::Url::parse(&db.url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_string();
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    conn.execute(format!("DROP DATABASE \"{name}\" WITH (FORCE)").as_str())
        .await
        .unwrap();
    conn.close().await.ok();

    let (status, body) = get(&readyz).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("store: "), "{body}");
    assert_eq!(body.lines().count(), 1, "{body}");
    assert!(!body.contains("postgres://"), "{body}");
    assert_eq!(
        get(&health_url(&bot.bot, "/healthz")).await,
        (200, "ok".into()),
        "alive all the same"
    );
    bot.bot.stop().await;
}

/// The real binary's `healthcheck`, with `args`: its exit status and its output.
fn healthcheck(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("healthcheck")
        .args(args)
        .env("TEST_SIGNING_SECRET", SECRET)
        .env_remove("USERSYNC_BOT_CONFIG")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn the_healthcheck_subcommand_exits_0_against_a_running_bot() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let setup = BotSetup::new(&sim);
    let path = setup.db.with_file_name("usersync-bot.toml");
    let bot = setup.start().await;
    let url = health_url(&bot.bot, "/readyz");
    let (ok, text) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || healthcheck(&["--url", &url])
    })
    .await
    .unwrap();
    assert!(ok, "{text}");
    assert_eq!(text, format!("ready ({url})\n"));

    // Without --url: the address comes from the configuration's `listen`.
    let config = BotSetup::new(&sim).config_text().replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"{}\"", bot.bot.addr),
    );
    std::fs::write(&path, config).unwrap();
    let (ok, text) =
        tokio::task::spawn_blocking(move || healthcheck(&["--config", path.to_str().unwrap()]))
            .await
            .unwrap();
    assert!(ok, "{text}");
    assert_eq!(text, format!("ready ({url})\n"));

    bot.bot.begin_shutdown();
    let (ok, text) = tokio::task::spawn_blocking(move || healthcheck(&["--url", &url]))
        .await
        .unwrap();
    assert!(!ok, "{text}");
    assert!(
        text.ends_with("answered 503 Service Unavailable: shutting down\n"),
        "{text}"
    );
    bot.bot.stop().await;
}

#[test]
fn the_healthcheck_subcommand_exits_1_with_one_line_when_nothing_listens() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/readyz");
    let (ok, text) = healthcheck(&["--url", &url]);
    assert!(!ok, "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with(&format!("not ready: cannot reach {url}: ")),
        "{text}"
    );
}

#[test]
fn the_healthcheck_subcommand_asks_only_loopback() {
    let (ok, text) = healthcheck(&["--url", "http://example.com/readyz"]);
    assert!(!ok, "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("only a loopback address"), "{text}");
}

#[tokio::test]
async fn with_metrics_listen_health_and_metrics_are_served_there_and_not_on_the_webhook_port() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let setup = BotSetup::new(&sim);
    let bot = bot_with(&setup, |text| {
        text.replace(
            "listen = \"127.0.0.1:0\"",
            "listen = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"",
        )
    })
    .await;
    let metrics = bot.metrics_addr.expect("metrics_listen is bound");
    assert_ne!(metrics, bot.addr);
    let on = |addr: std::net::SocketAddr, path: &str| format!("http://{addr}{path}");
    assert_eq!(get(&on(metrics, "/healthz")).await, (200, "ok".into()));
    assert_eq!(get(&on(metrics, "/readyz")).await, (200, "ready".into()));
    let (status, text) = get(&on(metrics, "/metrics")).await;
    assert_eq!(status, 200);
    assert!(text.contains("usersync_bot_"), "{text}");
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(
            get(&on(bot.addr, path)).await.0,
            404,
            "{path} on the webhook port"
        );
    }
    // The webhooks are still on `listen`, and not on the metrics port.
    let signed = TestBot {
        url: on(bot.addr, "/slack/commands"),
        bot,
        http: reqwest::Client::new(),
    };
    assert!(!visible(&signed.say(VIEWER, "whoami").await).is_empty());
    let refused = reqwest::Client::new()
        .post(on(metrics, "/slack/commands"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
    signed.bot.stop().await;
}

fn check_config(metrics_listen: &str) -> (bool, String) {
    let path = temp_db().with_file_name("usersync-bot.toml");
    std::fs::write(
        &path,
        format!(
            r#"
listen = "0.0.0.0:3000"
metrics_listen = "{metrics_listen}"
[slack]
signing_secrets = ["s"]
[[instances]]
name = "jira"
base_url = "https://jira.example.com"
token = "t"
"#
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn check_config_shows_metrics_listen_and_names_a_bad_one() {
    let (ok, text) = check_config("0.0.0.0:9090");
    assert!(ok, "{text}");
    assert!(
        text.contains("is valid: listen 0.0.0.0:3000, metrics_listen 0.0.0.0:9090, 1 instance(s)"),
        "{text}"
    );
    let (ok, text) = check_config("everywhere");
    assert!(!ok, "{text}");
    assert!(
        text.contains("metrics_listen: \"everywhere\" is not an address like \"0.0.0.0:9090\""),
        "{text}"
    );
    let (ok, text) = check_config("0.0.0.0:3000");
    assert!(!ok, "{text}");
    assert!(
        text.contains("metrics_listen: \"0.0.0.0:3000\" is the address of listen"),
        "{text}"
    );
}

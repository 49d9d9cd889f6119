//! Slack Socket Mode against a fake Socket Mode server over real WebSockets: envelopes
//! answered in their acks exactly as the HTTP endpoints answer, slow work followed up,
//! clicks, planned and unplanned reconnects without loss, duplicates run once, refusals
//! and rate limits of `apps.connections.open`, and the app token kept out of the log.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::changes::{block_actions, slack_token};
use crate::support::bot::*;
use crate::support::socket_mode::*;
use crate::support::*;
use usersync_bot::simulator::{Faults, SimulatorHandle};
use usersync_bot::usersync::ApiFlavour;

const APP_TOKEN: &str = "xapp-1-A123456-7777-s3cr3tAppT0ken";

fn socket_setup<'a>(sim: &'a SimulatorHandle, fake: &FakeSocketMode) -> BotSetup<'a> {
    let mut setup = BotSetup::new(sim);
    setup.slack_extra = fake.slack_lines(APP_TOKEN);
    setup
}

async fn wait_ready(bot: &TestBot) {
    wait_for("the bot to be ready", || async {
        (bot.readyz().await.0 == 200).then_some(())
    })
    .await;
}

fn whoami(id: &str, slack: &FakeSlackHandle) -> Value {
    slash_envelope(
        id,
        VIEWER,
        OPS_CHANNEL,
        "whoami",
        &format!("t.{id}"),
        &slack.response_url(id),
    )
}

#[tokio::test]
async fn after_hello_a_slash_command_is_answered_in_the_ack_with_the_http_reply() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let fake = FakeSocketMode::start().await;
    let bot = socket_setup(&sim, &fake).start().await;
    fake.wait_connection(0).await;
    wait_ready(&bot).await;
    let opens = fake.opens();
    assert_eq!(opens.len(), 1);
    assert_eq!(opens[0].1.as_deref(), Some(&*format!("Bearer {APP_TOKEN}")));

    let envelope = slash_envelope(
        "e-help",
        VIEWER,
        OPS_CHANNEL,
        "help",
        "t.help",
        &slack.response_url("help"),
    );
    let sent = Instant::now();
    fake.send(0, &envelope);
    let (connection, ack) = fake.wait_ack("e-help").await;
    assert!(sent.elapsed() < Duration::from_secs(3), "acked within 3 s");
    assert_eq!(connection, 0);
    let over_http = bot.command(&Cmd::new(VIEWER, "help")).await;
    assert_eq!(
        ack["payload"], over_http,
        "the same reply as the HTTP endpoint"
    );
    assert!(visible(&ack["payload"]).contains("whoami"), "{ack}");
    let rows = bot.audit_rows(2).await;
    assert!(
        rows.iter().all(|r| r.command_text == "/usersync help"),
        "{rows:?}"
    );

    // Unknown envelope types and events are acked and ignored.
    fake.send(
        0,
        &json!({"envelope_id": "e-ev", "type": "events_api", "payload": {"event": {}}}),
    );
    fake.send(
        0,
        &json!({"envelope_id": "e-new", "type": "brand_new", "accepts_response_payload": true}),
    );
    assert_eq!(
        fake.wait_ack("e-ev").await.1,
        json!({"envelope_id": "e-ev"})
    );
    assert_eq!(
        fake.wait_ack("e-new").await.1,
        json!({"envelope_id": "e-new"})
    );
    assert!(slack.received().is_empty());
    bot.bot.stop().await;
}

#[tokio::test]
async fn a_slow_command_is_acked_at_once_and_followed_up_through_response_url() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let slack = FakeSlackHandle::start().await;
    let fake = FakeSocketMode::start().await;
    let mut setup = socket_setup(&sim, &fake);
    setup.inline_budget = "300ms";
    let bot = setup.start().await;
    fake.wait_connection(0).await;
    wait_ready(&bot).await;
    sim.state().set_faults(Faults {
        latency_ms: 600,
        ..Faults::default()
    });
    let envelope = slash_envelope(
        "e-slow",
        VIEWER,
        OPS_CHANNEL,
        "status okta",
        "t.slow",
        &slack.response_url("slow"),
    );
    let sent = Instant::now();
    fake.send(0, &envelope);
    let (_, ack) = fake.wait_ack("e-slow").await;
    assert!(
        sent.elapsed() < Duration::from_millis(1000),
        "the ack does not wait for the product"
    );
    assert!(visible(&ack["payload"]).contains("Working on it…"), "{ack}");
    let received = wait_for("the follow-up", || async {
        let r = slack.received();
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(received[0].0, "/commands/T0001/slow");
    assert!(
        visible(&received[0].1).contains("Okta — sync 92"),
        "{:?}",
        received[0].1
    );
    bot.bot.stop().await;
}

#[tokio::test]
async fn a_button_click_on_the_socket_confirms_the_change() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let fake = FakeSocketMode::start().await;
    let bot = socket_setup(&sim, &fake).start().await;
    fake.wait_connection(0).await;
    wait_ready(&bot).await;
    let envelope = slash_envelope(
        "e-set",
        ADMIN,
        OPS_CHANNEL,
        "set okta syncSchedule.intervalMinutes=15",
        "t.set",
        &slack.response_url("set"),
    );
    fake.send(0, &envelope);
    let (_, ack) = fake.wait_ack("e-set").await;
    assert!(visible(&ack["payload"]).contains("Change Okta?"), "{ack}");
    let token = slack_token(&ack["payload"], "usersync_confirm");
    let form = block_actions(
        ADMIN,
        "usersync_confirm",
        &token,
        &slack.response_url("click1"),
    );
    let payload: Value = url::form_urlencoded::parse(form.as_bytes())
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| serde_json::from_str(&v).unwrap())
        .unwrap();
    fake.send(
        0,
        &json!({"envelope_id": "e-click", "type": "interactive", "payload": payload,
                         "accepts_response_payload": false}),
    );
    assert_eq!(
        fake.wait_ack("e-click").await.1,
        json!({"envelope_id": "e-click"})
    );
    let answer = wait_for("the click's answer", || async {
        slack
            .received()
            .into_iter()
            .find(|(p, _)| p == "/commands/T0001/click1")
            .map(|(_, b)| b)
    })
    .await;
    assert_eq!(answer["replace_original"], true);
    assert!(visible(&answer).contains("Okta changed"), "{answer}");
    assert_eq!(calls_with(&sim, "PATCH"), 1);
    bot.bot.stop().await;
}

#[tokio::test]
async fn a_refresh_opens_the_next_socket_before_closing_the_old_and_loses_no_envelope() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let fake = FakeSocketMode::start().await;
    let bot = socket_setup(&sim, &fake).start().await;
    fake.wait_connection(0).await;
    wait_ready(&bot).await;
    fake.send(0, &json!({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "fake"}}));
    // Slack may still deliver on the old socket until it closes.
    fake.send(0, &whoami("e-old", &slack));
    fake.wait_connection(1).await;
    fake.send(1, &whoami("e-new", &slack));
    let (old_on, old) = fake.wait_ack("e-old").await;
    let (new_on, new) = fake.wait_ack("e-new").await;
    assert_eq!((old_on, new_on), (0, 1));
    assert!(visible(&old["payload"]).contains(VIEWER), "{old}");
    assert!(visible(&new["payload"]).contains(VIEWER), "{new}");
    wait_for("the old socket to be closed", || async {
        (!fake.is_open(0)).then_some(())
    })
    .await;
    assert!(fake.is_open(1));
    assert_eq!(fake.opens().len(), 2);
    assert_eq!(bot.readyz().await.0, 200);
    bot.bot.stop().await;
}

#[tokio::test]
async fn a_dropped_socket_is_reconnected_and_an_envelope_delivered_twice_runs_once() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let fake = FakeSocketMode::start().await;
    let bot = socket_setup(&sim, &fake).start().await;
    fake.wait_connection(0).await;
    wait_ready(&bot).await;
    let run = slash_envelope(
        "e-run",
        OPERATOR,
        OPS_CHANNEL,
        "run okta",
        "t.run",
        &slack.response_url("run"),
    );
    fake.send(0, &run);
    fake.send(0, &run);
    let acks = fake.wait_acks("e-run", 2).await;
    assert!(acks.iter().all(|(on, _)| *on == 0));

    fake.drop_connection(0);
    fake.wait_connection(1).await;
    wait_ready(&bot).await;
    // Delivered once more after the reconnect: acked, still not run again.
    fake.send(1, &run);
    let acks = fake.wait_acks("e-run", 3).await;
    assert_eq!(acks[2].0, 1);
    fake.send(1, &whoami("e-after", &slack));
    fake.wait_ack("e-after").await;
    assert_eq!(
        calls_with(&sim, "POST"),
        1,
        "one sync started for three deliveries"
    );
    let rows: Vec<_> = bot
        .audit()
        .await
        .into_iter()
        .filter(|r| r.command_text == "/usersync run okta")
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    bot.bot.stop().await;
}

#[tokio::test]
async fn a_refused_app_token_is_reported_in_readyz_and_retried() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let fake = FakeSocketMode::start().await;
    fake.refuse(true);
    let bot = socket_setup(&sim, &fake).start().await;
    let (_, body) = wait_for("readyz to say why", || async {
        let (status, body) = bot.readyz().await;
        (status == 503 && body.contains("invalid_auth")).then_some((status, body))
    })
    .await;
    assert!(body.contains("slack socket mode: not connected"), "{body}");
    assert!(body.contains("slack.app_token"), "{body}");
    assert!(!body.contains(APP_TOKEN), "{body}");
    assert_eq!(fake.connections(), 0);
    fake.refuse(false);
    fake.wait_connection(0).await;
    wait_ready(&bot).await;
    assert!(fake.opens().len() >= 2);
    bot.bot.stop().await;
}

#[tokio::test]
async fn a_rate_limited_open_waits_for_retry_after() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let fake = FakeSocketMode::start().await;
    fake.rate_limit(1);
    let bot = socket_setup(&sim, &fake).start().await;
    fake.wait_connection(0).await;
    let opens = fake.opens();
    assert_eq!(opens.len(), 2);
    let waited = opens[1].0 - opens[0].0;
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 honoured ({waited:?})"
    );
    wait_ready(&bot).await;
    bot.bot.stop().await;
}

#[tokio::test]
async fn the_binary_never_logs_the_app_token() {
    use tokio::io::AsyncReadExt;
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let fake = FakeSocketMode::start().await;
    fake.refuse(true);
    let (mut child, _port) =
        crate::shutdown::serve(socket_setup(&sim, &fake), &["--log-format", "json"]).await;
    let mut stderr = child.stderr.take().unwrap();
    let log = tokio::spawn(async move {
        let mut log = String::new();
        stderr.read_to_string(&mut log).await.unwrap();
        log
    });
    wait_for("a refused open", || async {
        (!fake.opens().is_empty()).then_some(())
    })
    .await;
    fake.refuse(false);
    fake.wait_connection(0).await;
    fake.send(0, &whoami("e-log", &slack));
    fake.wait_ack("e-log").await;
    assert!(crate::shutdown::terminate(&mut child).await.success());
    let log = log.await.unwrap();
    assert!(log.contains("invalid_auth"), "the refusal is logged: {log}");
    assert!(log.contains("socket mode: connected"), "{log}");
    assert!(
        !log.contains("s3cr3tAppT0ken"),
        "the app token is never logged"
    );
}

#[tokio::test]
async fn an_envelope_delivered_to_two_replicas_runs_once() {
    if crate::support::pg::sqlite_only("an_envelope_delivered_to_two_replicas_runs_once") {
        return;
    }
    use usersync_bot::store::Store;
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let fake = FakeSocketMode::start().await;
    let first = socket_setup(&sim, &fake);
    let db = first.db.clone();
    let one = first.start().await;
    fake.wait_connection(0).await;
    let mut second = socket_setup(&sim, &fake);
    second.db = db.clone();
    let two = second.start().await;
    fake.wait_connection(1).await;
    wait_ready(&one).await;
    wait_ready(&two).await;
    // A read-only command: only the envelope's claim in the shared store keeps the
    // second replica from running it too.
    let envelope = whoami("e-both", &slack);
    fake.send(0, &envelope);
    fake.wait_ack("e-both").await;
    fake.send(1, &envelope);
    let acks = fake.wait_acks("e-both", 2).await;
    assert_ne!(acks[0].0, acks[1].0, "one ack per socket");
    one.bot.stop().await;
    two.bot.stop().await;
    let store = usersync_bot::store::SqliteStore::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows = store.recent_audit(10).await.unwrap();
    let runs = rows
        .iter()
        .filter(|r| r.command_text == "/usersync whoami")
        .count();
    assert_eq!(runs, 1, "{rows:?}");
}

#[tokio::test]
async fn without_signing_secrets_only_the_socket_is_served() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(50)).await;
    let slack = FakeSlackHandle::start().await;
    let fake = FakeSocketMode::start().await;
    let text = socket_setup(&sim, &fake).config_text().replace(
        &format!("signing_secrets = [\"{OLD_SECRET}\", \"${{TEST_SIGNING_SECRET}}\"]"),
        "",
    );
    assert!(!text.contains("signing_secrets"), "{text}");
    let config = usersync_bot::config::Config::parse(&text, &|_| None).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bot = usersync_bot::server::RunningBot::start(config, listener)
        .await
        .unwrap();
    fake.wait_connection(0).await;
    let http = reqwest::Client::new();
    for path in ["/slack/commands", "/slack/interactions"] {
        let body = Cmd::new(VIEWER, "whoami").body();
        let ts = now();
        let status = http
            .post(format!("http://{}{path}", bot.addr))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts.to_string())
            .header(
                "x-slack-signature",
                usersync_bot::chat::slack::verify::sign(SECRET, ts, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{path}");
    }
    fake.send(0, &whoami("e-only", &slack));
    let (_, ack) = fake.wait_ack("e-only").await;
    assert!(visible(&ack["payload"]).contains(VIEWER), "{ack}");
    bot.stop().await;
}

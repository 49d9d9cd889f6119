//! The real binary: stopped with SIGTERM, every command it answered is in its audit log;
//! with `--log-format json`, its log is JSON lines with the request's id and no secret.

use std::time::Duration;

use crate::support::bot::*;
use crate::support::*;
use usersync_bot::chat::slack::verify::sign;
use usersync_bot::store::Store;
use usersync_bot::usersync::ApiFlavour;

/// Commands answered before the stop.
const COMMANDS: usize = 300;

/// `usersync-bot serve` on a free port with the test configuration, and its address.
/// With `args`, its log is at debug level and captured (read it while the child runs:
/// a full pipe would stall it).
pub(crate) async fn serve(setup: BotSetup<'_>, args: &[&str]) -> (tokio::process::Child, u16) {
    let port = free_port();
    let config = setup.config_text().replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    let path = setup.db.with_file_name("usersync-bot.toml");
    std::fs::write(&path, config).unwrap();
    let child = tokio::process::Command::new(BIN)
        .args(args)
        .args(["serve", "--config"])
        .arg(&path)
        .env("TEST_SIGNING_SECRET", SECRET)
        .env("RUST_LOG", if args.is_empty() { "info" } else { "debug" })
        .stderr(if args.is_empty() {
            std::process::Stdio::null()
        } else {
            std::process::Stdio::piped()
        })
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    wait_for("the bot to listen", || async {
        let health = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await;
        health.ok().filter(|r| r.status().is_success())
    })
    .await;
    (child, port)
}

/// Sends a command signed with `secret`; returns the status.
async fn send(port: u16, cmd: &Cmd<'_>, secret: &str) -> u16 {
    let body = cmd.body();
    let ts = now();
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/slack/commands"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign(secret, ts, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Stops the child with SIGTERM and waits for it.
pub(crate) async fn terminate(child: &mut tokio::process::Child) -> std::process::ExitStatus {
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("it stops")
        .unwrap()
}

#[tokio::test]
async fn sigterm_loses_no_audit_row_of_an_answered_command() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let setup = BotSetup::new(&sim);
    let db = setup.db.clone();
    let (mut child, port) = serve(setup, &[]).await;
    for _ in 0..COMMANDS {
        assert_eq!(send(port, &Cmd::new(VIEWER, "whoami"), SECRET).await, 200);
    }
    let status = terminate(&mut child).await;
    assert!(status.success(), "{status:?}");
    let store = usersync_bot::store::SqliteStore::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows = store.recent_audit(COMMANDS as u32 + 10).await.unwrap();
    assert_eq!(rows.len(), COMMANDS, "every answered command was audited");
    assert!(rows.iter().all(|r| r.command_text == "/usersync whoami"));
}

#[tokio::test]
async fn json_logs_are_one_object_a_line_with_the_trigger_id_and_no_secret() {
    use tokio::io::AsyncReadExt;
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let (mut child, port) = serve(BotSetup::new(&sim), &["--log-format", "json"]).await;
    assert_eq!(send(port, &Cmd::new(VIEWER, "whoami"), "forged").await, 401);
    let denied = Cmd::new(VIEWER, "run okta");
    assert_eq!(send(port, &denied, SECRET).await, 200);
    assert!(terminate(&mut child).await.success());
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .await
        .unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "refused a command request"),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "command denied"
                && l["span"]["trigger"] == denied.trigger.as_str()),
        "the denial's line carries its trigger id: {log}"
    );
    assert!(!log.contains(SECRET), "the signing secret is never logged");
}

//! The real binary stopped with SIGTERM: every command it answered is in its audit log.

use std::time::Duration;

use crate::support::bot::*;
use crate::support::*;
use usersync_bot::chat::slack::verify::sign;
use usersync_bot::store::Store;
use usersync_bot::usersync::ApiFlavour;

const BIN: &str = env!("CARGO_BIN_EXE_usersync-bot");
/// Commands answered before the stop.
const COMMANDS: usize = 300;

/// A free port on loopback (bound and released: the bot binds it right after).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn sigterm_loses_no_audit_row_of_an_answered_command() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let setup = BotSetup::new(&sim);
    let db = setup.db.clone();
    let port = free_port();
    let config = setup.config_text().replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    let path = db.with_file_name("usersync-bot.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .env("TEST_SIGNING_SECRET", SECRET)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/slack/commands");
    wait_for("the bot to listen", || async {
        let health = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await;
        health.ok().filter(|r| r.status().is_success())
    })
    .await;
    for _ in 0..COMMANDS {
        let body = Cmd::new(VIEWER, "whoami").body();
        let ts = now();
        let reply = http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign(SECRET, ts, body.as_bytes()))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
    }
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("it stops")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let store = usersync_bot::store::SqliteStore::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows = store.recent_audit(COMMANDS as u32 + 10).await.unwrap();
    assert_eq!(rows.len(), COMMANDS, "every answered command was audited");
    assert!(rows.iter().all(|r| r.command_text == "/usersync whoami"));
}

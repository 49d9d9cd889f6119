//! What the container image relies on, tested outside Docker (issue 13 §1): the binary
//! runs as a non-root user from a read-only directory (binary and configuration not
//! writable, nothing written next to them), keeps its SQLite store in a state directory
//! of its own, becomes ready, answers a signed command, and `healthcheck` says so.
//! Needs root to drop to another user (`setpriv`, util-linux); skipped with a notice
//! otherwise.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use usersync_bot::chat::slack::verify::sign;
use usersync_bot::usersync::ApiFlavour;

use crate::support::bot::*;
use crate::support::*;

/// The user the bot runs as: `nobody`'s ids, as a fixed non-root user.
const UID: u32 = 65534;

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn setpriv() -> Option<&'static str> {
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn as_a_non_root_user_from_a_read_only_directory_the_bot_serves_and_keeps_its_store_apart() {
    let (true, Some(setpriv)) = (is_root(), setpriv()) else {
        eprintln!("NOTICE: not root or no setpriv: the non-root, read-only test is skipped");
        return;
    };
    let sim = simulator(ApiFlavour::V2, Duration::from_secs(1)).await;
    let root = temp_db().parent().unwrap().to_path_buf();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The read-only directory: the binary and its configuration, owned by root, 0555/0444.
    let app = root.join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::copy(BIN, app.join("usersync-bot")).unwrap();
    let state = root.join("state");
    std::fs::create_dir(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(UID), Some(UID)).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let port = free_port();
    let mut setup = BotSetup::new(&sim);
    setup.db = state.join("usersync-bot.db");
    let config = setup.config_text().replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    std::fs::write(app.join("usersync-bot.toml"), config).unwrap();
    std::fs::set_permissions(
        app.join("usersync-bot.toml"),
        std::fs::Permissions::from_mode(0o444),
    )
    .unwrap();
    std::fs::set_permissions(
        app.join("usersync-bot"),
        std::fs::Permissions::from_mode(0o555),
    )
    .unwrap();
    std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o555)).unwrap();
    let before = files_in(&app);

    let drop_to = |args: &[&str]| {
        let mut c = tokio::process::Command::new(setpriv);
        c.args([
            "--reuid",
            &UID.to_string(),
            "--regid",
            &UID.to_string(),
            "--clear-groups",
            "--",
        ])
        .arg(app.join("usersync-bot"))
        .args(args)
        .current_dir(&app)
        .env("TEST_SIGNING_SECRET", SECRET)
        .env("USERSYNC_BOT_CONFIG", app.join("usersync-bot.toml"))
        .kill_on_drop(true);
        c
    };
    let log = std::fs::File::create(root.join("bot.log")).unwrap();
    let mut child = drop_to(&[
        "serve",
        "--config",
        app.join("usersync-bot.toml").to_str().unwrap(),
    ])
    .stderr(log)
    .spawn()
    .unwrap();
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    wait_for("the unprivileged bot to be ready", || async {
        let r = http.get(url("/readyz")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    // It runs as that user.
    let pid = child.id().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|id| id == UID.to_string()),
        "{uid_line}"
    );
    // A signed command is answered.
    let body = Cmd::new(OPERATOR, "status okta").body();
    let ts = now();
    let r = http
        .post(url("/slack/commands"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign(SECRET, ts, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let reply: serde_json::Value = r.json().await.unwrap();
    assert!(visible(&reply).contains("Okta"), "{reply}");
    // `healthcheck` as the same user, against the bot's own /readyz.
    let check = drop_to(&["healthcheck"]).output().await.unwrap();
    assert!(
        check.status.success(),
        "healthcheck: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    // The store is in the state directory, the user's; nothing was written beside the
    // binary and the configuration.
    let db = std::fs::metadata(state.join("usersync-bot.db")).unwrap();
    assert_eq!(db.uid(), UID);
    assert_eq!(files_in(&app), before);
    child.kill().await.unwrap();
    std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o755)).unwrap();
}

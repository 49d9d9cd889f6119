//! The binary's commands as a person runs them: `check-config` and `send`.

use std::process::Command;
use std::time::Duration;

use crate::support::bot::*;
use crate::support::*;
use usersync_bot::usersync::ApiFlavour;

fn write(text: &str) -> std::path::PathBuf {
    let path = temp_db().with_file_name("usersync-bot.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_config_accepts_a_good_file() {
    let path = write(
        r#"
[slack]
signing_secrets = ["${CLI_TEST_SECRET}"]
[[instances]]
name = "jira"
base_url = "https://jira.example.com"
token = "${CLI_TEST_TOKEN}"
"#,
    );
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .env("CLI_TEST_SECRET", "very-secret-value")
        .env("CLI_TEST_TOKEN", "pat-secret-value")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("is valid: listen 127.0.0.1:3000, 1 instance(s) (jira)"),
        "{stdout}"
    );
    assert!(!stdout.contains("very-secret-value") && !stdout.contains("pat-secret-value"));
}

#[test]
fn check_config_names_an_unreachable_database_without_its_password() {
    let path = write(
        r#"
[storage]
url = "postgres://bot:${CLI_DB_PASSWORD}@127.0.0.1:1/usersync"
[slack]
signing_secrets = ["s"]
[[instances]]
name = "jira"
base_url = "https://jira.example.com"
token = "t"
"#,
    );
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .env("CLI_DB_PASSWORD", "db-secret-value")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("cannot reach the database"), "{all}");
    assert!(
        all.contains("postgres://bot:***@127.0.0.1:1/usersync"),
        "{all}"
    );
    assert!(!all.contains("db-secret-value"), "{all}");
}

#[test]
fn check_config_checks_the_app_tokens_shape_and_never_prints_it() {
    let path = write(
        r#"
[slack]
socket_mode = true
app_token = "${CLI_TEST_APP_TOKEN}"
[[instances]]
name = "jira"
base_url = "https://jira.example.com"
token = "pat"
"#,
    );
    let run = |token: &str| {
        Command::new(BIN)
            .args(["check-config", "--config"])
            .arg(&path)
            .env("CLI_TEST_APP_TOKEN", token)
            .output()
            .unwrap()
    };
    let out = run("xoxb-1234-s3cretBotTok");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("slack.app_token: not an app-level token: it must start with xapp-"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cretBotTok"), "{stderr}");
    let out = run("xapp-1-A1-2-s3cretAppTok");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout} {stderr}");
    assert!(
        stdout.contains("slack socket mode (app token set, HTTP endpoints off)"),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cretAppTok") && !stderr.contains("s3cretAppTok"));
}

#[test]
fn check_config_lists_every_problem_and_fails() {
    let path = write(
        r#"
listen = "everywhere"
[slack]
signing_secrets = ["${CLI_TEST_UNSET_SECRET}"]
"#,
    );
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .env_remove("CLI_TEST_UNSET_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "slack.signing_secrets[0]: environment variable CLI_TEST_UNSET_SECRET is not set"
        ),
        "{stderr}"
    );

    let path = write(
        r#"
listen = "everywhere"
[slack]
signing_secrets = ["x"]
[[instances]]
name = "jira"
base_url = "ftp://jira"
username = "svc"
api = "3"
"#,
    );
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for problem in [
        "listen: \"everywhere\" is not an address",
        "instances[0].base_url: \"ftp://jira\" is not an http(s) URL",
        "instances[0].password: required with username",
        "instances[0].api: unknown API flavour \"3\"",
    ] {
        assert!(stderr.contains(problem), "missing {problem:?} in {stderr}");
    }
    let missing = Command::new(BIN)
        .args(["check-config", "--config", "/nonexistent/usersync-bot.toml"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

/// What one run of `usersync-bot send` printed, and how long it took.
struct Sent {
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Starts a bot from `setup`, then runs `usersync-bot send ARGS… --config FILE TEXT`
/// against it with the same configuration; returns the bot and what `send` printed.
async fn send_with(setup: BotSetup<'_>, args: &[&str], text: &str) -> (TestBot, Sent) {
    let config_text = setup.config_text();
    let bot = setup.start().await;
    let config = config_text
        .replace("${TEST_SIGNING_SECRET}", SECRET)
        .replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"{}\"", bot.bot.addr),
        );
    let path = write(&config);
    let started = std::time::Instant::now();
    let out = tokio::process::Command::new(BIN)
        .arg("send")
        .args(args)
        .args(["--wait", "200ms", "--config"])
        .arg(&path)
        .arg(text)
        .output()
        .await
        .unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout} {stderr}");
    (
        bot,
        Sent {
            stdout,
            stderr,
            took,
        },
    )
}

async fn run_send(setup: BotSetup<'_>, args: &[&str], text: &str) -> (TestBot, String) {
    let (bot, sent) = send_with(setup, args, text).await;
    (bot, sent.stdout)
}

#[tokio::test]
async fn send_plays_slack_and_prints_what_a_person_reads() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let (_bot, stdout) = run_send(
        BotSetup::new(&sim),
        &["--as", VIEWER],
        "/usersync status \"Azure AD\"",
    )
    .await;
    assert!(
        stdout.contains("→ /usersync status \"Azure AD\""),
        "{stdout}"
    );
    assert!(stdout.contains("[only you see this]"));
    assert!(
        stdout.contains("Azure AD — sync 91: DONE · SUCCESS"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Skipping admin or sysadmin <admin>"),
        "unescaped for the terminal: {stdout}"
    );
}

#[tokio::test]
async fn send_plays_mattermost_as_a_mattermost_user() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let mut setup = BotSetup::new(&sim);
    // `send` serves its response_url on 127.0.0.1: a server URL without a port allows it.
    setup.mattermost = Some(mm_section("http://127.0.0.1", None));
    let (bot, stdout) = run_send(
        setup,
        &["--platform", "mattermost", "--as", "mmuser1"],
        "/usersync status okta @channel",
    )
    .await;
    assert!(
        stdout.contains("(as mattermost:mmuser1 in mattermost:CLOCAL)"),
        "{stdout}"
    );
    assert!(stdout.contains("Unexpected \"@channel\""), "{stdout}");
    let rows = bot.audit_rows(1).await;
    assert_eq!(rows[0].platform, usersync_bot::domain::Platform::Mattermost);
}

/// A bot that follows jobs quickly, against a simulator whose syncs take `sync`.
fn following(sim: &usersync_bot::simulator::SimulatorHandle) -> BotSetup<'_> {
    let mut setup = BotSetup::new(sim);
    setup.extra = "[jobs]\npoll_interval = \"100ms\"\n";
    setup
}

#[tokio::test]
async fn send_waits_for_the_outcome_of_a_sync_it_started() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(1500)).await;
    let (_bot, sent) = send_with(
        following(&sim),
        &[
            "--as",
            OPERATOR,
            "--channel",
            OPS_CHANNEL,
            "--wait-outcome",
            "30s",
        ],
        "/usersync run okta",
    )
    .await;
    let Sent {
        stdout,
        stderr,
        took,
    } = sent;
    assert!(stdout.contains("Following it as job 1"), "{stdout}");
    let outcome = stdout
        .find("Sync of Okta finished — sync")
        .unwrap_or_else(|| panic!("no outcome in {stdout}"));
    assert!(
        stdout[outcome..].contains("Started from chat by"),
        "the whole outcome is printed: {stdout}"
    );
    assert!(
        stderr.contains("waiting for the outcome of job 1… 0s (at most 30s)"),
        "a progress line while waiting: {stderr}"
    );
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(10),
        "exits soon after the outcome, took {took:?}: {stdout}"
    );
}

#[tokio::test]
async fn send_gives_up_on_an_outcome_after_wait_outcome() {
    let sim = simulator(ApiFlavour::V2, Duration::from_secs(30)).await;
    let (_bot, sent) = send_with(
        following(&sim),
        &[
            "--as",
            OPERATOR,
            "--channel",
            OPS_CHANNEL,
            "--wait-outcome",
            "1s",
        ],
        "/usersync run okta",
    )
    .await;
    assert!(
        sent.stdout
            .contains("no outcome of job 1 within 1s (--wait-outcome)"),
        "{}",
        sent.stdout
    );
    assert!(!sent.stdout.contains("finished — sync"), "{}", sent.stdout);
    assert!(sent.took < Duration::from_secs(6), "took {:?}", sent.took);
}

#[tokio::test]
async fn send_returns_promptly_when_no_job_is_followed() {
    let sim = simulator(ApiFlavour::V2, Duration::from_millis(100)).await;
    let (_bot, sent) = send_with(
        following(&sim),
        &["--as", VIEWER, "--wait-outcome", "5m"],
        "/usersync status okta",
    )
    .await;
    assert!(
        sent.stdout.contains("Okta — sync 92: DONE · SUCCESS"),
        "{}",
        sent.stdout
    );
    assert!(
        !sent.stderr.contains("waiting for the outcome"),
        "{}",
        sent.stderr
    );
    assert!(sent.took < Duration::from_secs(4), "took {:?}", sent.took);
}

#[test]
fn check_config_insists_on_public_url_where_a_mattermost_admin_needs_buttons() {
    let config = |public_url: &str| {
        format!(
            r#"{public_url}
[storage]
url = "sqlite://{db}"
[mattermost]
command_tokens = ["t"]
url = "https://chat.example.com"
[roles]
admin = ["mattermost:u1"]
[[instances]]
name = "jira"
base_url = "https://jira.example.com"
token = "x"
api = "2"
"#,
            db = temp_db().display()
        )
    };
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(write(&config("")))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("public_url: required with [mattermost] when anyone there is an admin"),
        "{stderr}"
    );
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(write(&config("public_url = \"https://bot.example.com\"")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! Secrets never leak (issue 16 §4). A real `usersync-bot serve` process logging at
//! `debug`, every secret of its configuration a distinctive canary (Slack signing secret
//! and bot token, Mattermost command token, the product's password) and the simulator's
//! connector secrets, is driven through reads, connector views, a followed `run`, a
//! `user` update, a confirmed `set`, a secret typed into a `set`, forged requests, the
//! audit and Mattermost commands. Then every log line, every reply and chat message,
//! every byte of the store and the metrics are searched for each canary: none may appear.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use usersync_bot::chat::slack::verify::sign;
use usersync_bot::simulator::{SimAuth, SimSettings, Simulator, SimulatorHandle, UserUpdate};
use usersync_bot::usersync::ApiFlavour;

use crate::changes::{block_actions, slack_token};
use crate::support::bot::*;
use crate::support::*;

const SIGNING_SECRET: &str = "cnry-signing-5e1f0a7b9c";
const SLACK_BOT_TOKEN: &str = "xoxb-cnry-bot-token-88d1c4";
const MM_COMMAND_TOKEN: &str = "cnrymmtoken3f9a0b2c7d";
const PRODUCT_PASSWORD: &str = "cnry-product-pw-72be1";
/// Typed by a person into a `set` (refused, and kept out of the audit).
const TYPED_SECRET: &str = "cnry-typed-secret-a41c";
/// The simulator's connector secrets (`src/simulator/seed.rs`).
const CONNECTOR_SECRETS: [&str; 4] = [
    "azure-SIM-client-secret-Q8~xv3",
    "00SIM-okta-api-token-7Gh2",
    "ldap-SIM-bind-pw-4kL9",
    "SIMULATED-----END PRIVATE KEY",
];

fn canaries() -> Vec<&'static str> {
    let mut all = vec![
        SIGNING_SECRET,
        SLACK_BOT_TOKEN,
        MM_COMMAND_TOKEN,
        PRODUCT_PASSWORD,
        TYPED_SECRET,
    ];
    all.extend(CONNECTOR_SECRETS);
    all
}

/// What the bot was seen to say: every HTTP answer it gave, for the scan.
#[derive(Default)]
struct Seen(Vec<String>);

struct Canary {
    http: reqwest::Client,
    port: u16,
    seen: Seen,
}

impl Canary {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn slack(&mut self, user: &str, text: &str, response_url: &str) -> Value {
        let body = Cmd {
            response_url: Some(response_url.to_string()),
            ..Cmd::new(user, text)
        }
        .body();
        let ts = now();
        let r = self
            .http
            .post(self.url("/slack/commands"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts.to_string())
            .header(
                "x-slack-signature",
                sign(SIGNING_SECRET, ts, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{text}");
        let text = r.text().await.unwrap();
        self.seen.0.push(text.clone());
        serde_json::from_str(&text).unwrap()
    }

    async fn post(&mut self, path: &str, headers: &[(&str, String)], body: String) -> u16 {
        let mut r = self.http.post(self.url(path)).body(body);
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        self.seen.0.push(r.text().await.unwrap());
        status
    }

    async fn get(&mut self, path: &str) -> String {
        let text = self
            .http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        self.seen.0.push(text.clone());
        text
    }
}

fn config(
    port: u16,
    db: &Path,
    sim: &SimulatorHandle,
    slack: &FakeSlackHandle,
    mm: &str,
) -> String {
    format!(
        r#"
listen = "127.0.0.1:{port}"

[storage]
url = "sqlite://{db}"

[slack]
signing_secrets = ["${{CANARY_SIGNING}}"]
bot_token = "${{CANARY_SLACK_TOKEN}}"
api_base_url = "http://{slack}/api"
response_url_hosts = ["127.0.0.1"]

[mattermost]
command_tokens = ["${{CANARY_MM_TOKEN}}"]
url = "{mm}"

[roles]
admin = ["slack:{ADMIN}"]
operator = ["slack:{OPERATOR}", "mattermost:{MM_OPERATOR}"]
viewer = ["*"]

[jobs]
poll_interval = "100ms"

[[instances]]
name = "jira"
base_url = "{base}"
username = "admin"
password = "${{CANARY_PRODUCT_PASSWORD}}"
api = "2"
default = true
timeout = "3s"
"#,
        db = db.display(),
        slack = slack.addr,
        base = sim.base_url(),
    )
}

#[tokio::test]
async fn no_secret_reaches_a_log_line_a_message_a_store_row_or_a_metric() {
    let sim = Simulator {
        api: ApiFlavour::V2,
        auth: SimAuth {
            password: PRODUCT_PASSWORD.to_string(),
            ..SimAuth::default()
        },
        settings: SimSettings {
            sync_duration: Duration::from_millis(300),
            ..SimSettings::default()
        },
    }
    .start(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .unwrap();
    sim.state()
        .put_user(OKTA, "canary.user", UserUpdate::default())
        .unwrap();
    let slack = FakeSlackHandle::start().await;
    let mm = FakeMattermostHandle::start().await;
    let db = temp_db();
    let dir = db.parent().unwrap().to_path_buf();
    let port = free_port();
    let path = dir.join("canary.toml");
    std::fs::write(&path, config(port, &db, &sim, &slack, &mm.url())).unwrap();
    let log_path = dir.join("canary.log");
    let mut child = tokio::process::Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .env("CANARY_SIGNING", SIGNING_SECRET)
        .env("CANARY_SLACK_TOKEN", SLACK_BOT_TOKEN)
        .env("CANARY_MM_TOKEN", MM_COMMAND_TOKEN)
        .env("CANARY_PRODUCT_PASSWORD", PRODUCT_PASSWORD)
        .env("RUST_LOG", "debug")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut bot = Canary {
        http: reqwest::Client::new(),
        port,
        seen: Seen::default(),
    };
    wait_for("the bot to be ready", || async {
        let r = bot.http.get(bot.url("/readyz")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;

    // Reads, including the connectors whose settings hold the secrets.
    for text in [
        "help",
        "whoami",
        "connectors",
        "status okta",
        "connector okta",
        "connector azure",
        "connector ldap",
        "connector google",
        "history okta",
    ] {
        bot.slack(OPERATOR, text, &slack.response_url("reads"))
            .await;
    }
    // A followed run, its outcome posted through response_url.
    bot.slack(OPERATOR, "run okta", &slack.response_url("run"))
        .await;
    wait_for("the run's outcome", || async {
        slack
            .received()
            .into_iter()
            .find(|(p, b)| p == "/commands/T0001/run" && visible(b).contains("finished"))
    })
    .await;
    bot.slack(
        OPERATOR,
        "user okta canary.user",
        &slack.response_url("user"),
    )
    .await;
    // A secret typed into a change is refused, and a confirmed change goes through.
    let refused = bot
        .slack(
            ADMIN,
            &format!("set okta apiToken={TYPED_SECRET}"),
            &slack.response_url("typed"),
        )
        .await;
    assert!(!visible(&refused).contains(TYPED_SECRET), "{refused}");
    let prompt = bot
        .slack(
            ADMIN,
            "set okta syncSchedule.intervalMinutes=45",
            &slack.response_url("set"),
        )
        .await;
    let token = slack_token(&prompt, "usersync_confirm");
    let click = block_actions(
        ADMIN,
        "usersync_confirm",
        &token,
        &slack.response_url("set"),
    );
    let ts = now();
    let signature = sign(SIGNING_SECRET, ts, click.as_bytes());
    let status = bot
        .post(
            "/slack/interactions",
            &[
                ("content-type", "application/x-www-form-urlencoded".into()),
                ("x-slack-request-timestamp", ts.to_string()),
                ("x-slack-signature", signature),
            ],
            click,
        )
        .await;
    assert_eq!(status, 200);
    wait_for("the change to be made", || async {
        let calls = sim.state().calls();
        calls.iter().any(|c| c.method == "PATCH").then_some(())
    })
    .await;
    // Forged and unsigned requests: refused, and the refusal says nothing secret.
    let forged = Cmd::new(ADMIN, "run okta").body();
    let ts = now();
    let status = bot
        .post(
            "/slack/commands",
            &[
                ("content-type", "application/x-www-form-urlencoded".into()),
                ("x-slack-request-timestamp", ts.to_string()),
                (
                    "x-slack-signature",
                    sign("not-the-secret", ts, forged.as_bytes()),
                ),
            ],
            forged,
        )
        .await;
    assert_eq!(status, 401);
    // Mattermost: the right token, then a wrong one.
    for (token, expect) in [(MM_COMMAND_TOKEN, 200), ("cnry-wrong-token", 401)] {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("channel_id", MM_OPS_CHANNEL),
            ("command", "/usersync"),
            ("response_url", &mm.response_url("mm")),
            ("team_id", "teamid000000000000000000000"),
            ("text", "status okta"),
            ("token", token),
            ("trigger_id", "mmtrigger1"),
            ("user_id", MM_OPERATOR),
            ("user_name", "mmtester"),
        ] {
            form.append_pair(k, v);
        }
        let status = bot
            .post(
                "/mattermost/commands",
                &[("content-type", "application/x-www-form-urlencoded".into())],
                form.finish(),
            )
            .await;
        assert_eq!(status, expect);
    }
    // The audit as an admin sees it.
    bot.slack(ADMIN, "audit 50", &slack.response_url("audit"))
        .await;
    let metrics = bot.get("/metrics").await;
    assert!(metrics.contains("usersync_bot_commands_total"));

    // Stop it (SIGTERM: audit rows written) before reading the store and the log.
    let pid = child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let exited = tokio::time::timeout(Duration::from_secs(15), child.wait()).await;
    assert!(exited.is_ok(), "the bot did not stop on SIGTERM");

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.lines().count() > 50, "a debug log was written: {log}");
    let mut places: Vec<(String, String)> = vec![("the log".into(), log)];
    for (i, s) in bot.seen.0.iter().enumerate() {
        places.push((format!("answer {i}"), s.clone()));
    }
    for (path, body) in slack.received() {
        places.push((format!("Slack {path}"), body.to_string()));
    }
    // The bot token goes to Slack in the Authorization header, as it must; bodies only.
    for (method, path, _authorization, body) in mm.received() {
        places.push((format!("Mattermost {method} {path}"), body.to_string()));
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", db.display());
        if let Ok(bytes) = std::fs::read(&file) {
            places.push((file, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    places.push(("the metrics".into(), metrics));
    let mut leaks = Vec::new();
    for canary in canaries() {
        for (place, text) in &places {
            if text.contains(canary) {
                let at = text.find(canary).unwrap_or(0);
                let around =
                    &text[at.saturating_sub(120)..(at + canary.len() + 40).min(text.len())];
                leaks.push(format!("{canary} in {place}: …{around}…"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    // The scan looked at what matters: the typed secret's command is in the store, hidden.
    let store = std::fs::read(&db).unwrap_or_default();
    let wal = std::fs::read(format!("{}-wal", db.display())).unwrap_or_default();
    let stored = String::from_utf8_lossy(&[store, wal].concat()).into_owned();
    assert!(
        stored.contains("apiToken=***"),
        "the refused set is audited, redacted"
    );
}

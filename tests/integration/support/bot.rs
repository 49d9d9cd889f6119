//! A bot on a random port, wired to simulators and to a fake Slack that records what it
//! receives; and a client that signs requests as Slack does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use tokio::sync::watch;
use usersync_bot::chat::slack::verify::sign;
use usersync_bot::config::Config;
use usersync_bot::jobs::poller::Observation;
use usersync_bot::server::RunningBot;
use usersync_bot::simulator::{SimulatorHandle, SyncOrigin};
use usersync_bot::usersync::ApiFlavour;

pub const SECRET: &str = "test-signing-secret";
pub const OLD_SECRET: &str = "old-signing-secret";

pub const ADMIN: &str = "U0ADMIN01";
pub const OPERATOR: &str = "U0ONCALL1";
pub const HELPDESK: &str = "U0HELP001";
pub const VIEWER: &str = "U0SOMEONE";
pub const OPS_CHANNEL: &str = "C0OPS0001";
pub const MM_OPS_CHANNEL: &str = "mmops0channel";
pub const MM_TOKEN: &str = "mm-command-token-1";
pub const MM_OPERATOR: &str = "mmoncall1user";
pub const OTHER_CHANNEL: &str = "C0RANDOM1";

/// A fake Slack: records every POST to `/commands/...` (response_url) and `/api/...`.
#[derive(Clone, Default)]
pub struct FakeSlack {
    pub received: Arc<Mutex<Vec<(String, Value)>>>,
    /// Answer this many Web API calls with 429 and `Retry-After: 1` first.
    pub rate_limit: Arc<std::sync::atomic::AtomicU32>,
    /// Then answer this many Web API calls with 503.
    pub server_errors: Arc<std::sync::atomic::AtomicU32>,
    /// Take this many tagged `chat.postMessage` calls (the message is posted) and answer
    /// each only after the bot's call timeout: a post made but never confirmed.
    pub swallow_posts: Arc<std::sync::atomic::AtomicU32>,
    /// When each Web API call arrived, and its Authorization header.
    pub api_calls: Arc<Mutex<Vec<ApiCall>>>,
    /// Messages in channels besides those posted here (as a process before a crash
    /// posted them): `{"channel", "ts", "metadata"}`.
    pub history: Arc<Mutex<Vec<Value>>>,
    /// Answer `conversations.history` with this error (e.g. `missing_scope`).
    pub history_error: Arc<Mutex<Option<String>>>,
    /// The query of each `conversations.history` call.
    pub history_calls: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

/// A Web API call: when, which method, and its Authorization header.
pub type ApiCall = (std::time::Instant, String, Option<String>);

pub struct FakeSlackHandle {
    pub addr: SocketAddr,
    pub slack: FakeSlack,
    _task: tokio::task::JoinHandle<()>,
}

impl FakeSlackHandle {
    pub async fn start() -> FakeSlackHandle {
        let slack = FakeSlack::default();
        let app = Router::new()
            .route("/commands/{*rest}", post(record))
            .route("/api/{method}", post(record_api))
            .route(
                "/api/conversations.history",
                axum::routing::get(slack_history),
            )
            .with_state(slack.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        FakeSlackHandle {
            addr,
            slack,
            _task: task,
        }
    }

    pub fn response_url(&self, id: &str) -> String {
        format!("http://{}/commands/T0001/{id}", self.addr)
    }

    pub fn received(&self) -> Vec<(String, Value)> {
        self.slack.received.lock().unwrap().clone()
    }
}

async fn record(
    State(s): State<FakeSlack>,
    Path(rest): Path<String>,
    body: axum::body::Bytes,
) -> &'static str {
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.received
        .lock()
        .unwrap()
        .push((format!("/commands/{rest}"), json));
    "ok"
}

async fn record_api(
    State(s): State<FakeSlack>,
    Path(method): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use std::sync::atomic::Ordering::SeqCst;
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    s.api_calls
        .lock()
        .unwrap()
        .push((std::time::Instant::now(), method.clone(), auth));
    let limited = s
        .rate_limit
        .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if limited {
        return (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "rate limited",
        )
            .into_response();
    }
    let failing = s
        .server_errors
        .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response();
    }
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.received
        .lock()
        .unwrap()
        .push((format!("/api/{method}"), json.clone()));
    let tagged = !json["metadata"].is_null();
    let swallowed = method == "chat.postMessage"
        && tagged
        && s.swallow_posts
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok();
    if swallowed {
        // Past the bot's 10 s call timeout: it gives up before this answer comes.
        tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    }
    axum::Json(serde_json::json!({"ok": true, "channel": "C0OPS0001", "ts": "1700000000.000100"}))
        .into_response()
}

/// `conversations.history`: the channel's messages, newest first — those posted here with
/// `chat.postMessage` and those put in `history` — with their metadata when asked for.
async fn slack_history(
    State(s): State<FakeSlack>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> axum::Json<Value> {
    s.history_calls.lock().unwrap().push(q.clone());
    if let Some(error) = s.history_error.lock().unwrap().clone() {
        return axum::Json(serde_json::json!({"ok": false, "error": error}));
    }
    let channel = q.get("channel").cloned().unwrap_or_default();
    let with_metadata = q.get("include_all_metadata").map(String::as_str) == Some("true");
    let posted = s.received.lock().unwrap().clone();
    let mut messages: Vec<Value> = s.history.lock().unwrap().clone();
    messages.extend(
        posted
            .iter()
            .filter(|(p, b)| p == "/api/chat.postMessage" && b["channel"] == channel.as_str())
            .enumerate()
            .map(|(i, (_, b))| {
                serde_json::json!({
                    "channel": channel, "ts": format!("1700000001.{i:06}"),
                    "text": b["text"], "metadata": b["metadata"],
                })
            }),
    );
    let mut messages: Vec<Value> = messages
        .into_iter()
        .filter(|m| m["channel"] == channel.as_str())
        .map(|mut m| {
            if !with_metadata {
                m.as_object_mut().unwrap().remove("metadata");
            }
            m
        })
        .collect();
    messages.reverse();
    axum::Json(serde_json::json!({"ok": true, "messages": messages, "has_more": false}))
}

/// (method, path, authorization, body) of a request to the fake Mattermost.
pub type MmRequest = (String, String, Option<String>, Value);

/// A fake Mattermost server: records `response_url` posts (`/hooks/commands/…`) and
/// REST API calls (`/api/v4/posts…`), with their Authorization header.
#[derive(Clone, Default)]
pub struct FakeMattermost {
    pub received: Arc<Mutex<Vec<MmRequest>>>,
    next_post: Arc<std::sync::atomic::AtomicU32>,
    /// Posts in channels besides those made here: `{"id", "channel_id", "props"}`.
    pub posts: Arc<Mutex<Vec<Value>>>,
}

pub struct FakeMattermostHandle {
    pub addr: SocketAddr,
    pub mm: FakeMattermost,
    _task: tokio::task::JoinHandle<()>,
}

impl FakeMattermostHandle {
    pub async fn start() -> FakeMattermostHandle {
        let mm = FakeMattermost::default();
        let app = Router::new()
            .route("/hooks/commands/{id}", post(mm_hook))
            .route("/api/v4/posts", post(mm_create))
            .route("/api/v4/posts/{id}/patch", axum::routing::put(mm_patch))
            .route("/api/v4/actions/dialogs/open", post(mm_dialog_open))
            .route(
                "/api/v4/channels/{id}/posts",
                axum::routing::get(mm_channel_posts),
            )
            .with_state(mm.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        FakeMattermostHandle {
            addr,
            mm,
            _task: task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn response_url(&self, id: &str) -> String {
        format!("http://{}/hooks/commands/{id}", self.addr)
    }

    /// (method, path, authorization, body) of every request.
    pub fn received(&self) -> Vec<MmRequest> {
        self.mm.received.lock().unwrap().clone()
    }
}

fn mm_record(
    mm: &FakeMattermost,
    method: &str,
    path: String,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let json = serde_json::from_slice(body).unwrap_or(Value::Null);
    mm.received
        .lock()
        .unwrap()
        .push((method.to_string(), path, auth, json));
}

async fn mm_hook(
    State(mm): State<FakeMattermost>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> &'static str {
    mm_record(
        &mm,
        "POST",
        format!("/hooks/commands/{id}"),
        &headers,
        &body,
    );
    "ok"
}

async fn mm_create(
    State(mm): State<FakeMattermost>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    mm_record(&mm, "POST", "/api/v4/posts".into(), &headers, &body);
    let n = mm
        .next_post
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    (
        axum::http::StatusCode::CREATED,
        axum::Json(serde_json::json!({"id": format!("post{n}abc"), "channel_id": "x"})),
    )
}

/// `GET /api/v4/channels/{id}/posts`: the posts made in the channel (REST posts with
/// its `channel_id`, and every command response: the fake cannot tell their channel),
/// and those put in `posts`.
async fn mm_channel_posts(
    State(mm): State<FakeMattermost>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> axum::Json<Value> {
    let path = format!("/api/v4/channels/{id}/posts?{}", query.unwrap_or_default());
    mm_record(&mm, "GET", path, &headers, b"");
    let made = mm.received.lock().unwrap().clone();
    let mut posts: Vec<Value> = mm.posts.lock().unwrap().clone();
    for (i, (method, path, _, body)) in made.iter().enumerate() {
        let in_channel = path == "/api/v4/posts" && body["channel_id"] == id.as_str();
        if method == "POST" && (in_channel || path.starts_with("/hooks/commands/")) {
            posts.push(serde_json::json!({
                "id": format!("made{i}"), "channel_id": id, "props": body["props"],
            }));
        }
    }
    let posts: serde_json::Map<String, Value> = posts
        .into_iter()
        .filter(|p| p["channel_id"] == id.as_str())
        .map(|p| (p["id"].as_str().unwrap_or_default().to_string(), p))
        .collect();
    let order: Vec<String> = posts.keys().cloned().collect();
    axum::Json(serde_json::json!({"order": order, "posts": posts}))
}

async fn mm_dialog_open(
    State(mm): State<FakeMattermost>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    mm_record(
        &mm,
        "POST",
        "/api/v4/actions/dialogs/open".into(),
        &headers,
        &body,
    );
    axum::Json(serde_json::json!({"status": "OK"}))
}

async fn mm_patch(
    State(mm): State<FakeMattermost>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    mm_record(
        &mm,
        "PUT",
        format!("/api/v4/posts/{id}/patch"),
        &headers,
        &body,
    );
    axum::Json(serde_json::json!({"id": id}))
}

/// Where a test bot keeps its store.
pub fn temp_db() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("usersync-bot-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("bot.db")
}

/// Options of a test bot.
pub struct BotSetup<'a> {
    pub instances: Vec<(&'a str, &'a SimulatorHandle, bool)>,
    pub response_hosts: Vec<String>,
    pub inline_budget: &'a str,
    pub db: PathBuf,
    /// A storage URL to use instead of the SQLite file `db` (e.g. a PostgreSQL database).
    pub storage_url: Option<String>,
    pub extra: &'a str,
    pub slack_extra: String,
    pub viewer_star: bool,
    /// A `[mattermost]` section (tokens, url, optional bot token) and extra role lines.
    pub mattermost: Option<String>,
    pub roles_extra: String,
    /// More principals of the admin role (e.g. `, "mattermost:…"`).
    pub admin_extra: String,
    /// Top-level keys, placed before any table (e.g. `public_url = "…"`).
    pub top_extra: String,
    /// A base URL for every instance instead of its simulator's (a proxy before it).
    pub base_url_override: Option<String>,
    /// More `[storage]` keys (e.g. `start_wait = "0s"`).
    pub storage_extra: String,
}

impl<'a> BotSetup<'a> {
    pub fn new(sim: &'a SimulatorHandle) -> Self {
        BotSetup {
            instances: vec![("jira", sim, true)],
            response_hosts: vec!["127.0.0.1".into()],
            inline_budget: "2s",
            db: temp_db(),
            storage_url: None,
            extra: "",
            slack_extra: String::new(),
            viewer_star: true,
            mattermost: None,
            roles_extra: String::new(),
            admin_extra: String::new(),
            top_extra: String::new(),
            base_url_override: None,
            storage_extra: String::new(),
        }
    }

    pub fn config_text(&self) -> String {
        let mut text = format!(
            r#"
listen = "127.0.0.1:0"
{top_extra}

[storage]
url = "{storage}"
{storage_extra}

[slack]
signing_secrets = ["{OLD_SECRET}", "${{TEST_SIGNING_SECRET}}"]
response_url_hosts = {hosts:?}
{slack_extra}

[replies]
inline_budget = "{budget}"

[roles]
admin = ["slack:{ADMIN}"{admin_extra}]
operator = ["slack:{OPERATOR}"{roles_extra}]
helpdesk = ["slack:{HELPDESK}"]
viewer = [{viewer}]

[roles.channels]
run = ["slack:{OPS_CHANNEL}", "mattermost:{MM_OPS_CHANNEL}"]
{extra}
{mattermost}
"#,
            storage = self
                .storage_url
                .clone()
                .unwrap_or_else(|| format!("sqlite://{}", self.db.display())),
            hosts = self.response_hosts,
            budget = self.inline_budget,
            viewer = if self.viewer_star { "\"*\"" } else { "" },
            extra = self.extra,
            slack_extra = self.slack_extra,
            roles_extra = self.roles_extra,
            admin_extra = self.admin_extra,
            top_extra = self.top_extra,
            storage_extra = self.storage_extra,
            mattermost = self.mattermost.clone().unwrap_or_default(),
        );
        for (name, sim, default) in &self.instances {
            text.push_str(&format!(
                r#"
[[instances]]
name = "{name}"
base_url = "{url}"
username = "admin"
password = "admin"
api = "{api}"
default = {default}
timeout = "3s"
"#,
                url = self
                    .base_url_override
                    .clone()
                    .unwrap_or_else(|| sim.base_url().to_string()),
                api = sim.state().api.as_str(),
            ));
        }
        text
    }

    /// The validated configuration of [`BotSetup::config_text`], with quick retries.
    pub fn config(&self) -> Config {
        let mut config = Config::parse(&self.config_text(), &|name| {
            (name == "TEST_SIGNING_SECRET").then(|| SECRET.to_string())
        })
        .expect("test config is valid");
        for instance in &mut config.instances {
            instance.retry = super::QUICK_RETRY;
        }
        config
    }

    pub async fn start(mut self) -> TestBot {
        if self.storage_url.is_none() {
            self.storage_url = super::pg::suite_database(&self.db).await;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bot = RunningBot::start(self.config(), listener)
            .await
            .expect("bot starts");
        TestBot::from_running(bot)
    }
}

pub struct TestBot {
    pub bot: RunningBot,
    pub url: String,
    pub http: reqwest::Client,
}

/// What a signed command carries.
pub struct Cmd<'a> {
    pub user: &'a str,
    /// The `user_name` Slack sends: `tester` unless a test sets another.
    pub user_name: &'a str,
    pub channel: &'a str,
    pub text: &'a str,
    pub trigger: String,
    pub response_url: Option<String>,
}

impl<'a> Cmd<'a> {
    pub fn new(user: &'a str, text: &'a str) -> Self {
        Cmd {
            user,
            user_name: "tester",
            channel: OPS_CHANNEL,
            text,
            trigger: format!("{}.{}", fastrand::u64(..), fastrand::u64(..)),
            response_url: None,
        }
    }

    pub fn body(&self) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("token", "deprecated-verification-token")
            .append_pair("team_id", "T0001")
            .append_pair("team_domain", "example")
            .append_pair("channel_id", self.channel)
            .append_pair("channel_name", "ops")
            .append_pair("user_id", self.user)
            .append_pair("user_name", self.user_name)
            .append_pair("command", "/usersync")
            .append_pair("text", self.text)
            .append_pair("api_app_id", "A123456")
            .append_pair("is_enterprise_install", "false")
            .append_pair("trigger_id", &self.trigger);
        if let Some(url) = &self.response_url {
            form.append_pair("response_url", url);
        }
        form.finish()
    }
}

/// The form a Mattermost server sends, in its field order, with the keys it repeats.
pub fn mm_form<'a>(
    user: &'a str,
    channel: &'a str,
    text: &'a str,
    response_url: &'a str,
    trigger: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("channel_id", channel),
        ("channel_name", "town-square"),
        ("command", "/usersync"),
        ("response_url", response_url),
        ("team_domain", "acme"),
        ("team_id", "teamid000000000000000000000"),
        ("text", text),
        ("token", MM_TOKEN),
        ("trigger_id", trigger),
        ("user_id", user),
        ("user_name", "mmtester"),
        ("root_id", ""),
        ("user_mentions", "alice"),
        ("user_mentions_ids", "aliceid"),
        ("user_mentions", "bob"),
        ("user_mentions_ids", "bobid"),
    ]
}

/// A `[mattermost]` section for a fake server.
pub fn mm_section(url: &str, bot_token: Option<&str>) -> String {
    let bot = bot_token.map_or(String::new(), |t| format!("bot_token = \"{t}\"\n"));
    format!(
        "[mattermost]\ncommand_tokens = [\"old-mm-token\", \"{MM_TOKEN}\"]\nurl = \"{url}\"\n{bot}"
    )
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl TestBot {
    /// A bot started by the test itself (e.g. one whose start was awaited on purpose).
    pub fn from_running(bot: RunningBot) -> TestBot {
        TestBot {
            url: format!("http://{}/slack/commands", bot.addr),
            bot,
            http: reqwest::Client::new(),
        }
    }

    /// `/readyz`: status and body.
    pub async fn readyz(&self) -> (u16, String) {
        let r = self
            .http
            .get(format!("http://{}/readyz", self.bot.health_addr()))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Sends a body signed with `secret` at `ts`.
    pub async fn post_signed(&self, body: &str, secret: &str, ts: i64) -> reqwest::Response {
        self.http
            .post(&self.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign(secret, ts, body.as_bytes()))
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// Sends a command as Slack would and returns the JSON reply.
    pub async fn command(&self, cmd: &Cmd<'_>) -> Value {
        let r = self.post_signed(&cmd.body(), SECRET, now()).await;
        assert_eq!(
            r.status(),
            200,
            "a verified command is always answered with 200"
        );
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        r.json().await.unwrap()
    }

    /// Sends a Mattermost slash command as a Mattermost server would (form token and
    /// `Authorization: Token …` header, repeated mention keys) and returns the response.
    pub async fn mattermost(
        &self,
        form: &[(&str, &str)],
        header_token: Option<&str>,
    ) -> reqwest::Response {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in form {
            body.append_pair(k, v);
        }
        let mut request = self
            .http
            .post(self.url.replace("/slack/commands", "/mattermost/commands"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .header("user-agent", "Mattermost-Bot/1.1");
        if let Some(t) = header_token {
            request = request.header("authorization", format!("Token {t}"));
        }
        request.body(body.finish()).send().await.unwrap()
    }

    /// A Mattermost command from `user` in `channel`, with a fresh trigger id.
    pub async fn mm_say(&self, user: &str, channel: &str, text: &str, response_url: &str) -> Value {
        let trigger = format!("mmtrigger{}", fastrand::u64(..));
        let r = self
            .mattermost(
                &mm_form(user, channel, text, response_url, &trigger),
                Some(MM_TOKEN),
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "Mattermost posts a reply without a JSON content type as raw text"
        );
        r.json().await.unwrap()
    }

    pub async fn say(&self, user: &str, text: &str) -> Value {
        self.command(&Cmd::new(user, text)).await
    }

    /// A command whose follow-ups go to `slack`, as a command that changes something
    /// needs (Slack always sends a `response_url`).
    pub async fn say_to(&self, slack: &FakeSlackHandle, user: &str, text: &str) -> Value {
        let mut cmd = Cmd::new(user, text);
        cmd.response_url = Some(slack.response_url("cmd"));
        self.command(&cmd).await
    }

    /// The bot's `/metrics` page.
    pub async fn metrics_text(&self) -> String {
        self.http
            .get(self.url.replace("/slack/commands", "/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits until `n` follow-ups have failed (been refused or undeliverable).
    pub async fn wait_failed_followups(&self, n: u64) {
        super::wait_for("the failed follow-up to be counted", || async {
            (self.bot.app.metrics.followups_failed.get() == n).then_some(())
        })
        .await;
    }

    pub async fn audit(&self) -> Vec<usersync_bot::store::AuditEntry> {
        self.bot.app.store.recent_audit(100).await.unwrap()
    }

    /// Waits until the audit has at least `n` rows (it is written in the background).
    pub async fn audit_rows(&self, n: usize) -> Vec<usersync_bot::store::AuditEntry> {
        super::wait_for(&format!("{n} audit row(s)"), || async {
            let rows = self.audit().await;
            (rows.len() >= n).then_some(rows)
        })
        .await
    }

    /// Waits until the newest job has ended and nothing follows a connector any more (the
    /// job's task, the only one that posts for it, is over), and returns the job.
    pub async fn wait_job_over(&self) -> usersync_bot::store::JobRecord {
        super::wait_for("the job to end and stop following", || async {
            let job = self.bot.app.store.recent_jobs(1).await.unwrap().remove(0);
            let over = job.state != usersync_bot::store::JobState::Following
                && self.bot.app.jobs.pollers().active() == 0;
            over.then_some(job)
        })
        .await
    }

    /// Subscribes to the poller of a connector of `jira`, as one more job would: each
    /// change it sees is one poll.
    pub fn watch_polls(&self, connector: &str) -> watch::Receiver<Option<Observation>> {
        let client = self.bot.app.instance(Some("jira")).unwrap();
        self.bot.app.jobs.pollers().subscribe(client, connector)
    }

    /// Waits for the next poll seen through [`TestBot::watch_polls`].
    pub async fn next_poll(&self, polls: &mut watch::Receiver<Option<Observation>>) -> Observation {
        tokio::time::timeout(super::WAIT, polls.changed())
            .await
            .expect("a poll within the wait")
            .expect("the poller runs");
        polls.borrow_and_update().clone().expect("a poll was seen")
    }

    /// Sends a valid `whoami` and waits for its audit row. Audit rows are written in the
    /// order commands end, so once it is there every earlier command's row is too.
    pub async fn audited_probe(&self) -> Vec<usersync_bot::store::AuditEntry> {
        const PROBE: &str = "/usersync whoami";
        let probes = |rows: &[usersync_bot::store::AuditEntry]| {
            rows.iter().filter(|r| r.command_text == PROBE).count()
        };
        let before = probes(&self.audit().await);
        self.say(ADMIN, "whoami").await;
        super::wait_for("the probe's audit row", || async {
            let rows = self.audit().await;
            (probes(&rows) > before).then_some(rows)
        })
        .await
    }
}

/// Nothing was done by a refused request: a later valid command is the only audit row
/// and upstream was never called.
pub async fn assert_nothing_happened(sim: &SimulatorHandle, bot: &TestBot) {
    let rows = bot.audited_probe().await;
    assert_eq!(rows.len(), 1, "an audit row was written: {rows:?}");
    assert!(
        sim.state().calls().is_empty(),
        "upstream was called: {:?}",
        sim.state().calls()
    );
}

/// Waits until the watcher has looked at a connector once (its baseline).
pub async fn wait_baseline(bot: &TestBot, connector: &str) {
    super::wait_for("the watcher's first look", || async {
        bot.bot
            .app
            .store
            .handled_sync("jira", connector)
            .await
            .unwrap()
            .map(|_| ())
    })
    .await;
}

/// Starts a sync as the product's schedule would, and waits until it is over.
pub async fn scheduled_sync(sim: &SimulatorHandle, connector: &str) -> u64 {
    let record = sim
        .state()
        .start_sync(connector, false, SyncOrigin::Schedule)
        .unwrap();
    let id = record["id"].as_u64().unwrap();
    let c = super::client(sim, ApiFlavour::V2);
    super::wait_for("the sync to end", || async {
        c.sync_status(id)
            .await
            .unwrap()
            .status
            .is_terminal()
            .then_some(())
    })
    .await;
    id
}

/// Everything a person reads in a reply: fallback text and every block's text.
pub fn visible(reply: &Value) -> String {
    let mut out = reply["text"].as_str().unwrap_or_default().to_string();
    for block in reply["blocks"].as_array().into_iter().flatten() {
        collect_text(block, &mut out);
    }
    out
}

/// The text of the blocks only (what Slack shows when blocks are present).
pub fn blocks_text(reply: &Value) -> String {
    let mut out = String::new();
    collect_text(&reply["blocks"], &mut out);
    out
}

fn collect_text(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "text" {
                    if let Value::String(s) = v {
                        out.push('\n');
                        out.push_str(s);
                        continue;
                    }
                }
                collect_text(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_text(i, out)),
        _ => {}
    }
}

/// `text` from an operator, with follow-ups to `slack`'s response_url `id`.
pub fn run_cmd<'a>(slack: &FakeSlackHandle, text: &'a str, id: &str) -> Cmd<'a> {
    let mut cmd = Cmd::new(OPERATOR, text);
    cmd.response_url = Some(slack.response_url(id));
    cmd
}

/// Whether a post is a new message (not progress replacing the original).
pub fn is_outcome((path, body): &(String, Value)) -> bool {
    let progress = visible(body).contains("The outcome is posted here when it finishes.");
    !progress
        && ((path.starts_with("/commands/") && body["replace_original"] == false)
            || path == "/api/chat.postMessage")
}

/// The posts that are new messages.
pub fn outcomes(slack: &FakeSlackHandle) -> Vec<(String, Value)> {
    slack.received().into_iter().filter(is_outcome).collect()
}

/// Waits for at least `n` outcomes.
pub async fn wait_outcome(slack: &FakeSlackHandle, n: usize) -> Vec<(String, Value)> {
    super::wait_for("the outcome to be posted", || async {
        let o = outcomes(slack);
        (o.len() >= n).then_some(o)
    })
    .await
}

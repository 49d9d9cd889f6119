//! `usersync-bot send`: plays Slack. Signs a slash command with the configured secret,
//! serves a local `response_url`, and prints every reply as a person would read it.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use clap::Args;
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::chat::slack::verify::sign;

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The command as typed in Slack, e.g. "/usersync status azure".
    pub command: String,
    /// The bot's command endpoint (default: from the configuration's `listen`).
    #[arg(long)]
    pub url: Option<String>,
    /// Slack user id to send as.
    #[arg(long = "as", default_value = "ULOCAL")]
    pub user: String,
    /// Slack channel id to send from.
    #[arg(long, default_value = "CLOCAL")]
    pub channel: String,
    /// Configuration to take the signing secret and address from (default: the
    /// `USERSYNC_BOT_CONFIG` file, ./usersync-bot.toml, or the running demo's).
    #[arg(long, env = "USERSYNC_BOT_CONFIG")]
    pub config: Option<PathBuf>,
    /// How long to keep listening for follow-ups after the last message.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub wait: Duration,
    /// When the reply says the bot follows a job (`run`), how long at most to keep
    /// listening for its outcome, with a line counting the seconds; then `--wait` applies.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub wait_outcome: Duration,
    /// Which chat platform to play: slack or mattermost.
    #[arg(long, default_value = "slack", value_parser = ["slack", "mattermost"])]
    pub platform: String,
}

/// Where `demo` writes its configuration, so that `send` finds it without flags.
pub fn demo_config_path() -> PathBuf {
    std::env::temp_dir()
        .join("usersync-bot-demo")
        .join("usersync-bot.toml")
}

fn find_config(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    let local = PathBuf::from(crate::config::DEFAULT_CONFIG_FILE);
    if local.exists() {
        return Ok(local);
    }
    let demo = demo_config_path();
    if demo.exists() {
        return Ok(demo);
    }
    Err("no configuration found: pass --config, or start `usersync-bot demo` first".into())
}

/// Longest time `send` waits for the answer to a deferred ("working on it") reply.
const DEFERRED_WAIT: Duration = Duration::from_secs(30);

pub async fn send(args: SendArgs) -> Result<(), Box<dyn std::error::Error>> {
    let path = find_config(args.config)?;
    let config = crate::config::Config::load(&path)
        .map_err(|e| format!("{}: {}", path.display(), e.problems.join("; ")))?;
    let mattermost = args.platform == "mattermost";
    let (secret, default_path) = if mattermost {
        let token = config
            .mattermost
            .as_ref()
            .and_then(|m| m.command_tokens.last())
            .map(|s| s.expose_secret().to_string())
            .ok_or("the configuration has no [mattermost] command token")?;
        (token, "/mattermost/commands")
    } else {
        let secret = config
            .slack
            .as_ref()
            .and_then(|s| s.signing_secrets.last())
            .map(|s| s.expose_secret().to_string())
            .ok_or("the configuration has no Slack signing secret")?;
        (secret, "/slack/commands")
    };
    let url = args
        .url
        .unwrap_or_else(|| format!("http://{}{default_path}", config.listen));

    // A local response_url that prints what the bot posts (shaped like Mattermost's
    // `/hooks/commands/…` when playing Mattermost).
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let response_url = format!("http://{}/hooks/commands/local", listener.local_addr()?);
    let routes = Router::new()
        .route("/hooks/commands/local", post(collect))
        .with_state(Arc::new(tx));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, routes).await;
    });

    let typed = args.command.trim();
    let (command, text) = match typed.split_once(char::is_whitespace) {
        Some((c, rest)) if c.starts_with('/') => (c.to_string(), rest.trim().to_string()),
        None if typed.starts_with('/') => (typed.to_string(), String::new()),
        _ => ("/usersync".to_string(), typed.to_string()),
    };
    let trigger = format!("{}.{}", fastrand::u64(..), fastrand::u64(..));
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("channel_id", &args.channel)
        .append_pair("channel_name", "local")
        .append_pair("command", &command)
        .append_pair("response_url", &response_url)
        .append_pair("team_domain", "local")
        .append_pair("team_id", "TLOCAL")
        .append_pair("text", &text)
        .append_pair("trigger_id", &trigger)
        .append_pair("user_id", &args.user)
        .append_pair("user_name", &args.user.to_lowercase());
    if mattermost {
        form.append_pair("token", &secret);
    } else {
        form.append_pair("token", "local");
    }
    let body = form.finish();
    let platform = if mattermost { "mattermost" } else { "slack" };
    println!(
        "→ {command} {text}   (as {platform}:{} in {platform}:{})",
        args.user, args.channel
    );
    let mut request = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded");
    if mattermost {
        request = request.header("authorization", format!("Token {secret}"));
    } else {
        let ts = chrono::Utc::now().timestamp();
        request = request
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign(&secret, ts, body.as_bytes()));
    }
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|e| format!("cannot reach the bot at {url}: {e}"))?;
    let status = response.status();
    let reply = response.text().await?;
    if !status.is_success() {
        return Err(format!("the bot answered HTTP {status}: {reply}").into());
    }
    let mut deferred = false;
    let mut watch = JobWatch::default();
    match serde_json::from_str::<Value>(&reply) {
        Ok(json) => {
            deferred = json["text"]
                .as_str()
                .is_some_and(|t| t.contains("Working on it"));
            print!("{}", to_terminal(&json));
            watch.read(&json, args.wait_outcome);
        }
        Err(_) if reply.is_empty() => println!("(empty reply)"),
        Err(_) => println!("{reply}"),
    }
    let mut wait = if deferred { DEFERRED_WAIT } else { args.wait };
    loop {
        let next = match &mut watch.pending {
            Some(pending) => pending.next(&mut rx).await,
            None => tokio::time::timeout(wait, rx.recv()).await.ok().flatten(),
        };
        let Some(json) = next else {
            if let Some(pending) = watch.pending.take() {
                println!(
                    "── no outcome of {} within {} (--wait-outcome): the bot still follows it; see `{command} jobs` ──",
                    pending.job,
                    humantime::format_duration(args.wait_outcome)
                );
            }
            break;
        };
        if json["replace_original"] == true {
            println!("── follow-up (replaces the message above) ──");
        } else {
            println!("── follow-up ──");
        }
        print!("{}", to_terminal(&json));
        watch.read(&json, args.wait_outcome);
        wait = args.wait;
    }
    server.abort();
    Ok(())
}

/// The job a reply says the bot follows, until its outcome arrives.
#[derive(Default)]
struct JobWatch {
    pending: Option<Pending>,
    /// Whether a job was seen at all (its outcome may already have come).
    seen: bool,
}

impl JobWatch {
    /// Takes note of a message: a job being followed starts the wait for its outcome,
    /// and its outcome ends it.
    fn read(&mut self, message: &Value, max: Duration) {
        if self.pending.is_some() && title_of(message).is_some_and(|t| is_outcome(&t)) {
            self.pending = None;
            return;
        }
        if !self.seen {
            if let Some(job) = followed_job(message) {
                self.seen = true;
                self.pending = Some(Pending::new(job, max));
            }
        }
    }
}

/// Waiting for one job's outcome, with a progress line on stderr.
struct Pending {
    /// What is awaited, as the progress line names it: "job 3".
    job: String,
    started: Instant,
    deadline: Instant,
    tty: bool,
    /// When the next progress line is due, off a terminal.
    next_line: Duration,
}

/// How often the progress line is written when stderr is not a terminal.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

impl Pending {
    fn new(job: String, max: Duration) -> Self {
        let started = Instant::now();
        Pending {
            job,
            started,
            deadline: started + max,
            tty: std::io::stderr().is_terminal(),
            next_line: Duration::ZERO,
        }
    }

    /// The next message, or `None` at the deadline; the progress line shows meanwhile
    /// (updated in place on a terminal, a line every few seconds otherwise).
    async fn next(&mut self, rx: &mut mpsc::UnboundedReceiver<Value>) -> Option<Value> {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let deadline = tokio::time::sleep_until(self.deadline);
        tokio::pin!(deadline);
        let mut shown = false;
        let message = loop {
            tokio::select! {
                m = rx.recv() => break m,
                () = &mut deadline => break None,
                _ = tick.tick() => shown |= self.show(),
            }
        };
        if self.tty && shown {
            eprint!("\r\x1b[2K");
        }
        message
    }

    /// Writes the progress line if it is due; says whether it did.
    fn show(&mut self) -> bool {
        let elapsed = self.started.elapsed();
        if !self.tty && elapsed < self.next_line {
            return false;
        }
        let line = format!(
            "⏳ waiting for the outcome of {}… {}s (at most {})",
            self.job,
            elapsed.as_secs(),
            humantime::format_duration(self.deadline - self.started)
        );
        let mut err = std::io::stderr();
        let _ = if self.tty {
            write!(err, "\r\x1b[2K{line}")
        } else {
            self.next_line = elapsed + PROGRESS_EVERY;
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        true
    }
}

/// The job a message says the bot follows: "Following it as job N", else an in-channel
/// "Sync of … started" of a job the bot could record.
fn followed_job(message: &Value) -> Option<String> {
    let shown = to_terminal(message);
    if let Some((_, rest)) = shown.split_once("Following it as job ") {
        let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !id.is_empty() {
            return Some(format!("job {id}"));
        }
    }
    let started = title_of(message).is_some_and(|t| {
        t.strip_prefix("Sync of ")
            .is_some_and(|rest| rest.contains(" started"))
    });
    (started
        && message["response_type"] == "in_channel"
        && !shown.contains("cannot record the job"))
    .then(|| "the sync".to_string())
}

/// Whether a title is that of a job's outcome: finished, failed, timed out, or stopped.
fn is_outcome(title: &str) -> bool {
    match title.strip_prefix("Sync of ") {
        Some(rest) => {
            rest.contains(" finished — ")
                || rest.contains(" failed — ")
                || rest.contains(" still running after ")
        }
        None => title.starts_with("Stopped following ") || title.starts_with("Job "),
    }
}

/// A message's title without its leading emoji: Slack's header block, or the first line
/// of Mattermost's text.
fn title_of(message: &Value) -> Option<String> {
    let slack = message["blocks"].as_array().and_then(|blocks| {
        blocks
            .iter()
            .find(|b| b["type"] == "header")
            .and_then(|b| b["text"]["text"].as_str())
            .map(str::to_string)
    });
    let title = match slack {
        Some(t) => t,
        None => {
            let text = message["text"]
                .as_str()
                .or_else(|| message["message"].as_str())?;
            let line = text.lines().next()?.strip_prefix("#### ")?;
            mattermost_plain(line)
        }
    };
    let (_emoji, rest) = title.split_once(' ')?;
    Some(rest.to_string())
}

async fn collect(
    State(tx): State<Arc<mpsc::UnboundedSender<Value>>>,
    body: axum::body::Bytes,
) -> &'static str {
    if let Ok(json) = serde_json::from_slice(&body) {
        let _ = tx.send(json);
    }
    "ok"
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Undoes the escaping meant for Mattermost's Markdown renderer.
fn mattermost_plain(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(|n| n.is_ascii_punctuation()) => {
                if let Some(n) = chars.next() {
                    plain.push(n);
                }
            }
            '\u{200B}' => {}
            c => plain.push(c),
        }
    }
    plain
}

/// A Mattermost reply (Markdown text and attachment fields) as text for a terminal.
fn mattermost_to_terminal(message: &Value) -> String {
    let mut out = String::new();
    let text = message["text"]
        .as_str()
        .or_else(|| message["message"].as_str())
        .unwrap_or_default();
    let plain = mattermost_plain(text);
    for line in plain.lines() {
        match line.strip_prefix("#### ") {
            Some(title) => out.push_str(&format!("\n\x1b[1m{title}\x1b[0m\n")),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for a in message["attachments"].as_array().into_iter().flatten() {
        let fields: Vec<String> = a["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                format!(
                    "{}: {}",
                    f["title"].as_str().unwrap_or_default(),
                    f["value"]
                        .as_str()
                        .unwrap_or_default()
                        .replace('\u{200B}', "")
                )
            })
            .collect();
        if !fields.is_empty() {
            out.push_str(&fields.join("   "));
            out.push('\n');
        }
    }
    out
}

/// A Slack or Mattermost message as text for a terminal.
pub fn to_terminal(message: &Value) -> String {
    if message.get("skip_slack_parsing").is_some() || message.get("attachments").is_some() {
        let who = match message["response_type"].as_str() {
            Some("in_channel") => "[in channel — everyone sees this]",
            _ => "[only you see this]",
        };
        return format!("{who}\n{}", mattermost_to_terminal(message));
    }
    let mut out = String::new();
    let who = match message["response_type"].as_str() {
        Some("in_channel") => "[in channel — everyone sees this]",
        _ => "[only you see this]",
    };
    out.push_str(who);
    out.push('\n');
    let Some(blocks) = message["blocks"].as_array() else {
        out.push_str(&unescape(message["text"].as_str().unwrap_or_default()));
        out.push('\n');
        return out;
    };
    for block in blocks {
        match block["type"].as_str() {
            Some("header") => {
                let t = block["text"]["text"].as_str().unwrap_or_default();
                out.push_str(&format!("\n\x1b[1m{t}\x1b[0m\n"));
            }
            Some("section") => {
                if let Some(t) = block["text"]["text"].as_str() {
                    out.push_str(&unescape(t));
                    out.push('\n');
                }
                if let Some(fields) = block["fields"].as_array() {
                    let parts: Vec<String> = fields
                        .iter()
                        .filter_map(|f| f["text"].as_str())
                        .map(|t| unescape(&t.replacen('\n', " ", 1)))
                        .collect();
                    out.push_str(&parts.join("   "));
                    out.push('\n');
                }
            }
            Some("context") => {
                for e in block["elements"].as_array().into_iter().flatten() {
                    if let Some(t) = e["text"].as_str() {
                        out.push_str(&format!("\x1b[2m{}\x1b[0m\n", unescape(t)));
                    }
                }
            }
            Some("divider") => out.push_str("────────\n"),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::slack::render::render_response;
    use crate::message::{Block, Message, Text, Tone};

    #[test]
    fn a_rendered_message_reads_well_in_a_terminal() {
        let m = Message::new(Tone::Success, "Okta — sync 92")
            .push(Block::Fields(vec![("Added".into(), Text::from("3"))]))
            .text(Text::new().plain("User <x> & co"))
            .context("instance jira");
        let shown = to_terminal(&render_response(&m));
        assert!(shown.starts_with("[only you see this]\n"));
        assert!(shown.contains("✅ Okta — sync 92"));
        assert!(shown.contains("*Added* 3"));
        assert!(shown.contains("User <x> & co"));
        assert!(shown.contains("instance jira"));
    }

    #[test]
    fn a_followed_job_and_its_outcome_are_recognised_on_both_platforms() {
        use crate::chat::mattermost::render::render_response as mattermost;
        let started = Message::new(Tone::Info, "Sync of Okta started by @alice")
            .in_channel()
            .text("Started as sync 93 on jira. Following it as job 12: this message shows its progress, and the outcome is posted here.");
        let progress = Message::new(
            Tone::Info,
            "Sync of Okta started by @alice: RUNNING (sync 93)",
        )
        .in_channel();
        let finished = Message::new(
            Tone::Warning,
            "Sync of Okta finished — sync 93: DONE · SUCCESS",
        )
        .in_channel();
        let failed = Message::new(Tone::Failure, "Sync of Okta failed — sync 93: DONE · ERROR");
        let late = Message::new(Tone::Warning, "Sync of Okta still running after 4h");
        let status = Message::new(Tone::Success, "Okta — sync 92: DONE · SUCCESS");
        for render in [render_response, mattermost] {
            assert_eq!(followed_job(&render(&started)).as_deref(), Some("job 12"));
            assert_eq!(followed_job(&render(&status)), None);
            assert_eq!(
                title_of(&render(&finished)).as_deref(),
                Some("Sync of Okta finished — sync 93: DONE · SUCCESS")
            );
            for outcome in [&finished, &failed, &late] {
                assert!(is_outcome(&title_of(&render(outcome)).unwrap_or_default()));
            }
            for not_yet in [&started, &progress, &status] {
                assert!(!is_outcome(&title_of(&render(not_yet)).unwrap_or_default()));
            }
        }
        let unrecorded = Message::new(Tone::Info, "Sync of Okta started by @alice")
            .in_channel()
            .text("Started on jira. The bot cannot record the job, so it will not post the outcome: check it with status.");
        assert_eq!(followed_job(&render_response(&unrecorded)), None);
    }
}

//! `usersync-bot send`: plays Slack. Signs a slash command with the configured secret,
//! serves a local `response_url`, and prints every reply as a person would read it.

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
    match serde_json::from_str::<Value>(&reply) {
        Ok(json) => {
            deferred = json["text"]
                .as_str()
                .is_some_and(|t| t.contains("Working on it"));
            print!("{}", to_terminal(&json));
        }
        Err(_) if reply.is_empty() => println!("(empty reply)"),
        Err(_) => println!("{reply}"),
    }
    let mut wait = if deferred { DEFERRED_WAIT } else { args.wait };
    while let Ok(Some(json)) = tokio::time::timeout(wait, rx.recv()).await {
        println!("── follow-up ──");
        print!("{}", to_terminal(&json));
        wait = args.wait;
    }
    server.abort();
    Ok(())
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

/// A Mattermost reply (Markdown text and attachment fields) as text for a terminal.
fn mattermost_to_terminal(message: &Value) -> String {
    let mut out = String::new();
    let text = message["text"]
        .as_str()
        .or_else(|| message["message"].as_str())
        .unwrap_or_default();
    // Undo the escaping meant for Mattermost's Markdown renderer.
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
}

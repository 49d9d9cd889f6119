//! Slack Socket Mode: the bot's WebSocket client. It asks `apps.connections.open` for a
//! URL with the app token, connects, and hands each envelope to the same code as the HTTP
//! endpoints (`answer::reply_body`, `click`), acknowledging it on the socket with the
//! same body the endpoint would return. What a frame means is decided by the pure
//! `chat::slack::socket::read`; this module only does the I/O.
//!
//! Connection life: a planned `disconnect` (`warning`, `refresh_requested`) opens the
//! next connection first and closes the old one once the new one said `hello`; a dropped
//! or silent socket is replaced after a capped, jittered backoff. `App::socket` tells
//! `/readyz` whether one is connected.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use super::{answer, click};
use crate::app::App;
use crate::chat::click::SlackInteraction;
use crate::chat::slack::socket::{self as frames, Disconnect, Envelope, Frame, Work};
use crate::domain::Platform;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How often the bot pings, and how long a silent socket (no frame, no pong) lives.
#[derive(Debug, Clone, Copy)]
struct Liveness {
    ping_every: Duration,
    silence_limit: Duration,
}

const LIVENESS: Liveness = Liveness {
    ping_every: Duration::from_secs(10),
    silence_limit: Duration::from_secs(30),
};
/// The longest wait between two attempts to connect.
const BACKOFF_CAP: Duration = Duration::from_secs(30);
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// How long opening (the Web API call, then the handshake) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing connection waits for the acknowledgements still being worked on
/// (Slack wants each within 3 s).
const ACK_DRAIN: Duration = Duration::from_secs(3);

/// The running client: stopped with the bot.
pub struct SocketClient {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SocketClient {
    /// Starts the client when `[slack] socket_mode` is on.
    pub fn start(app: &Arc<App>) -> Option<SocketClient> {
        let slack = app.config.slack.as_ref()?;
        let token = slack.app_token.clone()?;
        // reqwest and sqlx use ring: the same provider for the WebSocket's TLS. Already
        // installed (another bot in this process) is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (stop, stopped) = watch::channel(false);
        let api = slack.api_base_url.clone();
        let task = tokio::spawn(supervise(app.clone(), api, token, stopped));
        Some(SocketClient { stop, task })
    }

    /// Closes every socket (after the acknowledgements in flight) and ends the client.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(ACK_DRAIN + Duration::from_secs(1), self.task).await;
    }
}

/// Why a connection could not be opened. Shown in the log and `/readyz`: never the token.
#[derive(Debug, thiserror::Error)]
enum OpenError {
    #[error("apps.connections.open was rate limited")]
    RateLimited(Option<Duration>),
    #[error("apps.connections.open refused: {0} (check slack.app_token: an app-level token with connections:write, Socket Mode enabled in the app)")]
    Refused(String),
    #[error("apps.connections.open failed: {0}")]
    Failed(String),
    #[error("the WebSocket could not be opened: {0}")]
    Connect(String),
}

#[derive(serde::Deserialize)]
struct OpenAnswer {
    ok: bool,
    url: Option<String>,
    error: Option<String>,
}

/// `POST apps.connections.open` with the app token: a new `wss://` URL per call.
async fn open(http: &reqwest::Client, api: &Url, token: &SecretString) -> Result<Url, OpenError> {
    let endpoint = format!(
        "{}/apps.connections.open",
        api.as_str().trim_end_matches('/')
    );
    let response = http
        .post(endpoint)
        .bearer_auth(token.expose_secret())
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .map_err(|e| OpenError::Failed(e.without_url().to_string()))?;
    if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
        let after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(OpenError::RateLimited(after));
    }
    let status = response.status();
    let answer: OpenAnswer = response
        .json()
        .await
        .map_err(|_| OpenError::Failed(format!("HTTP {status}, not Slack's answer")))?;
    match (answer.ok, answer.url) {
        (true, Some(url)) => {
            let url = Url::parse(&url).map_err(|_| OpenError::Failed("a bad URL".into()))?;
            // Plain ws:// only for a plain-http API (a local fake), never for Slack.
            let allowed = url.scheme() == "wss" || (url.scheme() == "ws" && api.scheme() == "http");
            if !allowed {
                return Err(OpenError::Failed(format!(
                    "a {}:// URL where wss:// was expected",
                    url.scheme()
                )));
            }
            Ok(url)
        }
        _ => {
            let error = answer.error.unwrap_or_else(|| "no reason given".into());
            if error == "ratelimited" {
                return Err(OpenError::RateLimited(None));
            }
            Err(OpenError::Refused(error))
        }
    }
}

async fn connect(
    http: &reqwest::Client,
    api: &Url,
    token: &SecretString,
) -> Result<Socket, OpenError> {
    let url = open(http, api, token).await?;
    let (socket, _) =
        tokio::time::timeout(OPEN_TIMEOUT, tokio_tungstenite::connect_async(url.as_str()))
            .await
            .map_err(|_| OpenError::Connect("no handshake in time".into()))?
            .map_err(|e| OpenError::Connect(e.to_string()))?;
    Ok(socket)
}

/// The wait before the `attempt`-th attempt in a row: soon for the first, then doubling
/// up to [`BACKOFF_CAP`], each jittered so that replicas do not reconnect together.
fn backoff(attempt: u32) -> Duration {
    if attempt == 0 {
        return Duration::from_millis(fastrand::u64(50..250));
    }
    let full = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    full.mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// What a connection tells the supervisor.
#[derive(Debug)]
enum Event {
    Hello(u64),
    Disconnect(u64, Disconnect),
    Ended(u64),
}

/// Keeps a socket connected until told to stop.
async fn supervise(app: Arc<App>, api: Url, token: SecretString, mut stop: watch::Receiver<bool>) {
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(OPEN_TIMEOUT)
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "socket mode: no HTTP client");
            return;
        }
    };
    let (events, mut heard) = mpsc::unbounded_channel::<Event>();
    let mut closers: HashMap<u64, oneshot::Sender<()>> = HashMap::new();
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    let mut said_hello: HashSet<u64> = HashSet::new();
    let mut retiring: Vec<u64> = Vec::new();
    let (mut want_new, mut wait, mut attempt, mut next_id) = (true, Duration::ZERO, 0u32, 0u64);
    loop {
        if want_new {
            if !wait.is_zero() {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    () = tokio::time::sleep(wait) => {}
                }
            }
            let connected = tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                connected = connect(&http, &api, &token) => connected,
            };
            match connected {
                Ok(socket) => {
                    let (close, closed) = oneshot::channel();
                    closers.insert(next_id, close);
                    tasks.retain(|t| !t.is_finished());
                    let app = app.clone();
                    let on_envelope = move |envelope, acks| {
                        tokio::spawn(handle(app.clone(), envelope, acks));
                    };
                    tasks.push(tokio::spawn(connection(
                        next_id,
                        socket,
                        on_envelope,
                        events.clone(),
                        closed,
                        LIVENESS,
                    )));
                    tracing::info!(connection = next_id, "socket mode: connected");
                    next_id += 1;
                    (want_new, wait) = (false, Duration::ZERO);
                }
                Err(e) => {
                    wait = match e {
                        OpenError::RateLimited(Some(after)) => after.max(backoff(attempt)),
                        _ => backoff(attempt.max(1)),
                    };
                    attempt = attempt.saturating_add(1);
                    tracing::error!(error = %e, retry_in_ms = wait.as_millis() as u64, "socket mode: cannot connect");
                    app.socket.set_problem(e.to_string());
                    continue;
                }
            }
        }
        let event = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            event = heard.recv() => event,
        };
        match event {
            Some(Event::Hello(id)) => {
                said_hello.insert(id);
                attempt = 0;
                // The new connection is up: now the old ones may close.
                for old in retiring.drain(..).filter(|old| *old != id) {
                    if let Some(close) = closers.remove(&old) {
                        let _ = close.send(());
                    }
                }
            }
            Some(Event::Disconnect(id, reason)) => {
                tracing::info!(
                    connection = id,
                    reason = reason.as_str(),
                    "socket mode: Slack asks to disconnect"
                );
                if reason.opens_the_next_first() {
                    retiring.push(id);
                    want_new = true;
                }
                // Otherwise Slack closes it, and `Ended` reconnects after a backoff.
            }
            Some(Event::Ended(id)) => {
                tracing::info!(connection = id, "socket mode: connection ended");
                closers.remove(&id);
                said_hello.remove(&id);
                retiring.retain(|old| *old != id);
                if closers.is_empty() && !want_new {
                    want_new = true;
                    wait = backoff(attempt);
                    attempt = attempt.saturating_add(1);
                }
            }
            None => break,
        }
        app.socket.set_connected(said_hello.len());
    }
    for (_, close) in closers.drain() {
        let _ = close.send(());
    }
    for task in tasks {
        let _ = task.await;
    }
    app.socket.set_connected(0);
}

/// One socket: reads frames, hands each envelope over (with where its ack goes), writes
/// the acks, pings, and ends when the socket closes, fails or falls silent.
async fn connection(
    id: u64,
    socket: Socket,
    on_envelope: impl Fn(Envelope, mpsc::Sender<String>) + Send,
    events: mpsc::UnboundedSender<Event>,
    mut close: oneshot::Receiver<()>,
    liveness: Liveness,
) {
    let (mut sink, mut stream) = socket.split();
    let (acks, mut to_send) = mpsc::channel::<String>(64);
    let mut ping = tokio::time::interval(liveness.ping_every);
    ping.tick().await;
    let mut last_heard = tokio::time::Instant::now();
    let closing = loop {
        tokio::select! {
            _ = &mut close => break true,
            Some(ack) = to_send.recv() => {
                if let Err(e) = sink.send(WsMessage::text(ack)).await {
                    tracing::warn!(connection = id, error = %e, "socket mode: an ack could not be sent");
                    break false;
                }
            }
            frame = stream.next() => match frame {
                Some(Ok(WsMessage::Text(text))) => {
                    last_heard = tokio::time::Instant::now();
                    match frames::read(text.as_str()) {
                        Frame::Hello => {
                            let _ = events.send(Event::Hello(id));
                        }
                        Frame::Disconnect(reason) => {
                            let _ = events.send(Event::Disconnect(id, reason));
                        }
                        Frame::Envelope(envelope) => {
                            on_envelope(envelope, acks.clone());
                        }
                        Frame::Unreadable => {
                            tracing::debug!(connection = id, "socket mode: a frame that is not read");
                        }
                    }
                }
                Some(Ok(WsMessage::Close(_))) | None => break false,
                Some(Ok(_)) => last_heard = tokio::time::Instant::now(),
                Some(Err(e)) => {
                    tracing::warn!(connection = id, error = %e, "socket mode: the socket failed");
                    break false;
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > liveness.silence_limit {
                    tracing::warn!(connection = id, "socket mode: no answer to pings; reconnecting");
                    break false;
                }
                if sink.send(WsMessage::Ping(Vec::new().into())).await.is_err() {
                    break false;
                }
            }
        }
    };
    if closing {
        // Acks of envelopes still being worked on go out before the socket closes.
        drop(acks);
        let drain = async {
            while let Some(ack) = to_send.recv().await {
                if sink.send(WsMessage::text(ack)).await.is_err() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(ACK_DRAIN, drain).await;
        let _ = sink.close().await;
    }
    let _ = events.send(Event::Ended(id));
}

/// One envelope, through the same code as the HTTP endpoints; acknowledged with the body
/// the endpoint would return. One delivered twice (a reconnect, another replica) runs once.
async fn handle(app: Arc<App>, envelope: Envelope, acks: mpsc::Sender<String>) {
    let first = match app
        .store
        .claim_delivery(
            Platform::Slack,
            &frames::delivery_key(&envelope.id),
            app.owner(),
        )
        .await
    {
        Ok(first) => first,
        Err(e) => {
            // Commands that change something are claimed again by their trigger id.
            tracing::warn!(error = %e, "socket mode: cannot claim an envelope; running it");
            true
        }
    };
    let payload = match envelope.work {
        Work::Command(inv) if first => json(&answer::reply_body(app.clone(), *inv).await),
        Work::Command(inv) => {
            app.metrics.redelivered(&inv.text);
            // Look only: the first delivery may not have been seen here yet.
            let known = inv
                .trigger_id
                .as_deref()
                .and_then(|t| app.deliveries.reply_of(Platform::Slack, t));
            let body = known.unwrap_or_else(|| answer::already_received(&inv));
            json(&body)
        }
        Work::Interaction(SlackInteraction::Click(c)) => {
            if first {
                click::slack_ack(&app, *c);
            }
            None
        }
        Work::Interaction(SlackInteraction::Submission(sub)) if first => {
            Some(click::submission_body(&app, Platform::Slack, *sub).await)
        }
        Work::Interaction(_) | Work::Ignored => None,
        Work::Refused(refusal) => {
            app.metrics.refused(Platform::Slack, refusal);
            tracing::warn!(
                reason = refusal.reason(),
                "socket mode: an envelope that cannot be read"
            );
            None
        }
    };
    let payload = payload.filter(|_| envelope.accepts_response_payload);
    if acks.send(frames::ack(&envelope.id, payload)).await.is_err() {
        tracing::warn!("socket mode: the socket closed before an envelope was acknowledged");
    }
}

fn json(body: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WebSocket server that greets with `hello` and then either reads (so that
    /// tungstenite answers the bot's pings) or goes silent, holding the TCP open.
    async fn server(answers_pings: bool) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
            socket
                .send(WsMessage::text(r#"{"type":"hello"}"#))
                .await
                .unwrap();
            if answers_pings {
                while let Some(Ok(_)) = socket.next().await {}
            } else {
                std::future::pending::<()>().await;
            }
            drop(socket);
        });
        addr
    }

    /// Runs a connection with quick pings; what it reported within `within`.
    async fn events_of(answers_pings: bool, within: Duration) -> Vec<String> {
        let addr = server(answers_pings).await;
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .unwrap();
        let (events, mut heard) = mpsc::unbounded_channel();
        let (_close, closed) = oneshot::channel();
        let quick = Liveness {
            ping_every: Duration::from_millis(50),
            silence_limit: Duration::from_millis(300),
        };
        tokio::spawn(connection(7, socket, |_, _| {}, events, closed, quick));
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, heard.recv()).await {
            seen.push(format!("{event:?}"));
        }
        seen
    }

    #[tokio::test]
    async fn a_socket_that_stops_answering_pings_is_given_up() {
        let seen = events_of(false, Duration::from_secs(3)).await;
        assert_eq!(seen, ["Hello(7)", "Ended(7)"]);
    }

    #[tokio::test]
    async fn a_socket_that_answers_pings_stays() {
        let seen = events_of(true, Duration::from_millis(1000)).await;
        assert_eq!(
            seen,
            ["Hello(7)"],
            "pongs keep it alive past the silence limit"
        );
    }

    #[test]
    fn the_backoff_grows_is_jittered_and_capped() {
        assert!(backoff(0) < Duration::from_millis(250));
        for attempt in 1..40 {
            let wait = backoff(attempt);
            let full = BACKOFF_BASE
                .saturating_mul(1u32 << (attempt - 1).min(16))
                .min(BACKOFF_CAP);
            assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
        }
        assert!(backoff(30) <= BACKOFF_CAP);
    }
}

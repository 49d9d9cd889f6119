//! A fake Slack Socket Mode server over real WebSockets: `POST /api/apps.connections.open`
//! hands out `ws://` URLs of its own listener; each connection is greeted with `hello`
//! and records the acks it receives. A test can send frames on a connection (envelopes,
//! `disconnect`), drop one without a close frame, answer `429` with `Retry-After`, or
//! refuse with `ok: false, error: invalid_auth`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::wait_for;

/// What a test tells one connection to do.
enum Order {
    Send(String),
    Drop,
}

#[derive(Default)]
struct Shared {
    /// When each `apps.connections.open` came, and its Authorization header.
    opens: Mutex<Vec<(Instant, Option<String>)>>,
    /// Answer this many opens with 429 and `Retry-After: 1`.
    rate_limit: AtomicU32,
    /// Answer every open with `ok: false, error: invalid_auth`.
    refuse: AtomicBool,
    /// One sender per accepted connection, in order; `None` once it ended.
    connections: Mutex<Vec<Option<mpsc::UnboundedSender<Order>>>>,
    /// (connection, ack) for every frame the bot sent.
    acks: Mutex<Vec<(usize, Value)>>,
}

pub struct FakeSocketMode {
    pub api_addr: SocketAddr,
    shared: Arc<Shared>,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl FakeSocketMode {
    pub async fn start() -> FakeSocketMode {
        let shared = Arc::new(Shared::default());
        let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws_addr = ws.local_addr().unwrap();
        let accept = tokio::spawn(accept_loop(ws, shared.clone()));
        let api = Router::new()
            .route("/api/apps.connections.open", post(open))
            .with_state((shared.clone(), ws_addr));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_addr = listener.local_addr().unwrap();
        let serve = tokio::spawn(async move {
            axum::serve(listener, api).await.ok();
        });
        FakeSocketMode {
            api_addr,
            shared,
            _tasks: vec![accept, serve],
        }
    }

    /// The `[slack]` lines of a bot in Socket Mode against this fake.
    pub fn slack_lines(&self, app_token: &str) -> String {
        format!(
            "socket_mode = true\napp_token = \"{app_token}\"\napi_base_url = \"http://{}/api\"",
            self.api_addr
        )
    }

    pub fn opens(&self) -> Vec<(Instant, Option<String>)> {
        self.shared.opens.lock().unwrap().clone()
    }

    pub fn rate_limit(&self, n: u32) {
        self.shared.rate_limit.store(n, SeqCst);
    }

    pub fn refuse(&self, refuse: bool) {
        self.shared.refuse.store(refuse, SeqCst);
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.lock().unwrap().len()
    }

    /// Whether connection `n` is still open.
    pub fn is_open(&self, n: usize) -> bool {
        self.shared.connections.lock().unwrap()[n].is_some()
    }

    /// Waits for the `n`-th connection (0-based) to be accepted.
    pub async fn wait_connection(&self, n: usize) {
        wait_for(&format!("socket connection {n}"), || async {
            (self.connections() > n).then_some(())
        })
        .await;
    }

    pub fn send(&self, connection: usize, frame: &Value) {
        self.order(connection, Order::Send(frame.to_string()));
    }

    /// Drops connection `n` without a close frame, as a lost network would.
    pub fn drop_connection(&self, connection: usize) {
        self.order(connection, Order::Drop);
    }

    fn order(&self, connection: usize, order: Order) {
        let connections = self.shared.connections.lock().unwrap();
        let sender = connections[connection]
            .as_ref()
            .unwrap_or_else(|| panic!("connection {connection} is closed"));
        sender.send(order).unwrap();
    }

    /// Every ack received: (connection, frame).
    pub fn acks(&self) -> Vec<(usize, Value)> {
        self.shared.acks.lock().unwrap().clone()
    }

    /// The acks of envelope `id`, once there are `n`.
    pub async fn wait_acks(&self, id: &str, n: usize) -> Vec<(usize, Value)> {
        wait_for(&format!("{n} ack(s) of {id}"), || async {
            let acks: Vec<_> = self
                .acks()
                .into_iter()
                .filter(|(_, a)| a["envelope_id"] == id)
                .collect();
            (acks.len() >= n).then_some(acks)
        })
        .await
    }

    /// The first ack of envelope `id`.
    pub async fn wait_ack(&self, id: &str) -> (usize, Value) {
        self.wait_acks(id, 1).await.remove(0)
    }
}

/// A `slash_commands` envelope with the fields Slack sends.
pub fn slash_envelope(
    id: &str,
    user: &str,
    channel: &str,
    text: &str,
    trigger: &str,
    response_url: &str,
) -> Value {
    json!({
        "envelope_id": id,
        "type": "slash_commands",
        "accepts_response_payload": true,
        "payload": {
            "token": "deprecated", "team_id": "T0001", "team_domain": "example",
            "channel_id": channel, "channel_name": "ops", "user_id": user, "user_name": "tester",
            "command": "/usersync", "text": text, "api_app_id": "A123456",
            "is_enterprise_install": "false", "response_url": response_url, "trigger_id": trigger,
        }
    })
}

async fn open(
    State((shared, ws_addr)): State<(Arc<Shared>, SocketAddr)>,
    headers: HeaderMap,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    shared.opens.lock().unwrap().push((Instant::now(), auth));
    if shared
        .rate_limit
        .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "rate limited",
        )
            .into_response();
    }
    if shared.refuse.load(SeqCst) {
        return axum::Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
    }
    let ticket = uuid::Uuid::new_v4();
    axum::Json(json!({"ok": true, "url": format!("ws://{ws_addr}/link/?ticket={ticket}")}))
        .into_response()
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        let Ok(socket) = tokio_tungstenite::accept_async(stream).await else {
            continue;
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let n = {
            let mut connections = shared.connections.lock().unwrap();
            connections.push(Some(tx));
            connections.len() - 1
        };
        tokio::spawn(serve_connection(n, socket, rx, shared.clone()));
    }
}

async fn serve_connection(
    n: usize,
    socket: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    mut orders: mpsc::UnboundedReceiver<Order>,
    shared: Arc<Shared>,
) {
    let (mut sink, mut stream) = socket.split();
    let hello = json!({"type": "hello", "num_connections": n + 1,
                       "connection_info": {"app_id": "A123456"}, "debug_info": {"host": "fake"}});
    if sink.send(Message::text(hello.to_string())).await.is_ok() {
        loop {
            tokio::select! {
                order = orders.recv() => match order {
                    Some(Order::Send(text)) => {
                        if sink.send(Message::text(text)).await.is_err() {
                            break;
                        }
                    }
                    // Dropping both halves ends the TCP connection without a close frame.
                    Some(Order::Drop) | None => break,
                },
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let ack = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                        shared.acks.lock().unwrap().push((n, ack));
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
            }
        }
    }
    shared.connections.lock().unwrap()[n] = None;
}

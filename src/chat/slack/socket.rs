//! Slack Socket Mode: the frames Slack sends on the WebSocket, and the pure step that
//! reads one into what the bot should do. An envelope's payload is the same object the
//! HTTP endpoints carry, and becomes the same [`Invocation`] or click; the I/O loop lives
//! in `server::socket`.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use crate::chat::click::{parse_slack_value, SlackInteraction};
use crate::chat::Refusal;
use crate::domain::{Invocation, Platform};

/// Why Slack says it will close a connection (`disconnect`'s `reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disconnect {
    /// The connection closes soon: open another.
    Warning,
    /// Slack wants the bot to switch to a new connection.
    RefreshRequested,
    /// The app holds too many sockets.
    TooManyWebsockets,
    Other(String),
}

impl Disconnect {
    fn from_reason(reason: &str) -> Disconnect {
        match reason {
            "warning" => Disconnect::Warning,
            "refresh_requested" => Disconnect::RefreshRequested,
            "too_many_websockets" => Disconnect::TooManyWebsockets,
            other => Disconnect::Other(other.to_string()),
        }
    }

    /// A planned switch: the new connection is opened before the old one is closed.
    pub fn opens_the_next_first(&self) -> bool {
        matches!(self, Disconnect::Warning | Disconnect::RefreshRequested)
    }

    pub fn as_str(&self) -> &str {
        match self {
            Disconnect::Warning => "warning",
            Disconnect::RefreshRequested => "refresh_requested",
            Disconnect::TooManyWebsockets => "too_many_websockets",
            Disconnect::Other(reason) => reason,
        }
    }
}

/// What an envelope asks of the bot.
#[derive(Debug)]
pub enum Work {
    /// A slash command, read from the same fields as over HTTP.
    Command(Box<Invocation>),
    /// A click or a form submission (an `interactive` payload).
    Interaction(SlackInteraction),
    /// Acknowledged and ignored: an unknown envelope type, or `events_api` (the bot
    /// subscribes to no events).
    Ignored,
    /// A payload that cannot be read: acknowledged without a reply (Slack would only
    /// deliver it again), the refusal logged.
    Refused(Refusal),
}

/// One envelope: acknowledged on the socket with its id.
#[derive(Debug)]
pub struct Envelope {
    pub id: String,
    /// Whether the acknowledgement may carry the reply (`payload`).
    pub accepts_response_payload: bool,
    pub work: Work,
}

/// A frame read from the socket.
#[derive(Debug)]
pub enum Frame {
    /// The connection is ready.
    Hello,
    Disconnect(Disconnect),
    Envelope(Envelope),
    /// Not a frame the bot reads (not JSON, no type, an envelope without an id).
    Unreadable,
}

#[derive(Deserialize)]
struct RawFrame {
    #[serde(rename = "type")]
    kind: String,
    envelope_id: Option<String>,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    accepts_response_payload: bool,
    reason: Option<String>,
}

/// Reads one text frame. Pure: decides, does nothing.
pub fn read(text: &str) -> Frame {
    let Ok(raw) = serde_json::from_str::<RawFrame>(text) else {
        return Frame::Unreadable;
    };
    match raw.kind.as_str() {
        "hello" => return Frame::Hello,
        "disconnect" => {
            return Frame::Disconnect(Disconnect::from_reason(
                raw.reason.as_deref().unwrap_or_default(),
            ))
        }
        _ => {}
    }
    let Some(id) = raw.envelope_id.filter(|id| !id.is_empty()) else {
        return Frame::Unreadable;
    };
    let work = match raw.kind.as_str() {
        "slash_commands" => match command(&raw.payload) {
            Ok(inv) => Work::Command(Box::new(inv)),
            Err(refusal) => Work::Refused(refusal),
        },
        "interactive" => match parse_slack_value(raw.payload) {
            Ok(interaction) => Work::Interaction(interaction),
            Err(refusal) => Work::Refused(refusal),
        },
        _ => Work::Ignored,
    };
    Frame::Envelope(Envelope {
        id,
        accepts_response_payload: raw.accepts_response_payload,
        work,
    })
}

/// A `slash_commands` payload: a JSON object with the form's field names.
fn command(payload: &Value) -> Result<Invocation, Refusal> {
    let fields = payload.as_object().ok_or(Refusal::BadPayload)?;
    let pairs = fields.iter().filter_map(|(key, value)| {
        value
            .as_str()
            .map(|v| (Cow::Borrowed(key.as_str()), Cow::Borrowed(v)))
    });
    crate::chat::command_from_fields(Platform::Slack, pairs)
}

/// The acknowledgement of an envelope, with the reply when there is one.
pub fn ack(envelope_id: &str, payload: Option<Value>) -> String {
    let mut ack = serde_json::json!({ "envelope_id": envelope_id });
    if let Some(payload) = payload {
        ack["payload"] = payload;
    }
    ack.to_string()
}

/// The key an envelope is claimed under in the store (beside trigger ids), so that one
/// delivered twice, on a reconnect or to another replica, runs once.
pub fn delivery_key(envelope_id: &str) -> String {
    format!("envelope:{envelope_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hello_and_disconnects_are_read_with_their_reason() {
        assert!(matches!(
            read(r#"{"type":"hello","num_connections":1}"#),
            Frame::Hello
        ));
        for (reason, kind, first) in [
            ("warning", Disconnect::Warning, true),
            ("refresh_requested", Disconnect::RefreshRequested, true),
            ("too_many_websockets", Disconnect::TooManyWebsockets, false),
            (
                "link_disabled",
                Disconnect::Other("link_disabled".into()),
                false,
            ),
        ] {
            let text = json!({"type": "disconnect", "reason": reason}).to_string();
            let Frame::Disconnect(d) = read(&text) else {
                panic!("{text}")
            };
            assert_eq!((d.as_str(), d.opens_the_next_first()), (reason, first));
            assert_eq!(d, kind);
        }
    }

    #[test]
    fn a_slash_command_payload_is_the_same_invocation_as_the_form() {
        let text = json!({
            "envelope_id": "e1", "type": "slash_commands", "accepts_response_payload": true,
            "payload": {"user_id": "U1", "channel_id": "C1", "text": " status okta ",
                        "trigger_id": "t.1", "response_url": "https://hooks.slack.com/x",
                        "is_enterprise_install": "false", "extra": 3}
        })
        .to_string();
        let Frame::Envelope(env) = read(&text) else {
            panic!()
        };
        assert_eq!(env.id, "e1");
        assert!(env.accepts_response_payload);
        let Work::Command(inv) = env.work else {
            panic!("{:?}", env.work)
        };
        let form = crate::chat::slack::parse_command(
            b"user_id=U1&channel_id=C1&text=+status+okta+&trigger_id=t.1&response_url=https%3A%2F%2Fhooks.slack.com%2Fx",
        )
        .unwrap();
        assert_eq!(*inv, form);
    }

    #[test]
    fn unknown_and_unreadable_envelopes_are_told_apart() {
        let events = json!({"envelope_id": "e2", "type": "events_api", "payload": {}});
        assert!(matches!(
            read(&events.to_string()),
            Frame::Envelope(Envelope {
                work: Work::Ignored,
                ..
            })
        ));
        let bad = json!({"envelope_id": "e3", "type": "slash_commands", "payload": {"text": "x"}});
        assert!(matches!(
            read(&bad.to_string()),
            Frame::Envelope(Envelope {
                work: Work::Refused(Refusal::MissingFields),
                ..
            })
        ));
        assert!(matches!(read("not json"), Frame::Unreadable));
        assert!(matches!(
            read(r#"{"type":"slash_commands","payload":{}}"#),
            Frame::Unreadable
        ));
    }

    #[test]
    fn an_ack_carries_the_reply_only_when_given() {
        assert_eq!(ack("e1", None), r#"{"envelope_id":"e1"}"#);
        let with: Value = serde_json::from_str(&ack("e1", Some(json!({"text": "hi"})))).unwrap();
        assert_eq!(
            with,
            json!({"envelope_id": "e1", "payload": {"text": "hi"}})
        );
    }
}

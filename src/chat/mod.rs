//! Chat platform adapters: each verifies its platform's requests, turns them into a
//! neutral [`Invocation`], and renders neutral messages its own way.

pub mod click;
pub mod mattermost;
pub mod outbox;
pub mod platform_api;
pub mod slack;
pub mod transport;

use std::borrow::Cow;

use axum::extract::Request;
use axum::http::{header, request::Parts, HeaderMap};
use bytes::Bytes;

use crate::domain::{Invocation, Platform, Principal};
use crate::message::Message;

/// The body of an immediate reply to a command, in the platform's own format (JSON, so
/// that Mattermost does not post it raw).
pub fn render_reply(platform: Platform, message: &Message) -> Bytes {
    // A short reply (whoami, most refusals) is written without growing the buffer.
    let mut body = Vec::with_capacity(1000);
    let written = match platform {
        Platform::Slack => {
            serde_json::to_writer(&mut body, &slack::render::response_body(message, None))
        }
        Platform::Mattermost => {
            serde_json::to_writer(&mut body, &mattermost::render::render_response(message))
        }
    };
    if written.is_err() {
        body.clear();
    }
    // Exactly its size: a reply may be kept for a re-delivery, and is counted by its length.
    body.shrink_to_fit();
    Bytes::from(body)
}

/// The largest slash-command body accepted, on every platform.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why a request was refused before anything in it was acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    MissingHeaders,
    MalformedHeaders,
    StaleTimestamp,
    BadSignature,
    MissingToken,
    BadToken,
    TooLarge,
    ContentType,
    /// Verified, but without the fields every command request has.
    MissingFields,
    /// A button click whose body is not JSON.
    NotJson,
    /// Verified, but the interaction payload is not JSON of the expected shape.
    BadPayload,
}

impl Refusal {
    pub const ALL: [Refusal; 11] = [
        Refusal::MissingHeaders,
        Refusal::MalformedHeaders,
        Refusal::StaleTimestamp,
        Refusal::BadSignature,
        Refusal::MissingToken,
        Refusal::BadToken,
        Refusal::TooLarge,
        Refusal::ContentType,
        Refusal::MissingFields,
        Refusal::NotJson,
        Refusal::BadPayload,
    ];

    pub fn status(self) -> u16 {
        match self {
            Refusal::TooLarge => 413,
            Refusal::ContentType | Refusal::NotJson => 415,
            Refusal::MissingFields | Refusal::BadPayload => 400,
            _ => 401,
        }
    }

    /// The short reason sent back and logged; it never carries request content.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::MissingHeaders => "missing signature headers",
            Refusal::MalformedHeaders => "malformed signature headers",
            Refusal::StaleTimestamp => "timestamp outside the allowed window",
            Refusal::BadSignature => "invalid signature",
            Refusal::MissingToken => "missing token",
            Refusal::BadToken => "invalid token",
            Refusal::TooLarge => "request body too large",
            Refusal::ContentType => "content type must be application/x-www-form-urlencoded",
            Refusal::MissingFields => "missing user_id or channel_id",
            Refusal::NotJson => "content type must be application/json",
            Refusal::BadPayload => "malformed interaction payload",
        }
    }

    /// The label the refusal is counted under.
    pub fn metric(self) -> &'static str {
        match self {
            Refusal::MissingHeaders => "missing_headers",
            Refusal::MalformedHeaders => "malformed_headers",
            Refusal::StaleTimestamp => "stale_timestamp",
            Refusal::BadSignature => "bad_signature",
            Refusal::MissingToken => "missing_token",
            Refusal::BadToken => "bad_token",
            Refusal::TooLarge => "too_large",
            Refusal::ContentType => "content_type",
            Refusal::MissingFields => "missing_fields",
            Refusal::NotJson => "not_json",
            Refusal::BadPayload => "bad_payload",
        }
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Reads a form body within the size limit: the checks every platform's endpoint makes
/// before looking inside.
pub async fn read_form(req: Request) -> Result<(Parts, Bytes), Refusal> {
    let (parts, body) = req.into_parts();
    if !is_form(&parts.headers) {
        return Err(Refusal::ContentType);
    }
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(Refusal::TooLarge);
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| Refusal::TooLarge)?;
    Ok((parts, bytes))
}

/// The first value of a form field. Fields may repeat or be unknown: the first wins and
/// the rest are ignored.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The fields of a form whose keys are among those of a command, decoded; the values of
/// all other keys (a Slack command carries about a dozen) are skipped without decoding.
fn wanted_pairs(body: &[u8]) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    const WANTED: [&[u8]; 8] = [
        b"user_id",
        b"user_name",
        b"channel_id",
        b"team_id",
        b"command",
        b"text",
        b"response_url",
        b"trigger_id",
    ];
    body.split(|b| *b == b'&').filter_map(|pair| {
        let raw_key = pair.split(|b| *b == b'=').next().unwrap_or_default();
        // A key that is encoded itself is decoded before it is judged.
        let maybe = raw_key.contains(&b'%') || raw_key.contains(&b'+') || WANTED.contains(&raw_key);
        maybe
            .then(|| url::form_urlencoded::parse(pair).next())
            .flatten()
    })
}

/// The fields of a slash command, read from a verified form body. Both platforms send
/// the same names; repeated keys (Mattermost's `user_mentions`) and unknown ones are
/// tolerated.
pub fn parse_command(platform: Platform, body: &[u8]) -> Result<Invocation, Refusal> {
    command_from_fields(platform, wanted_pairs(body))
}

/// A slash command from its fields, whatever carried them: a form body (HTTP) or the
/// JSON object of a Socket Mode envelope (same names). The first value of a key wins.
pub fn command_from_fields<'a>(
    platform: Platform,
    pairs: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
) -> Result<Invocation, Refusal> {
    let mut user_id = None;
    let mut user_name = None;
    let mut channel_id = None;
    let mut team_id = None;
    let mut command = None;
    let mut text = None;
    let mut response_url = None;
    let mut trigger_id = None;
    for (key, value) in pairs {
        let slot = match key.as_ref() {
            "user_id" => &mut user_id,
            "user_name" => &mut user_name,
            "channel_id" => &mut channel_id,
            "team_id" => &mut team_id,
            "command" => &mut command,
            "text" => &mut text,
            "response_url" => &mut response_url,
            "trigger_id" => &mut trigger_id,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value.into_owned());
        }
    }
    let (Some(user_id), Some(channel_id)) = (user_id, channel_id) else {
        return Err(Refusal::MissingFields);
    };
    if user_id.is_empty() || channel_id.is_empty() {
        return Err(Refusal::MissingFields);
    }
    Ok(Invocation {
        platform,
        user: Principal::new(platform, user_id),
        user_name: user_name.filter(|n| !n.is_empty()),
        channel: Principal::new(platform, channel_id),
        team_id,
        command: command.unwrap_or_else(|| "/usersync".into()),
        text: text.unwrap_or_default().trim().to_string(),
        response_url: response_url.filter(|u| !u.is_empty()),
        trigger_id: trigger_id.filter(|t| !t.is_empty()),
    })
}

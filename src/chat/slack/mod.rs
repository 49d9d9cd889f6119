//! Slack: the verified slash-command extractor, the renderer, and the calls back to Slack.

pub mod api;
pub mod render;
pub mod verify;

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;

use super::{Invocation, Platform};
use crate::app::App;
use crate::authz::Principal;
use verify::Refusal;

/// The largest slash-command body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request on the Slack command endpoint that passed verification.
#[derive(Debug)]
pub enum SlackRequest {
    /// Slack's periodic certificate check: answered with an empty 200, nothing else.
    SslCheck,
    Command(Box<Invocation>),
}

impl FromRequest<Arc<App>> for SlackRequest {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let Some(slack) = app.config.slack.as_ref() else {
            return Err(StatusCode::NOT_FOUND.into_response());
        };
        let now = chrono::Utc::now().timestamp();
        read_verified(req, &slack.signing_secrets, now)
            .await
            .map_err(|refusal| {
                app.metrics.refused(Platform::Slack, refusal);
                tracing::warn!(
                    platform = "slack",
                    reason = refusal.reason(),
                    "refused a command request"
                );
                (
                    StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::UNAUTHORIZED),
                    refusal.reason(),
                )
                    .into_response()
            })
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

/// Reads the raw body within the size limit, verifies it, and only then reads fields
/// from the very bytes that were verified.
async fn read_verified(
    req: Request,
    secrets: &[SecretString],
    now: i64,
) -> Result<SlackRequest, Refusal> {
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
    let timestamp = parts.headers.get("x-slack-request-timestamp");
    let signature = parts.headers.get("x-slack-signature");
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        // Only an unsigned certificate check is answered; nothing else in it is read.
        if timestamp.is_none()
            && signature.is_none()
            && field(&bytes, "ssl_check").as_deref() == Some("1")
        {
            return Ok(SlackRequest::SslCheck);
        }
        return Err(Refusal::MissingHeaders);
    };
    verify::verify_at(
        secrets,
        timestamp.as_bytes(),
        signature.as_bytes(),
        &bytes,
        now,
    )?;
    if field(&bytes, "ssl_check").as_deref() == Some("1") {
        return Ok(SlackRequest::SslCheck);
    }
    parse_command(&bytes).map(|inv| SlackRequest::Command(Box::new(inv)))
}

/// The first value of a form field. Fields may repeat or be unknown: the first wins and
/// the rest are ignored.
fn field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The fields of a slash command, read from the verified form body.
pub fn parse_command(body: &[u8]) -> Result<Invocation, Refusal> {
    let mut user_id = None;
    let mut user_name = None;
    let mut channel_id = None;
    let mut team_id = None;
    let mut command = None;
    let mut text = None;
    let mut response_url = None;
    let mut trigger_id = None;
    for (key, value) in url::form_urlencoded::parse(body) {
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
        platform: Platform::Slack,
        user: Principal::new(Platform::Slack, user_id),
        user_name: user_name.filter(|n| !n.is_empty()),
        channel: Principal::new(Platform::Slack, channel_id),
        team_id,
        command: command.unwrap_or_else(|| "/usersync".into()),
        text: text.unwrap_or_default().trim().to_string(),
        response_url: response_url.filter(|u| !u.is_empty()),
        trigger_id: trigger_id.filter(|t| !t.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_unknown_fields_are_tolerated() {
        let body = b"user_id=U1&user_id=U2&channel_id=C1&new_field=x&text=status+%22Azure+AD%22&text=ignored&is_enterprise_install=false";
        let inv = parse_command(body).unwrap();
        assert_eq!(inv.user.id, "U1");
        assert_eq!(inv.text, "status \"Azure AD\"");
        assert_eq!(inv.command, "/usersync");
        assert_eq!(inv.response_url, None);
    }

    #[test]
    fn a_command_without_a_user_or_channel_is_refused() {
        assert_eq!(
            parse_command(b"channel_id=C1&text=help"),
            Err(Refusal::MissingFields)
        );
        assert_eq!(
            parse_command(b"user_id=&channel_id=C1"),
            Err(Refusal::MissingFields)
        );
    }
}

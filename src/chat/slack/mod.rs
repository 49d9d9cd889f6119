//! Slack: verification of slash commands over the raw bytes, the renderer, and the calls back to Slack.

pub mod api;
pub mod render;
pub mod verify;

use axum::extract::Request;
use secrecy::SecretString;

use super::{read_form, Refusal};
use crate::domain::{Invocation, Platform};

pub use super::MAX_BODY_BYTES;

/// A request on the Slack command endpoint that passed verification.
#[derive(Debug)]
pub enum SlackRequest {
    /// Slack's periodic certificate check: answered with an empty 200, nothing else.
    SslCheck,
    Command(Box<Invocation>),
}

/// Reads the raw body within the size limit, verifies it, and only then reads fields
/// from the very bytes that were verified.
pub async fn read_verified(
    req: Request,
    secrets: &[SecretString],
    now: i64,
) -> Result<SlackRequest, Refusal> {
    let (parts, bytes) = read_form(req).await?;
    let timestamp = parts.headers.get("x-slack-request-timestamp");
    let signature = parts.headers.get("x-slack-signature");
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        // Only an unsigned certificate check is answered; nothing else in it is read.
        if timestamp.is_none() && signature.is_none() && is_ssl_check(&bytes) {
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
    if is_ssl_check(&bytes) {
        return Ok(SlackRequest::SslCheck);
    }
    parse_command(&bytes).map(|inv| SlackRequest::Command(Box::new(inv)))
}

/// Whether the form is Slack's certificate check (`ssl_check=1`). Looks at the raw pairs
/// without decoding the values: a command body is scanned once more for this, on every
/// request.
fn is_ssl_check(body: &[u8]) -> bool {
    body.split(|b| *b == b'&')
        .any(|pair| pair == b"ssl_check=1")
}

/// The fields of a Slack slash command, read from the verified form body.
pub fn parse_command(body: &[u8]) -> Result<Invocation, Refusal> {
    crate::chat::parse_command(Platform::Slack, body)
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
    fn only_wanted_fields_are_decoded_and_an_encoded_key_still_counts() {
        let body =
            b"user%5Fid=U1&channel_id=C1&text=status+%22Azure+AD%22&junk=%ZZ&trigger_id=t%2E1";
        let inv = parse_command(body).unwrap();
        assert_eq!(inv.user.id, "U1");
        assert_eq!(inv.text, "status \"Azure AD\"");
        assert_eq!(inv.trigger_id.as_deref(), Some("t.1"));
    }

    #[test]
    fn the_certificate_check_is_recognised_among_other_fields_only_when_it_is_1() {
        assert!(is_ssl_check(b"ssl_check=1&token=x"));
        assert!(is_ssl_check(b"token=x&ssl_check=1"));
        assert!(!is_ssl_check(b"ssl_check=0&token=x"));
        assert!(!is_ssl_check(b"text=ssl_check%3D1&user_id=U1"));
        assert!(!is_ssl_check(b"user_id=U1&channel_id=C1&text=help"));
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

//! Slack: verification of slash commands over the raw bytes, the renderer, and the calls back to Slack.

pub mod api;
pub mod render;
pub mod socket;
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

    mod properties {
        use super::*;
        use axum::body::Body;
        use proptest::prelude::*;
        use proptest::test_runner::Config;

        const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
        const NOW: i64 = 1_531_420_618;

        /// A form body: pairs of the command's keys (some written encoded), the
        /// certificate check, unknown keys, and values encoded or raw junk.
        fn body() -> impl Strategy<Value = Vec<u8>> {
            let key = prop::sample::select(vec![
                "user_id",
                "channel_id",
                "text",
                "user_name",
                "team_id",
                "command",
                "response_url",
                "trigger_id",
                "ssl_check",
                "token",
                "junk",
                "user%5Fid",
                "channel%5fid",
                "%74ext",
                "text+",
                "",
                "user_id%00",
            ]);
            let value = prop_oneof![
                any::<String>()
                    .prop_map(|v| url::form_urlencoded::byte_serialize(v.as_bytes()).collect()),
                prop::sample::select(vec![
                    "1", "0", "", "%ZZ", "a%", "+", "%2B", "U1", "C1", "=x"
                ])
                .prop_map(String::from),
                "[ -~]{0,12}",
            ];
            let pair = prop_oneof![
                (key, value).prop_map(|(k, v)| format!("{k}={v}").into_bytes()),
                prop::collection::vec(any::<u8>(), 0..12),
            ];
            prop::collection::vec(pair, 0..12).prop_map(|pairs| pairs.join(&b'&'))
        }

        fn request(body: Vec<u8>, ts: i64, signature: &str) -> Request {
            Request::builder()
                .method("POST")
                .uri("/slack/commands")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-slack-request-timestamp", ts.to_string())
                .header("x-slack-signature", signature)
                .body(Body::from(body))
                .unwrap_or_else(|e| panic!("{e}"))
        }

        fn read(body: Vec<u8>, ts: i64, signature: &str) -> Result<SlackRequest, Refusal> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            let secrets = [SecretString::from(SECRET)];
            runtime.block_on(read_verified(request(body, ts, signature), &secrets, NOW))
        }

        proptest! {
            #![proptest_config(Config { cases: 500, failure_persistence: None, ..Config::default() })]

            #[test]
            fn the_fields_of_a_verified_request_are_those_of_the_very_bytes_signed(
                body in body(),
                skew in -verify::MAX_SKEW_SECS..=verify::MAX_SKEW_SECS,
            ) {
                let ts = NOW + skew;
                let signature = verify::sign(SECRET, ts, &body);
                let read = read(body.clone(), ts, &signature);
                match (read, is_ssl_check(&body)) {
                    (Ok(SlackRequest::SslCheck), true) => {}
                    (Ok(SlackRequest::Command(inv)), false) => {
                        prop_assert_eq!(Ok(*inv), parse_command(&body));
                    }
                    (Err(refusal), false) => prop_assert_eq!(Err(refusal), parse_command(&body)),
                    (other, ssl) => prop_assert!(false, "{other:?} for ssl_check {ssl}"),
                }
            }

            #[test]
            fn a_signed_request_whose_body_changed_by_one_byte_is_refused_before_any_field_is_read(
                body in body().prop_filter("not empty", |b| !b.is_empty()),
                at in any::<prop::sample::Index>(),
                mask in 1..=255u8,
            ) {
                let signature = verify::sign(SECRET, NOW, &body);
                let mut changed = body.clone();
                changed[at.index(body.len())] ^= mask;
                prop_assert!(matches!(read(changed, NOW, &signature), Err(Refusal::BadSignature)));
            }
        }
    }
}

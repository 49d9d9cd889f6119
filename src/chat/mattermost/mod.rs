//! Mattermost: token verification of slash commands, the renderer, and the calls back to
//! the Mattermost server.
//!
//! Mattermost signs nothing: a command proves itself with its token, sent as the form
//! field `token` (authoritative) and as `Authorization: Token …` (which an outgoing OAuth
//! connection may overwrite, so it is not relied on).

pub mod api;
pub mod render;

use axum::extract::Request;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::{form_field, read_form, Refusal};
use crate::domain::{Invocation, Platform};

/// Whether `token` is one of the configured tokens. Every token is compared, each in
/// constant time, so neither a match nor its position can be timed.
pub fn token_matches(tokens: &[SecretString], token: &str) -> bool {
    let mut found = subtle::Choice::from(0);
    for t in tokens {
        found |= t.expose_secret().as_bytes().ct_eq(token.as_bytes());
    }
    bool::from(found)
}

/// Reads a command request within the size limit and checks its token before any other
/// field is read.
pub async fn read_verified(req: Request, tokens: &[SecretString]) -> Result<Invocation, Refusal> {
    let (_, bytes) = read_form(req).await?;
    let token = form_field(&bytes, "token").filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(Refusal::MissingToken);
    };
    if !token_matches(tokens, &token) {
        return Err(Refusal::BadToken);
    }
    super::parse_command(Platform::Mattermost, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_configured_token_matches_and_nothing_else() {
        let tokens = vec![
            SecretString::from("old-token"),
            SecretString::from("new-token"),
        ];
        assert!(token_matches(&tokens, "old-token"));
        assert!(token_matches(&tokens, "new-token"));
        for bad in ["", "new-toke", "new-token ", "NEW-TOKEN"] {
            assert!(!token_matches(&tokens, bad), "{bad:?}");
        }
        assert!(!token_matches(&[], "new-token"));
    }

    #[test]
    fn the_real_request_shape_with_repeated_mentions_parses() {
        let body = b"channel_id=ch1&channel_name=town-square&command=%2Fusersync&response_url=https%3A%2F%2Fchat.example.com%2Fhooks%2Fcommands%2Fabc&team_domain=acme&team_id=t1&text=status+%40alice+okta&token=tok&trigger_id=tr1&user_id=u1&user_name=bob&root_id=&user_mentions=alice&user_mentions_ids=ua&user_mentions=carol&user_mentions_ids=uc&channel_mentions=ops&channel_mentions_ids=co";
        let inv = crate::chat::parse_command(Platform::Mattermost, body).unwrap();
        assert_eq!(inv.user.to_string(), "mattermost:u1");
        assert_eq!(inv.channel.to_string(), "mattermost:ch1");
        assert_eq!(inv.text, "status @alice okta");
        assert_eq!(inv.user_name.as_deref(), Some("bob"));
        assert_eq!(inv.trigger_id.as_deref(), Some("tr1"));
    }

    mod properties {
        use super::*;
        use axum::body::Body;
        use proptest::prelude::*;
        use proptest::test_runner::Config;

        fn encode(v: &str) -> String {
            url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
        }

        fn form(token: &str, text: &str) -> Vec<u8> {
            format!(
                "channel_id=ch1&text={}&token={}&user_id=u1&user_mentions=a&user_mentions=b",
                encode(text),
                encode(token)
            )
            .into_bytes()
        }

        fn read(body: Vec<u8>, tokens: &[SecretString]) -> Result<Invocation, Refusal> {
            let req = Request::builder()
                .method("POST")
                .uri("/mattermost/commands")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap_or_else(|e| panic!("{e}"));
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap_or_else(|e| panic!("{e}"))
                .block_on(read_verified(req, tokens))
        }

        /// A token and an altered one: a character changed, added or dropped, its case
        /// changed, or any other text.
        fn token_and_altered() -> impl Strategy<Value = (String, String)> {
            (
                "\\PC{1,40}",
                0..5usize,
                any::<prop::sample::Index>(),
                any::<char>(),
                any::<String>(),
            )
                .prop_map(|(token, how, at, c, other)| {
                    let mut chars: Vec<char> = token.chars().collect();
                    let i = at.index(chars.len());
                    match how {
                        0 => chars[i] = c,
                        1 => chars.insert(i, c),
                        2 => {
                            chars.remove(i);
                        }
                        3 => chars = token.to_uppercase().chars().collect(),
                        _ => chars = other.chars().collect(),
                    }
                    let altered = chars.into_iter().collect();
                    (token, altered)
                })
                .prop_filter("unchanged", |(t, a)| t != a)
        }

        proptest! {
            #![proptest_config(Config { cases: 500, failure_persistence: None, ..Config::default() })]

            #[test]
            fn a_body_whose_token_is_altered_is_refused_and_the_unaltered_one_is_read(
                (token, altered) in token_and_altered(),
                text in any::<String>(),
                first in any::<bool>(),
            ) {
                let tokens = vec![SecretString::from(token.clone()), SecretString::from("other-token")];
                prop_assume!(altered != "other-token");
                let good = form(&token, &text);
                prop_assert_eq!(form_field(&good, "token"), Some(token.clone()));
                prop_assert!(token_matches(&tokens, &token));
                prop_assert_eq!(read(good.clone(), &tokens), crate::chat::parse_command(Platform::Mattermost, &good));
                // The token field altered in place, or a second one put first.
                let bad = if first {
                    [format!("token={}&", encode(&altered)).into_bytes(), good].concat()
                } else {
                    form(&altered, &text)
                };
                prop_assert_eq!(form_field(&bad, "token"), Some(altered.clone()));
                prop_assert!(!token_matches(&tokens, &altered));
                let expected = if altered.is_empty() { Refusal::MissingToken } else { Refusal::BadToken };
                prop_assert_eq!(read(bad, &tokens), Err(expected));
            }
        }
    }
}

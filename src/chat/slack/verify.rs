//! Slack request signing: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` with the
//! app's signing secret, and a timestamp within five minutes either way.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The largest clock difference accepted, either way (Slack's five minutes).
pub const MAX_SKEW_SECS: i64 = 300;

pub use crate::chat::Refusal;

/// Checks a request's signature against every configured secret at time `now` (Unix
/// seconds). The clock is a parameter so the window is tested without waiting.
pub fn verify_at(
    secrets: &[SecretString],
    timestamp: &[u8],
    signature: &[u8],
    body: &[u8],
    now: i64,
) -> Result<(), Refusal> {
    let ts_text = std::str::from_utf8(timestamp).map_err(|_| Refusal::MalformedHeaders)?;
    if ts_text.is_empty() || ts_text.len() > 12 || !ts_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::MalformedHeaders);
    }
    let ts: i64 = ts_text.parse().map_err(|_| Refusal::MalformedHeaders)?;
    let hex_sig = signature
        .strip_prefix(b"v0=")
        .ok_or(Refusal::MalformedHeaders)?;
    if hex_sig.len() != 64 {
        return Err(Refusal::MalformedHeaders);
    }
    let mut expected = [0u8; 32];
    hex::decode_to_slice(hex_sig, &mut expected).map_err(|_| Refusal::MalformedHeaders)?;
    if (now - ts).abs() > MAX_SKEW_SECS {
        return Err(Refusal::StaleTimestamp);
    }
    // Every secret is tried, so that a match cannot be timed by its position.
    let mut valid = false;
    for secret in secrets {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) else {
            continue;
        };
        mac.update(b"v0:");
        mac.update(timestamp);
        mac.update(b":");
        mac.update(body);
        // `verify_slice` compares in constant time.
        valid |= mac.verify_slice(&expected).is_ok();
    }
    if valid {
        Ok(())
    } else {
        Err(Refusal::BadSignature)
    }
}

/// The signature Slack would send for `body` at `timestamp` (for `send`, tests and the
/// benchmark).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector of Slack's documentation.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: i64 = 1531420618;
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn secrets(list: &[&str]) -> Vec<SecretString> {
        list.iter().map(|s| SecretString::from(*s)).collect()
    }

    fn check(
        secrets: &[SecretString],
        ts: &str,
        sig: &str,
        body: &str,
        now: i64,
    ) -> Result<(), Refusal> {
        verify_at(secrets, ts.as_bytes(), sig.as_bytes(), body.as_bytes(), now)
    }

    #[test]
    fn the_documented_vector_signs_and_verifies() {
        assert_eq!(sign(SECRET, TS, BODY.as_bytes()), EXPECTED);
        assert_eq!(
            check(&secrets(&[SECRET]), "1531420618", EXPECTED, BODY, TS),
            Ok(())
        );
    }

    #[test]
    fn any_configured_secret_verifies_during_a_rotation() {
        assert_eq!(
            check(
                &secrets(&["old-secret", SECRET]),
                "1531420618",
                EXPECTED,
                BODY,
                TS
            ),
            Ok(())
        );
        assert_eq!(
            check(&secrets(&["old-secret"]), "1531420618", EXPECTED, BODY, TS),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn one_changed_byte_of_body_fails() {
        let body = BODY.replace("text=", "text=x");
        assert_eq!(
            check(&secrets(&[SECRET]), "1531420618", EXPECTED, &body, TS),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn the_window_is_five_minutes_either_way() {
        let s = secrets(&[SECRET]);
        assert_eq!(check(&s, "1531420618", EXPECTED, BODY, TS + 300), Ok(()));
        assert_eq!(check(&s, "1531420618", EXPECTED, BODY, TS - 300), Ok(()));
        assert_eq!(
            check(&s, "1531420618", EXPECTED, BODY, TS + 301),
            Err(Refusal::StaleTimestamp)
        );
        assert_eq!(
            check(&s, "1531420618", EXPECTED, BODY, TS - 301),
            Err(Refusal::StaleTimestamp)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let s = secrets(&[SECRET]);
        for (ts, sig) in [
            ("", EXPECTED),
            ("-1531420618", EXPECTED),
            ("1531420618.5", EXPECTED),
            ("99999999999999999999", EXPECTED),
            (
                "1531420618",
                "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
            (
                "1531420618",
                "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
            (
                "1531420618",
                "v0=zz14d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
            ("1531420618", "v0=a2114d"),
        ] {
            assert_eq!(
                check(&s, ts, sig, BODY, TS),
                Err(Refusal::MalformedHeaders),
                "{ts} {sig}"
            );
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use proptest::test_runner::Config;

        /// A signed request: secret, timestamp, body, the clock within the window.
        fn signed() -> impl Strategy<Value = (String, i64, Vec<u8>, i64)> {
            (
                any::<String>(),
                0..100_000_000_000i64,
                prop::collection::vec(any::<u8>(), 0..600),
                -MAX_SKEW_SECS..=MAX_SKEW_SECS,
            )
                .prop_map(|(secret, ts, body, skew)| (secret, ts, body, ts + skew))
        }

        fn verify(secret: &str, ts: i64, sig: &[u8], body: &[u8], now: i64) -> Result<(), Refusal> {
            verify_at(
                &[SecretString::from(secret)],
                ts.to_string().as_bytes(),
                sig,
                body,
                now,
            )
        }

        proptest! {
            #![proptest_config(Config { cases: 500, failure_persistence: None, ..Config::default() })]

            #[test]
            fn any_signed_body_verifies_and_any_changed_byte_of_it_does_not(
                (secret, ts, body, now) in signed(),
                at in any::<prop::sample::Index>(),
                mask in 1..=255u8,
            ) {
                let sig = sign(&secret, ts, &body);
                prop_assert_eq!(verify(&secret, ts, sig.as_bytes(), &body, now), Ok(()));
                if !body.is_empty() {
                    let mut changed = body.clone();
                    changed[at.index(body.len())] ^= mask;
                    prop_assert_eq!(
                        verify(&secret, ts, sig.as_bytes(), &changed, now),
                        Err(Refusal::BadSignature)
                    );
                }
                // A byte more or less is a changed body too.
                let mut longer = body.clone();
                longer.push(mask);
                prop_assert_eq!(verify(&secret, ts, sig.as_bytes(), &longer, now), Err(Refusal::BadSignature));
                if let Some((_, shorter)) = body.split_last() {
                    prop_assert_eq!(verify(&secret, ts, sig.as_bytes(), shorter, now), Err(Refusal::BadSignature));
                }
            }

            #[test]
            fn any_changed_byte_of_the_signature_fails_unless_it_only_changes_a_hex_letters_case(
                (secret, ts, body, now) in signed(),
                at in any::<prop::sample::Index>(),
                byte in any::<u8>(),
            ) {
                let sig = sign(&secret, ts, &body).into_bytes();
                let i = at.index(sig.len());
                prop_assume!(sig[i] != byte);
                let mut changed = sig.clone();
                changed[i] = byte;
                let result = verify(&secret, ts, &changed, &body, now);
                // `A`–`F` read as `a`–`f`: the same MAC, written in the other case.
                let same_mac = i >= 3 && sig[i].is_ascii_alphabetic() && sig[i].eq_ignore_ascii_case(&byte);
                if same_mac {
                    prop_assert_eq!(result, Ok(()));
                } else {
                    prop_assert!(
                        matches!(result, Err(Refusal::BadSignature | Refusal::MalformedHeaders)),
                        "{:?}", result
                    );
                }
            }
        }
    }
}

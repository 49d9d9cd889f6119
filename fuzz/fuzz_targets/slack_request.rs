//! A Slack request: the timestamp and signature headers and the raw body, as the bot reads
//! them. Invariants: a body signed with the secret verifies, the same with any other
//! signature does not, and a verified command's fields come from exactly those bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use usersync_bot::chat::slack::verify::{sign, verify_at};
use usersync_bot::chat::{parse_command, Refusal};
use usersync_bot::domain::Platform;

const SECRET: &str = "fuzz-signing-secret";
const NOW: i64 = 1_800_000_000;

/// Input: timestamp line, signature line, then the body.
fn split(data: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    )
}

fuzz_target!(|data: &[u8]| {
    let secrets = [SecretString::from(SECRET)];
    let (ts, sig, body) = split(data);
    // As sent: whatever the headers say, nothing panics, and only a true signature passes.
    let verdict = verify_at(&secrets, ts, sig, body, NOW);
    if verdict.is_ok() {
        let ts: i64 = std::str::from_utf8(ts).unwrap().parse().unwrap();
        // The same MAC, its hex in either case (the bytes compared are the MAC's).
        assert_eq!(
            sig.to_ascii_lowercase(),
            sign(SECRET, ts, body).as_bytes(),
            "a forged signature passed"
        );
    }
    // Signed for real: it verifies, and a one-bit change of the body does not.
    let good = sign(SECRET, NOW, body);
    let now = NOW.to_string();
    assert_eq!(
        verify_at(&secrets, now.as_bytes(), good.as_bytes(), body, NOW),
        Ok(())
    );
    if !body.is_empty() {
        let mut altered = body.to_vec();
        altered[0] ^= 1;
        assert_eq!(
            verify_at(&secrets, now.as_bytes(), good.as_bytes(), &altered, NOW),
            Err(Refusal::BadSignature)
        );
    }
    // The command read from the verified bytes: every field it carries is in them.
    if let Ok(inv) = parse_command(Platform::Slack, body) {
        let decoded: Vec<(String, String)> = form_urlencoded_pairs(body);
        // The first value of a key is the one read.
        let first = |key: &str| {
            decoded
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            first("user_id"),
            Some(inv.user.id.as_str()),
            "user_id not from the body"
        );
        assert_eq!(
            first("channel_id"),
            Some(inv.channel.id.as_str()),
            "channel_id not from the body"
        );
    }
});

/// The form's pairs, decoded independently of the bot's reader.
fn form_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    body.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut kv = pair.splitn(2, |b| *b == b'=');
            let k = decode(kv.next().unwrap_or_default());
            let v = decode(kv.next().unwrap_or_default());
            (k, v)
        })
        .collect()
}

fn decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(raw[i + 1]), hex(raw[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

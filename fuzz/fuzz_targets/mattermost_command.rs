//! A Mattermost slash command: its form body and the token it carries. Invariants: the
//! token check accepts exactly the configured token, and a parsed command's fields come
//! from the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use usersync_bot::chat::mattermost::token_matches;
use usersync_bot::chat::parse_command;
use usersync_bot::domain::Platform;

const TOKEN: &str = "fuzz-mattermost-token-0123456789";

fuzz_target!(|data: &[u8]| {
    let tokens = [SecretString::from(TOKEN)];
    // The first line is a token as a request might carry it; the rest is the form.
    let (token, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let token = String::from_utf8_lossy(token);
    assert_eq!(token_matches(&tokens, &token), token == TOKEN);
    assert!(token_matches(&tokens, TOKEN));
    if let Ok(inv) = parse_command(Platform::Mattermost, body) {
        assert_eq!(inv.platform, Platform::Mattermost);
        assert!(!inv.user.id.is_empty() && !inv.channel.id.is_empty());
    }
});

//! A Slack interaction (`payload=<JSON>` form body): button clicks and modal submissions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usersync_bot::chat::click::{parse_slack, parse_slack_value};

fuzz_target!(|data: &[u8]| {
    let _ = parse_slack(data);
    // The JSON itself, as Socket Mode carries it.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = parse_slack_value(value);
    }
});

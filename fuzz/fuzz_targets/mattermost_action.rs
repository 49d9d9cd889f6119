//! Mattermost button actions and dialog submissions (JSON bodies).
#![no_main]

use libfuzzer_sys::fuzz_target;
use usersync_bot::chat::click::{parse_mattermost, parse_mattermost_dialog};

fuzz_target!(|data: &[u8]| {
    let _ = parse_mattermost(data);
    if let Ok(Some(submission)) = parse_mattermost_dialog(data) {
        // A submission names who sent it and where, always.
        assert!(!submission.user.id.is_empty());
        assert!(submission.channel.is_some_and(|c| !c.id.is_empty()));
        assert!(!submission.state.is_empty());
    }
});

//! A Socket Mode frame (text over the WebSocket). Invariant: an envelope's
//! acknowledgement is JSON naming exactly that envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usersync_bot::chat::slack::socket::{ack, read, Frame};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Frame::Envelope(envelope) = read(text) {
        let answer: serde_json::Value = serde_json::from_str(&ack(&envelope.id, None)).unwrap();
        assert_eq!(answer["envelope_id"].as_str(), Some(envelope.id.as_str()));
    }
});

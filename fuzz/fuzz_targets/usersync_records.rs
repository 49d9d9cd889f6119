//! The User Sync product's JSON records (connector, sync status, per-user results), read
//! as the client reads them and rendered as every reply that shows them, on both
//! platforms. Invariants: nothing panics, and no text from the product becomes a live
//! mention, link or `@channel` in chat.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usersync_bot::chat::render_reply;
use usersync_bot::domain::Platform;
use usersync_bot::message::Message;
use usersync_bot::reply::connector::{connector_message, connectors, InstanceListing};
use usersync_bot::reply::sync::{results, sync_message};
use usersync_bot::usersync::{Connector, SyncStatus, SyncUserResult};

/// Every string in a rendered reply (the JSON body the platform receives).
fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

fn check(message: &Message) {
    let slack: serde_json::Value =
        serde_json::from_slice(&render_reply(Platform::Slack, message)).unwrap();
    let mut texts = Vec::new();
    strings(&slack, &mut texts);
    for t in &texts {
        // Slack's mention and link syntax all start with `<`; escaped text has none.
        assert!(!t.contains('<'), "live Slack markup in {t:?}");
    }
    let mattermost: serde_json::Value =
        serde_json::from_slice(&render_reply(Platform::Mattermost, message)).unwrap();
    let mut texts = Vec::new();
    strings(&mattermost, &mut texts);
    for t in &texts {
        // Every `@` is followed by a zero-width space, so no mention can form.
        let mut chars = t.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '@' {
                assert_eq!(chars.peek(), Some(&'\u{200B}'), "live @mention in {t:?}");
            }
        }
        assert!(!t.contains("://"), "live link in {t:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(status) = serde_json::from_slice::<SyncStatus>(data) {
        check(&sync_message("jira", Some("Okta"), &status));
        check(&sync_message("jira", None, &status));
    }
    if let Ok(connector) = serde_json::from_slice::<Connector>(data) {
        check(&connector_message("jira", &connector));
        let listing = InstanceListing {
            instance: "jira".into(),
            connectors: vec![(connector, None)],
        };
        check(&connectors(&[Ok(listing)], false));
    }
    if let Ok(users) = serde_json::from_slice::<Vec<SyncUserResult>>(data) {
        check(&results(7, &users, true));
        check(&results(7, &users, false));
    }
});

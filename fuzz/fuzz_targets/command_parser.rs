//! The command text a person types: parser (and so the tokenizer) and the audit's
//! redaction.
//! Invariants: nothing panics, parsing is deterministic, and a value given after a
//! secret-looking key never reaches the audit text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usersync_bot::command::parse;
use usersync_bot::command::redact::audit_text;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let first = parse(&text);
    assert_eq!(format!("{first:?}"), format!("{:?}", parse(&text)));
    let _ = audit_text(&text);
    // A password given in a `set` never reaches the audit text.
    let canary = "Zq8canaryVALUE7x";
    if text.contains(canary) {
        return; // the input itself shows it (the fuzzer learns the constant)
    }
    let with_secret = format!("set okta clientSecret={canary} {text}");
    assert!(
        !audit_text(&with_secret).contains(canary),
        "a secret reached the audit: {with_secret:?}"
    );
});

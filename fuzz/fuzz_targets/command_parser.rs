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
    // The input itself holding the canary (the fuzzer learns the constant), also once
    // quotes and escapes are taken out as the tokenizer does (`Z'q8canary…`), is no leak.
    let unquoted: String = text
        .chars()
        .filter(|c| !matches!(c, '\'' | '"' | '`' | '\\' | '‘' | '’' | '“' | '”'))
        .collect();
    if unquoted.contains(canary) {
        return;
    }
    let with_secret = format!("set okta clientSecret={canary} {text}");
    assert!(
        !audit_text(&with_secret).contains(canary),
        "a secret reached the audit: {with_secret:?}"
    );
});

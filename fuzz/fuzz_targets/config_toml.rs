//! The TOML configuration loader, with every `${VAR}` set: nothing may panic, whatever
//! the file holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usersync_bot::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Config::parse(text, &|name| Some(format!("value-of-{name}")));
});

//! `listen` and `[storage]`: where the bot accepts requests and keeps its state.

use std::net::SocketAddr;

use super::Problems;
use crate::config::raw::RawStorage;

const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
const DEFAULT_STORAGE_URL: &str = "sqlite://usersync-bot.db";

/// The address to bind; local-only by default, so nothing is exposed by accident.
pub(super) fn listen(raw: Option<String>, p: &mut Problems) -> SocketAddr {
    match raw.as_deref().unwrap_or(DEFAULT_LISTEN).parse() {
        Ok(addr) => addr,
        Err(_) => {
            p.push(format!(
                "listen: {:?} is not an address like \"127.0.0.1:3000\"",
                raw.unwrap_or_default()
            ));
            SocketAddr::from(([127, 0, 0, 1], 3000))
        }
    }
}

/// The store's URL; only SQLite is implemented, so anything else is refused here rather
/// than when the store is opened.
pub(super) fn storage(raw: Option<RawStorage>, p: &mut Problems) -> String {
    let url = raw.map_or_else(|| DEFAULT_STORAGE_URL.into(), |s| s.url);
    if !url.starts_with("sqlite:") {
        p.push(format!(
            "storage.url: {url:?} is not supported (use \"sqlite://FILE\")"
        ));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_defaults_to_localhost_and_refuses_a_non_address() {
        let mut p = Problems::default();
        assert_eq!(listen(None, &mut p).to_string(), DEFAULT_LISTEN);
        assert!(p.is_empty());
        listen(Some("nowhere".into()), &mut p);
        assert_eq!(
            p.into_vec(),
            ["listen: \"nowhere\" is not an address like \"127.0.0.1:3000\""]
        );
    }

    #[test]
    fn storage_defaults_to_sqlite_and_refuses_other_databases() {
        let mut p = Problems::default();
        assert_eq!(storage(None, &mut p), DEFAULT_STORAGE_URL);
        assert!(p.is_empty());
        let raw = RawStorage {
            url: "postgres://db".into(),
        };
        storage(Some(raw), &mut p);
        assert_eq!(
            p.into_vec(),
            ["storage.url: \"postgres://db\" is not supported (use \"sqlite://FILE\")"]
        );
    }
}

//! `listen` and `[storage]`: where the bot accepts requests and keeps its state.

use std::net::SocketAddr;

use super::Problems;
use crate::config::raw::RawStorage;
use crate::store::{redact_url, Backend};

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

/// Where health and metrics are served, if not on `listen`. Refused when it is the very
/// address `listen` binds (both could not be bound).
pub(super) fn metrics_listen(
    raw: Option<String>,
    listen: SocketAddr,
    p: &mut Problems,
) -> Option<SocketAddr> {
    let text = raw?;
    match text.parse::<SocketAddr>() {
        Ok(addr) if addr == listen && addr.port() != 0 => {
            p.push(format!(
                "metrics_listen: {text:?} is the address of listen; use another port"
            ));
            None
        }
        Ok(addr) => Some(addr),
        Err(_) => {
            p.push(format!(
                "metrics_listen: {text:?} is not an address like \"0.0.0.0:9090\""
            ));
            None
        }
    }
}

/// The store's URL: SQLite (the default) or PostgreSQL; anything else is refused here
/// rather than when the store is opened. Messages show the URL without its password.
pub(super) fn storage(raw: Option<RawStorage>, p: &mut Problems) -> String {
    let url = raw.map_or_else(|| DEFAULT_STORAGE_URL.into(), |s| s.url);
    match Backend::of_url(&url) {
        Some(Backend::Sqlite) => {}
        Some(Backend::Postgres) => {
            if url::Url::parse(&url).map_or(true, |u| u.host_str().is_none_or(str::is_empty)) {
                p.push(format!(
                    "storage.url: {:?} is not a PostgreSQL URL like \"postgres://USER@HOST:PORT/DB\"",
                    redact_url(&url)
                ));
            }
        }
        None => p.push(format!(
            "storage.url: {:?} is not supported (use \"sqlite://FILE\" or \
             \"postgres://USER@HOST:PORT/DB\")",
            redact_url(&url)
        )),
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
    fn metrics_listen_is_optional_and_refuses_a_non_address_or_the_listen_address() {
        let listen = SocketAddr::from(([127, 0, 0, 1], 3000));
        let mut p = Problems::default();
        assert_eq!(metrics_listen(None, listen, &mut p), None);
        assert_eq!(
            metrics_listen(Some("0.0.0.0:9090".into()), listen, &mut p),
            Some(SocketAddr::from(([0, 0, 0, 0], 9090)))
        );
        assert!(p.is_empty());
        assert_eq!(metrics_listen(Some("9090".into()), listen, &mut p), None);
        assert_eq!(
            metrics_listen(Some(DEFAULT_LISTEN.into()), listen, &mut p),
            None
        );
        assert_eq!(
            p.into_vec(),
            [
                "metrics_listen: \"9090\" is not an address like \"0.0.0.0:9090\"",
                "metrics_listen: \"127.0.0.1:3000\" is the address of listen; use another port",
            ]
        );
    }

    #[test]
    fn storage_defaults_to_sqlite_and_refuses_other_databases() {
        let mut p = Problems::default();
        assert_eq!(storage(None, &mut p), DEFAULT_STORAGE_URL);
        assert!(p.is_empty());
        let raw = RawStorage {
            url: "mysql://bot:secret@db/bot".into(),
        };
        storage(Some(raw), &mut p);
        assert_eq!(
            p.into_vec(),
            [
                "storage.url: \"mysql://bot:***@db/bot\" is not supported (use \"sqlite://FILE\" \
              or \"postgres://USER@HOST:PORT/DB\")"
            ]
        );
    }

    #[test]
    fn storage_accepts_postgres_urls_and_names_a_bad_one_without_its_password() {
        let mut p = Problems::default();
        for url in [
            "postgres://bot@127.0.0.1:5432/bot",
            "postgresql://bot:secret@db.example/bot?sslmode=require",
        ] {
            let raw = RawStorage { url: url.into() };
            assert_eq!(storage(Some(raw), &mut p), url);
        }
        assert!(p.is_empty(), "{:?}", p.into_vec());
        let raw = RawStorage {
            url: "postgres://:secret@/bot".into(),
        };
        storage(Some(raw), &mut p);
        let problems = p.into_vec();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("is not a PostgreSQL URL like"),
            "{problems:?}"
        );
        assert!(!problems[0].contains("secret"), "{problems:?}");
    }
}

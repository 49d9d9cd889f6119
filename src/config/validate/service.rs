//! `listen` and `[storage]`: where the bot accepts requests and keeps its state.

use std::net::SocketAddr;
use std::time::Duration;

use super::Problems;
use crate::config::raw::RawStorage;
use crate::store::{redact_url, Backend};

const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
const DEFAULT_STORAGE_URL: &str = "sqlite://usersync-bot.db";
/// Long enough for a database started beside the bot (a pod, a compose service) to come
/// up; short enough that a wrong address fails the start within a minute.
const DEFAULT_START_WAIT: Duration = Duration::from_secs(30);

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
/// With it, how long start-up waits for a store that is not there yet (`"0s"`: not at all).
pub(super) fn storage(raw: Option<RawStorage>, p: &mut Problems) -> (String, Duration) {
    let (url, start_wait) = raw.map_or((None, None), |s| (s.url, s.start_wait));
    let url = url.unwrap_or_else(|| DEFAULT_STORAGE_URL.into());
    let start_wait = match start_wait.as_deref().map(humantime::parse_duration) {
        None => DEFAULT_START_WAIT,
        Some(Ok(wait)) => wait,
        Some(Err(e)) => {
            p.push(format!(
                "storage.start_wait: {:?} is not a duration like \"30s\" or \"0s\" ({e})",
                start_wait.unwrap_or_default()
            ));
            DEFAULT_START_WAIT
        }
    };
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
    (url, start_wait)
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
        assert_eq!(
            storage(None, &mut p),
            (DEFAULT_STORAGE_URL.to_string(), DEFAULT_START_WAIT)
        );
        assert!(p.is_empty());
        let raw = RawStorage {
            url: Some("mysql://bot:secret@db/bot".into()),
            start_wait: None,
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
            let raw = RawStorage {
                url: Some(url.into()),
                start_wait: None,
            };
            assert_eq!(storage(Some(raw), &mut p).0, url);
        }
        assert!(p.is_empty(), "{:?}", p.into_vec());
        let raw = RawStorage {
            url: Some("postgres://:secret@/bot".into()),
            start_wait: None,
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

    #[test]
    fn start_wait_defaults_may_be_zero_and_refuses_a_non_duration() {
        let wait = |text: &str, p: &mut Problems| {
            let raw = RawStorage {
                url: None,
                start_wait: Some(text.into()),
            };
            storage(Some(raw), p).1
        };
        let mut p = Problems::default();
        assert_eq!(wait("2m", &mut p), Duration::from_secs(120));
        assert_eq!(wait("0s", &mut p), Duration::ZERO);
        assert!(p.is_empty());
        assert_eq!(wait("soon", &mut p), DEFAULT_START_WAIT);
        let problems = p.into_vec();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("storage.start_wait: \"soon\" is not a duration like \"30s\""),
            "{problems:?}"
        );
    }
}

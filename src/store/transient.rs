//! Failures that pass: a database that is down, starting, locked by another process or
//! out of room, told apart from one that is misconfigured. Start-up waits out the first
//! kind for `storage.start_wait` (a database started beside the bot comes up after it);
//! the second fails at once, since trying again cannot help.

use std::time::Duration;

use sqlx::migrate::MigrateError;

use super::StoreError;

/// The first pause between two tries; each further one doubles, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const MAX_PAUSE: Duration = Duration::from_secs(5);

impl StoreError {
    /// Whether the same call may succeed later without anyone changing the configuration.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unreachable { transient, .. } => *transient,
            StoreError::Database(e) => passes(e),
            StoreError::Migration(
                MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _),
            ) => passes(e),
            _ => false,
        }
    }
}

/// Transport trouble, a pool that could not get a connection in time, or a database code
/// that says "later": SQLite busy, locked, I/O or full; PostgreSQL's connection
/// exceptions (class 08), shutting down or starting up (57P01–57P03), out of resources
/// (class 53) or a lost race (40001, 40P01).
pub(super) fn passes(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => {
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                let primary = db
                    .code()
                    .and_then(|c| c.parse::<u32>().ok())
                    .map(|c| c & 0xff);
                // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL.
                matches!(primary, Some(5 | 6 | 10 | 13))
            } else if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                let code = pg.code();
                code.starts_with("08")
                    || code.starts_with("53")
                    || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
            } else {
                false
            }
        }
        _ => false,
    }
}

/// Runs `attempt` until it succeeds, fails in a way that does not pass, or `wait` is spent
/// (zero: one try). Each failed try is logged with the reason and the next pause; the
/// error returned is the last one, with how long it was tried.
pub async fn within<T, F, Fut>(wait: Duration, mut attempt: F) -> Result<T, Waited>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let started = tokio::time::Instant::now();
    let mut pause = FIRST_PAUSE;
    let mut tries = 1u32;
    loop {
        match attempt().await {
            Ok(done) => {
                if tries > 1 {
                    tracing::info!(tries, "the store answers");
                }
                return Ok(done);
            }
            Err(error) if error.is_transient() && started.elapsed() + pause <= wait => {
                tracing::warn!(
                    %error, tries, retry_in = ?pause,
                    "the store cannot be used yet; trying again (storage.start_wait)"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
                tries += 1;
            }
            Err(error) => {
                return Err(Waited {
                    error,
                    tries,
                    waited: started.elapsed(),
                })
            }
        }
    }
}

/// The store could not be opened: the last reason, after how many tries over how long.
#[derive(Debug, thiserror::Error)]
#[error("{error}{}", tried(*.tries, *.waited))]
pub struct Waited {
    #[source]
    pub error: StoreError,
    pub tries: u32,
    pub waited: Duration,
}

fn tried(tries: u32, waited: Duration) -> String {
    if tries < 2 {
        return String::new();
    }
    format!(
        " (still so after {tries} tries in {}s; storage.start_wait sets how long)",
        waited.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{open, Store};
    use std::sync::Arc;

    fn unreachable(transient: bool) -> StoreError {
        StoreError::Unreachable {
            target: "postgres://bot:***@db/bot".into(),
            reason: "refused".into(),
            transient,
        }
    }

    #[test]
    fn down_busy_and_timed_out_pass_while_a_wrong_url_or_schema_does_not() {
        assert!(unreachable(true).is_transient());
        assert!(!unreachable(false).is_transient());
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_transient());
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(StoreError::Database(sqlx::Error::Io(reset)).is_transient());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_transient());
        assert!(!StoreError::SchemaNewer(99).is_transient());
        assert!(!StoreError::UnsupportedUrl("mysql://db".into()).is_transient());
    }

    /// What start-up does: open, then write (a locked file still opens and reads).
    async fn opened_and_written(url: &str) -> Result<Arc<dyn Store>, StoreError> {
        let store = open(url).await?;
        store.bot_key("main", &"ab".repeat(32)).await?;
        Ok(store)
    }

    /// A store file, made, and a connection holding its write lock (as another process).
    async fn locked_file() -> (std::path::PathBuf, String, sqlx::SqliteConnection) {
        use sqlx::Connection;
        let dir = std::env::temp_dir().join(format!("usersync-bot-busy-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("bot.db").display());
        drop(open(&url).await.unwrap());
        let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut holder)
            .await
            .unwrap();
        (dir, url, holder)
    }

    #[tokio::test]
    async fn a_locked_sqlite_file_passes_and_is_waited_for_until_released() {
        let (dir, url, mut holder) = locked_file().await;
        // Held past one try (SQLite's own busy wait): the first try fails busy, a later
        // one opens once the lock is let go.
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(6)).await;
            sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
            holder
        });
        let opened = within(Duration::from_secs(30), || opened_and_written(&url)).await;
        let _holder = release.await.unwrap();
        let store = opened.expect("opened once the lock was released");
        store.ping().await.unwrap();
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn a_lock_held_past_the_wait_fails_with_the_reason_and_the_tries() {
        let (dir, url, mut holder) = locked_file().await;
        let Err(failed) = within(Duration::from_secs(1), || opened_and_written(&url)).await else {
            panic!("opened a file another process holds locked");
        };
        assert!(failed.error.is_transient(), "{failed:?}");
        let text = failed.to_string();
        assert!(text.contains("database is locked"), "{text}");
        assert!(failed.tries >= 1, "{failed:?}");
        sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
        std::fs::remove_dir_all(dir).ok();
    }
}

//! The SQLite backend (the default): one file, created on first start. Its queries are the
//! shared ones in [`super::sql`].

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};

use super::StoreError;

/// The schema, `migrations/sqlite/`.
pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a writer waits for the database lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        super::migrated(MIGRATOR.run(&pool).await)?;
        Ok(SqliteStore { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// The migrations applied to the file, read without changing it (none if it is not there).
pub(super) async fn applied_migrations(url: &str) -> Result<Vec<i64>, StoreError> {
    let options = SqliteConnectOptions::from_str(url)?;
    if !options.get_filename().exists() {
        return Ok(vec![]);
    }
    SqliteStore::applied_on(options.read_only(true).connect().await?).await
}

/// SQLite's clock and manners: one process, so no row locks to skip.
const SQLITE: super::sql::Dialect = super::sql::Dialect {
    now_ms: "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
    skip_locked: "",
    single_process: true,
};

super::sql::sql_store!(SqliteStore, sqlx::Sqlite, SQLITE);

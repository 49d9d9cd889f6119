//! The PostgreSQL backend: `postgres://USER@HOST:PORT/DB` (or `postgresql://`), with
//! libpq's URL parameters (`sslmode`, `password`, …) honoured by sqlx. The schema is in
//! `migrations/postgres/`, the twin of the SQLite one; the queries are the shared ones in
//! [`super::sql`].

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use super::{redact_url, StoreError};

/// How long opening the store waits for a connection before saying the database is
/// unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema, `migrations/postgres/`.
pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        // One connection first: the pool retries a refused connection until its timeout,
        // while a lone connection says at once why it cannot be made.
        let (options, first) = connect_once(url).await?;
        first.close().await.map_err(unreachable(url))?;
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(unreachable(url))?;
        super::migrated(MIGRATOR.run(&pool).await)?;
        Ok(PostgresStore { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// What a failed connection is reported as: where (without the password) and why.
fn unreachable(url: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| StoreError::Unreachable {
        target: redact_url(url),
        reason: super::scrub(&e.to_string(), url),
        transient: super::transient::passes(&e),
    }
}

/// One connection, within [`CONNECT_TIMEOUT`], and the options it was made with.
async fn connect_once(url: &str) -> Result<(PgConnectOptions, PgConnection), StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(unreachable(url))?;
    let conn = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
        .await
        .map_err(|_| StoreError::Unreachable {
            target: redact_url(url),
            reason: format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
            transient: true,
        })?
        .map_err(unreachable(url))?;
    Ok((options, conn))
}

/// The migrations applied to the database, read without changing it.
pub(super) async fn applied_migrations(url: &str) -> Result<Vec<i64>, StoreError> {
    PostgresStore::applied_on(connect_once(url).await?.1).await
}

/// PostgreSQL's clock, and row locks skipped by concurrent claims.
const POSTGRES: super::sql::Dialect = super::sql::Dialect {
    now_ms: "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    skip_locked: " FOR UPDATE SKIP LOCKED",
    single_process: false,
};

super::sql::sql_store!(PostgresStore, sqlx::Postgres, POSTGRES);

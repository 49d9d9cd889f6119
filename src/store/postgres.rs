//! The PostgreSQL backend: `postgres://USER@HOST:PORT/DB` (or `postgresql://`), with
//! libpq's URL parameters (`sslmode`, `password`, …) honoured by sqlx. The schema is in
//! `migrations/postgres/`, the twin of the SQLite one; the queries are the shared ones in
//! [`super::sql`].

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use super::{redact_url, StoreError};

/// How long opening the store waits for a connection before saying the database is
/// unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let unreachable = |e: sqlx::Error| StoreError::Unreachable {
            target: redact_url(url),
            reason: super::scrub(&e.to_string(), url),
        };
        let options = PgConnectOptions::from_str(url).map_err(unreachable)?;
        // One connection first: the pool retries a refused connection until its timeout,
        // while a lone connection says at once why it cannot be made.
        let first = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
            .await
            .map_err(|_| StoreError::Unreachable {
                target: redact_url(url),
                reason: format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
            })?;
        first
            .map_err(unreachable)?
            .close()
            .await
            .map_err(unreachable)?;
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(unreachable)?;
        super::migrated(sqlx::migrate!("./migrations/postgres").run(&pool).await)?;
        Ok(PostgresStore { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

super::sql::sql_store!(PostgresStore, sqlx::Postgres);

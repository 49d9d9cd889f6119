//! The SQLite backend (the default): one file, created on first start.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{platform_from, AuditEntry, Decision, Store, StoreError};
use crate::chat::Platform;

/// How long a writer waits for the database lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
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
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn record_audits(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for e in entries {
            sqlx::query(
                "INSERT INTO audit (at, platform, user_id, channel_id, command_text, decision, outcome) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(ts(e.at))
            .bind(e.platform.as_str())
            .bind(&e.user_id)
            .bind(&e.channel_id)
            .bind(&e.command_text)
            .bind(e.decision.as_str())
            .bind(&e.outcome)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, platform, user_id, channel_id, command_text, decision, outcome \
             FROM audit ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let at: String = r.try_get("at")?;
                Ok(AuditEntry {
                    at: DateTime::parse_from_rfc3339(&at)
                        .map(|t| t.with_timezone(&Utc))
                        .unwrap_or_default(),
                    platform: platform_from(r.try_get::<&str, _>("platform")?),
                    user_id: r.try_get("user_id")?,
                    channel_id: r.try_get("channel_id")?,
                    command_text: r.try_get("command_text")?,
                    decision: Decision::parse(r.try_get::<&str, _>("decision")?),
                    outcome: r.try_get("outcome")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn claim_delivery(
        &self,
        platform: Platform,
        trigger_id: &str,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO deliveries (platform, trigger_id, received_at) VALUES ($1, $2, $3) \
             ON CONFLICT (platform, trigger_id) DO NOTHING",
        )
        .bind(platform.as_str())
        .bind(trigger_id)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn forget_deliveries_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM deliveries WHERE received_at < $1")
            .bind(ts(before))
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (SqliteStore, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("usersync-bot-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.db");
        let s = SqliteStore::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        (s, dir)
    }

    #[tokio::test]
    async fn audit_rows_round_trip_newest_first() {
        let (s, dir) = store().await;
        let entry = |text: &str, decision| AuditEntry {
            at: Utc::now(),
            platform: Platform::Slack,
            user_id: "U1".into(),
            channel_id: "C1".into(),
            command_text: text.into(),
            decision,
            outcome: "ok".into(),
        };
        s.record_audits(&[
            entry("/usersync help", Decision::Allowed),
            entry("/usersync run x", Decision::Denied),
        ])
        .await
        .unwrap();
        let rows = s.recent_audit(10).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].command_text, "/usersync run x");
        assert_eq!(rows[0].decision, Decision::Denied);
        assert_eq!(rows[1].platform, Platform::Slack);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn a_delivery_is_claimed_once_and_can_be_forgotten() {
        let (s, dir) = store().await;
        assert!(s.claim_delivery(Platform::Slack, "t1").await.unwrap());
        assert!(!s.claim_delivery(Platform::Slack, "t1").await.unwrap());
        assert!(
            s.claim_delivery(Platform::Mattermost, "t1").await.unwrap(),
            "per platform"
        );
        let forgotten = s
            .forget_deliveries_before(Utc::now() + chrono::Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!(forgotten, 2);
        assert!(s.claim_delivery(Platform::Slack, "t1").await.unwrap());
        std::fs::remove_dir_all(dir).ok();
    }
}

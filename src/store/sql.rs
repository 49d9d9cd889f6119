//! The SQL shared by every backend, written once.
//!
//! Both backends keep the same tables, columns and row shapes (ids and integers as 64-bit
//! integers, flags as 0/1, timestamps as RFC 3339 TEXT, JSON as TEXT), and every query uses
//! `$N` placeholders and SQL that SQLite and PostgreSQL read alike (`ON CONFLICT … DO`,
//! `RETURNING id`, `LIMIT $N`). So the one implementation of [`Store`] below is stamped out
//! for each backend's concrete `sqlx` types by [`sql_store!`]:
//! `sql_store!(SqliteStore, sqlx::Sqlite)`, `sql_store!(PostgresStore, sqlx::Postgres)`.
//!
//! Why a macro rather than a generic `impl<DB: sqlx::Database> Store for SqlStore<DB>`: the
//! generic version needs a long list of higher-ranked bounds (executor, encode/decode of
//! every bound and read type, column index, `Send` futures through `async_trait`) that
//! says nothing about the store and breaks with each sqlx release; sqlx's `Any` driver
//! would lose the SQLite tuning (WAL, busy timeout) and typed connect options. The macro
//! expands the same source against concrete types, so the compiler checks each backend
//! fully, and a query changed here changes for both.

use chrono::{DateTime, SecondsFormat, Utc};

/// Audit rows in one INSERT at most (10 values each, well under SQLite's 32,766 and
/// PostgreSQL's 65,535 parameters).
pub(super) const AUDIT_ROWS_PER_INSERT: usize = 128;

/// Splits `items` into chunks whose sizes are powers of two, the largest first, none over
/// `max` (itself a power of two): 13 rows go in as 8 + 4 + 1.
pub(super) fn power_of_two_chunks<T>(mut items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if items.is_empty() {
            return None;
        }
        let size = (1usize << items.len().ilog2()).min(max);
        let (chunk, rest) = items.split_at(size);
        items = rest;
        Some(chunk)
    })
}

pub(super) const AUDIT_COLUMNS: &str = "at, platform, user_id, user_name, channel_id, \
    command_text, command, connector, decision, outcome";

pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(super) fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

pub(super) const JOB_COLUMNS: &str =
    "id, kind, platform, instance, connector_id, connector_name, subject, \
    channel_id, user_id, user_name, response_url, response_url_expires_at, response_posts, \
    baseline_sync_id, sync_id, local_run, state, last_status, progress_channel, progress_ts, \
    delivery, delivery_error, started_at, updated_at, finished_at";

pub(super) const REVISION_COLUMNS: &str =
    "id, instance, connector_id, connector_name, seq, seen_at, settings, fields, changed_by, \
    changed_by_name, announced";

/// The little that differs between the backends, handed to [`sql_store!`].
pub(super) struct Dialect {
    /// The database's clock, in milliseconds since the Unix epoch: every lease is timed by
    /// it, never by a replica's clock.
    pub(super) now_ms: &'static str,
    /// Ends the SELECT that picks the jobs a claim takes: rows another replica's claim has
    /// locked are skipped rather than waited for (PostgreSQL's `FOR UPDATE SKIP LOCKED`).
    pub(super) skip_locked: &'static str,
    /// Only one process uses the database (SQLite): at start it takes every lease, since
    /// whoever held them was this process before it restarted.
    pub(super) single_process: bool,
}

/// Which jobs are open: followed, or with an outcome still to deliver.
pub(super) const OPEN_JOB: &str = "(state = 'following' OR delivery IN ('pending', 'posting'))";

/// Milliseconds for a lease, as the database adds them to its clock.
pub(super) fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

/// The columns a job's update writes (`$1`..`$10`), by id (`$11`).
pub(super) const JOB_UPDATE: &str =
    "UPDATE jobs SET response_posts = $1, sync_id = $2, state = $3, \
    last_status = $4, progress_channel = $5, progress_ts = $6, delivery = $7, delivery_error = $8, \
    updated_at = $9, finished_at = $10 WHERE id = $11";

/// Implements [`Store`](super::Store) for `$store` (a struct with a `pool: sqlx::Pool<$db>`),
/// with the backend's [`Dialect`] `$dialect`.
macro_rules! sql_store {
    ($store:ty, $db:ty, $dialect:expr) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use sqlx::Row;

            use $crate::domain::Platform;
            use $crate::store::sql::{
                millis, parse_ts, power_of_two_chunks, ts, Dialect, AUDIT_COLUMNS, AUDIT_ROWS_PER_INSERT, JOB_COLUMNS,
                JOB_UPDATE, OPEN_JOB, REVISION_COLUMNS,
            };
            use $crate::store::revisions::{changed_fields, ADD_ATTEMPTS};
            use $crate::store::{
                platform_from, AuditEntry, AuditFilter, AuditPage, Claim, Decision, DeletionAlert, DeliveryClaim,
                Delivery, JobKind, JobRecord, JobState, LockRecord, NewRevision, PendingRecord,
                PendingState, PostIntent, PostMark, Revision, RevisionPage, Store, StoreError,
                Subscription,
            };

            const DIALECT: Dialect = $dialect;
            /// The database's clock, in milliseconds since the Unix epoch.
            const NOW: &str = DIALECT.now_ms;

        /// The binds of [`JOB_UPDATE`], `$1`..`$11`.
        fn bind_job_update<'q>(
            q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            job: &'q JobRecord,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
            q.bind(i64::from(job.response_posts))
                .bind(job.sync_id.map(|v| v as i64))
                .bind(job.state.as_str())
                .bind(job.last_status.as_ref().map(|v| v.to_string()))
                .bind(&job.progress_channel)
                .bind(&job.progress_ts)
                .bind(job.delivery.as_str())
                .bind(&job.delivery_error)
                .bind(ts(job.updated_at))
                .bind(job.finished_at.map(ts))
                .bind(job.id)
        }

        impl $store {
            /// Stores a new job, with its lease held by `(owner, lease ms)` when given.
            async fn insert_job_with(
                &self,
                job: &JobRecord,
                lease: Option<(&str, i64)>,
            ) -> Result<i64, StoreError> {
                let (lease_columns, lease_values) = match lease {
                    Some(_) => (
                        ", lease_owner, lease_expires_ms".to_string(),
                        format!(", $25, {NOW} + $26"),
                    ),
                    None => (String::new(), String::new()),
                };
                let sql = format!(
                    "INSERT INTO jobs (kind, platform, instance, connector_id, connector_name, subject, \
                     channel_id, user_id, user_name, response_url, response_url_expires_at, response_posts, \
                     baseline_sync_id, sync_id, local_run, state, last_status, progress_channel, progress_ts, \
                     delivery, delivery_error, started_at, updated_at, finished_at{lease_columns}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
                     $19, $20, $21, $22, $23, $24{lease_values}) RETURNING id"
                );
                let mut insert = sqlx::query_scalar(&sql)
                    .bind(job.kind.as_str())
                    .bind(job.platform.as_str())
                    .bind(&job.instance)
                    .bind(&job.connector_id)
                    .bind(&job.connector_name)
                    .bind(&job.subject)
                    .bind(&job.channel_id)
                    .bind(&job.user_id)
                    .bind(&job.user_name)
                    .bind(&job.response_url)
                    .bind(job.response_url_expires_at.map(ts))
                    .bind(i64::from(job.response_posts))
                    .bind(job.baseline_sync_id.map(|v| v as i64))
                    .bind(job.sync_id.map(|v| v as i64))
                    .bind(i64::from(job.local))
                    .bind(job.state.as_str())
                    .bind(job.last_status.as_ref().map(|v| v.to_string()))
                    .bind(&job.progress_channel)
                    .bind(&job.progress_ts)
                    .bind(job.delivery.as_str())
                    .bind(&job.delivery_error)
                    .bind(ts(job.started_at))
                    .bind(ts(job.updated_at))
                    .bind(job.finished_at.map(ts));
                if let Some((owner, ms)) = lease {
                    insert = insert.bind(owner.to_string()).bind(ms);
                }
                let id: i64 = insert.fetch_one(&self.pool).await?;
                Ok(id)
            }

            /// The migrations applied, read on a connection of its own (closed after).
            pub(super) async fn applied_on(
                mut conn: <$db as sqlx::Database>::Connection,
            ) -> Result<Vec<i64>, StoreError> {
                let read = sqlx::query_scalar($crate::store::APPLIED_VERSIONS)
                    .fetch_all(&mut conn)
                    .await;
                sqlx::Connection::close(conn).await.ok();
                $crate::store::applied_versions(read)
            }
        }

        fn audit_from_row(r: &<$db as sqlx::Database>::Row) -> Result<AuditEntry, sqlx::Error> {
            Ok(AuditEntry {
                at: parse_ts(r.try_get::<&str, _>("at")?),
                platform: platform_from(r.try_get::<&str, _>("platform")?),
                user_id: r.try_get("user_id")?,
                user_name: r.try_get("user_name")?,
                channel_id: r.try_get("channel_id")?,
                command_text: r.try_get("command_text")?,
                command: r.try_get("command")?,
                connector: r.try_get("connector")?,
                decision: Decision::parse(r.try_get::<&str, _>("decision")?),
                outcome: r.try_get("outcome")?,
            })
        }

        /// ` AND …` for each field of the filter that is set.
        fn push_audit_filter(q: &mut sqlx::QueryBuilder<'_, $db>, filter: &AuditFilter) {
            if let Some(user) = &filter.user {
                let user = user.strip_prefix('@').unwrap_or(user).to_string();
                q.push(" AND (user_id = ")
                    .push_bind(user.clone())
                    .push(" OR (platform || ':' || user_id) = ")
                    .push_bind(user.clone())
                    .push(" OR LOWER(user_name) = LOWER(")
                    .push_bind(user)
                    .push("))");
            }
            if let Some(connector) = &filter.connector {
                q.push(" AND LOWER(connector) = LOWER(")
                    .push_bind(connector.clone())
                    .push(")");
            }
            if let Some(command) = &filter.command {
                q.push(" AND command = ").push_bind(command.clone());
            }
        }

        fn job_from_row(r: &<$db as sqlx::Database>::Row) -> Result<JobRecord, sqlx::Error> {
            let opt_ts = |name: &str| -> Result<Option<DateTime<Utc>>, sqlx::Error> {
                Ok(r.try_get::<Option<String>, _>(name)?.map(|s| parse_ts(&s)))
            };
            let opt_u64 = |name: &str| -> Result<Option<u64>, sqlx::Error> {
                Ok(r.try_get::<Option<i64>, _>(name)?.map(|v| v as u64))
            };
            Ok(JobRecord {
                id: r.try_get("id")?,
                kind: if r.try_get::<&str, _>("kind")? == "user" {
                    JobKind::User
                } else {
                    JobKind::Sync
                },
                platform: platform_from(r.try_get::<&str, _>("platform")?),
                instance: r.try_get("instance")?,
                connector_id: r.try_get("connector_id")?,
                connector_name: r.try_get("connector_name")?,
                subject: r.try_get("subject")?,
                channel_id: r.try_get("channel_id")?,
                user_id: r.try_get("user_id")?,
                user_name: r.try_get("user_name")?,
                response_url: r.try_get("response_url")?,
                response_url_expires_at: opt_ts("response_url_expires_at")?,
                response_posts: r.try_get::<i64, _>("response_posts")? as u32,
                baseline_sync_id: opt_u64("baseline_sync_id")?,
                sync_id: opt_u64("sync_id")?,
                local: r.try_get::<i64, _>("local_run")? != 0,
                state: JobState::parse(r.try_get::<&str, _>("state")?),
                last_status: r
                    .try_get::<Option<String>, _>("last_status")?
                    .and_then(|s| serde_json::from_str(&s).ok()),
                progress_channel: r.try_get("progress_channel")?,
                progress_ts: r.try_get("progress_ts")?,
                delivery: Delivery::parse(r.try_get::<&str, _>("delivery")?),
                delivery_error: r.try_get("delivery_error")?,
                started_at: parse_ts(r.try_get::<&str, _>("started_at")?),
                updated_at: parse_ts(r.try_get::<&str, _>("updated_at")?),
                finished_at: opt_ts("finished_at")?,
            })
        }

        fn revision_from_row(r: &<$db as sqlx::Database>::Row) -> Result<Revision, sqlx::Error> {
            let settings: String = r.try_get("settings")?;
            let fields: String = r.try_get("fields")?;
            Ok(Revision {
                id: r.try_get("id")?,
                instance: r.try_get("instance")?,
                connector_id: r.try_get("connector_id")?,
                connector_name: r.try_get("connector_name")?,
                seq: r.try_get::<i64, _>("seq")? as u64,
                seen_at: parse_ts(r.try_get::<&str, _>("seen_at")?),
                settings: serde_json::from_str(&settings).unwrap_or_default(),
                fields: serde_json::from_str(&fields).unwrap_or_default(),
                changed_by: r.try_get("changed_by")?,
                changed_by_name: r.try_get("changed_by_name")?,
                announced: r.try_get::<i64, _>("announced")? != 0,
            })
        }

        #[async_trait::async_trait]
        impl Store for $store {
            async fn ping(&self) -> Result<(), StoreError> {
                // A read: a write probe on every probe would contend for SQLite's one
                // write lock (and one cut short by the probe's timeout holds it). A store
                // that answers but cannot take writes is told by the audit writer.
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn record_audits(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
                // Many rows per statement: one round trip per chunk, not per row. Chunks
                // are powers of two, so that a handful of statements cover every batch
                // size and each is prepared once and then served from the connection's
                // statement cache (measured: preparing a statement of a new size for
                // every batch was a good part of the audit's cost).
                let mut tx = self.pool.begin().await?;
                for chunk in power_of_two_chunks(entries, AUDIT_ROWS_PER_INSERT) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(format!(
                        "INSERT INTO audit ({AUDIT_COLUMNS}) "
                    ));
                    insert.push_values(chunk, |mut row, e| {
                        row.push_bind(ts(e.at))
                            .push_bind(e.platform.as_str())
                            .push_bind(&e.user_id)
                            .push_bind(&e.user_name)
                            .push_bind(&e.channel_id)
                            .push_bind(&e.command_text)
                            .push_bind(&e.command)
                            .push_bind(&e.connector)
                            .push_bind(e.decision.as_str())
                            .push_bind(&e.outcome);
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
                Ok(self.audit_rows(&AuditFilter::default(), limit).await?.rows)
            }

            async fn audit_rows(
                &self,
                filter: &AuditFilter,
                limit: u32,
            ) -> Result<AuditPage, StoreError> {
                let mut select = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT id, {AUDIT_COLUMNS} FROM audit WHERE 1 = 1"
                ));
                push_audit_filter(&mut select, filter);
                select.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(limit));
                let found = select.build().fetch_all(&self.pool).await?;
                // "More" are the matching rows older than the oldest one shown: rows
                // written meanwhile are newer, so they do not make the count wrong.
                let oldest = match found.last() {
                    Some(r) => Some(r.try_get::<i64, _>("id")?),
                    None => None,
                };
                let more = if (found.len() as u64) < u64::from(limit) {
                    0
                } else {
                    let mut count =
                        sqlx::QueryBuilder::<$db>::new("SELECT COUNT(*) FROM audit WHERE 1 = 1");
                    push_audit_filter(&mut count, filter);
                    if let Some(id) = oldest {
                        count.push(" AND id < ").push_bind(id);
                    }
                    count.build_query_scalar::<i64>().fetch_one(&self.pool).await? as u64
                };
                let rows = found
                    .iter()
                    .map(audit_from_row)
                    .collect::<Result<Vec<_>, sqlx::Error>>()?;
                Ok(AuditPage { rows, more })
            }

            async fn claim_delivery(
                &self,
                platform: Platform,
                trigger_id: &str,
                by: &str,
            ) -> Result<bool, StoreError> {
                let result = sqlx::query(
                    "INSERT INTO deliveries (platform, trigger_id, received_at, claimed_by) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (platform, trigger_id) DO NOTHING",
                )
                .bind(platform.as_str())
                .bind(trigger_id)
                .bind(ts(Utc::now()))
                .bind(by)
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn record_delivery_answer(
                &self,
                platform: Platform,
                trigger_id: &str,
                answer: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE deliveries SET answer = $3 WHERE platform = $1 AND trigger_id = $2",
                )
                .bind(platform.as_str())
                .bind(trigger_id)
                .bind(answer)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn delivery_answer(
                &self,
                platform: Platform,
                trigger_id: &str,
            ) -> Result<Option<DeliveryClaim>, StoreError> {
                let row: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT received_at, claimed_by, answer FROM deliveries \
                     WHERE platform = $1 AND trigger_id = $2",
                )
                .bind(platform.as_str())
                .bind(trigger_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(at, claimed_by, answer)| DeliveryClaim {
                    received_at: parse_ts(&at),
                    claimed_by,
                    answer,
                }))
            }

            async fn beat(&self, owner: &str, ttl: std::time::Duration) -> Result<(), StoreError> {
                let sql = format!(
                    "INSERT INTO replicas (owner, alive_until_ms) VALUES ($1, {NOW} + $2) \
                     ON CONFLICT (owner) DO UPDATE SET alive_until_ms = excluded.alive_until_ms"
                );
                sqlx::query(&sql).bind(owner).bind(millis(ttl)).execute(&self.pool).await?;
                let forget = format!("DELETE FROM replicas WHERE alive_until_ms < {NOW} - 86400000");
                sqlx::query(&forget).execute(&self.pool).await?;
                Ok(())
            }

            async fn alive(&self, owner: &str) -> Result<bool, StoreError> {
                let sql = format!(
                    "SELECT COUNT(*) FROM replicas WHERE owner = $1 AND alive_until_ms > {NOW}"
                );
                let (n,): (i64,) = sqlx::query_as(&sql).bind(owner).fetch_one(&self.pool).await?;
                Ok(n > 0)
            }

            async fn leave(&self, owner: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM replicas WHERE owner = $1")
                    .bind(owner)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn forget_deliveries_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
                let result = sqlx::query("DELETE FROM deliveries WHERE received_at < $1")
                    .bind(ts(before))
                    .execute(&self.pool)
                    .await?;
                Ok(result.rows_affected())
            }

            async fn begin_post(&self, intent: &PostIntent<'_>) -> Result<PostMark, StoreError> {
                let inserted = sqlx::query(
                    "INSERT INTO chat_posts (id, platform, channel_id, findable, state, started_at) \
                     VALUES ($1, $2, $3, $4, 'in_flight', $5) ON CONFLICT (id) DO NOTHING",
                )
                .bind(intent.id)
                .bind(intent.platform.as_str())
                .bind(intent.channel_id)
                .bind(i64::from(intent.findable))
                .bind(ts(Utc::now()))
                .execute(&self.pool)
                .await?;
                if inserted.rows_affected() == 1 {
                    return Ok(PostMark::New);
                }
                let row = sqlx::query("SELECT state, started_at, findable FROM chat_posts WHERE id = $1")
                    .bind(intent.id)
                    .fetch_one(&self.pool)
                    .await?;
                let state: String = row.try_get(0)?;
                if state == "posted" {
                    return Ok(PostMark::Posted);
                }
                let since: String = row.try_get(1)?;
                let findable: i64 = row.try_get(2)?;
                Ok(PostMark::InFlight { since: parse_ts(&since), findable: findable != 0 })
            }

            async fn finish_post(&self, id: &str, post_id: Option<&str>) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE chat_posts SET state = 'posted', post_id = $1, posted_at = $2 WHERE id = $3",
                )
                .bind(post_id)
                .bind(ts(Utc::now()))
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn forget_posts_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
                let result = sqlx::query("DELETE FROM chat_posts WHERE started_at < $1")
                    .bind(ts(before))
                    .execute(&self.pool)
                    .await?;
                Ok(result.rows_affected())
            }

            async fn insert_job(&self, job: &JobRecord) -> Result<i64, StoreError> {
                self.insert_job_with(job, None).await
            }

            async fn update_job(&self, job: &JobRecord) -> Result<(), StoreError> {
                bind_job_update(sqlx::query(JOB_UPDATE), job)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn open_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE {OPEN_JOB} ORDER BY id"
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(job_from_row)
                    .collect::<Result<_, _>>()
                    .map_err(StoreError::from)
            }

            async fn insert_leased_job(
                &self,
                job: &JobRecord,
                owner: &str,
                lease: std::time::Duration,
            ) -> Result<i64, StoreError> {
                self.insert_job_with(job, Some((owner, millis(lease)))).await
            }

            async fn claim_jobs(
                &self,
                owner: &str,
                lease: std::time::Duration,
                claim: Claim,
            ) -> Result<Vec<JobRecord>, StoreError> {
                let take_all = claim == Claim::AtStart && DIALECT.single_process;
                // The outer condition repeats the inner one: a row another claim took
                // between the two is left alone, whatever the isolation level.
                let free = format!(
                    "(lease_owner IS NULL OR lease_expires_ms IS NULL OR lease_expires_ms < {NOW} \
                     OR ($3 AND lease_owner <> $1))"
                );
                let sql = format!(
                    "UPDATE jobs SET lease_owner = $1, lease_expires_ms = {NOW} + $2 \
                     WHERE id IN (SELECT id FROM jobs WHERE {OPEN_JOB} AND {free} ORDER BY id{skip}) \
                     AND {OPEN_JOB} AND {free} RETURNING {JOB_COLUMNS}",
                    skip = DIALECT.skip_locked,
                );
                let rows = sqlx::query(&sql)
                    .bind(owner)
                    .bind(millis(lease))
                    .bind(take_all)
                    .fetch_all(&self.pool)
                    .await?;
                let mut jobs = rows
                    .iter()
                    .map(job_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                jobs.sort_by_key(|j| j.id);
                Ok(jobs)
            }

            async fn renew_job_leases(
                &self,
                owner: &str,
                ids: &[i64],
                lease: std::time::Duration,
            ) -> Result<Vec<i64>, StoreError> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::<$db>::new(format!(
                    "UPDATE jobs SET lease_expires_ms = {NOW} + "
                ));
                q.push_bind(millis(lease))
                    .push(" WHERE lease_owner = ")
                    .push_bind(owner.to_string())
                    .push(format!(" AND {OPEN_JOB} AND id IN ("));
                let mut list = q.separated(", ");
                for id in ids {
                    list.push_bind(*id);
                }
                q.push(") RETURNING id");
                let mut held: Vec<i64> = q.build_query_scalar().fetch_all(&self.pool).await?;
                held.sort_unstable();
                Ok(held)
            }

            async fn release_job_leases(&self, owner: &str, keep: &[i64]) -> Result<u64, StoreError> {
                let mut q = sqlx::QueryBuilder::<$db>::new(format!(
                    "UPDATE jobs SET lease_expires_ms = {NOW} - 1 WHERE lease_expires_ms >= {NOW} \
                     AND lease_owner = "
                ));
                q.push_bind(owner.to_string());
                if !keep.is_empty() {
                    q.push(" AND id NOT IN (");
                    let mut list = q.separated(", ");
                    for id in keep {
                        list.push_bind(*id);
                    }
                    q.push(")");
                }
                Ok(q.build().execute(&self.pool).await?.rows_affected())
            }

            async fn update_leased_job(
                &self,
                job: &JobRecord,
                owner: &str,
                valid_for: std::time::Duration,
            ) -> Result<bool, StoreError> {
                let sql = format!(
                    "{JOB_UPDATE} AND lease_owner = $12 AND lease_expires_ms > {NOW} + $13"
                );
                let written = bind_job_update(sqlx::query(&sql), job)
                    .bind(owner)
                    .bind(millis(valid_for))
                    .execute(&self.pool)
                    .await?;
                Ok(written.rows_affected() == 1)
            }

            async fn acquire_lease(
                &self,
                name: &str,
                owner: &str,
                lease: std::time::Duration,
                claim: Claim,
            ) -> Result<Option<i64>, StoreError> {
                let take_all = claim == Claim::AtStart && DIALECT.single_process;
                // A lease taken by another owner, or taken again after it expired, gets
                // the next fencing number; one renewed in time keeps its number.
                let sql = format!(
                    "INSERT INTO leases (name, owner, fence, expires_ms) VALUES ($1, $2, 1, {NOW} + $3) \
                     ON CONFLICT (name) DO UPDATE SET \
                     fence = CASE WHEN leases.owner = excluded.owner AND leases.expires_ms >= {NOW} \
                     THEN leases.fence ELSE leases.fence + 1 END, \
                     owner = excluded.owner, expires_ms = excluded.expires_ms \
                     WHERE leases.owner = excluded.owner OR leases.expires_ms < {NOW} OR $4 \
                     RETURNING fence"
                );
                Ok(sqlx::query_scalar(&sql)
                    .bind(name)
                    .bind(owner)
                    .bind(millis(lease))
                    .bind(take_all)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn lease_held(
                &self,
                name: &str,
                owner: &str,
                fence: i64,
                valid_for: std::time::Duration,
            ) -> Result<bool, StoreError> {
                let sql = format!(
                    "SELECT COUNT(*) FROM leases WHERE name = $1 AND owner = $2 AND fence = $3 \
                     AND expires_ms > {NOW} + $4"
                );
                let n: i64 = sqlx::query_scalar(&sql)
                    .bind(name)
                    .bind(owner)
                    .bind(fence)
                    .bind(millis(valid_for))
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n == 1)
            }

            async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
                let sql = format!(
                    "UPDATE leases SET expires_ms = {NOW} - 1 WHERE name = $1 AND owner = $2"
                );
                sqlx::query(&sql).bind(name).bind(owner).execute(&self.pool).await?;
                Ok(())
            }

            async fn recent_jobs(&self, limit: u32) -> Result<Vec<JobRecord>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT $1"
                ))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(job_from_row)
                    .collect::<Result<_, _>>()
                    .map_err(StoreError::from)
            }

            async fn subscribe(&self, s: &Subscription) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO subscriptions (platform, channel_id, instance, connector, connector_name, \
                     failures_only, max_deleted, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (platform, channel_id, instance, connector) DO UPDATE SET \
                     connector_name = excluded.connector_name, failures_only = excluded.failures_only, \
                     max_deleted = excluded.max_deleted, created_by = excluded.created_by, \
                     created_at = excluded.created_at",
                )
                .bind(s.platform.as_str())
                .bind(&s.channel_id)
                .bind(&s.instance)
                .bind(&s.connector)
                .bind(&s.connector_name)
                .bind(i64::from(s.failures_only))
                .bind(s.max_deleted.map(|v| v as i64))
                .bind(&s.created_by)
                .bind(ts(s.created_at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn unsubscribe(
                &self,
                platform: Platform,
                channel_id: &str,
                instance: &str,
                connector: &str,
            ) -> Result<bool, StoreError> {
                let r = sqlx::query(
                    "DELETE FROM subscriptions WHERE platform = $1 AND channel_id = $2 AND instance = $3 \
                     AND connector = $4",
                )
                .bind(platform.as_str())
                .bind(channel_id)
                .bind(instance)
                .bind(connector)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, platform, channel_id, instance, connector, connector_name, failures_only, \
                     max_deleted, created_by, created_at FROM subscriptions ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(Subscription {
                            id: r.try_get("id")?,
                            platform: platform_from(r.try_get::<&str, _>("platform")?),
                            channel_id: r.try_get("channel_id")?,
                            instance: r.try_get("instance")?,
                            connector: r.try_get("connector")?,
                            connector_name: r.try_get("connector_name")?,
                            failures_only: r.try_get::<i64, _>("failures_only")? != 0,
                            max_deleted: r
                                .try_get::<Option<i64>, _>("max_deleted")?
                                .map(|v| v as u64),
                            created_by: r.try_get("created_by")?,
                            created_at: parse_ts(r.try_get::<&str, _>("created_at")?),
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(StoreError::from)
            }

            async fn add_revision(&self, new: &NewRevision) -> Result<Option<Revision>, StoreError> {
                for _ in 0..ADD_ATTEMPTS {
                    let newest = sqlx::query(
                        "SELECT seq, settings FROM connector_revisions \
                         WHERE instance = $1 AND connector_id = $2 ORDER BY seq DESC LIMIT 1",
                    )
                    .bind(&new.instance)
                    .bind(&new.connector_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    let (seq, fields) = match newest {
                        None => (1, Vec::new()),
                        Some(r) => {
                            let settings: String = r.try_get("settings")?;
                            let before: serde_json::Value =
                                serde_json::from_str(&settings).unwrap_or_default();
                            if before == new.settings {
                                return Ok(None);
                            }
                            let seq: i64 = r.try_get("seq")?;
                            (seq as u64 + 1, changed_fields(&before, &new.settings))
                        }
                    };
                    let seen_at = parse_ts(&ts(new.seen_at));
                    let announced = seq == 1;
                    // A concurrent writer that took this seq first makes this insert do
                    // nothing: read the newest again and decide anew.
                    let id: Option<i64> = sqlx::query_scalar(
                        "INSERT INTO connector_revisions (instance, connector_id, connector_name, seq, \
                         seen_at, settings, fields, changed_by, changed_by_name, announced) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                         ON CONFLICT (instance, connector_id, seq) DO NOTHING RETURNING id",
                    )
                    .bind(&new.instance)
                    .bind(&new.connector_id)
                    .bind(&new.connector_name)
                    .bind(seq as i64)
                    .bind(ts(seen_at))
                    .bind(new.settings.to_string())
                    .bind(serde_json::Value::from(fields.clone()).to_string())
                    .bind(&new.changed_by)
                    .bind(&new.changed_by_name)
                    .bind(i64::from(announced))
                    .fetch_optional(&self.pool)
                    .await?;
                    if let Some(id) = id {
                        return Ok(Some(Revision {
                            id,
                            instance: new.instance.clone(),
                            connector_id: new.connector_id.clone(),
                            connector_name: new.connector_name.clone(),
                            seq,
                            seen_at,
                            settings: new.settings.clone(),
                            fields,
                            changed_by: new.changed_by.clone(),
                            changed_by_name: new.changed_by_name.clone(),
                            announced,
                        }));
                    }
                }
                Err(StoreError::Database(sqlx::Error::Protocol(format!(
                    "no revision added: {ADD_ATTEMPTS} attempts lost to concurrent writers"
                ))))
            }

            async fn revisions(
                &self,
                instance: &str,
                connector_id: &str,
                limit: u32,
            ) -> Result<RevisionPage, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {REVISION_COLUMNS} FROM connector_revisions \
                     WHERE instance = $1 AND connector_id = $2 ORDER BY seq DESC LIMIT $3"
                ))
                .bind(instance)
                .bind(connector_id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                let total: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM connector_revisions WHERE instance = $1 AND connector_id = $2",
                )
                .bind(instance)
                .bind(connector_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(RevisionPage {
                    newest: rows
                        .iter()
                        .map(revision_from_row)
                        .collect::<Result<_, _>>()?,
                    total: total as u64,
                })
            }

            async fn revision(
                &self,
                instance: &str,
                connector_id: &str,
                seq: u64,
            ) -> Result<Option<Revision>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {REVISION_COLUMNS} FROM connector_revisions \
                     WHERE instance = $1 AND connector_id = $2 AND seq = $3"
                ))
                .bind(instance)
                .bind(connector_id)
                .bind(seq as i64)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.as_ref().map(revision_from_row).transpose()?)
            }

            async fn unannounced_revisions(&self, instance: &str) -> Result<Vec<Revision>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {REVISION_COLUMNS} FROM connector_revisions \
                     WHERE announced = 0 AND instance = $1 ORDER BY id"
                ))
                .bind(instance)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(revision_from_row)
                    .collect::<Result<_, _>>()
                    .map_err(StoreError::from)
            }

            async fn mark_revision_announced(&self, id: i64) -> Result<(), StoreError> {
                sqlx::query("UPDATE connector_revisions SET announced = 1 WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn handled_sync(
                &self,
                instance: &str,
                connector_id: &str,
            ) -> Result<Option<u64>, StoreError> {
                let id: Option<i64> = sqlx::query_scalar(
                    "SELECT handled_id FROM watch_state WHERE instance = $1 AND connector_id = $2",
                )
                .bind(instance)
                .bind(connector_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(id.map(|v| v as u64))
            }

            async fn set_handled_sync(
                &self,
                instance: &str,
                connector_id: &str,
                id: u64,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO watch_state (instance, connector_id, handled_id, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (instance, connector_id) DO UPDATE SET handled_id = excluded.handled_id, \
                     updated_at = excluded.updated_at",
                )
                .bind(instance)
                .bind(connector_id)
                .bind(id as i64)
                .bind(ts(Utc::now()))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn announced(
                &self,
                platform: Platform,
                channel_id: &str,
                instance: &str,
                connector_id: &str,
            ) -> Result<Option<u64>, StoreError> {
                let id: Option<i64> = sqlx::query_scalar(
                    "SELECT last_sync_id FROM announcements WHERE platform = $1 AND channel_id = $2 \
                     AND instance = $3 AND connector_id = $4",
                )
                .bind(platform.as_str())
                .bind(channel_id)
                .bind(instance)
                .bind(connector_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(id.map(|v| v as u64))
            }

            async fn set_announced(
                &self,
                platform: Platform,
                channel_id: &str,
                instance: &str,
                connector_id: &str,
                sync_id: u64,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO announcements (platform, channel_id, instance, connector_id, last_sync_id, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (platform, channel_id, instance, connector_id) DO UPDATE SET \
                     last_sync_id = excluded.last_sync_id, updated_at = excluded.updated_at",
                )
                .bind(platform.as_str())
                .bind(channel_id)
                .bind(instance)
                .bind(connector_id)
                .bind(sync_id as i64)
                .bind(ts(Utc::now()))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn outage(&self, instance: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
                let since: Option<String> =
                    sqlx::query_scalar("SELECT down_since FROM outages WHERE instance = $1")
                        .bind(instance)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(since.map(|s| parse_ts(&s)))
            }

            async fn set_outage(
                &self,
                instance: &str,
                since: Option<DateTime<Utc>>,
            ) -> Result<(), StoreError> {
                match since {
                    Some(t) => {
                        sqlx::query(
                            "INSERT INTO outages (instance, down_since) VALUES ($1, $2) \
                             ON CONFLICT (instance) DO UPDATE SET down_since = excluded.down_since",
                        )
                        .bind(instance)
                        .bind(ts(t))
                        .execute(&self.pool)
                        .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM outages WHERE instance = $1")
                            .bind(instance)
                            .execute(&self.pool)
                            .await?;
                    }
                }
                Ok(())
            }

            async fn take_lock(&self, lock: &LockRecord, take_over: bool) -> Result<bool, StoreError> {
                // One statement: two people locking at once cannot both win.
                let result = sqlx::query(
                    "INSERT INTO locks (instance, connector_id, connector_name, owner_platform, \
                     owner_id, owner_name, reason, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (instance, connector_id) DO UPDATE SET \
                     connector_name = excluded.connector_name, owner_platform = excluded.owner_platform, \
                     owner_id = excluded.owner_id, owner_name = excluded.owner_name, \
                     reason = excluded.reason, created_at = excluded.created_at, \
                     expires_at = excluded.expires_at \
                     WHERE locks.expires_at <= excluded.created_at \
                     OR (locks.owner_platform = excluded.owner_platform AND locks.owner_id = excluded.owner_id) \
                     OR $10 = 1",
                )
                .bind(&lock.instance)
                .bind(&lock.connector_id)
                .bind(&lock.connector_name)
                .bind(lock.owner.platform.as_str())
                .bind(&lock.owner.id)
                .bind(&lock.owner_name)
                .bind(&lock.reason)
                .bind(ts(lock.created_at))
                .bind(ts(lock.expires_at))
                .bind(i64::from(take_over))
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn locks(&self, now: DateTime<Utc>) -> Result<Vec<LockRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT instance, connector_id, connector_name, owner_platform, owner_id, \
                     owner_name, reason, created_at, expires_at FROM locks \
                     WHERE expires_at > $1 ORDER BY created_at, instance, connector_id",
                )
                .bind(ts(now))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(LockRecord {
                            instance: r.try_get("instance")?,
                            connector_id: r.try_get("connector_id")?,
                            connector_name: r.try_get("connector_name")?,
                            owner: $crate::domain::Principal::new(
                                platform_from(r.try_get::<&str, _>("owner_platform")?),
                                r.try_get::<String, _>("owner_id")?,
                            ),
                            owner_name: r.try_get("owner_name")?,
                            reason: r.try_get("reason")?,
                            created_at: parse_ts(r.try_get::<&str, _>("created_at")?),
                            expires_at: parse_ts(r.try_get::<&str, _>("expires_at")?),
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(StoreError::from)
            }

            async fn remove_lock(&self, instance: &str, connector_id: &str) -> Result<bool, StoreError> {
                let result = sqlx::query("DELETE FROM locks WHERE instance = $1 AND connector_id = $2")
                    .bind(instance)
                    .bind(connector_id)
                    .execute(&self.pool)
                    .await?;
                Ok(result.rows_affected() > 0)
            }

            async fn claim_protected_alert(
                &self,
                channel: &$crate::domain::Principal,
                instance: &str,
                sync_id: u64,
            ) -> Result<bool, StoreError> {
                let result = sqlx::query(
                    "INSERT INTO protected_alerts (platform, channel_id, instance, sync_id, alerted_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (platform, channel_id, instance, sync_id) DO NOTHING",
                )
                .bind(channel.platform.as_str())
                .bind(&channel.id)
                .bind(instance)
                .bind(sync_id as i64)
                .bind(ts(Utc::now()))
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn release_protected_alert(
                &self,
                channel: &$crate::domain::Principal,
                instance: &str,
                sync_id: u64,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "DELETE FROM protected_alerts WHERE platform = $1 AND channel_id = $2 \
                     AND instance = $3 AND sync_id = $4",
                )
                .bind(channel.platform.as_str())
                .bind(&channel.id)
                .bind(instance)
                .bind(sync_id as i64)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn bot_key(&self, name: &str, fresh: &str) -> Result<String, StoreError> {
                sqlx::query(
                    "INSERT INTO bot_keys (name, key_hex, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(fresh)
                .bind(ts(Utc::now()))
                .execute(&self.pool)
                .await?;
                Ok(sqlx::query_scalar("SELECT key_hex FROM bot_keys WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn insert_pending(&self, p: &PendingRecord) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO confirmations (id, platform, user_id, user_name, channel_id, \
                     command_text, instance, connector_id, connector_name, operation, fingerprint, \
                     created_at, expires_at, state, settled_by, settled_at, settled_replica) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                )
                .bind(&p.id)
                .bind(p.platform.as_str())
                .bind(&p.user_id)
                .bind(&p.user_name)
                .bind(&p.channel_id)
                .bind(&p.command_text)
                .bind(&p.instance)
                .bind(&p.connector_id)
                .bind(&p.connector_name)
                .bind(p.operation.to_string())
                .bind(&p.fingerprint)
                .bind(ts(p.created_at))
                .bind(ts(p.expires_at))
                .bind(p.state.as_str())
                .bind(&p.settled_by)
                .bind(p.settled_at.map(ts))
                .bind(&p.settled_replica)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn pending(&self, id: &str) -> Result<Option<PendingRecord>, StoreError> {
                let row = sqlx::query(
                    "SELECT id, platform, user_id, user_name, channel_id, command_text, instance, \
                     connector_id, connector_name, operation, fingerprint, created_at, expires_at, \
                     state, settled_by, settled_at, settled_replica FROM confirmations WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                let Some(r) = row else { return Ok(None) };
                let operation: String = r.try_get("operation")?;
                Ok(Some(PendingRecord {
                    id: r.try_get("id")?,
                    platform: platform_from(r.try_get("platform")?),
                    user_id: r.try_get("user_id")?,
                    user_name: r.try_get("user_name")?,
                    channel_id: r.try_get("channel_id")?,
                    command_text: r.try_get("command_text")?,
                    instance: r.try_get("instance")?,
                    connector_id: r.try_get("connector_id")?,
                    connector_name: r.try_get("connector_name")?,
                    operation: serde_json::from_str(&operation).unwrap_or_default(),
                    fingerprint: r.try_get("fingerprint")?,
                    created_at: parse_ts(r.try_get("created_at")?),
                    expires_at: parse_ts(r.try_get("expires_at")?),
                    state: PendingState::parse(r.try_get("state")?),
                    settled_by: r.try_get("settled_by")?,
                    settled_at: r
                        .try_get::<Option<String>, _>("settled_at")?
                        .map(|s| parse_ts(&s)),
                    settled_replica: r.try_get("settled_replica")?,
                }))
            }

            async fn settle_pending(
                &self,
                id: &str,
                state: PendingState,
                by: &str,
                replica: &str,
                at: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let result = sqlx::query(
                    "UPDATE confirmations SET state = $1, settled_by = $2, settled_at = $3, \
                     settled_replica = $4 WHERE id = $5 AND state = 'pending'",
                )
                .bind(state.as_str())
                .bind(by)
                .bind(ts(at))
                .bind(replica)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn pending_made(&self, id: &str) -> Result<bool, StoreError> {
                let result = sqlx::query(
                    "UPDATE confirmations SET state = 'made' WHERE id = $1 AND state = 'confirmed'",
                )
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn approve(
                &self,
                pending_id: &str,
                approver: &str,
                at: DateTime<Utc>,
            ) -> Result<Vec<String>, StoreError> {
                sqlx::query(
                    "INSERT INTO approvals (pending_id, approver, approved_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (pending_id, approver) DO NOTHING",
                )
                .bind(pending_id)
                .bind(approver)
                .bind(ts(at))
                .execute(&self.pool)
                .await?;
                self.approvals(pending_id).await
            }

            async fn record_deleted_directory(
                &self,
                instance: &str,
                connector_id: &str,
                directory_id: &str,
                by: &str,
                at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO deleted_directories (instance, connector_id, directory_id, \
                     deleted_at, deleted_by) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (instance, connector_id, directory_id) DO NOTHING",
                )
                .bind(instance)
                .bind(connector_id)
                .bind(directory_id)
                .bind(ts(at))
                .bind(by)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn record_sync_seen(
                &self,
                instance: &str,
                connector_id: &str,
                sync_id: u64,
                total: Option<u64>,
                deleted: Option<u64>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO syncs_seen (instance, connector_id, sync_id, total, deleted, seen_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (instance, connector_id, sync_id) DO NOTHING",
                )
                .bind(instance)
                .bind(connector_id)
                .bind(sync_id as i64)
                .bind(total.map(|n| n as i64))
                .bind(deleted.map(|n| n as i64))
                .bind(ts(Utc::now()))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn previous_total(
                &self,
                instance: &str,
                connector_id: &str,
                before: u64,
            ) -> Result<Option<u64>, StoreError> {
                let total: Option<Option<i64>> = sqlx::query_scalar(
                    "SELECT total FROM syncs_seen WHERE instance = $1 AND connector_id = $2 \
                     AND sync_id < $3 ORDER BY sync_id DESC LIMIT 1",
                )
                .bind(instance)
                .bind(connector_id)
                .bind(before as i64)
                .fetch_optional(&self.pool)
                .await?;
                Ok(total.flatten().map(|n| n as u64))
            }

            async fn raise_deletion_alert(&self, a: &DeletionAlert) -> Result<bool, StoreError> {
                let result = sqlx::query(
                    "INSERT INTO deletion_alerts (instance, connector_id, sync_id, connector_name, \
                     reason, raised_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (instance, connector_id, sync_id) DO NOTHING",
                )
                .bind(&a.instance)
                .bind(&a.connector_id)
                .bind(a.sync_id as i64)
                .bind(&a.connector_name)
                .bind(&a.reason)
                .bind(ts(a.raised_at))
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn open_deletion_alert(
                &self,
                instance: &str,
                connector_id: &str,
            ) -> Result<Option<DeletionAlert>, StoreError> {
                let row = sqlx::query(
                    "SELECT instance, connector_id, sync_id, connector_name, reason, raised_at, \
                     acknowledged_by FROM deletion_alerts WHERE instance = $1 AND connector_id = $2 \
                     AND acknowledged_by IS NULL ORDER BY sync_id DESC LIMIT 1",
                )
                .bind(instance)
                .bind(connector_id)
                .fetch_optional(&self.pool)
                .await?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some(DeletionAlert {
                    instance: r.try_get("instance")?,
                    connector_id: r.try_get("connector_id")?,
                    sync_id: r.try_get::<i64, _>("sync_id")? as u64,
                    connector_name: r.try_get("connector_name")?,
                    reason: r.try_get("reason")?,
                    raised_at: parse_ts(r.try_get("raised_at")?),
                    acknowledged_by: r.try_get("acknowledged_by")?,
                }))
            }

            async fn acknowledge_deletion_alerts(
                &self,
                instance: &str,
                connector_id: &str,
                by: &str,
                at: DateTime<Utc>,
            ) -> Result<u64, StoreError> {
                let result = sqlx::query(
                    "UPDATE deletion_alerts SET acknowledged_by = $1, acknowledged_at = $2 \
                     WHERE instance = $3 AND connector_id = $4 AND acknowledged_by IS NULL",
                )
                .bind(by)
                .bind(ts(at))
                .bind(instance)
                .bind(connector_id)
                .execute(&self.pool)
                .await?;
                Ok(result.rows_affected())
            }

            async fn directory_deleted(
                &self,
                instance: &str,
                connector_id: &str,
                directory_id: &str,
            ) -> Result<bool, StoreError> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM deleted_directories \
                     WHERE instance = $1 AND connector_id = $2 AND directory_id = $3",
                )
                .bind(instance)
                .bind(connector_id)
                .bind(directory_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(n > 0)
            }

            async fn approvals(&self, pending_id: &str) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT approver FROM approvals WHERE pending_id = $1 \
                     ORDER BY approved_at, approver",
                )
                .bind(pending_id)
                .fetch_all(&self.pool)
                .await?)
            }
        }
        };
    };
}

pub(super) use sql_store;

#[cfg(test)]
mod tests {
    use super::power_of_two_chunks;

    fn sizes(n: usize, max: usize) -> Vec<usize> {
        let items: Vec<usize> = (0..n).collect();
        let chunks: Vec<&[usize]> = power_of_two_chunks(&items, max).collect();
        // Every row exactly once, in order.
        assert_eq!(chunks.concat(), items);
        chunks.iter().map(|c| c.len()).collect()
    }

    #[test]
    fn audit_chunks_are_powers_of_two_largest_first_and_cover_every_row_once() {
        assert_eq!(sizes(0, 128), Vec::<usize>::new());
        assert_eq!(sizes(1, 128), [1]);
        assert_eq!(sizes(13, 128), [8, 4, 1]);
        assert_eq!(sizes(128, 128), [128]);
        assert_eq!(sizes(300, 128), [128, 128, 32, 8, 4]);
        for n in 0..600 {
            assert!(sizes(n, 128)
                .iter()
                .all(|s| s.is_power_of_two() && *s <= 128));
        }
    }
}

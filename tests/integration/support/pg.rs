//! A fresh PostgreSQL database per test: the store's own helper, included as it is.

#[path = "../../../src/store/test_database.rs"]
mod test_database;

pub use test_database::FreshDatabase;

/// A fresh database, or `None` (with a notice) when `USERSYNC_BOT_TEST_DATABASE_URL` is
/// not set.
pub async fn fresh_database(test: &str) -> Option<FreshDatabase> {
    test_database::fresh_database("the integration tests on PostgreSQL", test).await
}

/// With `USERSYNC_BOT_TEST_STORE=postgres` (and a server named by
/// `USERSYNC_BOT_TEST_DATABASE_URL`), the whole suite runs on PostgreSQL: each test bot's
/// store file stands for one database, made on first use and kept for the bot's restarts
/// (named from the file's path, so a restarted bot finds its store again). `.ci/run`
/// runs the suite once on SQLite and once like this, and drops these databases after.
pub async fn suite_database(db: &std::path::Path) -> Option<String> {
    use sqlx::{Connection, Executor};
    if std::env::var("USERSYNC_BOT_TEST_STORE").ok().as_deref() != Some("postgres") {
        return None;
    }
    let admin = std::env::var(test_database::TEST_DATABASE_ENV)
        .ok()
        .filter(|v| !v.is_empty())?;
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    db.hash(&mut h);
    let name = format!("usersync_it_{:016x}", h.finish());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test server: {e}"));
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot look for {name}: {e}"));
    if exists.is_none() {
        conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot create {name}: {e}"));
    }
    conn.close().await.ok();
    let mut url = url::Url::parse(&admin).expect("the admin URL is a URL");
    url.set_path(&name);
    Some(url.to_string())
}

/// Whether this run is the PostgreSQL run of the whole suite; a test that looks inside the
/// SQLite file itself says so once and is skipped there (it runs in the SQLite run).
pub fn sqlite_only(test: &str) -> bool {
    let on_pg = std::env::var("USERSYNC_BOT_TEST_STORE").ok().as_deref() == Some("postgres");
    if on_pg {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "NOTICE: {test} reads the SQLite file itself: skipped in the PostgreSQL run"
        );
    }
    on_pg
}

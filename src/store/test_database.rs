//! A fresh PostgreSQL database per test, when `USERSYNC_BOT_TEST_DATABASE_URL` names a
//! server (an admin URL): created through it, dropped when the value is dropped, even when
//! the test fails. Without the variable, a notice on the terminal says what was skipped.
//!
//! Test code only, and shared: the store's unit tests use it as `store::test_database`,
//! the integration tests include this same file (`tests/integration/support/pg.rs`). It
//! uses nothing of the crate, only `sqlx`, `url`, `uuid` and `tokio`.

use std::io::Write;
use std::sync::Once;

use sqlx::{Connection, Executor};

pub const TEST_DATABASE_ENV: &str = "USERSYNC_BOT_TEST_DATABASE_URL";

static SKIPPED_NOTICE: Once = Once::new();

pub struct FreshDatabase {
    admin: String,
    name: String,
    /// The URL of the fresh database.
    pub url: String,
}

/// A fresh database, or `None` when no server is named; then, once per test binary, a
/// notice that `what` (first: `test`) was skipped.
pub async fn fresh_database(what: &str, test: &str) -> Option<FreshDatabase> {
    let Some(admin) = std::env::var(TEST_DATABASE_ENV)
        .ok()
        .filter(|v| !v.is_empty())
    else {
        SKIPPED_NOTICE.call_once(|| {
            // Straight to the terminal: the test harness captures eprintln! of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "\nNOTICE: {TEST_DATABASE_ENV} is not set: {what} (first: {test}) were skipped.\n"
            );
        });
        return None;
    };
    let name = format!("usersync_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("{TEST_DATABASE_ENV}: cannot connect: {e}"));
    conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .unwrap_or_else(|e| panic!("{TEST_DATABASE_ENV}: cannot create {name}: {e}"));
    conn.close().await.ok();
    let mut url = url::Url::parse(&admin).expect("the admin URL is a URL");
    url.set_path(&name);
    Some(FreshDatabase {
        admin,
        name,
        url: url.to_string(),
    })
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        // On a thread of its own: Drop cannot wait on the test's runtime.
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    conn.execute(drop.as_str()).await.ok();
                    conn.close().await.ok();
                }
            });
        });
        let _ = dropped.join();
    }
}

//! A fresh PostgreSQL database per test: the store's own helper, included as it is.

#[path = "../../../src/store/test_database.rs"]
mod test_database;

pub use test_database::FreshDatabase;

/// A fresh database, or `None` (with a notice) when `USERSYNC_BOT_TEST_DATABASE_URL` is
/// not set.
pub async fn fresh_database(test: &str) -> Option<FreshDatabase> {
    test_database::fresh_database("the integration tests on PostgreSQL", test).await
}

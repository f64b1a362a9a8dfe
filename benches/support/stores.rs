//! The stores a benchmark runs on: SQLite in a temporary folder, and PostgreSQL in a schema of
//! its own in `CREDITLINE_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`),
//! both migrated.

use std::str::FromStr;

use creditline::store::OperationsStore as _;
use creditline::store::postgres::PgStore;
use creditline::store::sqlite::SqliteStore;

/// A migrated SQLite store; its folder lives as long as the returned guard.
pub async fn sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

/// The benchmark's own PostgreSQL schema; [`Schema::drop`] removes it.
pub struct Schema {
    admin: sqlx::PgPool,
    name: String,
}

impl Schema {
    pub async fn drop(self) {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {} CASCADE", self.name)))
            .execute(&self.admin)
            .await
            .unwrap();
    }
}

/// A migrated PostgreSQL store in a fresh schema, or `None` (said on stderr) when the server
/// cannot be reached.
pub async fn postgres() -> Option<(PgStore, Schema)> {
    let url = std::env::var("CREDITLINE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let admin = match sqlx::PgPool::connect(&url).await {
        Ok(admin) => admin,
        Err(e) => {
            eprintln!("postgres: not reachable ({e}); skipped");
            return None;
        }
    };
    let name = format!("bench_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}"))).execute(&admin).await.unwrap();
    let options = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap().options([("search_path", name.as_str())]);
    let store = PgStore::connect_with(options).await.unwrap();
    store.migrate().await.unwrap();
    Some((store, Schema { admin, name }))
}

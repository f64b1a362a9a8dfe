//! PostgreSQL, for many API and worker processes on one database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::StoreResult;
use super::sql::impl_store;

pub struct PgStore {
    pool: PgPool,
}

/// Connections a pool holds at most unless configured.
pub const DEFAULT_POOL: u32 = 16;

impl PgStore {
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        PgStore::connect_with(PgConnectOptions::from_str(url)?).await
    }

    /// Connects with a pool of at most `max_connections` (`database_max_connections`: every
    /// process of a deployment holds its own pool, and PostgreSQL's default
    /// `max_connections` of 100 is shared by them all).
    pub async fn connect_sized(url: &str, max_connections: u32) -> StoreResult<PgStore> {
        PgStore::open(PgConnectOptions::from_str(url)?, max_connections).await
    }

    /// Connects with explicit options (tests use this to give each test its own schema
    /// through `search_path`).
    pub async fn connect_with(options: PgConnectOptions) -> StoreResult<PgStore> {
        PgStore::open(options, DEFAULT_POOL).await
    }

    async fn open(options: PgConnectOptions, max_connections: u32) -> StoreResult<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        Ok(PgStore { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// PostgreSQL takes writers side by side: the same pool.
    pub fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// Read committed is enough: every write that matters is guarded by a version check
    /// or a unique constraint inside the statement itself.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

impl_store!(
    PgStore,
    sqlx::Postgres,
    "postgres",
    sqlx::migrate!("migrations/postgres"),
    false,
    " FOR UPDATE SKIP LOCKED"
);

//! The embedded default: one SQLite file in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};

use super::StoreResult;
use super::sql::impl_store;

pub struct SqliteStore {
    pool: SqlitePool,
    /// One connection for every write. SQLite lets one writer in at a time anyway; with
    /// writers on several pooled connections the losers wait in SQLite's busy handler, which
    /// sleeps in steps of up to 100 ms and wakes no one when the lock frees. Queued on this
    /// pool they wait in order and start the moment the writer is back. Other processes on
    /// the same file (a worker beside the server) still meet at the busy handler.
    writer: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at a `sqlite://path` URL.
    pub async fn connect(url: &str) -> StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Each pooled connection keeps its own page cache; SQLite's default (2 MB) is
            // smaller than the indexes a busy inbox touches, and every miss is a read(2).
            // Memory-mapped reads skip the copy.
            .pragma("cache_size", "-32000")
            .pragma("mmap_size", "268435456");
        // A local file cannot drop a connection the way a network can: skip the ping that
        // sqlx otherwise runs on every checkout (a thread round trip per statement).
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool, writer })
    }

    /// Reads; each reader sees the last committed state (WAL).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Writes outside a transaction of their own (single statements).
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// `BEGIN IMMEDIATE` takes the write lock up front. A deferred transaction that reads
    /// first and writes later can fail with SQLITE_BUSY without waiting when another writer
    /// got there in between; immediate ones simply queue behind the busy timeout.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }
}

impl_store!(SqliteStore, sqlx::Sqlite, "sqlite", sqlx::migrate!("migrations/sqlite"), true, "");

/// Serializes start-up work (opening the file in WAL mode, migrations) between processes that
/// share one SQLite file: two workers starting at once both ran the migrations and one failed
/// ("table already exists", or "database is locked" switching the journal mode). Found by the
/// simulation, which starts a second worker while restarting a killed one. The lock is a
/// `<file>.lock` beside the database, held until the returned file is dropped; `None` for an
/// in-memory database.
pub async fn startup_lock(url: &str) -> anyhow::Result<Option<std::fs::File>> {
    let options = SqliteConnectOptions::from_str(url)?;
    let file = options.get_filename().to_path_buf();
    if file.as_os_str().is_empty() || file == std::path::Path::new(":memory:") {
        return Ok(None);
    }
    let path = std::path::PathBuf::from(format!("{}.lock", file.display()));
    let locked = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
        f.lock()?;
        Ok(f)
    })
    .await??;
    Ok(Some(locked))
}

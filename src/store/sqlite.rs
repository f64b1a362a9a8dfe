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
            // No memory map (`mmap_size`): it was tried, and each time a checkpoint grew the
            // file every connection unmapped and faulted its map back in, a quarter of the
            // server's time in a 10,000-account run (munmap, TLB shootdowns, page faults).
            .pragma("cache_size", "-32000");
        // A local file cannot drop a connection the way a network can: skip the ping that
        // sqlx otherwise runs on every checkout (a thread round trip per statement).
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .after_connect(|conn, _| Box::pin(async move { busy::install(conn).await }))
            .connect_with(options.clone())
            .await?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .after_connect(|conn, _| Box::pin(async move { busy::install(conn).await }))
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

/// How a connection waits for another process's write lock (the server and a worker share
/// the file). SQLite's own busy timeout sleeps 1, 2, 5, 10, 15, 20, 25 ... up to 100 ms between
/// looks: a lock held for a millisecond costs its waiter several, and every writer queued in
/// this process behind it waits as long. In a 10,000-account simulation the worker slept
/// there about 150 times a second. This handler looks again after 100 µs at first and backs
/// off to 2 ms, and gives up (SQLITE_BUSY) after the same ten seconds as before.
mod busy {
    use std::os::raw::{c_int, c_void};
    use std::time::Duration;

    use sqlx::SqliteConnection;

    /// The wait before the `count`-th look again (0-based), or `None`: give up.
    pub(super) fn wait(count: u32) -> Option<Duration> {
        match count {
            0..20 => Some(Duration::from_micros(100)),
            20..100 => Some(Duration::from_micros(500)),
            // 2 ms + 40 ms so far, then 2 ms each: about ten seconds in all.
            100..5_079 => Some(Duration::from_millis(2)),
            _ => None,
        }
    }

    extern "C" fn on_busy(_: *mut c_void, count: c_int) -> c_int {
        match wait(u32::try_from(count).unwrap_or(u32::MAX)) {
            Some(d) => {
                std::thread::sleep(d);
                1
            }
            None => 0,
        }
    }

    /// Replaces the connection's busy timeout with [`on_busy`].
    pub(super) async fn install(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        let mut handle = conn.lock_handle().await?;
        let db = handle.as_raw_handle();
        // SAFETY: `db` is this connection's open handle, held locked (no other call on it
        // meanwhile); `on_busy` keeps no state and never unwinds; the null argument is
        // never read. `sqlite3_busy_handler` only stores the callback, replacing the busy
        // timeout sqlx set at open.
        let rc = unsafe { libsqlite3_sys::sqlite3_busy_handler(db.as_ptr(), Some(on_busy), std::ptr::null_mut()) };
        if rc == libsqlite3_sys::SQLITE_OK {
            Ok(())
        } else {
            Err(sqlx::Error::Configuration(format!("sqlite3_busy_handler failed with code {rc}").into()))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn looks_again_soon_and_gives_up_after_about_ten_seconds() {
            assert!(wait(0).is_some_and(|d| d < Duration::from_millis(1)));
            let total: Duration = (0..).map_while(wait).sum();
            assert!(total >= Duration::from_secs(10) && total < Duration::from_secs(11), "{total:?}");
            assert!((1..10_000).all(|c| wait(c) >= wait(c - 1) || wait(c).is_none()));
        }
    }
}

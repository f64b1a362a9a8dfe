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
            .pragma("cache_size", "-32000")
            // A multi-row statement inside a transaction keeps the pages it changes in a
            // statement journal (to undo just that statement); past 64 KiB SQLite spills it to
            // a temporary file, opened, written and unlinked per statement: a batch of debits
            // over many accounts did that on most commits. In memory it stays a buffer.
            .pragma("temp_store", "memory");
        // A local file cannot drop a connection the way a network can: skip the ping that
        // sqlx otherwise runs on every checkout (a thread round trip per statement).
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .after_connect(|conn, _| Box::pin(async move { configure(conn).await }))
            .connect_with(options.clone())
            .await?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .after_connect(|conn, _| Box::pin(async move { configure(conn).await }))
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

/// What every connection gets before first use: [`busy`]'s wait for another process's lock,
/// and the query planner's stability guarantee (QPSG). Without the guarantee SQLite compiles a
/// statement again each time its bound values change whenever a plan could depend on them:
/// a table with a partial index (`workflow_instances` has two) makes every statement that
/// binds a value compared with that index's columns one of those, and so do an analyzed
/// database's value samples (STAT4, which the bundled SQLite has). Our statements are
/// prepared once and bound anew on every call, so each call paid a compile: a tenth of a
/// debit batch's time in a profile, and more for the multi-row statements. The partial
/// indexes enforce uniqueness; no lookup needs them.
async fn configure(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    busy::install(conn).await?;
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    let on: std::os::raw::c_int = 1;
    // SAFETY: `db` is this connection's open handle, held locked (no other call on it
    // meanwhile). SQLITE_DBCONFIG_ENABLE_QPSG takes an int (1: on) and an int pointer for the
    // setting read back, which may be null.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db.as_ptr(),
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            on,
            std::ptr::null_mut::<std::os::raw::c_int>(),
        )
    };
    if rc == libsqlite3_sys::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(format!("enabling SQLITE_DBCONFIG_ENABLE_QPSG failed with code {rc}").into()))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Our statements are prepared once and bound anew on every call; they must not be
    /// compiled again each time (see [`configure`]). Checked on the store's own connection,
    /// with a statement whose plan could depend on its values in both ways: a partial index
    /// on the table, and value samples of an analyzed index whose keys are skewed.
    #[tokio::test]
    async fn a_statement_is_not_compiled_again_for_new_values() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        for sql in [
            "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL, kind TEXT NOT NULL)",
            "CREATE INDEX t_k ON t (k, kind)",
            "CREATE UNIQUE INDEX t_one_line ON t (k) WHERE kind = 'line'",
            "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
             INSERT INTO t (k, kind) SELECT CASE WHEN i % 10 = 0 THEN 'rare' || i ELSE 'common' END, 'other' FROM n",
            "ANALYZE",
        ] {
            sqlx::query(sql).execute(store.writer()).await.unwrap();
        }
        let mut conn = store.writer().acquire().await.unwrap();
        let temp_store: i64 = sqlx::query_scalar("PRAGMA temp_store").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(temp_store, 2, "statement journals stay in memory (MEMORY is 2)");
        let mut handle = conn.lock_handle().await.unwrap();
        let db = handle.as_raw_handle().as_ptr();
        use libsqlite3_sys as ffi;
        // SAFETY: `db` is the connection's open handle, held locked for this block; the
        // statement is prepared, used and finalized here; each bound text is copied by SQLite
        // (SQLITE_TRANSIENT) before the call returns.
        let compiled_again = unsafe {
            let mut stmt = std::ptr::null_mut();
            let sql = c"SELECT count(*) FROM t WHERE k = ?1 AND kind = ?2";
            assert_eq!(
                ffi::sqlite3_prepare_v3(db, sql.as_ptr(), -1, 0, &mut stmt, std::ptr::null_mut()),
                ffi::SQLITE_OK
            );
            for (k, kind) in [(c"common", c"line"), (c"rare10", c"other"), (c"rare20", c"line")] {
                ffi::sqlite3_bind_text(stmt, 1, k.as_ptr(), -1, ffi::SQLITE_TRANSIENT());
                ffi::sqlite3_bind_text(stmt, 2, kind.as_ptr(), -1, ffi::SQLITE_TRANSIENT());
                assert_eq!(ffi::sqlite3_step(stmt), ffi::SQLITE_ROW);
                ffi::sqlite3_reset(stmt);
            }
            let n = ffi::sqlite3_stmt_status(stmt, ffi::SQLITE_STMTSTATUS_REPREPARE, 0);
            ffi::sqlite3_finalize(stmt);
            n
        };
        assert_eq!(compiled_again, 0, "compiled again for new values: is the planner's stability guarantee off?");
    }
}

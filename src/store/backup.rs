//! Online backup and restore of the embedded SQLite database. `VACUUM INTO` writes a
//! consistent copy from one read transaction, so the service keeps serving (and writing) while
//! it runs; the copy is checked (`PRAGMA integrity_check`) before it is called good. A
//! PostgreSQL database is backed up with `pg_dump` instead (see the README).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "{0} is a PostgreSQL database: back it up with `pg_dump --format=custom --file=creditline.dump <url>` \
         and restore with `pg_restore --clean --dbname=<url> creditline.dump`"
    )]
    Postgres(String),
    #[error("not a sqlite:// database URL: {0}")]
    NotSqlite(String),
    #[error("{} already exists: choose a new file (a backup never overwrites one)", .0.display())]
    Exists(PathBuf),
    #[error("{} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("{} already holds a database: stop serve and the workers, then restore with --force", .0.display())]
    TargetInUse(PathBuf),
    #[error("{} is not a sound SQLite database: {detail}", path.display())]
    Damaged { path: PathBuf, detail: String },
    #[error("{0}")]
    Database(#[from] sqlx::Error),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// What a backup or restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub path: PathBuf,
    pub bytes: u64,
}

/// The file a `sqlite://` URL names.
pub fn sqlite_path(url: &str) -> Result<PathBuf, BackupError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(BackupError::Postgres(redact(url)));
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| BackupError::NotSqlite(url.to_string()))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(BackupError::NotSqlite(url.to_string()));
    }
    Ok(PathBuf::from(path))
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// Writes a consistent copy of the database at `url` to `dest` while it stays in use.
pub async fn backup(url: &str, dest: &Path) -> Result<Copied, BackupError> {
    let source = sqlite_path(url)?;
    if !source.exists() {
        return Err(BackupError::Missing(source));
    }
    if dest.exists() {
        return Err(BackupError::Exists(dest.to_path_buf()));
    }
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{}", source.display()))?
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await?;
    sqlx::query("VACUUM INTO ?").bind(dest.display().to_string()).execute(&mut conn).await?;
    conn.close().await?;
    check(dest).await?;
    Ok(Copied { path: dest.to_path_buf(), bytes: size(dest)? })
}

/// Puts the backup `from` in place of the database at `url`: checked first, written beside
/// the target and renamed over it, so a failure leaves the old file whole. Refused over an
/// existing database unless `force` (the service and workers must be stopped: a running
/// process would keep writing to the file it has open).
pub async fn restore(from: &Path, url: &str, force: bool) -> Result<Copied, BackupError> {
    let target = sqlite_path(url)?;
    if !from.exists() {
        return Err(BackupError::Missing(from.to_path_buf()));
    }
    check(from).await?;
    if target.exists() && !force {
        return Err(BackupError::TargetInUse(target));
    }
    let partial = target.with_extension("restoring");
    std::fs::copy(from, &partial).map_err(|source| BackupError::Io { path: partial.clone(), source })?;
    // The old database's write-ahead log belongs to the old file: replayed onto the restored
    // one it would undo the restore.
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", target.display()));
        if side.exists() {
            std::fs::remove_file(&side).map_err(|source| BackupError::Io { path: side.clone(), source })?;
        }
    }
    std::fs::rename(&partial, &target).map_err(|source| BackupError::Io { path: target.clone(), source })?;
    Ok(Copied { path: target.clone(), bytes: size(&target)? })
}

/// `PRAGMA integrity_check` on a database file, read-only.
pub async fn check(path: &Path) -> Result<(), BackupError> {
    let damaged = |detail: String| BackupError::Damaged { path: path.to_path_buf(), detail };
    let mut conn = match SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .read_only(true)
        .connect()
        .await
    {
        Ok(c) => c,
        Err(e) => return Err(damaged(e.to_string())),
    };
    let rows: Vec<(String,)> =
        sqlx::query_as("PRAGMA integrity_check").fetch_all(&mut conn).await.map_err(|e| damaged(e.to_string()))?;
    conn.close().await?;
    match rows.as_slice() {
        [(ok,)] if ok == "ok" => Ok(()),
        other => Err(damaged(other.iter().map(|(r,)| r.as_str()).collect::<Vec<_>>().join("; "))),
    }
}

fn size(path: &Path) -> Result<u64, BackupError> {
    std::fs::metadata(path).map(|m| m.len()).map_err(|source| BackupError::Io { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_file_or_say_why_not() {
        assert_eq!(sqlite_path("sqlite://creditline.db").unwrap(), PathBuf::from("creditline.db"));
        assert_eq!(sqlite_path("sqlite:///var/lib/c.db?mode=rwc").unwrap(), PathBuf::from("/var/lib/c.db"));
        assert!(matches!(sqlite_path("sqlite::memory:"), Err(BackupError::NotSqlite(_))));
        let pg = sqlite_path("postgres://app:secret@db/creditline").unwrap_err().to_string();
        assert!(pg.contains("pg_dump") && !pg.contains("secret"), "{pg}");
    }
}

//! Backups of the embedded database, for the CLI: an online copy while the service runs, and
//! a restore that puts one back (see [`crate::store::backup`] for how each is made safe).

use std::path::Path;

pub use crate::store::backup::{BackupError, Copied};

/// A consistent copy of the database at `database_url` in the new file `dest`.
pub async fn backup(database_url: &str, dest: &Path) -> Result<Copied, BackupError> {
    crate::store::backup::backup(database_url, dest).await
}

/// The backup `from` put in place of the database at `database_url` (over an existing one
/// only with `force`, once the service and its workers are stopped).
pub async fn restore(from: &Path, database_url: &str, force: bool) -> Result<Copied, BackupError> {
    crate::store::backup::restore(from, database_url, force).await
}

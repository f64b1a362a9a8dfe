//! Where built messages go. `file` (the embedded default) writes each message into a folder
//! as `<outbox id>.eml`: written to a temporary name and renamed, so a crash leaves either
//! the whole file or none, and delivering the same outbox row twice leaves one file.

use std::path::{Path, PathBuf};

use crate::domain::OutboxId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Written(PathBuf),
    /// This outbox row was delivered before; nothing was written.
    AlreadyDelivered(PathBuf),
}

/// The `file` transport.
#[derive(Debug, Clone)]
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    pub fn new(dir: impl Into<PathBuf>) -> FileTransport {
        FileTransport { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn deliver(&self, outbox: OutboxId, message: &[u8]) -> std::io::Result<Delivery> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(format!("{outbox}.eml"));
        if path.exists() {
            return Ok(Delivery::AlreadyDelivered(path));
        }
        let tmp = self.dir.join(format!(".{outbox}.{}.tmp", uuid::Uuid::now_v7().simple()));
        std::fs::write(&tmp, message)?;
        std::fs::rename(&tmp, &path)?;
        Ok(Delivery::Written(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_per_outbox_row_however_often_it_is_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let t = FileTransport::new(dir.path().join("mail"));
        let id = OutboxId::new();
        let first = t.deliver(id, b"Subject: one\r\n\r\nbody\r\n").unwrap();
        let Delivery::Written(path) = first else { panic!("{first:?}") };
        assert_eq!(t.deliver(id, b"Subject: two\r\n\r\nbody\r\n").unwrap(), Delivery::AlreadyDelivered(path.clone()));
        assert_eq!(std::fs::read(&path).unwrap(), b"Subject: one\r\n\r\nbody\r\n");
        let files: Vec<_> = std::fs::read_dir(t.dir()).unwrap().flatten().collect();
        assert_eq!(files.len(), 1, "no temporary files left behind");
    }
}

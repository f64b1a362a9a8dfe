//! Where built messages go. `file` (the embedded default) writes each message into a folder
//! as `<outbox id>.eml`: written to a temporary name and renamed, so a crash leaves either
//! the whole file or none, and delivering the same outbox row twice leaves one file.
//! `smtp` hands it to a mail server (lettre: STARTTLS or TLS, authentication, a pool).
//! Either way a failure says whether trying again can help.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailConfig, MailTransport, SmtpConfig, SmtpTls};
use crate::domain::OutboxId;

/// Why a message did not go out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The server refused it for good (5xx), or the message cannot be made: retrying
    /// cannot help.
    #[error("permanent: {0}")]
    Permanent(String),
    /// The server is down, slow or answered 4xx: try again later.
    #[error("transient: {0}")]
    Transient(String),
}

/// The configured transport.
#[derive(Clone)]
pub enum Mailer {
    File(FileTransport),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::File(t) => write!(f, "file transport into {}", t.dir().display()),
            Mailer::Smtp(_) => f.write_str("smtp transport"),
        }
    }
}

impl Mailer {
    pub fn from_config(config: &MailConfig) -> Result<Mailer, SendError> {
        match config.transport {
            MailTransport::File => Ok(Mailer::File(FileTransport::new(&config.dir))),
            MailTransport::Smtp => smtp(&config.smtp).map(Mailer::Smtp),
        }
    }

    pub async fn send(&self, outbox: OutboxId, message: Message) -> Result<(), SendError> {
        match self {
            Mailer::File(t) => {
                let t = t.clone();
                let bytes = message.formatted();
                tokio::task::spawn_blocking(move || t.deliver(outbox, &bytes))
                    .await
                    .map_err(|e| SendError::Transient(e.to_string()))?
                    .map(|_| ())
                    .map_err(|e| SendError::Transient(format!("{}: {e}", "mail folder")))
            }
            Mailer::Smtp(t) => t.send(message).await.map(|_| ()).map_err(classify),
        }
    }
}

fn smtp(c: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let bad = |e: lettre::transport::smtp::Error| SendError::Permanent(format!("smtp {}: {e}", c.host));
    let builder = match c.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host),
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.host).map_err(bad)?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&c.host).map_err(bad)?,
    };
    let mut builder = match (&c.test_only_root_certificate, c.tls) {
        (Some(path), SmtpTls::Starttls | SmtpTls::Tls) => {
            use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
            let pem = std::fs::read(path).map_err(|e| SendError::Permanent(format!("{}: {e}", path.display())))?;
            let params = TlsParameters::builder(c.host.clone())
                .add_root_certificate(Certificate::from_pem(&pem).map_err(bad)?)
                .build_rustls()
                .map_err(bad)?;
            builder.tls(if c.tls == SmtpTls::Tls { Tls::Wrapper(params) } else { Tls::Required(params) })
        }
        _ => builder,
    };
    builder = builder
        .port(c.port)
        .timeout(Some(Duration::from_secs(c.timeout_seconds)))
        .pool_config(PoolConfig::new().max_size(c.pool_size.max(1)));
    if let (Some(user), Some(password)) = (&c.username, &c.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_string()));
    }
    Ok(builder.build())
}

/// A 5xx answer is final; everything else (refused connections, time-outs, 4xx) may pass.
fn classify(e: lettre::transport::smtp::Error) -> SendError {
    if e.is_permanent() { SendError::Permanent(e.to_string()) } else { SendError::Transient(e.to_string()) }
}

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

/// What one send job did (the delivery service decides it; the metrics count it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempted {
    Sent {
        message_id: String,
    },
    /// A transient failure; the row is due again after `after`.
    Retrying {
        after: Duration,
        error: String,
    },
    /// No more attempts: a reviewer task is open.
    Failed {
        error: String,
    },
    /// The job was stale (the row was sent, failed, or re-queued under a newer job number).
    Skipped,
    /// The row moved on while this attempt ran (its lease ran out): the outcome was dropped.
    Superseded,
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

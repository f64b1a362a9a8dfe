//! The IMAP poller: fetches unseen messages from a mailbox, ingests each, and only after its
//! outcome is committed sets `\Seen`. A crash in between leaves the message unseen; the next
//! poll fetches it again and the store answers `duplicate`, so nothing is lost or doubled.
//!
//! Over TLS (`tls = "implicit"`, IMAPS) it reaches any host, checking the server's certificate
//! against the public roots; plain IMAP (`tls = "none"`) is refused for any host that is not
//! on the loopback interface: a password must not cross a network in clear. Each message's
//! size (`RFC822.SIZE`) is read before its body: one over the intake limit is never downloaded,
//! but flagged and reported, and left unseen for a person.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::app::App;
use crate::config::{ImapConfig, ImapTls};
use crate::intake::mail::MAX_MESSAGE_BYTES;
use crate::services::inbound::{Report, ingest};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("IMAP host {0:?} is not a loopback address; plain IMAP is only allowed locally (set tls = \"implicit\")")]
    NotLocal(String),
    #[error("TLS to IMAP server {0} failed: {1}")]
    Tls(String, String),
    #[error("cannot connect to IMAP server {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("IMAP server closed the connection before its greeting")]
    NoGreeting,
    #[error("IMAP login as {0} failed: {1}")]
    Login(String, async_imap::error::Error),
    #[error("IMAP: {0}")]
    Protocol(#[from] async_imap::error::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Plain IMAP only to this machine; over TLS, anywhere.
fn check_host(config: &ImapConfig) -> Result<(), ImapError> {
    if config.tls == ImapTls::None && !is_loopback(&config.host) {
        return Err(ImapError::NotLocal(config.host.clone()));
    }
    Ok(())
}

/// The keyword a message too large to read is flagged with (it stays unseen, for a person).
pub const TOO_LARGE: &str = "$CreditlineTooLarge";

/// What one poll did.
#[derive(Debug, Default)]
pub struct Polled {
    /// The messages ingested, oldest first.
    pub reports: Vec<Report>,
    /// Messages over the intake limit, not downloaded: (UID, size in bytes).
    pub too_large: Vec<(u32, u64)>,
}

/// What the IMAP client talks over: plain TCP or TLS.
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Connection for T {}
type Session = async_imap::Session<Box<dyn Connection>>;

/// One poll: every unseen message of the mailbox, oldest first. Returns what was ingested and
/// what was too large to; stops at the first database error (that message stays unseen).
pub async fn poll_once(app: &App, config: &ImapConfig) -> Result<Polled, ImapError> {
    let mut session = connect(config).await?;
    let polled = poll(app, config, &mut session).await?;
    session.logout().await?;
    Ok(polled)
}

/// Polls, then waits on the open connection for new mail (IMAP IDLE, RFC 2177; at most
/// `poll_interval_seconds`, a plain wait when the server lacks IDLE) and polls again, handing
/// each poll's result to `done`, until the connection fails (the caller reconnects).
pub async fn watch(app: &App, config: &ImapConfig, mut done: impl FnMut(Polled)) -> Result<(), ImapError> {
    let mut session = connect(config).await?;
    let idle = session.capabilities().await?.has_str("IDLE");
    let interval = Duration::from_secs(config.poll_interval_seconds.max(1));
    loop {
        done(poll(app, config, &mut session).await?);
        if !idle {
            tokio::time::sleep(interval).await;
            continue;
        }
        let mut waiting = session.idle();
        waiting.init().await?;
        let (wait, _stop) = waiting.wait_with_timeout(interval);
        // New mail, a timeout or the server's keep-alive: poll again either way.
        wait.await?;
        session = waiting.done().await?;
    }
}

async fn connect(config: &ImapConfig) -> Result<Session, ImapError> {
    let address = format!("{}:{}", config.host, config.port);
    check_host(config)?;
    let tcp = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect(&address))
        .await
        .map_err(|_| ImapError::Connect(address.clone(), std::io::ErrorKind::TimedOut.into()))?
        .map_err(|e| ImapError::Connect(address.clone(), e))?;
    let stream: Box<dyn Connection> = match config.tls {
        ImapTls::None => Box::new(tcp),
        ImapTls::Implicit => {
            let connector = tls_connector(config).map_err(|e| ImapError::Tls(address.clone(), e))?;
            let name = rustls::pki_types::ServerName::try_from(config.host.clone())
                .map_err(|e| ImapError::Tls(address.clone(), e.to_string()))?;
            let tls = tokio::time::timeout(Duration::from_secs(30), connector.connect(name, tcp))
                .await
                .map_err(|_| ImapError::Tls(address.clone(), "the handshake timed out".into()))?
                .map_err(|e| ImapError::Tls(address.clone(), e.to_string()))?;
            Box::new(tls)
        }
    };
    let mut client = async_imap::Client::new(stream);
    client.read_response().await.map_err(|e| ImapError::Connect(address.clone(), e))?.ok_or(ImapError::NoGreeting)?;
    let mut session = client
        .login(&config.user, config.password.expose())
        .await
        .map_err(|(e, _)| ImapError::Login(config.user.clone(), e))?;
    session.select(&config.mailbox).await?;
    Ok(session)
}

/// A TLS client trusting the public roots (and the test's root, when configured).
fn tls_connector(config: &ImapConfig) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = &config.test_only_root_certificate {
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))? {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls)))
}

async fn poll(app: &App, config: &ImapConfig, session: &mut Session) -> Result<Polled, ImapError> {
    let search = format!("UNSEEN UNKEYWORD {TOO_LARGE}");
    let unseen: BTreeSet<u32> = session.uid_search(&search).await?.into_iter().collect();
    let mut polled = Polled::default();
    for uid in unseen {
        // The size first: a message over the limit is never downloaded.
        let sized: Vec<_> = session.uid_fetch(uid.to_string(), "(UID RFC822.SIZE)").await?.try_collect().await?;
        let Some(size) = sized.iter().find(|f| f.uid == Some(uid)).and_then(|f| f.size) else {
            tracing::warn!(uid, mailbox = %config.mailbox, "message vanished before it could be read");
            continue;
        };
        if size as usize > MAX_MESSAGE_BYTES {
            tracing::error!(uid, size, limit = MAX_MESSAGE_BYTES, mailbox = %config.mailbox,
                "message over the intake limit: not downloaded, flagged {TOO_LARGE} and left unseen for a person");
            let flag = format!("+FLAGS.SILENT ({TOO_LARGE})");
            let _: Vec<_> = session.uid_store(uid.to_string(), &flag).await?.try_collect().await?;
            polled.too_large.push((uid, u64::from(size)));
            continue;
        }
        // BODY.PEEK leaves \Seen alone: only a committed outcome marks the message read.
        let fetched: Vec<_> = session.uid_fetch(uid.to_string(), "(UID BODY.PEEK[])").await?.try_collect().await?;
        let Some(raw) = fetched.iter().find(|f| f.uid == Some(uid)).and_then(|f| f.body()) else {
            tracing::warn!(uid, mailbox = %config.mailbox, "message vanished before it could be fetched");
            continue;
        };
        let source = format!("imap:{}/{}", config.mailbox, uid);
        let report = ingest(app, &source, raw).await?;
        let _: Vec<_> = session.uid_store(uid.to_string(), "+FLAGS.SILENT (\\Seen)").await?.try_collect().await?;
        polled.reports.push(report);
    }
    Ok(polled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_imap_stays_on_this_machine_and_tls_goes_anywhere() {
        let config = |host: &str, tls: ImapTls| ImapConfig {
            host: host.into(),
            port: 993,
            user: "u".into(),
            password: crate::config::Secret::new("p"),
            mailbox: "INBOX".into(),
            poll_interval_seconds: 60,
            tls,
            test_only_root_certificate: None,
        };
        assert!(check_host(&config("127.0.0.1", ImapTls::None)).is_ok());
        assert!(check_host(&config("localhost", ImapTls::None)).is_ok());
        assert!(matches!(check_host(&config("imap.example.com", ImapTls::None)), Err(ImapError::NotLocal(_))));
        assert!(check_host(&config("imap.example.com", ImapTls::Implicit)).is_ok());
    }
}

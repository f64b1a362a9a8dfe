//! The IMAP poller: fetches unseen messages from a mailbox, ingests each, and only after its
//! outcome is committed sets `\Seen`. A crash in between leaves the message unseen; the next
//! poll fetches it again and the store answers `duplicate`, so nothing is lost or doubled.
//!
//! Plain IMAP only (no TLS yet), so it refuses any host that is not on the loopback interface:
//! a password must not cross a network in clear. Run a local relay (or stunnel) to reach a
//! remote server until TLS lands.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio::net::TcpStream;

use crate::app::App;
use crate::config::ImapConfig;
use crate::services::inbound::{Report, ingest};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("IMAP host {0:?} is not a loopback address; plain IMAP is only allowed locally")]
    NotLocal(String),
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

/// One poll: every unseen message of the mailbox, oldest first. Returns the reports of the
/// messages ingested; stops at the first database error (that message stays unseen).
pub async fn poll_once(app: &App, config: &ImapConfig) -> Result<Vec<Report>, ImapError> {
    if !is_loopback(&config.host) {
        return Err(ImapError::NotLocal(config.host.clone()));
    }
    let address = format!("{}:{}", config.host, config.port);
    let stream = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect(&address))
        .await
        .map_err(|_| ImapError::Connect(address.clone(), std::io::ErrorKind::TimedOut.into()))?
        .map_err(|e| ImapError::Connect(address.clone(), e))?;
    let mut client = async_imap::Client::new(stream);
    client.read_response().await.map_err(|e| ImapError::Connect(address.clone(), e))?.ok_or(ImapError::NoGreeting)?;
    let mut session = client
        .login(&config.user, config.password.expose())
        .await
        .map_err(|(e, _)| ImapError::Login(config.user.clone(), e))?;
    session.select(&config.mailbox).await?;
    let unseen: BTreeSet<u32> = session.uid_search("UNSEEN").await?.into_iter().collect();
    let mut reports = Vec::new();
    for uid in unseen {
        // BODY.PEEK leaves \Seen alone: only a committed outcome marks the message read.
        let fetched: Vec<_> = session.uid_fetch(uid.to_string(), "(UID BODY.PEEK[])").await?.try_collect().await?;
        let Some(raw) = fetched.iter().find(|f| f.uid == Some(uid)).and_then(|f| f.body()) else {
            tracing::warn!(uid, mailbox = %config.mailbox, "message vanished before it could be fetched");
            continue;
        };
        let source = format!("imap:{}/{}", config.mailbox, uid);
        let report = ingest(app, &source, raw).await?;
        let _: Vec<_> = session.uid_store(uid.to_string(), "+FLAGS.SILENT (\\Seen)").await?.try_collect().await?;
        reports.push(report);
    }
    session.logout().await?;
    Ok(reports)
}

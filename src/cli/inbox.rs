//! `creditline inbox poll`: the configured IMAP mailbox (`[imap]` in the configuration).

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use super::ingest::print_report;
use crate::app::App;
use crate::config::Config;
use crate::intake::imap;

#[derive(Debug, Subcommand)]
pub enum InboxCommand {
    /// Fetch unseen messages from the IMAP mailbox, ingest them, then mark them \Seen.
    Poll {
        /// Poll once and exit (otherwise keep the connection, poll, and wait for new mail with
        /// IMAP IDLE, at most `imap.poll_interval_seconds` at a time, until Ctrl-C).
        #[arg(long)]
        once: bool,
        /// One JSON report per message, as `creditline ingest --json`.
        #[arg(long)]
        json: bool,
    },
}

/// One poll's reports on standard output, the messages too large to read on standard error.
fn show(polled: &imap::Polled, json: bool) -> anyhow::Result<()> {
    for r in &polled.reports {
        print_report(r, json)?;
    }
    for (uid, size) in &polled.too_large {
        eprintln!(
            "message UID {uid} is {size} bytes, over the intake limit: not downloaded, flagged {} and left unseen",
            imap::TOO_LARGE
        );
    }
    Ok(())
}

impl InboxCommand {
    pub async fn run(self, config: Config) -> anyhow::Result<ExitCode> {
        let InboxCommand::Poll { once, json } = self;
        let Some(imap_config) = config.imap.clone() else {
            eprintln!("error: no [imap] section in the configuration (host, port, user, password, mailbox)");
            return Ok(ExitCode::from(2));
        };
        let app = App::build(config, true).await?;
        if once {
            return match imap::poll_once(&app, &imap_config).await {
                Ok(polled) => {
                    show(&polled, json)?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::FAILURE)
                }
            };
        }
        loop {
            let mut shown = Ok(());
            let watched = imap::watch(&app, &imap_config, |polled| {
                if shown.is_ok() {
                    shown = show(&polled, json);
                }
            });
            tokio::select! {
                // A poller outlives a mail server restart: log, wait and connect again.
                result = watched => {
                    if let Err(e) = result {
                        tracing::error!(error = %e, "IMAP connection failed; connecting again");
                    }
                }
                _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            }
            shown?;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(imap_config.poll_interval_seconds.max(1))) => {}
                _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            }
        }
    }
}

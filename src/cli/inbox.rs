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
        /// Poll once and exit (otherwise poll every `imap.poll_interval_seconds` until Ctrl-C).
        #[arg(long)]
        once: bool,
        /// One JSON report per message, as `creditline ingest --json`.
        #[arg(long)]
        json: bool,
    },
}

impl InboxCommand {
    pub async fn run(self, config: Config) -> anyhow::Result<ExitCode> {
        let InboxCommand::Poll { once, json } = self;
        let Some(imap_config) = config.imap.clone() else {
            eprintln!("error: no [imap] section in the configuration (host, port, user, password, mailbox)");
            return Ok(ExitCode::from(2));
        };
        let app = App::build(config, true).await?;
        loop {
            match imap::poll_once(&app, &imap_config).await {
                Ok(polled) => {
                    for r in &polled.reports {
                        print_report(r, json)?;
                    }
                    for (uid, size) in &polled.too_large {
                        eprintln!(
                            "message UID {uid} is {size} bytes, over the intake limit: not downloaded, flagged {} and \
                             left unseen",
                            imap::TOO_LARGE
                        );
                    }
                }
                Err(e) if once => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::FAILURE);
                }
                // A poller outlives a mail server restart: log and try again next round.
                Err(e) => tracing::error!(error = %e, "IMAP poll failed"),
            }
            if once {
                return Ok(ExitCode::SUCCESS);
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(imap_config.poll_interval_seconds.max(1))) => {}
                _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            }
        }
    }
}

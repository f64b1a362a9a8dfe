//! `creditline console link --name N`: a one-time sign-in link to the reviewer console.

use std::process::ExitCode;

use clap::Subcommand;

use crate::app::App;
use crate::config::Config;
use crate::services::access::{self, AccessError, LINK_MINUTES};

#[derive(Debug, Subcommand)]
pub enum ConsoleCommand {
    /// Print a link that signs the holder of the API token named N into the console once,
    /// within 15 minutes (for a reviewer who should not paste a token into a browser).
    Link {
        /// The name of an unrevoked reviewer, senior reviewer or admin token.
        #[arg(long)]
        name: String,
        /// Where reviewers reach the console (default: http:// and the configured `listen`).
        #[arg(long)]
        base_url: Option<String>,
    },
}

impl ConsoleCommand {
    pub async fn run(self, config: Config) -> anyhow::Result<ExitCode> {
        let ConsoleCommand::Link { name, base_url } = self;
        let base = base_url.unwrap_or_else(|| format!("http://{}", config.listen));
        let app = App::build(config, true).await?;
        let now = app.workflow.clock().now();
        match access::create_link(&app, &name, now).await {
            Ok((key, expires_at)) => {
                eprintln!(
                    "a sign-in link for {name}, good once until {} UTC ({LINK_MINUTES} minutes):",
                    expires_at.format("%Y-%m-%d %H:%M")
                );
                println!("{}/console/link/{key}", base.trim_end_matches('/'));
                Ok(ExitCode::SUCCESS)
            }
            Err(e @ AccessError::NoSuchToken(_)) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(2))
            }
            Err(e) => Err(e.into()),
        }
    }
}

//! `creditline increases list|approve`: limit increases waiting for a reviewer.

use std::process::ExitCode;

use clap::Subcommand;

use crate::app::App;
use crate::config::Config;
use crate::domain::SubjectId;
use crate::services::billing::CycleError;
use crate::services::billing::escalation;
use crate::services::views;

#[derive(Debug, Subcommand)]
pub enum IncreasesCommand {
    /// Every limit increase of an account's lines with its state, as JSON lines.
    List { account: String },
    /// Approve an increase in review: the line's limit is raised in the same transaction. When
    /// the line was paused, reduced, closed or re-limited meanwhile, the increase is closed
    /// instead (`"state": "closed"` with the reason; the account is emailed).
    Approve {
        id: SubjectId,
        /// The reviewer approving (recorded on the events).
        #[arg(long)]
        by: String,
    },
}

impl IncreasesCommand {
    pub async fn run(self, config: Config) -> anyhow::Result<ExitCode> {
        let app = App::build(config, true).await?;
        match self {
            IncreasesCommand::List { account } => {
                for (record, state) in views::increases_of(&app, &account).await? {
                    println!("{}", serde_json::json!({ "increase": record, "state": state }));
                }
                Ok(ExitCode::SUCCESS)
            }
            IncreasesCommand::Approve { id, by } => {
                match escalation::approve(&app, id, &format!("reviewer:{by}")).await {
                    Ok(r) => {
                        if let Some(why) = &r.reason {
                            eprintln!("increase {id} closed, not approved: {why}");
                        }
                        println!("{}", serde_json::to_string(&r)?);
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(e @ (CycleError::Invalid(_) | CycleError::Service(_))) => {
                        eprintln!("error: {e}");
                        Ok(ExitCode::from(2))
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }
}

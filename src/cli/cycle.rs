//! `creditline cycle close|gate`: the monthly billing cycle by hand (the scheduled job runs the
//! same services).

use std::process::ExitCode;

use clap::Subcommand;

use crate::app::App;
use crate::config::Config;
use crate::domain::Period;
use crate::services::billing::{self as cycles, CycleError};

#[derive(Debug, Subcommand)]
pub enum CycleCommand {
    /// Bill every credit line for the credit used in a closed calendar month (once per line
    /// and month: safe to rerun, e.g. after a crash).
    Close {
        /// The month to close, YYYY-MM (default: the last completed month).
        #[arg(long)]
        period: Option<Period>,
        /// Stop after this many bills, as a crash would (for drills and tests).
        #[arg(long, hide = true)]
        stop_after: Option<usize>,
    },
    /// Gate every line with an overdue bill through the cycle_gating rule (grace, pause,
    /// reduce, close), with the emails.
    Gate,
}

impl CycleCommand {
    pub async fn run(self, config: Config) -> anyhow::Result<ExitCode> {
        let app = App::build(config, true).await?;
        match self {
            CycleCommand::Close { period, stop_after } => {
                let Some(period) = period.or_else(|| cycles::last_closed_period(app.workflow.clock().now())) else {
                    anyhow::bail!("no completed month before now");
                };
                match cycles::close(&app, period, stop_after).await {
                    Ok(r) => {
                        println!("{}", serde_json::to_string(&r)?);
                        Ok(if r.stopped { ExitCode::from(3) } else { ExitCode::SUCCESS })
                    }
                    Err(e @ (CycleError::NotEnded(..) | CycleError::Invalid(_))) => {
                        eprintln!("error: {e}");
                        Ok(ExitCode::from(2))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            CycleCommand::Gate => {
                let r = cycles::gate(&app).await?;
                println!("{}", serde_json::to_string(&r)?);
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

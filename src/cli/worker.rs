use std::process::ExitCode;

use clap::Args;

use crate::app::App;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct WorkerArgs {}

/// `creditline worker`: the background jobs alone (send emails, the outbox relay, reminders).
pub async fn run(config: Config, _args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let app = App::build(config, true).await?;
    crate::services::rule_policy::watch(app.clone());
    tracing::info!(database = app.backend(), transport = ?app.config.mail.transport, "creditline worker");
    // One plain line for scripts and tests, as `serve` prints its address.
    println!("worker started");
    crate::jobs::run(app, super::serve::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

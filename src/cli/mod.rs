//! The command line (clap). Each command module translates arguments and delegates to
//! services; `--help` on every command.

mod applications;
mod console;
mod cycle;
mod inbox;
mod increases;
mod ingest;
mod invoices;
mod ledger;
mod rule_policy;
mod rules;
mod scale_out;
mod serve;
mod simulate;
mod tasks;
mod templates;
mod tokens;
mod worker;
mod workflows;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};

/// The most rows a `list` command prints at once (`--limit`); more is a clear error, not a
/// silent cap or, below one, no limit at all.
pub(crate) const MAX_LIST: i64 = 10_000;

#[derive(Debug, Parser)]
#[command(
    name = "creditline",
    version,
    about = "Credit-line review: email intake, workflows, rules and monthly billing cycles"
)]
pub struct Cli {
    /// Configuration file (default: ./creditline.toml when present).
    #[arg(long, global = true, env = "CREDITLINE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format: text (readable) or json (one object per line).
    #[arg(long, global = true, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service and, unless --no-workers, the background workers (migrates the
    /// database first).
    Serve(serve::ServeArgs),
    /// Run the background workers alone: outgoing email, the outbox relay, reminders and
    /// time-outs. SIGTERM finishes the jobs in flight, then exits.
    Worker(worker::WorkerArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Copy the SQLite database to a new file while the service runs (a consistent snapshot,
    /// checked before it is reported). PostgreSQL: use pg_dump (the error says how).
    Backup {
        /// The new file to write; an existing one is never overwritten.
        path: std::path::PathBuf,
    },
    /// Put a backup in place of the SQLite database. Stop `serve` and the workers first.
    Restore {
        /// The backup file (checked before anything is replaced).
        path: std::path::PathBuf,
        /// Replace an existing database.
        #[arg(long)]
        force: bool,
    },
    /// Check and draw the workflow definitions in workflows/.
    Workflows {
        #[command(subcommand)]
        cmd: workflows::WorkflowsCommand,
    },
    /// Check, evaluate and test the decision rules in rules/.
    Rules {
        #[command(subcommand)]
        cmd: rules::RulesCommand,
    },
    /// Check and preview the email templates in templates/email/.
    Templates {
        #[command(subcommand)]
        cmd: templates::TemplatesCommand,
    },
    /// Read application emails (.eml files, Maildirs, folders) into applications and tasks.
    Ingest(ingest::IngestArgs),
    /// The reviewer console: one-time sign-in links.
    Console {
        #[command(subcommand)]
        cmd: console::ConsoleCommand,
    },
    /// Create, list and revoke API tokens.
    Tokens {
        #[command(subcommand)]
        cmd: tokens::TokensCommand,
    },
    /// Money by hand (top-ups, deposits, coupons, adjustments, usage) and `ledger verify`.
    Ledger {
        #[command(subcommand)]
        cmd: ledger::LedgerCommand,
    },
    /// The monthly billing cycle: close a month (bills), gate lines with overdue bills.
    Cycle {
        #[command(subcommand)]
        cmd: cycle::CycleCommand,
    },
    /// Limit increases waiting for a reviewer: list, approve.
    Increases {
        #[command(subcommand)]
        cmd: increases::IncreasesCommand,
    },
    /// The reviewer task queue: list, show, and finish a task (`resolve`).
    Tasks {
        #[command(subcommand)]
        cmd: tasks::TasksCommand,
    },
    /// Poll the support mailbox over IMAP.
    Inbox {
        #[command(subcommand)]
        cmd: inbox::InboxCommand,
    },
    /// Look at and open credit-line applications.
    Applications {
        #[command(subcommand)]
        cmd: applications::ApplicationsCommand,
    },
    /// Issued invoices: list, show, render as HTML or PDF.
    Invoices {
        #[command(subcommand)]
        cmd: invoices::InvoicesCommand,
    },
    /// Run the whole business from one seed: real serve, worker and SMTP processes, simulated
    /// applicants and reviewers, faults, invariants checked every day, a report at the end.
    Simulate(simulate::SimulateArgs),
    /// Several serve and worker processes on one PostgreSQL database under load, a random
    /// one killed (SIGKILL) and restarted every few seconds; then checked from the database.
    ScaleOut(scale_out::ScaleOutArgs),
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(f) = &self.log_format {
            config.log_format = if f == "json" { LogFormat::Json } else { LogFormat::Text };
        }
        init_logging(&config);
        match self.command {
            Command::Serve(args) => serve::run(config, args).await,
            Command::Worker(args) => worker::run(config, args).await,
            Command::Migrate => {
                let backend = crate::app::migrate(&config.database_url).await?;
                println!("migrated {backend} database");
                Ok(ExitCode::SUCCESS)
            }
            Command::Backup { path } => {
                let copied = crate::services::backups::backup(&config.database_url, &path).await?;
                println!("backed up to {} ({} bytes, integrity ok)", copied.path.display(), copied.bytes);
                Ok(ExitCode::SUCCESS)
            }
            Command::Restore { path, force } => {
                let copied = crate::services::backups::restore(&path, &config.database_url, force).await?;
                println!("restored {} to {} ({} bytes)", path.display(), copied.path.display(), copied.bytes);
                Ok(ExitCode::SUCCESS)
            }
            Command::Workflows { cmd } => cmd.run(&config),
            // Compiling and evaluating rules is synchronous work: off the async workers.
            Command::Rules { cmd: cmd @ rules::RulesCommand::Backtest { .. } } => rules::backtest(config, cmd).await,
            Command::Rules { cmd } if cmd.uses_database() => rule_policy::run(config, cmd).await,
            Command::Rules { cmd } => {
                let (dir, limits) = (config.rules_dir.clone(), (&config.rules).into());
                tokio::task::spawn_blocking(move || cmd.run(&dir, limits)).await?
            }
            Command::Templates { cmd } => cmd.run(&config),
            Command::Ingest(args) => ingest::run(config, args).await,
            Command::Applications { cmd } => cmd.run(config).await,
            Command::Tokens { cmd } => cmd.run(config).await,
            Command::Console { cmd } => cmd.run(config).await,
            Command::Inbox { cmd } => cmd.run(config).await,
            Command::Ledger { cmd } => cmd.run(config).await,
            Command::Cycle { cmd } => cmd.run(config).await,
            Command::Increases { cmd } => cmd.run(config).await,
            Command::Tasks { cmd } => cmd.run(config).await,
            Command::Invoices { cmd } => cmd.run(config).await,
            Command::Simulate(args) => simulate::run(config, args).await,
            Command::ScaleOut(args) => scale_out::run(config, args).await,
        }
    }
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // try_init: a second initialisation (tests calling run twice) is harmless.
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

//! `creditline scale-out`: many processes on PostgreSQL under load, with crashes (see
//! `crate::sim::scale_out`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::config::Config;
use crate::sim::scale_out::{self, Options, Planted, Spec};

#[derive(Debug, Args)]
pub struct ScaleOutArgs {
    /// The PostgreSQL database (`postgres://…`); the run works in a schema of its own,
    /// dropped when every check passed.
    #[arg(long)]
    pub database: String,
    /// How long the load runs, in seconds (the drain and the checks come after).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(5..=86_400))]
    pub seconds: u64,
    /// `creditline serve --no-workers` processes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=32))]
    pub servers: u64,
    /// `creditline worker` processes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=32))]
    pub workers: u64,
    /// Seconds between two kills (SIGKILL) of a random process, which is started again.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub kill_every: u64,
    /// Wall-clock seconds of one day on the service clock (the cycle job closes a month
    /// once the clock enters the next).
    #[arg(long, default_value_t = 1.0)]
    pub day_seconds: f64,
    /// Applicants; they apply over the first two thirds of the run.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub accounts: u64,
    /// Usage debits per second, from `--callers` callers at once.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub debits_per_second: u32,
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub callers: u64,
    /// API reads per second (the open queue, applications, credit lines), open loop.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub reads_per_second: u32,
    /// Plant a fault to prove the checks catch it (for testing this command).
    #[arg(long, value_enum)]
    pub plant: Option<Planted>,
    /// Seeds the applicants and the choice of the process to kill.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Keep the run's folder (logs, Maildir, configuration) here; a failed run keeps its
    /// temporary folder anyway and names it.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

/// Exit 0 when every check passed, 1 when one failed (the report names it), an error (2)
/// when the run could not go on.
pub async fn run(config: Config, args: ScaleOutArgs) -> anyhow::Result<ExitCode> {
    if !(args.database.starts_with("postgres://") || args.database.starts_with("postgresql://")) {
        anyhow::bail!("--database must be a postgres:// URL (the processes share it), not {:?}", args.database);
    }
    if !(args.day_seconds.is_finite() && (0.05..=3_600.0).contains(&args.day_seconds)) {
        anyhow::bail!("--day-seconds must be between 0.05 and 3600, not {}", args.day_seconds);
    }
    let spec = Spec {
        seed: args.seed,
        run_for: Duration::from_secs(args.seconds),
        servers: usize::try_from(args.servers)?,
        workers: usize::try_from(args.workers)?,
        kill_every: Duration::from_secs(args.kill_every),
        day: Duration::from_secs_f64(args.day_seconds),
        accounts: usize::try_from(args.accounts)?,
        debits_per_second: args.debits_per_second,
        callers: usize::try_from(args.callers)?,
        reads_per_second: args.reads_per_second,
        planted: args.plant,
    };
    let opts = Options { base: config, database: args.database, exe: std::env::current_exe()?, keep: args.keep };
    // Ctrl-C or SIGTERM drops the run and with it every process it started.
    let report = tokio::select! {
        r = scale_out::run(spec, opts) => r?,
        _ = super::serve::shutdown_signal() => {
            eprintln!("scale-out run interrupted; its processes are stopped");
            return Ok(ExitCode::from(130));
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

//! `creditline simulate`: the whole business from one seed (see `crate::sim`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::Config;
use crate::sim::driver::{self, Options, Planted};
use crate::sim::{FaultLevel, Spec};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The seed: the same seed gives the same run (and the same report, timings aside).
    #[arg(long)]
    pub seed: u64,
    /// How many accounts apply over the run.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub accounts: u64,
    /// How many calendar months to run (then two weeks more, for the last bills to fall due).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub months: u32,
    /// Faults to inject: none, some (now and then) or many.
    #[arg(long, value_enum, default_value_t = FaultLevel::None)]
    pub faults: FaultLevel,
    /// Run on PostgreSQL (`postgres://…`, in a fresh schema that is dropped afterwards);
    /// SQLite in the run's folder otherwise.
    #[arg(long)]
    pub database: Option<String>,
    /// The first simulated month (`YYYY-MM`).
    #[arg(long, default_value = "2027-01")]
    pub start: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Leave the timings out of the report (two runs of one seed then print the same bytes).
    #[arg(long)]
    pub no_timings: bool,
    /// Keep the run's folder (database, logs, mailboxes) here; a failed run keeps its
    /// temporary folder anyway and names it.
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// Plant a fault in the world to prove the checks catch it (for testing the simulation).
    #[arg(long, value_enum)]
    pub plant: Option<Planted>,
    /// The log filter of the serve and worker processes, whose logs are in the run's folder
    /// (`creditline=debug` shows how long each of the worker's scheduled jobs took).
    #[arg(long, value_name = "FILTER")]
    pub service_log: Option<String>,
}

/// Exit 0 with the report; 1 when an invariant failed (seed, day and trace on stderr); an
/// error (2) when the run could not go on.
pub async fn run(config: Config, args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let start = chrono::NaiveDate::parse_from_str(&format!("{}-01", args.start), "%Y-%m-%d")
        .map_err(|_| anyhow::anyhow!("--start must be a month like 2027-01, not {:?}", args.start))?;
    let spec = Spec {
        seed: args.seed,
        accounts: usize::try_from(args.accounts)?,
        months: args.months,
        faults: args.faults,
        start,
    };
    let exe = std::env::current_exe()?;
    let opts = Options {
        base: config,
        database: args.database,
        exe,
        keep: args.keep,
        planted: args.plant,
        service_log: args.service_log,
    };
    eprintln!(
        "simulating seed {} ({} accounts, {} months, faults {:?})",
        spec.seed, spec.accounts, spec.months, spec.faults
    );
    // Ctrl-C or SIGTERM drops the run, and with it the server, workers and SMTP server it
    // started (their handles kill them on drop); they would otherwise outlive it.
    let seed = spec.seed;
    let outcome = tokio::select! {
        outcome = driver::run(spec, opts) => outcome?,
        _ = super::serve::shutdown_signal() => {
            eprintln!("simulation seed {seed} interrupted; its processes are stopped");
            return Ok(ExitCode::from(130));
        }
    };
    match outcome {
        Ok(mut report) => {
            if args.no_timings {
                report.timings = None;
            }
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(failed) => {
            eprintln!("{failed}");
            Ok(ExitCode::from(1))
        }
    }
}

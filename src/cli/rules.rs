use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

use crate::rules::{Limits, RuleSet, fixtures, inputs};

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Compile every rules/*.rhai; errors name file, line and column.
    Check,
    /// Evaluate one rule on a JSON input file and print the decision as JSON.
    Eval {
        /// Rule name, e.g. initial_limit.
        rule: String,
        /// JSON file with the rule's input.
        #[arg(long)]
        input: std::path::PathBuf,
    },
    /// Run the fixture cases in rules/tests/ and print pass or fail per case.
    Test,
    /// Replay the recorded decisions under candidate rules and report what would change:
    /// outcomes from -> to per rule, limits offered or withdrawn, deposits asked, lines paused,
    /// reduced or increased, and the applications and accounts touched. Writes nothing.
    Backtest {
        /// The candidate rules folder (a copy of rules/ with the change).
        #[arg(long)]
        candidate: std::path::PathBuf,
        /// Only decisions made on or after this day (UTC), e.g. 2026-09-01.
        #[arg(long)]
        since: Option<chrono::NaiveDate>,
        /// Only this rule's decisions, e.g. initial_limit.
        #[arg(long)]
        rule: Option<String>,
        /// The whole report as JSON instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Propose a folder of rules (a copy of rules/ with the change) as the next policy
    /// version. It is compiled and kept; another admin or senior reviewer puts it in force.
    Propose {
        /// The folder with every rule file (*.rhai and data/*.txt).
        dir: std::path::PathBuf,
        /// Why: what the change does and what evidence supports it.
        #[arg(long)]
        note: String,
        /// Who proposes: the name of their admin or senior reviewer token.
        #[arg(long)]
        by: String,
    },
    /// List the policy versions, newest first: proposed, in force, superseded, rejected.
    Versions {
        #[arg(long)]
        json: bool,
    },
    /// Every version of one rule ever loaded or proposed (SHA-256, first seen), oldest first;
    /// with --source VERSION, that version's script.
    History {
        rule: String,
        /// A version (or its first characters) whose source to print.
        #[arg(long)]
        source: Option<String>,
    },
    /// Show a policy version: its rules and its diff against the version in force.
    Show { id: uuid::Uuid },
    /// Put a proposed version in force (not by its proposer). Needs rules.from_folder = false.
    Approve {
        id: uuid::Uuid,
        /// Who approves: the name of their admin or senior reviewer token.
        #[arg(long)]
        by: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Reject a proposed version, saying why; it is kept and never in force.
    Reject {
        id: uuid::Uuid,
        #[arg(long)]
        by: String,
        #[arg(long)]
        note: String,
    },
    /// Run a proposed version in shadow: `serve` and `worker` evaluate it beside every live
    /// decision and keep its answers apart (see `rules show`); it never acts.
    Shadow {
        id: uuid::Uuid,
        #[arg(long)]
        by: String,
        /// Stop the shadow run instead.
        #[arg(long)]
        stop: bool,
    },
    /// How each rule version performs: decisions by outcome per month, reviewers' agreement
    /// with the suggested limit (overrides with their reasons), repayment of the lines offered.
    Analytics {
        /// Count decisions from this day (UTC); default: a year back.
        #[arg(long)]
        since: Option<chrono::NaiveDate>,
        #[arg(long)]
        json: bool,
    },
    /// Propose going back to an earlier version; approved like any proposal.
    Rollback {
        /// The earlier version to restore.
        to: uuid::Uuid,
        #[arg(long)]
        by: String,
        #[arg(long)]
        note: String,
    },
}

impl RulesCommand {
    /// The commands that read or write the database (the others read the folder only).
    pub fn uses_database(&self) -> bool {
        !matches!(self, RulesCommand::Check | RulesCommand::Eval { .. } | RulesCommand::Test)
    }
}

/// How many changed decisions the summary lists (the JSON has them all).
const LISTED: usize = 50;

/// `rules backtest`: reads the database, so it runs apart from the file-only commands.
pub async fn backtest(config: crate::config::Config, cmd: RulesCommand) -> anyhow::Result<ExitCode> {
    let RulesCommand::Backtest { candidate, since, rule, json } = cmd else {
        anyhow::bail!("not a backtest");
    };
    let limits: Limits = (&config.rules).into();
    let rules = match tokio::task::spawn_blocking(move || load(&candidate, limits)).await? {
        Ok(r) => std::sync::Arc::new(r),
        Err(code) => return Ok(code),
    };
    if let Some(r) = &rule
        && rules.version(r).is_none()
    {
        eprintln!("the candidate has no rule named {r:?}");
        return Ok(ExitCode::FAILURE);
    }
    let app = crate::app::App::build(config, true).await?;
    let scope = crate::services::backtest::Scope {
        rule,
        since: since.and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc()),
    };
    let started = std::time::Instant::now();
    let found = crate::services::backtest::run(&app, rules, &scope).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(ExitCode::SUCCESS);
    }
    let money = |c: i64| crate::domain::Money::from_cents(c).to_string();
    for (name, r) in &found.report.rules {
        let unreplayable: u64 = r.unreplayable.values().sum();
        println!(
            "{name}: {} replayed, {} changed, {unreplayable} not replayable",
            r.replayed,
            r.replayed - r.unchanged
        );
        for (from_to, n) in &r.matrix {
            println!("  {from_to}: {n}");
        }
        if r.limit_delta_cents != 0 {
            println!("  limits: {} in all", money(r.limit_delta_cents));
        }
        if r.deposit_delta_cents != 0 {
            println!("  deposits asked: {} in all", money(r.deposit_delta_cents));
        }
        for (outcome, n) in &r.newly {
            println!("  newly {outcome}: {n}");
        }
        for (why, n) in &r.unreplayable {
            println!("  not replayable ({why}): {n}");
        }
    }
    let changes = found.report.rules.values().flat_map(|r| r.changes.iter()).zip(&found.affected);
    for (c, a) in changes.clone().take(LISTED) {
        let amount = |v: Option<i64>| v.map(money).unwrap_or_else(|| "-".into());
        println!(
            "{} {} {}: {} {} -> {} {}",
            c.rule,
            a.reference.as_deref().unwrap_or("-"),
            a.account_email.as_deref().unwrap_or("-"),
            c.from,
            amount(c.from_limit_cents),
            c.to,
            amount(c.to_limit_cents)
        );
    }
    let total = changes.count();
    if total > LISTED {
        println!("... and {} more changes (--json lists them all)", total - LISTED);
    }
    eprintln!("backtest took {:.2} s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

fn load(dir: &Path, limits: Limits) -> Result<RuleSet, ExitCode> {
    RuleSet::load_with(dir, limits).map_err(|errors| {
        for e in errors {
            eprintln!("{e}");
        }
        ExitCode::FAILURE
    })
}

impl RulesCommand {
    /// Synchronous: evaluations run on this thread (the caller puts it on the blocking pool).
    pub fn run(self, dir: &Path, limits: Limits) -> anyhow::Result<ExitCode> {
        let rules = match load(dir, limits) {
            Ok(r) => r,
            Err(code) => return Ok(code),
        };
        match self {
            RulesCommand::Check => {
                for name in rules.names() {
                    println!("{name} {}", rules.version(name).unwrap_or_default());
                }
            }
            RulesCommand::Eval { rule, input } => {
                if rules.version(&rule).is_none() {
                    eprintln!("no rule named {rule:?}");
                    return Ok(ExitCode::FAILURE);
                }
                let text = std::fs::read_to_string(&input)?;
                let raw: serde_json::Value = serde_json::from_str(&text)?;
                let value = inputs::normalize(&rule, raw).map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
                let (decision, record) = rules.evaluate(&rule, &value, None);
                let out = serde_json::json!({
                    "rule": rule,
                    "version": record.version,
                    "outcome": decision.outcome,
                    "reasons": decision.reasons,
                    "findings": decision.findings,
                    "missing": decision.missing,
                    "fields": decision.fields,
                    "duration_us": record.duration_us,
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
            RulesCommand::Test => {
                let results = fixtures::run(&rules, &dir.join("tests")).map_err(anyhow::Error::msg)?;
                let failed = results.iter().filter(|r| r.failure.is_some()).count();
                for r in &results {
                    match &r.failure {
                        None => println!("pass {}: {}", r.rule, r.name),
                        Some(why) => println!("FAIL {}: {}: {why}", r.rule, r.name),
                    }
                }
                println!("{} passed, {failed} failed", results.len() - failed);
                if failed > 0 || results.is_empty() {
                    return Ok(ExitCode::FAILURE);
                }
            }
            // Dispatched to [`backtest`] and [`super::rule_policy::run`] (they need the
            // database) before this is called.
            _ => anyhow::bail!("this rules command runs with the database"),
        }
        Ok(ExitCode::SUCCESS)
    }
}

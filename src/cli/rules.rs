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
        }
        Ok(ExitCode::SUCCESS)
    }
}

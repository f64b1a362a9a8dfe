//! `creditline ingest [--json] PATH...`: application emails from files, Maildirs or folders.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::app::App;
use crate::config::Config;
use crate::intake::{self, sources};

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Print one JSON object per message (source, message_id, outcome, application_id, state,
    /// applicant_type, missing, findings, error).
    #[arg(long)]
    pub json: bool,
    /// `.eml` files, Maildirs (new/ and cur/) or folders of `.eml` files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Exit 0 when every message got an outcome (`rejected` included); 1 when a PATH could not
/// be read; 2 when the database failed.
pub async fn run(config: Config, args: IngestArgs) -> anyhow::Result<ExitCode> {
    let app = App::build(config, true).await?;
    let mut unreadable = false;
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for path in &args.paths {
        let list = match sources::list(path) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                unreadable = true;
                continue;
            }
        };
        for source in list {
            let raw = match std::fs::read(&source.path) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", source.path.display());
                    unreadable = true;
                    continue;
                }
            };
            let name = source.path.display().to_string();
            let report = match intake::ingest(&app, &name, &raw).await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {name}: database: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            // Only after the outcome is committed does a Maildir message leave new/.
            if let Some(target) = &source.move_to
                && let Err(e) = std::fs::rename(&source.path, target)
            {
                eprintln!("warning: {name}: processed but not moved to cur/: {e}");
            }
            *counts.entry(report.outcome.clone()).or_default() += 1;
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "{:<24} {:<38} {}{}",
                    report.outcome,
                    report.application_id.as_deref().unwrap_or("-"),
                    name,
                    report.error.as_deref().map(|e| format!("  ({e})")).unwrap_or_default()
                );
            }
        }
    }
    if !args.json {
        let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("ingested: {}", summary.join(" "));
    }
    Ok(if unreadable { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

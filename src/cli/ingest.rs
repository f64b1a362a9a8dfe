//! `creditline ingest [--json] PATH...`: application emails from files, Maildirs or folders.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::app::App;
use crate::config::Config;
use crate::intake::sources;
use crate::services::inbound;

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
/// Messages read into memory at a time.
const CHUNK: usize = 256;

pub async fn run(config: Config, args: IngestArgs) -> anyhow::Result<ExitCode> {
    let app = App::build(config, true).await?;
    let mut unreadable = false;
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    let mut sources = Vec::new();
    for path in &args.paths {
        match sources::list(path) {
            Ok(list) => sources.extend(list),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                unreadable = true;
            }
        }
    }
    // A chunk is read, ingested (committed in batches) and only then moved and reported, so a
    // crash leaves every uncommitted message where it was.
    for chunk in sources.chunks(CHUNK) {
        let mut batch = Vec::with_capacity(chunk.len());
        let mut readable = Vec::with_capacity(chunk.len());
        for source in chunk {
            match std::fs::read(&source.path) {
                Ok(raw) => {
                    batch.push((source.path.display().to_string(), raw));
                    readable.push(source);
                }
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", source.path.display());
                    unreadable = true;
                }
            }
        }
        // This process answers no one else: the rules run on its own task (`rules_inline`).
        let reports = match inbound::rules_inline(inbound::ingest_many(&app, &batch)).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: database: {e}");
                return Ok(ExitCode::from(2));
            }
        };
        for (source, report) in readable.into_iter().zip(reports) {
            // Only after the outcome is committed does a Maildir message leave new/.
            if let Some(target) = &source.move_to
                && let Err(e) = std::fs::rename(&source.path, target)
            {
                eprintln!("warning: {}: processed but not moved to cur/: {e}", source.path.display());
            }
            *counts.entry(report.outcome.clone()).or_default() += 1;
            print_report(&report, args.json)?;
        }
    }
    if !args.json {
        let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("ingested: {}", summary.join(" "));
    }
    Ok(if unreadable { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// One line per message: the JSON report, or outcome, application and source for people.
pub(super) fn print_report(report: &inbound::Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        println!(
            "{:<24} {:<38} {}{}",
            report.outcome,
            report.application_id.as_deref().unwrap_or("-"),
            report.source,
            report.error.as_deref().map(|e| format!("  ({e})")).unwrap_or_default()
        );
    }
    Ok(())
}

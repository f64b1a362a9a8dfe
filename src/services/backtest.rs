//! Backtests: every recorded decision (of one rule, since a date) replayed under candidate
//! rules, on the blocking pool in parts, with the applications and accounts each change
//! touches named so a reviewer can drill into them. Nothing is written.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::app::App;
use crate::domain::{DecisionId, SubjectId};
use crate::rules::RuleSet;
use crate::rules::backtest::{Report, replay};
use crate::store::{DecisionScan, StoreError};

/// Records read per page; each page is replayed in [`PARTS`] parts at once.
const PAGE: i64 = 4000;
const PARTS: usize = 2;

/// Which recorded decisions to replay.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub rule: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// Who a changed decision is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Affected {
    pub decision: DecisionId,
    pub rule: String,
    /// The application's reference, when the decision was about one.
    pub reference: Option<String>,
    pub account_email: Option<String>,
}

/// A backtest's report and who its changes touch.
#[derive(Debug, Clone, Serialize)]
pub struct Backtest {
    /// The candidate's version of each rule (SHA-256 of its source).
    pub candidate: std::collections::BTreeMap<String, String>,
    pub report: Report,
    pub affected: Vec<Affected>,
}

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the replay stopped: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Replays the recorded decisions in `scope` under `candidate`.
pub async fn run(app: &App, candidate: Arc<RuleSet>, scope: &Scope) -> Result<Backtest, BacktestError> {
    let mut report = Report::default();
    let mut after = None;
    loop {
        let scan = DecisionScan { rule: scope.rule.clone(), since: scope.since, after, limit: PAGE };
        let page = app.store.scan_decisions(&scan).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let full = page.len() as i64 == PAGE;
        let size = page.len().div_ceil(PARTS).max(1);
        let mut parts = Vec::new();
        let mut page = page;
        while !page.is_empty() {
            let part: Vec<_> = page.drain(..size.min(page.len())).collect();
            let rules = candidate.clone();
            parts.push(tokio::task::spawn_blocking(move || {
                let mut r = Report::default();
                for record in &part {
                    r.add(&record.rule, replay(&rules, record));
                }
                r
            }));
        }
        for part in parts {
            report.merge(part.await?);
        }
        if !full {
            break;
        }
    }
    report.sort();
    // Who each change touches, read for all changed subjects at once.
    let changes: Vec<_> = report.rules.values().flat_map(|r| r.changes.iter()).collect();
    let mut subjects: Vec<SubjectId> = changes.iter().filter_map(|c| c.subject).collect();
    subjects.sort();
    subjects.dedup();
    let names: std::collections::HashMap<SubjectId, (Option<String>, Option<String>)> = app
        .store
        .subject_names(&subjects)
        .await?
        .into_iter()
        .map(|(id, reference, account)| (id, (reference, account)))
        .collect();
    let affected = changes
        .iter()
        .map(|change| {
            let (reference, account_email) =
                change.subject.and_then(|s| names.get(&s).cloned()).unwrap_or((None, None));
            Affected { decision: change.decision, rule: change.rule.clone(), reference, account_email }
        })
        .collect();
    let candidate_versions =
        candidate.names().map(|n| (n.to_string(), candidate.version(n).unwrap_or_default().to_string())).collect();
    Ok(Backtest { candidate: candidate_versions, report, affected })
}

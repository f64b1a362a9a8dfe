//! The console's dashboard: the figures a team lead checks first in the morning. The queue
//! per task kind, this month's reviewer decisions, the credit outstanding, the unpaid bills
//! and the emails that fail.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::Failure;
use super::tasks::{self, TaskError};
use crate::app::App;
use crate::domain::Period;
use crate::store::{ReportBills, ReportWindow, TaskCount};

/// The events that are a reviewer's decision on an application or an increase.
const DECISIONS: &[&str] = &["approve", "first_approval", "decline", "defer", "request_info"];

#[derive(Debug, Serialize)]
pub struct Dashboard {
    pub period: String,
    /// Open tasks per kind: total, past the SLA, unclaimed.
    pub tasks: Vec<TaskCount>,
    /// Reviewer decisions in the month so far, by event.
    pub decisions: Vec<(String, i64)>,
    /// Billed and not paid, plus drawn and not billed yet.
    pub outstanding_cents: i64,
    pub billed_unpaid_cents: i64,
    pub unbilled_cents: i64,
    /// Bills issued this month and those due this month, with how they stand.
    pub bills: ReportBills,
    pub lines: Vec<(String, i64)>,
    pub deposits_held_cents: i64,
    /// Emails by delivery state (`failed` ones need a person).
    pub emails: Vec<(String, i64)>,
    pub failed_emails: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error(transparent)]
    Tasks(#[from] TaskError),
    #[error(transparent)]
    Store(#[from] Failure),
}

impl From<crate::store::StoreError> for DashboardError {
    fn from(e: crate::store::StoreError) -> DashboardError {
        DashboardError::Store(e.into())
    }
}

pub async fn dashboard(app: &App, now: DateTime<Utc>) -> Result<Dashboard, DashboardError> {
    let period = Period::containing(now);
    // The figures split open tasks by age; one cut-off (the SLA) is what the report needs.
    let sla = tasks::created_before(now, app.config.task_sla_hours);
    let window = ReportWindow { from: period.start(), to: now, open_task_cutoffs: vec![sla] };
    let figures = app.store.report_figures(&window).await?;
    let emails = app.store.outbox_counts().await?;
    let failed_emails = emails.iter().filter(|(state, _)| state == "failed").map(|(_, n)| n).sum();
    Ok(Dashboard {
        period: period.to_string(),
        tasks: tasks::counts(app, now).await?,
        decisions: app.store.event_counts(DECISIONS, period.start()).await?,
        outstanding_cents: figures.billed_unpaid_cents + figures.unbilled_cents,
        billed_unpaid_cents: figures.billed_unpaid_cents,
        unbilled_cents: figures.unbilled_cents,
        bills: figures.bills,
        lines: figures.lines,
        deposits_held_cents: figures.deposits_held_cents,
        emails,
        failed_emails,
    })
}

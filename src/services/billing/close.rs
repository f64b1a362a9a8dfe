//! The month's close: every credit line billed for the credit it used in a closed calendar
//! month, exactly once per line and period (the bill's unique key is the claim, so a rerun
//! after a crash, or every worker running it at once, bills nothing twice). Once every line is
//! billed, the healthy ones are assessed for an increase ([`super::escalation`]).

use chrono::Duration;
use serde::Serialize;

use crate::app::App;
use crate::domain::{Bucket, EntryKind, Period, last_day_to_pay};
use crate::services::workflow::Fire;
use crate::store::{BillWrite, CreditLineRecord, CycleWrite, LedgerWrite, StoreError};
use crate::workflow::names::credit_line;

use super::error::CycleError;
use super::escalation::{self, EscalationReport};
use super::lines::{ACTOR, TRIES, entry, plan};

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CloseReport {
    pub period: String,
    /// Bills issued by this run (with the bill email when something is owed).
    pub billed: usize,
    /// Of those, lines that used nothing: a $0.00 bill, no email.
    pub zero: usize,
    /// Stopped early on request (`stop_after`), as a crash would.
    pub stopped: bool,
    /// The limit increases proposed once every line was billed.
    pub escalation: EscalationReport,
}

/// The tables a close reads and writes in bulk.
const CLOSE_TABLES: &[&str] = &[
    "workflow_instances",
    "workflow_events",
    "outbox",
    "credit_lines",
    "credit_usage",
    "bills",
    "ledger_entries",
    "ledger_accounts",
];

/// Bills every line for `period`, in batches; stops after `stop_after` bills when given.
pub async fn close(app: &App, period: Period, stop_after: Option<usize>) -> Result<CloseReport, CycleError> {
    let now = app.workflow.clock().now();
    if period.end() > now {
        return Err(CycleError::NotEnded(period, period.end()));
    }
    // A young database's statistics first (see `OperationsStore::refresh_statistics`).
    let analyzed = app.store.refresh_statistics(CLOSE_TABLES).await?;
    if !analyzed.is_empty() {
        tracing::info!(tables = ?analyzed, "statistics were missing or stale; analyzed before the close");
    }
    let batch = app.config.billing.close_batch.max(1);
    let mut report = CloseReport { period: period.to_string(), ..CloseReport::default() };
    // A line that has ended (closed) is billed no more.
    let ended = app.workflow.states_where(credit_line::WORKFLOW, |s| s.terminal);
    let mut next = app.store.lines_to_bill(period, None, batch, &ended).await?;
    loop {
        let mut lines = std::mem::take(&mut next);
        if let Some(k) = stop_after {
            if report.billed >= k {
                report.stopped = true;
                return Ok(report);
            }
            lines.truncate(k - report.billed);
        }
        let Some((last, _)) = lines.last() else {
            // Every line is billed: healthy ones may be proposed a higher limit now.
            report.escalation = escalation::scan(app).await?;
            return Ok(report);
        };
        let after = Some(last.id);
        let writes =
            lines.iter().map(|(line, used)| bill_write(app, line, *used, period)).collect::<Result<Vec<_>, _>>()?;
        // The whole batch in one transaction; when a line moved since it was read (a payment,
        // a gating step) the batch is given up and its lines are billed one by one. The next
        // batch is read meanwhile (its lines come after this one's, which the commit alone
        // touches), so the writer does not wait for the read.
        let (committed, read) =
            tokio::join!(app.store.commit_bills(&writes), app.store.lines_to_bill(period, after, batch, &ended));
        next = read?;
        let billed = match committed {
            Ok(billed) => writes.iter().zip(billed).filter(|(_, b)| *b).map(|(w, _)| bill_cents(w)).collect(),
            Err(StoreError::Conflict { .. }) => {
                let mut billed = Vec::new();
                for (line, _) in &lines {
                    billed.extend(bill_line(app, line, period).await?);
                }
                billed
            }
            Err(e) => return Err(e.into()),
        };
        report.billed += billed.len();
        report.zero += billed.iter().filter(|c| **c == 0).count();
    }
}

fn bill_cents(w: &CycleWrite) -> i64 {
    w.bill.as_ref().map_or(0, |b| b.amount_cents)
}

/// A line's bill for the credit it used: the bill, its receivable entry and the
/// `bill_issued` step with the email, or the bill alone for a line that used nothing.
fn bill_write(app: &App, line: &CreditLineRecord, used: i64, period: Period) -> Result<CycleWrite, CycleError> {
    let due_at = period.end() + Duration::days(i64::from(app.config.billing.due_days));
    let now = app.workflow.clock().now();
    let mut write = CycleWrite {
        bill: Some(BillWrite {
            id: uuid::Uuid::now_v7(),
            line_id: line.id,
            account_email: line.account_email.clone(),
            period,
            amount_cents: used,
            due_at,
        }),
        at: now,
        ..CycleWrite::default()
    };
    if used > 0 {
        // The entry names its line and month: an invoice for the month is made from it.
        let mut bill = entry(EntryKind::Bill, Bucket::Receivable, used, format!("bill:{}:{period}", line.id));
        bill.line_id = Some(line.id);
        bill.period = Some(period);
        write.ledger = Some(LedgerWrite {
            account_email: line.account_email.clone(),
            entries: vec![bill],
            draw: None,
            coupon: None,
            at: now,
        });
        let fire = Fire::new(line.id, "bill_issued", ACTOR)
            .data("amount_cents", used)
            .data("due_date", last_day_to_pay(due_at).to_string())
            .data("period", period.to_string());
        write.workflow.steps.push(plan(app, line, &fire)?);
    }
    Ok(write)
}

/// Issues one line's bill, re-reading it after a lost race; returns its amount, `None` when
/// it had one already.
async fn bill_line(app: &App, line: &CreditLineRecord, period: Period) -> Result<Option<i64>, CycleError> {
    for _ in 0..TRIES {
        let Some(fresh) = app.store.credit_line(line.id).await? else { return Ok(None) };
        let used = app.store.credit_used(line.id, period).await?;
        let write = bill_write(app, &fresh, used, period)?;
        match app.store.commit_cycle(&write).await {
            Ok(done) => return Ok(done.then_some(used)),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(CycleError::Invalid(format!("line {}: kept changing while it was billed", line.id)))
}

//! Limit increases. After a cycle close, every active line without an open increase is
//! assessed by the `limit_increase` rule from its repayment history; a proposal opens the
//! `limit_increase` workflow for a reviewer (never automatic). At $5,000/month or more it
//! waits in `awaiting_deposit` until a deposit of at least the new limit is held, then goes
//! to review. Approving raises the line's limit in the same transaction.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::app::App;
use crate::domain::SubjectId;
use crate::rules::inputs::LimitIncreaseInput;
use crate::rules::typed::LimitIncrease;
use crate::store::{BillRecord, CreditLineFilter, CreditLineRecord, CycleWrite, IncreaseRecord, StoreError};

use super::cycles::{CycleError, next_lines, plan};
use super::workflow::{Cursor, Fire};

const ACTOR: &str = "system:escalation";
/// The states of an increase still in progress.
const OPEN: [&str; 3] = ["proposed", "awaiting_deposit", "pending_review"];

/// The rule's input from a line's bills, the account's prepaid top-ups of the last 90 days
/// and its deposit (pure). Monthly volume is credit billed plus prepaid bought, per month.
pub fn increase_input(
    line: &CreditLineRecord,
    bills: &[BillRecord],
    topups_90d_cents: i64,
    deposit_cents: i64,
    now: DateTime<Utc>,
) -> LimitIncreaseInput {
    let year_ago = now - Duration::days(365);
    let due: Vec<&BillRecord> = bills.iter().filter(|b| b.due_at < now).collect();
    let on_time = |b: &BillRecord| b.paid_cents >= b.amount_cents && b.paid_at.is_none_or(|p| p <= b.due_at);
    let consecutive = due.iter().rev().take_while(|b| on_time(b)).count();
    let recent: Vec<&BillRecord> = bills.iter().rev().take(3).collect();
    let n = i64::try_from(recent.len().max(1)).unwrap_or(1);
    let billed: i64 = recent.iter().map(|b| b.amount_cents).sum();
    let utilization = if line.monthly_limit_cents > 0 { billed * 100 / n / line.monthly_limit_cents } else { 0 };
    let count = |f: &dyn Fn(&&&BillRecord) -> bool| {
        i64::try_from(due.iter().filter(|b| b.due_at > year_ago).filter(f).count()).unwrap_or(0)
    };
    LimitIncreaseInput {
        current_limit_cents: line.monthly_limit_cents,
        requested_limit_cents: 0,
        line_state: line.state.clone(),
        months_on_line: i64::try_from(bills.len()).unwrap_or(0),
        consecutive_on_time_payments: i64::try_from(consecutive).unwrap_or(0),
        late_payments_12m: count(&|b| b.paid_at.is_some_and(|p| p > b.due_at)),
        missed_payments_12m: count(&|b| b.paid_cents < b.amount_cents),
        utilization_percent: utilization.clamp(0, 100),
        recent_monthly_volume_cents: billed / n + topups_90d_cents / 3,
        deposit_held_cents: deposit_cents,
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct EscalationReport {
    pub proposed: usize,
    pub awaiting_deposit: usize,
    pub deposits_recorded: usize,
}

/// Assesses every active line without an open increase; moves increases waiting for a
/// deposit on once it is held. Safe to run repeatedly and from several workers: a line with an
/// open increase is skipped, and every step is version-checked.
pub async fn scan(app: &App) -> Result<EscalationReport, CycleError> {
    let now = app.workflow.clock().now();
    let mut report = EscalationReport::default();
    let mut after = None;
    loop {
        let lines = next_lines(app, &mut after).await?;
        if lines.is_empty() {
            return Ok(report);
        }
        for line in &lines {
            let increases = app.store.increases_for_line(line.id).await?;
            let deposit = app.store.balances(&line.account_email).await?.deposit_cents;
            if let Some((open, state)) = increases.iter().find(|(_, s)| OPEN.contains(&s.as_str())) {
                if state == "awaiting_deposit" && deposit >= open.deposit_cents {
                    let fire = Fire::new(open.id, "deposit_recorded", ACTOR)
                        .data("deposit_cents", deposit)
                        .data("monthly_limit_cents", open.next_limit_cents);
                    let instance = app
                        .store
                        .instance(open.id)
                        .await?
                        .ok_or_else(|| CycleError::Invalid(format!("increase {} has no instance", open.id)))?;
                    let (t, _) = app.workflow.plan(&mut Cursor::from(&instance), &fire)?;
                    let write = CycleWrite { transitions: vec![t], at: now, ..CycleWrite::default() };
                    match app.store.commit_cycle(&write).await {
                        Ok(_) => report.deposits_recorded += 1,
                        Err(StoreError::Conflict { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                continue;
            }
            if line.state != "active" {
                continue;
            }
            let bills = app.store.bills_for_line(line.id).await?;
            let since = now - Duration::days(90);
            let topups: i64 = app
                .store
                .ledger_entries(&line.account_email)
                .await?
                .iter()
                .filter(|e| e.kind == "top_up" && e.created_at > since)
                .map(|e| e.amount_cents)
                .sum();
            let input = increase_input(line, &bills, topups, deposit, now);
            let (decision, record) = app.rules.evaluate_async("limit_increase", input, Some(line.id)).await;
            let (next, deposit_needed) = match LimitIncrease::try_from(&decision) {
                Ok(LimitIncrease::Propose { next }) => (next.cents(), 0),
                Ok(LimitIncrease::DepositRequired { next, deposit }) => (next.cents(), deposit.cents()),
                // Holding is the normal answer most months: nothing is opened, nothing is sent.
                _ => continue,
            };
            let id = SubjectId::new();
            let (instance, _) = app.workflow.plan_start("limit_increase", id, Some(&line.account_email), ACTOR)?;
            let mut cursor = Cursor::created(&instance);
            let fire = Fire::new(id, "assessed", ACTOR)
                .decision("limit_increase", &decision.outcome, record.id)
                .reason(&decision.reasons.join("; "))
                .data("monthly_limit_cents", next)
                .data("deposit_cents", deposit_needed)
                .data("credit_line", line.id);
            let (t, _) = app.workflow.plan(&mut cursor, &fire)?;
            let write = CycleWrite {
                new_instance: Some(instance),
                increase: Some(IncreaseRecord {
                    id,
                    line_id: line.id,
                    account_email: line.account_email.clone(),
                    current_limit_cents: line.monthly_limit_cents,
                    next_limit_cents: next,
                    deposit_cents: deposit_needed,
                    created_at: now,
                }),
                transitions: vec![t],
                decisions: vec![record],
                at: now,
                ..CycleWrite::default()
            };
            app.store.commit_cycle(&write).await?;
            if deposit_needed > 0 { report.awaiting_deposit += 1 } else { report.proposed += 1 }
        }
    }
}

/// A reviewer approves an increase in review: the increase is approved and the line's limit
/// raised (with the `limit_increase_approved` email) in one transaction.
pub async fn approve(app: &App, increase: SubjectId, reviewer: &str) -> Result<IncreaseRecord, CycleError> {
    let instance = app
        .store
        .instance(increase)
        .await?
        .ok_or_else(|| CycleError::Invalid(format!("no limit increase {increase}")))?;
    if instance.workflow != "limit_increase" {
        return Err(CycleError::Invalid(format!("{increase} is not a limit increase")));
    }
    let account = instance.account_email.clone().unwrap_or_default();
    let lines = app
        .store
        .list_credit_lines(&CreditLineFilter { account_email: Some(account), state: None, after: None, limit: 100 })
        .await?;
    let mut found = None;
    for l in lines {
        if let Some((r, _)) = app.store.increases_for_line(l.id).await?.into_iter().find(|(r, _)| r.id == increase) {
            found = Some((l, r));
        }
    }
    let (line, record) =
        found.ok_or_else(|| CycleError::Invalid(format!("limit increase {increase} has no credit line")))?;
    let fire = Fire::new(increase, "approve", reviewer).data("monthly_limit_cents", record.next_limit_cents);
    let (t, _) = app.workflow.plan(&mut Cursor::from(&instance), &fire)?;
    let raised = Fire::new(line.id, "limit_increased", reviewer).data("monthly_limit_cents", record.next_limit_cents);
    let write = CycleWrite {
        transitions: vec![t, plan(app, &line, &raised).await?],
        new_limit: Some((line.id, record.next_limit_cents)),
        at: app.workflow.clock().now(),
        ..CycleWrite::default()
    };
    app.store.commit_cycle(&write).await?;
    Ok(record)
}

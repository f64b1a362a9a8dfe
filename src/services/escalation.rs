//! Limit increases. After a cycle close, every active line without an open increase is
//! assessed by the `limit_increase` rule from its repayment history; a proposal opens the
//! `limit_increase` workflow for a reviewer (never automatic). At $5,000/month or more it
//! waits in `awaiting_deposit` until a deposit of at least the new limit is held, then goes
//! to review. Approving raises the line's limit in the same transaction.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::app::App;
use crate::domain::SubjectId;
use crate::rules::inputs::LimitIncreaseInput;
use crate::rules::typed::LimitIncrease;
use crate::store::{AccountFigures, BillRecord, CreditLineRecord, CycleWrite, IncreaseRecord, StoreError};

use super::cycles::{CycleError, bills_by_line, next_lines, plan};
use super::workflow::{Cursor, Fire, ServiceError};

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
        // From the account's payment standing, which the callers read (`fill_increase`).
        failed_payments_6m: 0,
        chargebacks_6m: 0,
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
/// open increase is skipped, and every step is version-checked. Reads a page of lines with
/// their bills, increases and balances in a few queries, and evaluates the page's rules in one
/// go: a close of 100,000 lines runs this over every one of them.
pub async fn scan(app: &App) -> Result<EscalationReport, CycleError> {
    let now = app.workflow.clock().now();
    let since = now - Duration::days(90);
    let mut report = EscalationReport::default();
    let mut after = None;
    loop {
        let lines = next_lines(app, &mut after).await?;
        if lines.is_empty() {
            return Ok(report);
        }
        let ids: Vec<SubjectId> = lines.iter().map(|l| l.id).collect();
        let mut open: HashMap<SubjectId, (IncreaseRecord, String)> = HashMap::new();
        for (record, state) in app.store.increases_for_lines(&ids).await? {
            if OPEN.contains(&state.as_str()) {
                open.insert(record.line_id, (record, state));
            }
        }
        let mut accounts: Vec<String> = lines.iter().map(|l| l.account_email.clone()).collect();
        accounts.sort();
        accounts.dedup();
        let figures: HashMap<String, AccountFigures> = app
            .store
            .account_figures(&accounts, since)
            .await?
            .into_iter()
            .map(|f| (f.account_email.clone(), f))
            .collect();
        let figures_of = |l: &CreditLineRecord| figures.get(&l.account_email).cloned().unwrap_or_default();
        let standings = super::payments::standings(app, &accounts, now).await?;
        let mut assess = Vec::new();
        for line in &lines {
            if let Some((increase, state)) = open.get(&line.id) {
                let deposit = figures_of(line).balances.deposit_cents;
                if state == "awaiting_deposit" && deposit >= increase.deposit_cents {
                    report.deposits_recorded += usize::from(deposit_recorded(app, increase, deposit).await?);
                }
            } else if line.state == "active" {
                assess.push(line);
            }
        }
        let bills = bills_by_line(app, assess.iter().copied()).await?;
        let inputs = assess
            .iter()
            .map(|l| {
                let f = figures_of(l);
                let history = bills.get(&l.id).map(Vec::as_slice).unwrap_or_default();
                let mut input = increase_input(l, history, f.topups_cents, f.balances.deposit_cents, now);
                standings.of(&l.account_email).fill_increase(&mut input);
                (input, Some(l.id))
            })
            .collect();
        let results = app.rules.evaluate_many_async("limit_increase", inputs).await;
        for (line, (decision, record)) in assess.into_iter().zip(results) {
            // Holding is the normal answer most months: nothing is opened, nothing is sent.
            if !matches!(
                LimitIncrease::try_from(&decision),
                Ok(LimitIncrease::Propose { .. } | LimitIncrease::DepositRequired { .. })
            ) {
                continue;
            }
            let write = open_increase(app, line, &decision, record, None)?;
            let awaiting = write.increase.as_ref().is_some_and(|i| i.deposit_cents > 0);
            match app.store.commit_cycle(&write).await {
                Ok(_) if awaiting => report.awaiting_deposit += 1,
                Ok(_) => report.proposed += 1,
                // Another worker's scan opened one first (the line moved meanwhile).
                Err(StoreError::Conflict { .. } | StoreError::Duplicate(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The rule's input for one line, read from the store; `requested` is what an account asked
/// for (0 for the next rung).
pub async fn line_input(app: &App, line: &CreditLineRecord, requested: i64) -> Result<LimitIncreaseInput, StoreError> {
    let now = app.workflow.clock().now();
    let bills = app.store.bills_for_line(line.id).await?;
    let figures = app
        .store
        .account_figures(std::slice::from_ref(&line.account_email), now - Duration::days(90))
        .await?
        .pop()
        .unwrap_or_default();
    let mut input = increase_input(line, &bills, figures.topups_cents, figures.balances.deposit_cents, now);
    input.requested_limit_cents = requested;
    super::payments::standing(app, &line.account_email, now).await?.fill_increase(&mut input);
    Ok(input)
}

/// The open increase of a line (proposed, waiting for a deposit or in review), if any.
pub async fn open_increase_of(app: &App, line: SubjectId) -> Result<Option<IncreaseRecord>, StoreError> {
    let increases = app.store.increases_for_line(line).await?;
    Ok(increases.into_iter().find(|(_, s)| OPEN.contains(&s.as_str())).map(|(r, _)| r))
}

/// An increase waiting for its deposit goes to review once the deposit is held.
async fn deposit_recorded(app: &App, increase: &IncreaseRecord, deposit: i64) -> Result<bool, CycleError> {
    let fire = Fire::new(increase.id, "deposit_recorded", ACTOR)
        .data("deposit_cents", deposit)
        .data("monthly_limit_cents", increase.next_limit_cents);
    let instance = app
        .store
        .instance(increase.id)
        .await?
        .ok_or_else(|| CycleError::Invalid(format!("increase {} has no instance", increase.id)))?;
    let (t, _) = app.workflow.plan(&mut Cursor::from(&instance), &fire)?;
    let write = CycleWrite { transitions: vec![t], at: app.workflow.clock().now(), ..CycleWrite::default() };
    match app.store.commit_cycle(&write).await {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The write that opens a `limit_increase` workflow for `line` and steps it by the rule's
/// decision: a proposal to review, a deposit to wait for, or (for a request the rule does not
/// support yet) a decline with the rule's reasons. `requested` is what an account asked for.
pub fn open_increase(
    app: &App,
    line: &CreditLineRecord,
    decision: &crate::rules::Decision,
    record: crate::rules::DecisionRecord,
    requested: Option<(i64, serde_json::Value)>,
) -> Result<CycleWrite, ServiceError> {
    let now = app.workflow.clock().now();
    let (next, deposit_needed) = match LimitIncrease::try_from(decision) {
        Ok(LimitIncrease::Propose { next }) => (next.cents(), 0),
        Ok(LimitIncrease::DepositRequired { next, deposit }) => (next.cents(), deposit.cents()),
        _ => (requested.as_ref().map_or(line.monthly_limit_cents, |(c, _)| *c), 0),
    };
    let id = SubjectId::new();
    let (instance, _) = app.workflow.plan_start("limit_increase", id, Some(&line.account_email), ACTOR)?;
    let mut cursor = Cursor::created(&instance);
    let mut fire = Fire::new(id, "assessed", ACTOR)
        .decision("limit_increase", &decision.outcome, record.id)
        .reason(&decision.reasons.join("; "))
        .data("monthly_limit_cents", next)
        .data("deposit_cents", deposit_needed)
        .data("credit_line", line.id);
    if let Some((cents, request)) = &requested {
        fire = fire.data("requested_limit_cents", cents).data("request", request);
    }
    let (t, _) = app.workflow.plan(&mut cursor, &fire)?;
    Ok(CycleWrite {
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
    })
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
    let (record, _) = app
        .store
        .increase(increase)
        .await?
        .ok_or_else(|| CycleError::Invalid(format!("no limit increase {increase}")))?;
    let line = app
        .store
        .credit_line(record.line_id)
        .await?
        .ok_or_else(|| CycleError::Invalid(format!("limit increase {increase} has no credit line")))?;
    let fire = Fire::new(increase, "approve", reviewer).data("monthly_limit_cents", record.next_limit_cents);
    let (t, _) = app.workflow.plan(&mut Cursor::from(&instance), &fire)?;
    let raised = Fire::new(line.id, "limit_increased", reviewer).data("monthly_limit_cents", record.next_limit_cents);
    let write = CycleWrite {
        transitions: vec![t, plan(app, &line, &raised)?],
        new_limit: Some((line.id, record.next_limit_cents)),
        at: app.workflow.clock().now(),
        ..CycleWrite::default()
    };
    app.store.commit_cycle(&write).await?;
    Ok(record)
}

//! Limit increases. After a cycle close, every active line without an open increase is
//! assessed by the `limit_increase` rule from its repayment history; a proposal opens the
//! `limit_increase` workflow for a reviewer (never automatic). From the deposit tier
//! (`rules/data/deposit_tier.txt`) it waits in `awaiting_deposit` until a guarantee of the new
//! limit is held, asking only for the shortfall, then goes to review. Approving raises the
//! line's limit in the same transaction. An open increase whose line was paused, reduced,
//! closed or re-limited meanwhile is closed (`line_changed`), never left to block the next.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::app::App;
use crate::domain::Money;
use crate::domain::SubjectId;
use crate::rules::inputs::LimitIncreaseInput;
use crate::rules::typed::LimitIncrease;
use crate::store::{
    AccountFigures, BillRecord, CreditLineRecord, CycleWrite, IncreaseRecord, StoreError, WorkflowChanges,
};

use crate::services::workflow::{Cursor, Fire, ServiceError};

use super::error::CycleError;
use super::lines::{bills_by_line, next_lines, plan};
use super::payment_standing::{Standings, standing, standings};
use crate::workflow::names::{credit_line, limit_increase};

const ACTOR: &str = "system:escalation";

/// Whether an increase in `state` is still in progress (proposed, waiting for a deposit or
/// in review): any state limit_increase.toml does not mark terminal.
fn in_progress(app: &App, state: &str) -> bool {
    app.workflow.is(limit_increase::WORKFLOW, state, |s| !s.terminal)
}

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
    /// Open increases closed because their line changed meanwhile.
    pub closed: usize,
}

/// Assesses every active line without an open increase; moves increases waiting for a
/// deposit on once it is held. Safe to run repeatedly and from several workers: a line with an
/// open increase is skipped, and every step is version-checked. Reads a page of lines with
/// their bills, increases and balances in a few queries, and evaluates the page's rules in one
/// go: a close of 100,000 lines runs this over every one of them. The next page is read while
/// the current one is assessed (its rules run on the blocking pool), so the reads and the
/// rules use both cores; pages hold other lines, so what one writes the next does not read.
pub async fn scan(app: &App) -> Result<EscalationReport, CycleError> {
    let now = app.workflow.clock().now();
    let mut report = EscalationReport::default();
    let mut page = Page::read(app, None, now).await?;
    while let Some(last) = page.lines.last() {
        let after = Some(last.id);
        let (assessed, next) = tokio::join!(page.assess(app, now, &mut report), Page::read(app, after, now));
        assessed?;
        page = next?;
    }
    Ok(report)
}

/// A page of lines with what assessing them reads.
#[derive(Default)]
struct Page {
    lines: Vec<CreditLineRecord>,
    /// The increases in progress, by line.
    open: HashMap<SubjectId, (IncreaseRecord, String)>,
    figures: HashMap<String, AccountFigures>,
    standings: Standings,
    /// The bills of the active lines.
    bills: HashMap<SubjectId, Vec<BillRecord>>,
}

impl Page {
    /// The page after `after`: its lines, then the rest in statements side by side.
    async fn read(app: &App, mut after: Option<SubjectId>, now: DateTime<Utc>) -> Result<Page, CycleError> {
        let lines = next_lines(app, &mut after).await?;
        if lines.is_empty() {
            return Ok(Page::default());
        }
        let ids: Vec<SubjectId> = lines.iter().map(|l| l.id).collect();
        let mut accounts: Vec<String> = lines.iter().map(|l| l.account_email.clone()).collect();
        accounts.sort();
        accounts.dedup();
        let (increases, figures, standings, bills) = tokio::try_join!(
            app.store.increases_for_lines(&ids),
            app.store.account_figures(&accounts, now - Duration::days(90)),
            standings(app, &accounts, now),
            bills_by_line(app, lines.iter().filter(|l| l.state == credit_line::ACTIVE)),
        )?;
        let open = increases
            .into_iter()
            .filter(|(_, state)| in_progress(app, state))
            .map(|(r, s)| (r.line_id, (r, s)))
            .collect();
        let figures = figures.into_iter().map(|f| (f.account_email.clone(), f)).collect();
        Ok(Page { lines, open, figures, standings, bills })
    }

    fn figures_of(&self, line: &CreditLineRecord) -> AccountFigures {
        self.figures.get(&line.account_email).cloned().unwrap_or_default()
    }

    /// Moves the page's open increases on, then evaluates the rule for its other active lines
    /// and opens what it proposes.
    async fn assess(&self, app: &App, now: DateTime<Utc>, report: &mut EscalationReport) -> Result<(), CycleError> {
        let mut assess = Vec::new();
        for line in &self.lines {
            if let Some((increase, state)) = self.open.get(&line.id) {
                let deposit = self.figures_of(line).balances.deposit_cents;
                if let Some(why) = line_moved(increase, line) {
                    report.closed += usize::from(close_increase(app, increase, line, &why).await?);
                } else if state == limit_increase::AWAITING_DEPOSIT && deposit >= increase.deposit_cents {
                    report.deposits_recorded += usize::from(deposit_recorded(app, increase, deposit).await?);
                }
            } else if line.state == credit_line::ACTIVE {
                assess.push(line);
            }
        }
        let inputs = assess
            .iter()
            .map(|l| {
                let f = self.figures_of(l);
                let history = self.bills.get(&l.id).map(Vec::as_slice).unwrap_or_default();
                let mut input = increase_input(l, history, f.topups_cents, f.balances.deposit_cents, now);
                self.standings.of(&l.account_email).fill_increase(&mut input);
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
        Ok(())
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
    standing(app, &line.account_email, now).await?.fill_increase(&mut input);
    Ok(input)
}

/// The open increase of a line (proposed, waiting for a deposit or in review), if any.
pub async fn open_increase_of(app: &App, line: SubjectId) -> Result<Option<IncreaseRecord>, StoreError> {
    let increases = app.store.increases_for_line(line).await?;
    Ok(increases.into_iter().find(|(_, s)| in_progress(app, s)).map(|(r, _)| r))
}

/// Why an open increase can no longer be approved as it was assessed: its line is not active
/// (paused, reduced, closed, in grace) or its limit is no longer the one the increase starts
/// from. `None`: it still stands.
pub fn line_moved(increase: &IncreaseRecord, line: &CreditLineRecord) -> Option<String> {
    if line.state != credit_line::ACTIVE {
        return Some(format!(
            "the credit line was {} while the increase was open; a new increase can be proposed once it is active again",
            line.state
        ));
    }
    if line.monthly_limit_cents != increase.current_limit_cents {
        return Some(format!(
            "the credit line's limit changed from {} to {} while the increase was open",
            Money::from_cents(increase.current_limit_cents),
            Money::from_cents(line.monthly_limit_cents)
        ));
    }
    None
}

/// Closes an open increase whose line moved on (`line_changed`, with the reason and the
/// `limit_increase_closed` email). False when another step took it first.
pub async fn close_increase(
    app: &App,
    increase: &IncreaseRecord,
    line: &CreditLineRecord,
    why: &str,
) -> Result<bool, CycleError> {
    let write = closing(app, increase, line, why).await?;
    match app.store.commit_cycle(&write).await {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn closing(
    app: &App,
    increase: &IncreaseRecord,
    line: &CreditLineRecord,
    why: &str,
) -> Result<CycleWrite, CycleError> {
    let instance = app
        .store
        .instance(increase.id)
        .await?
        .ok_or_else(|| CycleError::Invalid(format!("increase {} has no instance", increase.id)))?;
    let fire =
        Fire::new(increase.id, "line_changed", ACTOR).reason(why).data("monthly_limit_cents", line.monthly_limit_cents);
    let (t, _) = app.workflow.plan(&mut Cursor::from(&instance), &fire)?;
    Ok(CycleWrite { workflow: WorkflowChanges::step(t), at: app.workflow.clock().now(), ..CycleWrite::default() })
}

/// An increase waiting for its deposit goes to review once the deposit is held.
pub async fn deposit_recorded(app: &App, increase: &IncreaseRecord, deposit: i64) -> Result<bool, CycleError> {
    let fire = Fire::new(increase.id, "deposit_recorded", ACTOR)
        .data("deposit_cents", deposit)
        .data("monthly_limit_cents", increase.next_limit_cents);
    let instance = app
        .store
        .instance(increase.id)
        .await?
        .ok_or_else(|| CycleError::Invalid(format!("increase {} has no instance", increase.id)))?;
    if instance.state != limit_increase::AWAITING_DEPOSIT {
        // Another worker's scan recorded it (or the increase ended) before this read: nothing
        // to do, as when it does so between this read and the write.
        return Ok(false);
    }
    let (t, _) = app.workflow.plan(&mut Cursor::from(&instance), &fire)?;
    let write =
        CycleWrite { workflow: WorkflowChanges::step(t), at: app.workflow.clock().now(), ..CycleWrite::default() };
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
    // What is asked is the shortfall; what the increase waits for is the whole guarantee.
    let (next, asked, guarantee) = match LimitIncrease::try_from(decision) {
        Ok(LimitIncrease::Propose { next }) => (next.cents(), 0, 0),
        Ok(LimitIncrease::DepositRequired { next, deposit, guarantee }) => {
            (next.cents(), deposit.cents(), guarantee.cents())
        }
        _ => (requested.as_ref().map_or(line.monthly_limit_cents, |(c, _)| *c), 0, 0),
    };
    let id = SubjectId::new();
    let (instance, _) = app.workflow.plan_start(limit_increase::WORKFLOW, id, Some(&line.account_email), ACTOR)?;
    let mut cursor = Cursor::created(&instance);
    // A declined or held increase leaves the line where it is: its email names the limit
    // the line keeps, not the one asked for.
    let declined = matches!(LimitIncrease::try_from(decision), Ok(LimitIncrease::Hold | LimitIncrease::Decline));
    let quoted = if declined { line.monthly_limit_cents } else { next };
    let mut fire = Fire::new(id, "assessed", ACTOR)
        .decision("limit_increase", &decision.outcome, record.id)
        .reason(&decision.reasons.join("; "))
        .data("monthly_limit_cents", quoted)
        .data("deposit_cents", asked)
        .data("credit_line", line.id);
    if guarantee > 0 {
        let tier = decision.cents("deposit_tier_cents").unwrap_or_else(|| app.rules.deposit_tier().cents());
        fire = fire.data("guarantee_cents", guarantee).data("deposit_tier_cents", tier);
        let held = guarantee.saturating_sub(asked);
        if held > 0 {
            fire = fire.data("held_cents", held);
        }
    }
    if let Some((cents, request)) = &requested {
        fire = fire.data("requested_limit_cents", cents).data("request", request);
        // Offered less than asked (between rungs): the email says so.
        if *cents > next {
            fire = fire.data("offered_below_cents", cents);
        }
    }
    let (t, _) = app.workflow.plan(&mut cursor, &fire)?;
    Ok(CycleWrite {
        workflow: WorkflowChanges { opened: vec![instance], steps: vec![t], decisions: vec![record] },
        increase: Some(IncreaseRecord {
            id,
            line_id: line.id,
            account_email: line.account_email.clone(),
            current_limit_cents: line.monthly_limit_cents,
            next_limit_cents: next,
            deposit_cents: guarantee,
            created_at: now,
        }),
        at: now,
        ..CycleWrite::default()
    })
}

/// What approving an increase did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    pub increase: IncreaseRecord,
    /// `approved`: the line's limit was raised; `closed`: its line had moved on, so the
    /// increase was closed instead (with `reason` and an email).
    pub state: &'static str,
    pub reason: Option<String>,
}

/// A reviewer approves an increase in review: the increase is approved and the line's limit
/// raised (with the `limit_increase_approved` email) in one transaction. A line that was
/// paused, reduced, closed or re-limited meanwhile never makes this fail: the increase is
/// closed with the reason instead, so the next one can be proposed.
pub async fn approve(app: &App, increase: SubjectId, reviewer: &str) -> Result<Approval, CycleError> {
    let instance = app
        .store
        .instance(increase)
        .await?
        .ok_or_else(|| CycleError::Invalid(format!("no limit increase {increase}")))?;
    if instance.workflow != limit_increase::WORKFLOW {
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
    if instance.state != limit_increase::PENDING_REVIEW {
        return Err(CycleError::Invalid(format!(
            "limit increase {increase} is {}, not waiting for a reviewer",
            instance.state
        )));
    }
    if let Some(why) = line_moved(&record, &line) {
        let write = closing(app, &record, &line, &why).await?;
        app.store.commit_cycle(&write).await?;
        return Ok(Approval { increase: record, state: limit_increase::CLOSED, reason: Some(why) });
    }
    if record.deposit_cents > 0 {
        let held = app.store.balances(&record.account_email).await?.deposit_cents;
        if held < record.deposit_cents {
            return Err(CycleError::Invalid(format!(
                "limit increase {increase} needs a guarantee of {} held, but {} is held now",
                Money::from_cents(record.deposit_cents),
                Money::from_cents(held)
            )));
        }
    }
    // The line's limit is raised in this same transaction: the new limit applies from today.
    let today = app.workflow.clock().now().date_naive();
    let fire = Fire::new(increase, "approve", reviewer)
        .data("monthly_limit_cents", record.next_limit_cents)
        .data("effective_date", today.to_string());
    let (t, _) = app.workflow.plan(&mut Cursor::from(&instance), &fire)?;
    let raised = Fire::new(line.id, "limit_increased", reviewer).data("monthly_limit_cents", record.next_limit_cents);
    let write = CycleWrite {
        workflow: WorkflowChanges { steps: vec![t, plan(app, &line, &raised)?], ..WorkflowChanges::default() },
        new_limit: Some((line.id, record.next_limit_cents)),
        at: app.workflow.clock().now(),
        ..CycleWrite::default()
    };
    app.store.commit_cycle(&write).await?;
    Ok(Approval { increase: record, state: limit_increase::APPROVED, reason: None })
}

//! Monthly billing cycles. `close` bills every credit line for the credit it used in a closed
//! calendar month, exactly once per line and period (the bill's unique key is the claim, so a
//! rerun after a crash, or every worker running it at once, bills nothing twice). `gate`
//! decides, from the due date on, what an unpaid bill means for the line (the `cycle_gating`
//! rule: continue, grace, pause, reduce, decline) and moves the `credit_line` workflow. `pay`
//! applies a payment to the oldest unpaid bills and restores a gated line once nothing is
//! owed (a reduced one at the limit the `line_restore` rule gives it). Each step is one [`CycleWrite`]: bill, entries, workflow step and decision together.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::app::App;
use crate::domain::{Bucket, EmailAddress, EntryKind, Money, Period, SubjectId, last_day_to_pay};
use crate::rules::inputs::{CycleGatingInput, LineRestoreInput};
use crate::rules::typed::{CycleGating, LineRestore};
use crate::store::{
    BillPayment, BillRecord, BillWrite, CreditLineFilter, CreditLineRecord, CycleWrite, EntryWrite, LedgerWrite,
    StoreError,
};

use super::workflow::{Cursor, Fire, ServiceError};
use crate::workflow::names::credit_line;

#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error("period {0} has not ended yet; it can be closed from {1}")]
    NotEnded(Period, DateTime<Utc>),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const ACTOR: &str = "system:cycle";
const GATED: &str = "gated";
const PAYMENT_CONFIRMED: &str = "payment_confirmed";
/// A write that lost a race (another worker, a payment) is planned again this many times.
const TRIES: usize = 8;

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
    pub escalation: super::escalation::EscalationReport,
}

/// Bills every line for `period`, in batches; stops after `stop_after` bills when given.
pub async fn close(app: &App, period: Period, stop_after: Option<usize>) -> Result<CloseReport, CycleError> {
    let now = app.workflow.clock().now();
    if period.end() > now {
        return Err(CycleError::NotEnded(period, period.end()));
    }
    let batch = app.config.billing.close_batch.max(1);
    let mut report = CloseReport { period: period.to_string(), ..CloseReport::default() };
    // A line that has ended (closed) is billed no more.
    let ended = app.workflow.states_where(credit_line::WORKFLOW, |s| s.terminal);
    let mut after = None;
    loop {
        let mut lines = app.store.lines_to_bill(period, after, batch, &ended).await?;
        if let Some(k) = stop_after {
            if report.billed >= k {
                report.stopped = true;
                return Ok(report);
            }
            lines.truncate(k - report.billed);
        }
        let Some((last, _)) = lines.last() else {
            // Every line is billed: healthy ones may be proposed a higher limit now.
            report.escalation = super::escalation::scan(app).await?;
            return Ok(report);
        };
        after = Some(last.id);
        let writes =
            lines.iter().map(|(line, used)| bill_write(app, line, *used, period)).collect::<Result<Vec<_>, _>>()?;
        // The whole batch in one transaction; when a line moved since it was read (a payment,
        // a gating step) the batch is given up and its lines are billed one by one.
        let billed = match app.store.commit_bills(&writes).await {
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
        write.transitions.push(plan(app, line, &fire)?);
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

/// The step `fire` makes on a line, from the state and version it was read with.
pub(crate) fn plan(
    app: &App,
    line: &CreditLineRecord,
    fire: &Fire,
) -> Result<crate::store::TransitionWrite, CycleError> {
    let (write, _) = app.workflow.plan(&mut Cursor::from(line), fire)?;
    Ok(write)
}

fn entry(kind: EntryKind, bucket: Bucket, cents: i64, key: String) -> EntryWrite {
    EntryWrite::new(kind, bucket, cents, key, ACTOR)
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct GateReport {
    /// (line, from, to, outcome)
    pub moved: Vec<(String, String, String, String)>,
}

/// Gates every open line with an overdue bill. Only a change of state is written (with its
/// decision, event and email); a line already where the rule puts it is left alone.
pub async fn gate(app: &App) -> Result<GateReport, CycleError> {
    let now = app.workflow.clock().now();
    let mut report = GateReport::default();
    let mut after = None;
    loop {
        let lines = next_owing_lines(app, &mut after).await?;
        if lines.is_empty() {
            return Ok(report);
        }
        let open: Vec<&CreditLineRecord> = lines.iter().filter(|l| l.state != credit_line::CLOSED).collect();
        let bills = bills_by_line(app, open.iter().copied()).await?;
        let standings = super::payments::standings(app, open.iter().map(|l| &l.account_email), now).await?;
        for line in open {
            let history = bills.get(&line.id).map(Vec::as_slice).unwrap_or_default();
            let Some(input) = gating_input(line, history, &standings.of(&line.account_email), now) else { continue };
            let (decision, record) = app.rules.evaluate_async("cycle_gating", &input, Some(line.id)).await;
            let outcome = CycleGating::try_from(&decision).unwrap_or(CycleGating::ManualReview);
            // Where the outcome takes the line is credit_line.toml's to say. No step (grace
            // is a first step from an active line only: a paused or reduced line stays until
            // it is paid or gated further) or no change: nothing is written.
            let to = app
                .workflow
                .workflow(credit_line::WORKFLOW)
                .and_then(|d| d.target_of(&line.state, GATED, &decision.outcome));
            let Some(to) = to.filter(|to| *to != line.state) else { continue };
            let reason = decision.reasons.join("; ");
            // The bill the rule judged and the limit the line goes on with: the reminder,
            // pause and reduction emails quote them (credit_line.toml declares which).
            let limit = match outcome {
                CycleGating::Reduce { new_limit } => new_limit.cents(),
                _ => line.monthly_limit_cents,
            };
            let mut fire = Fire::new(line.id, GATED, ACTOR)
                .decision("cycle_gating", &decision.outcome, record.id)
                .reason(&reason)
                .data("monthly_limit_cents", limit);
            if let Some(bill) = overdue_bill(history, now) {
                fire = fire
                    .data("amount_cents", bill.amount_cents - bill.paid_cents)
                    .data("due_date", last_day_to_pay(bill.due_at).to_string())
                    .data("period", &bill.period)
                    // The reminder gating sends is about a bill past its last day.
                    .data("overdue", true);
            }
            // Closing: the email says what is still owed on the line, bill by bill.
            for (key, value) in owed_facts(history) {
                fire = fire.data(key, value);
            }
            let mut write = CycleWrite { decisions: vec![record], at: now, ..CycleWrite::default() };
            match plan(app, line, &fire) {
                Ok(t) => write.transitions.push(t),
                Err(CycleError::Service(ServiceError::Engine(e))) => {
                    tracing::warn!(line = %line.id, error = %e, "gating step not allowed by the credit_line workflow");
                    continue;
                }
                Err(e) => return Err(e),
            }
            if let CycleGating::Reduce { new_limit } = outcome {
                write.new_limit = Some((line.id, new_limit.cents()));
            }
            match app.store.commit_cycle(&write).await {
                Ok(_) => report.moved.push((
                    line.id.to_string(),
                    line.state.clone(),
                    to.to_string(),
                    decision.outcome.clone(),
                )),
                // A payment or another worker moved it first; the next run sees the new state.
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The bills of these lines, grouped by line (oldest period first), read in one go.
pub(crate) async fn bills_by_line<'a>(
    app: &App,
    lines: impl Iterator<Item = &'a CreditLineRecord>,
) -> Result<std::collections::HashMap<SubjectId, Vec<BillRecord>>, StoreError> {
    let ids: Vec<SubjectId> = lines.map(|l| l.id).collect();
    let mut bills: std::collections::HashMap<SubjectId, Vec<BillRecord>> = std::collections::HashMap::new();
    for b in app.store.bills_for_lines(&ids).await? {
        bills.entry(b.line_id).or_default().push(b);
    }
    Ok(bills)
}

/// The next page of every credit line in id order, advancing `after`; empty at the end.
/// The scans over all lines (escalation) read them this way.
pub(crate) async fn next_lines(
    app: &App,
    after: &mut Option<crate::domain::SubjectId>,
) -> Result<Vec<CreditLineRecord>, StoreError> {
    next_page(app, after, false).await
}

/// As [`next_lines`], only the lines with a bill not paid in full: all that gating and the
/// bill reminders can act on (a line whose bills are paid has nothing overdue or coming due).
/// Most lines pay, so the daily scans read a fraction of them.
pub(crate) async fn next_owing_lines(
    app: &App,
    after: &mut Option<crate::domain::SubjectId>,
) -> Result<Vec<CreditLineRecord>, StoreError> {
    next_page(app, after, true).await
}

async fn next_page(
    app: &App,
    after: &mut Option<crate::domain::SubjectId>,
    owing: bool,
) -> Result<Vec<CreditLineRecord>, StoreError> {
    let filter = CreditLineFilter { account_email: None, state: None, after: *after, limit: 500, owing };
    let lines = app.store.list_credit_lines(&filter).await?;
    if let Some(last) = lines.last() {
        *after = Some(last.id);
    }
    Ok(lines)
}

/// What a line still owes, for the email that closes it: `owed_cents` in all and `owed_bills`,
/// each unpaid bill's period, amount left and last day to pay (`bills`: the line's bills).
pub fn owed_facts(bills: &[BillRecord]) -> [(&'static str, serde_json::Value); 2] {
    let unpaid: Vec<&BillRecord> = bills.iter().filter(|b| b.paid_cents < b.amount_cents).collect();
    let total: i64 = unpaid.iter().map(|b| b.amount_cents - b.paid_cents).sum();
    let list: Vec<serde_json::Value> = unpaid
        .iter()
        .map(|b| {
            serde_json::json!({
                "period": b.period,
                "amount_cents": b.amount_cents - b.paid_cents,
                "due_date": last_day_to_pay(b.due_at).to_string(),
            })
        })
        .collect();
    [("owed_cents", serde_json::json!(total)), ("owed_bills", serde_json::Value::Array(list))]
}

/// A line's oldest overdue unpaid bill (`bills` oldest first).
fn overdue_bill(bills: &[BillRecord], now: DateTime<Utc>) -> Option<&BillRecord> {
    bills.iter().find(|b| b.paid_cents < b.amount_cents && b.due_at < now)
}

/// The rule's input for a line's oldest overdue unpaid bill; `None` when nothing is overdue.
/// `payments`: the account's pending payments, failed payments and chargebacks.
pub fn gating_input(
    line: &CreditLineRecord,
    bills: &[BillRecord],
    payments: &super::payments::PaymentStanding,
    now: DateTime<Utc>,
) -> Option<CycleGatingInput> {
    let bill = overdue_bill(bills, now)?;
    let year_ago = now - Duration::days(365);
    let others = bills.iter().filter(|b| b.id != bill.id && b.due_at > year_ago && b.due_at < now);
    let late = others.clone().filter(|b| b.paid_at.is_some_and(|p| p > b.due_at)).count();
    let missed = others.filter(|b| b.paid_cents < b.amount_cents).count();
    Some(CycleGatingInput {
        bill_amount_cents: bill.amount_cents,
        paid_cents: bill.paid_cents,
        days_overdue: (now - bill.due_at).num_days().max(1),
        payment_pending: payments.pending_covers(bill.amount_cents - bill.paid_cents),
        late_cycles_12m: i64::try_from(late).unwrap_or(i64::MAX),
        missed_cycles_12m: i64::try_from(missed).unwrap_or(i64::MAX),
        current_limit_cents: line.monthly_limit_cents,
        failed_payments_6m: payments.failed_payments_6m,
        chargebacks_6m: payments.chargebacks_6m,
    })
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Paid {
    /// (bill period, cents applied)
    pub applied: Vec<(String, i64)>,
    /// What was left over, credited as prepaid.
    pub to_prepaid: Money,
    /// The line this payment restored to active, if any.
    pub restored: Option<String>,
    pub replayed: bool,
}

/// A payment from `provider` (its transaction id makes it count once): the oldest unpaid bills
/// first, the rest as prepaid credit; a gated line whose bills are all paid is restored.
pub async fn pay(
    app: &App,
    account: &EmailAddress,
    amount: Money,
    provider: &str,
    txn: &str,
) -> Result<Paid, CycleError> {
    if amount.cents() <= 0 {
        return Err(CycleError::Invalid(format!("a payment must be more than $0.00, not {amount}")));
    }
    let ledger = super::ledger::Ledger::new(app);
    let refused = |e: super::ledger::LedgerError| match e {
        super::ledger::LedgerError::Store(e) => CycleError::Store(e),
        e => CycleError::Invalid(e.to_string()),
    };
    ledger.bounded(amount).map_err(refused)?;
    let provider = provider.trim().to_ascii_lowercase();
    let txn = txn.trim();
    if provider.is_empty() || txn.is_empty() || txn.len() > 200 {
        return Err(CycleError::Invalid("a payment needs a provider and its transaction id".into()));
    }
    let keys = [format!("payment:{provider}:{txn}:receivable"), format!("payment:{provider}:{txn}:prepaid")];
    for _ in 0..TRIES {
        if !app.store.entries_by_keys(&keys).await?.is_empty() {
            return Ok(Paid { replayed: true, ..Paid::default() });
        }
        let now = app.workflow.clock().now();
        let bills = app.store.unpaid_bills(account.as_str()).await?;
        let mut left = amount.cents();
        let mut paid = Paid::default();
        let mut write = CycleWrite { at: now, ..CycleWrite::default() };
        let mut settled_lines = Vec::new();
        for b in &bills {
            if left == 0 {
                break;
            }
            let cents = left.min(b.amount_cents - b.paid_cents);
            left -= cents;
            write.payments.push(BillPayment { bill_id: b.id, expected_version: b.version, cents });
            paid.applied.push((b.period.clone(), cents));
            if b.paid_cents + cents == b.amount_cents {
                settled_lines.push(b.line_id);
            }
        }
        let mut entries = Vec::new();
        let applied = amount.cents() - left;
        let with_ref = |mut e: EntryWrite| {
            e.provider = Some(provider.clone());
            e.provider_ref = Some(txn.to_string());
            e.actor = provider.clone();
            e
        };
        if applied > 0 {
            entries.push(with_ref(entry(EntryKind::Payment, Bucket::Receivable, -applied, keys[0].clone())));
        }
        if left > 0 {
            entries.push(with_ref(entry(EntryKind::Payment, Bucket::Prepaid, left, keys[1].clone())));
        }
        paid.to_prepaid = Money::from_cents(left);
        write.ledger =
            Some(LedgerWrite { account_email: account.to_string(), entries, draw: None, coupon: None, at: now });
        // A gated line comes back once none of its bills is owed any more.
        for line_id in settled_lines {
            let still_owed = bills.iter().any(|b| {
                b.line_id == line_id
                    && !write.payments.iter().any(|p| p.bill_id == b.id && b.paid_cents + p.cents == b.amount_cents)
            });
            let Some(line) = app.store.credit_line(line_id).await? else { continue };
            // Restored: the file's payment step leaves the state (from grace, paused, reduced).
            let restores = app
                .workflow
                .workflow(credit_line::WORKFLOW)
                .and_then(|d| d.target_of(&line.state, PAYMENT_CONFIRMED, ""))
                .is_some_and(|to| to != line.state);
            if still_owed || !restores {
                continue;
            }
            let mut fire =
                Fire::new(line.id, PAYMENT_CONFIRMED, &provider).reason(&format!("paid by {provider} {txn}"));
            let mut limit = line.monthly_limit_cents;
            if let Some((restore, record)) = restore_limit(app, &line, &bills, now).await? {
                fire = fire.decision("line_restore", &record.outcome, record.id);
                if let Some(before) = restore {
                    write.new_limit = Some((line.id, before));
                    limit = before;
                }
                write.decisions.push(record);
            }
            write.transitions.push(plan(app, &line, &fire.data("monthly_limit_cents", limit))?);
            paid.restored = Some(line.id.to_string());
            break;
        }
        if let Some(l) = &write.ledger {
            ledger.room_for(account, &l.entries).await.map_err(refused)?;
        }
        match app.store.commit_cycle(&write).await {
            Ok(_) => return Ok(paid),
            Err(StoreError::Conflict { .. }) => continue,
            Err(StoreError::Duplicate(_)) => return Ok(Paid { replayed: true, ..Paid::default() }),
            Err(e) => return Err(e.into()),
        }
    }
    Err(CycleError::Invalid("the account's bills kept changing during the payment; try again".into()))
}

/// The limit a line reduced by `cycle_gating` gets back now that its bills are paid, as the
/// `line_restore` rule decides: `None` when the line was not reduced since it was last active;
/// otherwise the decision to record with the step and the limit from before the reduction when
/// the rule restores it (a rule failure keeps the reduced limit: a person can raise it).
/// `unpaid` are the account's bills this payment settles or pays towards.
async fn restore_limit(
    app: &App,
    line: &CreditLineRecord,
    unpaid: &[BillRecord],
    now: DateTime<Utc>,
) -> Result<Option<(Option<i64>, crate::rules::DecisionRecord)>, CycleError> {
    let Some(before) = limit_before_reduction(app, line).await? else { return Ok(None) };
    let year_ago = now - Duration::days(365);
    let settling: Vec<&BillRecord> = unpaid.iter().filter(|b| b.line_id == line.id).collect();
    let late = app
        .store
        .bills_for_line(line.id)
        .await?
        .iter()
        .filter(|b| b.due_at > year_ago && b.amount_cents > 0)
        .filter(|b| {
            if settling.iter().any(|s| s.id == b.id) { now > b.due_at } else { b.paid_at.is_some_and(|p| p > b.due_at) }
        })
        .count();
    let days_late = settling.iter().map(|b| (now - b.due_at).num_days().max(0)).max().unwrap_or(0);
    let input = LineRestoreInput {
        limit_before_cents: before,
        current_limit_cents: line.monthly_limit_cents,
        days_late,
        late_cycles_12m: i64::try_from(late).unwrap_or(i64::MAX),
    };
    let (decision, record) = app.rules.evaluate_async("line_restore", &input, Some(line.id)).await;
    let restore = match LineRestore::try_from(&decision) {
        Ok(LineRestore::Restore) if before > line.monthly_limit_cents => Some(before),
        _ => None,
    };
    Ok(Some((restore, record)))
}

/// The limit a line had before `cycle_gating` last reduced it, if it was reduced since it was
/// last active: read from the recorded decision that reduced it (its input's limit).
async fn limit_before_reduction(app: &App, line: &CreditLineRecord) -> Result<Option<i64>, CycleError> {
    let events = app.store.events(line.id).await?;
    let reduction = |e: &&crate::store::EventRecord| e.event == GATED && e.to_state == credit_line::REDUCED;
    let Some(reduced) = events.iter().rev().take_while(|e| e.to_state != credit_line::ACTIVE).find(reduction) else {
        return Ok(None);
    };
    let records = app.store.decisions_for(line.id).await?;
    let before = records
        .iter()
        .filter(|r| r.rule == "cycle_gating" && reduced.decision_ids.contains(&r.id))
        .find_map(|r| r.input.get("current_limit_cents").and_then(serde_json::Value::as_i64));
    // A reduction without its record (written by hand) restores nothing: the rule sees 0.
    Ok(Some(before.unwrap_or(0)))
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct ScheduleReport {
    /// Months closed by this tick (more than one when ticks were missed).
    pub closed: Vec<CloseReport>,
    pub gating: GateReport,
    pub re_review: super::rereview::ReReviewReport,
}

/// How far back a tick looks for months nobody closed (workers down for a while).
const CATCH_UP_MONTHS: usize = 24;

/// The scheduled job (every worker, every `billing.tick_seconds`): closes every completed
/// month not yet recorded as closed, oldest first (so missed ticks are caught up), gates
/// overdue lines, and runs the re-review scan. Each month's record is its idempotency key;
/// bills are unique per line and month, so workers running this at once bill nothing twice.
pub async fn scheduled(app: &App) -> Result<ScheduleReport, CycleError> {
    let now = app.workflow.clock().now();
    let mut report = ScheduleReport::default();
    if let Some(last) = last_closed_period(now) {
        let mut periods = vec![last];
        while periods.len() < CATCH_UP_MONTHS {
            match periods.last().and_then(|p| p.previous()) {
                Some(p) => periods.push(p),
                None => break,
            }
        }
        for period in periods.into_iter().rev() {
            if app.store.cycle_closed(period).await? {
                continue;
            }
            let r = close(app, period, None).await?;
            app.store.mark_cycle_closed(period, now).await?;
            if r.billed > 0 {
                report.closed.push(r);
            }
        }
    }
    let began = std::time::Instant::now();
    report.gating = gate(app).await?;
    let gated = began.elapsed();
    report.re_review = super::rereview::scan(app).await?;
    tracing::debug!(
        gating_ms = gated.as_millis(),
        re_review_ms = (began.elapsed() - gated).as_millis(),
        "billing cycle job parts"
    );
    Ok(report)
}

/// The last completed calendar month at `now`.
pub fn last_closed_period(now: DateTime<Utc>) -> Option<Period> {
    Period::containing(now).previous()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn bill(period: &str, amount: i64, paid: i64, due: DateTime<Utc>, paid_at: Option<DateTime<Utc>>) -> BillRecord {
        BillRecord {
            id: uuid::Uuid::now_v7(),
            line_id: SubjectId(uuid::Uuid::nil()),
            account_email: "a@b.io".into(),
            period: period.into(),
            amount_cents: amount,
            paid_cents: paid,
            due_at: due,
            issued_at: due,
            paid_at,
            version: 1,
        }
    }

    fn line() -> CreditLineRecord {
        CreditLineRecord {
            id: SubjectId(uuid::Uuid::nil()),
            account_email: "a@b.io".into(),
            application_id: crate::domain::ApplicationId(uuid::Uuid::nil()),
            monthly_limit_cents: 20_000,
            approved_by: "r".into(),
            second_approver: None,
            state: "active".into(),
            version: 1,
            opened_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn the_oldest_overdue_unpaid_bill_is_gated_with_the_history_of_the_year() {
        let now = Utc.with_ymd_and_hms(2027, 3, 20, 0, 0, 0).unwrap();
        let due = |m| Utc.with_ymd_and_hms(2027, m, 10, 0, 0, 0).unwrap();
        let bills = vec![
            bill("2026-12", 5000, 5000, due(1), Some(due(1) + Duration::days(3))),
            bill("2027-01", 5000, 0, due(2), None),
            bill("2027-02", 4000, 1000, due(3), None),
        ];
        let input = gating_input(&line(), &bills, &Default::default(), now).unwrap();
        assert_eq!((input.bill_amount_cents, input.paid_cents), (5000, 0), "the oldest unpaid first");
        assert_eq!(input.days_overdue, 38);
        assert_eq!((input.late_cycles_12m, input.missed_cycles_12m), (1, 1));
        let paid = vec![bill("2027-02", 4000, 4000, due(3), Some(due(3)))];
        assert!(gating_input(&line(), &paid, &Default::default(), now).is_none());
        let not_due = vec![bill("2027-02", 4000, 0, now + Duration::days(1), None)];
        assert!(gating_input(&line(), &not_due, &Default::default(), now).is_none());
    }

    #[test]
    fn the_last_closed_period_is_the_previous_calendar_month() {
        let now = Utc.with_ymd_and_hms(2027, 1, 1, 0, 30, 0).unwrap();
        assert_eq!(last_closed_period(now).unwrap().to_string(), "2026-12");
    }
}

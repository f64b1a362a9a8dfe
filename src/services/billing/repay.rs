//! A bill payment: the oldest unpaid bills first, the rest as prepaid credit; a gated line
//! whose bills are all paid is restored (a reduced one at the limit the `line_restore` rule
//! gives it back).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::app::App;
use crate::domain::{Bucket, EmailAddress, EntryKind, Money};
use crate::rules::inputs::LineRestoreInput;
use crate::rules::typed::LineRestore;
use crate::services::ledger::{Ledger, LedgerError};
use crate::services::workflow::Fire;
use crate::store::{BillPayment, BillRecord, CreditLineRecord, CycleWrite, EntryWrite, LedgerWrite, StoreError};
use crate::workflow::Outcomes;
use crate::workflow::names::credit_line;

use super::error::CycleError;
use super::lines::{GATED, TRIES, entry, plan};

/// The `credit_line` event a settled bill fires (credit_line.toml says where it leads).
const PAYMENT_CONFIRMED: &str = "payment_confirmed";

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
    let ledger = Ledger::new(app);
    let refused = |e: LedgerError| match e {
        LedgerError::Store(e) => CycleError::Store(e),
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
                .and_then(|d| d.target_of(&line.state, PAYMENT_CONFIRMED, &Outcomes::new()))
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
                write.workflow.decisions.push(record);
            }
            write.workflow.steps.push(plan(app, &line, &fire.data("monthly_limit_cents", limit))?);
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

//! Gating: from a bill's due date on, the `cycle_gating` rule decides what the unpaid bill
//! means for its line (continue, grace, pause, reduce, decline) and the `credit_line` workflow
//! moves it there, with the decision, the event and the email in one write.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::app::App;
use crate::domain::last_day_to_pay;
use crate::rules::inputs::CycleGatingInput;
use crate::rules::typed::CycleGating;
use crate::services::workflow::{Fire, ServiceError};
use crate::store::{BillRecord, CreditLineRecord, CycleWrite, StoreError, WorkflowChanges};
use crate::workflow::Outcomes;
use crate::workflow::names::credit_line;

use super::error::CycleError;
use super::lines::{ACTOR, GATED, bills_by_line, next_owing_lines, plan};
use super::payment_standing::{PaymentStanding, standings};

/// The rule that judges an overdue bill, and guards the `gated` transitions.
const CYCLE_GATING: &str = "cycle_gating";

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
        let standings = standings(app, open.iter().map(|l| &l.account_email), now).await?;
        for line in open {
            let history = bills.get(&line.id).map(Vec::as_slice).unwrap_or_default();
            let Some(input) = gating_input(line, history, &standings.of(&line.account_email), now) else { continue };
            let (decision, record) = app.rules.evaluate_async(CYCLE_GATING, &input, Some(line.id)).await;
            let outcome = CycleGating::try_from(&decision).unwrap_or(CycleGating::ManualReview);
            // Where the outcome takes the line is credit_line.toml's to say. No step (grace
            // is a first step from an active line only: a paused or reduced line stays until
            // it is paid or gated further) or no change: nothing is written.
            let to = app.workflow.workflow(credit_line::WORKFLOW).and_then(|d| {
                d.target_of(&line.state, GATED, &Outcomes::from([(CYCLE_GATING.into(), decision.outcome.clone())]))
            });
            let Some(to) = to.filter(|to| *to != line.state) else { continue };
            let reason = decision.reasons.join("; ");
            // The bill the rule judged and the limit the line goes on with: the reminder,
            // pause and reduction emails quote them (credit_line.toml declares which).
            let limit = match outcome {
                CycleGating::Reduce { new_limit } => new_limit.cents(),
                _ => line.monthly_limit_cents,
            };
            let mut fire = Fire::new(line.id, GATED, ACTOR)
                .decision(CYCLE_GATING, &decision.outcome, record.id)
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
            let mut write = CycleWrite {
                workflow: WorkflowChanges { decisions: vec![record], ..WorkflowChanges::default() },
                at: now,
                ..CycleWrite::default()
            };
            match plan(app, line, &fire) {
                Ok(t) => write.workflow.steps.push(t),
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
    payments: &PaymentStanding,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SubjectId;
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
}

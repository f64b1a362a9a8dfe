//! Re-review: declined or deferred applicants keep prepaid access, and once their prepaid
//! history is stable the `re_review` rule may find them eligible; the application then goes
//! back to review with a reviewer task (the workflow's `re_review` step), never to approval.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Serialize;

use crate::app::App;
use crate::domain::SubjectId;
use crate::rules::inputs::ReReviewInput;
use crate::store::{ApplicationFilter, EntryRecord, EventRecord};
use crate::workflow::names::application;

use super::billing::PaymentStanding;
use super::workflow::{Fire, ServiceError};

const ACTOR: &str = "system:re_review";

/// The rule's input from the application's events, the account's entries and its payment
/// standing (failed payments, chargebacks) (pure).
pub fn input(
    state: &str,
    events: &[EventRecord],
    entries: &[EntryRecord],
    payments: &PaymentStanding,
    now: DateTime<Utc>,
) -> ReReviewInput {
    let decided = events.iter().rev().find(|e| e.to_state == state).map_or(now, |e| e.occurred_at);
    let year = now - Duration::days(365);
    let half = now - Duration::days(182);
    let topups = entries.iter().filter(|e| e.kind == "top_up" && e.created_at > year).count();
    let usage: Vec<&EntryRecord> = entries.iter().filter(|e| e.kind == "usage" && e.bucket == "prepaid").collect();
    let mut months: Vec<(i32, u32)> =
        usage.iter().filter(|e| e.created_at > year).map(|e| (e.created_at.year(), e.created_at.month())).collect();
    months.sort_unstable();
    months.dedup();
    ReReviewInput {
        previous_outcome: state.to_string(),
        days_since_decision: (now - decided).num_days(),
        prepaid_months_active: i64::try_from(months.len()).unwrap_or(0),
        topups_12m: i64::try_from(topups).unwrap_or(0),
        prepaid_spend_6m_cents: usage.iter().filter(|e| e.created_at > half).map(|e| -e.amount_cents).sum(),
        failed_payments_6m: payments.failed_payments_6m,
        chargebacks: payments.chargebacks,
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ReReviewReport {
    pub reopened: usize,
}

/// One pass over declined and deferred applications, a page at a time: the page's decision
/// events, its accounts' entries of the last year and their payment standings are read in one
/// query each, not per application (the scan runs every billing tick over every declined and
/// deferred application ever made).
pub async fn scan(app: &App) -> Result<ReReviewReport, ServiceError> {
    let now = app.workflow.clock().now();
    let mut report = ReReviewReport::default();
    // Declined and deferred: decided against the applicant, who kept prepaid access, and
    // open to another look (the file's `keeps_prepaid_access` without `terminal`).
    for state in app.workflow.states_where(application::WORKFLOW, |s| s.reopenable()) {
        let mut after = None;
        loop {
            let filter = ApplicationFilter { state: Some(state.into()), account_email: None, after, limit: 500 };
            let apps = app.store.list_applications(&filter).await?;
            let Some(last) = apps.last() else { break };
            after = Some(last.id);
            let ids: Vec<SubjectId> = apps.iter().map(|a| a.id.into()).collect();
            let mut events: HashMap<SubjectId, Vec<EventRecord>> = HashMap::new();
            for e in app.store.events_of(&ids, Some(state)).await? {
                events.entry(e.instance_id).or_default().push(e);
            }
            let mut accounts: Vec<String> = apps.iter().map(|a| a.account_email.clone()).collect();
            accounts.sort();
            accounts.dedup();
            // `input` looks back a year at most.
            let mut entries: HashMap<String, Vec<EntryRecord>> = HashMap::new();
            for e in app.store.entries_since(&accounts, now - Duration::days(366)).await? {
                entries.entry(e.account_email.clone()).or_default().push(e);
            }
            let standings = super::billing::standings(app, &accounts, now).await?;
            let inputs = apps
                .iter()
                .map(|a| {
                    let input = input(
                        state,
                        events.get(&a.id.into()).map(Vec::as_slice).unwrap_or_default(),
                        entries.get(&a.account_email).map(Vec::as_slice).unwrap_or_default(),
                        &standings.of(&a.account_email),
                        now,
                    );
                    (input, Some(a.id.into()))
                })
                .collect();
            let decided = app.rules.evaluate_many_async("re_review", inputs).await;
            for (a, (decision, record)) in apps.iter().zip(decided) {
                if decision.outcome != "eligible" {
                    continue;
                }
                app.store.record_decision(&record).await?;
                let fire = Fire::new(a.id, "re_review", ACTOR)
                    .decision("re_review", &decision.outcome, record.id)
                    .reason(&decision.reasons.join("; "))
                    .at_version(a.version);
                match app.workflow.fire(fire).await {
                    Ok(_) => report.reopened += 1,
                    Err(e) if e.is_conflict() => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(report)
}

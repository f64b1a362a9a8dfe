//! Reminders and time-outs for applications waiting on the applicant (missing materials, the
//! company-domain confirmation): one reminder after `remind_after_days`, deferral after
//! `time_out_after_days`, both through the workflow (`reminder_due`, `timed_out`), so they
//! are recorded and mailed like any step. An individual asked only whether there is a product
//! who never names one is closed to the prepaid path instead (`product_timed_out`). Safe to run from every worker at once: each step is
//! fired at the version the scan saw, and a second scanner gets a conflict and moves on.
//!
//! The same for a guarantee waited for in `awaiting_deposit` (a limit increase, or an
//! application approved at the deposit tier): it moves on as soon as the guarantee is held,
//! gets one reminder after `deposit_remind_after_days` and expires (with an email) after
//! `deposit_time_out_after_days`. An increase whose line changed meanwhile is closed.
//!
//! And for bills: an unpaid bill gets one `payment_reminder` (the line's `payment_reminder_due`
//! step) from `billing.remind_days_before` days before its last day to pay. Once per bill: the
//! step's email carries the bill's id, and a scan reads the line (its version) before it looks
//! for that email, so of two scanners one fires and the other gets a conflict, and a later scan
//! finds the email.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::app::App;
use crate::domain::{ApplicationId, Money, SubjectId, last_day_to_pay, reminder_window};
use crate::store::{BillRecord, CreditLineRecord, EventRecord, Instance};

use super::workflow::{Fire, ServiceError};
use crate::workflow::names::{application, credit_line, limit_increase};

const ACTOR: &str = "system:reminders";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Nothing,
    Reminder,
    TimeOut,
}

/// What a waiting application is due for, from its events (pure).
pub fn due(state: &str, events: &[EventRecord], now: DateTime<Utc>, remind_days: u32, time_out_days: u32) -> Due {
    // The wait starts when the application last *entered* this state; a reminder stays in it.
    let Some(entered) = events.iter().rposition(|e| e.to_state == state && e.from_state.as_deref() != Some(state))
    else {
        return Due::Nothing;
    };
    let waited = now - events[entered].occurred_at;
    if waited >= chrono::Duration::days(i64::from(time_out_days)) {
        return Due::TimeOut;
    }
    let reminded = events[entered + 1..].iter().any(|e| e.event == "reminder_due");
    if !reminded && waited >= chrono::Duration::days(i64::from(remind_days)) { Due::Reminder } else { Due::Nothing }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScanReport {
    pub reminded: usize,
    pub timed_out: usize,
    /// Steps another scanner (or a reply) took first.
    pub conflicts: usize,
    /// Waits for a guarantee that ended because it is held now.
    pub deposits_recorded: usize,
    /// Increases closed because their line changed while they waited.
    pub increases_closed: usize,
    /// Bills reminded of before their last day to pay.
    pub bills_reminded: usize,
}

/// One pass over every waiting application.
pub async fn scan(app: &App) -> Result<ScanReport, ServiceError> {
    let cfg = &app.config.reminders;
    let now = app.workflow.clock().now();
    let mut report = ScanReport::default();
    let began = std::time::Instant::now();
    // The waits the file marks `reminded` (materials, the domain's or the account's
    // confirmation); a guarantee's wait has its own settings, below.
    let reminded = app.workflow.states_where(application::WORKFLOW, |s| s.reminded);
    let waiting = app.store.waiting_instances(application::WORKFLOW, &reminded).await?;
    // Their events in one read (per 500), not one query per waiting application.
    let ids: Vec<SubjectId> = waiting.iter().map(|i| i.id).collect();
    let mut events_of: HashMap<SubjectId, Vec<EventRecord>> = HashMap::new();
    for e in app.store.events_of(&ids, None).await? {
        events_of.entry(e.instance_id).or_default().push(e);
    }
    for instance in waiting {
        let events = events_of.remove(&instance.id).unwrap_or_default();
        let fire = match due(&instance.state, &events, now, cfg.remind_after_days, cfg.time_out_after_days) {
            Due::Nothing => continue,
            Due::Reminder => reminder(app, &instance).await?,
            Due::TimeOut
                if instance.state == application::AWAITING_MATERIALS
                    && only_a_product_asked(app, &instance).await? =>
            {
                // Policy ("Individual user without a product: prepaid credits only"): an
                // individual asked whether there is a product, who never said there is one,
                // gets the prepaid path, not a deferral a reply would reopen.
                Fire::new(instance.id, "product_timed_out", ACTOR).reason(&format!(
                    "no product, website or app named within {} days: the prepaid path applies",
                    cfg.time_out_after_days
                ))
            }
            Due::TimeOut => {
                let fire = Fire::new(instance.id, "timed_out", ACTOR)
                    .reason(&format!("no answer within {} days", cfg.time_out_after_days));
                // What intake does with a reply to an application deferred by a time-out: it
                // goes back to the wait it timed out of and reads the reply there (the
                // workflow's `materials_reply` / `confirmation_reply`). Nothing is promised
                // for a wait a reply cannot end (the account's own confirmation).
                match resume_condition(&instance.state) {
                    Some(condition) => fire.data("condition", condition),
                    None => fire,
                }
            }
        };
        fired(app, fire.at_version(instance.version), &mut report).await?;
    }
    let waits = began.elapsed();
    // Every open increase (each is closed once its line moved on) and every application
    // waiting for its guarantee.
    let open_increase = app.workflow.states_where(limit_increase::WORKFLOW, |s| !s.terminal);
    let increases = app.store.waiting_instances(limit_increase::WORKFLOW, &open_increase).await?;
    let applications = app.store.waiting_instances(application::WORKFLOW, &[application::AWAITING_DEPOSIT]).await?;
    for instance in increases.into_iter().chain(applications) {
        if let Some(fire) = deposit_wait(app, &instance, now).await? {
            fired(app, fire.at_version(instance.version), &mut report).await?;
        }
    }
    let deposits = began.elapsed() - waits;
    bill_reminders(app, now, &mut report).await?;
    tracing::debug!(
        waits_ms = waits.as_millis(),
        deposits_ms = deposits.as_millis(),
        bills_ms = (began.elapsed() - waits - deposits).as_millis(),
        "reminder scan parts"
    );
    Ok(report)
}

/// One `payment_reminder_due` per unpaid bill whose reminder window has come (pure).
pub fn bill_to_remind<'a>(
    bills: &'a [BillRecord],
    now: DateTime<Utc>,
    days_before: u32,
    reminded: &[uuid::Uuid],
) -> Option<&'a BillRecord> {
    bills.iter().find(|b| {
        b.amount_cents > b.paid_cents && reminder_window(b.due_at, now, days_before) && !reminded.contains(&b.id)
    })
}

/// Reminds every open line's unpaid bills that come due within `billing.remind_days_before`
/// days; a line gets one step per scan (the next scan sees its new version).
async fn bill_reminders(app: &App, now: DateTime<Utc>, report: &mut ScanReport) -> Result<(), ServiceError> {
    let days = app.config.billing.remind_days_before;
    let mut after = None;
    loop {
        // The lines first: their versions are what each step is fired at.
        let lines = super::billing::lines::next_owing_lines(app, &mut after).await?;
        if lines.is_empty() {
            return Ok(());
        }
        let open: Vec<&CreditLineRecord> = lines.iter().filter(|l| l.state != credit_line::CLOSED).collect();
        let bills = super::billing::lines::bills_by_line(app, open.iter().copied()).await?;
        for line in open {
            let history = bills.get(&line.id).map(Vec::as_slice).unwrap_or_default();
            if bill_to_remind(history, now, days, &[]).is_none() {
                continue;
            }
            // The bills this line was already reminded of, from the reminders' emails.
            let reminded: Vec<uuid::Uuid> = app
                .store
                .outbox_for(line.id)
                .await?
                .into_iter()
                .filter(|o| o.name == "payment_reminder")
                .filter_map(|o| o.payload.get("bill_id").and_then(Value::as_str).and_then(|s| s.parse().ok()))
                .collect();
            let Some(bill) = bill_to_remind(history, now, days, &reminded) else { continue };
            let fire = Fire::new(line.id, "payment_reminder_due", ACTOR)
                .reason(&format!("the bill for {} is unpaid and comes due", bill.period))
                .data("bill_id", bill.id.to_string())
                .data("amount_cents", bill.amount_cents - bill.paid_cents)
                .data("due_date", last_day_to_pay(bill.due_at).to_string())
                .data("period", &bill.period);
            fired(app, fire.at_version(line.version), report).await?;
        }
    }
}

/// Whether the materials an application waits for are an individual's product materials only:
/// its latest `applicant_type` decision could not tell with or without a product (outcome
/// `unknown` asking for `product`, the applicant type itself known). Such a wait that times out
/// closes to the prepaid path (issue: "close only if the reply says there is none or the
/// reminder times out").
async fn only_a_product_asked(app: &App, instance: &Instance) -> Result<bool, ServiceError> {
    let decisions = app.store.decisions_for(instance.id).await?;
    let Some(latest) = decisions.iter().rev().find(|d| d.rule == "applicant_type") else { return Ok(false) };
    Ok(product_unknown(&latest.outcome, &latest.output))
}

/// `applicant_type`'s "an individual who names no product" (pure): outcome `unknown`, with
/// `product` among the missing materials and the applicant type not.
pub fn product_unknown(outcome: &str, output: &Value) -> bool {
    let missing: Vec<&str> = output
        .get("missing")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    outcome == "unknown" && missing.contains(&"product") && !missing.contains(&"applicant_type")
}

/// What the deferral email of a timed-out wait tells the applicant a reply does.
pub fn resume_condition(state: &str) -> Option<&'static str> {
    match state {
        application::AWAITING_MATERIALS => {
            Some("reply to this email with the materials we asked for, and your application continues where it stopped")
        }
        application::AWAITING_DOMAIN_CONFIRMATION => Some(
            "reply to this email from an address at your company's domain to confirm the application, and it \
             continues where it stopped",
        ),
        _ => None,
    }
}

async fn fired(app: &App, fire: Fire, report: &mut ScanReport) -> Result<(), ServiceError> {
    let event = fire.event.clone();
    match app.workflow.fire(fire).await {
        Ok(_) => match event.as_str() {
            "timed_out" | "product_timed_out" => report.timed_out += 1,
            "deposit_recorded" => report.deposits_recorded += 1,
            "line_changed" => report.increases_closed += 1,
            "payment_reminder_due" => report.bills_reminded += 1,
            _ => report.reminded += 1,
        },
        Err(e) if e.is_conflict() => report.conflicts += 1,
        Err(e) => return Err(e),
    }
    Ok(())
}

/// What an open increase or a wait for a guarantee is due for: nothing, closing (its line moved
/// on), the next step once the guarantee is held, a reminder of the shortfall, or its time-out.
async fn deposit_wait(app: &App, instance: &Instance, now: DateTime<Utc>) -> Result<Option<Fire>, ServiceError> {
    let cfg = &app.config.reminders;
    // The limit waited for and the guarantee it needs, and the limit an expired increase leaves.
    let (account, limit, guarantee, stays) = if instance.workflow == limit_increase::WORKFLOW {
        let Some((increase, _)) = app.store.increase(instance.id).await? else { return Ok(None) };
        let Some(line) = app.store.credit_line(increase.line_id).await? else { return Ok(None) };
        if let Some(why) = super::billing::escalation::line_moved(&increase, &line) {
            let fire = Fire::new(instance.id, "line_changed", ACTOR)
                .reason(&why)
                .data("monthly_limit_cents", line.monthly_limit_cents);
            return Ok(Some(fire));
        }
        if instance.state != limit_increase::AWAITING_DEPOSIT {
            return Ok(None);
        }
        (increase.account_email, increase.next_limit_cents, increase.deposit_cents, Some(line.monthly_limit_cents))
    } else {
        let Some(application) = app.store.application(ApplicationId(instance.id.0)).await? else { return Ok(None) };
        // What the deposit_required step asked, as its email recorded it.
        let asked = app
            .store
            .outbox_for(instance.id)
            .await?
            .into_iter()
            .rev()
            .find_map(|o| o.payload.get("guarantee_cents").and_then(Value::as_i64).map(|g| (o.payload, g)));
        let Some((payload, guarantee)) = asked else { return Ok(None) };
        let limit = payload.get("monthly_limit_cents").and_then(Value::as_i64).unwrap_or(guarantee);
        (application.account_email, limit, guarantee, None)
    };
    let held = app.store.balances(&account).await?.deposit_cents;
    if held >= guarantee {
        let fire = Fire::new(instance.id, "deposit_recorded", ACTOR)
            .data("deposit_cents", held)
            .data("monthly_limit_cents", limit);
        return Ok(Some(fire));
    }
    let events = app.store.events(instance.id).await?;
    let shortfall = guarantee - held;
    Ok(match due(&instance.state, &events, now, cfg.deposit_remind_after_days, cfg.deposit_time_out_after_days) {
        Due::Nothing => None,
        Due::Reminder => Some(
            Fire::new(instance.id, "reminder_due", ACTOR)
                .data("monthly_limit_cents", limit)
                .data("deposit_cents", shortfall),
        ),
        Due::TimeOut => {
            let why = format!(
                "the guarantee of {} for {}/month was not held within {} days ({} still missing); you can ask again at any time",
                Money::from_cents(guarantee),
                Money::from_cents(limit),
                cfg.deposit_time_out_after_days,
                Money::from_cents(shortfall)
            );
            let fire = Fire::new(instance.id, "timed_out", ACTOR).reason(&why);
            Some(match stays {
                Some(current) => fire.data("monthly_limit_cents", current),
                None => fire,
            })
        }
    })
}

/// The reminder repeats what was asked: the materials still missing, as the last request
/// listed them.
async fn reminder(app: &App, instance: &Instance) -> Result<Fire, ServiceError> {
    let mut fire = Fire::new(instance.id, "reminder_due", ACTOR);
    if instance.state == application::AWAITING_MATERIALS {
        let missing = app
            .store
            .outbox_for(instance.id)
            .await?
            .into_iter()
            .rev()
            .find_map(|o| o.payload.get("missing").filter(|m| m.is_array()).cloned())
            .unwrap_or(Value::Array(Vec::new()));
        fire = fire.data("missing", missing);
    }
    if instance.state == application::AWAITING_DOMAIN_CONFIRMATION
        && let Some(domain) = app
            .store
            .outbox_for(instance.id)
            .await?
            .into_iter()
            .rev()
            .find_map(|o| o.payload.get("company_domain").and_then(Value::as_str).map(str::to_string))
    {
        fire = fire.data("company_domain", domain);
    }
    Ok(fire)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventId, SubjectId};

    fn event(event: &str, from: Option<&str>, to: &str, days_ago: i64, now: DateTime<Utc>) -> EventRecord {
        EventRecord {
            id: EventId::new(),
            instance_id: SubjectId(uuid::Uuid::nil()),
            version: 1,
            event: event.into(),
            from_state: from.map(str::to_string),
            to_state: to.into(),
            actor: "t".into(),
            reason: None,
            decision_ids: vec![],
            occurred_at: now - chrono::Duration::days(days_ago),
        }
    }

    #[test]
    fn only_an_individual_asked_for_a_product_is_closed_on_time_out() {
        let out = |m: &[&str]| serde_json::json!({ "missing": m });
        assert!(product_unknown("unknown", &out(&["product", "app_link"])));
        assert!(!product_unknown("unknown", &out(&["applicant_type", "product"])), "type not known");
        assert!(!product_unknown("enterprise", &out(&["product"])), "an enterprise is deferred");
        assert!(!product_unknown("unknown", &serde_json::json!({})));
    }

    #[test]
    fn one_reminder_after_the_first_wait_then_the_time_out() {
        let now = Utc::now();
        let s = "awaiting_materials";
        let entered = |d| vec![event("materials_missing", Some("received"), s, d, now)];
        assert_eq!(due(s, &entered(1), now, 5, 14), Due::Nothing);
        assert_eq!(due(s, &entered(5), now, 5, 14), Due::Reminder);
        let mut reminded = entered(6);
        reminded.push(event("reminder_due", Some(s), s, 1, now));
        assert_eq!(due(s, &reminded, now, 5, 14), Due::Nothing, "one reminder per wait");
        assert_eq!(due(s, &entered(14), now, 5, 14), Due::TimeOut);
    }

    #[test]
    fn the_wait_restarts_when_the_state_is_entered_again() {
        let now = Utc::now();
        let s = "awaiting_materials";
        let events = vec![
            event("materials_missing", Some("received"), s, 30, now),
            event("reminder_due", Some(s), s, 25, now),
            event("materials_complete", Some(s), "pending_review", 20, now),
            event("request_info", Some("pending_review"), s, 2, now),
        ];
        assert_eq!(due(s, &events, now, 5, 14), Due::Nothing, "a fresh wait, not the old one");
        assert_eq!(due(s, &events, now + chrono::Duration::days(3), 5, 14), Due::Reminder);
        assert_eq!(due("awaiting_domain_confirmation", &events, now, 5, 14), Due::Nothing, "never entered");
    }
}

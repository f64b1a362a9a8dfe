//! Reminders and time-outs for applications waiting on the applicant (missing materials, the
//! company-domain confirmation): one reminder after `remind_after_days`, deferral after
//! `time_out_after_days`, both through the workflow (`reminder_due`, `timed_out`), so they
//! are recorded and mailed like any step. Safe to run from every worker at once: each step is
//! fired at the version the scan saw, and a second scanner gets a conflict and moves on.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::app::App;
use crate::store::{EventRecord, Instance};

use super::workflow::{Fire, ServiceError};

/// The states that wait for the applicant.
pub const WAITING: [&str; 3] = ["awaiting_materials", "awaiting_domain_confirmation", "awaiting_account_confirmation"];
const WORKFLOW: &str = "credit_line_application";
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
}

/// One pass over every waiting application.
pub async fn scan(app: &App) -> Result<ScanReport, ServiceError> {
    let cfg = &app.config.reminders;
    let now = app.workflow.clock().now();
    let mut report = ScanReport::default();
    for instance in app.store.waiting_instances(WORKFLOW, &WAITING).await? {
        let events = app.store.events(instance.id).await?;
        let fire = match due(&instance.state, &events, now, cfg.remind_after_days, cfg.time_out_after_days) {
            Due::Nothing => continue,
            Due::Reminder => reminder(app, &instance).await?,
            Due::TimeOut => Fire::new(instance.id, "timed_out", ACTOR)
                .reason(&format!("no answer within {} days", cfg.time_out_after_days))
                // What intake does with a reply to a deferred application: `re_review`, or a
                // person sees it (never a promise the system does not keep).
                .data(
                    "condition",
                    "reply to this email with what was asked, and a reviewer will look at the application again",
                ),
        };
        let event = fire.event.clone();
        match app.workflow.fire(fire.at_version(instance.version)).await {
            Ok(_) if event == "timed_out" => report.timed_out += 1,
            Ok(_) => report.reminded += 1,
            Err(e) if e.is_conflict() => report.conflicts += 1,
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// The reminder repeats what was asked: the materials still missing, as the last request
/// listed them.
async fn reminder(app: &App, instance: &Instance) -> Result<Fire, ServiceError> {
    let mut fire = Fire::new(instance.id, "reminder_due", ACTOR);
    if instance.state == "awaiting_materials" {
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
    if instance.state == "awaiting_domain_confirmation"
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

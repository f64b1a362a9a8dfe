//! Deposits as guarantees and limit increases that never get stuck, on both stores: an increase
//! whose line moved on is closed (on approval and by the scan) so the next can be proposed; an
//! increase waiting for its guarantee is reminded, then expires; a request between rungs is
//! offered the rung below it and told so; a senior's approval at the deposit tier waits for
//! the guarantee; the tier is read from the rules' data, nowhere else.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{TestStore, open_credit_line, repo};
use creditline::app::App;
use creditline::config::Config;
use creditline::domain::{ApplicantKind, DecisionId, EmailAddress, Money, Role, SubjectId};
use creditline::rules::inputs::LimitIncreaseInput;
use creditline::services::access::Caller;
use creditline::services::actions::Actor;
use creditline::services::billing::escalation;
use creditline::services::decisions::{Decision, decide};
use creditline::services::ledger::Ledger;
use creditline::services::{Clock, Fire, ManualClock, NewApplicationInput, reminders};
use creditline::store::{IncreaseRecord, TaskFilter};
use serde_json::json;

fn app_with_rules(t: &TestStore, clock: Arc<ManualClock>, rules: std::path::PathBuf) -> Arc<App> {
    let config = Config {
        rules_dir: rules,
        workflows_dir: repo().join("workflows"),
        templates_dir: repo().join("templates"),
        ..Default::default()
    };
    App::assemble(config, t.store.clone(), clock).unwrap()
}

fn app(t: &TestStore, clock: Arc<ManualClock>) -> Arc<App> {
    app_with_rules(t, clock, repo().join("rules"))
}

fn day(month: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, month, d, 12, 0, 0).unwrap()
}

/// An increase opened for `line` by the `limit_increase` rule over a healthy history.
async fn increase(app: &App, line: SubjectId, requested: i64, held: i64) -> IncreaseRecord {
    let line = app.store.credit_line(line).await.unwrap().unwrap();
    let input = LimitIncreaseInput {
        current_limit_cents: line.monthly_limit_cents,
        requested_limit_cents: requested,
        line_state: "active".into(),
        months_on_line: 6,
        consecutive_on_time_payments: 6,
        utilization_percent: 90,
        recent_monthly_volume_cents: 1_000_000,
        deposit_held_cents: held,
        ..Default::default()
    };
    let (decision, record) = app.rules.evaluate_async("limit_increase", &input, Some(line.id)).await;
    let request = (requested > 0).then(|| (requested, json!({})));
    let write = escalation::open_increase(app, &line, &decision, record, request).unwrap();
    app.store.commit_cycle(&write).await.unwrap();
    write.increase.unwrap()
}

async fn state_of(app: &App, id: SubjectId) -> String {
    app.store.instance(id).await.unwrap().unwrap().state
}

async fn mails(app: &App, id: SubjectId) -> Vec<(String, serde_json::Value)> {
    app.store
        .outbox_for(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.kind == "email")
        .map(|o| (o.name, o.payload))
        .collect()
}

async fn rendered(app: &App, id: SubjectId, template: &str) -> String {
    let (_, payload) = mails(app, id).await.into_iter().rev().find(|(n, _)| n == template).expect(template);
    app.templates.render(template, &creditline::email::context::context(&payload, None)).unwrap().text
}

async fn gate(app: &App, line: SubjectId, outcome: &str) {
    // The data a real gating step carries (the overdue bill, the limit it continues at).
    let fire = Fire::new(line, "gated", "system:cycle")
        .decision("cycle_gating", outcome, DecisionId::new())
        .data("period", "2027-01")
        .data("amount_cents", 15_000)
        .data("due_date", "2027-02-10")
        .data("monthly_limit_cents", 10_000);
    app.workflow.fire(fire.reason("test")).await.unwrap();
}

async fn assert_sound(app: &App) {
    let problems = Ledger::new(app).verify().await.unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Policy: "Approved credit accounts may be reviewed for a higher monthly credit line after a
/// healthy usage and repayment history" (issue 16, "increases that never get stuck"): an
/// increase in review whose line was paused,
/// reduced or closed meanwhile is closed with a reason and an email, so the next increase can
/// be proposed; approving it never fails on a line state.
async fn an_increase_whose_line_moved_on_is_closed_and_the_next_can_be_proposed(t: TestStore) {
    let clock = Arc::new(ManualClock::new(day(3, 1)));
    let app = app(&t, clock.clone());
    let line = open_credit_line(&app, "ops@steady.io", 50_000).await;
    let first = increase(&app, line, 0, 0).await;
    assert_eq!(state_of(&app, first.id).await, "pending_review");
    // Paused by gating while in review: approving closes it instead of failing.
    gate(&app, line, "pause").await;
    let approval = escalation::approve(&app, first.id, "reviewer:sam").await.unwrap();
    assert_eq!(approval.state, "closed");
    assert!(approval.reason.as_deref().unwrap().contains("paused"), "{approval:?}");
    assert_eq!(state_of(&app, first.id).await, "closed");
    assert_eq!(app.store.credit_line(line).await.unwrap().unwrap().monthly_limit_cents, 50_000);
    let text = rendered(&app, first.id, "limit_increase_closed").await;
    assert!(text.contains("was paused") && text.contains("$500.00/month"), "{text}");
    assert!(escalation::open_increase_of(&app, line).await.unwrap().is_none(), "nothing left open");

    // Back to active: the next increase opens; reduced meanwhile, the scan closes it.
    let paid = Fire::new(line, "payment_confirmed", "stripe").reason("paid").data("monthly_limit_cents", 50_000);
    app.workflow.fire(paid).await.unwrap();
    let second = increase(&app, line, 0, 0).await;
    assert_eq!(state_of(&app, second.id).await, "pending_review");
    gate(&app, line, "reduce").await;
    let r = reminders::scan(&app).await.unwrap();
    assert_eq!(r.increases_closed, 1, "{r:?}");
    assert_eq!(state_of(&app, second.id).await, "closed");
    assert!(mails(&app, second.id).await.iter().any(|(n, _)| n == "limit_increase_closed"));

    // Closed: an increase waiting for its deposit ends too, and approving an ended one is a
    // clear refusal, never a raise.
    let paid = Fire::new(line, "payment_confirmed", "stripe").reason("paid").data("monthly_limit_cents", 50_000);
    app.workflow.fire(paid).await.unwrap();
    let third = increase(&app, line, 500_000, 0).await;
    assert_eq!(state_of(&app, third.id).await, "awaiting_deposit");
    // (What the line still owes, as the system's own closing step carries it: nothing.)
    let close = Fire::new(line, "close", "admin:ops").reason("closed by an admin");
    app.workflow.fire(close.data("owed_cents", 0).data("owed_bills", json!([]))).await.unwrap();
    let r = reminders::scan(&app).await.unwrap();
    assert_eq!(r.increases_closed, 1, "{r:?}");
    assert_eq!(state_of(&app, third.id).await, "closed");
    let e = escalation::approve(&app, third.id, "reviewer:sam").await.unwrap_err();
    assert!(e.to_string().contains("not waiting for a reviewer"), "{e}");
    assert_eq!(app.store.credit_line(line).await.unwrap().unwrap().monthly_limit_cents, 50_000);
}

/// Policy: "may require the applicant to first deposit or top up the corresponding amount as a
/// guarantee": an increase waiting for it gets one reminder of the shortfall, then expires
/// with an email after `reminders.deposit_time_out_after_days`.
async fn an_increase_waiting_for_its_guarantee_is_reminded_then_expires(t: TestStore) {
    let clock = Arc::new(ManualClock::new(day(3, 1)));
    let app = app(&t, clock.clone());
    let account = "ops@patient.io";
    let line = open_credit_line(&app, account, 200_000).await;
    Ledger::new(&app)
        .hold_deposit(&EmailAddress::parse(account).unwrap(), Money::from_cents(100_000), "bank", "w0")
        .await
        .unwrap();
    let waiting = increase(&app, line, 0, 100_000).await;
    assert_eq!(state_of(&app, waiting.id).await, "awaiting_deposit");
    let cfg = app.config.reminders.clone();
    clock.set(day(3, 1) + Duration::days(i64::from(cfg.deposit_remind_after_days) - 1));
    assert_eq!(reminders::scan(&app).await.unwrap().reminded, 0, "too early");
    clock.set(day(3, 1) + Duration::days(i64::from(cfg.deposit_remind_after_days)));
    assert_eq!(reminders::scan(&app).await.unwrap().reminded, 1);
    assert_eq!(reminders::scan(&app).await.unwrap().reminded, 0, "one reminder");
    let text = rendered(&app, waiting.id, "deposit_reminder").await;
    assert!(text.contains("Amount still needed: $4,000.00"), "the shortfall, not the whole guarantee: {text}");
    clock.set(day(3, 1) + Duration::days(i64::from(cfg.deposit_time_out_after_days)));
    assert_eq!(reminders::scan(&app).await.unwrap().timed_out, 1);
    assert_eq!(state_of(&app, waiting.id).await, "declined");
    let text = rendered(&app, waiting.id, "limit_increase_declined").await;
    assert!(text.contains("stays at $2,000.00") && text.contains("was not held within 30 days"), "{text}");
    assert!(escalation::open_increase_of(&app, line).await.unwrap().is_none(), "the next one may be proposed");
    assert_sound(&app).await;
}

/// Policy: "Requested limits should match repayment capacity" and the deposit guarantee: a
/// $6,000 request is never rounded up to a $10,000 line with a $10,000 deposit; it is offered
/// $5,000, the highest rung at or below it, and the reasons and the email say so.
async fn a_request_between_rungs_is_offered_the_rung_below_and_told_so(t: TestStore) {
    let clock = Arc::new(ManualClock::new(day(3, 1)));
    let app = app(&t, clock.clone());
    let line = open_credit_line(&app, "ops@between.io", 200_000).await;
    let asked = increase(&app, line, 600_000, 0).await;
    assert_eq!((asked.next_limit_cents, asked.deposit_cents), (500_000, 500_000));
    let events = app.store.events(asked.id).await.unwrap();
    let reason = events.iter().find(|e| e.event == "assessed").and_then(|e| e.reason.clone()).unwrap_or_default();
    assert!(reason.contains("offering $5,000.00/month, the highest rung at or below it"), "{reason}");
    let text = rendered(&app, asked.id, "deposit_required").await;
    assert!(text.contains("You asked for $6,000.00/month") && text.contains("we offer $5,000.00/month"), "{text}");
    assert!(text.contains("Amount still needed: $5,000.00"), "{text}");
}

/// Policy: "For special requests such as $5,000/month or more, WaveSpeedAI may require the
/// applicant to first deposit or top up the corresponding amount as a guarantee before granting
/// that level of credit." A senior's first approval at the tier waits in `awaiting_deposit`
/// (asking for the shortfall) instead of being refused; once held, it is decided again and
/// opens the line through the usual four-eyes approval.
async fn a_senior_approval_at_the_deposit_tier_waits_for_the_guarantee(t: TestStore) {
    let clock = Arc::new(ManualClock::new(day(3, 1)));
    let app = app(&t, clock.clone());
    let account = EmailAddress::parse("cfo@bigco.io").unwrap();
    let input = NewApplicationInput {
        account_email: account.clone(),
        applicant_kind: Some(ApplicantKind::Enterprise),
        requested_limit: None,
        details: json!({}),
    };
    let application = app.workflow.open_application(input, "test").await.unwrap();
    let id = SubjectId::from(application.id);
    let reviewed = Fire::new(id, "materials_complete", "test").decision("applicant_type", "unknown", DecisionId::new());
    app.workflow.fire(reviewed).await.unwrap();
    let review_task = || async {
        let filter = TaskFilter { kind: Some("application_review".into()), limit: 100, ..Default::default() };
        let tasks = app.store.list_tasks(&filter).await.unwrap();
        tasks.into_iter().rev().find(|t| t.subject_id == Some(id) && t.state != "done").unwrap()
    };
    Ledger::new(&app).hold_deposit(&account, Money::from_cents(100_000), "bank", "w0").await.unwrap();
    let (sam, sue) = (
        Caller { token_id: "t1".into(), name: "sam".into(), role: Role::SeniorReviewer },
        Caller { token_id: "t2".into(), name: "sue".into(), role: Role::SeniorReviewer },
    );
    let approve = |by: &Caller| {
        let limit = Money::from_cents(500_000);
        (
            by.clone(),
            Decision::Approve { monthly_limit: limit, override_reason: Some("parent guarantee".into()), note: None },
        )
    };
    let (caller, decision) = approve(&sam);
    let actor = Actor { caller: &caller, request_id: "r1", now: clock.now() };
    let out = decide(&app, &actor, review_task().await.id, None, decision, None).await.unwrap();
    assert_eq!(out.body.application.state, "awaiting_deposit", "{:?}", out.body);
    assert!(out.body.credit_line.is_none());
    let text = rendered(&app, id, "deposit_required").await;
    assert!(text.contains("$5,000.00/month or more") && text.contains("Amount still needed: $4,000.00"), "{text}");
    assert_eq!(reminders::scan(&app).await.unwrap().deposits_recorded, 0, "not held yet");

    // The rest is held: back to review; approved again by two seniors, the line opens.
    Ledger::new(&app).hold_deposit(&account, Money::from_cents(400_000), "bank", "w1").await.unwrap();
    assert_eq!(reminders::scan(&app).await.unwrap().deposits_recorded, 1);
    assert_eq!(state_of(&app, id).await, "pending_review");
    let (caller, decision) = approve(&sam);
    let actor = Actor { caller: &caller, request_id: "r2", now: clock.now() };
    let task = review_task().await;
    let first = decide(&app, &actor, task.id, None, decision, None).await.unwrap();
    assert_eq!(first.body.application.state, "awaiting_second_approval", "{:?}", first.body);
    let (caller, decision) = approve(&sue);
    let actor = Actor { caller: &caller, request_id: "r3", now: clock.now() };
    let second = decide(&app, &actor, task.id, None, decision, None).await.unwrap();
    assert_eq!(second.body.credit_line.as_ref().map(|l| l.monthly_limit_cents), Some(500_000), "{:?}", second.body);
    assert_sound(&app).await;
}

/// An applicant keeps writing while a decision waits: in `awaiting_deposit` (no task open, no
/// email step expected) the message goes to a person as a triage task on that application;
/// in `awaiting_second_approval` it is read into the application its reviewers see. Never a
/// second application for the same account (intake once read only a list of state names).
async fn messages_while_waiting_for_the_guarantee_or_a_second_approval_stay_with_the_application(t: TestStore) {
    let clock = Arc::new(ManualClock::new(day(3, 1)));
    let app = app(&t, clock.clone());
    let account = EmailAddress::parse("cfo@bigco.io").unwrap();
    let input = NewApplicationInput {
        account_email: account.clone(),
        applicant_kind: Some(ApplicantKind::Enterprise),
        requested_limit: None,
        details: json!({}),
    };
    let application = app.workflow.open_application(input, "test").await.unwrap();
    let id = SubjectId::from(application.id);
    let reviewed = Fire::new(id, "materials_complete", "test").decision("applicant_type", "unknown", DecisionId::new());
    app.workflow.fire(reviewed).await.unwrap();
    let review_task = || async {
        let filter = TaskFilter { kind: Some("application_review".into()), limit: 100, ..Default::default() };
        let tasks = app.store.list_tasks(&filter).await.unwrap();
        tasks.into_iter().rev().find(|t| t.subject_id == Some(id) && t.state != "done").unwrap()
    };
    let senior = |name: &str| Caller { token_id: name.into(), name: name.into(), role: Role::SeniorReviewer };
    let approve = || Decision::Approve {
        monthly_limit: Money::from_cents(500_000),
        override_reason: Some("parent guarantee".into()),
        note: None,
    };
    let sam = senior("sam");
    let actor = Actor { caller: &sam, request_id: "r1", now: clock.now() };
    decide(&app, &actor, review_task().await.id, None, approve(), None).await.unwrap();
    assert_eq!(state_of(&app, id).await, "awaiting_deposit");
    let applications =
        || async { app.store.instances_for_account(account.as_str(), "credit_line_application").await.unwrap().len() };

    let letter = |n: u32, body: &str| {
        format!(
            "From: CFO <cfo@bigco.io>\r\nTo: support@creditline.test\r\nSubject: Our credit line application\r\n\
             Message-ID: <m{n}@bigco.io>\r\nDate: Mon, 1 Mar 2027 10:00:00 +0000\r\n\r\n{body}\r\n"
        )
    };
    let raw =
        letter(1, "We would like a monthly credit line for our company. The deposit is on its way from our bank.");
    let report = creditline::services::inbound::ingest(&app, "test", raw.as_bytes()).await.unwrap();
    assert_eq!(report.application_id.as_deref(), Some(application.id.to_string().as_str()), "{report:?}");
    assert_eq!(applications().await, 1, "no second application: {report:?}");
    let triage = TaskFilter { kind: Some("triage".into()), limit: 100, ..Default::default() };
    let tasks = app.store.list_tasks(&triage).await.unwrap();
    assert!(tasks.iter().any(|t| t.subject_id == Some(id) && t.title.contains("awaiting_deposit")), "{tasks:?}");
    assert_eq!(state_of(&app, id).await, "awaiting_deposit");

    // Held: back to review, a first approval, and a message during the second one.
    Ledger::new(&app).hold_deposit(&account, Money::from_cents(500_000), "bank", "w0").await.unwrap();
    assert_eq!(reminders::scan(&app).await.unwrap().deposits_recorded, 1);
    let actor = Actor { caller: &sam, request_id: "r2", now: clock.now() };
    decide(&app, &actor, review_task().await.id, None, approve(), None).await.unwrap();
    assert_eq!(state_of(&app, id).await, "awaiting_second_approval");
    let raw = letter(2, "Our website is https://bigco.io and we would like the monthly credit line soon.");
    let report = creditline::services::inbound::ingest(&app, "test", raw.as_bytes()).await.unwrap();
    assert_eq!(report.outcome, "updated_application", "{report:?}");
    assert_eq!(report.application_id.as_deref(), Some(application.id.to_string().as_str()), "{report:?}");
    assert_eq!(applications().await, 1);
    assert_eq!(state_of(&app, id).await, "awaiting_second_approval");
    let sue = senior("sue");
    let actor = Actor { caller: &sue, request_id: "r3", now: clock.now() };
    let second = decide(&app, &actor, review_task().await.id, None, approve(), None).await.unwrap();
    assert_eq!(second.body.credit_line.as_ref().map(|l| l.monthly_limit_cents), Some(500_000), "{:?}", second.body);
}

/// Policy: "For special requests such as $5,000/month or more ... as a guarantee": the tier is
/// written once, in the rules' data; the rules, the approval path and the emails follow it.
async fn the_deposit_tier_is_read_from_the_rules(t: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&repo().join("rules"), dir.path());
    std::fs::write(dir.path().join("data/deposit_tier.txt"), "$2,000\n").unwrap();
    let clock = Arc::new(ManualClock::new(day(3, 1)));
    let app = app_with_rules(&t, clock, dir.path().to_path_buf());
    assert_eq!(app.rules.deposit_tier(), Money::from_cents(200_000));
    let line = open_credit_line(&app, "ops@tiered.io", 100_000).await;
    let asked = increase(&app, line, 0, 0).await;
    assert_eq!((asked.next_limit_cents, asked.deposit_cents), (200_000, 200_000));
    let text = rendered(&app, asked.id, "deposit_required").await;
    assert!(text.contains("Credit lines of $2,000.00/month or more"), "{text}");
}

store_suite!(
    an_increase_whose_line_moved_on_is_closed_and_the_next_can_be_proposed,
    an_increase_waiting_for_its_guarantee_is_reminded_then_expires,
    a_request_between_rungs_is_offered_the_rung_below_and_told_so,
    a_senior_approval_at_the_deposit_tier_waits_for_the_guarantee,
    messages_while_waiting_for_the_guarantee_or_a_second_approval_stay_with_the_application,
    the_deposit_tier_is_read_from_the_rules,
);

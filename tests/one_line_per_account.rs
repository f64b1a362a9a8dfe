//! One credit line per account, none for an account in default, and no second application
//! beside a decided one (issue 16, item 4), on SQLite and PostgreSQL, through intake and the
//! reviewer's decision service.
//!
//! Policy: "To receive or continue a credit line for the next month, the account must complete
//! payment for the previous month's bill", and "If the account later builds a stable usage and
//! payment history with WaveSpeedAI, WaveSpeedAI may review the account again".

mod common;

use common::TestStore;
use creditline::app::App;
use creditline::config::Config;
use creditline::domain::{EmailAddress, Money, Period, Role, SubjectId, TaskId};
use creditline::services::access::Caller;
use creditline::services::actions::Actor;
use creditline::services::billing::close;
use creditline::services::decisions::{Decision, DecisionError, decide};
use creditline::services::inbound::{self, Report};
use creditline::services::ledger::Ledger;
use creditline::services::{Fire, ManualClock};
use creditline::store::{ApplicationFilter, TaskFilter};

const ACCOUNT: &str = "dpark.dev@gmail.com";

/// The shared sample of an individual with a product, under a Message-ID of its own.
fn application(n: u32) -> Vec<u8> {
    let raw = std::fs::read(common::repo().join("../shared/samples/inbox/02-individual-with-product.eml"))
        .expect("the shared sample");
    let text = String::from_utf8(raw).expect("utf-8 sample");
    text.replacen("Message-ID: <", &format!("Message-ID: <n{n}-"), 1).into_bytes()
}

async fn ingest(app: &App, raw: &[u8]) -> Report {
    inbound::ingest(app, "test", raw).await.expect("intake answers")
}

async fn review_task(app: &App, report: &Report) -> TaskId {
    let filter = TaskFilter { kind: Some("application_review".into()), limit: 100, ..Default::default() };
    let subject = report.application_id.as_deref().expect("an application").to_string();
    let tasks = app.store.list_tasks(&filter).await.expect("tasks");
    tasks
        .iter()
        .find(|t| t.state == "open" && t.subject_id.is_some_and(|s| s.0.to_string() == subject))
        .map(|t| t.id)
        .expect("an open review task")
}

async fn approve(app: &App, task: TaskId) -> Result<(), DecisionError> {
    let caller = Caller { token_id: "t".into(), name: "rita".into(), role: Role::Reviewer };
    let actor = Actor { caller: &caller, request_id: "r", now: chrono::Utc::now() };
    let approve = Decision::Approve { monthly_limit: Money::from_cents(15_000), override_reason: None, note: None };
    decide(app, &actor, task, None, approve, None).await.map(|_| ())
}

async fn decline(app: &App, task: TaskId) {
    let caller = Caller { token_id: "t".into(), name: "rita".into(), role: Role::Reviewer };
    let actor = Actor { caller: &caller, request_id: "r", now: chrono::Utc::now() };
    let decline = Decision::Decline { reason_code: "other".into(), message: "Not this time.".into() };
    decide(app, &actor, task, None, decline, None).await.expect("declined");
}

async fn lines(app: &App) -> Vec<(SubjectId, String)> {
    let lines = app.store.instances_for_account(ACCOUNT, "credit_line").await.expect("lines");
    lines.into_iter().map(|l| (l.id, l.state)).collect()
}

async fn triage_on(app: &App, subject: SubjectId) -> usize {
    let filter = TaskFilter { kind: Some("triage".into()), limit: 100, ..Default::default() };
    let tasks = app.store.list_tasks(&filter).await.expect("tasks");
    tasks.iter().filter(|t| t.subject_id == Some(subject)).count()
}

async fn a_second_application_never_opens_a_second_line(t: TestStore) {
    let app = t.app();
    let first = ingest(&app, &application(1)).await;
    assert_eq!(first.state.as_deref(), Some("pending_review"), "{first:?}");
    let first_task = review_task(&app, &first).await;
    approve(&app, first_task).await.expect("the first line opens");
    let opened = lines(&app).await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    let line = opened[0].0;

    // A new application email from the account goes to its line's people, not into a second
    // application.
    let again = ingest(&app, &application(2)).await;
    assert_eq!(again.outcome, "triage", "{again:?}");
    assert!(again.findings.contains(&"line_exists".to_string()), "{again:?}");
    assert_eq!(triage_on(&app, line).await, 1);
    let all = app.store.list_applications(&ApplicationFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(all.len(), 1, "no second application: {all:?}");
}

async fn approving_for_an_account_that_has_a_line_is_refused(t: TestStore) {
    let app = t.app();
    let first = ingest(&app, &application(1)).await;
    let task = review_task(&app, &first).await;
    // A line opened for the account meanwhile (by another application, or by hand).
    let line = common::open_credit_line(&app, ACCOUNT, 20_000).await;
    let refused = approve(&app, task).await.expect_err("a second line");
    assert_eq!(refused.code(), "line_exists", "{refused}");
    assert!(refused.to_string().contains(&line.to_string()), "{refused}");
    assert_eq!(lines(&app).await.len(), 1);

    // The store's own guard: a second open line for the account cannot be written at all,
    // even by a writer that skipped the check (two approvals committing at once).
    let second = std::panic::AssertUnwindSafe(common::open_credit_line(&app, ACCOUNT, 20_000));
    let result = futures_util::FutureExt::catch_unwind(second).await;
    assert!(result.is_err(), "the unique index refuses a second open line");
    assert_eq!(lines(&app).await.len(), 1);
}

async fn an_account_that_left_a_bill_unpaid_gets_no_new_line(t: TestStore) {
    let day = |m: u32, d: u32| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2027, m, d, 12, 0, 0).unwrap();
    let clock = std::sync::Arc::new(ManualClock::new(day(1, 5)));
    let config = Config {
        rules_dir: common::repo().join("rules"),
        workflows_dir: common::repo().join("workflows"),
        templates_dir: common::repo().join("templates"),
        ..Default::default()
    };
    let app = App::assemble(config, t.store.clone(), clock.clone()).unwrap();
    let account = EmailAddress::parse(ACCOUNT).unwrap();
    let first = ingest(&app, &application(1)).await;
    approve(&app, review_task(&app, &first).await).await.expect("line opens");
    let line = lines(&app).await[0].0;
    Ledger::new(&app).debit(&account, Money::from_cents(15_000), "usage-1").await.expect("usage on the line");
    clock.set(day(2, 1));
    let closed = close(&app, Period::new(2027, 1).unwrap(), None).await.expect("January closed");
    assert_eq!(closed.billed, 1);
    // The line is closed for collections with the January bill unpaid.
    let mut close = Fire::new(line, "close", "reviewer:test").reason("collections");
    for (key, value) in creditline::services::billing::owed_facts(&app.store.bills_for_line(line).await.unwrap()) {
        close = close.data(key, value);
    }
    app.workflow.fire(close).await.expect("line closed");
    assert_eq!(lines(&app).await, vec![(line, "closed".to_string())]);

    let again = ingest(&app, &application(2)).await;
    assert_eq!(again.outcome, "triage", "{again:?}");
    assert!(again.findings.contains(&"account_in_default".to_string()), "{again:?}");
    assert_eq!(triage_on(&app, line).await, 1);
    assert!(Ledger::new(&app).verify().await.unwrap().is_empty());
}

async fn a_declined_applicant_writing_again_reaches_the_existing_application(t: TestStore) {
    let app = t.app();
    let first = ingest(&app, &application(1)).await;
    decline(&app, review_task(&app, &first).await).await;
    let again = ingest(&app, &application(2)).await;
    assert_eq!(again.outcome, "updated_application", "{again:?}");
    assert_eq!(again.application_id, first.application_id, "{again:?}");
    assert_eq!(again.state.as_deref(), Some("declined"), "{again:?}");
    assert!(again.findings.contains(&"reapplied_before_re_review".to_string()), "{again:?}");
    let id: uuid::Uuid = first.application_id.as_deref().unwrap().parse().unwrap();
    assert_eq!(triage_on(&app, SubjectId(id)).await, 1, "a person sees the message");
    let all = app.store.list_applications(&ApplicationFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(all.len(), 1, "no second application: {all:?}");
}

store_suite!(
    a_second_application_never_opens_a_second_line,
    approving_for_an_account_that_has_a_line_is_refused,
    an_account_that_left_a_bill_unpaid_gets_no_new_line,
    a_declined_applicant_writing_again_reaches_the_existing_application,
);

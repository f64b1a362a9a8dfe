//! The simulation report read from a real store (`sim::report::Recorder` over
//! `Store::report_figures`), on SQLite and PostgreSQL: a small world of two months, built with
//! a manual clock (applications ingested from the corpus, three credit lines that draw, a
//! deposit, emails delivered, a task finished, a cycle close, a bill paid on time, one paid
//! late and one never, a limit increase), recorded at each month's end and checked figure by
//! figure against what the store says through its other reads; two recorders over the same
//! data give the same text and JSON byte for byte.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{TestStore, open_credit_line, repo};
use creditline::app::App;
use creditline::config::Config;
use creditline::domain::{EmailAddress, Money, Period, SubjectId};
use creditline::services::ManualClock;
use creditline::services::billing::{close, pay};
use creditline::services::ledger::Ledger;
use creditline::sim::report::{BillFigures, Month, Recorder, TaskAges};
use creditline::sim::{FaultLevel, Spec};
use creditline::store::{
    ActionWrite, ApplicationFilter, AuditRecord, CreditLineFilter, CycleWrite, DeliveryOutcome, IncreaseRecord,
    TaskFilter, TaskRecord, TaskUpdate, WorkflowChanges,
};

fn app(t: &TestStore, clock: Arc<ManualClock>) -> Arc<App> {
    let config = Config {
        rules_dir: repo().join("rules"),
        workflows_dir: repo().join("workflows"),
        templates_dir: repo().join("templates"),
        ..Default::default()
    };
    App::assemble(config, t.store.clone(), clock).unwrap()
}

fn at(month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, month, day, hour, 0, 0).unwrap()
}

fn spec() -> Spec {
    Spec {
        seed: 1,
        accounts: 3,
        months: 2,
        faults: FaultLevel::None,
        start: chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
    }
}

fn who(a: &str) -> EmailAddress {
    EmailAddress::parse(a).unwrap()
}

async fn ingest(app: &App, file: &str) {
    let path = repo().join("tests/corpus").join(file);
    let raw = std::fs::read(&path).unwrap();
    creditline::services::inbound::ingest(app, &path.display().to_string(), &raw).await.unwrap();
}

/// Sends every deliverable email (as a worker would, minus SMTP); what was sent, by template.
async fn deliver_all(app: &App, now: DateTime<Utc>) -> BTreeMap<String, i64> {
    let mut sent = BTreeMap::new();
    loop {
        let jobs = app.store.queue_outbox(now, 100).await.unwrap();
        if jobs.is_empty() {
            return sent;
        }
        for job in jobs {
            let row = app.store.claim_outbox(&job, now + Duration::minutes(5)).await.unwrap().unwrap();
            let outcome = DeliveryOutcome::Sent { message_id: format!("<{}@test>", uuid::Uuid::now_v7()) };
            assert!(app.store.finish_outbox(row.id, row.attempts, &outcome, now).await.unwrap());
            *sent.entry(row.name).or_default() += 1;
        }
    }
}

/// Finishes a task as a reviewer's action would (state `done`, at the clock's time).
async fn finish_task(app: &App, task: &TaskRecord) {
    let now = app.workflow.clock().now();
    let write = ActionWrite {
        task: Some(TaskUpdate {
            id: task.id,
            expected_version: task.version,
            state: "done".into(),
            assignee: None,
            claimed_at: None,
            details: task.details.clone(),
        }),
        workflow: WorkflowChanges::default(),
        credit_line: None,
        audit: AuditRecord {
            id: uuid::Uuid::now_v7(),
            actor: "reviewer:test".into(),
            action: "resolve".into(),
            target: task.id.to_string(),
            version_before: Some(task.version),
            version_after: Some(task.version + 1),
            request_id: "test".into(),
            detail: serde_json::json!({}),
            at: now,
        },
        idempotency: None,
    };
    app.store.commit_action(&write).await.unwrap();
}

/// A limit increase proposed for a line (its instance in the initial state), as a cycle close
/// opens one.
async fn propose_increase(app: &App, line: SubjectId, account: &str) -> SubjectId {
    let now = app.workflow.clock().now();
    let id = SubjectId::new();
    let (instance, _) = app.workflow.plan_start("limit_increase", id, Some(account), "system:test").unwrap();
    let write = CycleWrite {
        workflow: WorkflowChanges::open(instance),
        increase: Some(IncreaseRecord {
            id,
            line_id: line,
            account_email: account.into(),
            current_limit_cents: 20_000,
            next_limit_cents: 50_000,
            deposit_cents: 0,
            created_at: now,
        }),
        at: now,
        ..CycleWrite::default()
    };
    app.store.commit_cycle(&write).await.unwrap();
    id
}

async fn all_tasks(app: &App) -> Vec<TaskRecord> {
    app.store.list_tasks(&TaskFilter { limit: 10_000, ..Default::default() }).await.unwrap()
}

fn in_period(period: Period, when: DateTime<Utc>) -> bool {
    period.contains(when)
}

/// Applications received in `period`, by their state now (through `list_applications`).
async fn applications_of(app: &App, period: Option<Period>) -> BTreeMap<String, i64> {
    let all = app.store.list_applications(&ApplicationFilter { limit: 10_000, ..Default::default() }).await.unwrap();
    let mut out = BTreeMap::new();
    for a in all.iter().filter(|a| period.is_none_or(|p| in_period(p, a.created_at))) {
        *out.entry(a.state.clone()).or_default() += 1;
    }
    out
}

async fn lines_by_state(app: &App) -> BTreeMap<String, i64> {
    let lines = app.store.list_credit_lines(&CreditLineFilter { limit: 10_000, ..Default::default() }).await.unwrap();
    let mut out = BTreeMap::new();
    for l in lines {
        *out.entry(l.state).or_default() += 1;
    }
    out
}

/// Open tasks by kind and age at `now`, bucketed here independently of the report.
fn open_by_age(tasks: &[TaskRecord], now: DateTime<Utc>) -> BTreeMap<String, TaskAges> {
    let mut out: BTreeMap<String, TaskAges> = BTreeMap::new();
    for t in tasks.iter().filter(|t| t.state == "open" || t.state == "awaiting_second_approval") {
        let hours = (now - t.created_at).num_hours();
        let ages = out.entry(t.kind.clone()).or_default();
        match hours {
            h if h < 24 => ages.under_1d += 1,
            h if h < 72 => ages.d1_to_3 += 1,
            h if h < 168 => ages.d3_to_7 += 1,
            h if h < 336 => ages.d7_to_14 += 1,
            _ => ages.d14_plus += 1,
        }
    }
    out
}

fn opened_in(tasks: &[TaskRecord], period: Option<Period>) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for t in tasks.iter().filter(|t| period.is_none_or(|p| in_period(p, t.created_at))) {
        *out.entry(t.kind.clone()).or_default() += 1;
    }
    out
}

fn add(a: &BTreeMap<String, i64>, b: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    let mut out = a.clone();
    for (k, v) in b {
        *out.entry(k.clone()).or_default() += v;
    }
    out
}

/// Policy: bills are for "the credit used" in a month and must be paid before the next month's
/// line; the report counts, per month, what was received, drawn, billed, paid on time, paid
/// late and left unpaid, and what the reviewers' queue holds.
async fn two_months_recorded_figure_by_figure(t: TestStore) {
    let clock = Arc::new(ManualClock::new(at(1, 5, 12)));
    let app = app(&t, clock.clone());
    let (jan, feb) = (Period::new(2027, 1).unwrap(), Period::new(2027, 2).unwrap());
    let mut first = Recorder::new(spec());
    let mut second = Recorder::new(spec());

    // January: applications arrive, three lines open and draw, a deposit is held.
    for f in [
        "01-html-only-enterprise.eml",
        "02-base64-individual.eml",
        "07-big5-individual.eml",
        "27-materials-missing.eml",
    ] {
        ingest(&app, f).await;
    }
    let a = open_credit_line(&app, "a@acme.io", 20_000).await;
    open_credit_line(&app, "b@acme.io", 20_000).await;
    open_credit_line(&app, "c@acme.io", 20_000).await;
    clock.set(at(1, 10, 12));
    let ledger = Ledger::new(&app);
    for (account, cents) in [("a@acme.io", 15_000), ("b@acme.io", 8_000), ("c@acme.io", 5_000)] {
        ledger.debit(&who(account), Money::from_cents(cents), &format!("use:{account}:jan")).await.unwrap();
    }
    clock.set(at(1, 12, 12));
    ledger.hold_deposit(&who("d@acme.io"), Money::from_cents(50_000), "bank", "dep-1").await.unwrap();
    clock.set(at(1, 20, 12));
    let jan_emails = deliver_all(&app, at(1, 20, 12)).await;
    assert!(!jan_emails.is_empty(), "the applications sent acknowledgements");
    let tasks = all_tasks(&app).await;
    let finished = tasks.iter().find(|t| t.state == "open").expect("an open task to finish").clone();
    finish_task(&app, &finished).await;
    // A late application: its tasks are a day and a bit old at the month's end.
    clock.set(at(1, 30, 12));
    for f in ["48-portuguese-individual-product.eml", "66-individual-repository-and-demo.eml"] {
        ingest(&app, f).await;
    }

    clock.set(at(1, 31, 18));
    for r in [&mut first, &mut second] {
        r.count("applications_sent", 4);
        r.end_of_month(&app, jan, at(1, 31, 18)).await.unwrap();
    }

    let tasks = all_tasks(&app).await;
    let january = Month {
        period: "2027-01".into(),
        applications: applications_of(&app, Some(jan)).await,
        lines: [("active".to_string(), 3)].into_iter().collect(),
        credit_outstanding_cents: 28_000,
        bills: BillFigures::default(),
        increases: BTreeMap::new(),
        deposits_held_cents: 50_000,
        emails: jan_emails.clone(),
        tasks: creditline::sim::report::TaskFigures {
            opened: opened_in(&tasks, Some(jan)),
            closed: [(finished.kind.clone(), 1)].into_iter().collect(),
            open: open_by_age(&tasks, at(1, 31, 18)),
        },
    };
    // Nine applications: six from the inbox (four individuals wait for review), three behind
    // the lines; a review task from the 5th is finished, one is 26 days old, two a day and a bit.
    let count = |pairs: &[(&str, i64)]| pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>();
    assert_eq!(
        january.applications,
        count(&[
            ("awaiting_domain_confirmation", 1),
            ("awaiting_materials", 1),
            ("pending_review", 4),
            ("received", 3)
        ])
    );
    assert_eq!(january.tasks.opened, count(&[("application_review", 4)]));
    assert_eq!(january.tasks.closed, count(&[("application_review", 1)]));
    let review = TaskAges { d1_to_3: 2, d14_plus: 1, ..TaskAges::default() };
    assert_eq!(january.tasks.open, [("application_review".to_string(), review)].into_iter().collect());

    // February: January is billed; a pays on time, b late, c never; a draws again; an increase.
    clock.set(at(2, 1, 10));
    let closed = close(&app, jan, None).await.unwrap();
    assert_eq!(closed.billed, 3, "{closed:?}");
    clock.set(at(2, 5, 12));
    pay(&app, &who("a@acme.io"), Money::from_cents(15_000), "stripe", "pa-1").await.unwrap();
    clock.set(at(2, 15, 12));
    let increase = propose_increase(&app, a, "a@acme.io").await;
    clock.set(at(2, 20, 12));
    pay(&app, &who("b@acme.io"), Money::from_cents(8_000), "stripe", "pb-1").await.unwrap();
    clock.set(at(2, 21, 12));
    ledger.debit(&who("a@acme.io"), Money::from_cents(1_000), "use:a:feb").await.unwrap();
    clock.set(at(2, 25, 12));
    let feb_emails = deliver_all(&app, at(2, 25, 12)).await;

    clock.set(at(2, 28, 18));
    for r in [&mut first, &mut second] {
        r.finding("c@acme.io never paid".into());
        r.end_of_month(&app, feb, at(2, 28, 18)).await.unwrap();
    }

    let (_, state_of_increase) = app.store.increase(increase).await.unwrap().unwrap();
    let tasks = all_tasks(&app).await;
    let lines = lines_by_state(&app).await;
    assert_eq!(lines.values().sum::<i64>(), 3);
    let bills = BillFigures {
        issued: 3,
        issued_cents: 28_000,
        due: 3,
        due_cents: 28_000,
        paid_on_time: 1,
        paid_late: 1,
        unpaid: 1,
        unpaid_cents: 5_000,
    };
    let february = Month {
        period: "2027-02".into(),
        applications: BTreeMap::new(),
        lines: lines.clone(),
        // c's bill, and what a drew in February (not billed yet).
        credit_outstanding_cents: 6_000,
        bills,
        increases: [(state_of_increase.clone(), 1)].into_iter().collect(),
        deposits_held_cents: 50_000,
        emails: feb_emails.clone(),
        tasks: creditline::sim::report::TaskFigures {
            opened: opened_in(&tasks, Some(feb)),
            closed: BTreeMap::new(),
            open: open_by_age(&tasks, at(2, 28, 18)),
        },
    };
    assert_eq!(state_of_increase, "proposed");

    let text = first.finish(None);
    let other = second.finish(None);
    assert_eq!(text.months, vec![january.clone(), february.clone()]);

    let totals = &text.totals;
    assert_eq!(totals.months, 2);
    assert_eq!(totals.applications, applications_of(&app, None).await);
    assert_eq!(totals.lines, lines);
    assert_eq!(totals.credit_outstanding_cents, 6_000);
    assert_eq!(totals.bills, bills);
    assert_eq!(totals.increases, february.increases);
    assert_eq!(totals.deposits_held_cents, 50_000);
    assert_eq!(totals.emails, add(&jan_emails, &feb_emails));
    assert_eq!(totals.tasks.opened, opened_in(&tasks, None));
    assert_eq!(totals.tasks.closed, january.tasks.closed);
    assert_eq!(totals.tasks.open, february.tasks.open);
    assert_eq!(text.counters, [("applications_sent".to_string(), 4)].into_iter().collect());
    assert_eq!(text.findings, ["c@acme.io never paid"]);

    // Two recorders over the same data: the same report, byte for byte.
    assert_eq!(text.to_text(), other.to_text());
    assert_eq!(text.to_json(), other.to_json());
    assert!(text.to_text().contains("paid on time 1, paid late 1, unpaid 1 ($50.00)"), "{}", text.to_text());
    let json: serde_json::Value = serde_json::from_str(&text.to_json()).unwrap();
    assert_eq!(json["months"][1]["bills"]["paid_late"], 1);
    assert_eq!(json["totals"]["credit_outstanding_cents"], 6_000);
}

/// An empty database: every figure is zero or empty, and the month is still reported.
async fn an_empty_month_reports_zeros(t: TestStore) {
    let clock = Arc::new(ManualClock::new(at(1, 31, 18)));
    let app = app(&t, clock);
    let mut r = Recorder::new(spec());
    r.end_of_month(&app, Period::new(2027, 1).unwrap(), at(1, 31, 18)).await.unwrap();
    let report = r.finish(None);
    assert_eq!(report.months, vec![Month { period: "2027-01".into(), ..Month::default() }]);
    assert_eq!(report.totals.months, 1);
    assert!(report.to_text().contains("findings\n  none\n"));
}

store_suite!(two_months_recorded_figure_by_figure, an_empty_month_reports_zeros);

//! The simulation's invariant checker (`creditline::sim::invariants`) against a real store: a
//! small world (an application approved by a reviewer, its line drawing, billed, paid, its
//! emails delivered) checks clean on both stores; then each fault that can be planted in the
//! database (SQLite) or in the mailboxes makes its named check fire.

mod common;

use creditline::store::OperationsStore as _;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{TestStore, repo};
use creditline::app::App;
use creditline::config::Config;
use creditline::domain::{ApplicantKind, ApplicationId, DecisionId, EmailAddress, Money, Period, Role, SubjectId};
use creditline::rules::DecisionRecord;
use creditline::services::billing::{close, pay};
use creditline::services::ledger::Ledger;
use creditline::services::{Fire, ManualClock, NewApplicationInput};
use creditline::sim::invariants::{Checker, Observed, Violation};
use creditline::sim::mailbox::Mail;
use creditline::store::{DeliveryOutcome, Store};

const ACCOUNT: &str = "builder@acme.io";
const REVIEWER: &str = "rev-1";
const FINISHABLE: [&str; 7] = [
    "application_review",
    "aws_login_review",
    "triage",
    "invoice_request",
    "limit_increase_review",
    "deposit_confirmation",
    "email_failure",
];

fn noon(year: i32, month: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, d, 12, 0, 0).unwrap()
}

/// A world under check: the app, its clock, what the applicants received, the checker.
struct World {
    app: Arc<App>,
    clock: Arc<ManualClock>,
    line: SubjectId,
    application: SubjectId,
    mailboxes: BTreeMap<String, Vec<Mail>>,
    auto_replies: BTreeSet<String>,
    finishable: Vec<&'static str>,
    reviewer_delay_days: i64,
    checker: Checker,
}

impl World {
    async fn check(&mut self, drained: bool) -> Vec<Violation> {
        let seen = Observed {
            now: self.clock_now(),
            mailboxes: &self.mailboxes,
            auto_replies: &self.auto_replies,
            reviewer_max_delay_days: self.reviewer_delay_days,
            finishable_kinds: &self.finishable,
            drained,
        };
        self.checker.check(&self.app, &seen).await.unwrap()
    }

    fn clock_now(&self) -> DateTime<Utc> {
        self.app.workflow.clock().now()
    }

    /// Sends every email due (as a worker would, without SMTP) and puts each into its
    /// recipient's mailbox, unless `lose` says to drop it.
    async fn deliver(&mut self, lose: impl Fn(&str) -> bool) {
        let now = self.clock_now();
        for job in self.app.store.queue_outbox(now, 1000).await.unwrap() {
            let row = self.app.store.claim_outbox(&job, now + Duration::minutes(2)).await.unwrap().unwrap();
            let message_id = format!("<outbox.{}@wavespeed.ai>", row.id);
            let sent = DeliveryOutcome::Sent { message_id: message_id.clone() };
            assert!(self.app.store.finish_outbox(row.id, row.attempts, &sent, now).await.unwrap());
            if !lose(&row.name) {
                let to = row.payload["to"].as_str().unwrap().to_string();
                let mut mail = mail(&message_id, &row.name, &format!("About {}", row.name), "Hello.", &[]);
                mail.rcpt = to.clone();
                self.mailboxes.entry(to).or_default().push(mail);
            }
        }
    }
}

/// One delivered email, as `sim::mailbox` reads it.
fn mail(message_id: &str, template: &str, subject: &str, body: &str, thread: &[&str]) -> Mail {
    let id = message_id.trim_start_matches('<').trim_end_matches('>');
    let raw = format!(
        "From: WaveSpeedAI Support <support@wavespeed.ai>\r\nTo: {ACCOUNT}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: Mon, 4 Jan 2027 12:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    );
    Mail {
        rcpt: ACCOUNT.into(),
        message_id: id.to_string(),
        template: Some(template.to_string()),
        subject: subject.to_string(),
        thread: thread.iter().map(|s| s.to_string()).collect(),
        raw: raw.into_bytes(),
        day: noon(2027, 1, 4).date_naive(),
    }
}

fn app_over(store: Arc<dyn Store>, clock: Arc<ManualClock>) -> Arc<App> {
    let config = Config {
        rules_dir: repo().join("rules"),
        workflows_dir: repo().join("workflows"),
        templates_dir: repo().join("templates"),
        ..Default::default()
    };
    App::assemble(config, store, clock).unwrap()
}

/// A rule decision recorded for `subject`, as the services record them.
async fn decide(app: &App, subject: SubjectId, rule: &str, outcome: &str) -> DecisionId {
    let id = DecisionId::new();
    let record = DecisionRecord {
        id,
        rule: rule.into(),
        version: "test".into(),
        input: serde_json::json!({}),
        output: serde_json::json!({ "outcome": outcome }),
        outcome: outcome.into(),
        reasons: vec![],
        duration_us: 1,
        decided_at: app.workflow.clock().now(),
        subject: Some(subject),
    };
    app.store.record_decision(&record).await.unwrap();
    id
}

/// An application taken to `approved` by `approver` through legal, decided transitions.
async fn approved_application(
    app: &App,
    account: &str,
    kind: Option<ApplicantKind>,
    approver: &str,
    limit: i64,
) -> SubjectId {
    let input = NewApplicationInput {
        account_email: EmailAddress::parse(account).unwrap(),
        applicant_kind: kind,
        requested_limit: None,
        details: serde_json::json!({}),
    };
    let application: SubjectId = app.workflow.open_application(input, "system").await.unwrap().id.into();
    let d = decide(app, application, "applicant_type", "unknown").await;
    app.workflow
        .fire(Fire::new(application, "materials_complete", "system").decision("applicant_type", "unknown", d))
        .await
        .unwrap();
    let d = decide(app, application, "initial_limit", "offer").await;
    app.workflow
        .fire(
            Fire::new(application, "approve", approver)
                .decision("initial_limit", "offer", d)
                .data("monthly_limit_cents", limit),
        )
        .await
        .unwrap();
    application
}

/// The credit line an approval opens (as `services::decisions` writes it).
async fn open_line(app: &App, application: SubjectId, account: &str, limit: i64, approver: &str) -> SubjectId {
    let id = SubjectId::new();
    let (instance, _) = app.workflow.plan_start("credit_line", id, Some(account), approver).unwrap();
    let write = creditline::store::ActionWrite {
        task: None,
        workflow: creditline::store::WorkflowChanges::open(instance),
        credit_line: Some(creditline::store::CreditLineWrite {
            id,
            account_email: account.to_string(),
            application_id: ApplicationId(application.0),
            monthly_limit_cents: limit,
            approved_by: approver.into(),
            second_approver: None,
        }),
        audit: creditline::store::AuditRecord {
            id: uuid::Uuid::now_v7(),
            actor: approver.into(),
            action: "approve".into(),
            target: id.to_string(),
            version_before: None,
            version_after: Some(1),
            request_id: "test".into(),
            detail: serde_json::json!({}),
            at: app.workflow.clock().now(),
        },
        idempotency: None,
    };
    app.store.commit_action(&write).await.unwrap();
    id
}

/// January 2027: an application approved by a reviewer, a $200 line, $50 prepaid bought and
/// $80 used ($30 on the line), every email delivered; checked clean.
async fn world(store: Arc<dyn Store>) -> World {
    let clock = Arc::new(ManualClock::new(noon(2027, 1, 4)));
    let app = app_over(store, clock.clone());
    creditline::services::access::create_token(app.store.as_ref(), REVIEWER, Role::Reviewer, noon(2027, 1, 1))
        .await
        .unwrap();
    let application = approved_application(&app, ACCOUNT, None, REVIEWER, 20_000).await;
    let line = open_line(&app, application, ACCOUNT, 20_000, REVIEWER).await;
    let who = EmailAddress::parse(ACCOUNT).unwrap();
    Ledger::new(&app).top_up(&who, Money::from_cents(5_000), "stripe", "t-1").await.unwrap();
    Ledger::new(&app).debit(&who, Money::from_cents(8_000), "use-1").await.unwrap();
    let mut w = World {
        app,
        clock,
        line,
        application,
        mailboxes: BTreeMap::new(),
        auto_replies: BTreeSet::new(),
        finishable: FINISHABLE.to_vec(),
        reviewer_delay_days: 90,
        checker: Checker::new(),
    };
    w.deliver(|_| false).await;
    let found = w.check(true).await;
    assert!(found.is_empty(), "the world starts clean: {}", show(&found));
    w
}

/// February: January closed and billed ($30), paid on the 2nd, the line draws again; clean.
async fn february(w: &mut World) {
    w.clock.set(noon(2027, 2, 1));
    close(&w.app, Period::new(2027, 1).unwrap(), None).await.unwrap();
    w.app.store.mark_cycle_closed(Period::new(2027, 1).unwrap(), noon(2027, 2, 1)).await.unwrap();
    w.deliver(|_| false).await;
    let found = w.check(true).await;
    assert!(found.is_empty(), "after the close: {}", show(&found));
    w.clock.set(noon(2027, 2, 2));
    let who = EmailAddress::parse(ACCOUNT).unwrap();
    pay(&w.app, &who, Money::from_cents(3_000), "stripe", "p-1").await.unwrap();
    Ledger::new(&w.app).debit(&who, Money::from_cents(1_000), "use-2").await.unwrap();
    w.deliver(|_| false).await;
    let found = w.check(true).await;
    assert!(found.is_empty(), "after paying and drawing again: {}", show(&found));
}

fn show(found: &[Violation]) -> String {
    found.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n")
}

fn names(found: &[Violation]) -> BTreeSet<&'static str> {
    found.iter().map(|v| v.check).collect()
}

fn assert_fires(found: &[Violation], check: &str) {
    assert!(names(found).contains(check), "expected {check} among: {}", show(found));
}

// --- both stores: a clean world stays clean ---------------------------------------------------

async fn a_sound_world_checks_clean_day_after_day(t: TestStore) {
    let mut w = world(t.store.clone()).await;
    february(&mut w).await;
    // An email delivered twice under its Message-ID (a worker killed after the server took
    // it) is counted, not a violation.
    let again = w.mailboxes[ACCOUNT][0].clone();
    w.mailboxes.get_mut(ACCOUNT).unwrap().push(again);
    let found = w.check(true).await;
    assert!(found.is_empty(), "{}", show(&found));
    assert_eq!(w.checker.redelivered, 1);
}

store_suite!(a_sound_world_checks_clean_day_after_day);

// --- SQLite: each planted fault fires its check -----------------------------------------------

/// A SQLite world and a pool to plant faults with.
async fn sqlite_world() -> (World, sqlx::SqlitePool, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = creditline::store::sqlite::SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let pool = store.pool().clone();
    let w = world(Arc::new(store)).await;
    (w, pool, dir)
}

async fn next_version(pool: &sqlx::SqlitePool, instance: SubjectId) -> i64 {
    let v: i64 = sqlx::query_scalar("SELECT MAX(version) FROM workflow_events WHERE instance_id = $1")
        .bind(instance.0)
        .fetch_one(pool)
        .await
        .unwrap();
    v + 1
}

async fn plant_event(
    pool: &sqlx::SqlitePool,
    instance: SubjectId,
    from: &str,
    event: &str,
    to: &str,
    at: DateTime<Utc>,
) {
    let version = next_version(pool, instance).await;
    sqlx::query(
        "INSERT INTO workflow_events (id, instance_id, version, event, from_state, to_state, actor, decision_ids, occurred_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'system', '[]', $7)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(instance.0)
    .bind(version)
    .bind(event)
    .bind(from)
    .bind(to)
    .bind(at)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("UPDATE workflow_instances SET state = $1, version = $2 WHERE id = $3")
        .bind(to)
        .bind(version)
        .bind(instance.0)
        .execute(pool)
        .await
        .unwrap();
}

async fn plant_entry(
    pool: &sqlx::SqlitePool,
    kind: &str,
    bucket: &str,
    cents: i64,
    line: Option<SubjectId>,
    period: Option<&str>,
    at: DateTime<Utc>,
) {
    sqlx::query(
        "INSERT INTO ledger_entries (id, account_email, kind, bucket, amount_cents, line_id, period, idempotency_key, actor, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'planted', $9)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(ACCOUNT)
    .bind(kind)
    .bind(bucket)
    .bind(cents)
    .bind(line.map(|l| l.0))
    .bind(period)
    .bind(format!("planted:{}", uuid::Uuid::now_v7()))
    .bind(at)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_illegal_transition_fires_legal_transitions() {
    let (mut w, pool, _dir) = sqlite_world().await;
    plant_event(&pool, w.line, "active", "approve", "approved", w.clock_now()).await;
    let found = w.check(true).await;
    assert_fires(&found, "legal_transitions");
    let v = found.iter().find(|v| v.check == "legal_transitions").unwrap();
    assert!(v.detail.contains("active -approve-> approved"), "{v}");
    assert!(v.trace.iter().any(|l| l.contains("-approve-> approved")), "the trace shows the history: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guarded_step_without_its_decision_fires_guard_decisions() {
    let (mut w, pool, _dir) = sqlite_world().await;
    plant_event(&pool, w.line, "active", "gated", "paused", w.clock_now()).await;
    let found = w.check(true).await;
    assert_eq!(names(&found), BTreeSet::from(["guard_decisions"]), "{}", show(&found));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_drawn_on_a_paused_line_fires_credit_gate() {
    let (mut w, pool, _dir) = sqlite_world().await;
    let d = decide(&w.app, w.line, "cycle_gating", "pause").await;
    w.app
        .workflow
        .fire(Fire::new(w.line, "gated", "system").decision("cycle_gating", "pause", d).data("period", "2027-01"))
        .await
        .unwrap();
    w.deliver(|_| false).await;
    assert!(w.check(true).await.is_empty());
    plant_entry(&pool, "usage", "credit", -500, Some(w.line), Some("2027-01"), w.clock_now()).await;
    let found = w.check(true).await;
    assert_fires(&found, "credit_gate");
    assert!(found.iter().any(|v| v.detail.contains("while the line was paused")), "{}", show(&found));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_drawn_past_an_unpaid_bill_fires_credit_gate() {
    let (mut w, pool, _dir) = sqlite_world().await;
    // January is closed and billed, never paid; on 20 February the line draws anyway.
    w.clock.set(noon(2027, 2, 1));
    close(&w.app, Period::new(2027, 1).unwrap(), None).await.unwrap();
    w.deliver(|_| false).await;
    assert!(w.check(true).await.is_empty());
    w.clock.set(noon(2027, 2, 20));
    plant_entry(&pool, "usage", "credit", -700, Some(w.line), Some("2027-02"), w.clock_now()).await;
    let found = w.check(true).await;
    assert_fires(&found, "credit_gate");
    let v = found.iter().find(|v| v.check == "credit_gate").unwrap();
    assert!(v.detail.contains("2027-01"), "{v}");
    assert!(v.trace.iter().any(|l| l.contains("ledger usage credit -700")), "the ledger is in the trace: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bill_that_is_not_the_usage_fires_bill_amount_and_a_missing_bill_every_line_billed() {
    let (mut w, pool, _dir) = sqlite_world().await;
    february(&mut w).await;
    // A bill for a month the line never drew in.
    sqlx::query(
        "INSERT INTO bills (id, line_id, account_email, period, amount_cents, due_at, issued_at) VALUES ($1, $2, $3, '2026-12', 500, $4, $4)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(w.line.0)
    .bind(ACCOUNT)
    .bind(w.clock_now())
    .execute(&pool)
    .await
    .unwrap();
    assert_fires(&w.check(true).await, "bill_amount");
    // February is recorded as closed, but nobody billed the line's February draw.
    w.clock.set(noon(2027, 3, 1));
    w.app.store.mark_cycle_closed(Period::new(2027, 2).unwrap(), w.clock_now()).await.unwrap();
    let found = w.check(true).await;
    assert_fires(&found, "every_line_billed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_that_are_not_their_entries_fire_ledger_verify_and_prepaid_taken_fires_prepaid_kept() {
    let (mut w, pool, _dir) = sqlite_world().await;
    plant_entry(&pool, "top_up", "prepaid", 1_000, None, None, w.clock_now()).await;
    assert_fires(&w.check(true).await, "ledger_verify");

    let (mut w, pool, _dir) = sqlite_world().await;
    // A decline that took the prepaid credit away (the balance moved with it: only the kind
    // of entry is wrong).
    let who = EmailAddress::parse(ACCOUNT).unwrap();
    Ledger::new(&w.app).top_up(&who, Money::from_cents(1_000), "stripe", "t-2").await.unwrap();
    plant_entry(&pool, "bill", "prepaid", -100, None, None, w.clock_now()).await;
    sqlx::query("UPDATE ledger_accounts SET prepaid_cents = prepaid_cents - 100 WHERE account_email = $1")
        .bind(ACCOUNT)
        .execute(&pool)
        .await
        .unwrap();
    let found = w.check(true).await;
    assert_eq!(names(&found), BTreeSet::from(["prepaid_kept"]), "{}", show(&found));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_verify_runs_once_a_month() {
    let (mut w, pool, _dir) = sqlite_world().await;
    // Credit usage whose entries do not match (only `ledger verify` in full sees it).
    sqlx::query("UPDATE credit_usage SET used_cents = used_cents + 1 WHERE line_id = $1")
        .bind(w.line.0)
        .execute(&pool)
        .await
        .unwrap();
    assert!(w.check(true).await.is_empty(), "not within the month already verified");
    w.clock.set(noon(2027, 2, 1));
    assert_fires(&w.check(true).await, "ledger_verify");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_email_missing_from_the_mailbox_fires_email_delivered_and_mailbox_matches_state() {
    let (mut w, _pool, _dir) = sqlite_world().await;
    let application = approved_application(&w.app, "other@acme.io", None, REVIEWER, 10_000).await;
    open_line(&w.app, application, "other@acme.io", 10_000, REVIEWER).await;
    w.deliver(|name| name == "application_approved").await;
    // Not drained yet: it may still arrive.
    assert!(w.check(false).await.is_empty());
    let found = w.check(true).await;
    assert_eq!(names(&found), BTreeSet::from(["email_delivered", "mailbox_matches_state"]), "{}", show(&found));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_left_unsent_fires_no_email_lost() {
    let (mut w, _pool, _dir) = sqlite_world().await;
    let application = approved_application(&w.app, "other@acme.io", None, REVIEWER, 10_000).await;
    open_line(&w.app, application, "other@acme.io", 10_000, REVIEWER).await;
    assert!(w.check(false).await.is_empty());
    let found = w.check(true).await;
    assert_fires(&found, "no_email_lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_emails_under_one_message_id_and_an_answer_to_an_auto_reply_fire() {
    let (mut w, _pool, _dir) = sqlite_world().await;
    let first = w.mailboxes[ACCOUNT][0].clone();
    let other = mail(&first.message_id, "application_approved", "Something else", "Another text.", &[]);
    w.mailboxes.get_mut(ACCOUNT).unwrap().push(other);
    let found = w.check(true).await;
    assert_eq!(names(&found), BTreeSet::from(["one_email_per_message_id"]), "{}", show(&found));
    assert_eq!(w.checker.redelivered, 0);

    w.auto_replies.insert("ooo-1@applicant.example".into());
    let answer = mail(
        "<outbox.00000000-0000-7000-8000-000000000001@wavespeed.ai>",
        "materials_reminder",
        "Reminder",
        "Hi.",
        &["ooo-1@applicant.example"],
    );
    w.mailboxes.get_mut(ACCOUNT).unwrap().push(answer);
    let found = w.check(true).await;
    assert_eq!(names(&found), BTreeSet::from(["no_answer_to_auto_reply"]), "{}", show(&found));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_and_unfinishable_tasks_and_unprocessed_messages_fire() {
    let (mut w, pool, _dir) = sqlite_world().await;
    w.reviewer_delay_days = 3;
    sqlx::query(
        "INSERT INTO tasks (id, kind, title, idempotency_key, created_at, updated_at) VALUES ($1, 'triage', 'planted', 'planted', $2, $2)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(w.clock_now() - Duration::days(5))
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(names(&w.check(true).await), BTreeSet::from(["task_overdue"]));
    w.finishable.retain(|k| *k != "triage");
    let found = w.check(true).await;
    assert_eq!(names(&found), BTreeSet::from(["task_overdue", "task_finishable"]), "{}", show(&found));

    let (mut w, _pool, _dir) = sqlite_world().await;
    let raw = creditline::store::RawMessage {
        sha256: "ab".repeat(32),
        message_id: "kept-only@example.com".into(),
        size: 3,
        raw: Some(b"Hi.".to_vec()),
        source: "test".into(),
        received_at: w.clock_now(),
    };
    w.app.store.keep_message(&raw).await.unwrap();
    assert_eq!(names(&w.check(true).await), BTreeSet::from(["message_outcome"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_promises_fire_reviewer_approval_domain_confirmed_and_deposit_guarantee() {
    let (mut w, _pool, _dir) = sqlite_world().await;
    // A line opened with no approval at all.
    let input = NewApplicationInput {
        account_email: EmailAddress::parse("nobody@acme.io").unwrap(),
        applicant_kind: None,
        requested_limit: None,
        details: serde_json::json!({}),
    };
    let bare: SubjectId = w.app.workflow.open_application(input, "system").await.unwrap().id.into();
    open_line(&w.app, bare, "nobody@acme.io", 10_000, REVIEWER).await;
    w.deliver(|_| false).await;
    assert_eq!(names(&w.check(true).await), BTreeSet::from(["reviewer_approval"]));

    // Approved by the system, not a reviewer.
    let by_system = approved_application(&w.app, "auto@acme.io", None, "system", 10_000).await;
    open_line(&w.app, by_system, "auto@acme.io", 10_000, "system").await;
    w.deliver(|_| false).await;
    assert_eq!(names(&w.check(true).await), BTreeSet::from(["reviewer_approval"]));

    // An enterprise approved without its domain confirmed.
    approved_application(&w.app, "corp@bigco.com", Some(ApplicantKind::Enterprise), REVIEWER, 10_000).await;
    w.deliver(|_| false).await;
    assert_eq!(names(&w.check(true).await), BTreeSet::from(["domain_confirmed"]));

    // A line at the deposit tier ($5,000) without the guarantee held.
    let rich = approved_application(&w.app, "rich@acme.io", None, REVIEWER, 500_000).await;
    open_line(&w.app, rich, "rich@acme.io", 500_000, REVIEWER).await;
    w.deliver(|_| false).await;
    let found = w.check(true).await;
    assert_eq!(names(&found), BTreeSet::from(["deposit_guarantee"]), "{}", show(&found));
    let _ = w.application;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_outbox_row_for_one_effect_fires_one_row_per_effect() {
    let (mut w, pool, _dir) = sqlite_world().await;
    let application = approved_application(&w.app, "other@acme.io", None, REVIEWER, 10_000).await;
    sqlx::query(
        "INSERT INTO outbox (id, instance_id, event_id, kind, name, idempotency_key, payload, status, created_at) \
         SELECT $1, instance_id, event_id, kind, name, idempotency_key || ':again', payload, 'pending', created_at \
         FROM outbox WHERE instance_id = $2 AND name = 'application_approved'",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(application.0)
    .execute(&pool)
    .await
    .unwrap();
    let found = w.check(false).await;
    assert_eq!(names(&found), BTreeSet::from(["one_row_per_effect"]), "{}", show(&found));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_increase_approved_past_an_unpaid_bill_fires_increase_while_overdue() {
    let (mut w, pool, _dir) = sqlite_world().await;
    w.clock.set(noon(2027, 2, 1));
    close(&w.app, Period::new(2027, 1).unwrap(), None).await.unwrap();
    w.deliver(|_| false).await;
    assert!(w.check(true).await.is_empty());
    // 15 February: January's bill ($30, last day to pay 10 February) is unpaid.
    w.clock.set(noon(2027, 2, 15));
    let increase = SubjectId::new();
    w.app.workflow.start("limit_increase", increase, Some(ACCOUNT), "system").await.unwrap();
    sqlx::query(
        "INSERT INTO limit_increases (id, line_id, account_email, current_limit_cents, next_limit_cents, created_at) \
         VALUES ($1, $2, $3, 20000, 50000, $4)",
    )
    .bind(increase.0)
    .bind(w.line.0)
    .bind(ACCOUNT)
    .bind(w.clock_now())
    .execute(&pool)
    .await
    .unwrap();
    // As the escalation scan records it: a decision about the line moves the increase.
    let d = decide(&w.app, w.line, "limit_increase", "propose").await;
    w.app
        .workflow
        .fire(Fire::new(increase, "assessed", "system").decision("limit_increase", "propose", d))
        .await
        .unwrap();
    w.app
        .workflow
        .fire(
            Fire::new(increase, "approve", REVIEWER)
                .data("monthly_limit_cents", 50_000)
                .data("effective_date", "2027-02-15"),
        )
        .await
        .unwrap();
    w.deliver(|_| false).await;
    let found = w.check(true).await;
    assert_eq!(names(&found), BTreeSet::from(["increase_while_overdue"]), "{}", show(&found));
    assert!(found[0].detail.contains("2027-01"), "{}", found[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_that_reached_someone_else_fires_email_delivered() {
    let (mut w, _pool, _dir) = sqlite_world().await;
    let application = approved_application(&w.app, "other@acme.io", None, REVIEWER, 10_000).await;
    w.deliver(|name| name == "application_approved").await;
    let row = w
        .app
        .store
        .outbox_for(application)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == "application_approved")
        .unwrap();
    let wrong = mail(&format!("<outbox.{}@wavespeed.ai>", row.id), "application_approved", "Approved", "Hello.", &[]);
    w.mailboxes.get_mut(ACCOUNT).unwrap().push(wrong);
    let found = w.check(true).await;
    assert_eq!(names(&found), BTreeSet::from(["email_delivered"]), "{}", show(&found));
    assert!(
        found[0].detail.contains("sent to other@acme.io") && found[0].detail.contains("it reached builder@acme.io"),
        "{}",
        found[0]
    );
}

//! Finishing every task kind over `POST /api/v1/tasks/{id}/resolve` against a running
//! `creditline serve` (the corpus makes triage and invoice tasks; increases are opened in
//! the same database by the service, as the cycle job does), and `creditline tasks resolve`.

mod common;

use common::{Api, app_of, open_credit_line, rt, run, stderr, stdout};
use creditline::app::App;
use creditline::domain::SubjectId;
use creditline::rules::inputs::LimitIncreaseInput;
use creditline::services::billing::escalation;
use creditline::store::IncreaseRecord;
use serde_json::{Value, json};

/// An increase in review for a new line of `limit`, as the cycle job opens it.
async fn increase(app: &App, account: &str, limit: i64, requested: i64) -> (SubjectId, IncreaseRecord) {
    let line = open_credit_line(app, account, limit).await;
    let record = app.store.credit_line(line).await.unwrap().unwrap();
    let input = LimitIncreaseInput {
        current_limit_cents: limit,
        requested_limit_cents: requested,
        line_state: "active".into(),
        months_on_line: 6,
        consecutive_on_time_payments: 6,
        utilization_percent: 90,
        recent_monthly_volume_cents: 1_000_000,
        ..Default::default()
    };
    let (decision, rec) = app.rules.evaluate_async("limit_increase", &input, Some(line)).await;
    let request = (requested > 0).then(|| (requested, json!({})));
    let write = escalation::open_increase(app, &record, &decision, rec, request).unwrap();
    app.store.commit_cycle(&write).await.unwrap();
    (line, write.increase.unwrap())
}

/// The text of the last `template` email queued for `subject`, rendered as it will be sent.
fn render(rt: &tokio::runtime::Runtime, app: &App, subject: SubjectId, template: &str) -> String {
    let rows = rt.block_on(app.store.outbox_for(subject)).unwrap();
    let row = rows.iter().rev().find(|o| o.name == template).unwrap_or_else(|| panic!("no {template} email"));
    let data = creditline::email::context::context(&row.payload, None);
    app.templates.render(template, &data).unwrap_or_else(|e| panic!("{template}: {e}")).text
}

fn task_of(api: &Api, kind: &str, subject: Option<SubjectId>) -> Value {
    let items = api.get(&format!("/api/v1/tasks?kind={kind}&limit=500"), &api.reviewer)["items"].clone();
    items
        .as_array()
        .unwrap()
        .iter()
        .find(|t| subject.is_none_or(|s| t["subject_id"] == s.to_string()))
        .unwrap_or_else(|| panic!("no open {kind} task"))
        .clone()
}

fn resolve(api: &Api, token: &str, id: &str, body: Value) -> common::Response {
    api.post(&format!("/api/v1/tasks/{id}/resolve"), token, &[], &body)
}

fn problem(r: &common::Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json()["code"], code, "{}", String::from_utf8_lossy(&r.body));
}

/// A triaged message is attached to an application or closed with a note; each is audited,
/// answered once per Idempotency-Key, and the task takes nothing more.
fn triage_tasks_are_attached_or_closed_with_a_note(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let task = task_of(&api, "triage", None);
    let id = task["id"].as_str().unwrap();
    // Actions of other kinds, and a close without its note, are refused.
    problem(&resolve(&api, &api.reviewer, id, json!({ "action": "approve" })), 422, "action_not_allowed");
    problem(&resolve(&api, &api.reviewer, id, json!({ "action": "close" })), 422, "invalid_field");
    problem(&resolve(&api, &api.reviewer, id, json!({ "action": "attach" })), 422, "action_refused");
    problem(&resolve(&api, &api.admin, id, json!({ "action": "close", "note": "x" })), 403, "forbidden");
    problem(
        &resolve(&api, &api.reviewer, id, json!({ "action": "attach", "application": "CL-0000-000000" })),
        422,
        "action_refused",
    );
    let reference =
        api.get("/api/v1/applications?limit=1", &api.reviewer)["items"][0]["reference"].as_str().unwrap().to_string();
    let body =
        json!({ "action": "attach", "application": reference, "note": "same company", "version": task["version"] });
    let key = [("Idempotency-Key", "attach-1")];
    let first = api.post(&format!("/api/v1/tasks/{id}/resolve"), &api.reviewer, &key, &body);
    assert_eq!(first.status, 200, "{}", String::from_utf8_lossy(&first.body));
    let done = first.json();
    assert_eq!(done["task"]["state"], "done");
    assert_eq!(done["task"]["details"]["attached_to"]["reference"], reference.as_str());
    let again = api.post(&format!("/api/v1/tasks/{id}/resolve"), &api.reviewer, &key, &body);
    assert_eq!(again.status, 200);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json(), done);
    problem(&resolve(&api, &api.reviewer, id, json!({ "action": "close", "note": "again" })), 409, "task_closed");
    let audit = api.get(&format!("/api/v1/audit?target=task:{id}"), &api.senior)["items"].clone();
    assert!(audit.as_array().unwrap().iter().any(|a| a["action"] == "task.attach" && a["actor"] == "rita"), "{audit}");

    let other = task_of(&api, "triage", None);
    let r = resolve(&api, &api.senior, other["id"].as_str().unwrap(), json!({ "action": "close", "note": "spam" }));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["task"]["state"], "done");
}

/// An invoice request is marked sent with a note and the invoice's reference.
/// An invoice request's `mark_sent` issues the invoice from the ledger: refused while the
/// transaction it names is not on the account's ledger, then issued as INV-000001 with the
/// ledger's amount once it is.
fn invoice_requests_are_marked_sent(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let items = api.get("/api/v1/tasks?kind=invoice_request&limit=500", &api.reviewer)["items"].clone();
    let task = items
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["details"]["account_email"] == "sam@brightlabs.io")
        .expect("the Bright Labs request's task")
        .clone();
    let id = task["id"].as_str().unwrap();
    problem(&resolve(&api, &api.reviewer, id, json!({ "action": "mark_sent" })), 422, "invalid_field");
    problem(&resolve(&api, &api.reviewer, id, json!({ "action": "retry" })), 422, "action_not_allowed");
    let sent = json!({ "action": "mark_sent", "note": "sent by email" });
    let r = resolve(&api, &api.reviewer, id, sent.clone());
    problem(&r, 422, "action_refused");
    assert!(r.json()["detail"].as_str().unwrap().contains("pi_3Q9aaaBBBcccDDD1"), "{}", r.json());
    let o = run(
        api.dir(),
        &[
            "ledger",
            "top-up",
            "sam@brightlabs.io",
            "--amount",
            "120",
            "--provider",
            "stripe",
            "--txn",
            "pi_3Q9aaaBBBcccDDD1",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r = resolve(&api, &api.reviewer, id, sent);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["task"]["state"], "done");
    assert_eq!(r.json()["detail"]["invoice"], "INV-000001", "the refused try burnt no number");
    assert_eq!(r.json()["detail"]["total_cents"], 12_000);
    assert_eq!(r.json()["event"]["to"], "sent");

    // The invoice over the API, for the same readers as other records.
    let page = api.get("/api/v1/invoices", &api.reviewer);
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    let one = api.get("/api/v1/invoices/INV-000001", &api.senior);
    assert_eq!(one["total_cents"], 12_000, "{one}");
    assert_eq!(one["document"]["customer"]["name"], "Bright Labs LLC", "{one}");
    assert_eq!(api.get("/api/v1/invoices/1", &api.admin)["number"], 1);
    problem(&api.call("GET", "/api/v1/invoices/99", Some(&api.reviewer), &[]), 404, "not_found");
    problem(&api.call("GET", "/api/v1/invoices/abc", Some(&api.reviewer), &[]), 400, "invalid_id");
    problem(&api.call("GET", "/api/v1/invoices", Some(&api.inbox), &[]), 403, "forbidden");
}

/// Policy: "Approved credit accounts may be reviewed for a higher monthly credit line": a
/// reviewer approves an increase (four-eyes from `four_eyes_from_cents`: a different senior
/// reviewer confirms), declines one with a reason, or asks for information; an increase
/// decided meanwhile by another path leaves its task obsolete, closed on the next try.
fn limit_increase_reviews_are_approved_with_four_eyes_declined_or_asked_about(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let rt = rt();
    let app = rt.block_on(app_of(api.dir()));
    let (line, inc) = rt.block_on(increase(&app, "ops@steady.io", 50_000, 0));
    assert!(inc.next_limit_cents >= 100_000, "at the four-eyes amount: {inc:?}");
    let task = task_of(&api, "limit_increase_review", Some(inc.id));
    let id = task["id"].as_str().unwrap();
    problem(&resolve(&api, &api.reviewer, id, json!({ "action": "close", "note": "x" })), 422, "action_not_allowed");
    problem(&resolve(&api, &api.reviewer, id, json!({ "action": "decline" })), 422, "invalid_field");

    let r = resolve(&api, &api.reviewer, id, json!({ "action": "request_info", "message": "What changed?" }));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["task"]["state"], "open", "the review waits for the answer");
    assert_eq!(r.json()["event"]["event"], "request_info");
    assert!(render(&rt, &app, inc.id, "limit_increase_info_requested").contains("What changed?"));

    let first = resolve(&api, &api.reviewer, id, json!({ "action": "approve", "note": "steady payer" }));
    assert_eq!(first.status, 200, "{}", String::from_utf8_lossy(&first.body));
    assert_eq!(first.json()["task"]["state"], "awaiting_second_approval");
    let before = api.get(&format!("/api/v1/credit-lines/{line}"), &api.reviewer);
    assert_eq!(before["credit_line"]["monthly_limit_cents"], 50_000, "{before}");
    problem(&resolve(&api, &api.reviewer2, id, json!({ "action": "approve" })), 403, "decision_forbidden");
    let second = resolve(&api, &api.senior, id, json!({ "action": "approve" }));
    assert_eq!(second.status, 200, "{}", String::from_utf8_lossy(&second.body));
    assert_eq!(second.json()["task"]["state"], "done");
    let after = api.get(&format!("/api/v1/credit-lines/{line}"), &api.reviewer);
    assert_eq!(after["credit_line"]["monthly_limit_cents"], inc.next_limit_cents, "{after}");

    // Declined with a reason: the increase ends, with its email.
    let (_, declined) = rt.block_on(increase(&app, "ops@second.io", 50_000, 0));
    let t = task_of(&api, "limit_increase_review", Some(declined.id));
    let r = resolve(&api, &api.senior, t["id"].as_str().unwrap(), json!({ "action": "decline", "reason": "too soon" }));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["event"]["to"], "declined");
    let mails = rt.block_on(app.store.outbox_for(declined.id)).unwrap();
    assert!(mails.iter().any(|o| o.name == "limit_increase_declined"), "{mails:?}");
    let text = render(&rt, &app, declined.id, "limit_increase_declined");
    assert!(text.contains("too soon") && text.contains("$500.00"), "{text}");

    // Approved by another path (the CLI's `increases approve`): the task is obsolete.
    let (_, elsewhere) = rt.block_on(increase(&app, "ops@third.io", 20_000, 0));
    let t = task_of(&api, "limit_increase_review", Some(elsewhere.id));
    let tid = t["id"].as_str().unwrap();
    assert_eq!(rt.block_on(escalation::approve(&app, elsewhere.id, "reviewer:cli")).unwrap().state, "approved");
    problem(&resolve(&api, &api.reviewer, tid, json!({ "action": "approve" })), 409, "task_obsolete");
    let view = api.get(&format!("/api/v1/tasks/{tid}"), &api.reviewer);
    assert_eq!(view["task"]["state"], "obsolete", "{view}");
}

/// Policy: "may require the applicant to first deposit or top up the corresponding amount as a
/// guarantee": a deposit confirmation is confirmed only once the guarantee is held, or
/// rejected with a note (the increase is declined).
fn deposit_confirmations_are_confirmed_when_held_or_rejected(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let rt = rt();
    let app = rt.block_on(app_of(api.dir()));
    let (_, inc) = rt.block_on(increase(&app, "ops@big.io", 400_000, 500_000));
    assert!(inc.deposit_cents > 0, "at the deposit tier: {inc:?}");
    // Recorded as held (the scan does this once the ledger holds it): the task opens.
    assert!(rt.block_on(escalation::deposit_recorded(&app, &inc, inc.deposit_cents)).unwrap());
    // Another worker's scan recording it again finds it done: nothing written, no error.
    assert!(!rt.block_on(escalation::deposit_recorded(&app, &inc, inc.deposit_cents)).unwrap());
    let task = task_of(&api, "deposit_confirmation", Some(inc.id));
    let id = task["id"].as_str().unwrap();
    // Nothing is held in the ledger: confirming is refused (after the first approval).
    let first = resolve(&api, &api.senior, id, json!({ "action": "confirm" }));
    assert_eq!(first.status, 200, "{}", String::from_utf8_lossy(&first.body));
    assert_eq!(first.json()["task"]["state"], "awaiting_second_approval");
    problem(&resolve(&api, &api.senior, id, json!({ "action": "confirm" })), 403, "decision_forbidden");
    problem(&resolve(&api, &api.senior2, id, json!({ "action": "confirm" })), 422, "action_refused");
    problem(&resolve(&api, &api.senior2, id, json!({ "action": "reject" })), 422, "invalid_field");
    let r = resolve(&api, &api.senior2, id, json!({ "action": "reject", "note": "the transfer bounced" }));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["task"]["state"], "done");
    assert_eq!(r.json()["event"]["to"], "declined");

    // Held in the ledger: confirmed by two senior reviewers, the line's limit is raised.
    let account = "ops@held.io";
    let (line, held) = rt.block_on(increase(&app, account, 400_000, 500_000));
    rt.block_on(creditline::services::ledger::Ledger::new(&app).hold_deposit(
        &creditline::domain::EmailAddress::parse(account).unwrap(),
        creditline::domain::Money::from_cents(held.deposit_cents),
        "bank",
        "guarantee-1",
    ))
    .unwrap();
    // The server's own scan may record it first: either way the increase is in review.
    rt.block_on(escalation::deposit_recorded(&app, &held, held.deposit_cents)).unwrap();
    assert_eq!(rt.block_on(app.store.instance(held.id)).unwrap().unwrap().state, "pending_review");
    let t = task_of(&api, "deposit_confirmation", Some(held.id));
    let tid = t["id"].as_str().unwrap();
    assert_eq!(resolve(&api, &api.senior, tid, json!({ "action": "confirm" })).status, 200);
    let r = resolve(&api, &api.senior2, tid, json!({ "action": "confirm", "note": "wire seen" }));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["task"]["state"], "done");
    let after = api.get(&format!("/api/v1/credit-lines/{line}"), &api.reviewer);
    assert_eq!(after["credit_line"]["monthly_limit_cents"], held.next_limit_cents, "{after}");
    let problems = rt.block_on(creditline::services::ledger::Ledger::new(&app).verify()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The CLI finishes a task with a token's role, and refuses an unknown token.
fn the_cli_lists_shows_and_resolves_tasks(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let o = run(api.dir(), &["tasks", "list", "--kind", "invoice_request"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first: Value = serde_json::from_str(stdout(&o).lines().next().expect("a task")).unwrap();
    let id = first["id"].as_str().unwrap();
    let o = run(api.dir(), &["tasks", "show", id]);
    assert!(o.status.success() && stdout(&o).contains(id), "{}", stderr(&o));
    let o = run(api.dir(), &["tasks", "resolve", id, "--action", "close", "--note", "dup", "--token", "clt_nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(api.dir(), &["tasks", "resolve", id, "--action", "close", "--token", &api.reviewer]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--note"), "{}", stderr(&o));
    let o =
        run(api.dir(), &["tasks", "resolve", id, "--action", "close", "--note", "duplicate", "--token", &api.admin]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("decision_forbidden"), "{}", stderr(&o));
    let o =
        run(api.dir(), &["tasks", "resolve", id, "--action", "close", "--note", "duplicate", "--token", &api.reviewer]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(out["task"]["state"], "done");
    let view = api.get(&format!("/api/v1/tasks/{id}"), &api.reviewer);
    assert_eq!(view["task"]["state"], "done");
    let o = run(api.dir(), &["tasks", "resolve", "--help"]);
    assert!(stdout(&o).contains("email_failure"), "{}", stdout(&o));
}

/// A failed email (its task opened when the row was marked failed, as delivery does) is sent
/// again after a fix: the row is queued with a fresh count of attempts and the task is done;
/// the same Idempotency-Key answers the same, and an email-failure task can also be closed.
async fn a_failed_email_is_queued_again_or_its_task_closed(t: common::TestStore) {
    use creditline::domain::{Role, TaskId};
    use creditline::services::access::Caller;
    use creditline::services::actions::{Actor, IdempotencyKey};
    use creditline::services::task_actions::{TaskAction, resolve};
    use creditline::store::{DeliveryOutcome, TaskWrite};

    let app = t.app();
    let (_, inc) = increase(&app, "ops@mailfail.io", 50_000, 0).await;
    // The decline's email is the one that fails.
    let caller = Caller { token_id: "t1".into(), name: "rita".into(), role: Role::Reviewer };
    let actor = Actor { caller: &caller, request_id: "r1", now: app.workflow.clock().now() };
    let review = app
        .store
        .list_tasks(&creditline::store::TaskFilter {
            kind: Some("limit_increase_review".into()),
            state: None,
            assignee: None,
            created_before: None,
            after: None,
            limit: 10,
        })
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.subject_id == Some(inc.id))
        .unwrap();
    resolve(&app, &actor, review.id, None, TaskAction::Decline { reason: "not yet".into() }, None).await.unwrap();
    let mut failed = Vec::new();
    for job in app.store.queue_outbox(actor.now, 100).await.unwrap() {
        let row = app.store.claim_outbox(&job, actor.now + chrono::Duration::minutes(5)).await.unwrap().unwrap();
        let task = TaskWrite {
            id: TaskId::new(),
            kind: "email_failure".into(),
            subject_id: Some(row.instance_id),
            message_sha256: None,
            title: format!("Email {} could not be delivered", row.name),
            details: json!({ "outbox_id": row.id, "template": row.name, "error": "550 no such user" }),
            idempotency_key: format!("email_failure:{}", row.id),
        };
        let outcome = DeliveryOutcome::Failed { error: "550 no such user".into(), task };
        assert!(app.store.finish_outbox(row.id, row.attempts, &outcome, actor.now).await.unwrap());
        failed.push(row.id);
    }
    assert!(failed.len() >= 2, "the emails of the steps above: {failed:?}");
    let tasks = app
        .store
        .list_tasks(&creditline::store::TaskFilter {
            kind: Some("email_failure".into()),
            state: Some("open".into()),
            assignee: None,
            created_before: None,
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(tasks.len(), failed.len());

    let retried = &tasks[0];
    let key = IdempotencyKey { key: "retry-1".into(), request_hash: "h".into() };
    let retry = TaskAction::Retry { note: Some("address fixed".into()) };
    let first = resolve(&app, &actor, retried.id, Some(retried.version), retry.clone(), Some(&key)).await.unwrap();
    assert_eq!(first.body.task.state, "done");
    assert_eq!(first.body.detail["requeued"], true);
    let outbox: creditline::domain::OutboxId = serde_json::from_value(retried.details["outbox_id"].clone()).unwrap();
    let row = app.store.outbox_row(outbox).await.unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 0), "queued again: {row:?}");
    assert!(!app.store.queue_outbox(actor.now, 100).await.unwrap().is_empty(), "the worker sends it again");
    let again = resolve(&app, &actor, retried.id, Some(retried.version), retry, Some(&key)).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.body, first.body);

    let closed = &tasks[1];
    let note = TaskAction::Close { note: "the account was closed".into() };
    let r = resolve(&app, &actor, closed.id, None, note, None).await.unwrap();
    assert_eq!(r.body.task.state, "done");
    let audit = app
        .store
        .list_audit(&creditline::store::AuditFilter {
            actor: Some("rita".into()),
            action: Some("task.retry".into()),
            target: None,
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
}

store_suite!(a_failed_email_is_queued_again_or_its_task_closed);

/// A review task whose application moved on by another path (withdrawn by hand) closes
/// itself: a decision answers 409 `application_moved` and the task is `obsolete`, and a
/// reader sees it closed, never open.
fn a_review_task_whose_application_moved_on_closes_itself(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let tasks = api.get("/api/v1/tasks?kind=application_review&limit=500", &api.reviewer)["items"].clone();
    let tasks = tasks.as_array().unwrap();
    assert!(tasks.len() >= 2, "the corpus has applications in review");
    for (t, decide) in tasks.iter().take(2).zip([true, false]) {
        let subject = t["subject_id"].as_str().unwrap();
        let r = api.post(
            &format!("/api/v1/admin/workflows/{subject}/events"),
            &api.admin,
            &[],
            &json!({ "event": "withdraw", "reason": "withdrawn by phone" }),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let id = t["id"].as_str().unwrap();
        if decide {
            let body = json!({ "reason_code": "other", "message": "no" });
            problem(
                &api.post(&format!("/api/v1/tasks/{id}/decline"), &api.reviewer, &[], &body),
                409,
                "application_moved",
            );
        }
        let view = api.get(&format!("/api/v1/tasks/{id}"), &api.reviewer);
        assert_eq!(view["task"]["state"], "obsolete", "{view}");
        assert!(view["task"]["details"]["obsolete_reason"].as_str().unwrap().contains("withdrawn"), "{view}");
    }
}

/// Policy: "Users apply for AWS login first": an AWS-login review is approved, or declined
/// with a reason the account reads.
fn aws_login_reviews_are_approved_or_declined(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let rt = rt();
    let app = rt.block_on(app_of(api.dir()));
    let mut subjects = Vec::new();
    for account in ["dev@login-one.io", "dev@login-two.io"] {
        let id = SubjectId::new();
        let (new, _) = app.workflow.plan_start("aws_login", id, Some(account), "test").unwrap();
        rt.block_on(app.store.create_instance(&new)).unwrap();
        rt.block_on(app.workflow.fire(creditline::services::Fire::new(id, "start_review", "test"))).unwrap();
        subjects.push(id);
    }
    let t = task_of(&api, "aws_login_review", Some(subjects[0]));
    let id = t["id"].as_str().unwrap();
    problem(&resolve(&api, &api.reviewer, id, json!({ "action": "close", "note": "x" })), 422, "action_not_allowed");
    let r = resolve(&api, &api.reviewer, id, json!({ "action": "approve" }));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["event"]["to"], "approved");
    render(&rt, &app, subjects[0], "aws_login_approved");

    let t = task_of(&api, "aws_login_review", Some(subjects[1]));
    let body = json!({ "action": "decline", "reason": "the account is too new" });
    let r = resolve(&api, &api.senior, t["id"].as_str().unwrap(), body);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["event"]["to"], "declined");
    let text = render(&rt, &app, subjects[1], "aws_login_declined");
    assert!(text.contains("too new") && text.contains("dev@login-two.io"), "{text}");
}

black_box_suite!(
    aws_login_reviews_are_approved_or_declined,
    a_review_task_whose_application_moved_on_closes_itself,
    triage_tasks_are_attached_or_closed_with_a_note,
    invoice_requests_are_marked_sent,
    limit_increase_reviews_are_approved_with_four_eyes_declined_or_asked_about,
    deposit_confirmations_are_confirmed_when_held_or_rejected,
    the_cli_lists_shows_and_resolves_tasks,
);

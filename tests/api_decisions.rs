//! Reviewer decisions, four-eyes approval, Idempotency-Key, the read endpoints, the admin's
//! hand-posted workflow event and the full role matrix, over real HTTP against a running
//! `creditline serve` (on SQLite and on PostgreSQL), with applications made by ingesting
//! the corpus.

mod common;

use common::{Api, Response};
use serde_json::{Value, json};

/// The open application-review tasks, oldest first.
fn reviews(api: &Api) -> Vec<Value> {
    let page = api.get("/api/v1/tasks?kind=application_review&limit=100", &api.reviewer);
    let items = page["items"].as_array().unwrap().clone();
    assert!(items.len() >= 5, "the corpus puts applications into review: {}", items.len());
    items
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// The rule's suggested limit for the application behind a task.
fn suggestion(api: &Api, task: &Value) -> i64 {
    let view = api.get(&format!("/api/v1/tasks/{}", id(task)), &api.reviewer);
    let decisions = view["application"]["decisions"].as_array().unwrap();
    let limit = decisions.iter().rev().find(|d| d["rule"] == "initial_limit").expect("an initial_limit decision");
    limit["output"]["limit_cents"].as_i64().expect("an offer")
}

fn application(api: &Api, task: &Value) -> Value {
    api.get(&format!("/api/v1/applications/{}", task["subject_id"].as_str().unwrap()), &api.reviewer)
}

/// The emails an application's steps queued, by template name.
fn emails(app: &Value) -> Vec<String> {
    app["outbox"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "email")
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect()
}

fn events(app: &Value) -> Vec<String> {
    app["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap().to_string()).collect()
}

fn decide(api: &Api, token: &str, task: &Value, decision: &str, body: Value) -> Response {
    api.post(&format!("/api/v1/tasks/{}/{decision}", id(task)), token, &[], &body)
}

fn ok(r: &Response) -> Value {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn problem(r: &Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let p = r.json();
    assert_eq!(p["code"], code, "{p}");
    p
}

fn approving_opens_a_credit_line_within_the_rules_suggestion(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let task = reviews(&api)[0].clone();
    let suggested = suggestion(&api, &task);
    let view = api.get(&format!("/api/v1/tasks/{}", id(&task)), &api.reviewer);
    assert_eq!(view["suggested_limit_cents"], suggested, "the view shows what a reviewer may approve");
    let before = application(&api, &task);

    // Above the suggestion: a reviewer may not; a senior reviewer only with a reason.
    let above = json!({ "monthly_limit_cents": suggested + 1000 });
    let p = problem(&decide(&api, &api.reviewer, &task, "approve", above.clone()), 403, "decision_forbidden");
    assert!(p["detail"].as_str().unwrap().contains("suggestion"), "{p}");
    let p = problem(&decide(&api, &api.senior, &task, "approve", above), 422, "decision_refused");
    assert!(p["detail"].as_str().unwrap().starts_with("override_reason"), "{p}");
    // Nonsense is refused naming the field, and nothing changes.
    let p = problem(
        &decide(&api, &api.reviewer, &task, "approve", json!({ "monthly_limit_cents": 0 })),
        422,
        "invalid_field",
    );
    assert!(p["detail"].as_str().unwrap().starts_with("monthly_limit_cents"));
    let p = problem(&decide(&api, &api.reviewer, &task, "approve", json!({ "limit": 100 })), 400, "invalid_body");
    assert!(p["detail"].as_str().unwrap().contains("limit"), "{p}");
    let nul = json!({ "monthly_limit_cents": 100, "note": "a\u{0}b" });
    let p = problem(&decide(&api, &api.reviewer, &task, "approve", nul), 400, "invalid_body");
    assert!(p["detail"].as_str().unwrap().contains("NUL"), "{p}");
    let r = api.send("POST", &format!("/api/v1/tasks/{}/approve", id(&task)), Some(&api.reviewer), &[], b"{}");
    problem(&r, 415, "unsupported_media_type");
    let big = json!({ "monthly_limit_cents": 100, "note": "x".repeat(70 * 1024) });
    problem(&decide(&api, &api.reviewer, &task, "approve", big), 413, "body_too_large");
    assert_eq!(events(&application(&api, &task)), events(&before));

    let v = task["version"].as_i64().unwrap();
    let r = api.post(
        &format!("/api/v1/tasks/{}/approve", id(&task)),
        &api.reviewer,
        &[("If-Match", &format!("\"{v}\"")), ("X-Request-Id", "req-approve-1")],
        &json!({ "monthly_limit_cents": suggested, "note": "verified by phone" }),
    );
    let body = ok(&r);
    assert_eq!(r.header("etag"), Some(format!("\"{}\"", v + 1).as_str()));
    assert_eq!(body["decision"], "approve");
    assert_eq!(body["task"]["state"], "done");
    assert_eq!(body["task"]["assignee"], "rita", "deciding takes the task");
    assert!(body["task"]["claimed_at"].is_string());
    assert_eq!(body["application"]["state"], "approved");
    let line = &body["credit_line"];
    assert_eq!(line["monthly_limit_cents"], suggested);
    assert_eq!(line["approved_by"], "rita");
    assert_eq!(line["state"], "active");

    let after = application(&api, &task);
    assert_eq!(after["application"]["state"], "approved");
    assert_eq!(events(&after).last().map(String::as_str), Some("approve"));
    assert_eq!(emails(&after).iter().filter(|e| *e == "application_approved").count(), 1);
    let approved = after["outbox"].as_array().unwrap().iter().find(|o| o["name"] == "application_approved").unwrap();
    assert_eq!(approved["payload"]["monthly_limit_cents"], suggested);
    assert_eq!(after["credit_lines"][0]["id"], line["id"]);

    // The line and the account read back; prepaid access always stays.
    let account = after["application"]["account_email"].as_str().unwrap();
    let acct = api.get(&format!("/api/v1/accounts/{account}"), &api.reviewer);
    assert_eq!(acct["prepaid_access"], true);
    assert_eq!(acct["active_credit_line"]["id"], line["id"]);
    let view = api.get(&format!("/api/v1/credit-lines/{}", id(line)), &api.reviewer);
    assert_eq!(view["credit_line"]["monthly_limit_cents"], suggested);
    assert_eq!(view["events"][0]["to_state"], "active");
    let lines = api.get(&format!("/api/v1/credit-lines?account_email={account}"), &api.admin);
    assert_eq!(lines["items"].as_array().unwrap().len(), 1);

    // The decision is in the audit log with its request id and versions.
    let target = format!("application:{}", task["subject_id"].as_str().unwrap());
    let audit = api.get(&format!("/api/v1/audit?target={target}"), &api.senior)["items"].clone();
    assert_eq!(audit.as_array().unwrap().len(), 1);
    assert_eq!(audit[0]["action"], "application.approve");
    assert_eq!(audit[0]["request_id"], "req-approve-1");
    assert_eq!(audit[0]["version_after"].as_i64(), audit[0]["version_before"].as_i64().map(|v| v + 1));

    // A decided task takes no more decisions.
    let again = decide(&api, &api.reviewer2, &task, "decline", json!({ "reason_code": "other", "message": "no" }));
    problem(&again, 409, "task_closed");
}

fn decline_defer_and_request_info_move_the_application_and_queue_the_email(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let tasks = reviews(&api);

    let declined = ok(&decide(
        &api,
        &api.reviewer,
        &tasks[0],
        "decline",
        json!({ "reason_code": "business_not_verified", "message": "We could not verify the company website." }),
    ));
    assert_eq!(declined["application"]["state"], "declined");
    assert!(declined["credit_line"].is_null());
    let app = application(&api, &tasks[0]);
    assert_eq!(emails(&app).last().map(String::as_str), Some("application_declined"));
    let email = app["outbox"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(email["payload"]["reason_code"], "business_not_verified");
    assert_eq!(email["payload"]["message"], "We could not verify the company website.");
    let account = app["application"]["account_email"].as_str().unwrap();
    let acct = api.get(&format!("/api/v1/accounts/{account}"), &api.reviewer);
    assert_eq!(acct["prepaid_access"], true, "a declined applicant keeps prepaid access");
    assert!(acct["active_credit_line"].is_null());
    let r = decide(&api, &api.reviewer, &tasks[1], "decline", json!({ "reason_code": "rude", "message": "x" }));
    assert!(problem(&r, 400, "invalid_body")["detail"].as_str().unwrap().contains("reason_code"));
    let r = decide(&api, &api.reviewer, &tasks[1], "decline", json!({ "reason_code": "other", "message": "  " }));
    assert!(problem(&r, 422, "invalid_field")["detail"].as_str().unwrap().starts_with("message"));

    let r = decide(&api, &api.reviewer, &tasks[1], "defer", json!({ "until": "2001-01-01", "reason": "later" }));
    assert!(problem(&r, 422, "decision_refused")["detail"].as_str().unwrap().starts_with("until"));
    let r = decide(&api, &api.reviewer, &tasks[1], "defer", json!({ "reason": "later" }));
    problem(&r, 422, "invalid_field");
    let deferred = ok(&decide(
        &api,
        &api.reviewer,
        &tasks[1],
        "defer",
        json!({ "until": "2099-03-01", "condition": "three months of prepaid usage", "reason": "too new" }),
    ));
    assert_eq!(deferred["application"]["state"], "deferred");
    let app = application(&api, &tasks[1]);
    let email = app["outbox"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(email["name"], "application_deferred");
    assert_eq!(email["payload"]["until"], "2099-03-01");
    assert_eq!(email["payload"]["reason"], "too new");

    let r = decide(&api, &api.reviewer, &tasks[2], "request-info", json!({ "items": [] }));
    problem(&r, 422, "invalid_field");
    let items = json!(["company registration document", "a product website on your own domain"]);
    let asked = ok(&decide(&api, &api.reviewer, &tasks[2], "request-info", json!({ "items": items })));
    assert_eq!(asked["application"]["state"], "awaiting_materials");
    let app = application(&api, &tasks[2]);
    let email = app["outbox"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(email["name"], "materials_requested");
    assert_eq!(email["payload"]["missing"], items);

    // Declined and deferred applications list by state.
    let declined = api.get("/api/v1/applications?state=declined", &api.reviewer)["items"].as_array().unwrap().len();
    assert_eq!(declined, 1);
}

fn a_stale_version_is_refused_and_an_idempotency_key_replays_the_first_answer(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let task = reviews(&api)[0].clone();
    let path = format!("/api/v1/tasks/{}/decline", id(&task));
    let body = json!({ "reason_code": "limit_not_justified", "message": "Please apply again with usage history." });
    let v = task["version"].as_i64().unwrap();

    // A stale If-Match or version field: 409 and nothing changes.
    let stale = format!("\"{}\"", v + 7);
    problem(&api.post(&path, &api.reviewer, &[("If-Match", &stale)], &body), 409, "version_conflict");
    let mut with_version = body.clone();
    with_version["version"] = json!(v + 7);
    problem(&api.post(&path, &api.reviewer, &[], &with_version), 409, "version_conflict");
    let current = format!("\"{v}\"");
    let mut disagreeing = body.clone();
    disagreeing["version"] = json!(v + 1);
    problem(&api.post(&path, &api.reviewer, &[("If-Match", &current)], &disagreeing), 400, "version_mismatch");
    assert_eq!(application(&api, &task)["application"]["state"], "pending_review");

    // The same key three times: one decision, one email, the same answer.
    let key = [("Idempotency-Key", "decline-7f3a"), ("If-Match", current.as_str())];
    let first = api.post(&path, &api.reviewer, &key, &body);
    let first_body = ok(&first);
    for _ in 0..2 {
        let again = api.post(&path, &api.reviewer, &key, &body);
        assert_eq!(again.status, 200);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.json(), first_body);
        assert_eq!(again.header("etag"), first.header("etag"));
    }
    let app = application(&api, &task);
    assert_eq!(events(&app).iter().filter(|e| *e == "decline").count(), 1);
    assert_eq!(emails(&app).iter().filter(|e| *e == "application_declined").count(), 1);
    // The same key with another request is refused, not answered with the wrong response.
    let other = json!({ "reason_code": "other", "message": "different" });
    problem(&api.post(&path, &api.reviewer, &key, &other), 422, "idempotency_key_reused");
    // Keys belong to their caller: another reviewer's same key is a new request.
    let r = api.post(&path, &api.reviewer2, &[("Idempotency-Key", "decline-7f3a")], &body);
    problem(&r, 409, "task_closed");
}

fn two_reviewers_approving_the_same_task_at_once_one_wins(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    for task in reviews(&api).iter().take(3) {
        let limit = suggestion(&api, task);
        let path = format!("/api/v1/tasks/{}/approve", id(task));
        let body = json!({ "monthly_limit_cents": limit });
        let answers = api.race(&[&api.reviewer, &api.reviewer2], |t| api.post(&path, t, &[], &body));
        let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{answers:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 1, "{answers:?}");
        let app = application(&api, task);
        assert_eq!(events(&app).iter().filter(|e| *e == "approve").count(), 1, "one event");
        assert_eq!(emails(&app).iter().filter(|e| *e == "application_approved").count(), 1, "one email");
        assert_eq!(app["credit_lines"].as_array().unwrap().len(), 1, "one line");
    }
}

fn four_eyes_approval_needs_a_second_different_senior_reviewer(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let task = reviews(&api)[0].clone();
    let big =
        json!({ "monthly_limit_cents": 150_000, "override_reason": "parent company guarantee, 5 years of AWS spend" });

    // (At the deposit tier the approval waits for the guarantee: tests/deposits.rs.)
    let first = ok(&decide(&api, &api.senior, &task, "approve", big.clone()));
    assert_eq!(first["task"]["state"], "awaiting_second_approval");
    assert_eq!(first["application"]["state"], "awaiting_second_approval");
    assert!(first["credit_line"].is_null(), "no line before the second approval");
    assert!(first["task"]["assignee"].is_null(), "back in the queue for a second senior");
    let app = application(&api, &task);
    assert!(!emails(&app).contains(&"application_approved".to_string()), "the applicant hears nothing yet");
    let waiting = api.get("/api/v1/tasks?state=awaiting_second_approval", &api.senior2)["items"].clone();
    assert_eq!(waiting.as_array().unwrap().len(), 1);
    assert_eq!(waiting[0]["id"], task["id"]);

    // Approving one's own first approval is refused; a reviewer cannot give the second.
    let p = problem(&decide(&api, &api.senior, &task, "approve", big.clone()), 403, "decision_forbidden");
    assert!(p["detail"].as_str().unwrap().contains("different senior reviewer"), "{p}");
    problem(&decide(&api, &api.reviewer, &task, "approve", big.clone()), 403, "decision_forbidden");
    // The second approval confirms the first's limit, not another one.
    let other = json!({ "monthly_limit_cents": 120_000 });
    problem(&decide(&api, &api.senior2, &task, "approve", other), 422, "decision_refused");

    let second = ok(&decide(&api, &api.senior2, &task, "approve", json!({ "monthly_limit_cents": 150_000 })));
    assert_eq!(second["task"]["state"], "done");
    assert_eq!(second["application"]["state"], "approved");
    assert_eq!(second["credit_line"]["monthly_limit_cents"], 150_000);
    assert_eq!(second["credit_line"]["approved_by"], "sam");
    assert_eq!(second["credit_line"]["second_approver"], "sue");
    let app = application(&api, &task);
    assert_eq!(events(&app).iter().rev().take(2).collect::<Vec<_>>(), ["approve", "first_approval"]);
    assert_eq!(emails(&app).iter().filter(|e| *e == "application_approved").count(), 1);
    let target = format!("application:{}", task["subject_id"].as_str().unwrap());
    let audit = api.get(&format!("/api/v1/audit?target={target}"), &api.admin)["items"].clone();
    let trail: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["actor"].as_str().unwrap(), a["action"].as_str().unwrap()))
        .collect();
    assert_eq!(trail, [("sam", "application.first_approval"), ("sue", "application.approve")]);

    // Below the four-eyes limit one approval is enough, even by a senior override.
    let task = reviews(&api)[0].clone();
    let below = json!({ "monthly_limit_cents": 99_900, "override_reason": "strong history" });
    let done = ok(&decide(&api, &api.senior, &task, "approve", below));
    assert_eq!(done["application"]["state"], "approved");
}

fn an_admin_posts_a_workflow_event_by_hand_through_the_engine(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let task = reviews(&api)[0].clone();
    let subject = task["subject_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/admin/workflows/{subject}/events");
    let app = application(&api, &task);
    let v = app["application"]["version"].as_i64().unwrap();

    // The engine decides: an event the state does not allow is refused, nothing written.
    let r = api.post(&path, &api.admin, &[], &json!({ "event": "payment_confirmed", "reason": "bank transfer" }));
    problem(&r, 422, "transition_refused");
    let r = api.post(&path, &api.admin, &[], &json!({ "event": "withdraw", "reason": "by phone", "version": v - 1 }));
    problem(&r, 409, "version_conflict");
    problem(&api.post(&path, &api.admin, &[], &json!({ "event": "withdraw" })), 400, "invalid_body");
    let missing = "/api/v1/admin/workflows/01a20000-0000-7000-8000-000000000000/events";
    problem(&api.post(missing, &api.admin, &[], &json!({ "event": "withdraw", "reason": "x" })), 404, "not_found");

    let body = json!({ "event": "withdraw", "reason": "applicant withdrew by phone", "version": v });
    let key = [("Idempotency-Key", "withdraw-1")];
    let r = api.post(&path, &api.admin, &key, &body);
    let done = ok(&r);
    assert_eq!(done["instance"]["state"], "withdrawn");
    assert_eq!(done["instance"]["version"], v + 1);
    assert_eq!(done["effects"], json!(["email:application_withdrawn"]));
    let again = api.post(&path, &api.admin, &key, &body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json(), done);
    let app = application(&api, &task);
    assert_eq!(events(&app).iter().filter(|e| *e == "withdraw").count(), 1);
    let last = app["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "ada");
    assert_eq!(last["reason"], "applicant withdrew by phone");
    let audit = api.get("/api/v1/audit?action=workflow.withdraw", &api.admin)["items"].clone();
    assert_eq!(audit.as_array().unwrap().len(), 1);
    assert_eq!(audit[0]["target"], format!("application:{subject}"));
    // The withdrawn application's task takes no decision.
    let r = decide(&api, &api.reviewer, &task, "approve", json!({ "monthly_limit_cents": 100 }));
    problem(&r, 409, "application_moved");
}

/// The email the server's workers delivered for outbox row `row` (file transport), once sent.
fn delivered(api: &Api, task: &Value, name: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let app = application(api, task);
        let row = app["outbox"].as_array().unwrap().iter().rev().find(|o| o["name"] == name).cloned();
        let row = row.unwrap_or_else(|| panic!("no {name} email queued: {app}"));
        let file = api.dir().join("mail-out").join(format!("{}.eml", row["id"].as_str().unwrap()));
        if row["status"] == "sent"
            && let Ok(raw) = std::fs::read_to_string(&file)
        {
            return raw;
        }
        assert!(std::time::Instant::now() < deadline, "{name} was not sent: {row}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn parts(raw: &str) -> (String, String) {
    let m = mail_parser::MessageParser::default().parse(raw.as_bytes()).expect("a message");
    (m.body_text(0).unwrap().into_owned(), m.body_html(0).unwrap().into_owned())
}

fn a_reviewers_markup_reaches_the_applicant_escaped_in_html(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let tasks = reviews(&api);
    let attack = "<img src=x onerror=alert(1)>";
    ok(&decide(&api, &api.reviewer, &tasks[0], "decline", json!({ "reason_code": "other", "message": attack })));
    let script = "<script>alert(document.cookie)</script>";
    ok(&decide(&api, &api.reviewer, &tasks[1], "request-info", json!({ "items": [script, "a website"] })));

    let (text, html) = parts(&delivered(&api, &tasks[0], "application_declined"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(text.contains(attack), "the text part keeps the message as written: {text}");
    let (text, html) = parts(&delivered(&api, &tasks[1], "materials_requested"));
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert!(text.contains(script), "{text}");
}

/// Ten identical approvals with one key at the same moment: one decision, one answer.
fn parallel_approvals_with_one_idempotency_key_get_the_same_answer(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    for task in reviews(&api).iter().take(2) {
        let path = format!("/api/v1/tasks/{}/approve", id(task));
        let body = json!({ "monthly_limit_cents": suggestion(&api, task) });
        let key = format!("approve-{}", id(task));
        let tokens = [api.reviewer.as_str(); 10];
        let answers = api.race(&tokens, |t| api.post(&path, t, &[("Idempotency-Key", &key)], &body));
        let done: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b).collect();
        for (status, answer) in &answers {
            let waiting = *status == 409 && answer["code"] == "idempotency_in_progress";
            assert!(*status == 200 || waiting, "{status}: {answer}");
        }
        assert!(!done.is_empty(), "{answers:?}");
        assert!(done.iter().all(|b| *b == done[0]), "one answer for one key: {answers:?}");
        assert_eq!(done[0]["application"]["state"], "approved");
        let app = application(&api, task);
        assert_eq!(events(&app).iter().filter(|e| *e == "approve").count(), 1, "one event");
        assert_eq!(emails(&app).iter().filter(|e| *e == "application_approved").count(), 1, "one email");
        assert_eq!(app["credit_lines"].as_array().unwrap().len(), 1, "one line");
    }
}

/// A hand-posted event's `data` cannot redirect an email or invent an amount: recipients,
/// amounts and references come from the records, and an event that needs a record the
/// request cannot make (a bill) is the system's to post.
fn a_hand_posted_event_cannot_choose_the_recipient_or_the_amount(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let tasks = reviews(&api);
    let subject = tasks[0]["subject_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/admin/workflows/{subject}/events");
    let before = application(&api, &tasks[0]);
    let account = before["application"]["account_email"].as_str().unwrap().to_string();

    for (key, value) in [
        ("to", json!("evil@attacker.example")),
        ("reference", json!("CL-EVIL0000")),
        ("monthly_limit_cents", json!(123_456_789)),
        ("name", json!("Mallory")),
    ] {
        let body = json!({ "event": "withdraw", "reason": "by phone", "data": { key: value } });
        let p = problem(&api.post(&path, &api.admin, &[], &body), 400, "invalid_body");
        assert!(p["detail"].as_str().unwrap().starts_with(&format!("data.{key}:")), "{p}");
    }
    let blank = json!({ "event": "withdraw", "reason": "by phone", "data": { "message": " " } });
    problem(&api.post(&path, &api.admin, &[], &blank), 400, "invalid_body");
    assert_eq!(events(&application(&api, &tasks[0])), events(&before), "nothing was written");

    // A note for the applicant is fine; the email goes to the account, whatever was asked.
    let body = json!({ "event": "withdraw", "reason": "by phone", "data": { "message": "As discussed." } });
    ok(&api.post(&path, &api.admin, &[], &body));
    let app = application(&api, &tasks[0]);
    let email = app["outbox"].as_array().unwrap().iter().find(|o| o["name"] == "application_withdrawn").unwrap();
    assert_eq!(email["payload"]["to"], account.as_str());
    assert_eq!(email["payload"]["message"], "As discussed.");
    let raw = delivered(&api, &tasks[0], "application_withdrawn");
    assert!(raw.contains(&format!("To: {account}")), "{raw}");

    // On a credit line no bill can be made up: not with an amount, not without one.
    let approved = ok(&decide(
        &api,
        &api.reviewer,
        &tasks[1],
        "approve",
        json!({ "monthly_limit_cents": suggestion(&api, &tasks[1]) }),
    ));
    let line = approved["credit_line"]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/admin/workflows/{line}/events");
    let forged = json!({ "event": "bill_issued", "reason": "x", "data": { "amount_cents": 123_456_789 } });
    let p = problem(&api.post(&path, &api.admin, &[], &forged), 400, "invalid_body");
    assert!(p["detail"].as_str().unwrap().starts_with("data.amount_cents:"), "{p}");
    let bare = json!({ "event": "bill_issued", "reason": "x" });
    let p = problem(&api.post(&path, &api.admin, &[], &bare), 422, "system_event");
    assert!(p["detail"].as_str().unwrap().contains("bill_issued"), "{p}");
    let view = api.get(&format!("/api/v1/credit-lines/{line}"), &api.admin);
    assert!(view["events"].as_array().unwrap().iter().all(|e| e["event"] != "bill_issued"), "{view}");

    // What the records supply is fine: closing the line quotes the line as it is.
    let close = json!({ "event": "close", "reason": "closed at the customer's request" });
    ok(&api.post(&path, &api.admin, &[], &close));
}

fn the_read_endpoints_list_and_find_applications_accounts_and_lines(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let all = api.get("/api/v1/applications?limit=500", &api.reviewer)["items"].as_array().unwrap().clone();
    assert!(all.len() >= 20, "{}", all.len());
    let mut paged = Vec::new();
    let mut path = "/api/v1/applications?limit=7".to_string();
    loop {
        let page = api.get(&path, &api.reviewer);
        paged.extend(page["items"].as_array().unwrap().iter().map(id));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/applications?limit=7&after={c}"),
            None => break,
        }
    }
    assert_eq!(paged, all.iter().map(id).collect::<Vec<_>>());
    let pending = api.get("/api/v1/applications?state=pending_review", &api.reviewer)["items"].clone();
    assert!(pending.as_array().unwrap().iter().all(|a| a["state"] == "pending_review"));

    let first = &all[0];
    let by_ref = api.get(&format!("/api/v1/applications/{}", first["reference"].as_str().unwrap()), &api.reviewer);
    assert_eq!(by_ref["application"]["id"], first["id"]);
    assert!(!by_ref["application"]["fields"].as_array().unwrap().is_empty());
    assert_eq!(by_ref["events"][0]["event"], "created");
    assert_eq!(by_ref["outbox"][0]["name"], "application_received");
    let account = first["account_email"].as_str().unwrap();
    let acct = api.get(&format!("/api/v1/accounts/{account}"), &api.reviewer);
    assert!(acct["applications"].as_array().unwrap().iter().any(|a| a["id"] == first["id"]));
    assert_eq!(acct["credit_lines"], json!([]));

    for (path, status, code) in [
        ("/api/v1/applications/CL-NOPE1234", 404, "not_found"),
        ("/api/v1/applications/nonsense", 400, "invalid_id"),
        ("/api/v1/applications?limit=0", 400, "invalid_query"),
        ("/api/v1/applications?shape=round", 400, "invalid_query"),
        ("/api/v1/accounts/not-an-email", 400, "invalid_email"),
        ("/api/v1/accounts/nobody@example.org", 404, "not_found"),
        ("/api/v1/credit-lines/01a20000-0000-7000-8000-000000000000", 404, "not_found"),
        ("/api/v1/credit-lines/x", 400, "invalid_id"),
    ] {
        problem(&api.call("GET", path, Some(&api.reviewer), &[]), status, code);
    }
}

/// Every operation of the OpenAPI document with the roles allowed to call it: without a
/// token 401, with another role 403, with an allowed role neither (the ids are made up, so
/// allowed calls end in 404 or a validation answer, changing nothing).
fn every_endpoint_answers_401_403_or_allows_by_role(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let nobody = "01a20000-0000-7000-8000-000000000000";
    let readers = vec!["reviewer", "senior_reviewer", "admin"];
    let deciders = vec!["reviewer", "senior_reviewer"];
    let matrix: Vec<(&str, &str, String, Vec<&str>)> = vec![
        ("GET", "/api/v1/tasks", "/api/v1/tasks".into(), readers.clone()),
        ("GET", "/api/v1/tasks/{id}", format!("/api/v1/tasks/{nobody}"), readers.clone()),
        ("POST", "/api/v1/tasks/{id}/claim", format!("/api/v1/tasks/{nobody}/claim"), readers.clone()),
        ("POST", "/api/v1/tasks/{id}/release", format!("/api/v1/tasks/{nobody}/release"), readers.clone()),
        ("POST", "/api/v1/tasks/{id}/approve", format!("/api/v1/tasks/{nobody}/approve"), deciders.clone()),
        ("POST", "/api/v1/tasks/{id}/decline", format!("/api/v1/tasks/{nobody}/decline"), deciders.clone()),
        ("POST", "/api/v1/tasks/{id}/defer", format!("/api/v1/tasks/{nobody}/defer"), deciders.clone()),
        ("POST", "/api/v1/tasks/{id}/request-info", format!("/api/v1/tasks/{nobody}/request-info"), deciders.clone()),
        ("POST", "/api/v1/tasks/{id}/resolve", format!("/api/v1/tasks/{nobody}/resolve"), deciders),
        ("GET", "/api/v1/applications", "/api/v1/applications".into(), readers.clone()),
        ("GET", "/api/v1/applications/{id}", format!("/api/v1/applications/{nobody}"), readers.clone()),
        ("GET", "/api/v1/accounts/{email}", "/api/v1/accounts/nobody@example.org".into(), readers.clone()),
        ("GET", "/api/v1/credit-lines", "/api/v1/credit-lines".into(), readers.clone()),
        ("GET", "/api/v1/credit-lines/{id}", format!("/api/v1/credit-lines/{nobody}"), readers.clone()),
        ("GET", "/api/v1/invoices", "/api/v1/invoices".into(), readers.clone()),
        ("GET", "/api/v1/invoices/{number}", "/api/v1/invoices/INV-000099".into(), readers),
        ("GET", "/api/v1/audit", "/api/v1/audit".into(), vec!["senior_reviewer", "admin"]),
        ("POST", "/api/v1/admin/rules/reload", "/api/v1/admin/rules/reload".into(), vec!["admin"]),
        (
            "POST",
            "/api/v1/admin/workflows/{id}/events",
            format!("/api/v1/admin/workflows/{nobody}/events"),
            vec!["admin"],
        ),
        ("POST", "/api/v1/inbox/messages", "/api/v1/inbox/messages".into(), vec!["inbox", "admin"]),
    ];
    let public = ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"];
    // Authenticated by the provider's signature, not a token (tests/api_webhooks.rs).
    let signed = ["/api/v1/webhooks/{provider}"];

    // The matrix covers the whole document: a new endpoint without roles here fails.
    let doc = api.get("/api/v1/openapi.json", &api.reviewer);
    for (template, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let m = method.to_uppercase();
            let covered = matrix.iter().any(|(mm, t, _, _)| *mm == m && t == template)
                || public.contains(&&**template)
                || signed.contains(&&**template);
            assert!(covered, "{m} {template} is missing from the role matrix");
            let secured = ops[method]["security"].is_array();
            let open = public.contains(&&**template) || signed.contains(&&**template);
            assert_eq!(secured, !open, "{m} {template}: security in the document");
        }
    }
    for p in public {
        assert_eq!(api.call("GET", p, None, &[]).status, 200, "{p} is public");
    }

    let tokens =
        [("reviewer", &api.reviewer), ("senior_reviewer", &api.senior), ("admin", &api.admin), ("inbox", &api.inbox)];
    let json_ct = [("Content-Type", "application/json")];
    for (method, _, path, allowed) in &matrix {
        let r = api.send(method, path, None, &json_ct, b"{}");
        problem(&r, 401, "unauthenticated");
        let r = api.send(method, path, Some("clt_000000000000_00"), &json_ct, b"{}");
        problem(&r, 401, "unauthenticated");
        for (role, token) in &tokens {
            // An inbox body an allowed caller could post is a message; keep it empty (400).
            let r = api.send(method, path, Some(token), &json_ct, b"");
            if allowed.contains(role) {
                assert!(![401, 403].contains(&r.status), "{method} {path} as {role}: {}", r.status);
                assert!(r.status < 500, "{method} {path} as {role}: {}", r.status);
            } else {
                problem(&r, 403, "forbidden");
            }
        }
    }
}

/// A decision-like action on `task`'s application, planned from the instance as it is now.
async fn action(
    app: &creditline::app::App,
    task: &creditline::store::TaskRecord,
    event: Option<&str>,
    key: Option<&str>,
) -> creditline::store::ActionWrite {
    use creditline::services::Fire;
    use creditline::services::workflow::Cursor;
    use creditline::store::{ActionWrite, AuditRecord, IdempotentResponse, TaskUpdate, WorkflowChanges};
    let subject = task.subject_id.unwrap();
    let instance = app.store.instance(subject).await.unwrap().unwrap();
    let mut cursor = Cursor::from(&instance);
    let transition =
        event.map(|e| app.workflow.plan(&mut cursor, &Fire::new(subject, e, "rita").reason("test")).unwrap().0);
    ActionWrite {
        task: Some(TaskUpdate {
            id: task.id,
            expected_version: task.version,
            state: "done".into(),
            assignee: Some("rita".into()),
            claimed_at: Some(chrono::Utc::now()),
            details: json!({}),
        }),
        workflow: WorkflowChanges { steps: transition.into_iter().collect(), ..WorkflowChanges::default() },
        credit_line: None,
        audit: AuditRecord {
            id: uuid::Uuid::now_v7(),
            actor: "rita".into(),
            action: format!("application.{}", event.unwrap_or("none")),
            target: format!("application:{subject}"),
            version_before: Some(instance.version),
            version_after: Some(instance.version + 1),
            request_id: "r".into(),
            detail: json!({}),
            at: chrono::Utc::now(),
        },
        idempotency: key.map(|k| IdempotentResponse {
            caller: "rita".into(),
            key: k.into(),
            request_hash: "h".into(),
            status: 200,
            response: json!({ "ok": true }),
            created_at: chrono::Utc::now(),
        }),
    }
}

/// The store writes a decision whole or not at all, on both backends: a task update that
/// would succeed is rolled back with a stale workflow step, and a used idempotency key
/// refuses the second action entirely.
async fn an_action_is_written_whole_or_not_at_all(t: common::TestStore) {
    use creditline::services::Fire;
    use creditline::store::{AuditFilter, StoreError, TaskFilter};
    let app = t.app();
    for f in ["02-base64-individual.eml", "04-windows-1252.eml"] {
        let raw = std::fs::read(common::repo().join("tests/corpus").join(f)).unwrap();
        creditline::services::inbound::ingest(&app, f, &raw).await.unwrap();
    }
    let filter = TaskFilter { kind: Some("application_review".into()), limit: 10, ..Default::default() };
    let tasks = app.store.list_tasks(&filter).await.unwrap();
    assert_eq!(tasks.len(), 2, "both samples reach review");
    // The application moves after the step was planned: nothing of the action is written.
    let stale = action(&app, &tasks[0], Some("decline"), Some("k1")).await;
    let subject = tasks[0].subject_id.unwrap();
    app.workflow.fire(Fire::new(subject, "withdraw", "ada")).await.unwrap();
    let err = app.store.commit_action(&stale).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert_eq!(app.store.task(tasks[0].id).await.unwrap().unwrap().version, tasks[0].version, "task rolled back");
    assert!(app.store.idempotent_response("rita", "k1").await.unwrap().is_none());
    let audit = AuditFilter { limit: 100, ..Default::default() };
    assert!(app.store.list_audit(&audit).await.unwrap().is_empty());

    // A key used once refuses a second action with it, whole.
    let first = action(&app, &tasks[1], Some("defer"), Some("k2")).await;
    app.store.commit_action(&first).await.unwrap();
    let kept = app.store.idempotent_response("rita", "k2").await.unwrap().unwrap();
    assert_eq!((kept.status, kept.response), (200, json!({ "ok": true })));
    let fresh = creditline::store::TaskRecord { version: tasks[0].version, ..tasks[0].clone() };
    let second = action(&app, &fresh, None, Some("k2")).await;
    let err = app.store.commit_action(&second).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate(_)), "{err}");
    assert_eq!(app.store.task(tasks[0].id).await.unwrap().unwrap().state, "open");
    assert_eq!(app.store.list_audit(&audit).await.unwrap().len(), 1);
}

store_suite!(an_action_is_written_whole_or_not_at_all);

/// Issue 16, item 4 (policy: one monthly credit line per reviewed account): a second
/// application for an account that already has a line cannot be approved: 409 `line_exists`.
fn approving_a_second_line_for_an_account_is_409(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    const ACCOUNT: &str = "lena.dev@gmail.com";
    let task = reviews(&api)
        .into_iter()
        .find(|t| application(&api, t)["application"]["account_email"] == ACCOUNT)
        .expect("the corpus's individual applicant is in review");
    let limit = suggestion(&api, &task);
    ok(&decide(&api, &api.reviewer, &task, "approve", json!({ "monthly_limit_cents": limit })));

    // A second application for the account, opened by hand and completed by its own email.
    let o = common::run(api.dir(), &["applications", "create", "--account-email", ACCOUNT]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let reference = common::stdout(&o).split_whitespace().nth(1).expect("id and reference").to_string();
    let raw = std::fs::read(common::repo().join("tests/corpus/02-base64-individual.eml")).unwrap();
    let raw = String::from_utf8(raw)
        .unwrap()
        .replacen("Message-ID: <c02@mail.gmail.com>", "Message-ID: <c02-again@mail.gmail.com>", 1)
        .replacen("Subject: credit line for my app", &format!("Subject: [{reference}] credit line for my app"), 1);
    let r = api.send(
        "POST",
        "/api/v1/inbox/messages",
        Some(&api.inbox),
        &[("Content-Type", "message/rfc822")],
        raw.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["state"], "pending_review", "{}", String::from_utf8_lossy(&r.body));
    let second = reviews(&api)
        .into_iter()
        .find(|t| application(&api, t)["application"]["account_email"] == ACCOUNT)
        .expect("the second application is in review");
    let p = problem(
        &decide(&api, &api.reviewer, &second, "approve", json!({ "monthly_limit_cents": limit })),
        409,
        "line_exists",
    );
    assert!(p["detail"].as_str().unwrap().contains("already has credit line"), "{p}");
    let lines = api.get(&format!("/api/v1/credit-lines?account_email={ACCOUNT}"), &api.admin);
    assert_eq!(lines["items"].as_array().unwrap().len(), 1, "{lines}");
}

/// Every mutation reads what it shares the same way (`http::request::Mutation`): the token
/// first (401), then the role (403), and only then the id, the body and the headers, so a
/// caller without the role learns nothing about them; the id is parsed one way everywhere.
fn a_mutation_checks_token_then_role_then_id_and_body(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let nobody = "01a20000-0000-7000-8000-000000000000";
    let json_ct = ("Content-Type", "application/json");
    let huge = vec![b' '; 70 * 1024];
    // (path with a given id, allowed, not allowed, a body the route accepts, what the id is)
    let routes = [
        ("/api/v1/tasks/{id}/approve", &api.reviewer, &api.admin, json!({ "monthly_limit_cents": 20000 }), "a task id"),
        ("/api/v1/tasks/{id}/resolve", &api.senior, &api.admin, json!({ "action": "confirm" }), "a task id"),
        (
            "/api/v1/admin/workflows/{id}/events",
            &api.admin,
            &api.senior,
            json!({ "event": "e", "reason": "r" }),
            "an id",
        ),
    ];
    for (template, allowed, other, body, what) in &routes {
        let bad = template.replace("{id}", "x");
        let good = template.replace("{id}", nobody);
        problem(&api.send("POST", &bad, None, &[json_ct], &huge), 401, "unauthenticated");
        problem(&api.send("POST", &bad, Some(other), &[json_ct], &huge), 403, "forbidden");
        problem(&api.send("POST", &good, Some(allowed), &[json_ct], &huge), 413, "body_too_large");
        let p = problem(&api.post(&bad, allowed, &[], body), 400, "invalid_id");
        assert_eq!(p["detail"], format!("id: \"x\" is not {what}"), "{template}");
        let with_key = [("Idempotency-Key", "a key with spaces")];
        problem(&api.post(&good, allowed, &with_key, body), 400, "invalid_idempotency_key");
        let stale = [("If-Match", "\"3\"")];
        let mut versioned = body.clone();
        versioned["version"] = json!(4);
        problem(&api.post(&good, allowed, &stale, &versioned), 400, "version_mismatch");
    }
}

black_box_suite!(
    approving_a_second_line_for_an_account_is_409,
    approving_opens_a_credit_line_within_the_rules_suggestion,
    decline_defer_and_request_info_move_the_application_and_queue_the_email,
    a_stale_version_is_refused_and_an_idempotency_key_replays_the_first_answer,
    two_reviewers_approving_the_same_task_at_once_one_wins,
    four_eyes_approval_needs_a_second_different_senior_reviewer,
    an_admin_posts_a_workflow_event_by_hand_through_the_engine,
    a_reviewers_markup_reaches_the_applicant_escaped_in_html,
    parallel_approvals_with_one_idempotency_key_get_the_same_answer,
    a_hand_posted_event_cannot_choose_the_recipient_or_the_amount,
    the_read_endpoints_list_and_find_applications_accounts_and_lines,
    every_endpoint_answers_401_403_or_allows_by_role,
    a_mutation_checks_token_then_role_then_id_and_body,
);

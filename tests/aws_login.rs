//! AWS login first (issue 17, item 6; policy `../shared/seed/payment-methods.txt`: "Users
//! apply for AWS login first. If an AWS login user also needs a monthly credit line,
//! WaveSpeedAI reviews the credit request separately. Approval is not automatic."). An email
//! asking for AWS login opens the account's `aws_login` review; an application made through
//! AWS login is reviewed but cannot be approved until that AWS login is. Through intake and the
//! services on both stores, and through a running server and the CLI.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Api, TestStore, app_of, rt, run, stderr, stdout};
use creditline::app::App;
use creditline::domain::{ApplicationId, Money, Role, SubjectId, TaskId};
use creditline::services::access::Caller;
use creditline::services::actions::Actor;
use creditline::services::decisions::{Decision, DecisionError, decide};
use creditline::services::inbound::{self, Report};
use creditline::services::task_actions::{TaskAction, resolve};
use creditline::store::{Instance, TaskFilter, TaskRecord};
use serde_json::{Value, json};

fn request(id: &str, from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "Message-ID: <{id}>\r\nFrom: {from}\r\nTo: support@wavespeed.ai\r\nSubject: {subject}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A complete individual application made through AWS login, with an AWS billing CSV.
fn application_through_aws_login(id: &str, from: &str) -> Vec<u8> {
    let account = from.rsplit('<').next().unwrap_or(from).trim_end_matches('>');
    format!(
        "Message-ID: <{id}>\r\nFrom: {from}\r\nTo: support@wavespeed.ai\r\n\
         Subject: credit line request through AWS login\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Hi, I'm an independent developer and I'd like a monthly credit line. I'm applying through AWS login.\r\n\r\n\
         - Account email: {account}\r\n\
         - I'm applying as an individual user\r\n\
         - Product: Sketchloop, an iOS app that turns doodles into illustrations\r\n\
         - Website: https://sketchloop.app\r\n\
         - App download: https://apps.apple.com/app/sketchloop/id6477120431\r\n\
         - AWS account: 1234-5678-9012, since 2022, in good standing, usually $40-60 a month\r\n\
         - Expected usage about $120/month, requesting $200/month\r\n\
         - Contact: Discord dpark#2291 or email\r\n\r\n--b1\r\n\
         Content-Type: text/csv; name=\"aws-billing.csv\"\r\n\
         Content-Disposition: attachment; filename=\"aws-billing.csv\"\r\n\r\n\
         Month,Total\r\n2026-08,$52.10\r\n2026-09,$48.90\r\n2026-10,$57.30\r\n--b1--\r\n"
    )
    .into_bytes()
}

async fn ingest(app: &App, raw: &[u8]) -> Report {
    inbound::ingest(app, "test", raw).await.expect("intake answers")
}

async fn logins(app: &App, account: &str) -> Vec<Instance> {
    app.store.instances_for_account(account, "aws_login").await.expect("instances")
}

async fn tasks_of(app: &App, kind: &str, subject: SubjectId) -> Vec<TaskRecord> {
    let filter = TaskFilter { kind: Some(kind.into()), state: None, limit: 1000, ..Default::default() };
    let tasks = app.store.list_tasks(&filter).await.expect("tasks");
    tasks.into_iter().filter(|t| t.subject_id == Some(subject)).collect()
}

/// The rendered text of the last `template` email queued for `subject`.
async fn rendered(app: &App, subject: SubjectId, template: &str) -> (String, Value) {
    let rows = app.store.outbox_for(subject).await.unwrap();
    let row = rows.iter().rev().find(|o| o.name == template).unwrap_or_else(|| panic!("no {template} email"));
    let data = creditline::email::context::context(&row.payload, None);
    let text = app.templates.render(template, &data).unwrap_or_else(|e| panic!("{template}: {e}")).text;
    (text, row.payload.clone())
}

fn reviewer(name: &str) -> Caller {
    Caller { token_id: format!("t-{name}"), name: name.into(), role: Role::Reviewer }
}

async fn resolve_login(app: &App, login: SubjectId, action: TaskAction) -> Value {
    let task = tasks_of(app, "aws_login_review", login).await.pop().expect("an aws_login_review task");
    let caller = reviewer("rita");
    let actor = Actor { caller: &caller, request_id: "r", now: chrono::Utc::now() };
    // The answer as it goes out: JSON.
    serde_json::to_value(resolve(app, &actor, task.id, None, action, None).await.expect("resolved").body).unwrap()
}

async fn review_task(app: &App, application: &str) -> TaskRecord {
    let id = ApplicationId(application.parse().expect("an id"));
    let mut open: Vec<TaskRecord> =
        tasks_of(app, "application_review", id.into()).await.into_iter().filter(|t| t.state == "open").collect();
    open.pop().expect("an open application_review task")
}

async fn approve(app: &App, task: TaskId) -> Result<Value, DecisionError> {
    let caller = reviewer("rob");
    let actor = Actor { caller: &caller, request_id: "r", now: chrono::Utc::now() };
    let decision = Decision::Approve { monthly_limit: Money::from_cents(5_000), override_reason: None, note: None };
    decide(app, &actor, task, None, decision, None).await.map(|o| serde_json::to_value(o.body).unwrap())
}

async fn application_view(app: &App, id: &str) -> Value {
    let a = app.store.application(ApplicationId(id.parse().unwrap())).await.unwrap().unwrap();
    creditline::services::views::application(app.store.as_ref(), &a).await.unwrap()
}

/// Policy: "Users apply for AWS login first": an email asking for AWS login opens the
/// account's review with a reviewer task and an acknowledgement; a second request joins it,
/// one for an approved login is noted, and one naming another account goes to a person.
async fn an_aws_login_email_opens_one_review_per_account(t: TestStore) {
    let app = t.app();
    let r = ingest(
        &app,
        &request(
            "a1@acme.io",
            "Ana Lima <ana@acme.io>",
            "AWS login",
            "Hi, could you enable AWS login for our account?",
        ),
    )
    .await;
    assert_eq!((r.outcome.as_str(), r.state.as_deref()), ("aws_login_request", Some("under_review")), "{r:?}");
    let found = logins(&app, "ana@acme.io").await;
    assert_eq!(found.len(), 1);
    let login = found[0].id;
    assert_eq!(tasks_of(&app, "aws_login_review", login).await.len(), 1, "the reviewer has the task");
    let (text, payload) = rendered(&app, login, "aws_login_received").await;
    assert_eq!(payload["to"], "ana@acme.io");
    assert!(text.contains("Hello Ana Lima") && text.contains("ana@acme.io"), "{text}");

    // Again, in another language: joins the open review.
    let again = ingest(&app, &request("a2@acme.io", "ana@acme.io", "AWS", "AWSログインを有効にしてください。")).await;
    assert_eq!(again.outcome, "aws_login_request", "{again:?}");
    assert!(again.findings.contains(&"aws_login_already_open".to_string()), "{again:?}");
    assert_eq!(logins(&app, "ana@acme.io").await.len(), 1, "no second review");
    assert_eq!(tasks_of(&app, "aws_login_review", login).await.len(), 1, "no second task");

    // Approved: a later request is noted, nothing reopens.
    let body = resolve_login(&app, login, TaskAction::Approve { note: None }).await;
    assert_eq!(body["event"]["to"], "approved", "{body}");
    let after =
        ingest(&app, &request("a3@acme.io", "ana@acme.io", "Sign in with AWS", "Please let me sign in with AWS."))
            .await;
    assert!(after.findings.contains(&"aws_login_already_approved".to_string()), "{after:?}");
    assert_eq!(after.state.as_deref(), Some("approved"));
    assert_eq!(logins(&app, "ana@acme.io").await.len(), 1);

    // For someone else's account: a person checks who is asking; nothing opens for it.
    let named = ingest(
        &app,
        &request(
            "a4@evil.example",
            "mallory@evil.example",
            "AWS login",
            "Account email: victim@acme.io\nPlease enable AWS login.",
        ),
    )
    .await;
    assert_eq!(named.outcome, "triage", "{named:?}");
    assert!(logins(&app, "victim@acme.io").await.is_empty());
}

/// Two requests from one account committed at the same moment open one review (the
/// `one_aws_login_per_account` index; the loser decides again and joins it).
async fn concurrent_aws_login_requests_open_one_review(t: TestStore) {
    let app = t.app();
    let raws: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            request(&format!("c{i}@race.io"), "dev@race.io", "AWS login", &format!("Please enable AWS login ({i})."))
        })
        .collect();
    let reports = futures_join(&app, &raws).await;
    assert!(reports.iter().all(|r| r.outcome == "aws_login_request"), "{reports:?}");
    let found = logins(&app, "dev@race.io").await;
    assert_eq!(found.len(), 1, "{reports:?}");
    assert_eq!(tasks_of(&app, "aws_login_review", found[0].id).await.len(), 1);
    let joined = reports.iter().filter(|r| r.findings.contains(&"aws_login_already_open".to_string())).count();
    assert_eq!(joined, 3, "{reports:?}");
}

async fn futures_join(app: &Arc<App>, raws: &[Vec<u8>]) -> Vec<Report> {
    let handles: Vec<_> = raws
        .iter()
        .cloned()
        .map(|raw| {
            let app = app.clone();
            tokio::spawn(async move { inbound::ingest(&app, "test", &raw).await.expect("intake answers") })
        })
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("joined"));
    }
    out
}

/// Policy: "Users apply for AWS login first ... reviews the credit request separately":
/// an application through AWS login starts the AWS login from the same email, is reviewed,
/// cannot be approved while the AWS login is pending, and can once it is approved.
async fn an_application_through_aws_login_waits_for_its_approval(t: TestStore) {
    let app = t.app();
    let r = ingest(&app, &application_through_aws_login("p1@gmail.com", "Dan Park <dpark.dev@gmail.com>")).await;
    assert_eq!(r.outcome, "created_application", "{r:?}");
    assert!(r.findings.contains(&"aws_login_pending".to_string()), "{r:?}");
    assert_eq!(r.state.as_deref(), Some("pending_review"), "{r:?}");
    let id = r.application_id.clone().unwrap();
    let found = logins(&app, "dpark.dev@gmail.com").await;
    assert_eq!(found.len(), 1, "the same email started the AWS login");
    let login = found[0].id;

    // The reviewer sees both: the application shows the AWS login, its task the application.
    let view = application_view(&app, &id).await;
    assert_eq!(view["aws_login"]["state"], "under_review", "{view}");
    assert_eq!(view["aws_login"]["id"], json!(login));
    assert_eq!(view["aws_login"]["approvable"], false);
    assert!(view["evidence"].as_array().unwrap().iter().any(|e| e["kind"] == "aws_login"), "the link is recorded");
    let instance = app.store.instance(login).await.unwrap().unwrap();
    let linked = creditline::services::aws_login::linked_applications(app.store.as_ref(), &instance).await.unwrap();
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0]["id"], json!(id));

    let task = review_task(&app, &id).await;
    match approve(&app, task.id).await {
        Err(e) => assert_eq!(e.code(), "aws_login_pending", "{e}"),
        Ok(b) => panic!("approved while the AWS login is pending: {b}"),
    }
    assert_eq!(application_view(&app, &id).await["state"], "pending_review", "nothing moved");

    // Another message on the application through AWS login starts no second AWS login.
    let reply = "Message-ID: <p2@gmail.com>\r\nIn-Reply-To: <p1@gmail.com>\r\nFrom: dpark.dev@gmail.com\r\n\
         Subject: Re: credit line request\r\n\r\nAs said, I'm applying through AWS login.\r\n";
    let r = ingest(&app, reply.as_bytes()).await;
    assert_eq!(r.application_id.as_deref(), Some(id.as_str()), "{r:?}");
    assert_eq!(logins(&app, "dpark.dev@gmail.com").await.len(), 1, "no second AWS login: {r:?}");
    assert_eq!(tasks_of(&app, "aws_login_review", login).await.len(), 1);

    let body = resolve_login(&app, login, TaskAction::Approve { note: None }).await;
    assert_eq!(body["detail"]["applications"][0]["id"], json!(id), "{body}");
    let task = review_task(&app, &id).await;
    assert_eq!(task.details["aws_login"]["state"], "approved", "the reviewer's task is noted: {:?}", task.details);
    let (text, _) = rendered(&app, login, "aws_login_approved").await;
    assert!(text.contains("dpark.dev@gmail.com"), "{text}");
    let approved = approve(&app, task.id).await.expect("approved once the AWS login is");
    assert_eq!(approved["application"]["state"], "approved", "{approved}");
}

/// Policy: "Users apply for AWS login first": when the AWS login is declined, the
/// application made through it cannot be approved (409 `aws_login_declined`); the reviewer is
/// told on the task and declines or defers it; prepaid access stays, and the account may ask
/// for AWS login again.
async fn a_declined_aws_login_keeps_its_application_from_approval(t: TestStore) {
    let app = t.app();
    let r = ingest(&app, &application_through_aws_login("d1@gmail.com", "lee.dev@gmail.com")).await;
    let id = r.application_id.clone().unwrap();
    let login = logins(&app, "lee.dev@gmail.com").await[0].id;
    let body =
        resolve_login(&app, login, TaskAction::Decline { reason: "The AWS account is two days old.".into() }).await;
    assert_eq!(body["event"]["to"], "declined", "{body}");
    let (text, _) = rendered(&app, login, "aws_login_declined").await;
    assert!(text.contains("two days old") && text.contains("prepaid credits"), "{text}");

    let task = review_task(&app, &id).await;
    assert_eq!(task.details["aws_login"]["state"], "declined", "{:?}", task.details);
    match approve(&app, task.id).await {
        Err(e) => assert_eq!(e.code(), "aws_login_declined", "{e}"),
        Ok(b) => panic!("approved with a declined AWS login: {b}"),
    }
    let caller = reviewer("rob");
    let actor = Actor { caller: &caller, request_id: "r", now: chrono::Utc::now() };
    let decline = Decision::Decline { reason_code: "other".into(), message: "AWS login was declined.".into() };
    let task = review_task(&app, &id).await;
    let out = decide(&app, &actor, task.id, None, decline, None).await.expect("declined");
    assert_eq!(out.body.application.state, "declined");

    // After a decline the account may ask again: a new review opens.
    let again =
        ingest(&app, &request("d2@gmail.com", "lee.dev@gmail.com", "AWS login", "Please review my AWS login again."))
            .await;
    assert_eq!(again.state.as_deref(), Some("under_review"), "{again:?}");
    assert_eq!(logins(&app, "lee.dev@gmail.com").await.len(), 2);
}

/// An application through AWS login from an account whose AWS login is approved already:
/// linked to it (recorded and shown) and approvable.
async fn an_application_after_an_approved_aws_login_is_linked_to_it(t: TestStore) {
    let app = t.app();
    ingest(&app, &request("e1@gmail.com", "kim.dev@gmail.com", "AWS login", "Please enable AWS login.")).await;
    let login = logins(&app, "kim.dev@gmail.com").await[0].id;
    resolve_login(&app, login, TaskAction::Approve { note: None }).await;
    let r = ingest(&app, &application_through_aws_login("e2@gmail.com", "kim.dev@gmail.com")).await;
    assert!(r.findings.contains(&"aws_login_approved".to_string()), "{r:?}");
    assert_eq!(logins(&app, "kim.dev@gmail.com").await.len(), 1, "no new AWS login");
    let id = r.application_id.clone().unwrap();
    let view = application_view(&app, &id).await;
    assert_eq!(view["aws_login"]["state"], "approved", "{view}");
    let link = view["evidence"].as_array().unwrap().iter().find(|e| e["kind"] == "aws_login").cloned();
    assert_eq!(link.expect("the link is recorded")["data"]["aws_login_id"], json!(login));
    approve(&app, review_task(&app, &id).await.id).await.expect("approvable");
}

store_suite!(
    an_aws_login_email_opens_one_review_per_account,
    concurrent_aws_login_requests_open_one_review,
    an_application_through_aws_login_waits_for_its_approval,
    a_declined_aws_login_keeps_its_application_from_approval,
    an_application_after_an_approved_aws_login_is_linked_to_it,
);

// --- through a running server and the CLI ----------------------------------------------------

/// The text part of the `template` email of `subject`, once the server's worker sent it.
fn delivered(rt: &tokio::runtime::Runtime, app: &App, dir: &Path, subject: SubjectId, template: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let rows = rt.block_on(app.store.outbox_for(subject)).unwrap();
        let row = rows.iter().rev().find(|o| o.name == template).unwrap_or_else(|| panic!("no {template} email"));
        let file = dir.join("mail-out").join(format!("{}.eml", row.id));
        if row.status == "sent"
            && let Ok(raw) = std::fs::read(&file)
        {
            let m = mail_parser::MessageParser::default().parse(&raw).expect("a message");
            return m.body_text(0).expect("a text part").into_owned();
        }
        assert!(std::time::Instant::now() < deadline, "{template} was not sent: {row:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn inbox(api: &Api, raw: &[u8]) -> Value {
    let r = api.send("POST", "/api/v1/inbox/messages", Some(&api.inbox), &[("Content-Type", "message/rfc822")], raw);
    assert!(r.status == 201, "{}: {}", r.status, String::from_utf8_lossy(&r.body));
    r.json()
}

fn login_task(api: &Api, login: SubjectId) -> Value {
    let items = api.get("/api/v1/tasks?kind=aws_login_review&limit=500", &api.reviewer)["items"].clone();
    let task = items.as_array().unwrap().iter().find(|t| t["subject_id"] == json!(login)).cloned();
    task.unwrap_or_else(|| panic!("no aws_login_review task for {login}: {items}"))
}

/// Policy: "Users apply for AWS login first": an email in, the reviewer sees the AWS login
/// and the application waiting for it, an approval of the application is refused with 409
/// while it is pending, the AWS login is approved over HTTP and the email is delivered; a
/// decline from the CLI delivers its email too.
fn aws_login_over_http_and_cli(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let rt = rt();
    let app = rt.block_on(app_of(api.dir()));
    let report = inbox(&api, &application_through_aws_login("h1@gmail.com", "Jo Smith <jo.dev@gmail.com>"));
    assert_eq!(report["state"], "pending_review", "{report}");
    let login = rt.block_on(logins(&app, "jo.dev@gmail.com"))[0].id;

    let task = login_task(&api, login);
    let view = api.get(&format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()), &api.reviewer);
    assert_eq!(view["aws_login"]["state"], "under_review", "{view}");
    assert_eq!(view["aws_login"]["applications"][0]["id"], report["application_id"], "{view}");

    let application =
        api.get(&format!("/api/v1/applications/{}", report["application_id"].as_str().unwrap()), &api.reviewer);
    assert_eq!(application["application"]["aws_login"]["state"], "under_review", "{application}");
    let reviews = api.get("/api/v1/tasks?kind=application_review&limit=500", &api.reviewer)["items"].clone();
    let review =
        reviews.as_array().unwrap().iter().find(|t| t["subject_id"] == report["application_id"]).cloned().unwrap();
    let review_id = review["id"].as_str().unwrap();
    let r = api.post(
        &format!("/api/v1/tasks/{review_id}/approve"),
        &api.reviewer,
        &[],
        &json!({ "monthly_limit_cents": 5000 }),
    );
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["code"], "aws_login_pending");

    let id = task["id"].as_str().unwrap();
    let r = api.post(&format!("/api/v1/tasks/{id}/resolve"), &api.reviewer, &[], &json!({ "action": "approve" }));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let text = delivered(&rt, &app, api.dir(), login, "aws_login_approved");
    assert!(
        text.contains("Hello Jo Smith") && text.contains("AWS login is now enabled for jo.dev@gmail.com"),
        "{text}"
    );
    let received = delivered(&rt, &app, api.dir(), login, "aws_login_received");
    assert!(received.contains("jo.dev@gmail.com"), "{received}");
    let r = api.post(
        &format!("/api/v1/tasks/{review_id}/approve"),
        &api.reviewer,
        &[],
        &json!({ "monthly_limit_cents": 5000 }),
    );
    assert_eq!(r.status, 200, "approvable once the AWS login is: {}", String::from_utf8_lossy(&r.body));

    // The CLI declines another account's AWS login; its email goes out as well.
    inbox(
        &api,
        &request("h2@acme.io", "ops@acme.io", "AWS login", "Hello, please enable sign in with AWS for ops@acme.io."),
    );
    let other = rt.block_on(logins(&app, "ops@acme.io"))[0].id;
    let task = login_task(&api, other);
    let id = task["id"].as_str().unwrap();
    let reason = "We could not verify the AWS account.";
    let o =
        run(api.dir(), &["tasks", "resolve", id, "--action", "decline", "--reason", reason, "--token", &api.reviewer2]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("declined"), "{}", stdout(&o));
    let text = delivered(&rt, &app, api.dir(), other, "aws_login_declined");
    assert!(text.contains("could not verify") && text.contains("Google or GitHub login and prepaid credits"), "{text}");
}

black_box_suite!(aws_login_over_http_and_cli);

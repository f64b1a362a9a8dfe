//! No reply vanishes (issue 17, item 4): a reply to an application that is over reaches a
//! person, a declined applicant's reply goes through `re_review` on the same application, and
//! an applicant can withdraw by email. On SQLite and PostgreSQL, through intake.

mod common;

use common::TestStore;
use creditline::app::App;
use creditline::domain::{Money, Role, SubjectId, TaskId};
use creditline::services::access::Caller;
use creditline::services::actions::Actor;
use creditline::services::decisions::{Decision, decide};
use creditline::services::inbound::{self, Report};
use creditline::store::TaskFilter;

fn sample() -> Vec<u8> {
    std::fs::read(common::repo().join("../shared/samples/inbox/02-individual-with-product.eml")).expect("sample")
}

const SAMPLE_ID: &str = "8f1d2c90-1b7e-4a0e-9f0b-2d6f5a1c7e11@gmail.com";

fn reply(id: &str, from: &str, body: &str) -> Vec<u8> {
    format!(
        "Message-ID: <{id}>\r\nIn-Reply-To: <{SAMPLE_ID}>\r\nFrom: {from}\r\nTo: support@wavespeed.ai\r\n\
         Subject: Re: credit line request\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn ingest(app: &App, raw: &[u8]) -> Report {
    inbound::ingest(app, "test", raw).await.expect("intake answers")
}

async fn triage_on(app: &App, id: &str) -> Vec<String> {
    let filter = TaskFilter { kind: Some("triage".into()), limit: 100, ..Default::default() };
    let tasks = app.store.list_tasks(&filter).await.expect("tasks");
    tasks.into_iter().filter(|t| t.subject_id.is_some_and(|s| s.0.to_string() == id)).map(|t| t.title).collect()
}

async fn emails(app: &App, id: &str) -> Vec<String> {
    let subject = SubjectId(id.parse().expect("an id"));
    let rows = app.store.outbox_for(subject).await.expect("outbox");
    rows.into_iter().filter(|o| o.kind == "email").map(|o| o.name).collect()
}

async fn review(app: &App, decision: Decision) {
    let filter = TaskFilter { kind: Some("application_review".into()), limit: 10, ..Default::default() };
    let task: TaskId = app.store.list_tasks(&filter).await.unwrap()[0].id;
    let caller = Caller { token_id: "t".into(), name: "rita".into(), role: Role::Reviewer };
    let actor = Actor { caller: &caller, request_id: "r", now: chrono::Utc::now() };
    decide(app, &actor, task, None, decision, None).await.expect("decided");
}

async fn an_applicant_withdraws_by_email(t: TestStore) {
    let app = t.app();
    let first = ingest(&app, &sample()).await;
    assert_eq!(first.state.as_deref(), Some("pending_review"), "{first:?}");
    let id = first.application_id.clone().unwrap();
    let r = ingest(
        &app,
        &reply("w1@gmail.com", "dpark.dev@gmail.com", "Please withdraw my application, we found another way."),
    )
    .await;
    assert_eq!(r.state.as_deref(), Some("withdrawn"), "{r:?}");
    assert!(emails(&app, &id).await.contains(&"application_withdrawn".to_string()));

    // A reply after that is not lost: a person sees it.
    let after = ingest(&app, &reply("w2@gmail.com", "dpark.dev@gmail.com", "Actually, can we reopen it?")).await;
    assert_eq!(after.outcome, "updated_application", "{after:?}");
    assert!(after.findings.contains(&"reply_to_closed_application".to_string()), "{after:?}");
    assert_eq!(triage_on(&app, &id).await.len(), 1);
}

async fn a_stranger_naming_the_reference_cannot_withdraw(t: TestStore) {
    let app = t.app();
    let first = ingest(&app, &sample()).await;
    let id: uuid::Uuid = first.application_id.clone().unwrap().parse().unwrap();
    let reference = app.store.application(creditline::domain::ApplicationId(id)).await.unwrap().unwrap().reference;
    let raw = format!(
        "Message-ID: <s1@evil.example>\r\nFrom: mallory@evil.example\r\nSubject: [{reference}] cancel\r\n\r\nPlease withdraw the application.\r\n"
    );
    let r = ingest(&app, raw.as_bytes()).await;
    assert_eq!(r.state.as_deref(), Some("pending_review"), "{r:?}");
}

async fn a_reply_to_a_declined_application_reaches_a_person(t: TestStore) {
    let app = t.app();
    let first = ingest(&app, &sample()).await;
    let id = first.application_id.clone().unwrap();
    review(&app, Decision::Decline { reason_code: "other".into(), message: "Not this time.".into() }).await;
    let r =
        ingest(&app, &reply("d1@gmail.com", "dpark.dev@gmail.com", "Why was it declined? We now have revenue.")).await;
    assert_eq!(r.application_id.as_deref(), Some(id.as_str()), "{r:?}");
    assert_eq!(r.state.as_deref(), Some("declined"), "{r:?}");
    assert!(r.findings.contains(&"reapplied_before_re_review".to_string()), "{r:?}");
    assert_eq!(triage_on(&app, &id).await.len(), 1);
}

async fn a_reply_to_an_approved_application_reaches_a_person(t: TestStore) {
    let app = t.app();
    let first = ingest(&app, &sample()).await;
    let id = first.application_id.clone().unwrap();
    let approve = Decision::Approve { monthly_limit: Money::from_cents(15_000), override_reason: None, note: None };
    review(&app, approve).await;
    let r = ingest(&app, &reply("a1@gmail.com", "dpark.dev@gmail.com", "Thanks! When does the line start?")).await;
    assert_eq!(r.state.as_deref(), Some("approved"), "{r:?}");
    assert_eq!(triage_on(&app, &id).await.len(), 1, "a person answers the question");
}

async fn after_a_request_for_information_only_the_requested_items_send_it_back_to_review(t: TestStore) {
    let app = t.app();
    let first = ingest(&app, &sample()).await;
    let id = first.application_id.clone().unwrap();
    let items = vec!["website".to_string(), "product".to_string()];
    review(&app, Decision::RequestInfo { items, message: Some("Please send both.".into()) }).await;

    // A reply with only one of the two: the applicant hears what is still missing.
    let partial = ingest(&app, &reply("r1@gmail.com", "dpark.dev@gmail.com", "Product: Sketchloop for iPad")).await;
    assert_eq!(partial.state.as_deref(), Some("awaiting_materials"), "{partial:?}");
    assert_eq!(partial.missing, vec!["website".to_string()], "{partial:?}");
    let subject = SubjectId(id.parse().unwrap());
    let rows = app.store.outbox_for(subject).await.unwrap();
    let asked: Vec<&serde_json::Value> =
        rows.iter().filter(|o| o.name == "materials_requested").map(|o| &o.payload["missing"]).collect();
    assert_eq!(asked.last().map(|m| m.to_string()), Some(r#"["website"]"#.to_string()), "{asked:?}");

    // A reply with nothing the extraction can read does not send it back either.
    let thanks = ingest(&app, &reply("r2@gmail.com", "dpark.dev@gmail.com", "Thanks, will do tomorrow.")).await;
    assert_eq!(thanks.state.as_deref(), Some("awaiting_materials"), "{thanks:?}");

    // The rest arrives: back to review.
    let done = ingest(&app, &reply("r3@gmail.com", "dpark.dev@gmail.com", "Website: https://sketchloop.app")).await;
    assert_eq!(done.state.as_deref(), Some("pending_review"), "{done:?}");
}

store_suite!(
    after_a_request_for_information_only_the_requested_items_send_it_back_to_review,
    an_applicant_withdraws_by_email,
    a_stranger_naming_the_reference_cannot_withdraw,
    a_reply_to_a_declined_application_reaches_a_person,
    a_reply_to_an_approved_application_reaches_a_person,
);

//! Hostile and broken inbound mail (issue 15): NUL bytes, messages that must never be
//! answered, confirmations our mail server does not vouch for, and accounts a sender only
//! names. Each test drives the real intake over a real store, on SQLite and PostgreSQL.

mod common;

use std::sync::Arc;

use common::TestStore;
use creditline::app::App;
use creditline::config::Config;
use creditline::services::SystemClock;
use creditline::services::inbound::{self, Report};
use creditline::store::TaskFilter;
use serde_json::Value;

fn app_with(ts: &TestStore, authserv_id: Option<&str>) -> Arc<App> {
    let mut config = Config {
        rules_dir: common::repo().join("rules"),
        workflows_dir: common::repo().join("workflows"),
        templates_dir: common::repo().join("templates"),
        ..Default::default()
    };
    config.intake.authserv_id = authserv_id.map(str::to_string);
    App::assemble(config, ts.store.clone(), Arc::new(SystemClock)).expect("assemble the app")
}

/// An enterprise application from `from`, naming `account`, with `headers` above the rest.
fn application(id: &str, from: &str, account: &str, headers: &str) -> Vec<u8> {
    format!(
        "{headers}Message-ID: <{id}>\r\nDate: Tue, 03 Nov 2026 09:14:22 +0000\r\nFrom: {from}\r\nTo: support@wavespeed.ai\r\n\
         Subject: Monthly credit line application - Acme Render Ltd\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         We would like to apply for a monthly credit line.\r\n\r\nAccount email: {account}\r\nApplicant type: Enterprise\r\n\
         Legal company name: Acme Render Ltd\r\nRegistration country: Canada\r\nWebsite: https://acme-render.com\r\n\
         Product: Acme Render, product photos for shops\r\nUse case: batch image generation\r\n\
         Expected monthly usage: around $150\r\nRequested credit line: $200/month\r\n"
    )
    .into_bytes()
}

/// A reply to `in_reply_to` from `from`, with `headers` at the top (as our receiving server
/// adds its own) and the application's reference in the subject.
fn reply(id: &str, in_reply_to: &str, reference: &str, from: &str, headers: &str) -> Vec<u8> {
    format!(
        "{headers}Message-ID: <{id}>\r\nIn-Reply-To: <{in_reply_to}>\r\nDate: Wed, 04 Nov 2026 10:00:00 +0000\r\n\
         From: {from}\r\nTo: support@wavespeed.ai\r\nSubject: Re: confirmation [{reference}]\r\n\r\nConfirmed, this is our application.\r\n"
    )
    .into_bytes()
}

async fn ingest(app: &App, raw: &[u8]) -> Report {
    inbound::ingest(app, "test", raw).await.expect("intake answers")
}

async fn reference(app: &App, report: &Report) -> String {
    let id = report.application_id.as_deref().expect("an application").parse().expect("an id");
    app.store.application(id).await.expect("read").expect("exists").reference
}

async fn outbox_recipients(app: &App, report: &Report) -> Vec<(String, String)> {
    let id: uuid::Uuid = report.application_id.as_deref().expect("an application").parse().expect("an id");
    app.store
        .outbox_for(creditline::domain::SubjectId(id))
        .await
        .expect("outbox")
        .into_iter()
        .filter(|o| o.kind == "email")
        .map(|o| (o.name, o.payload["to"].as_str().unwrap_or_default().to_string()))
        .collect()
}

async fn triage_titles(app: &App) -> Vec<String> {
    let filter = TaskFilter { kind: Some("triage".into()), limit: 100, ..Default::default() };
    app.store.list_tasks(&filter).await.expect("tasks").into_iter().map(|t| t.title).collect()
}

// --- finding 1: NUL bytes ------------------------------------------------------------------

async fn nul_bytes_in_headers_and_body_never_stop_intake(ts: TestStore) {
    let app = ts.app();
    let encoded = b"Message-ID: <nul-1@example.com>\r\nFrom: Ann <ann@nul-one.com>\r\nSubject: =?utf-8?q?credit=00line?=\r\n\r\nplease\r\n".to_vec();
    let mut raw = application("nul-2@example.com", "bo@nul-two.com", "bo@nul-two.com", "");
    raw.extend_from_slice(b"Product: pixel\0tools\r\n");
    let raw_header = b"Message-ID: <nul-3@exa\0mple.com>\r\nFrom: c\0y@nul-three.com\r\nSubject: a\0b credit line\r\n\r\nhi\0there\r\n".to_vec();
    let good = std::fs::read(common::repo().join("tests/corpus/02-base64-individual.eml")).expect("corpus");
    let batch: Vec<(String, Vec<u8>)> =
        [encoded, raw, raw_header, good].into_iter().enumerate().map(|(i, r)| (format!("m{i}"), r)).collect();
    let reports = inbound::ingest_many(&app, &batch).await.expect("one bad message never fails the batch");
    assert_eq!(reports.len(), 4);
    for r in &reports {
        assert!(!r.outcome.is_empty() && r.outcome != "duplicate", "{r:?}");
        assert!(!r.message_id.contains('\0'), "{r:?}");
    }
    assert_eq!(reports[1].outcome, "created_application", "{:?}", reports[1]);
    assert_eq!(reports[3].outcome, "created_application", "{:?}", reports[3]);
    // Kept and stored once: the same bytes again are duplicates, not errors.
    let again = inbound::ingest_many(&app, &batch).await.expect("rerun");
    assert!(again.iter().all(|r| r.outcome == "duplicate"), "{again:?}");
    let one = inbound::ingest(&app, "single", b"From: d@nul-four.com\r\nSubject: x\0y\r\n\r\ncredit line\0\r\n").await;
    assert!(one.is_ok(), "{one:?}");
}

// --- finding 7: never answer automatic mail or ourselves -----------------------------------

async fn mail_from_ourselves_null_return_path_or_a_list_is_never_answered(ts: TestStore) {
    let app = ts.app();
    let cases = [
        application("own-1@wavespeed.ai", "WaveSpeedAI Support <support@wavespeed.ai>", "support@wavespeed.ai", ""),
        application("null-rp@acme-render.com", "ann@acme-render.com", "ann@acme-render.com", "Return-Path: <>\r\n"),
        application(
            "list@acme-render.com",
            "bo@acme-render.com",
            "bo@acme-render.com",
            "List-Id: <ai.lists.example>\r\n",
        ),
    ];
    for raw in cases {
        let r = ingest(&app, &raw).await;
        assert_eq!(r.outcome, "ignored_auto_reply", "{r:?}");
        assert!(r.application_id.is_none(), "{r:?}");
    }
    let all = app.store.list_applications(&Default::default()).await.expect("list");
    assert!(all.is_empty(), "no application (and so no email) for automatic mail: {all:?}");
}

// --- finding 6: an account the sender only names --------------------------------------------

async fn an_account_named_by_another_sender_is_never_mailed_until_its_owner_confirms(ts: TestStore) {
    let app = ts.app();
    let first = ingest(&app, &application("m1@gmail.com", "mallory@gmail.com", "victim@gmail.com", "")).await;
    assert_eq!(first.outcome, "created_application", "{first:?}");
    assert_eq!(first.state.as_deref(), Some("awaiting_account_confirmation"), "{first:?}");
    assert!(first.findings.contains(&"account_email_mismatch".to_string()), "{first:?}");
    let mail = outbox_recipients(&app, &first).await;
    assert!(!mail.is_empty());
    assert!(mail.iter().all(|(_, to)| to == "mallory@gmail.com"), "only the sender is answered: {mail:?}");
    assert!(mail.iter().any(|(name, _)| name == "account_confirmation_request"), "{mail:?}");

    // The sender writing again changes nothing.
    let again = ingest(&app, &reply("m2@gmail.com", "m1@gmail.com", "CL-X", "mallory@gmail.com", "")).await;
    assert_eq!(again.state.as_deref(), Some("awaiting_account_confirmation"), "{again:?}");
    assert!(again.findings.contains(&"account_not_confirmed".to_string()), "{again:?}");

    // The account's owner writes from that address: the application goes on, and says that
    // nothing vouched for the sender (no authserv-id configured).
    let reference = reference(&app, &first).await;
    let owner = ingest(&app, &reply("v1@gmail.com", "nothing@x", &reference, "victim@gmail.com", "")).await;
    assert_eq!(owner.application_id, first.application_id, "{owner:?}");
    assert_ne!(owner.state.as_deref(), Some("awaiting_account_confirmation"), "{owner:?}");
    assert!(owner.findings.contains(&"sender_not_authenticated".to_string()), "{owner:?}");
}

async fn a_colleague_naming_the_company_account_is_answered_and_noted(ts: TestStore) {
    let app = ts.app();
    let r = ingest(&app, &application("c1@acme-render.com", "jean@acme-render.com", "ops@acme-render.com", "")).await;
    assert_eq!(r.state.as_deref(), Some("awaiting_domain_confirmation"), "{r:?}");
    assert!(r.findings.contains(&"account_email_mismatch".to_string()), "{r:?}");
    let mail = outbox_recipients(&app, &r).await;
    assert!(mail.iter().all(|(_, to)| to == "jean@acme-render.com"), "{mail:?}");
}

// --- finding 4: domain confirmation and Authentication-Results -------------------------------

const OURS: &str = "mx.wavespeed.ai";

async fn a_forged_domain_confirmation_is_not_trusted(ts: TestStore) {
    let app = app_with(&ts, Some(OURS));
    // The attacker applies from free mail, then "confirms" with From: set to the company
    // domain, threading on their own message, with a forged passing header below ours.
    let first =
        ingest(&app, &application("a1@acme-render.com", "jean@acme-render.com", "jean@acme-render.com", "")).await;
    assert_eq!(first.state.as_deref(), Some("awaiting_domain_confirmation"), "{first:?}");
    let reference = reference(&app, &first).await;
    let headers = format!(
        "Authentication-Results: {OURS}; dmarc=fail (p=none) header.from=acme-render.com; spf=fail smtp.mailfrom=attacker.example\r\n\
         Authentication-Results: {OURS}; dmarc=pass header.from=acme-render.com\r\n"
    );
    let forged =
        ingest(&app, &reply("f1@acme-render.com", "a1@acme-render.com", &reference, "ceo@acme-render.com", &headers))
            .await;
    assert_eq!(forged.outcome, "updated_application", "{forged:?}");
    assert_eq!(forged.state.as_deref(), Some("awaiting_domain_confirmation"), "not confirmed: {forged:?}");
    assert!(forged.findings.contains(&"sender_authentication_failed".to_string()), "{forged:?}");
    let titles = triage_titles(&app).await;
    assert!(titles.iter().any(|t| t.contains("failed sender authentication")), "a reviewer sees it: {titles:?}");
    let id = first.application_id.as_deref().unwrap().parse().unwrap();
    let evidence = app.store.evidence_for(id).await.unwrap();
    let auth: Vec<&Value> = evidence.iter().filter(|e| e.kind == "sender_authentication").map(|e| &e.data).collect();
    assert_eq!(auth.len(), 1, "{evidence:?}");
    assert_eq!(auth[0]["verdict"], "failed");
    assert!(auth[0]["detail"].as_str().unwrap().contains("dmarc=fail"), "{auth:?}");

    // A header of another server, however good, counts for nothing.
    let other = "Authentication-Results: mx.attacker.example; dmarc=pass header.from=acme-render.com\r\n";
    let r = ingest(&app, &reply("f2@acme-render.com", "a1@acme-render.com", &reference, "ceo@acme-render.com", other))
        .await;
    assert_eq!(r.state.as_deref(), Some("awaiting_domain_confirmation"), "{r:?}");

    // Our server vouching for the company domain confirms it.
    let good = format!(
        "Authentication-Results: {OURS}; dkim=pass header.d=acme-render.com; dmarc=pass header.from=acme-render.com\r\n"
    );
    let r = ingest(&app, &reply("g1@acme-render.com", "a1@acme-render.com", &reference, "cfo@acme-render.com", &good))
        .await;
    assert_eq!(r.outcome, "domain_confirmed", "{r:?}");
    assert!(!r.findings.contains(&"sender_not_authenticated".to_string()), "{r:?}");
}

async fn without_an_authserv_id_a_confirmation_carries_a_finding(ts: TestStore) {
    let app = app_with(&ts, None);
    let first =
        ingest(&app, &application("b1@acme-render.com", "jean@acme-render.com", "jean@acme-render.com", "")).await;
    let reference = reference(&app, &first).await;
    let forged = "Authentication-Results: mx.wavespeed.ai; dmarc=pass header.from=acme-render.com\r\n";
    let r = ingest(&app, &reply("b2@acme-render.com", "b1@acme-render.com", &reference, "cfo@acme-render.com", forged))
        .await;
    assert_eq!(r.outcome, "domain_confirmed", "{r:?}");
    assert!(r.findings.contains(&"sender_not_authenticated".to_string()), "{r:?}");
}

store_suite!(
    nul_bytes_in_headers_and_body_never_stop_intake,
    mail_from_ourselves_null_return_path_or_a_list_is_never_answered,
    an_account_named_by_another_sender_is_never_mailed_until_its_owner_confirms,
    a_colleague_naming_the_company_account_is_answered_and_noted,
    a_forged_domain_confirmation_is_not_trusted,
    without_an_authserv_id_a_confirmation_carries_a_finding,
);

// --- finding 1 through the CLI and the inbox endpoint ----------------------------------------

fn nul_messages(dir: &std::path::Path) -> std::path::PathBuf {
    let folder = dir.join("inbox");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("1-encoded-nul.eml"),
        b"Message-ID: <cli-nul-1@example.com>\r\nFrom: ann@nul-one.com\r\nSubject: =?utf-8?q?a=00question?=\r\n\r\nWhat do your models cost?\r\n",
    )
    .unwrap();
    std::fs::write(
        folder.join("2-raw-nul.eml"),
        b"Message-ID: <cli-nul-2@exa\0mple.com>\r\nFrom: bo@nul-two.com\r\nSubject: credit\0line\r\n\r\nhello\0world credit line\r\n",
    )
    .unwrap();
    std::fs::copy(common::repo().join("tests/corpus/02-base64-individual.eml"), folder.join("3-good.eml")).unwrap();
    folder
}

fn nul_bytes_through_the_cli_and_the_inbox_endpoint(dir: tempfile::TempDir) {
    let folder = nul_messages(dir.path());
    let o = common::run(dir.path(), &["ingest", "--json", folder.to_str().unwrap()]);
    assert!(o.status.success(), "exit {:?}: {}", o.status.code(), common::stderr(&o));
    let reports: Vec<Value> = common::stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(reports.len(), 3, "{reports:?}");
    assert!(reports.iter().all(|r| r["outcome"].as_str().is_some_and(|o| !o.is_empty())), "{reports:?}");
    assert_eq!(reports[2]["outcome"], "created_application");

    let o = common::run(dir.path(), &["tokens", "create", "--name", "gw", "--role", "inbox"]);
    let token = common::stdout(&o).trim().to_string();
    let server = common::serve_with(common::creditline(dir.path()));
    let auth = format!("Bearer {token}");
    let raw = b"Message-ID: <api-nul@example.com>\r\nFrom: cy@nul-three.com\r\nSubject: =?utf-8?q?a=00question?=\r\n\r\nWhat do your models cost?\r\n";
    let r = common::http(
        &server.addr,
        "POST",
        "/api/v1/inbox/messages",
        &[("Authorization", auth.as_str()), ("Content-Type", "message/rfc822")],
        raw,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

black_box_suite!(nul_bytes_through_the_cli_and_the_inbox_endpoint);

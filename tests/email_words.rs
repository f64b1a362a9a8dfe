//! Emails say what is true, in the customer's words (issue 17, item 2): rendered from the
//! outbox rows intake writes, on SQLite and PostgreSQL.

mod common;

use common::TestStore;
use creditline::app::App;
use creditline::domain::SubjectId;
use creditline::email::context::context;
use creditline::intake::{self, Report};

async fn ingest_corpus(app: &App, name: &str) -> Report {
    let raw = std::fs::read(common::repo().join("tests/corpus").join(name)).expect("corpus file");
    intake::ingest(app, "test", &raw).await.expect("intake answers")
}

/// The text and HTML of each email queued for the report's application, by template.
async fn rendered(app: &App, report: &Report) -> Vec<(String, String, String)> {
    let id: uuid::Uuid = report.application_id.as_deref().expect("an application").parse().unwrap();
    let reference = app.store.application(creditline::domain::ApplicationId(id)).await.unwrap().unwrap().reference;
    let rows = app.store.outbox_for(SubjectId(id)).await.unwrap();
    rows.into_iter()
        .filter(|o| o.kind == "email")
        .map(|o| {
            let r = app.templates.render(&o.name, &context(&o.payload, Some(&reference))).expect("renders");
            (o.name, r.text, r.html)
        })
        .collect()
}

/// An enterprise writing from free mail is asked to confirm from its website's domain.
async fn the_domain_confirmation_names_the_company_domain_not_the_free_mail_one(t: TestStore) {
    let app = t.app();
    let r = ingest_corpus(&app, "41-spanish-enterprise-free-mail.eml").await;
    assert_eq!(r.state.as_deref(), Some("awaiting_domain_confirmation"), "{r:?}");
    let emails = rendered(&app, &r).await;
    let (_, text, _) = emails.iter().find(|(n, ..)| n == "domain_confirmation_request").expect("the request");
    assert!(text.contains("solucionesvisuales.es"), "{text}");
    assert!(!text.contains("gmail.com"), "{text}");
    assert!(text.contains("Hello Lucía Ortega"), "greeted by name: {text}");
}

/// A failed website check says why and what would do, never a raw key.
async fn a_failed_website_check_says_why_in_plain_words(t: TestStore) {
    let app = t.app();
    let apply = "Message-ID: <pg1@pixiegen.net>\r\nFrom: Mia Chen <mia@pixiegen.net>\r\nSubject: Credit line application\r\n\r\n\
        Account email: mia@pixiegen.net\nApplicant type: enterprise\nLegal company name: PixieGen Ltd\n\
        Registration country: Ireland\nWebsite: https://www.producthunt.com/products/pixiegen\n\
        Product: PixieGen, avatar maker\nUse case: avatar generation\nExpected monthly usage: $100\n\
        Requested credit line: $100/month\nBusiness contact: this email\n";
    let first = intake::ingest(&app, "test", apply.as_bytes()).await.unwrap();
    assert_eq!(first.state.as_deref(), Some("awaiting_domain_confirmation"), "{first:?}");
    let confirm = "Message-ID: <pg2@pixiegen.net>\r\nIn-Reply-To: <pg1@pixiegen.net>\r\nFrom: Tom Chen <tom@pixiegen.net>\r\n\
        Subject: Re: confirmation\r\n\r\nConfirmed.\r\n";
    let r = intake::ingest(&app, "test", confirm.as_bytes()).await.unwrap();
    assert_eq!(r.state.as_deref(), Some("awaiting_materials"), "the website does not verify: {r:?}");
    let emails = rendered(&app, &r).await;
    let (_, text, html) = emails.iter().rfind(|(n, ..)| n == "materials_requested").expect("a materials request");
    assert!(text.contains("a profile on a tool directory is not enough by itself"), "{text}");
    assert!(!text.contains("tool_directory_website"), "{text}");
    assert!(html.contains("tool directory"), "{html}");
    assert!(text.contains("Hello Tom Chen"), "the one who wrote is greeted: {text}");
}

/// Missing materials are listed in words.
async fn missing_materials_are_listed_in_words(t: TestStore) {
    let app = t.app();
    let r = ingest_corpus(&app, "27-materials-missing.eml").await;
    assert_eq!(r.state.as_deref(), Some("awaiting_materials"), "{r:?}");
    let emails = rendered(&app, &r).await;
    let (_, text, _) = emails.iter().find(|(n, ..)| n == "materials_requested").expect("a materials request");
    for key in &r.missing {
        assert!(!text.contains(&format!("- {key}\n")), "raw key {key} in: {text}");
    }
    assert!(text.contains("your") || text.contains("the "), "{text}");
}

/// A deferral tells the applicant until when and what would change it, never the reviewer's
/// internal reason.
async fn a_deferral_shows_until_and_condition_not_the_internal_reason(t: TestStore) {
    use creditline::domain::Role;
    use creditline::services::access::Caller;
    use creditline::services::actions::Actor;
    use creditline::services::decisions::{Decision, decide};
    use creditline::store::TaskFilter;
    let app = t.app();
    let raw = std::fs::read(common::repo().join("../shared/samples/inbox/02-individual-with-product.eml")).unwrap();
    let r = intake::ingest(&app, "test", &raw).await.unwrap();
    let filter = TaskFilter { kind: Some("application_review".into()), limit: 10, ..Default::default() };
    let task = app.store.list_tasks(&filter).await.unwrap()[0].id;
    let caller = Caller { token_id: "t".into(), name: "rita".into(), role: Role::Reviewer };
    let actor = Actor { caller: &caller, request_id: "r", now: chrono::Utc::now() };
    let until = chrono::Utc::now().date_naive() + chrono::Duration::days(90);
    let defer = Decision::Defer {
        until: Some(until),
        condition: Some("three months of prepaid top-ups".into()),
        reason: "internal: aws account too new, risk score 7".into(),
    };
    decide(&app, &actor, task, None, defer, None).await.unwrap();
    let emails = rendered(&app, &r).await;
    let (_, text, html) = emails.iter().find(|(n, ..)| n == "application_deferred").expect("the deferral email");
    assert!(text.contains(&until.to_string()) && text.contains("three months of prepaid top-ups"), "{text}");
    assert!(!text.contains("risk score") && !html.contains("risk score"), "{text}");
}

store_suite!(
    a_deferral_shows_until_and_condition_not_the_internal_reason,
    the_domain_confirmation_names_the_company_domain_not_the_free_mail_one,
    a_failed_website_check_says_why_in_plain_words,
    missing_materials_are_listed_in_words,
);

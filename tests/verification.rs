//! Verification as the policy reads it (issue 23, items 1–5), through intake on SQLite and
//! PostgreSQL: what an applicant sends, what state the application reaches, what the reviewer
//! sees and what the applicant is asked for (rendered emails).

mod common;

use common::TestStore;
use creditline::app::App;
use creditline::domain::{ApplicationId, SubjectId};
use creditline::email::context::context;
use creditline::services::inbound::{self, Report};

async fn ingest(app: &App, raw: &str) -> Report {
    inbound::ingest(app, "test", raw.as_bytes()).await.expect("intake answers")
}

fn id_of(r: &Report) -> uuid::Uuid {
    r.application_id.as_deref().expect("an application").parse().expect("a uuid")
}

/// The text of each email queued for the report's application, by template, oldest first.
async fn emails(app: &App, r: &Report) -> Vec<(String, String)> {
    let id = id_of(r);
    let reference = app.store.application(ApplicationId(id)).await.unwrap().unwrap().reference;
    let rows = app.store.outbox_for(SubjectId(id)).await.unwrap();
    rows.into_iter()
        .filter(|o| o.kind == "email")
        .map(|o| {
            let rendered = app.templates.render(&o.name, &context(&o.payload, Some(&reference))).expect("renders");
            (o.name, rendered.text)
        })
        .collect()
}

/// The last materials request's text.
async fn last_request(app: &App, r: &Report) -> String {
    let all = emails(app, r).await;
    all.into_iter().rfind(|(n, _)| n == "materials_requested").map(|(_, t)| t).expect("a materials request")
}

/// The reviewer's view of the application (what `applications show` and the API return).
async fn view(app: &App, r: &Report) -> serde_json::Value {
    let record = app.store.application(ApplicationId(id_of(r))).await.unwrap().unwrap();
    creditline::services::views::application(app.store.as_ref(), &record).await.unwrap()
}

fn has(r: &Report, finding: &str) -> bool {
    r.findings.iter().any(|f| f == finding)
}

/// Item 1. Policy ("Credit Line Review"): "Individual user with a product: Product
/// information, website, app download link, or other verifiable project materials." A demo
/// video and a repository, with no website, verify the individual; the finding names them.
async fn an_individual_with_a_demo_video_and_a_repository_is_verified_on_them(t: TestStore) {
    let app = t.app();
    let r = ingest(
        &app,
        "Message-ID: <i1@gmail.com>\r\nFrom: Ola Berg <ola.berg.dev@gmail.com>\r\nSubject: Credit line application\r\n\r\n\
         I'm applying as an individual.\n\
         Account email: ola.berg.dev@gmail.com\nProduct: Clipwise, turns lectures into short clips\n\
         Here is a walkthrough https://youtu.be/Cl1pw1se and the code https://github.com/olaberg/clipwise\n\
         Expected monthly usage: $60\nRequested credit line: $100/month\n",
    )
    .await;
    assert_eq!(r.state.as_deref(), Some("pending_review"), "{r:?}");
    assert!(has(&r, "project_material_demo_video") && has(&r, "project_material_repository"), "{r:?}");
    // The repository was not taken for a website of the applicant's own.
    let v = view(&app, &r).await;
    assert!(!v["fields"].as_array().unwrap().iter().any(|f| f["field"] == "website"), "{v}");
}

/// Item 1. Policy ("Business Verification"): "a subpage hosted under a generic deployment
/// platform, or a tool-directory profile is usually not enough by itself." Kept apart: such
/// links are named as what they are and never count as project material.
async fn deployment_pages_and_directory_profiles_are_not_project_material(t: TestStore) {
    let app = t.app();
    let r = ingest(
        &app,
        "Message-ID: <i2@gmail.com>\r\nFrom: Kai Roth <kai.roth.dev@gmail.com>\r\nSubject: Credit line application\r\n\r\n\
         I'm applying as an individual.\nAccount email: kai.roth.dev@gmail.com\nProduct: Sketchify\n\
         Website: https://sketchify.vercel.app\nListed at https://www.producthunt.com/products/sketchify\n\
         Expected monthly usage: $60\nRequested credit line: $100/month\n",
    )
    .await;
    assert!(has(&r, "generic_platform_website") && has(&r, "tool_directory_website"), "{r:?}");
    assert!(!r.findings.iter().any(|f| f.starts_with("project_material_")), "{r:?}");
}

/// Item 2. Policy: "Enterprise applicants should contact WaveSpeedAI from an email address
/// associated with the company domain, not from a personal email address", and "a
/// confirmation reply from a company domain email". An enterprise that applied from a
/// personal account and then confirmed from its company domain is verified against that
/// domain: it goes to review, and the free-mail account is a finding for the reviewer.
async fn an_enterprise_confirmed_from_its_domain_is_verified_against_it(t: TestStore) {
    let app = t.app();
    let first = ingest(
        &app,
        "Message-ID: <e1@gmail.com>\r\nFrom: Ana Costa <ana.costa.rv@gmail.com>\r\nSubject: Credit line application\r\n\r\n\
         Account email: ana.costa.rv@gmail.com\nApplicant type: Enterprise\nLegal company name: Riverline Media Ltd\n\
         Registration country: Portugal\nWebsite: https://riverline.media\nProduct: Riverline Studio, ad videos\n\
         Use case: short product videos\nExpected monthly usage: $150\nRequested credit line: $200/month\n",
    )
    .await;
    assert_eq!(first.state.as_deref(), Some("awaiting_domain_confirmation"), "{first:?}");
    let confirm = ingest(
        &app,
        "Message-ID: <e2@riverline.media>\r\nIn-Reply-To: <e1@gmail.com>\r\nFrom: Rui Costa <rui@riverline.media>\r\n\
         Subject: Re: Please confirm\r\n\r\nConfirmed, Ana applies for Riverline Media.\r\n",
    )
    .await;
    assert_eq!(confirm.outcome, "domain_confirmed", "{confirm:?}");
    assert_eq!(confirm.state.as_deref(), Some("pending_review"), "not looped back to materials: {confirm:?}");
    assert!(has(&confirm, "account_email_free_mail"), "{confirm:?}");
    assert!(!has(&confirm, "free_mail_domain"), "{confirm:?}");
    assert!(!emails(&app, &confirm).await.iter().any(|(n, _)| n == "materials_requested"));
    // The decision recorded for the reviewer checked the confirmed address.
    let v = view(&app, &confirm).await;
    let bv = v["decisions"].as_array().unwrap().iter().rev().find(|d| d["rule"] == "business_verification").unwrap();
    assert_eq!(bv["outcome"], "pass", "{bv}");
    assert_eq!(bv["input"]["contact_email"], "rui@riverline.media", "{bv}");
}

/// Item 3. Policy: "Existing AWS account information ... when applicable" and "Applicants
/// should use an existing AWS account with normal usage history when applying through AWS
/// login". Without AWS login, no AWS account is no concern.
async fn no_aws_account_is_no_concern_without_aws_login(t: TestStore) {
    let app = t.app();
    let r = ingest(
        &app,
        "Message-ID: <a1@gmail.com>\r\nFrom: Li Wei <li.wei.apps@gmail.com>\r\nSubject: Credit line application\r\n\r\n\
         I'm applying as an individual.\nAccount email: li.wei.apps@gmail.com\nProduct: Petpix, pet portraits\n\
         Website: https://petpix.app\nExpected monthly usage: $60\nRequested credit line: $100/month\n",
    )
    .await;
    assert_eq!(r.state.as_deref(), Some("pending_review"), "{r:?}");
    assert!(!has(&r, "aws_account_not_provided"), "{r:?}");
    let v = view(&app, &r).await;
    let aws = v["decisions"].as_array().unwrap().iter().rev().find(|d| d["rule"] == "aws_history").unwrap();
    assert_eq!(aws["outcome"], "pass", "{aws}");
}

/// Item 3. Policy (How to Request Review): "Your existing AWS account information and recent
/// AWS billing records, when applicable". An applicant through AWS login is asked for both.
async fn an_aws_login_applicant_is_asked_for_the_account_and_billing_records(t: TestStore) {
    let app = t.app();
    let r = ingest(
        &app,
        "Message-ID: <a2@gmail.com>\r\nFrom: Sam Ito <sam.ito.dev@gmail.com>\r\nSubject: Credit line application\r\n\r\n\
         I sign in with AWS login and apply as an individual.\nAccount email: sam.ito.dev@gmail.com\n\
         Product: Tunebox, music loops\nWebsite: https://tunebox.app\nRequested credit line: $100/month\n",
    )
    .await;
    assert_eq!(r.state.as_deref(), Some("awaiting_materials"), "{r:?}");
    for key in ["aws_account", "aws_billing_records", "expected_monthly_spend"] {
        assert!(r.missing.iter().any(|m| m == key), "{key} in {r:?}");
    }
    let text = last_request(&app, &r).await;
    assert!(text.contains("the AWS account you sign in with"), "{text}");
    assert!(text.contains("your recent AWS billing records"), "{text}");
    assert!(!text.contains("aws_billing_records"), "never a key: {text}");
}

/// Item 3: the reply that brings the AWS account and a billing CSV (recent AWS billing
/// records) moves the AWS-login applicant on; the billing months are evidence for the reviewer.
async fn an_aws_login_applicant_goes_on_with_the_account_and_a_billing_csv(t: TestStore) {
    let app = t.app();
    let first = ingest(
        &app,
        "Message-ID: <b1@gmail.com>\r\nFrom: Sam Ito <sam.ito.dev@gmail.com>\r\nSubject: Credit line application\r\n\r\n\
         I sign in with AWS login and apply as an individual.\nAccount email: sam.ito.dev@gmail.com\n\
         Product: Tunebox, music loops\nWebsite: https://tunebox.app\nRequested credit line: $100/month\n\
         Expected monthly usage: $60\n",
    )
    .await;
    assert_eq!(first.missing, vec!["aws_account".to_string(), "aws_billing_records".to_string()], "{first:?}");
    let csv = "\"InvoiceID\",\"PayerAccountId\",\"BillingPeriodStartDate\",\"TotalAmount\",\"CurrencyCode\"\n\
               \"I-1\",\"482199371204\",\"2026/08/01\",\"310.55\",\"USD\"\n\
               \"I-2\",\"482199371204\",\"2026/09/01\",\"280.10\",\"USD\"\n\
               \"I-3\",\"482199371204\",\"2026/10/01\",\"295.00\",\"USD\"\n";
    // The billing records first: only the account is still asked for.
    let reply = format!(
        "Message-ID: <b2@gmail.com>\r\nIn-Reply-To: <b1@gmail.com>\r\nFrom: Sam Ito <sam.ito.dev@gmail.com>\r\n\
         Subject: Re: materials\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe bills are attached.\r\n\
         --b\r\nContent-Type: text/csv; name=\"aws-billing.csv\"\r\n\
         Content-Disposition: attachment; filename=\"aws-billing.csv\"\r\n\r\n{csv}\r\n--b--\r\n"
    );
    let r = ingest(&app, &reply).await;
    assert_eq!(r.state.as_deref(), Some("awaiting_materials"), "{r:?}");
    assert_eq!(r.missing, vec!["aws_account".to_string()], "{r:?}");
    // Then the account: the billing sent before counts for the AWS history check.
    let r = ingest(
        &app,
        "Message-ID: <b3@gmail.com>\r\nIn-Reply-To: <b1@gmail.com>\r\nFrom: Sam Ito <sam.ito.dev@gmail.com>\r\n\
         Subject: Re: materials\r\n\r\nAWS account: 4821-9937-1204, opened May 2020, in good standing\r\n",
    )
    .await;
    assert_eq!(r.state.as_deref(), Some("pending_review"), "{r:?}");
    assert!(!has(&r, "aws_billing_not_provided"), "{r:?}");
    let v = view(&app, &r).await;
    let aws = v["decisions"].as_array().unwrap().iter().rev().find(|d| d["rule"] == "aws_history").unwrap();
    assert_eq!(aws["input"]["recent_monthly_billing_cents"], serde_json::json!([31055, 28010, 29500]), "{aws}");
    let field = v["fields"].as_array().unwrap().iter().find(|f| f["field"] == "aws_billing_records").cloned();
    assert_eq!(field.expect("recorded with provenance")["excerpt"], "attached: aws-billing.csv");
}

/// Item 4. Policy: "Individual user without a product or project: ... Not available", and
/// for an individual with a product: "Product information, website, app download link, or
/// other verifiable project materials". Nobody is closed for an omission: asked first, closed
/// on a statement that there is none.
async fn an_individual_naming_no_product_is_asked_then_closed_on_a_statement(t: TestStore) {
    let app = t.app();
    let first = ingest(
        &app,
        "Message-ID: <n1@gmail.com>\r\nFrom: Eli Park <eli.park.dev@gmail.com>\r\nSubject: Credit line application\r\n\r\n\
         I'm applying as an individual.\nAccount email: eli.park.dev@gmail.com\nRequested credit line: $100/month\n",
    )
    .await;
    assert_eq!(first.state.as_deref(), Some("awaiting_materials"), "not closed for an omission: {first:?}");
    assert!(first.missing.iter().any(|m| m == "product") && first.missing.iter().any(|m| m == "app_link"));
    let text = last_request(&app, &first).await;
    assert!(text.contains("what your product or project is"), "{text}");
    assert!(text.contains("a repository, a demo video, a paper, a marketplace listing"), "{text}");
    assert!(!emails(&app, &first).await.iter().any(|(n, _)| n == "prepaid_path"));

    let reply = ingest(
        &app,
        "Message-ID: <n2@gmail.com>\r\nIn-Reply-To: <n1@gmail.com>\r\nFrom: Eli Park <eli.park.dev@gmail.com>\r\n\
         Subject: Re: materials\r\n\r\nSorry, I don't have a product yet, just experimenting.\r\n",
    )
    .await;
    assert_eq!(reply.state.as_deref(), Some("closed_prepaid"), "{reply:?}");
    assert!(emails(&app, &reply).await.iter().any(|(n, _)| n == "prepaid_path"));
}

/// Item 4: the same applicant answering with product materials goes on to review.
async fn an_individual_asked_for_a_product_goes_on_when_it_comes(t: TestStore) {
    let app = t.app();
    let first = ingest(
        &app,
        "Message-ID: <p1@gmail.com>\r\nFrom: Eli Park <eli.park.dev@gmail.com>\r\nSubject: Credit line application\r\n\r\n\
         I'm applying as an individual.\nAccount email: eli.park.dev@gmail.com\nRequested credit line: $100/month\n\
         Expected monthly usage: $50\n",
    )
    .await;
    assert_eq!(first.state.as_deref(), Some("awaiting_materials"), "{first:?}");
    let reply = ingest(
        &app,
        "Message-ID: <p2@gmail.com>\r\nIn-Reply-To: <p1@gmail.com>\r\nFrom: Eli Park <eli.park.dev@gmail.com>\r\n\
         Subject: Re: materials\r\n\r\nProduct: Loopcraft, a Chrome extension for GIF loops\n\
         Store listing: https://chromewebstore.google.com/detail/loopcraft/abcdefghijklmnop\r\n",
    )
    .await;
    assert_eq!(reply.state.as_deref(), Some("pending_review"), "{reply:?}");
    assert_eq!(reply.applicant_type.as_deref(), Some("individual_with_product"), "{reply:?}");
}

/// Item 5. Policy ("Business Verification"): the materials "may include ... Main business
/// activity". An enterprise missing materials is asked for it too, in words; the reply's
/// answer is read and shown to the reviewer with where it came from.
async fn an_enterprise_is_asked_for_its_main_business_activity_and_the_reviewer_sees_it(t: TestStore) {
    let app = t.app();
    let first = ingest(
        &app,
        "Message-ID: <m1@quillworks.io>\r\nFrom: Ops <ops@quillworks.io>\r\nSubject: Credit line application\r\n\r\n\
         Applicant type: Enterprise\nAccount email: ops@quillworks.io\nLegal company name: Quillworks Ltd\n\
         Website: https://quillworks.io\nRequested credit line: $200/month\n",
    )
    .await;
    assert_eq!(first.state.as_deref(), Some("awaiting_materials"), "{first:?}");
    assert!(first.missing.iter().any(|m| m == "main_business_activity"), "{first:?}");
    let text = last_request(&app, &first).await;
    assert!(text.contains("your main business activity"), "{text}");

    let reply = ingest(
        &app,
        "Message-ID: <m2@quillworks.io>\r\nIn-Reply-To: <m1@quillworks.io>\r\nFrom: Ops <ops@quillworks.io>\r\n\
         Subject: Re: materials\r\n\r\nRegistration country: United Kingdom\nProduct: Quill, AI copy for shops\n\
         Use case: product descriptions\nExpected monthly usage: $150\n\
         Main business activity: e-commerce copywriting software\r\n",
    )
    .await;
    assert_eq!(reply.state.as_deref(), Some("awaiting_domain_confirmation"), "{reply:?}");
    let v = view(&app, &reply).await;
    let field = v["fields"].as_array().unwrap().iter().find(|f| f["field"] == "main_business_activity").cloned();
    let field = field.expect("the reviewer sees the main business activity");
    assert_eq!(field["value"], "e-commerce copywriting software");
    assert_eq!(field["message_id"], "m2@quillworks.io");
    assert_eq!(v["details"]["main_business_activity"], "e-commerce copywriting software", "{v}");
}

/// Item 5: a complete enterprise application is not held up for the main business activity
/// (the "Credit Line Review" table does not list it; verification "may request" it).
async fn a_complete_enterprise_is_not_held_up_for_its_main_business_activity(t: TestStore) {
    let app = t.app();
    let raw =
        std::fs::read_to_string(common::repo().join("../shared/samples/inbox/01-enterprise-complete.eml")).unwrap();
    let r = ingest(&app, &raw).await;
    assert_eq!(r.state.as_deref(), Some("awaiting_domain_confirmation"), "{r:?}");
    assert_eq!(r.missing, vec!["company_domain_confirmation".to_string()], "{r:?}");
}

store_suite!(
    an_individual_with_a_demo_video_and_a_repository_is_verified_on_them,
    deployment_pages_and_directory_profiles_are_not_project_material,
    an_enterprise_confirmed_from_its_domain_is_verified_against_it,
    no_aws_account_is_no_concern_without_aws_login,
    an_aws_login_applicant_is_asked_for_the_account_and_billing_records,
    an_aws_login_applicant_goes_on_with_the_account_and_a_billing_csv,
    an_individual_naming_no_product_is_asked_then_closed_on_a_statement,
    an_individual_asked_for_a_product_goes_on_when_it_comes,
    an_enterprise_is_asked_for_its_main_business_activity_and_the_reviewer_sees_it,
    a_complete_enterprise_is_not_held_up_for_its_main_business_activity,
);

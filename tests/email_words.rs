//! Emails say what is true, in the customer's words (issue 17, item 2): rendered from the
//! outbox rows intake writes, on SQLite and PostgreSQL.

mod common;

use common::TestStore;
use creditline::app::App;
use creditline::domain::SubjectId;
use creditline::email::context::context;
use creditline::services::inbound::{self, Report};

async fn ingest_corpus(app: &App, name: &str) -> Report {
    let raw = std::fs::read(common::repo().join("tests/corpus").join(name)).expect("corpus file");
    inbound::ingest(app, "test", &raw).await.expect("intake answers")
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

/// A profile on a tool directory or a page on a deployment platform is not the company's
/// domain: the confirmation is asked from the account address's domain (found by the
/// simulation: applicants with a futurepedia.io profile were asked to write from
/// futurepedia.io).
async fn a_directory_or_platform_website_is_not_the_company_domain(t: TestStore) {
    let app = t.app();
    for (n, site) in [(1, "https://www.producthunt.com/products/pixiegen"), (2, "https://pixiegen.vercel.app/")] {
        let apply = format!(
            "Message-ID: <pd{n}@pixiegen{n}.net>\r\nFrom: Mia Chen <mia@pixiegen{n}.net>\r\n\
             Subject: Credit line application\r\n\r\n\
             Account email: mia@pixiegen{n}.net\nApplicant type: enterprise\nLegal company name: PixieGen Ltd\n\
             Registration country: Ireland\nWebsite: {site}\nProduct: PixieGen, avatar maker\n\
             Use case: avatar generation\nExpected monthly usage: $100\nRequested credit line: $100/month\n\
             Business contact: this email\n"
        );
        let r = inbound::ingest(&app, "test", apply.as_bytes()).await.unwrap();
        assert_eq!(r.state.as_deref(), Some("awaiting_domain_confirmation"), "{r:?}");
        let emails = rendered(&app, &r).await;
        let (_, text, html) = emails.iter().find(|(n, ..)| n == "domain_confirmation_request").expect("the request");
        assert!(text.contains(&format!("your company's domain (pixiegen{n}.net)")), "{text}");
        assert!(!text.contains("producthunt.com") && !text.contains("vercel.app"), "{text}");
        assert!(html.contains(&format!("pixiegen{n}.net")), "{html}");
    }
}

/// A failed website check says why and what would do, never a raw key.
async fn a_failed_website_check_says_why_in_plain_words(t: TestStore) {
    let app = t.app();
    let apply = "Message-ID: <pg1@pixiegen.net>\r\nFrom: Mia Chen <mia@pixiegen.net>\r\nSubject: Credit line application\r\n\r\n\
        Account email: mia@pixiegen.net\nApplicant type: enterprise\nLegal company name: PixieGen Ltd\n\
        Registration country: Ireland\nWebsite: https://www.producthunt.com/products/pixiegen\n\
        Product: PixieGen, avatar maker\nUse case: avatar generation\nExpected monthly usage: $100\n\
        Requested credit line: $100/month\nBusiness contact: this email\n";
    let first = inbound::ingest(&app, "test", apply.as_bytes()).await.unwrap();
    assert_eq!(first.state.as_deref(), Some("awaiting_domain_confirmation"), "{first:?}");
    let confirm = "Message-ID: <pg2@pixiegen.net>\r\nIn-Reply-To: <pg1@pixiegen.net>\r\nFrom: Tom Chen <tom@pixiegen.net>\r\n\
        Subject: Re: confirmation\r\n\r\nConfirmed.\r\n";
    let r = inbound::ingest(&app, "test", confirm.as_bytes()).await.unwrap();
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
    let r = inbound::ingest(&app, "test", &raw).await.unwrap();
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

// --- billing emails ---------------------------------------------------------------------------

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use creditline::domain::{EmailAddress, Money, Period};
use creditline::services::billing::{close, gate};
use creditline::services::ledger::Ledger;
use creditline::services::{ManualClock, reminders};

fn clocked(t: &TestStore, at: DateTime<Utc>) -> (Arc<App>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(at));
    let config = creditline::config::Config {
        rules_dir: common::repo().join("rules"),
        workflows_dir: common::repo().join("workflows"),
        templates_dir: common::repo().join("templates"),
        ..Default::default()
    };
    (App::assemble(config, t.store.clone(), clock.clone()).unwrap(), clock)
}

fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, s).unwrap()
}

/// The subject and text of each email queued for `subject`, by template, oldest first.
async fn emails_of(app: &App, subject: SubjectId) -> Vec<(String, String, String)> {
    app.store
        .outbox_for(subject)
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.kind == "email")
        .map(|o| {
            let r = app.templates.render(&o.name, &context(&o.payload, None)).unwrap_or_else(|e| panic!("{e}"));
            (o.name, r.subject, r.text)
        })
        .collect()
}

fn named<'a>(emails: &'a [(String, String, String)], template: &str) -> Vec<&'a (String, String, String)> {
    emails.iter().filter(|(n, ..)| n == template).collect()
}

/// A line of $500 that used $150 in October 2026, with October closed on 1 November.
async fn october_bill(app: &App, clock: &ManualClock, account: &str) -> SubjectId {
    clock.set(at(2026, 10, 1, 9, 0, 0));
    let line = common::open_credit_line(app, account, 50_000).await;
    clock.set(at(2026, 10, 15, 9, 0, 0));
    Ledger::new(app).debit(&EmailAddress::parse(account).unwrap(), Money::from_cents(15_000), "oct").await.unwrap();
    clock.set(at(2026, 11, 1, 0, 30, 0));
    let report = close(app, Period::new(2026, 10).unwrap(), None).await.unwrap();
    assert!(report.billed >= 1, "{report:?}");
    line
}

/// Issue 17: a bill's emails give the last day to pay (billing.due_days = 10: 10 November for
/// October), not the first day it is late, and the month in words; the line is gated only
/// after that last day (policy: "To receive or continue a credit line for the next month, the
/// account must complete payment for the previous month's bill").
async fn a_bill_gives_the_last_day_to_pay_and_the_month_in_words(t: TestStore) {
    let (app, clock) = clocked(&t, at(2026, 10, 1, 9, 0, 0));
    let line = october_bill(&app, &clock, "ops@lastday.io").await;
    let emails = emails_of(&app, line).await;
    let (_, subject, text) = named(&emails, "bill_issued")[0];
    assert!(subject.contains("October 2026") && !subject.contains("2026-10"), "{subject}");
    assert!(text.contains("The last day to pay it\nis 2026-11-10"), "{text}");
    assert!(!text.contains("2026-11-11") && !text.contains("2026-10"), "{text}");
    assert!(text.contains("Top Up page") && text.contains("\"bill\npayment\""), "says how to pay: {text}");

    // Through the last day to pay the line is left alone; the first instant after it, gated.
    clock.set(at(2026, 11, 10, 23, 59, 59));
    assert!(gate(&app).await.unwrap().moved.is_empty(), "not overdue on its last day");
    clock.set(at(2026, 11, 11, 0, 0, 1));
    let moved = gate(&app).await.unwrap().moved;
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0].2, "grace");
    let emails = emails_of(&app, line).await;
    let (_, subject, text) = named(&emails, "payment_reminder")[0];
    assert!(subject.starts_with("Overdue: your bill for October 2026"), "{subject}");
    assert!(text.contains("The last day to pay\nit was 2026-11-10"), "{text}");
    assert!(!text.contains("2026-11-11") && !text.contains("2026-10\n"), "{text}");

    // Unpaid long enough to pause, its email names the month in words too.
    clock.set(at(2026, 11, 20, 12, 0, 0));
    let moved = gate(&app).await.unwrap().moved;
    assert_eq!(moved.first().map(|m| m.2.as_str()), Some("paused"), "{moved:?}");
    let emails = emails_of(&app, line).await;
    let (_, _, text) = named(&emails, "line_paused")[0];
    assert!(text.contains("the bill for October 2026 is unpaid"), "{text}");
}

/// Issue 17: an unpaid bill gets one payment reminder `billing.remind_days_before` (3) days
/// before its last day to pay, with the amount, the last day and the month; never twice, not
/// from two scanners at once, not for a paid bill.
async fn an_unpaid_bill_is_reminded_once_before_its_last_day(t: TestStore) {
    let (app, clock) = clocked(&t, at(2026, 10, 1, 9, 0, 0));
    let unpaid = october_bill(&app, &clock, "ops@forgetful.io").await;
    let paid = october_bill(&app, &clock, "ops@prompt.io").await;
    creditline::services::billing::pay(
        &app,
        &EmailAddress::parse("ops@prompt.io").unwrap(),
        Money::from_cents(15_000),
        "stripe",
        "pi_prompt",
    )
    .await
    .unwrap();
    let reminders_of = |line| {
        let app = app.clone();
        async move { named(&emails_of(&app, line).await, "payment_reminder").into_iter().cloned().collect::<Vec<_>>() }
    };

    clock.set(at(2026, 11, 6, 23, 0, 0));
    assert_eq!(reminders::scan(&app).await.unwrap().bills_reminded, 0, "four days before the last day: not yet");
    clock.set(at(2026, 11, 7, 8, 0, 0));
    let (a, b) = tokio::join!(reminders::scan(&app), reminders::scan(&app));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.bills_reminded + b.bills_reminded, 1, "two scanners at once remind once: {a:?} {b:?}");
    clock.set(at(2026, 11, 9, 8, 0, 0));
    assert_eq!(reminders::scan(&app).await.unwrap().bills_reminded, 0, "once per bill");

    let sent = reminders_of(unpaid).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (_, subject, text) = &sent[0];
    assert_eq!(subject, "Payment reminder: $150.00 to pay by 2026-11-10");
    assert!(
        text.contains("Your bill for October 2026 ($150.00) is not paid yet. The last day to pay\nit is 2026-11-10"),
        "{text}"
    );
    assert!(reminders_of(paid).await.is_empty(), "a paid bill is not reminded of");
    assert_eq!(app.store.credit_line(unpaid).await.unwrap().unwrap().state, "active", "a reminder moves nothing");
}

/// `billing.remind_days_before` is a strict key with a default: 3 days, set by file or
/// environment, refused when misspelt or out of range.
#[test]
fn the_reminder_lead_time_is_a_strict_setting_with_a_default() {
    use creditline::config::Config;
    let load = |k: &str, v: &str| Config::load_from(None, [(k.to_string(), v.to_string())]);
    assert_eq!(Config::default().billing.remind_days_before, 3);
    assert_eq!(load("CREDITLINE_BILLING__REMIND_DAYS_BEFORE", "5").unwrap().billing.remind_days_before, 5);
    let e = load("CREDITLINE_BILLING__REMIND_DAY_BEFORE", "5").unwrap_err().to_string();
    assert!(e.contains("remind_day_before"), "{e}");
    let e = load("CREDITLINE_BILLING__REMIND_DAYS_BEFORE", "40").unwrap_err().to_string();
    assert!(e.contains("at most 31"), "{e}");
    assert!(load("CREDITLINE_BILLING__REMIND_DAYS_BEFORE", "-1").is_err());
}

/// Issue 17: the email that closes a line says what is still owed, bill by bill, how to pay
/// it, and that prepaid access stays (policy: "WaveSpeedAI may pause, reduce, or decline the
/// next month's credit line if the previous bill is unpaid"; "A declined or deferred credit
/// line review does not prevent the applicant from using WaveSpeedAI").
async fn a_closed_line_says_what_is_owed_how_to_pay_and_that_prepaid_stays(t: TestStore) {
    use creditline::domain::Role;
    use creditline::services::access::Caller;
    use creditline::services::actions::{Actor, ManualEvent, post_event};
    let (app, clock) = clocked(&t, at(2026, 10, 1, 9, 0, 0));
    let line = october_bill(&app, &clock, "ops@gone.io").await;
    // Declined by gating after 60 days unpaid.
    clock.set(at(2027, 1, 20, 12, 0, 0));
    gate(&app).await.unwrap();
    assert_eq!(app.store.credit_line(line).await.unwrap().unwrap().state, "closed");
    let emails = emails_of(&app, line).await;
    let (_, _, text) = named(&emails, "line_closed")[0];
    assert!(
        text.contains("Still to pay: $150.00, for\n  - October 2026: $150.00 (last day to pay 2026-11-10)"),
        "{text}"
    );
    assert!(text.contains("Top Up page") && text.contains("bank transfer"), "{text}");
    assert!(text.contains("prepaid access"), "{text}");

    // Closed by an admin, nothing owed: it says so.
    let other = common::open_credit_line(&app, "ops@quiet.io", 20_000).await;
    let caller = Caller { token_id: "t".into(), name: "ada".into(), role: Role::Admin };
    let actor = Actor { caller: &caller, request_id: "r", now: creditline::services::Clock::now(clock.as_ref()) };
    let e = ManualEvent {
        subject: other,
        event: "close".into(),
        reason: "closed at the account's request".into(),
        expected_version: None,
        data: Default::default(),
    };
    post_event(&app, &actor, e, None).await.unwrap();
    let emails = emails_of(&app, other).await;
    let (_, _, text) = named(&emails, "line_closed")[0];
    assert!(text.contains("Nothing is owed on it.") && !text.contains("Still to pay"), "{text}");
    assert!(text.contains("prepaid credits"), "{text}");
}

/// Issue 17: an approved increase applies at once (today's date, the limit raised in the same
/// transaction); a declined one names the limit the line keeps, not the amount asked.
async fn an_increase_applies_today_and_a_declined_one_names_the_current_limit(t: TestStore) {
    use creditline::rules::inputs::LimitIncreaseInput;
    use creditline::services::billing::escalation;
    let (app, _clock) = clocked(&t, at(2027, 3, 4, 10, 0, 0));
    let open = |account: &'static str, input: LimitIncreaseInput, requested: i64| {
        let app = app.clone();
        async move {
            let line = common::open_credit_line(&app, account, 50_000).await;
            let line = app.store.credit_line(line).await.unwrap().unwrap();
            let input = LimitIncreaseInput { current_limit_cents: 50_000, requested_limit_cents: requested, ..input };
            let (decision, record) = app.rules.evaluate_async("limit_increase", &input, Some(line.id)).await;
            let request = (requested > 0).then(|| (requested, serde_json::json!({})));
            let write = escalation::open_increase(&app, &line, &decision, record, request).unwrap();
            app.store.commit_cycle(&write).await.unwrap();
            (line.id, write.increase.unwrap(), decision.outcome)
        }
    };
    let healthy = LimitIncreaseInput {
        line_state: "active".into(),
        months_on_line: 6,
        consecutive_on_time_payments: 6,
        utilization_percent: 90,
        recent_monthly_volume_cents: 1_000_000,
        ..Default::default()
    };
    let (line, increase, outcome) = open("ops@growing.io", healthy, 0).await;
    assert_eq!(outcome, "propose");
    escalation::approve(&app, increase.id, "reviewer:sam").await.unwrap();
    let limit = app.store.credit_line(line).await.unwrap().unwrap().monthly_limit_cents;
    assert_eq!(limit, increase.next_limit_cents, "raised at once");
    let emails = emails_of(&app, increase.id).await;
    let (_, _, text) = named(&emails, "limit_increase_approved")[0];
    let new = Money::from_cents(limit).to_string();
    assert!(text.contains(&format!("raised to {new}, from today,\n2027-03-04")), "{text}");
    assert!(!text.contains("next\nbilling cycle"), "{text}");

    let new_line = LimitIncreaseInput { line_state: "active".into(), months_on_line: 1, ..Default::default() };
    let (_, increase, outcome) = open("ops@eager.io", new_line, 1_000_000).await;
    assert!(["hold", "decline"].contains(&outcome.as_str()), "{outcome}");
    let emails = emails_of(&app, increase.id).await;
    let (_, _, text) = named(&emails, "limit_increase_declined")[0];
    assert!(text.contains("it stays at $500.00/month"), "{text}");
    assert!(!text.contains("stays at $10,000.00"), "{text}");
}

/// Issue 17: the email of an application deferred because no answer came says a reply lets it
/// continue, and a reply does: the application goes back to the wait it timed out of, and
/// the reply is read there (policy: "A declined or deferred credit line review does not
/// prevent the applicant from using WaveSpeedAI").
async fn a_reply_to_a_timed_out_application_continues_it(t: TestStore) {
    let (app, clock) = clocked(&t, Utc::now());
    let r = ingest_corpus(&app, "27-materials-missing.eml").await;
    assert_eq!(r.state.as_deref(), Some("awaiting_materials"), "{r:?}");
    let id: uuid::Uuid = r.application_id.as_deref().unwrap().parse().unwrap();
    clock.set(Utc::now() + chrono::Duration::days(15));
    let scan = reminders::scan(&app).await.unwrap();
    assert_eq!(scan.timed_out, 1, "{scan:?}");
    let record = app.store.application(creditline::domain::ApplicationId(id)).await.unwrap().unwrap();
    assert_eq!(record.state, "deferred");
    let emails = rendered(&app, &r).await;
    let (_, text, _) = emails.iter().rfind(|(n, ..)| n == "application_deferred").expect("the deferral email");
    assert!(text.contains("reply to this email with the materials we asked for"), "{text}");
    assert!(text.contains("continues where it stopped"), "{text}");

    // The reply, on the thread, with nothing new: back to waiting for the materials (asked
    // again, the wait restarted), not to a person's triage queue.
    let raw = std::fs::read(common::repo().join("tests/corpus/27-materials-missing.eml")).unwrap();
    let original = String::from_utf8_lossy(&raw);
    let message_id = original
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID:").or_else(|| l.strip_prefix("Message-Id:")))
        .expect("a Message-ID")
        .trim()
        .to_string();
    let from = original.lines().find_map(|l| l.strip_prefix("From:")).expect("a From").trim().to_string();
    let reply = format!(
        "Message-ID: <late-reply@example.net>\r\nIn-Reply-To: {message_id}\r\nFrom: {from}\r\n\
         Subject: Re: your application {}\r\n\r\nSorry for the delay, I am still interested.\r\n",
        record.reference
    );
    let back = inbound::ingest(&app, "test", reply.as_bytes()).await.unwrap();
    assert_eq!(back.state.as_deref(), Some("awaiting_materials"), "{back:?}");
    assert!(back.findings.iter().any(|f| f == "resumed_after_time_out"), "{back:?}");
    let events = app.store.events(SubjectId(id)).await.unwrap();
    assert!(events.iter().any(|e| e.event == "materials_reply" && e.to_state == "awaiting_materials"));
    let triage = creditline::store::TaskFilter { kind: Some("triage".into()), limit: 10, ..Default::default() };
    assert!(app.store.list_tasks(&triage).await.unwrap().is_empty(), "no triage task");
    let emails = rendered(&app, &back).await;
    assert_eq!(emails.iter().filter(|(n, ..)| n == "materials_requested").count(), 2, "asked again");
}

/// Issue 17: a domain confirmation that came too late still counts: the deferral email asks
/// for it, and the reply from the company's domain confirms the application, which goes on to
/// verification (policy: "a confirmation reply from a company domain email").
async fn a_late_domain_confirmation_continues_a_timed_out_application(t: TestStore) {
    let (app, clock) = clocked(&t, Utc::now());
    let r = ingest_corpus(&app, "41-spanish-enterprise-free-mail.eml").await;
    assert_eq!(r.state.as_deref(), Some("awaiting_domain_confirmation"), "{r:?}");
    let id: uuid::Uuid = r.application_id.as_deref().unwrap().parse().unwrap();
    clock.set(Utc::now() + chrono::Duration::days(15));
    assert_eq!(reminders::scan(&app).await.unwrap().timed_out, 1);
    let emails = rendered(&app, &r).await;
    let (_, text, _) = emails.iter().rfind(|(n, ..)| n == "application_deferred").expect("the deferral email");
    assert!(text.contains("reply to this email from an address at your company's domain"), "{text}");
    let reply = "Message-ID: <late-confirm@solucionesvisuales.es>\r\nIn-Reply-To: <c41@gmail.com>\r\n\
        From: Lucia Ortega <lucia@solucionesvisuales.es>\r\nSubject: Re: confirmation\r\n\r\n\
        Confirmo la solicitud.\r\n";
    let back = inbound::ingest(&app, "test", reply.as_bytes()).await.unwrap();
    let events = app.store.events(SubjectId(id)).await.unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert!(names.contains(&"confirmation_reply") && names.contains(&"domain_confirmed"), "{names:?}");
    assert_ne!(back.state.as_deref(), Some("deferred"), "{back:?}");
    assert_ne!(back.state.as_deref(), Some("awaiting_domain_confirmation"), "confirmed: {back:?}");
}

store_suite!(
    a_late_domain_confirmation_continues_a_timed_out_application,
    a_bill_gives_the_last_day_to_pay_and_the_month_in_words,
    an_unpaid_bill_is_reminded_once_before_its_last_day,
    a_closed_line_says_what_is_owed_how_to_pay_and_that_prepaid_stays,
    an_increase_applies_today_and_a_declined_one_names_the_current_limit,
    a_reply_to_a_timed_out_application_continues_it,
    a_deferral_shows_until_and_condition_not_the_internal_reason,
    the_domain_confirmation_names_the_company_domain_not_the_free_mail_one,
    a_directory_or_platform_website_is_not_the_company_domain,
    a_failed_website_check_says_why_in_plain_words,
    missing_materials_are_listed_in_words,
);

//! The simulation's letters through the real intake on SQLite: a whole population's
//! applications land in the states their profiles imply, and the applicants' answers to the
//! emails we queue for them (rendered and built as the delivery builds them) move their
//! applications on as the simulation expects.

mod common;

use std::collections::BTreeMap;
use std::time::SystemTime;

use chrono::NaiveDate;
use creditline::app::App;
use creditline::domain::{ApplicationId, SubjectId};
use creditline::email::context::context;
use creditline::email::message::{Envelope, build};
use creditline::services::inbound::{self, Report};
use creditline::sim::letters;
use creditline::sim::mailbox::Mail;
use creditline::sim::population::{Applicant, Kind, Quirk, draw};

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 3).unwrap()
}

async fn ingest(app: &App, raw: &[u8]) -> Report {
    inbound::ingest(app, "sim", raw).await.expect("intake answers")
}

/// The state the application of `a` should reach on its first email.
fn expected_first_state(a: &Applicant) -> &'static str {
    let own_site = !matches!(a.quirk, Quirk::ToolDirectory | Quirk::PlatformSite);
    match a.kind {
        // A colleague naming the company's account is trusted only at the website's domain;
        // with no such website the named account must confirm first.
        Kind::Enterprise if a.account_email != a.sender && !own_site => "awaiting_account_confirmation",
        Kind::Enterprise => "awaiting_domain_confirmation",
        Kind::IndividualWithoutProduct => "closed_prepaid",
        Kind::IndividualWithProduct if a.account_email != a.sender => "awaiting_account_confirmation",
        Kind::IndividualWithProduct => "pending_review",
    }
}

/// Where the application of `a` ends once the applicant answered every email: review,
/// except for an enterprise without its own website (a tool-directory profile or a
/// deployment-platform page is not enough: the materials request stays open until it times
/// out) and the prepaid path.
fn expected_end(a: &Applicant) -> (&'static str, Option<&'static str>) {
    match (a.kind, a.quirk) {
        (Kind::IndividualWithoutProduct, _) => ("closed_prepaid", None),
        (Kind::Enterprise, Quirk::ToolDirectory) => ("awaiting_materials", Some("tool_directory_website")),
        (Kind::Enterprise, Quirk::PlatformSite) => ("awaiting_materials", Some("generic_platform_website")),
        (_, Quirk::ToolDirectory) => ("pending_review", Some("tool_directory_website")),
        (_, Quirk::PlatformSite) => ("pending_review", Some("generic_platform_website")),
        _ => ("pending_review", None),
    }
}

/// The emails queued for the report's application that were not answered yet, as the
/// applicant receives them (built like the delivery builds them).
async fn inbox(app: &App, r: &Report, a: &Applicant, application_mid: &str, seen: &mut usize) -> Vec<Mail> {
    let id: uuid::Uuid = r.application_id.as_deref().expect("an application").parse().expect("a uuid");
    let record = app.store.application(ApplicationId(id)).await.unwrap().unwrap();
    let rows = app.store.outbox_for(SubjectId(id)).await.unwrap();
    let rows: Vec<_> = rows.into_iter().filter(|o| o.kind == "email").collect();
    let new = rows[*seen..].to_vec();
    *seen = rows.len();
    new.into_iter()
        .map(|o| {
            let rendered =
                app.templates.render(&o.name, &context(&o.payload, Some(&record.reference))).expect("renders");
            let envelope = Envelope {
                from: "WaveSpeedAI Support <support@wavespeed.ai>".into(),
                to: a.sender.clone(),
                thread: vec![format!("<{application_mid}>")],
            };
            let raw = build(o.id, &envelope, &rendered, SystemTime::UNIX_EPOCH).expect("builds").formatted();
            let parsed = creditline::intake::mail::parse(&raw).expect("our mail parses");
            Mail {
                rcpt: a.sender.clone(),
                message_id: parsed.message_id,
                template: Some(o.name),
                subject: parsed.subject,
                thread: parsed.in_reply_to,
                raw,
                day: day(),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_population_lands_where_its_profiles_say_and_its_answers_move_it_on() {
    let t = common::sqlite().await;
    let app = t.app();
    let people = draw(2026, 200, 30);
    let mut wrong = Vec::new();
    let mut after_answers: BTreeMap<String, usize> = BTreeMap::new();
    let mut answered: BTreeMap<String, usize> = BTreeMap::new();
    for a in &people {
        let who = format!("#{} {:?} {:?} {:?} {:?}", a.index, a.kind, a.quirk, a.language, a.style);
        let raw = letters::application(a, day(), 1);
        let mid = creditline::intake::mail::parse(&raw).unwrap().message_id;
        let r = ingest(&app, &raw).await;
        let state = r.state.clone().unwrap_or_default();
        if r.outcome != inbound::outcome::CREATED || state != expected_first_state(a) {
            wrong.push(format!("{who}: {} {state} missing {:?} findings {:?}", r.outcome, r.missing, r.findings));
            continue;
        }
        // The applicant answers what they received, an out-of-office first when they do.
        let mut seen = 0;
        let mut n = 2;
        let mut last = r.clone();
        for _round in 0..3 {
            let mails = inbox(&app, &last, a, &mid, &mut seen).await;
            if mails.is_empty() {
                break;
            }
            for mail in mails {
                if a.auto_replies && n == 2 {
                    let auto = ingest(&app, &letters::auto_reply(a, &mail, day(), n)).await;
                    assert_eq!(auto.outcome, inbound::outcome::AUTO_REPLY, "{who}");
                    n += 1;
                }
                if let Some(answer) = letters::answer(a, &mail, day(), n) {
                    *answered.entry(mail.template.clone().unwrap_or_default()).or_default() += 1;
                    n += 1;
                    last = ingest(&app, &answer).await;
                    assert_ne!(last.outcome, inbound::outcome::TRIAGE, "{who}: {:?}", last.findings);
                    assert_eq!(last.application_id, r.application_id, "{who}: the answer joins the application");
                }
            }
        }
        let end = last.state.clone().unwrap_or_default();
        *after_answers.entry(format!("{:?}/{:?} -> {end}", a.kind, a.quirk)).or_default() += 1;
        let (want, finding) = expected_end(a);
        if end != want || finding.is_some_and(|f| !last.findings.iter().any(|x| x == f)) {
            wrong.push(format!("{who}: after answers {end} missing {:?} findings {:?}", last.missing, last.findings));
        }
    }
    eprintln!("{after_answers:#?}\n{answered:#?}");
    for template in ["domain_confirmation_request", "materials_requested", "account_confirmation_request"] {
        assert!(answered.contains_key(template), "no {template} was answered: {answered:?}");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every kind was there.
    for k in [Kind::Enterprise, Kind::IndividualWithProduct, Kind::IndividualWithoutProduct] {
        assert!(people.iter().any(|a| a.kind == k), "{k:?}");
    }
    for q in [Quirk::FreeMail, Quirk::ToolDirectory, Quirk::PlatformSite, Quirk::FreshAws] {
        assert!(people.iter().any(|a| a.quirk == q && a.kind == Kind::Enterprise), "{q:?}");
    }
    assert!(people.iter().any(|a| a.auto_replies));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reapplication_after_the_prepaid_path_is_a_new_letter_intake_reads() {
    let t = common::sqlite().await;
    let app = t.app();
    let a = draw(2026, 90, 30).into_iter().find(|a| a.kind == Kind::IndividualWithoutProduct).expect("one");
    let first = ingest(&app, &letters::application(&a, day(), 1)).await;
    assert_eq!(first.state.as_deref(), Some("closed_prepaid"));
    let again = ingest(&app, &letters::reapplication(&a, day(), 9)).await;
    assert_ne!(again.outcome, inbound::outcome::DUPLICATE);
    assert_ne!(again.outcome, inbound::outcome::REJECTED);
}

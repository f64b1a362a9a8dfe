//! Email templates: checked at start-up, previewed from the CLI, and able to render every
//! email the workflows actually queue (from intake, reviewer decisions and the billing cycle),
//! and every email of every transition, fired through the service with the data its
//! transition declares.

mod common;

use common::{TestStore, run, stderr, stdout};
use creditline::domain::{Money, Role, TaskId};
use creditline::email::context::context;
use creditline::services::access::Caller;
use creditline::services::actions::Actor;
use creditline::services::decisions::{Decision, decide};
use creditline::store::{ApplicationFilter, TaskFilter};

#[test]
fn the_shipped_templates_pass_the_check_and_preview_from_json() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["templates", "check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Every template shipped is checked (counted from the folder, so adding one needs no edit here).
    let shipped = std::fs::read_dir(common::repo().join("templates/email"))
        .unwrap()
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "j2")))
        .count();
    assert!(shipped >= 27, "{shipped}");
    assert!(stdout(&o).starts_with(&format!("ok: {shipped} email templates")), "{}", stdout(&o));

    let data = dir.path().join("data.json");
    std::fs::write(
        &data,
        r#"{"to": "ops@acme-render.com", "missing": ["website", "AWS account"], "reference": "CL-4K7Q2M9X"}"#,
    )
    .unwrap();
    let o =
        run(dir.path(), &["templates", "render", "materials_requested", "--data", data.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(r["subject"].as_str().unwrap().contains("[CL-4K7Q2M9X]"), "{r}");
    assert!(r["text"].as_str().unwrap().contains("  - AWS account"), "{r}");
    assert!(r["html"].as_str().unwrap().contains("<li>website</li>"), "{r}");

    // Data the template needs but the file lacks: a clear error, no half-rendered email.
    std::fs::write(&data, r#"{"to": "ops@acme-render.com"}"#).unwrap();
    let o = run(dir.path(), &["templates", "render", "application_approved", "--data", data.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("application_approved"), "{}", stderr(&o));
    std::fs::write(&data, "[1, 2]").unwrap();
    let o = run(dir.path(), &["templates", "render", "application_approved", "--data", data.to_str().unwrap()]);
    assert!(stderr(&o).contains("JSON object"), "{}", stderr(&o));
}

#[test]
fn a_template_with_an_unknown_variable_stops_the_service_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&common::repo().join("templates"), &dir.path().join("templates"));
    let path = dir.path().join("templates/email/line_paused.j2");
    let text = std::fs::read_to_string(&path).unwrap().replacen("{{ name }}", "{{ nmae }}", 1);
    std::fs::write(&path, text).unwrap();
    let broken = |args: &[&str]| {
        let mut cmd = common::creditline(dir.path());
        cmd.env("CREDITLINE_TEMPLATES_DIR", dir.path().join("templates")).args(args);
        cmd.output().unwrap()
    };
    let o = broken(&["templates", "check"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("line_paused.j2") && stderr(&o).contains("nmae"), "{}", stderr(&o));
    let o = broken(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!o.status.success(), "serve must refuse to start");
    assert!(stderr(&o).contains("nmae"), "{}", stderr(&o));
}

/// Every email the corpus and the four decisions queue renders, with the data its row has.
async fn every_queued_email_renders(t: TestStore) {
    let app = t.app();
    let corpus = common::repo().join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&corpus).unwrap().flatten().map(|e| e.path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
    files.sort();
    for f in &files {
        creditline::services::inbound::ingest(&app, "test", &std::fs::read(f).unwrap()).await.unwrap();
    }
    let filter = TaskFilter { kind: Some("application_review".into()), limit: 10, ..Default::default() };
    let reviews: Vec<TaskId> = app.store.list_tasks(&filter).await.unwrap().iter().map(|t| t.id).collect();
    let caller = Caller { token_id: "t".into(), name: "sam".into(), role: Role::SeniorReviewer };
    let actor = Actor { caller: &caller, request_id: "r", now: chrono::Utc::now() };
    let decisions = [
        Decision::Approve { monthly_limit: Money::from_cents(5000), override_reason: None, note: None },
        Decision::Decline { reason_code: "other".into(), message: "Not this time.".into() },
        Decision::Defer { until: None, condition: Some("three paid months".into()), reason: "too new".into() },
        Decision::RequestInfo { items: vec!["website".into()], message: None },
    ];
    for (task, decision) in reviews.iter().zip(decisions) {
        decide(&app, &actor, *task, None, decision, None).await.unwrap();
    }

    let mut rendered = std::collections::BTreeSet::new();
    let all = ApplicationFilter { limit: 1000, ..Default::default() };
    for a in app.store.list_applications(&all).await.unwrap() {
        for row in app.store.outbox_for(a.id.into()).await.unwrap() {
            if row.kind != "email" {
                continue;
            }
            let data = context(&row.payload, Some(&a.reference));
            let r =
                app.templates.render(&row.name, &data).unwrap_or_else(|e| panic!("{}: {e}\n{}", row.name, row.payload));
            assert!(
                r.subject.contains(&a.reference),
                "{}: the reference token is in the subject: {}",
                row.name,
                r.subject
            );
            rendered.insert(row.name.clone());
        }
    }
    for name in [
        "application_received",
        "materials_requested",
        "domain_confirmation_request",
        "prepaid_path",
        "application_approved",
        "application_declined",
        "application_deferred",
    ] {
        assert!(rendered.contains(name), "{name} was queued and rendered: {rendered:?}");
    }
}

store_suite!(
    every_queued_email_renders,
    every_email_of_every_transition_renders,
    every_email_the_billing_cycle_queues_renders,
);

/// A reviewer's words are text: in the HTML part markup arrives escaped, in the subject and
/// the text part exactly as written.
#[test]
fn markup_from_a_reviewer_is_escaped_in_html_and_kept_in_text() {
    let templates = creditline::email::Templates::load(&common::repo().join("templates")).unwrap();
    let attack = "<img src=x onerror=alert(1)>";
    let payload = serde_json::json!({ "to": "ops@acme-render.com", "reason": "other", "message": attack });
    let r = templates.render("application_declined", &context(&payload, Some("CL-4K7Q2M9X"))).unwrap();
    assert!(r.html.contains("&lt;img src=x onerror=alert(1)&gt;"), "{}", r.html);
    assert!(!r.html.contains("<img"), "{}", r.html);
    assert!(r.html.contains("<p>Hello there,</p>"), "the template's own markup stays: {}", r.html);
    assert!(r.text.contains(attack), "{}", r.text);
    assert!(r.subject.ends_with("[CL-4K7Q2M9X]"), "{}", r.subject);

    let script = "<script>alert(\"x\")</script>";
    let payload = serde_json::json!({ "to": "ops@acme-render.com", "missing": [script, "a website"] });
    let r = templates.render("materials_requested", &context(&payload, Some("CL-4K7Q2M9X"))).unwrap();
    assert!(!r.html.contains("<script"), "{}", r.html);
    assert!(r.html.contains("<li>&lt;script&gt;alert(&quot;x&quot;)&lt;&#x2f;script&gt;</li>"), "{}", r.html);
    assert!(r.html.contains("<li>a website</li>"), "{}", r.html);
    assert!(r.text.contains(&format!("  - {script}")), "{}", r.text);

    // The CLI preview renders the same way.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.json");
    std::fs::write(
        &data,
        serde_json::json!({ "to": "ops@acme-render.com", "message": attack, "reference": "CL-4K7Q2M9X" }).to_string(),
    )
    .unwrap();
    let o =
        run(dir.path(), &["templates", "render", "application_declined", "--data", data.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(r["html"].as_str().unwrap().contains("&lt;img"), "{r}");
    assert!(!r["html"].as_str().unwrap().contains("<img"), "{r}");
    assert!(r["text"].as_str().unwrap().contains(attack), "{r}");
}

/// A value of the kind the code firing a step gives for a declared data key.
fn sample(key: &str) -> serde_json::Value {
    use serde_json::json;
    match key {
        k if k.ends_with("_cents") => json!(20_000),
        "missing" => json!(["website", "aws_account"]),
        "due_date" => json!("2026-11-10"),
        "period" => json!("2026-10"),
        "owed_bills" => json!([{ "period": "2026-10", "amount_cents": 15_000, "due_date": "2026-11-10" }]),
        "overdue" => json!(true),
        "effective_date" => json!("2026-11-02"),
        _ => json!(format!("sample {key}")),
    }
}

/// The firing of `t` from `from`: the guard's first outcome decided, a reason only where one
/// is required, and exactly the declared data (minus `without`).
fn fire_for(
    subject: creditline::domain::SubjectId,
    t: &creditline::workflow::Transition,
    without: Option<&str>,
) -> creditline::services::Fire {
    let mut fire = creditline::services::Fire::new(subject, &t.event, "test");
    if let Some(g) = &t.guard {
        fire = fire.decision(&g.rule, &g.outcomes[0], creditline::domain::DecisionId::new());
    }
    if t.reason_required {
        fire = fire.reason("the reason given");
    }
    for key in t.data.iter().filter(|k| Some(k.as_str()) != without) {
        fire = fire.data(key, sample(key));
    }
    fire
}

/// No email can fail to render: every transition of every workflow that sends an email is
/// fired, from each of its source states, through the workflow service on a real store (the
/// instance walked there by the shortest path of transitions, fired the same way), with only
/// the data its transition declares; every queued email then renders as the delivery worker
/// renders it. Leaving out any declared key is refused before anything is written, so the
/// declarations cannot drift from the code that fires the steps.
async fn every_email_of_every_transition_renders(t: TestStore) {
    use creditline::domain::{EmailAddress, SubjectId};
    use creditline::services::{NewApplicationInput, ServiceError};
    use creditline::workflow::{Definition, Transition};

    /// The transitions that lead from the initial state to `to`, shortest first found.
    fn path_to<'a>(def: &'a Definition, to: &str) -> Vec<(&'a Transition, String)> {
        let mut came: std::collections::BTreeMap<String, (&Transition, String)> = Default::default();
        let mut queue = std::collections::VecDeque::from([def.initial.clone()]);
        let mut seen = std::collections::BTreeSet::from([def.initial.clone()]);
        while let Some(s) = queue.pop_front() {
            for t in def.transitions.iter().filter(|t| t.from.contains(&s)) {
                let next = t.target(&s).to_string();
                if seen.insert(next.clone()) {
                    came.insert(next.clone(), (t, s.clone()));
                    queue.push_back(next);
                }
            }
        }
        let mut path = Vec::new();
        let mut at = to.to_string();
        while let Some((t, from)) = came.get(&at) {
            path.push((*t, from.clone()));
            at = from.clone();
        }
        path.reverse();
        path
    }

    let app = t.app();
    let service = &app.workflow;
    let mut rendered = std::collections::BTreeSet::new();
    let mut fired = 0;
    for def in app.workflows.iter() {
        for tr in def.transitions.iter().filter(|t| t.effects.iter().any(|e| e.kind() == "email")) {
            for from in &tr.from {
                // One open instance per account and workflow: each walk has its own account.
                let account = format!("ops{fired}-{}@acme-render.com", def.name.replace('_', "-"));
                let account = account.as_str();
                let (subject, reference) = if def.name == "credit_line_application" {
                    let input = NewApplicationInput {
                        account_email: EmailAddress::parse(account).unwrap(),
                        applicant_kind: None,
                        requested_limit: None,
                        details: serde_json::json!({}),
                    };
                    let a = service.open_application(input, "test").await.unwrap();
                    (SubjectId::from(a.id), Some(a.reference))
                } else {
                    let id = SubjectId::new();
                    service.start(&def.name, id, Some(account), "test").await.unwrap();
                    (id, None)
                };
                for (step, _) in path_to(def, from) {
                    service.fire(fire_for(subject, step, None)).await.unwrap_or_else(|e| {
                        panic!("{} {} on the way to {from}: {e}", def.name, step.event);
                    });
                }
                for key in &tr.data {
                    let e = service.fire(fire_for(subject, tr, Some(key))).await.unwrap_err();
                    assert!(
                        matches!(&e, ServiceError::MissingData { key: k, .. } if k == key),
                        "{} {} from {from} without {key}: {e}",
                        def.name,
                        tr.event
                    );
                }
                service.fire(fire_for(subject, tr, None)).await.unwrap_or_else(|e| {
                    panic!("{} {} from {from}: {e}", def.name, tr.event);
                });
                fired += 1;
                let rows = app.store.outbox_for(subject).await.unwrap();
                for row in rows.iter().filter(|r| r.kind == "email") {
                    let data = context(&row.payload, reference.as_deref());
                    let r = app.templates.render(&row.name, &data).unwrap_or_else(|e| {
                        panic!("{} {} from {from}: {}: {e}\n{}", def.name, tr.event, row.name, row.payload)
                    });
                    assert!(!r.subject.is_empty() && !r.text.trim().is_empty(), "{}", row.name);
                    rendered.insert(row.name.clone());
                }
            }
        }
    }
    assert!(fired > 40, "{fired} transitions fired");
    // Every template a transition names was rendered at least once.
    for def in app.workflows.iter() {
        for effect in def.transitions.iter().flat_map(|t| &t.effects).chain(&def.initial_effects) {
            if effect.kind() == "email" {
                assert!(rendered.contains(effect.name()), "{} never rendered", effect.name());
            }
        }
    }
}

/// Policy: "WaveSpeedAI may pause, reduce, or decline the next month's credit line if the
/// previous bill is unpaid or payment cannot be confirmed." Every email the real billing
/// cycle sends (bill, reminder in grace, pause, reduction, closing, restoration) renders with
/// what the cycle put in its row, and names the bill or the limit it is about.
async fn every_email_the_billing_cycle_queues_renders(t: TestStore) {
    use chrono::TimeZone;
    use creditline::domain::{EmailAddress, Period};
    use creditline::services::ManualClock;
    use creditline::services::billing::{close, gate, pay};
    use creditline::services::ledger::Ledger;

    let day = |m: u32, d: u32| chrono::Utc.with_ymd_and_hms(2027, m, d, 12, 0, 0).unwrap();
    let clock = std::sync::Arc::new(ManualClock::new(day(1, 5)));
    let config = creditline::config::Config {
        rules_dir: common::repo().join("rules"),
        workflows_dir: common::repo().join("workflows"),
        templates_dir: common::repo().join("templates"),
        ..Default::default()
    };
    let app = creditline::app::App::assemble(config, t.store.clone(), clock.clone()).unwrap();
    let accounts = ["late@render.io", "partly@render.io", "never@render.io"];
    let mut lines = Vec::new();
    for a in accounts {
        lines.push(common::open_credit_line(&app, a, 50_000).await);
        Ledger::new(&app).debit(&EmailAddress::parse(a).unwrap(), Money::from_cents(20_000), "jan").await.unwrap();
    }
    let [late, partly, _never] = accounts.map(|a| EmailAddress::parse(a).unwrap());
    clock.set(day(2, 1));
    close(&app, Period::new(2027, 1).unwrap(), None).await.unwrap();
    clock.set(day(2, 2));
    pay(&app, &partly, Money::from_cents(10_000), "stripe", "partly-half").await.unwrap();
    // A few days overdue: grace and a reminder; later: paused, reduced; much later: closed.
    clock.set(day(2, 14));
    gate(&app).await.unwrap();
    clock.set(day(2, 25));
    gate(&app).await.unwrap();
    clock.set(day(2, 26));
    pay(&app, &late, Money::from_cents(20_000), "stripe", "late-jan").await.unwrap();
    pay(&app, &partly, Money::from_cents(10_000), "stripe", "partly-rest").await.unwrap();
    clock.set(day(4, 20));
    gate(&app).await.unwrap();

    let mut rendered: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for line in &lines {
        for row in app.store.outbox_for(*line).await.unwrap().iter().filter(|r| r.kind == "email") {
            let r = app
                .templates
                .render(&row.name, &context(&row.payload, None))
                .unwrap_or_else(|e| panic!("{}: {e}\n{}", row.name, row.payload));
            rendered.entry(row.name.clone()).or_default().push(r.text);
        }
    }
    for name in ["bill_issued", "payment_reminder", "line_paused", "line_reduced", "line_restored", "line_closed"] {
        assert!(rendered.contains_key(name), "{name} was queued and rendered: {:?}", rendered.keys());
    }
    let says = |name: &str, words: &[&str]| {
        let texts = &rendered[name];
        assert!(texts.iter().any(|t| words.iter().all(|w| t.contains(w))), "{name} says {words:?}: {texts:#?}");
    };
    says("payment_reminder", &["$200.00", "January 2027", "was 2027-02-10"]);
    says("line_paused", &["January 2027"]);
    says("line_closed", &["Still to pay: $200.00", "January 2027: $200.00 (last day to pay 2027-02-10)"]);
    says("line_reduced", &["$250.00"]);
    says("line_restored", &["$500.00"]);
    let problems = Ledger::new(&app).verify().await.unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

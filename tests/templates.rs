//! Email templates: checked at start-up, previewed from the CLI, and able to render every
//! email the workflows actually queue (from intake and from reviewer decisions).

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
    assert!(stdout(&o).starts_with("ok: 25 email templates"), "{}", stdout(&o));

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
        creditline::intake::ingest(&app, "test", &std::fs::read(f).unwrap()).await.unwrap();
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

store_suite!(every_queued_email_renders);

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

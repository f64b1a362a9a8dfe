//! Deciding tasks in the reviewer console over real HTTP: every decision form goes to a
//! preview of the email the applicant will receive, and only the preview's confirm takes it,
//! at the version the page showed. An application from the shared samples approved with its
//! email queued and its line opened; four-eyes across two senior reviewers; a decline with a
//! reason; a stale confirm and a confirm without the CSRF token refused; a triage task closed.
//! On SQLite and on PostgreSQL.

mod common;
#[path = "common/console.rs"]
mod console_client;

use common::Api;
use console_client::{Browser, body, csrf_of, post_sample};
use serde_json::Value;

fn open_reviews(api: &Api) -> Vec<Value> {
    api.get("/api/v1/tasks?kind=application_review&limit=200", &api.reviewer)["items"].as_array().unwrap().clone()
}

fn task_json(api: &Api, id: &str) -> Value {
    api.get(&format!("/api/v1/tasks/{id}"), &api.reviewer)
}

fn application_json(api: &Api, task: &Value) -> Value {
    api.get(&format!("/api/v1/applications/{}", task["subject_id"].as_str().unwrap()), &api.reviewer)
}

fn email_names(application: &Value) -> Vec<String> {
    application["outbox"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "email")
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect()
}

/// Claims `task` as `who` through the task page's form; returns the page's CSRF token.
fn claim(who: &Browser, task: &str) -> String {
    let page = who.page(&format!("/console/tasks/{task}"));
    let csrf = csrf_of(&page);
    let version = who.api.get(&format!("/api/v1/tasks/{task}"), &who.api.reviewer)["task"]["version"].to_string();
    let r = who.post(&format!("/console/tasks/{task}/claim"), &[("csrf", &csrf), ("version", &version)]);
    assert_eq!(r.status, 303, "{}", body(&r));
    csrf
}

fn version(api: &Api, task: &str) -> String {
    task_json(api, task)["task"]["version"].to_string()
}

fn a_sample_application_is_approved_after_its_email_is_previewed(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    // The individual with a product from the shared samples. (The enterprise sample applies
    // through AWS login, which must be approved first: see tests/aws_login.rs.)
    post_sample(&api, "02-individual-with-product.eml");
    let task = open_reviews(&api)
        .into_iter()
        .find(|t| t["details"]["to"] == "dpark.dev@gmail.com")
        .expect("the sample application waits for review");
    let id = task["id"].as_str().unwrap().to_string();
    let suggested = task_json(&api, &id)["suggested_limit_cents"].as_i64().expect("the rules suggest a limit");
    let dollars = format!("{}.{:02}", suggested / 100, suggested % 100);

    let rita = Browser::sign_in(&api, &api.reviewer);
    let csrf = claim(&rita, &id);
    let page = rita.page(&format!("/console/tasks/{id}"));
    assert!(
        page.contains(&format!(
            "id=\"monthly_limit\" name=\"monthly_limit\" inputmode=\"decimal\" required value=\"{dollars}\""
        )),
        "the suggestion is prefilled: {page}"
    );
    for form in ["form-approve", "form-decline", "form-defer", "form-request_info"] {
        assert!(page.contains(form), "{form}");
    }

    // The form shows the email first; nothing is recorded yet.
    let v = version(&api, &id);
    let act = format!("/console/tasks/{id}/act");
    let preview =
        rita.post(&act, &[("csrf", &csrf), ("version", &v), ("action", "approve"), ("monthly_limit", &dollars)]);
    assert_eq!(preview.status, 200, "{}", body(&preview));
    let shown = body(&preview);
    let application = application_json(&api, &task);
    let reference = application["application"]["reference"].as_str().unwrap();
    let limit = format!("${}.{:02}", suggested / 100, suggested % 100);
    assert!(
        shown.contains(&format!("Your monthly credit line is approved: {limit}&#x2f;month [{reference}]")),
        "{shown}"
    );
    assert!(shown.contains("<dt>To</dt><dd>dpark.dev@gmail.com</dd>"), "{shown}");
    assert!(shown.contains("name=\"confirm\" value=\"yes\""));
    assert_eq!(version(&api, &id), v, "a preview changes nothing");
    assert!(!email_names(&application_json(&api, &task)).contains(&"application_approved".to_string()));

    // Confirming takes it: the task is done, the line open, the email queued.
    let done = rita.post(
        &act,
        &[("csrf", &csrf), ("version", &v), ("action", "approve"), ("monthly_limit", &dollars), ("confirm", "yes")],
    );
    assert_eq!(done.status, 303, "{}", body(&done));
    assert_eq!(done.header("location"), Some(format!("/console/tasks/{id}#decided").as_str()));
    assert_eq!(task_json(&api, &id)["task"]["state"], "done");
    let after = application_json(&api, &task);
    assert!(email_names(&after).contains(&"application_approved".to_string()), "{after}");
    let account = api.get("/api/v1/accounts/dpark.dev@gmail.com", &api.reviewer);
    assert_eq!(account["active_credit_line"]["monthly_limit_cents"], suggested, "{account}");
    let page = rita.page(&format!("/console/tasks/{id}"));
    assert!(page.contains("This task is done"), "{page}");
    assert!(page.contains("<td>application approved</td><td>dpark.dev@gmail.com</td>"), "the queued email: {page}");

    // The same confirm again is a stale page: refused, nothing doubled.
    let again = rita.post(
        &act,
        &[("csrf", &csrf), ("version", &v), ("action", "approve"), ("monthly_limit", &dollars), ("confirm", "yes")],
    );
    assert_eq!(again.status, 409, "{}", body(&again));
    assert!(body(&again).contains("someone else changed this"), "{}", body(&again));
    let lines = api.get("/api/v1/credit-lines?account_email=dpark.dev@gmail.com", &api.reviewer);
    assert_eq!(lines["items"].as_array().unwrap().len(), 1, "{lines}");
}

fn four_eyes_takes_two_different_senior_reviewers(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let task = open_reviews(&api).into_iter().next().expect("a review");
    let id = task["id"].as_str().unwrap().to_string();
    let sam = Browser::sign_in(&api, &api.senior);
    let csrf = claim(&sam, &id);
    let act = format!("/console/tasks/{id}/act");
    let approve = |who: &Browser, csrf: &str, confirm: &str| {
        let v = version(&api, &id);
        who.post(
            &act,
            &[
                ("csrf", csrf),
                ("version", &v),
                ("action", "approve"),
                ("monthly_limit", "1000"),
                ("override_reason", "three years of steady AWS spend"),
                ("confirm", confirm),
            ],
        )
    };
    // At the four-eyes limit the first approval sends no email yet.
    let preview = approve(&sam, &csrf, "");
    assert_eq!(preview.status, 200, "{}", body(&preview));
    assert!(body(&preview).contains("No email is sent"), "{}", body(&preview));
    assert_eq!(approve(&sam, &csrf, "yes").status, 303);
    assert_eq!(task_json(&api, &id)["task"]["state"], "awaiting_second_approval");

    // Sam's page says a different senior confirms; Rita (not senior) gets no form; and the
    // services refuse them whatever the page shows.
    let page = sam.page(&format!("/console/tasks/{id}"));
    assert!(page.contains("You gave the first approval") && !page.contains("form-approve"), "{page}");
    assert_eq!(approve(&sam, &csrf, "yes").status, 403);
    let rita = Browser::sign_in(&api, &api.reviewer);
    let page = rita.page(&format!("/console/tasks/{id}"));
    assert!(page.contains("waits for a second senior reviewer") && !page.contains("form-approve"), "{page}");
    assert_eq!(approve(&rita, &csrf_of(&page), "yes").status, 403);

    // Sue confirms the first approval's limit: now the email goes and the line opens.
    let sue = Browser::sign_in(&api, &api.senior2);
    let page = sue.page(&format!("/console/tasks/{id}"));
    assert!(page.contains("First approval by <strong>sam</strong> for $1,000.00"), "{page}");
    assert!(page.contains("value=\"1000.00\" readonly"), "{page}");
    let csrf = csrf_of(&page);
    let preview = approve(&sue, &csrf, "");
    assert!(
        body(&preview).contains("Your monthly credit line is approved: $1,000.00&#x2f;month"),
        "{}",
        body(&preview)
    );
    assert_eq!(approve(&sue, &csrf, "yes").status, 303);
    assert_eq!(task_json(&api, &id)["task"]["state"], "done");
    let application = application_json(&api, &task);
    let account = application["application"]["account_email"].as_str().unwrap();
    let line = &api.get(&format!("/api/v1/accounts/{account}"), &api.reviewer)["active_credit_line"];
    assert_eq!(line["monthly_limit_cents"], 100_000);
    assert_eq!(line["approved_by"], "sam");
    assert_eq!(line["second_approver"], "sue");
}

fn a_decline_carries_its_reason_and_forms_without_the_token_change_nothing(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let task = open_reviews(&api).into_iter().next().expect("a review");
    let id = task["id"].as_str().unwrap().to_string();
    let rita = Browser::sign_in(&api, &api.reviewer);
    let csrf = claim(&rita, &id);
    let act = format!("/console/tasks/{id}/act");
    let v = version(&api, &id);
    let message = "We could not verify the company <website>.";
    let decline = |pairs: &[(&str, &str)]| {
        let mut all = vec![("version", v.as_str()), ("action", "decline"), ("message", message)];
        all.extend_from_slice(pairs);
        rita.post(&act, &all)
    };
    assert_eq!(decline(&[("csrf", &csrf)]).status, 400, "no reason code");
    assert!(body(&decline(&[("csrf", &csrf), ("reason_code", "because")])).contains("reason code: choose a reason"));
    let preview = decline(&[("csrf", &csrf), ("reason_code", "website_not_owned")]);
    assert_eq!(preview.status, 200, "{}", body(&preview));
    let shown = body(&preview);
    assert!(shown.contains("We could not verify the company &lt;website&gt;."), "escaped: {shown}");
    assert!(shown.contains("prepaid"), "the decline email says prepaid access stays: {shown}");

    // The confirm without the session's CSRF token (a forged form) is refused.
    for forged in [vec![], vec![("csrf", "0".repeat(64))]] {
        let mut pairs: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pairs.extend([("reason_code", "website_not_owned"), ("confirm", "yes")]);
        assert_eq!(decline(&pairs).status, 403);
    }
    assert_eq!(version(&api, &id), v, "nothing changed");
    let done = decline(&[("csrf", &csrf), ("reason_code", "website_not_owned"), ("confirm", "yes")]);
    assert_eq!(done.status, 303, "{}", body(&done));
    let application = application_json(&api, &task);
    assert_eq!(application["application"]["state"], "declined");
    assert!(email_names(&application).contains(&"application_declined".to_string()));
    let audit = api.get("/api/v1/audit?action=application.decline", &api.senior);
    let entry = audit["items"].as_array().unwrap().last().cloned().expect("an audit entry");
    assert_eq!(entry["actor"], "rita");
    assert_eq!(entry["detail"]["reason_code"], "website_not_owned");
}

fn a_triage_task_is_closed_with_a_note_and_no_email(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let task = api.get("/api/v1/tasks?kind=triage&limit=1", &api.reviewer)["items"][0].clone();
    let id = task["id"].as_str().unwrap().to_string();
    let rob = Browser::sign_in(&api, &api.reviewer2);
    let csrf = claim(&rob, &id);
    let page = rob.page(&format!("/console/tasks/{id}"));
    assert!(page.contains("form-attach") && page.contains("form-close") && !page.contains("form-approve"), "{page}");
    let act = format!("/console/tasks/{id}/act");
    let v = version(&api, &id);
    assert_eq!(rob.post(&act, &[("csrf", &csrf), ("version", &v), ("action", "close")]).status, 400, "a note");
    assert_eq!(rob.post(&act, &[("csrf", &csrf), ("version", &v), ("action", "approve")]).status, 400);
    let note = [("csrf", csrf.as_str()), ("version", &v), ("action", "close"), ("note", "newsletter, not for us")];
    let preview = rob.post(&act, &note);
    assert!(body(&preview).contains("No email is sent"), "{}", body(&preview));
    let mut confirm = note.to_vec();
    confirm.push(("confirm", "yes"));
    assert_eq!(rob.post(&act, &confirm).status, 303);
    assert_eq!(task_json(&api, &id)["task"]["state"], "done");
    // A broken form is a clear 400, not a bare 422.
    let r = rob.post(&act, &[("csrf", &csrf), ("version", "seven"), ("action", "close")]);
    assert_eq!(r.status, 400);
    assert!(body(&r).contains("<h1>"), "an HTML page: {}", body(&r));
}

black_box_suite!(
    a_sample_application_is_approved_after_its_email_is_previewed,
    four_eyes_takes_two_different_senior_reviewers,
    a_decline_carries_its_reason_and_forms_without_the_token_change_nothing,
    a_triage_task_is_closed_with_a_note_and_no_email,
);

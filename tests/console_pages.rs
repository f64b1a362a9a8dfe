//! The console's evidence and records over real HTTP: a task's email thread with each field
//! marked where it was read, its attachments (a CSV as a table, an image inline only when its
//! bytes are that image, everything else a download), the billing chart and the rule trace
//! with inputs; reviewer notes added once and audited; account search, the account, the
//! credit lines and a line's money picture; the audit log for seniors only; the dashboard;
//! the workflow diagrams; and one-time sign-in links. On SQLite and on PostgreSQL.

mod common;
#[path = "common/console.rs"]
mod console_client;

use common::{Api, run, stderr, stdout};
use console_client::{
    AWS_CSV, Browser, PNG, application_mail, body, csrf_of, post_form, post_raw, post_sample, session_cookie,
};
use serde_json::{Value, json};

/// Every task of every state (the corpus makes a few dozen).
fn all_tasks(api: &Api) -> Vec<Value> {
    api.get("/api/v1/tasks?state=all&limit=500", &api.reviewer)["items"].as_array().unwrap().clone()
}

fn application_of(api: &Api, account: &str) -> Value {
    let list = api.get(&format!("/api/v1/applications?account_email={account}"), &api.reviewer);
    list["items"].as_array().unwrap().last().cloned().unwrap_or_else(|| panic!("an application of {account}: {list}"))
}

/// The task about `application` (its id as the subject).
fn task_about(api: &Api, application: &Value) -> String {
    let id = application["id"].as_str().unwrap();
    let tasks = all_tasks(api);
    let task = tasks.iter().find(|t| t["subject_id"] == id).unwrap_or_else(|| panic!("a task about {id}"));
    task["id"].as_str().unwrap().to_string()
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The `href` of the first link whose target (or text) contains `part`.
fn link_with(page: &str, part: &str) -> String {
    let escaped = part.replace('/', "&#x2f;");
    let at = page.find(&escaped).or_else(|| page.find(part)).unwrap_or_else(|| panic!("a link with {part}: {page}"));
    let start = page[..at].rfind("href=\"").expect("href") + "href=\"".len();
    page[start..].split('"').next().unwrap().replace("&#x2f;", "/")
}

fn the_task_page_shows_the_thread_attachments_chart_and_trace(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let rita = Browser::sign_in(&api, &api.reviewer);
    post_raw(
        &api,
        &application_mail(
            "kai.dev@gmail.com",
            &[
                ("aws-billing.csv", "text/csv", AWS_CSV.as_bytes()),
                ("certificate.pdf", "application/pdf", b"%PDF-1.4 x"),
            ],
        ),
    );
    let application = application_of(&api, "kai.dev@gmail.com");
    let task = task_about(&api, &application);
    let page = rita.page(&format!("/console/tasks/{task}"));

    // The thread, with the fields marked where they were read; the applicant's script is text.
    assert!(page.contains("<h2 id=\"thread\">The email thread</h2>"), "{page}");
    assert!(page.contains("credit line request &lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{page}");
    assert!(!page.contains("<script>alert"), "applicant script is escaped: {page}");
    let website = page.find("<mark title=\"website\">").expect("the website is marked");
    assert!(page[website..].split("</mark>").next().unwrap().contains("pixelbloom.app"), "{page}");
    assert!(count(&page, "<mark ") >= 3, "several fields are marked: {page}");
    // The CSV as a table, the PDF as a download only, the chart of the five months.
    assert!(page.contains("<td>BillingPeriodStartDate</td>"), "{page}");
    assert!(page.contains("<td>2026&#x2f;10&#x2f;01</td>"), "{page}");
    assert!(page.contains(">certificate.pdf</a>"), "{page}");
    assert_eq!(count(&page, "<img "), 0, "no image in this message");
    assert!(page.contains("<svg role=\"img\" aria-labelledby=\"billing-caption\""), "{page}");
    assert_eq!(count(&page, "<rect "), 5, "a bar a month: {page}");
    assert!(page.contains("from 2026-06 to 2026-10, highest $2702.35"), "{page}");
    // The rule trace with each rule's inputs.
    assert!(page.contains("<h3 id=\"trace\">What the rules decided</h3>"), "{page}");
    assert!(count(&page, "<summary>Inputs ") >= 2, "{page}");

    // The files themselves: a download, named, never HTML.
    let csv = rita.get(&link_with(&page, "/attachments/0"));
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv"));
    assert_eq!(
        csv.header("content-disposition"),
        Some("attachment; filename=\"aws-billing.csv\"; filename*=UTF-8''aws-billing.csv")
    );
    assert_eq!(String::from_utf8_lossy(&csv.body), AWS_CSV);
    let pdf = rita.get(&link_with(&page, "/attachments/1"));
    assert_eq!(pdf.header("content-type"), Some("application/pdf"));
    assert!(pdf.header("content-disposition").unwrap().starts_with("attachment;"));
    assert_eq!(pdf.header("content-security-policy"), Some("default-src 'none'; sandbox"));
    let missing = link_with(&page, "/attachments/1").replace("/attachments/1", "/attachments/2");
    assert_eq!(rita.get(&missing).status, 404);
    let other_app = link_with(&page, "/attachments/1").replace(application["id"].as_str().unwrap(), &uuid_zero());
    assert_eq!(rita.get(&other_app).status, 404, "a message is served only under its own application");
    assert_eq!(api.call("GET", &link_with(&page, "/attachments/0"), None, &[]).status, 303, "signed in only");

    // Images: inline only when the bytes are the image claimed.
    post_raw(
        &api,
        &application_mail(
            "mina.dev@gmail.com",
            &[
                ("dashboard.png", "image/png", PNG),
                ("../../evil.png", "image/png", b"<html><script>alert(3)</script></html>"),
            ],
        ),
    );
    let mina = application_of(&api, "mina.dev@gmail.com");
    let page = rita.page(&format!("/console/tasks/{}", task_about(&api, &mina)));
    assert_eq!(count(&page, "<img "), 1, "the real PNG only: {page}");
    let png = rita.get(&link_with(&page, "/attachments/0"));
    assert_eq!(png.header("content-type"), Some("image/png"));
    assert!(png.header("content-disposition").unwrap().starts_with("inline;"));
    assert_eq!(png.body, PNG);
    let fake = rita.get(&link_with(&page, "/attachments/1"));
    assert_eq!(fake.header("content-type"), Some("application/octet-stream"), "HTML claiming to be a PNG");
    assert_eq!(
        fake.header("content-disposition"),
        Some("attachment; filename=\"evil.png\"; filename*=UTF-8''evil.png"),
        "no path in the name"
    );
}

fn uuid_zero() -> String {
    "00000000-0000-7000-8000-000000000000".into()
}

fn notes_are_added_once_escaped_and_audited(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let rita = Browser::sign_in(&api, &api.reviewer);
    let application = application_of(&api, "lena.dev@gmail.com");
    let task = task_about(&api, &application);
    let page = rita.page(&format!("/console/tasks/{task}"));
    assert!(page.contains("No notes yet."), "{page}");
    let csrf = csrf_of(&page);
    let key_at = page.find("name=\"key\" value=\"").expect("the note form's key") + "name=\"key\" value=\"".len();
    let key = page[key_at..].split('"').next().unwrap().to_string();
    let action = format!("/console/tasks/{task}/notes");
    let note = "Called <b>Lena</b>: the <script>x()</script> AWS account is hers.";
    for _ in 0..2 {
        let r = rita.post(&action, &[("csrf", &csrf), ("key", &key), ("body", note)]);
        assert_eq!(r.status, 303, "{}", body(&r));
        assert_eq!(r.header("location"), Some(format!("/console/tasks/{task}#notes").as_str()));
    }
    let page = rita.page(&format!("/console/tasks/{task}"));
    assert_eq!(count(&page, "Called &lt;b&gt;Lena&lt;&#x2f;b&gt;"), 1, "the same form twice adds one note: {page}");
    assert!(page.contains("<p class=\"who\">rita, "), "{page}");
    let audit = api.get("/api/v1/audit?action=note.add", &api.senior);
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit["items"][0]["actor"], "rita");

    // Refused: no token, no text, too long; nothing added.
    let r = rita.post(&action, &[("key", "k2"), ("body", "x")]);
    assert_eq!(r.status, 403);
    let r = rita.post(&action, &[("csrf", &csrf), ("key", "k3"), ("body", "   ")]);
    assert_eq!(r.status, 400);
    assert!(body(&r).contains("a note needs some text"), "{}", body(&r));
    let long = "x".repeat(4001);
    assert_eq!(rita.post(&action, &[("csrf", &csrf), ("key", "k4"), ("body", &long)]).status, 400);
    assert_eq!(api.get("/api/v1/audit?action=note.add", &api.senior)["items"].as_array().unwrap().len(), 1);
}

fn the_records_pages_show_accounts_lines_audit_dashboard_and_workflows(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    post_sample(&api, "02-individual-with-product.eml");
    let application = application_of(&api, "dpark.dev@gmail.com");
    let task = task_about(&api, &application);
    let view = api.get(&format!("/api/v1/tasks/{task}"), &api.reviewer);
    let suggested = view["suggested_limit_cents"].as_i64().expect("a suggestion");
    let r = api.post(
        &format!("/api/v1/tasks/{task}/approve"),
        &api.reviewer,
        &[],
        &json!({ "monthly_limit_cents": suggested }),
    );
    assert_eq!(r.status, 200, "{}", body(&r));
    let rita = Browser::sign_in(&api, &api.reviewer);

    // Search by part of the address, and by reference.
    let page = rita.page("/console/search?q=DPARK");
    assert!(page.contains("<a href=\"/console/accounts/dpark.dev%40gmail.com\">dpark.dev@gmail.com</a>"), "{page}");
    let reference = application["reference"].as_str().unwrap();
    let page = rita.page(&format!("/console/search?q={}", reference.to_lowercase()));
    assert!(page.contains(&format!(">{reference}</a> of dpark.dev@gmail.com")), "{page}");
    assert!(rita.page("/console/search?q=%25").contains("No account matches."), "a wildcard is a literal");
    assert_eq!(rita.get(&format!("/console/search?q={}", "x".repeat(201))).status, 400);

    // The account and its line with the money picture.
    let page = rita.page("/console/accounts/dpark.dev@gmail.com");
    assert!(page.contains("Prepaid credits stay available"), "{page}");
    assert!(page.contains(reference), "{page}");
    let limit = format!("${}.{:02}", suggested / 100, suggested % 100);
    assert!(page.contains(&format!("<dt>Monthly limit</dt><dd>{limit}</dd>")), "{page}");
    let lines = rita.page("/console/lines?state=active");
    assert!(lines.contains(">dpark.dev@gmail.com</a>"), "{lines}");
    assert!(rita.page("/console/lines?state=paused").contains("No credit line matches."));
    assert_eq!(rita.get("/console/lines?state=nonsense").status, 400);
    let line = link_with(&lines, ">dpark.dev@gmail.com</a>");
    let page = rita.page(&line);
    assert!(page.contains("<dt>Used in "), "{page}");
    assert!(page.contains("No bill yet."), "{page}");
    assert!(page.contains("No increase proposed."), "{page}");
    assert!(page.contains("created: new → active"), "the line's history: {page}");
    let csrf = csrf_of(&page);
    let r = rita.post(&format!("{line}/notes"), &[("csrf", &csrf), ("key", "n1"), ("body", "asked for a PO number")]);
    assert_eq!(r.status, 303, "{}", body(&r));
    assert!(rita.page(&line).contains("asked for a PO number"));
    // The same line beside the task, and beside any other task about the account (an
    // invoice request here).
    let page = rita.page(&format!("/console/tasks/{task}"));
    assert!(page.contains("Credit line of dpark.dev@gmail.com"), "{page}");
    post_raw(
        &api,
        "Message-ID: <invoice.1@gmail.com>\r\nFrom: Daniel Park <dpark.dev@gmail.com>\r\nTo: support@wavespeed.ai\r\n\
         Subject: Invoice request November 2026\r\n\r\nPlease send an invoice for account dpark.dev@gmail.com, \
         billing period 2026-11.\r\nCompany: Park Apps Ltd\r\nBilling address: 1 Main Street, Springfield, USA\r\n",
    );
    let invoice = all_tasks(&api)
        .into_iter()
        .find(|t| t["kind"] == "invoice_request" && t["title"].as_str().unwrap_or("").contains("dpark"))
        .unwrap_or_else(|| panic!("a task about the invoice request: {:?}", all_tasks(&api)));
    let page = rita.page(&format!("/console/tasks/{}", invoice["id"].as_str().unwrap()));
    assert!(page.contains("Credit line of dpark.dev@gmail.com"), "{page}");

    // The audit log: seniors and admins only.
    assert_eq!(rita.get("/console/audit").status, 403);
    assert!(!rita.page("/console/queue").contains("/console/audit"), "hidden from reviewers");
    let sam = Browser::sign_in(&api, &api.senior);
    let page = sam.page("/console/audit?actor=rita");
    assert!(page.contains("application.approve"), "{page}");
    assert!(page.contains("note.add"), "{page}");
    assert!(sam.page("/console/audit?actor=nobody").contains("No entry matches."));

    // The dashboard counts this month's approval.
    let page = rita.page("/console/dashboard");
    assert!(page.contains("<tr><td>approve</td><td>1</td></tr>"), "{page}");
    assert!(page.contains("Credit outstanding"), "{page}");

    // Every state of every workflow in its diagram.
    let page = rita.page("/console/workflows");
    for workflow in ["credit_line_application", "credit_line", "limit_increase", "aws_login", "invoice_request"] {
        assert!(page.contains(&format!("id=\"wf-{workflow}\"")), "{workflow}");
    }
    for state in ["pending review", "awaiting second approval", "approved", "declined", "paused", "reduced"] {
        assert!(page.contains(&format!("fill=\"#1b1f24\">{state}</text>")), "{state}: {page}");
    }
    assert!(count(&page, "marker-end=") > 20, "{page}");
}

fn a_one_time_link_signs_in_once(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let o = run(api.dir(), &["console", "link", "--name", "rita", "--base-url", "https://review.example/"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let url = stdout(&o).trim().to_string();
    let path = url.strip_prefix("https://review.example").expect("the base URL").to_string();
    assert!(path.starts_with("/console/link/cll_"), "{url}");

    // Opening the link (as a mail scanner would) uses nothing up.
    let r = api.call("GET", &path, None, &[]);
    assert_eq!(r.status, 200);
    assert!(session_cookie(&r).is_none());
    let r = post_form(&api, None, &path, &[]);
    assert_eq!(r.status, 303, "{}", body(&r));
    let cookie = session_cookie(&r).expect("a session");
    let queue = api.call("GET", "/console/queue", None, &[("Cookie", &cookie)]);
    assert!(body(&queue).contains("rita (reviewer)"), "{}", body(&queue));
    // Once only; a forged key is refused as well.
    assert_eq!(post_form(&api, None, &path, &[]).status, 401);
    let forged = format!("{}{}", &path[..path.len() - 4], "0000");
    assert_eq!(post_form(&api, None, &forged, &[]).status, 401);

    for name in ["nobody", "gw"] {
        let o = run(api.dir(), &["console", "link", "--name", name]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains("no unrevoked reviewer token"), "{}", stderr(&o));
    }
}

black_box_suite!(
    the_task_page_shows_the_thread_attachments_chart_and_trace,
    notes_are_added_once_escaped_and_audited,
    the_records_pages_show_accounts_lines_audit_dashboard_and_workflows,
    a_one_time_link_signs_in_once,
);

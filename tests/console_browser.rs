//! The reviewer console in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, fantoccini) against a running `creditline serve`, on SQLite and on
//! PostgreSQL. Sign in, filter the queue, claim (by key), open an application ingested from
//! the shared samples, approve it after its email's preview and see the email queued; four-eyes
//! with the second approval in a second browser by another senior reviewer; a decline with a
//! reason; a stale approval and a form without its CSRF token refused; an applicant's
//! `<script>` shown as text. axe-core checks every page (no serious or critical violation);
//! screenshots of each page go to `target/console-screenshots/`. Skipped when chromedriver is
//! not installed, except under `CI=true`, where `.ci/run` installs it and a skip would hide a
//! failure.

mod common;

#[path = "common/chromium.rs"]
mod chromium;
#[path = "common/console.rs"]
mod console_client;

use std::time::Duration;

use chromium::{axe, browser, driver, path_of, press, screenshot, sign_in, text_of, wait_for};
use common::Api;
use console_client::{AWS_CSV, PNG, application_mail, post_raw, post_sample};
use fantoccini::{Client, Locator};
use serde_json::Value;

fn a_reviewer_signs_in_filters_claims_and_signs_out_in_chromium(dir: tempfile::TempDir) {
    let Some(driver) = driver() else { return };
    let api = Api::start(dir);
    let base = format!("http://{}", api.server.addr);
    common::rt().block_on(async {
        let c = browser(&driver).await;
        // Any page without a session lands on the sign-in form.
        c.goto(&format!("{base}/console/queue")).await.expect("open the queue");
        assert_eq!(path_of(&c).await, "/console/sign-in");
        screenshot(&c, "sign-in").await;
        axe(&c, "sign-in").await;
        c.find(Locator::Id("token")).await.expect("token field").send_keys(&api.reviewer).await.expect("type");
        c.find(Locator::Css("form.signin button")).await.expect("button").click().await.expect("sign in");
        wait_for(&c, "the queue", |p| p == "/console/queue").await;
        axe(&c, "queue").await;
        let who = c.find(Locator::Css("form.signout span")).await.expect("who").text().await.expect("text");
        assert_eq!(who, "rita (reviewer)");
        screenshot(&c, "queue").await;

        // Filter the queue to triage tasks with the form.
        let kind = c.find(Locator::Id("kind")).await.expect("kind filter");
        kind.select_by_value("triage").await.expect("choose triage");
        c.find(Locator::Css("form.filters button")).await.expect("filter").click().await.expect("filter");
        wait_for(&c, "the triage filter", |p| p.contains("kind=triage")).await;
        let kinds = c.find_all(Locator::Css("table.queue tbody tr td:nth-child(2)")).await.expect("rows");
        assert!(!kinds.is_empty(), "the corpus makes triage tasks");
        for k in kinds {
            assert_eq!(k.text().await.expect("kind"), "triage");
        }

        // Claim the oldest: the task's page opens, with the task now ours.
        let title = c.find(Locator::Css("table.queue tbody tr td a")).await.expect("first").text().await.expect("t");
        c.find(Locator::Css("table.queue tbody tr button")).await.expect("claim").click().await.expect("claim");
        wait_for(&c, "the task page", |p| p.starts_with("/console/tasks/")).await;
        assert_eq!(c.find(Locator::Css("h1")).await.expect("h1").text().await.expect("title"), title);
        let facts = c.find(Locator::Css("dl.facts")).await.expect("facts").text().await.expect("facts");
        assert!(facts.contains("rita"), "{facts}");
        screenshot(&c, "task").await;
        let id = path_of(&c).await.trim_start_matches("/console/tasks/").to_string();
        assert_eq!(api.get(&format!("/api/v1/tasks/{id}"), &api.reviewer)["task"]["assignee"], "rita");

        // Sign out: the session is over, the queue asks for a token again.
        c.find(Locator::Css("form.signout button")).await.expect("sign out").click().await.expect("sign out");
        wait_for(&c, "the sign-in page", |p| p == "/console/sign-in").await;
        c.goto(&format!("{base}/console/queue")).await.expect("queue again");
        assert_eq!(path_of(&c).await, "/console/sign-in");
        c.close().await.expect("close the browser");
    });
}

/// Waits (up to ten seconds) for an element matching `css`.
async fn wait_css(c: &Client, css: &str) -> fantoccini::elements::Element {
    match c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await {
        Ok(e) => e,
        Err(e) => panic!("waited for {css}: {e} at {}", path_of(c).await),
    }
}

async fn click(c: &Client, css: &str) {
    wait_css(c, css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn fill(c: &Client, css: &str, text: &str) {
    let field = wait_css(c, css).await;
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

fn task_json(api: &Api, id: &str) -> Value {
    api.get(&format!("/api/v1/tasks/{id}"), &api.reviewer)
}

fn open_reviews(api: &Api) -> Vec<Value> {
    api.get("/api/v1/tasks?kind=application_review&limit=200", &api.reviewer)["items"].as_array().unwrap().clone()
}

fn id_of(task: &Value) -> String {
    task["id"].as_str().unwrap().to_string()
}

/// Submits the page's form for the preview, checks the preview, and confirms it.
async fn preview_then_confirm(c: &Client, preview_button: &str, task: &str, shot: &str, expect: &str) {
    click(c, preview_button).await;
    wait_for(c, "the preview", |p| p.ends_with("/act")).await;
    let emails = text_of(c, "#emails").await;
    let shown = c.find(Locator::Css("main")).await.expect("main").text().await.expect("text");
    assert!(shown.contains(expect), "{shot}: {expect:?} not in {emails}: {shown}");
    screenshot(c, shot).await;
    axe(c, shot).await;
    click(c, "form.confirm button").await;
    wait_for(c, "the task again", |p| p == format!("/console/tasks/{task}")).await;
}

fn a_sample_application_is_claimed_by_key_previewed_and_approved_in_chromium(dir: tempfile::TempDir) {
    let Some(driver) = driver() else { return };
    let api = Api::start(dir);
    post_sample(&api, "02-individual-with-product.eml");
    let task = open_reviews(&api).into_iter().find(|t| t["details"]["to"] == "dpark.dev@gmail.com").expect("in review");
    let id = id_of(&task);
    let base = format!("http://{}", api.server.addr);
    common::rt().block_on(async {
        let c = browser(&driver).await;
        sign_in(&c, &base, &api.reviewer).await;
        c.goto(&format!("{base}/console/tasks/{id}")).await.expect("the task");
        // `c` claims it (the page's Claim button), as the footer says.
        press(&c, 'c').await;
        wait_css(&c, "form[action$='/release']").await;
        assert_eq!(task_json(&api, &id)["task"]["assignee"], "rita");
        screenshot(&c, "task-application").await;
        axe(&c, "task (application review)").await;

        // `a` opens the approval's preview with the rule's suggestion: the email as it will go.
        let suggested = task_json(&api, &id)["suggested_limit_cents"].as_i64().expect("a suggestion");
        let dollars = format!("{}.{:02}", suggested / 100, suggested % 100);
        let limit = c.find(Locator::Id("monthly_limit")).await.expect("limit").prop("value").await.expect("value");
        assert_eq!(limit.as_deref(), Some(dollars.as_str()), "the suggestion is prefilled");
        press(&c, 'a').await;
        wait_for(&c, "the preview", |p| p.ends_with("/act")).await;
        let reference = api.get(&format!("/api/v1/applications/{}", task["subject_id"].as_str().unwrap()), &api.reviewer)
            ["application"]["reference"]
            .as_str()
            .unwrap()
            .to_string();
        let subject = text_of(&c, ".email-preview .subject").await;
        assert_eq!(subject, format!("Your monthly credit line is approved: ${dollars}/month [{reference}]"));
        assert!(text_of(&c, ".email-preview").await.contains("dpark.dev@gmail.com"));
        screenshot(&c, "preview-approval").await;
        axe(&c, "preview").await;
        assert_eq!(task_json(&api, &id)["task"]["state"], "open", "a preview takes nothing");
        click(&c, "form.confirm button").await;
        wait_for(&c, "the task again", |p| p == format!("/console/tasks/{id}")).await;

        // The task is done, the email queued, the line open.
        assert!(text_of(&c, "#decided").await.contains("This task is done"));
        let emails = text_of(&c, "table.emails").await;
        assert!(emails.contains("application approved") && emails.contains("dpark.dev@gmail.com"), "{emails}");
        screenshot(&c, "task-approved").await;
        let account = api.get("/api/v1/accounts/dpark.dev@gmail.com", &api.reviewer);
        assert_eq!(account["active_credit_line"]["monthly_limit_cents"], suggested, "{account}");
        // The line it opened is on the task's page, its limit the one approved.
        let line = text_of(&c, "section[aria-labelledby='line-1'] dl.facts").await;
        assert!(line.contains(&format!("Monthly limit\n${dollars}")) && line.contains("State\nactive"), "{line}");
        c.close().await.expect("close the browser");
    });
}

fn four_eyes_takes_a_second_senior_in_a_second_browser(dir: tempfile::TempDir) {
    let Some(driver) = driver() else { return };
    let api = Api::start(dir);
    let task = open_reviews(&api).into_iter().next().expect("a review");
    let id = id_of(&task);
    let base = format!("http://{}", api.server.addr);
    common::rt().block_on(async {
        // Sam approves $1,000 (above the suggestion: a senior, with a reason).
        let sam = browser(&driver).await;
        sign_in(&sam, &base, &api.senior).await;
        sam.goto(&format!("{base}/console/tasks/{id}")).await.expect("the task");
        click(&sam, "form[action$='/claim'] button").await;
        wait_css(&sam, "form[action$='/release']").await;
        fill(&sam, "#monthly_limit", "1000").await;
        fill(&sam, "#override_reason", "three years of steady AWS spend").await;
        preview_then_confirm(&sam, "#form-approve button", &id, "preview-first-approval", "No email is sent").await;
        assert_eq!(task_json(&api, &id)["task"]["state"], "awaiting_second_approval");
        assert!(text_of(&sam, "#decided").await.contains("You gave the first approval"));

        // Sue, in her own browser, finds it in the four-eyes queue and confirms it.
        let sue = browser(&driver).await;
        sign_in(&sue, &base, &api.senior2).await;
        sue.goto(&format!("{base}/console/queue?state=awaiting_second_approval")).await.expect("four-eyes queue");
        screenshot(&sue, "queue-four-eyes").await;
        axe(&sue, "four-eyes queue").await;
        click(&sue, &format!("table.queue a[href='/console/tasks/{id}']")).await;
        wait_for(&sue, "the task", |p| p == format!("/console/tasks/{id}")).await;
        assert!(text_of(&sue, ".notice").await.contains("First approval by sam for $1,000.00"));
        screenshot(&sue, "task-second-approval").await;
        axe(&sue, "second approval").await;
        preview_then_confirm(&sue, "#form-approve button", &id, "preview-second-approval", "$1,000.00/month").await;
        assert_eq!(task_json(&api, &id)["task"]["state"], "done");
        let account = api.get(&format!("/api/v1/applications/{}", task["subject_id"].as_str().unwrap()), &api.reviewer)
            ["application"]["account_email"]
            .as_str()
            .unwrap()
            .to_string();
        let line = &api.get(&format!("/api/v1/accounts/{account}"), &api.reviewer)["active_credit_line"];
        assert_eq!((line["approved_by"].as_str(), line["second_approver"].as_str()), (Some("sam"), Some("sue")));
        assert_eq!(line["monthly_limit_cents"], 100_000);
        sam.close().await.expect("close");
        sue.close().await.expect("close");
    });
}

fn declines_stale_pages_forged_forms_and_hostile_text_in_chromium(dir: tempfile::TempDir) {
    let Some(driver) = driver() else { return };
    let api = Api::start(dir);
    post_raw(
        &api,
        "Message-ID: <xss-b@evil.example>\r\nFrom: ops@evil.example\r\nTo: support@wavespeed.ai\r\n\
         Subject: <script>alert(1)</script>\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nHello <img src=x onerror=alert(2)> there\r\n",
    );
    let reviews = open_reviews(&api);
    let (declined, stale, forged) = (id_of(&reviews[0]), id_of(&reviews[1]), id_of(&reviews[2]));
    let base = format!("http://{}", api.server.addr);
    common::rt().block_on(async {
        let c = browser(&driver).await;
        sign_in(&c, &base, &api.reviewer).await;

        // A decline with its reason code and message.
        c.goto(&format!("{base}/console/tasks/{declined}")).await.expect("task");
        click(&c, "form[action$='/claim'] button").await;
        wait_css(&c, "form[action$='/release']").await;
        press(&c, 'd').await;
        let focused = c.active_element().await.expect("focus").attr("id").await.expect("id");
        assert_eq!(focused.as_deref(), Some("reason_code"), "`d` goes to the decline's reason");
        c.find(Locator::Id("reason_code")).await.expect("reason").select_by_value("no_product").await.expect("pick");
        fill(&c, "#decline_message", "We could not find a product of yours that uses the API.").await;
        preview_then_confirm(&c, "#form-decline button", &declined, "preview-decline", "could not find a product")
            .await;
        let application =
            api.get(&format!("/api/v1/applications/{}", reviews[0]["subject_id"].as_str().unwrap()), &api.reviewer);
        assert_eq!(application["application"]["state"], "declined");

        // A stale approval: the preview was made, then Rob claimed the task; Confirm is refused.
        c.goto(&format!("{base}/console/tasks/{stale}")).await.expect("task");
        click(&c, "#form-approve button").await;
        wait_for(&c, "the preview", |p| p.ends_with("/act")).await;
        let r = api.call("POST", &format!("/api/v1/tasks/{stale}/claim"), Some(&api.reviewer2), &[]);
        assert_eq!(r.status, 200);
        click(&c, "form.confirm button").await;
        wait_css(&c, "p.problem").await;
        assert_eq!(text_of(&c, "h1").await, "Conflict");
        assert!(text_of(&c, "p.problem").await.contains("someone else changed this"));
        screenshot(&c, "stale-refused").await;
        axe(&c, "error page").await;
        let after = task_json(&api, &stale);
        assert_eq!((after["task"]["state"].as_str(), after["task"]["assignee"].as_str()), (Some("open"), Some("rob")));

        // A form whose CSRF token was taken out (as a forged post would lack it) is refused.
        c.goto(&format!("{base}/console/tasks/{forged}")).await.expect("task");
        c.execute("document.querySelector('#form-decline input[name=csrf]').remove()", vec![]).await.expect("strip");
        c.find(Locator::Id("reason_code")).await.expect("reason").select_by_value("other").await.expect("pick");
        fill(&c, "#decline_message", "forged").await;
        click(&c, "#form-decline button").await;
        wait_css(&c, "p.problem").await;
        assert!(text_of(&c, "p.problem").await.contains("this form has expired"), "refused");
        assert_eq!(task_json(&api, &forged)["task"]["version"], reviews[2]["version"], "nothing changed");

        // The applicant's markup is text: no script ran, no image was made.
        let triage = api.get("/api/v1/tasks?kind=triage&limit=500", &api.reviewer)["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["title"].as_str().unwrap_or_default().contains("<script>"))
            .map(id_of)
            .expect("the hostile message's task");
        c.goto(&format!("{base}/console/tasks/{triage}")).await.expect("task");
        assert_eq!(text_of(&c, "h1").await, "Triage: <script>alert(1)</script>");
        let made = c
            .execute("return [document.scripts.length, document.querySelectorAll('main img').length]", vec![])
            .await
            .expect("count");
        assert_eq!(made, serde_json::json!([1, 0]), "only our own script, no applicant image");
        screenshot(&c, "task-triage-hostile").await;
        axe(&c, "triage task").await;
        c.close().await.expect("close the browser");
    });
}

/// Every page of the console once, with axe-core and a screenshot each: the dashboard, a task
/// with its thread (provenance marks, a CSV table, an inline image), chart, rule trace and
/// line, a note added through the form, search, an account, the lines, a line, the audit log,
/// the workflow diagrams, the rule versions, a version with its diff and backtest, the rule
/// analytics, the one-time link page and the error page.
fn every_console_page_passes_axe_and_is_photographed(dir: tempfile::TempDir) {
    let Some(driver) = driver() else { return };
    let api = Api::start(dir);
    let base = format!("http://{}", api.server.addr);
    // A line to show: the sample individual approved through the API.
    post_sample(&api, "02-individual-with-product.eml");
    let dpark = open_reviews(&api)
        .into_iter()
        .find(|t| t["details"]["to"] == "dpark.dev@gmail.com")
        .expect("the sample application waits for review");
    let suggested = task_json(&api, &id_of(&dpark))["suggested_limit_cents"].clone();
    let r = api.post(
        &format!("/api/v1/tasks/{}/approve", id_of(&dpark)),
        &api.reviewer,
        &[],
        &serde_json::json!({ "monthly_limit_cents": suggested }),
    );
    assert_eq!(r.status, 200);
    // An application with evidence to show: a billing CSV and a screenshot.
    post_raw(
        &api,
        &application_mail(
            "kai.dev@gmail.com",
            &[("aws-billing.csv", "text/csv", AWS_CSV.as_bytes()), ("screen.png", "image/png", PNG)],
        ),
    );
    let kai = open_reviews(&api)
        .into_iter()
        .find(|t| t["details"]["to"] == "kai.dev@gmail.com")
        .expect("the application waits for review");
    // A proposed policy version: the first tier at $100.
    let candidate = tempfile::tempdir().expect("candidate");
    common::copy_dir(&common::repo().join("rules"), candidate.path());
    let script = candidate.path().join("initial_limit.rhai");
    let text = std::fs::read_to_string(&script).expect("read");
    std::fs::write(&script, text.replace("let STANDARD_LIMIT_CENTS = 20000;", "let STANDARD_LIMIT_CENTS = 10000;"))
        .expect("write");
    let dir = candidate.path().display().to_string();
    let proposed = common::run(api.dir(), &["rules", "propose", &dir, "--note", "first tier $100", "--by", "ada"]);
    assert!(proposed.status.success(), "{}", common::stderr(&proposed));
    let policy = common::stdout(&proposed).split_whitespace().next().expect("an id").to_string();
    let link = common::run(api.dir(), &["console", "link", "--name", "sam"]);
    assert!(link.status.success(), "{}", common::stderr(&link));
    let link = common::stdout(&link).trim().to_string();
    let link_path = link.split_once("/console/").map(|(_, p)| format!("/console/{p}")).expect("a console link");

    common::rt().block_on(async {
        let c = browser(&driver).await;
        let visit = |path: String, name: &'static str| {
            let c = c.clone();
            let base = base.clone();
            async move {
                c.goto(&format!("{base}{path}")).await.unwrap_or_else(|e| panic!("{name}: {e}"));
                wait_for(&c, name, |_| true).await;
                axe(&c, name).await;
                screenshot(&c, name).await;
            }
        };
        // The link page first (no session yet), then its button signs sam in.
        visit(link_path, "link").await;
        click(&c, "form.signin button").await;
        wait_for(&c, "the queue", |p| p == "/console/queue").await;

        visit(format!("/console/tasks/{}", id_of(&kai)), "task-evidence").await;
        let marks = c.find_all(Locator::Css("article.message mark")).await.expect("marks");
        assert!(marks.len() >= 3, "fields marked where they were read");
        assert_eq!(c.find_all(Locator::Css("table.csv tbody tr")).await.expect("csv rows").len(), 6);
        assert_eq!(c.find_all(Locator::Css("figure.chart rect")).await.expect("bars").len(), 5);
        let loaded =
            c.execute("return document.querySelector('img.attached').naturalWidth", vec![]).await.expect("the image");
        assert_eq!(loaded, Value::from(1), "the attached PNG loads under the console's CSP");
        for (section, shot) in [("billing", "task-chart-and-trace"), ("thread", "task-thread")] {
            c.execute(&format!("document.getElementById('{section}').scrollIntoView()"), vec![]).await.expect("scroll");
            screenshot(&c, shot).await;
        }
        fill(&c, "#note-body", "Checked the AWS export against the account id.").await;
        click(&c, "form.note-form button").await;
        wait_for(&c, "the note", |p| p.starts_with("/console/tasks/")).await;
        assert!(text_of(&c, "ol.notes").await.contains("Checked the AWS export"), "the note is shown");
        screenshot(&c, "task-notes").await;

        visit(format!("/console/tasks/{}", id_of(&dpark)), "task-line").await;
        visit("/console/dashboard".into(), "dashboard").await;
        visit("/console/search?q=dev".into(), "search").await;
        visit("/console/accounts/dpark.dev%40gmail.com".into(), "account").await;
        visit("/console/lines".into(), "lines").await;
        click(&c, "main table tbody tr td a").await;
        wait_for(&c, "a line", |p| p.starts_with("/console/lines/")).await;
        axe(&c, "line").await;
        screenshot(&c, "line").await;
        visit("/console/audit".into(), "audit").await;
        visit("/console/workflows".into(), "workflows").await;
        visit("/console/rules".into(), "rules").await;
        visit(format!("/console/rules/{policy}?backtest=on"), "rule-version").await;
        assert!(text_of(&c, "pre.diff").await.contains("+let STANDARD_LIMIT_CENTS = 10000;"));
        visit("/console/rules/analytics".into(), "rule-analytics").await;
        visit("/console/no-such-page".into(), "not-found").await;
        c.close().await.expect("close the browser");
    });
}

// Once on SQLite, once on PostgreSQL (when CREDITLINE_TEST_DATABASE_URL is set).
black_box_suite!(
    a_reviewer_signs_in_filters_claims_and_signs_out_in_chromium,
    a_sample_application_is_claimed_by_key_previewed_and_approved_in_chromium,
    four_eyes_takes_a_second_senior_in_a_second_browser,
    declines_stale_pages_forged_forms_and_hostile_text_in_chromium,
    every_console_page_passes_axe_and_is_photographed,
);

//! The reviewer console in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, fantoccini) against a running `creditline serve`. Sign in, filter the queue,
//! claim a task, see it on its page, sign out, on SQLite and on PostgreSQL; screenshots of
//! each page go to `target/console-screenshots/`. Skipped when chromedriver is not installed, except under
//! `CI=true`, where `.ci/run` installs it and a skip would hide a failure.

mod common;

#[path = "common/chromium.rs"]
mod chromium;

use chromium::{browser, driver, path_of, screenshot, wait_for};
use common::Api;
use fantoccini::Locator;

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
        c.find(Locator::Id("token")).await.expect("token field").send_keys(&api.reviewer).await.expect("type");
        c.find(Locator::Css("form.signin button")).await.expect("button").click().await.expect("sign in");
        wait_for(&c, "the queue", |p| p == "/console/queue").await;
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

// Once on SQLite, once on PostgreSQL (when CREDITLINE_TEST_DATABASE_URL is set).
black_box_suite!(a_reviewer_signs_in_filters_claims_and_signs_out_in_chromium);

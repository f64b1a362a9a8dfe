//! The reviewer console in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, fantoccini) against a running `creditline serve`. Sign in, filter the queue,
//! claim a task, see it on its page, sign out, on SQLite and on PostgreSQL; screenshots of
//! each page go to `target/console-screenshots/`. Skipped when chromedriver is not installed, except under
//! `CI=true`, where `.ci/run` installs it and a skip would hide a failure.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::Api;
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver child on a free port, killed when the test ends.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn driver() -> Option<Driver> {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {CHROMEDRIVER} or {CHROMIUM} is missing: .ci/run installs chromium and chromium-driver"
        );
        eprintln!("chromium or chromedriver not installed: browser test skipped");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(driver);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("chromedriver did not listen on {port}");
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(&driver.url).await.expect("a Chromium session")
}

fn screenshots() -> PathBuf {
    let dir = common::repo().join("target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("write screenshot");
}

async fn path_of(c: &Client) -> String {
    let url = c.current_url().await.expect("url");
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// Waits (up to ten seconds) until the page's path and query satisfy `ok`: a click that
/// submits a form returns before the next page has loaded.
async fn wait_for(c: &Client, what: &str, ok: impl Fn(&str) -> bool) -> String {
    for _ in 0..200 {
        let now = path_of(c).await;
        if ok(&now) && c.execute("return document.readyState", vec![]).await.ok() == Some("complete".into()) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("waited for {what}; still at {}", path_of(c).await);
}

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

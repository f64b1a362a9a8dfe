//! Headless Chromium over WebDriver for the console's browser tests: a chromedriver child on
//! a free port, a Chromium session, screenshots into `target/console-screenshots/`, and a
//! wait for the next page. Included with `#[path = "common/chromium.rs"] mod chromium;`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver child on a free port, killed when the test ends.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn driver() -> Option<Driver> {
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

pub async fn browser(driver: &Driver) -> Client {
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

pub fn screenshots() -> PathBuf {
    let dir = crate::common::repo().join("target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

pub async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("write screenshot");
}

pub async fn path_of(c: &Client) -> String {
    let url = c.current_url().await.expect("url");
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// Waits (up to ten seconds) until the page's path and query satisfy `ok`: a click that
/// submits a form returns before the next page has loaded.
pub async fn wait_for(c: &Client, what: &str, ok: impl Fn(&str) -> bool) -> String {
    for _ in 0..200 {
        let now = path_of(c).await;
        if ok(&now) && c.execute("return document.readyState", vec![]).await.ok() == Some("complete".into()) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("waited for {what}; still at {}", path_of(c).await);
}

/// axe-core's script (`npm ci --prefix tests/browser`), if installed. Missing under
/// `CI=true` is a failure: `.ci/run` installs it.
fn axe_script() -> Option<String> {
    let path = crate::common::repo().join("tests/browser/node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but {} is missing ({e}): .ci/run runs npm ci --prefix tests/browser",
                path.display()
            );
            eprintln!("axe-core not installed (npm ci --prefix tests/browser): accessibility check skipped");
            None
        }
    }
}

/// Runs axe-core in the page (WCAG 2.0, 2.1 and 2.2, A and AA) and fails on any serious or
/// critical violation, naming the rule and the elements. WebDriver injects the script past the
/// page's CSP, which keeps the page's own scripts to ours.
pub async fn axe(c: &Client, page: &str) {
    let Some(script) = axe_script() else { return };
    c.execute(&script, vec![]).await.expect("inject axe-core");
    let found = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { runOnly: { type: "tag", values:
                   ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] } })
                 .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                     nodes: v.nodes.map(n => n.target.join(" ")) }))))
                 .catch(e => done([{ id: "axe-error", impact: "critical", help: String(e), nodes: [] }]));"#,
            vec![],
        )
        .await
        .expect("run axe-core");
    let violations = found.as_array().cloned().unwrap_or_default();
    let bad: Vec<_> =
        violations.iter().filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical"))).collect();
    assert!(bad.is_empty(), "{page}: axe-core found serious or critical violations: {bad:#?}");
}

/// Presses `key` with no field focused, as a keyboard user would.
pub async fn press(c: &Client, key: char) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    c.execute("if (document.activeElement) document.activeElement.blur();", vec![]).await.expect("blur");
    let keys =
        KeyActions::new("keyboard".into()).then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
    c.perform_actions(keys).await.expect("press a key");
}

/// The visible text of the first element matching `css`.
pub async fn text_of(c: &Client, css: &str) -> String {
    c.find(fantoccini::Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.expect("text")
}

/// Signs in at `base` with `token` and waits for the queue.
pub async fn sign_in(c: &Client, base: &str, token: &str) {
    c.goto(&format!("{base}/console/sign-in")).await.expect("sign-in page");
    c.find(fantoccini::Locator::Id("token")).await.expect("token field").send_keys(token).await.expect("type");
    c.find(fantoccini::Locator::Css("form.signin button")).await.expect("button").click().await.expect("sign in");
    wait_for(c, "the queue", |p| p == "/console/queue").await;
}

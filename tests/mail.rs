//! Outgoing email end to end: `creditline ingest` writes the outbox, `creditline worker`
//! processes send it to a real SMTP server (aiosmtpd, started by each test on its own port and
//! writing a Maildir in the test's directory). Without aiosmtpd the tests are skipped, except
//! in CI (`CI=true`), where that fails.
//!
//! The worker processes are real and are stopped the real way: SIGTERM, or SIGKILL for the
//! crash test.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{creditline, python_with_aiosmtpd, repo, stderr};
use creditline::store::{OutboxRecord, Store, TaskFilter};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running aiosmtpd (the simulation's `src/sim/smtp_sink.py`), stopped on drop.
struct Smtpd {
    _child: common::Reaped,
    maildir: PathBuf,
}

impl Smtpd {
    /// `None` (skip) when aiosmtpd is not installed outside CI.
    fn available() -> Option<String> {
        let py = python_with_aiosmtpd();
        if py.is_none() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "aiosmtpd is not installed (apt-get install python3-aiosmtpd); CI must run the SMTP tests"
            );
            eprintln!("aiosmtpd not installed: SMTP test skipped");
        }
        py
    }

    fn start(py: &str, port: u16, maildir: &Path, extra: &[&str]) -> Smtpd {
        let mut child = Command::new(py)
            .arg(repo().join("src/sim/smtp_sink.py"))
            .args(["--port", &port.to_string(), "--maildir"])
            .arg(maildir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aiosmtpd");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("ready"), "aiosmtpd did not start: {line:?}");
        Smtpd { _child: common::Reaped(child), maildir: maildir.to_path_buf() }
    }

    /// Every message the server accepted, as text.
    fn messages(&self) -> Vec<String> {
        read_maildir(&self.maildir)
    }
}

fn read_maildir(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else { continue };
        for e in entries.flatten() {
            out.push(String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).replace("\r\n", "\n"));
        }
    }
    out
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    message
        .lines()
        .take_while(|l| !l.is_empty())
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim())
}

/// A test's directory: its own SQLite database (or PostgreSQL schema), SMTP on `port`, fast
/// retries and ticks.
struct Site {
    dir: tempfile::TempDir,
    url: String,
}

impl Site {
    fn new(port: u16, extra: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("creditline.db").display());
        std::fs::write(
            dir.path().join("creditline.toml"),
            format!(
                "database_url = {url:?}\n\
                 [mail]\ntransport = \"smtp\"\nretry_base_ms = 300\nretry_max_ms = 1000\nlease_seconds = 2\n{extra}\n\
                 [mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout_seconds = 5\n\
                 [workers]\ntick_ms = 100\npoll_ms = 100\n"
            ),
        )
        .unwrap();
        Site { dir, url }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn ingest(&self, samples: &[&str]) {
        let shared = repo().join("../shared/samples/inbox");
        let mut cmd = creditline(self.path());
        cmd.arg("ingest");
        for s in samples {
            cmd.arg(shared.join(s));
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }

    fn worker(&self) -> Worker {
        let log = std::fs::File::create(self.path().join(format!("worker-{}.log", uuid::Uuid::now_v7()))).unwrap();
        let child = creditline(self.path())
            .env("CREDITLINE_LOG_LEVEL", "info,apalis_core=warn,sqlx=warn")
            .arg("worker")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn worker");
        Worker { child: Some(child) }
    }

    fn store(&self) -> Store2 {
        Store2::open(&self.url)
    }
}

/// The test's own look at the database, through the library (a second process on the file).
struct Store2 {
    rt: tokio::runtime::Runtime,
    store: Arc<dyn Store>,
}

impl Store2 {
    fn open(url: &str) -> Store2 {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let store = rt.block_on(creditline::store::connect(url)).unwrap();
        Store2 { rt, store }
    }

    /// Every email outbox row.
    fn emails(&self) -> Vec<OutboxRecord> {
        self.rt.block_on(async {
            let mut out = Vec::new();
            let filter = creditline::store::ApplicationFilter { limit: 1000, ..Default::default() };
            let apps = self.store.list_applications(&filter).await.unwrap();
            for a in apps {
                out.extend(self.store.outbox_for(a.id.into()).await.unwrap().into_iter().filter(|o| o.kind == "email"));
            }
            out
        })
    }

    fn tasks_of_kind(&self, kind: &str) -> Vec<creditline::store::TaskRecord> {
        let filter = TaskFilter { kind: Some(kind.into()), limit: 1000, ..Default::default() };
        self.rt.block_on(self.store.list_tasks(&filter)).unwrap()
    }
}

struct Worker {
    child: Option<Child>,
}

impl Worker {
    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "worker exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "worker did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn all_sent(rows: &[OutboxRecord]) -> bool {
    !rows.is_empty() && rows.iter().all(|r| r.status == "sent")
}

#[test]
fn an_ingested_application_gets_its_email_with_the_right_headers_and_body() {
    let Some(py) = Smtpd::available() else { return };
    let port = free_port();
    let site = Site::new(port, "");
    let smtpd = Smtpd::start(&py, port, &site.path().join("maildir"), &[]);
    site.ingest(&["01-enterprise-complete.eml"]);
    let worker = site.worker();
    let db = site.store();
    wait_until("every email is sent", 30, || all_sent(&db.emails()));
    worker.stop();

    let rows = db.emails();
    let received = rows.iter().find(|r| r.name == "application_received").expect("application_received queued");
    let messages = smtpd.messages();
    assert_eq!(messages.len(), rows.len(), "one message per outbox row");
    let m = messages
        .iter()
        .find(|m| header(m, "Message-ID") == received.message_id.as_deref())
        .unwrap_or_else(|| panic!("no message with {:?} in {messages:#?}", received.message_id));
    let sample = std::fs::read_to_string(repo().join("../shared/samples/inbox/01-enterprise-complete.eml")).unwrap();
    let sample_id = header(&sample.replace("\r\n", "\n"), "Message-ID").unwrap().to_string();
    let reference = db
        .rt
        .block_on(db.store.application(creditline::domain::ApplicationId(received.instance_id.0)))
        .unwrap()
        .unwrap()
        .reference;

    assert_eq!(header(m, "From"), Some("\"WaveSpeedAI Support\" <support@wavespeed.ai>"));
    assert_eq!(header(m, "Reply-To"), Some("\"WaveSpeedAI Support\" <support@wavespeed.ai>"));
    assert_eq!(header(m, "To"), received.payload["to"].as_str());
    assert_eq!(header(m, "Message-ID"), Some(format!("<outbox.{}@wavespeed.ai>", received.id).as_str()));
    assert_eq!(header(m, "In-Reply-To"), Some(sample_id.as_str()), "answers the applicant's message");
    assert!(m.contains(&format!("References: {sample_id}")), "{m}");
    assert_eq!(header(m, "Auto-Submitted"), Some("auto-generated"));
    assert!(header(m, "Subject").unwrap().contains(&format!("[{reference}]")), "{m}");
    assert!(header(m, "Content-Type").unwrap().starts_with("multipart/alternative"), "{m}");
    assert!(m.contains("Content-Type: text/plain") && m.contains("Content-Type: text/html"), "{m}");
    assert!(m.contains(&format!("Your reference is {reference}")), "{m}");
    assert!(received.attempts == 1 && received.last_error.is_none(), "{received:?}");
}

/// apalis keeps a row per job. Kept after the job is done, they made every ack slower (it
/// looks through each row its worker ever locked), so a worker prunes the finished ones.
#[test]
fn a_worker_prunes_its_finished_send_jobs_and_keeps_sending() {
    let Some(py) = Smtpd::available() else { return };
    let port = free_port();
    let site = Site::new(port, "");
    let _smtpd = Smtpd::start(&py, port, &site.path().join("maildir"), &[]);
    let jobs = |status: &str| -> i64 {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let pool = sqlx::SqlitePool::connect(&site.url).await.unwrap();
            let n = sqlx::query_scalar("SELECT COUNT(*) FROM Jobs WHERE job_type LIKE '%.send_email' AND status = $1")
                .bind(status)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            n
        })
    };
    site.ingest(&["01-enterprise-complete.eml"]);
    let worker = site.worker();
    let db = site.store();
    wait_until("the first emails are sent", 30, || all_sent(&db.emails()));
    let first = db.emails().len();
    wait_until("the finished send jobs are pruned", 30, || jobs("Done") == 0);
    // The worker goes on sending what comes next, and prunes that too.
    site.ingest(&["02-individual-with-product.eml"]);
    wait_until("the next emails are sent", 30, || {
        let rows = db.emails();
        rows.len() > first && all_sent(&rows)
    });
    wait_until("those jobs are pruned too", 30, || jobs("Done") == 0);
    worker.stop();
    assert!(db.emails().iter().all(|r| r.attempts == 1), "each email sent once: {:?}", db.emails());
}

#[test]
fn smtp_down_is_retried_and_the_email_is_delivered_once_when_it_comes_back() {
    let Some(py) = Smtpd::available() else { return };
    let port = free_port();
    let site = Site::new(port, "max_attempts = 50");
    site.ingest(&["03-individual-no-product.eml"]);
    let worker = site.worker();
    let db = site.store();
    wait_until("a few attempts failed", 30, || {
        let rows = db.emails();
        !rows.is_empty() && rows.iter().all(|r| r.attempts >= 2 && r.status != "sent" && r.status != "failed")
    });
    let failed = db.emails();
    assert!(failed.iter().all(|r| r.last_error.as_deref().is_some_and(|e| !e.is_empty())), "{failed:?}");

    let smtpd = Smtpd::start(&py, port, &site.path().join("maildir"), &[]);
    wait_until("the email is sent after all", 30, || all_sent(&db.emails()));
    // Give a doubled send the time to show up before counting.
    std::thread::sleep(Duration::from_millis(800));
    worker.stop();
    let rows = db.emails();
    let messages = smtpd.messages();
    assert_eq!(messages.len(), rows.len(), "delivered once each: {messages:#?}");
    let ids: BTreeSet<_> = messages.iter().map(|m| header(m, "Message-ID").unwrap().to_string()).collect();
    let expected: BTreeSet<_> = rows.iter().map(|r| r.message_id.clone().unwrap()).collect();
    assert_eq!(ids, expected);
}

#[test]
fn a_permanent_smtp_failure_stops_retrying_and_opens_a_reviewer_task() {
    let Some(py) = Smtpd::available() else { return };
    let port = free_port();
    let site = Site::new(port, "");
    // Sample 03 comes from tombecker1997@gmail.com: the server refuses that mailbox with 550.
    let smtpd = Smtpd::start(&py, port, &site.path().join("maildir"), &["--reject", "tombecker"]);
    site.ingest(&["03-individual-no-product.eml"]);
    let worker = site.worker();
    let db = site.store();
    wait_until("the email has failed", 30, || {
        let rows = db.emails();
        !rows.is_empty() && rows.iter().all(|r| r.status == "failed")
    });
    // More ticks and polls pass; nothing tries again.
    std::thread::sleep(Duration::from_millis(1500));
    worker.stop();
    let rows = db.emails();
    for r in &rows {
        assert_eq!(r.status, "failed");
        assert_eq!(r.attempts, 1, "a 5xx is not retried: {r:?}");
        assert!(r.last_error.as_deref().is_some_and(|e| e.contains("550")), "{r:?}");
    }
    assert!(smtpd.messages().is_empty());
    let tasks = db.tasks_of_kind("email_failure");
    assert_eq!(tasks.len(), rows.len(), "one reviewer task per failed email: {tasks:#?}");
    for t in &tasks {
        assert_eq!(t.state, "open");
        assert!(t.details["error"].as_str().is_some_and(|e| e.contains("550")), "{t:?}");
        assert!(rows.iter().any(|r| t.details["outbox_id"] == serde_json::json!(r.id)), "{t:?}");
    }
}

#[test]
fn a_worker_killed_mid_send_and_restarted_loses_nothing_and_keeps_one_message_id_per_row() {
    let Some(py) = Smtpd::available() else { return };
    let port = free_port();
    let site = Site::new(port, "");
    // The server stores the first message, then holds its answer: the worker is killed while
    // it waits, not knowing whether the message went through.
    let smtpd = Smtpd::start(&py, port, &site.path().join("maildir"), &["--hold", "60"]);
    site.ingest(&["01-enterprise-complete.eml", "03-individual-no-product.eml"]);
    let first = site.worker();
    wait_until("the server holds the first message", 30, || !smtpd.messages().is_empty());
    first.kill();

    let db = site.store();
    // The sends in flight when the worker died (the held one, and any other it had started).
    let in_flight: BTreeSet<String> =
        db.emails().iter().filter(|r| r.status == "sending").map(|r| r.id.to_string()).collect();
    assert!(!in_flight.is_empty(), "the killed send is left under its lease");
    let second = site.worker();
    wait_until("every email is sent after the restart", 60, || all_sent(&db.emails()));
    std::thread::sleep(Duration::from_millis(500));
    second.stop();

    let rows = db.emails();
    let messages = smtpd.messages();
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for m in &messages {
        *by_id.entry(header(m, "Message-ID").unwrap().to_string()).or_default() += 1;
    }
    let expected: BTreeSet<String> = rows.iter().map(|r| r.message_id.clone().unwrap()).collect();
    assert_eq!(by_id.keys().cloned().collect::<BTreeSet<_>>(), expected, "every row delivered, under its own id");
    // A send in flight when the worker died may arrive twice (the server may have had it), but
    // under one Message-ID, which receivers deduplicate; a row recorded as sent before the kill
    // arrives once, and so does every row sent after it.
    for (id, n) in &by_id {
        let row = id.trim_start_matches("<outbox.").trim_end_matches("@wavespeed.ai>");
        assert!(*n == 1 || (*n == 2 && in_flight.contains(row)), "{id} arrived {n} times; in flight: {in_flight:?}");
    }
    assert!(by_id.values().filter(|n| **n > 1).count() <= in_flight.len(), "{by_id:#?}");
    for r in &rows {
        let m = messages.iter().find(|m| header(m, "Message-ID") == r.message_id.as_deref()).unwrap();
        assert_eq!(header(m, "Message-ID"), Some(format!("<outbox.{}@wavespeed.ai>", r.id).as_str()));
    }
}

#[test]
fn metrics_count_sent_and_failed_emails_and_show_the_queue() {
    let Some(py) = Smtpd::available() else { return };
    let port = free_port();
    let site = Site::new(port, "");
    let _smtpd = Smtpd::start(&py, port, &site.path().join("maildir"), &["--reject", "tombecker"]);
    site.ingest(&["01-enterprise-complete.eml", "03-individual-no-product.eml"]);
    let mut cmd = creditline(site.path());
    cmd.env("CREDITLINE_LOG_LEVEL", "warn").stderr(Stdio::inherit());
    let server = common::serve_with(cmd);
    let db = site.store();
    wait_until("every email is sent or failed", 30, || {
        let rows = db.emails();
        !rows.is_empty() && rows.iter().all(|r| r.status == "sent" || r.status == "failed")
    });
    let rows = db.emails();
    let sent = rows.iter().filter(|r| r.status == "sent").count();
    let failed = rows.iter().filter(|r| r.status == "failed").count();
    assert!(sent > 0 && failed > 0, "{rows:?}");
    let r = common::http(&server.addr, "GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert!(text.contains(&format!("creditline_emails_sent_total {sent}")), "{text}");
    assert!(text.contains(&format!("creditline_emails_failed_total {failed}")), "{text}");
    assert!(text.contains(&format!("creditline_jobs_done_total{{kind=\"send_email\"}} {sent}")), "{text}");
    assert!(text.contains(&format!("creditline_queue_depth{{status=\"sent\"}} {sent}")), "{text}");
    assert!(text.contains(&format!("creditline_queue_depth{{status=\"failed\"}} {failed}")), "{text}");
    assert!(text.contains("creditline_queue_depth{status=\"pending\"} 0"), "{text}");
}

#[test]
fn transient_failures_stop_after_the_configured_attempts_and_open_a_task() {
    if Smtpd::available().is_none() {
        return;
    }
    // Nothing listens on the port: every attempt is refused, which is transient.
    let site = Site::new(free_port(), "max_attempts = 2");
    site.ingest(&["03-individual-no-product.eml"]);
    let worker = site.worker();
    let db = site.store();
    wait_until("the email is given up on", 30, || {
        let rows = db.emails();
        !rows.is_empty() && rows.iter().all(|r| r.status == "failed")
    });
    worker.stop();
    for r in db.emails() {
        assert_eq!(r.attempts, 2, "{r:?}");
        assert!(r.last_error.as_deref().is_some_and(|e| e.starts_with("gave up after 2 attempts")), "{r:?}");
    }
    assert_eq!(db.tasks_of_kind("email_failure").len(), db.emails().len());
}

#[test]
fn sigterm_lets_the_send_in_flight_finish_before_the_worker_exits() {
    let Some(py) = Smtpd::available() else { return };
    let port = free_port();
    let site = Site::new(port, "");
    // The answer to the first message comes 5 s late: SIGTERM arrives while it is in flight
    // (2 s was too short under a loaded parallel run: the send had finished before the check).
    let smtpd = Smtpd::start(&py, port, &site.path().join("maildir"), &["--hold", "5"]);
    site.ingest(&["03-individual-no-product.eml"]);
    let worker = site.worker();
    wait_until("the send is in flight", 30, || !smtpd.messages().is_empty());
    let db = site.store();
    assert!(db.emails().iter().any(|r| r.status == "sending"));
    worker.stop();
    let rows = db.emails();
    assert!(all_sent(&rows), "the job in flight was finished, not dropped: {rows:?}");
    assert_eq!(smtpd.messages().len(), rows.len());
}

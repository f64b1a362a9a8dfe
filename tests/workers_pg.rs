//! Two `creditline worker` processes on one PostgreSQL database work on a batch of 1,000 send
//! jobs at once, and each job is done exactly once. Runs when CREDITLINE_TEST_DATABASE_URL is set
//! (CI's PostgreSQL suite); skipped otherwise.

mod common;

use creditline::store::OperationsStore as _;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{creditline, postgres_url, workflows};
use creditline::domain::EmailAddress;
use creditline::services::workflow::NewApplicationInput;
use creditline::services::{SystemClock, WorkflowService};
use creditline::store::Store;
use creditline::store::postgres::PgStore;

const JOBS: usize = 1000;

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_a_thousand_jobs_each_done_once_on_postgres() {
    let Some(url) = postgres_url() else {
        eprintln!("CREDITLINE_TEST_DATABASE_URL not set: skipped");
        return;
    };
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin).await.unwrap();
    admin.close().await;
    let options = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap().options([("search_path", schema.as_str())]);
    let pg = PgStore::connect_with(options).await.unwrap();
    pg.migrate().await.unwrap();
    let pool = pg.pool().clone();
    let store: Arc<dyn Store> = Arc::new(pg);

    let dir = tempfile::tempdir().unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    std::fs::write(
        dir.path().join("creditline.toml"),
        format!(
            "database_url = {scoped:?}\nlog_level = \"info,apalis_core=warn,sqlx=warn\"\n\
             [workers]\nqueue = {schema:?}\ntick_ms = 100\npoll_ms = 50\nbatch = 10\nconcurrency = 4\n"
        ),
    )
    .unwrap();
    let spawn = |n: usize| {
        let log = std::fs::File::create(dir.path().join(format!("worker{n}.log"))).unwrap();
        creditline(dir.path())
            .env_remove("CREDITLINE_LOG_LEVEL")
            .args(["--log-format", "json", "worker"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    };
    let mut workers = Killed(vec![spawn(1), spawn(2)]);
    // Both workers up before there is any work: a worker that starts late (migrations, a busy
    // machine) would otherwise find the other one done with everything.
    let started = |n: usize| {
        std::fs::read_to_string(dir.path().join(format!("worker{n}.log")))
            .unwrap_or_default()
            .contains("workers started")
    };
    let up = Instant::now() + Duration::from_secs(120);
    while !(started(1) && started(2)) {
        assert!(Instant::now() < up, "the workers did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Then 1,000 applications, each with its "application received" email in the outbox.
    let service = WorkflowService::new(store.clone(), workflows(), Arc::new(SystemClock));
    for i in 0..JOBS {
        let input = NewApplicationInput {
            account_email: EmailAddress::parse(&format!("ops{i}@company{i}.com")).unwrap(),
            applicant_kind: None,
            requested_limit: None,
            details: serde_json::json!({}),
        };
        service.open_application(input, "test").await.unwrap();
    }
    let queued: i64 = store.outbox_counts().await.unwrap().iter().map(|(_, n)| n).sum();
    assert_eq!(queued, JOBS as i64, "one email per application");

    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let counts = store.outbox_counts().await.unwrap();
        if counts == vec![("sent".to_string(), JOBS as i64)] {
            break;
        }
        assert!(Instant::now() < deadline, "not all sent in time: {counts:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for c in &workers.0 {
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
    }
    for c in &mut workers.0 {
        let status = c.wait().unwrap();
        assert!(status.success(), "a worker exited with {status}");
    }

    // Each row claimed once (one attempt) under its first job number.
    let (twice,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE attempts <> 1 OR enqueues <> 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(twice, 0, "some job ran more than once or was queued twice");
    let files = std::fs::read_dir(dir.path().join("mail-out")).unwrap().count();
    assert_eq!(files, JOBS, "one .eml per outbox row");
    // The parts add up to every job exactly once. How the work splits is the scheduler's
    // business: on a loaded machine one worker may take all of it while the other polls, so
    // requiring a split made this test flaky without testing anything more.
    let sent_by = |n: usize| {
        std::fs::read_to_string(dir.path().join(format!("worker{n}.log")))
            .unwrap()
            .lines()
            .filter(|l| l.contains("send_email") && l.contains("Sent {"))
            .count()
    };
    let (one, two) = (sent_by(1), sent_by(2));
    assert_eq!(one + two, JOBS, "worker 1 sent {one}, worker 2 sent {two}");
    eprintln!("worker 1 sent {one}, worker 2 sent {two}");
}

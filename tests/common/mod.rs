//! Shared test set-up: every test gets its own database (a temp SQLite file, or its own
//! PostgreSQL schema when CREDITLINE_TEST_DATABASE_URL is set), so tests run in parallel.
#![allow(dead_code)]

use creditline::store::OperationsStore as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;
use std::sync::Arc;

use creditline::services::{SystemClock, WorkflowService};
use creditline::store::Store;
use creditline::store::postgres::PgStore;
use creditline::store::sqlite::SqliteStore;
use creditline::workflow::{Catalog, Workflows};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn workflows() -> Arc<Workflows> {
    let catalog = Catalog::scan(&repo().join("rules"), &repo().join("templates")).expect("scan rules and templates");
    Arc::new(Workflows::load(&repo().join("workflows"), &catalog).expect("the shipped workflows are valid"))
}

/// A store and whatever keeps it alive (the temp dir of a SQLite file).
pub struct TestStore {
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    pub fn service(&self) -> WorkflowService {
        WorkflowService::new(self.store.clone(), workflows(), Arc::new(SystemClock))
    }
}

pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = SqliteStore::connect(&url).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    TestStore { store: Arc::new(store), _dir: Some(dir) }
}

pub fn postgres_url() -> Option<String> {
    std::env::var("CREDITLINE_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// A fresh schema in the test database, or `None` when no PostgreSQL is configured.
pub async fn postgres() -> Option<TestStore> {
    let url = postgres_url()?;
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(&url).await.expect("connect to CREDITLINE_TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin).await.expect("create schema");
    admin.close().await;
    let options = sqlx::postgres::PgConnectOptions::from_str(&url)
        .expect("parse url")
        .options([("search_path", schema.as_str())]);
    let store = PgStore::connect_with(options).await.expect("open postgres");
    store.migrate().await.expect("migrate postgres");
    Some(TestStore { store: Arc::new(store), _dir: None })
}

/// Runs each named async test function (taking a `TestStore`) on SQLite and, when
/// configured, on PostgreSQL.
#[macro_export]
macro_rules! store_suite {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::common::sqlite().await).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    match super::common::postgres().await {
                        Some(store) => super::$name(store).await,
                        None => eprintln!("CREDITLINE_TEST_DATABASE_URL not set: PostgreSQL run skipped"),
                    }
                }
            )*
        }
    };
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy file");
        }
    }
}

impl TestStore {
    /// The whole application over this store, configured from the repository's folders.
    pub fn app(&self) -> Arc<creditline::app::App> {
        let config = creditline::config::Config {
            rules_dir: repo().join("rules"),
            workflows_dir: repo().join("workflows"),
            templates_dir: repo().join("templates"),
            ..Default::default()
        };
        creditline::app::App::assemble(config, self.store.clone(), Arc::new(SystemClock)).expect("assemble the app")
    }
}

/// The binary, run in `cwd` with the repository's rules, workflows and templates and no
/// database URL from the environment (so the embedded default is used).
pub fn creditline(cwd: &Path) -> Command {
    let repo = repo();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_creditline"));
    cmd.current_dir(cwd)
        .env_remove("CREDITLINE_DATABASE_URL")
        .env("CREDITLINE_RULES_DIR", repo.join("rules"))
        .env("CREDITLINE_WORKFLOWS_DIR", repo.join("workflows"))
        .env("CREDITLINE_TEMPLATES_DIR", repo.join("templates"))
        .env("CREDITLINE_LOG_LEVEL", "warn");
    cmd
}

pub fn run(cwd: &Path, args: &[&str]) -> Output {
    creditline(cwd).args(args).output().expect("run creditline")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A child process (a mail server, a worker) killed and reaped when the test ends, pass or
/// fail.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `creditline serve` child, killed when the test ends (pass or fail).
pub struct Server {
    pub child: std::process::Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` on a free port in `cwd` and waits until it listens.
pub fn serve(cwd: &Path) -> Server {
    let mut cmd = creditline(cwd);
    cmd.stderr(std::process::Stdio::inherit());
    serve_with(cmd)
}

/// Starts `cmd` (a `creditline` command, configured by the caller) as `serve` on a free port.
pub fn serve_with(mut cmd: Command) -> Server {
    use std::io::BufRead;
    let mut child = cmd
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read address");
    let addr = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("unexpected: {line:?}"));
    Server { addr: addr.to_string(), child }
}

/// A response read off the wire.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request over a fresh connection (real sockets, no client library between).
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write head");
    // The server may answer (413, 401) before reading a large body; a reset then is fine.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).expect("status");
    let headers =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    Response { status, headers, body: raw[split + 4..].to_vec() }
}

/// Points every `creditline` command run in `cwd` at a fresh PostgreSQL schema (through a
/// `creditline.toml` there). False when no PostgreSQL is configured for the tests.
pub fn use_postgres(cwd: &Path) -> bool {
    let Some(url) = postgres_url() else { return false };
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let admin = sqlx::PgPool::connect(&url).await.expect("connect to CREDITLINE_TEST_DATABASE_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .expect("create schema");
        admin.close().await;
    });
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    // Job queues are shared by every schema of the database (apalis keeps its own): each test
    // gets a queue of its own, so one test's workers never take another's jobs.
    std::fs::write(
        cwd.join("creditline.toml"),
        format!("database_url = {scoped:?}\n\n[workers]\nqueue = {schema:?}\n"),
    )
    .expect("write creditline.toml");
    true
}

/// Black-box tests that take their working directory, run once on SQLite (the embedded
/// default) and once on PostgreSQL (when `CREDITLINE_TEST_DATABASE_URL` is set).
#[macro_export]
macro_rules! black_box_suite {
    ($($name:ident),* $(,)?) => {
        mod http_on_sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(tempfile::tempdir().expect("temp dir"));
                }
            )*
        }
        mod http_on_postgres {
            $(
                #[test]
                fn $name() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    if super::common::use_postgres(dir.path()) {
                        super::$name(dir);
                    } else {
                        eprintln!("CREDITLINE_TEST_DATABASE_URL not set: PostgreSQL run skipped");
                    }
                }
            )*
        }
    };
}

/// A running server over a store filled by ingesting the corpus, with a token per role.
pub struct Api {
    pub server: Server,
    pub reviewer: String,
    pub reviewer2: String,
    pub senior: String,
    /// A second senior reviewer (four-eyes).
    pub senior2: String,
    pub admin: String,
    pub inbox: String,
    _dir: tempfile::TempDir,
}

fn token(cwd: &Path, name: &str, role: &str) -> String {
    let o = run(cwd, &["tokens", "create", "--name", name, "--role", role]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).trim().lines().last().unwrap_or_default().to_string()
}

#[allow(dead_code)]
impl Api {
    pub fn start(dir: tempfile::TempDir) -> Api {
        let corpus = repo().join("tests/corpus");
        let o = run(dir.path(), &["ingest", &corpus.display().to_string()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let toml = std::fs::read_to_string(dir.path().join("creditline.toml")).unwrap_or_default();
        if toml.contains("postgres") {
            assert!(!dir.path().join("creditline.db").exists(), "the PostgreSQL run must not fall back to SQLite");
        }
        Api {
            reviewer: token(dir.path(), "rita", "reviewer"),
            reviewer2: token(dir.path(), "rob", "reviewer"),
            senior: token(dir.path(), "sam", "senior_reviewer"),
            senior2: token(dir.path(), "sue", "senior_reviewer"),
            admin: token(dir.path(), "ada", "admin"),
            inbox: token(dir.path(), "gw", "inbox"),
            server: serve(dir.path()),
            _dir: dir,
        }
    }

    /// The server's working directory (its `mail-out/` holds the emails it sent).
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// A request with an optional bearer token and an empty body.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Response {
        self.send(method, path, token, headers, b"")
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(b) = &bearer {
            all.push(("Authorization", b.as_str()));
        }
        http(&self.server.addr, method, path, &all, body)
    }

    /// POSTs a JSON body.
    pub fn post(&self, path: &str, token: &str, headers: &[(&str, &str)], body: &serde_json::Value) -> Response {
        let mut all = headers.to_vec();
        all.push(("Content-Type", "application/json"));
        self.send("POST", path, Some(token), &all, body.to_string().as_bytes())
    }

    /// Sends one request per token at the same moment (threads released by a barrier);
    /// each answer's status and JSON body, in token order.
    pub fn race(&self, tokens: &[&str], send: impl Fn(&str) -> Response + Sync) -> Vec<(u16, serde_json::Value)> {
        let barrier = std::sync::Barrier::new(tokens.len());
        std::thread::scope(|s| {
            let racers: Vec<_> = tokens
                .iter()
                .map(|t| {
                    let (barrier, send) = (&barrier, &send);
                    s.spawn(move || {
                        barrier.wait();
                        let r = send(t);
                        (r.status, r.json())
                    })
                })
                .collect();
            racers.into_iter().map(|h| h.join().expect("a racer panicked")).collect()
        })
    }

    /// A GET that must succeed.
    pub fn get(&self, path: &str, token: &str) -> serde_json::Value {
        let r = self.call("GET", path, Some(token), &[]);
        assert_eq!(r.status, 200, "{path}: {}", String::from_utf8_lossy(&r.body));
        r.json()
    }
}

/// An approved credit line of `limit` for `account` (the rows an approval writes).
pub async fn open_credit_line(app: &creditline::app::App, account: &str, limit: i64) -> creditline::domain::SubjectId {
    let input = creditline::services::workflow::NewApplicationInput {
        account_email: creditline::domain::EmailAddress::parse(account).expect("account email"),
        applicant_kind: None,
        requested_limit: None,
        details: serde_json::json!({}),
    };
    let application = app.workflow.open_application(input, "test").await.unwrap();
    let id = creditline::domain::SubjectId::new();
    let (instance, _) = app.workflow.plan_start("credit_line", id, Some(account), "reviewer:test").unwrap();
    let write = creditline::store::ActionWrite {
        task: None,
        workflow: creditline::store::WorkflowChanges::open(instance),
        credit_line: Some(creditline::store::CreditLineWrite {
            id,
            account_email: account.to_string(),
            application_id: application.id,
            monthly_limit_cents: limit,
            approved_by: "reviewer:test".into(),
            second_approver: None,
        }),
        audit: creditline::store::AuditRecord {
            id: uuid::Uuid::now_v7(),
            actor: "reviewer:test".into(),
            action: "approve".into(),
            target: id.to_string(),
            version_before: None,
            version_after: Some(1),
            request_id: "test".into(),
            detail: serde_json::json!({}),
            at: app.workflow.clock().now(),
        },
        idempotency: None,
    };
    app.store.commit_action(&write).await.unwrap();
    id
}

/// A runtime for the blocking tests that drive a running server. It has a thread of its own:
/// the pool's background work (the ROLLBACK of a transaction given up after a lost race, a
/// connection going back to the pool) must go on while the test waits on the server over
/// HTTP. On a current-thread runtime it waited for the next `block_on`, and the server's
/// write waited on the row lock the unfinished transaction still held: a test that hung
/// until the lock was broken by hand (PostgreSQL, a deposit recorded by the test and the
/// server's scan at once).
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime")
}

/// The service over the server's own database (SQLite file or PostgreSQL schema).
pub async fn app_of(dir: &Path) -> Arc<creditline::app::App> {
    let file = dir.join("creditline.toml");
    let mut config = if file.exists() {
        creditline::config::Config::load_from(Some(&file), Vec::<(String, String)>::new()).expect("config")
    } else {
        creditline::config::Config {
            database_url: format!("sqlite://{}", dir.join("creditline.db").display()),
            ..Default::default()
        }
    };
    config.rules_dir = repo().join("rules");
    config.workflows_dir = repo().join("workflows");
    config.templates_dir = repo().join("templates");
    creditline::app::App::build(config, false).await.expect("app")
}

/// A Python with aiosmtpd (the SMTP test server), if one is installed.
pub fn python_with_aiosmtpd() -> Option<String> {
    ["/usr/bin/python3", "python3"].into_iter().map(str::to_string).find(|py| {
        Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

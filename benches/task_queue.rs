//! Load benchmark of the reviewer task queue: `GET /api/v1/tasks` over real HTTP against
//! the in-process server on a SQLite file holding 100,000 tasks.
//!
//! Open loop: request `i` is due at `t0 + i / rate` whatever happened to the ones before it,
//! and its latency is counted from that due time, so a slow server cannot hide its queue by
//! slowing the client down (no coordinated omission). Requests go over a pool of keep-alive
//! HTTP/1.1 connections. The mix: the first page, a kind, an assignee, an age filter, and
//! deeper pages through the `after` cursor (plain, with a kind, with an assignee, every state).
//!
//! `TASK_BENCH_SURFACE=console` runs the same mix against the reviewer console's queue page
//! (`/console/queue`, HTML with the counts per kind, a signed-in session's cookie): the API's
//! filters become the page's (an assignee becomes "mine", an age becomes "overdue").
//!
//! Fails (exit 1) if any response is not a 200 or the p99 is at or above the target.
//! Run: `cargo bench --bench task_queue`. Settings (environment): `TASK_BENCH_TASKS`
//! (100000), `TASK_BENCH_RATE` (500 requests/s; 100 for the console),
//! `TASK_BENCH_SECONDS` (20), `TASK_BENCH_WARMUP_SECONDS` (2, not counted),
//! `TASK_BENCH_CONNECTIONS` (32), `TASK_BENCH_P99_MS` (20; 50 for the console).

use creditline::store::OperationsStore as _;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use creditline::app::App;
use creditline::config::Config;
use creditline::domain::Role;
use creditline::services::SystemClock;
use creditline::store::Store;
use creditline::store::sqlite::SqliteStore;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc};
use uuid::Uuid;

const KINDS: &[(&str, u64)] = &[
    ("application_review", 40),
    ("triage", 20),
    ("invoice_request", 15),
    ("limit_increase_review", 10),
    ("aws_login_review", 10),
    ("deposit_confirmation", 5),
];
const REVIEWERS: u64 = 20;
const SPAN_HOURS: i64 = 8 * 7 * 24;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}: cannot read {v:?}")),
        Err(_) => default,
    }
}

/// splitmix64: deterministic, and no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn kind(&mut self) -> &'static str {
        let total: u64 = KINDS.iter().map(|k| k.1).sum();
        let mut x = self.below(total);
        for (kind, weight) in KINDS {
            if x < *weight {
                return kind;
            }
            x -= weight;
        }
        KINDS[0].0
    }
}

struct Task {
    id: Uuid,
    kind: &'static str,
    open: bool,
    assignee: Option<String>,
    created_at: DateTime<Utc>,
}

/// The fixture: oldest first, created over eight weeks up to a minute ago, ids UUIDv7 at
/// their creation time, about 90% open and 15% claimed by one of 20 reviewers.
fn tasks(n: usize, now: DateTime<Utc>, rng: &mut Rng) -> Vec<Task> {
    let start = now - chrono::Duration::hours(SPAN_HOURS);
    let step_ms = (SPAN_HOURS * 3_600_000 - 60_000) / n as i64;
    (0..n)
        .map(|i| {
            let created_at =
                start + chrono::Duration::milliseconds(i as i64 * step_ms + rng.below(step_ms as u64) as i64);
            let mut random = [0u8; 10];
            random[..8].copy_from_slice(&rng.next().to_be_bytes());
            random[8..].copy_from_slice(&rng.next().to_be_bytes()[..2]);
            let id =
                uuid::Builder::from_unix_timestamp_millis(created_at.timestamp_millis() as u64, &random).into_uuid();
            // Old tasks are more often done than new ones; 90% open overall.
            let open = !rng.chance(if i < n / 2 { 16 } else { 4 });
            let assignee = rng.chance(15).then(|| format!("rev{:02}", rng.below(REVIEWERS) + 1));
            Task { id, kind: rng.kind(), open, assignee, created_at }
        })
        .collect()
}

async fn seed(store: &SqliteStore, tasks: &[Task]) -> Result<(), sqlx::Error> {
    for (c, chunk) in tasks.chunks(25_000).enumerate() {
        let mut tx = store.pool().begin().await?;
        for (b, batch) in chunk.chunks(500).enumerate() {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO tasks (id, kind, state, subject_id, message_sha256, title, details, idempotency_key, \
                 version, created_at, updated_at, assignee, claimed_at) ",
            );
            q.push_values(batch.iter().enumerate(), |mut row, (k, t)| {
                let n = c * 25_000 + b * 500 + k;
                let account = format!("ops{n}@company{}.com", n % 7919);
                let claimed_at = t.assignee.as_ref().map(|_| t.created_at + chrono::Duration::minutes(30));
                let details = json!({
                    "account_email": account,
                    "state": "manual_review",
                    "reason": "requested limit above the automatic ceiling",
                    "excerpt": "Hello, we would like a credit line for our product; expected usage about $180/month.",
                });
                row.push_bind(t.id)
                    .push_bind(t.kind)
                    .push_bind(if t.open { "open" } else { "done" })
                    .push_bind((t.kind != "triage").then(|| Uuid::from_u64_pair(n as u64, 7)))
                    .push_bind((t.kind == "triage").then(|| format!("{:064x}", n)))
                    .push_bind(format!("{} for {account}", t.kind.replace('_', " ")))
                    .push_bind(sqlx::types::Json(details))
                    .push_bind(format!("bench-{n}"))
                    .push_bind(1 + i64::from(t.assignee.is_some()) + i64::from(!t.open))
                    .push_bind(t.created_at)
                    .push_bind(claimed_at.unwrap_or(t.created_at))
                    .push_bind(t.assignee.clone())
                    .push_bind(claimed_at);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// The console's queue page asked the same as an API listing: the page has no limit (50 a
/// page), its assignee filter is "mine" and its age filter "past the SLA".
fn console_path(api: &str) -> String {
    let query: Vec<String> = api
        .split_once('?')
        .map(|(_, q)| q.split('&').collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            match k {
                "kind" | "after" | "state" => Some(format!("{k}={v}")),
                "assignee" => Some("assignee=me".into()),
                "older_than_hours" => Some("overdue=on".into()),
                _ => None,
            }
        })
        .collect();
    if query.is_empty() { "/console/queue".into() } else { format!("/console/queue?{}", query.join("&")) }
}

/// The request mix, each with the name it is reported under.
fn requests(n: usize, tasks: &[Task], now: DateTime<Utc>, rng: &mut Rng) -> Vec<(&'static str, String)> {
    let open: Vec<&Task> = tasks.iter().filter(|t| t.open).collect();
    let open_of = |f: &dyn Fn(&Task) -> bool| open.iter().copied().filter(|t| f(t)).collect::<Vec<&Task>>();
    let by_kind: BTreeMap<&str, Vec<&Task>> = KINDS.iter().map(|(k, _)| (*k, open_of(&|t| t.kind == *k))).collect();
    let by_assignee: Vec<(String, Vec<&Task>)> = (1..=REVIEWERS)
        .map(|r| format!("rev{r:02}"))
        .map(|r| {
            let mine = open_of(&|t| t.assignee.as_deref() == Some(r.as_str()));
            (r, mine)
        })
        .filter(|(_, mine)| !mine.is_empty())
        .collect();
    (0..n)
        .map(|_| match rng.below(100) {
            0..25 => ("first_page", "/api/v1/tasks".to_string()),
            25..37 => ("kind", format!("/api/v1/tasks?kind={}", rng.kind())),
            37..47 => ("assignee", format!("/api/v1/tasks?assignee={}", rng.pick(&by_assignee).0)),
            47..57 => {
                let hours = 1 + rng.below(SPAN_HOURS as u64);
                let cutoff = now - chrono::Duration::hours(hours as i64);
                // Half of them on a later page: a cursor that page 1 could have returned.
                let older = open.partition_point(|t| t.created_at < cutoff);
                if older > 0 && rng.chance(50) {
                    let after = open[rng.below(older as u64) as usize].id;
                    ("older_than_page", format!("/api/v1/tasks?older_than_hours={hours}&after={after}"))
                } else {
                    ("older_than", format!("/api/v1/tasks?older_than_hours={hours}"))
                }
            }
            57..77 => ("deep_page", format!("/api/v1/tasks?after={}", rng.pick(&open).id)),
            77..87 => {
                let kind = rng.kind();
                ("deep_kind", format!("/api/v1/tasks?kind={kind}&after={}", rng.pick(&by_kind[kind]).id))
            }
            87..94 => {
                let (who, mine) = rng.pick(&by_assignee);
                ("deep_assignee", format!("/api/v1/tasks?assignee={who}&after={}", rng.pick(mine).id))
            }
            94..97 => ("all_states", format!("/api/v1/tasks?state=all&after={}", rng.pick(tasks).id)),
            _ => ("limit_200", format!("/api/v1/tasks?limit=200&after={}", rng.pick(&open).id)),
        })
        .collect()
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, buf: Vec::with_capacity(256 * 1024) })
    }

    /// Sends a GET and reads the answer: status, body, and whether the server keeps the
    /// connection open.
    async fn get(&mut self, path: &str, credential: &str) -> std::io::Result<(u16, Vec<u8>, bool)> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{credential}\r\n\r\n");
        self.stream.write_all(req.as_bytes()).await?;
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end]).map_err(|_| bad("head is not UTF-8"))?;
                let mut lines = head.split("\r\n");
                let status: u16 = lines
                    .next()
                    .and_then(|l| l.split(' ').nth(1))
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| bad("no status line"))?;
                let mut length = None;
                let mut keep = true;
                for line in lines {
                    let (name, value) = line.split_once(':').ok_or_else(|| bad("bad header"))?;
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse::<usize>().ok();
                    } else if name.eq_ignore_ascii_case("connection") && value.trim().eq_ignore_ascii_case("close") {
                        keep = false;
                    }
                }
                let length = length.ok_or_else(|| bad("no Content-Length"))?;
                let total = end + 4 + length;
                while self.buf.len() < total {
                    self.fill().await?;
                }
                let body = self.buf[end + 4..total].to_vec();
                self.buf.drain(..total);
                return Ok((status, body, keep));
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

struct Job {
    due: Instant,
    counted: bool,
    class: &'static str,
    path: Arc<str>,
}

struct Outcome {
    class: &'static str,
    latency: Duration,
    ok: bool,
    done: Instant,
}

/// A connection's loop: take the next due request, send it, record its latency from the
/// time it was due. A broken connection is an error, and the next request reconnects.
async fn worker(
    addr: SocketAddr,
    bearer: Arc<str>,
    jobs: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>,
    out: mpsc::UnboundedSender<Outcome>,
) {
    let mut conn = Conn::open(addr).await.ok();
    loop {
        let job = { jobs.lock().await.recv().await };
        let Some(job) = job else { break };
        let result = match conn.as_mut() {
            Some(c) => c.get(&job.path, &bearer).await,
            None => match Conn::open(addr).await {
                Ok(c) => conn.insert(c).get(&job.path, &bearer).await,
                Err(e) => Err(e),
            },
        };
        let done = Instant::now();
        let ok = match &result {
            Ok((status, body, _)) => {
                *status == 200 && (body.starts_with(b"{\"items\":") || body.starts_with(b"<!doctype html>"))
            }
            Err(_) => false,
        };
        if !ok && std::env::var_os("TASK_BENCH_VERBOSE").is_some() {
            match &result {
                Ok((status, body, _)) => eprintln!("{} -> {status}: {}", job.path, String::from_utf8_lossy(body)),
                Err(e) => eprintln!("{} -> {e}", job.path),
            }
        }
        if !matches!(result, Ok((_, _, true))) {
            conn = None;
        }
        if job.counted {
            let _ = out.send(Outcome { class: job.class, latency: done - job.due, ok, done });
        }
    }
}

/// Before the load: every kind of request answers 200 with ids ascending, past the cursor,
/// and only tasks that match the filter.
async fn check(addr: SocketAddr, bearer: &str, mix: &[(&'static str, String)]) {
    let mut conn = Conn::open(addr).await.expect("connect");
    let mut seen = BTreeMap::new();
    for (class, path) in mix {
        if seen.insert(*class, ()).is_some() {
            continue;
        }
        let (status, body, _) = conn.get(path, bearer).await.expect("request");
        if path.starts_with("/console/") {
            let page = String::from_utf8_lossy(&body);
            assert_eq!(status, 200, "{path}: {page}");
            assert!(page.contains("Open tasks by kind"), "{path}: {page}");
            println!("  check {class:<16} {:>3} rows   {path}", page.matches("<tr>").count());
            continue;
        }
        let v: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(status, 200, "{path}: {v}");
        let items = v["items"].as_array().expect("items");
        let query: BTreeMap<String, String> = path
            .split_once('?')
            .map(|(_, q)| q.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect())
            .unwrap_or_default();
        let mut last: Option<Uuid> = query.get("after").map(|a| a.parse().expect("cursor"));
        for item in items {
            let id: Uuid = item["id"].as_str().expect("id").parse().expect("uuid");
            assert!(last.is_none_or(|l| id > l), "{path}: ids out of order");
            last = Some(id);
            for key in ["kind", "assignee"] {
                if let Some(want) = query.get(key) {
                    assert_eq!(item[key].as_str(), Some(want.as_str()), "{path}: {key}");
                }
            }
            if query.get("state").is_none_or(|s| s != "all") {
                assert_eq!(item["state"], "open", "{path}");
            }
            if let Some(h) = query.get("older_than_hours") {
                assert!(
                    item["age_seconds"].as_i64().expect("age") >= h.parse::<i64>().expect("hours") * 3600,
                    "{path}"
                );
            }
        }
        println!("  check {class:<16} {:>3} items  {path}", items.len());
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let n_tasks: usize = setting("TASK_BENCH_TASKS", 100_000);
    let rate: f64 = setting("TASK_BENCH_RATE", 500.0);
    let seconds: f64 = setting("TASK_BENCH_SECONDS", 20.0);
    let warmup: f64 = setting("TASK_BENCH_WARMUP_SECONDS", 2.0);
    let connections: usize = setting("TASK_BENCH_CONNECTIONS", 32);
    let console = std::env::var("TASK_BENCH_SURFACE").as_deref() == Ok("console");
    let rate: f64 = if console { setting("TASK_BENCH_RATE", 100.0) } else { rate };
    let target_ms: f64 = setting("TASK_BENCH_P99_MS", if console { 50.0 } else { 20.0 });

    // The server as `creditline serve` runs it: a multi-threaded runtime, one worker per core.
    let server = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let now = Utc::now();
    let mut rng = Rng(0x7a5c_0de5);
    let fixture = tasks(n_tasks, now, &mut rng);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr, bearer, serving) = server.block_on(async {
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = SqliteStore::connect(&url).await.expect("open sqlite");
        store.migrate().await.expect("migrate");
        let started = Instant::now();
        seed(&store, &fixture).await.expect("seed");
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks").fetch_one(store.pool()).await.expect("count");
        let open: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE state = 'open'")
            .fetch_one(store.pool())
            .await
            .expect("count");
        println!(
            "task_queue: seeded {count} tasks ({open} open, {} kinds, {REVIEWERS} reviewers, 8 weeks) in {:.1} s",
            KINDS.len(),
            started.elapsed().as_secs_f64()
        );
        let store: Arc<dyn Store> = Arc::new(store);
        // The console signs in as a reviewer who holds tasks, so "mine" finds some.
        let (bearer, _) =
            creditline::services::access::create_token(store.as_ref(), "rev01", Role::Reviewer, Utc::now())
                .await
                .expect("token");
        let config = Config {
            rules_dir: repo().join("rules"),
            workflows_dir: repo().join("workflows"),
            templates_dir: repo().join("templates"),
            ..Default::default()
        };
        let app = App::assemble(config, store, Arc::new(SystemClock)).expect("app");
        let bearer = if console {
            let (cookie, _) = creditline::services::access::sign_in(&app, &bearer, Utc::now()).await.expect("sign in");
            format!("Cookie: creditline_session={cookie}")
        } else {
            format!("Authorization: Bearer {bearer}")
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let serving = tokio::spawn(creditline::http::serve(app, listener, async {
            let _ = stopped.await;
        }));
        (addr, bearer, serving)
    });

    let warm_n = (warmup * rate).round() as usize;
    let total = warm_n + (seconds * rate).round() as usize;
    let mut mix = requests(total, &fixture, now, &mut rng);
    if console {
        mix.retain(|(class, _)| *class != "limit_200");
        for (_, path) in &mut mix {
            *path = console_path(path);
        }
    }
    drop(fixture);

    // The load generator: its own thread and runtime, as an outside client would be.
    let bearer: Arc<str> = bearer.into();
    let client = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("client runtime");
        rt.block_on(async move {
            check(addr, &bearer, &mix).await;
            let (tx, rx) = mpsc::unbounded_channel::<Job>();
            let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Outcome>();
            let rx = Arc::new(Mutex::new(rx));
            let workers: Vec<_> = (0..connections)
                .map(|_| tokio::spawn(worker(addr, bearer.clone(), rx.clone(), out_tx.clone())))
                .collect();
            drop(out_tx);
            tokio::time::sleep(Duration::from_millis(200)).await;
            let t0 = Instant::now();
            let measured_from = t0 + Duration::from_secs_f64(warm_n as f64 / rate);
            for (i, (class, path)) in mix.into_iter().enumerate() {
                let due = t0 + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                let _ = tx.send(Job { due, counted: i >= warm_n, class, path: path.into() });
            }
            drop(tx);
            let mut outcomes = Vec::new();
            while let Some(o) = out_rx.recv().await {
                outcomes.push(o);
            }
            for w in workers {
                let _ = w.await;
            }
            (measured_from, outcomes)
        })
    });
    let (measured_from, outcomes) = client.join().expect("client thread");
    let _ = stop.send(());
    server.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
    });
    drop(server);
    drop(dir);

    let errors = outcomes.iter().filter(|o| !o.ok).count();
    let last = outcomes.iter().map(|o| o.done).max().unwrap_or(measured_from);
    let achieved = outcomes.len() as f64 / (last - measured_from).as_secs_f64().max(f64::EPSILON);
    let mut all: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
    all.sort();
    let p99 = percentile(&all, 99.0);
    println!(
        "task_queue ({}): {n_tasks} tasks, offered {rate:.0} req/s for {seconds:.0} s (+{warmup:.0} s warm-up) over {connections} keep-alive connections",
        if console { "console page" } else { "API" }
    );
    println!(
        "task_queue: {} requests, {errors} errors, achieved {achieved:.1} req/s; latency from due time: \
         p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.len(),
        ms(percentile(&all, 50.0)),
        ms(percentile(&all, 90.0)),
        ms(p99),
        ms(all.last().copied().unwrap_or_default()),
    );
    let mut classes: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for o in &outcomes {
        classes.entry(o.class).or_default().push(o.latency);
    }
    for (class, mut l) in classes {
        l.sort();
        println!(
            "  {class:<16} n={:<5} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            l.len(),
            ms(percentile(&l, 50.0)),
            ms(percentile(&l, 99.0)),
            ms(l.last().copied().unwrap_or_default())
        );
    }
    if errors > 0 || ms(p99) >= target_ms || all.is_empty() {
        println!("task_queue: FAIL (target: p99 < {target_ms} ms and no errors)");
        std::process::exit(1);
    }
    println!("task_queue: PASS (p99 < {target_ms} ms, no errors)");
}

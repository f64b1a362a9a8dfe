//! Billing benchmarks (not criterion: single timed runs of whole operations, as finance runs
//! them). On SQLite (a temp file) and, when reachable, PostgreSQL (its own schema):
//!
//! - cycle close of `BILLING_BENCH_LINES` (100,000) credit lines, two thirds with usage: every
//!   line billed, with its ledger entry, workflow event and bill email; the target is under
//!   60 s (exit 1 above it);
//! - usage debits per second with the overspend guard in place: `BILLING_BENCH_DEBITS`
//!   (20,000) debits from `BILLING_BENCH_TASKS` (8 and 64) concurrent callers, on one hot
//!   account and spread over 1,000 accounts.
//!
//! `BILLING_BENCH_FRESH=1` leaves the seeded database without statistics (no `ANALYZE`).
//!
//! Run: `cargo bench --bench billing`. PostgreSQL: `CREDITLINE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); `BILLING_BENCH_BACKENDS=sqlite` skips it.

#[path = "support/stores.rs"]
mod stores;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use creditline::app::App;
use creditline::config::Config;
use creditline::domain::{EmailAddress, Money, Period};
use creditline::services::ManualClock;
use creditline::services::billing as cycles;
use creditline::services::ledger::Ledger;
use creditline::store::Store;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}: cannot read {v:?}")),
        Err(_) => default,
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Rows of `n` approved applications with their active credit lines, usage on two of three.
macro_rules! seed {
    ($pool:expr, $n:expr, $period:expr, $at:expr) => {{
        let n: usize = $n;
        // Small statements: one bigger than the socket's send buffer waits for a delayed ACK
        // on PostgreSQL (see `store::sql::runs`).
        for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
            let rows: Vec<(uuid::Uuid, uuid::Uuid, String, usize)> =
                chunk.iter().map(|i| (uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), format!("acct{i}@bench{i}.io"), *i)).collect();
            let mut tx = $pool.begin().await.unwrap();
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO workflow_instances (id, workflow, subject_kind, state, version, account_email, created_at, updated_at) ",
            );
            q.push_values(&rows, |mut b, (app, line, email, _)| {
                let _ = line;
                b.push_bind(*app).push_bind("credit_line_application").push_bind("application").push_bind("approved")
                    .push_bind(1i64).push_bind(email.clone()).push_bind($at).push_bind($at);
            });
            q.build().execute(&mut *tx).await.unwrap();
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO workflow_instances (id, workflow, subject_kind, state, version, account_email, created_at, updated_at) ",
            );
            q.push_values(&rows, |mut b, (_, line, email, _)| {
                b.push_bind(*line).push_bind("credit_line").push_bind("credit_line").push_bind("active")
                    .push_bind(1i64).push_bind(email.clone()).push_bind($at).push_bind($at);
            });
            q.build().execute(&mut *tx).await.unwrap();
            // Each instance's history starts with its `created` event, as in service (the
            // planner sizes the event table, which the outbox's foreign key probes, from it).
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO workflow_events (id, instance_id, version, event, from_state, to_state, actor, occurred_at) ",
            );
            q.push_values(rows.iter().flat_map(|(app, line, _, _)| [(*app, "approved"), (*line, "active")]), |mut b, (id, state)| {
                b.push_bind(uuid::Uuid::now_v7()).push_bind(id).push_bind(1i64).push_bind("created")
                    .push_bind(None::<String>).push_bind(state).push_bind("bench").push_bind($at);
            });
            q.build().execute(&mut *tx).await.unwrap();
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO applications (id, reference, account_email, applicant_kind, requested_limit_cents, details, created_at) ",
            );
            q.push_values(&rows, |mut b, (app, _, email, i)| {
                b.push_bind(*app).push_bind(format!("CL-B{i:07}")).push_bind(email.clone()).push_bind("enterprise")
                    .push_bind(20_000i64).push_bind(sqlx::types::Json(serde_json::json!({}))).push_bind($at);
            });
            q.build().execute(&mut *tx).await.unwrap();
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO credit_lines (id, account_email, application_id, monthly_limit_cents, approved_by, second_approver, opened_at) ",
            );
            q.push_values(&rows, |mut b, (app, line, email, _)| {
                b.push_bind(*line).push_bind(email.clone()).push_bind(*app).push_bind(20_000i64)
                    .push_bind("reviewer:bench").push_bind(None::<String>).push_bind($at);
            });
            q.build().execute(&mut *tx).await.unwrap();
            let used: Vec<_> = rows.iter().filter(|r| r.3 % 3 != 0).collect();
            if !used.is_empty() {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO credit_usage (line_id, period, account_email, limit_cents, used_cents, version) ",
                );
                q.push_values(&used, |mut b, (_, line, email, i)| {
                    b.push_bind(*line).push_bind($period.to_string()).push_bind(email.clone()).push_bind(20_000i64)
                        .push_bind(1_000 + (*i as i64 % 9_000)).push_bind(1i64);
                });
                q.build().execute(&mut *tx).await.unwrap();
                // The entries the draws came from, so `ledger verify` holds afterwards.
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO ledger_entries (id, account_email, kind, bucket, amount_cents, line_id, period, \
                     idempotency_key, actor, created_at) ",
                );
                q.push_values(&used, |mut b, (_, line, email, i)| {
                    b.push_bind(uuid::Uuid::now_v7()).push_bind(email.clone()).push_bind("usage").push_bind("credit")
                        .push_bind(-(1_000 + (*i as i64 % 9_000))).push_bind(*line).push_bind($period.to_string())
                        .push_bind(format!("seed:{i}")).push_bind("bench").push_bind($at);
                });
                q.build().execute(&mut *tx).await.unwrap();
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO ledger_accounts (account_email, prepaid_cents, deposit_cents, version, updated_at) ",
                );
                q.push_values(&used, |mut b, (_, _, email, _)| {
                    b.push_bind(email.clone()).push_bind(0i64).push_bind(0i64).push_bind(1i64).push_bind($at);
                });
                q.build().execute(&mut *tx).await.unwrap();
            }
            tx.commit().await.unwrap();
        }
    }};
}

fn app_over(store: Arc<dyn Store>, clock: Arc<ManualClock>) -> Arc<App> {
    let config = Config {
        rules_dir: repo().join("rules"),
        workflows_dir: repo().join("workflows"),
        templates_dir: repo().join("templates"),
        ..Default::default()
    };
    App::assemble(config, store, clock).unwrap()
}

async fn debits(app: &Arc<App>, accounts: usize, total: usize, tasks: usize, round: usize) -> f64 {
    let emails: Vec<EmailAddress> =
        (0..accounts).map(|i| EmailAddress::parse(&format!("spend{i}@debit{accounts}r{round}.io")).unwrap()).collect();
    for (i, a) in emails.iter().enumerate() {
        Ledger::new(app)
            .top_up(a, Money::from_cents(100_000_000), "bench", &format!("seed-{accounts}-{round}-{i}"))
            .await
            .unwrap();
    }
    let emails = Arc::new(emails);
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let app = app.clone();
            let emails = emails.clone();
            tokio::spawn(async move {
                for k in (t..total).step_by(tasks) {
                    let a = &emails[k % emails.len()];
                    Ledger::new(&app).debit(a, Money::from_cents(1), &format!("d{k}")).await.unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

struct Figures {
    backend: &'static str,
    close_seconds: f64,
    lines: usize,
    /// (callers, debits/s on one account, debits/s over 1,000 accounts)
    rates: Vec<(usize, f64, f64)>,
}

async fn run(backend: &'static str, store: Arc<dyn Store>, seed_pool: SeedPool) -> Figures {
    let lines: usize = setting("BILLING_BENCH_LINES", 100_000);
    let total: usize = setting("BILLING_BENCH_DEBITS", 20_000);
    let callers: String = setting("BILLING_BENCH_TASKS", "8,64".to_string());
    let callers: Vec<usize> =
        callers.split(',').map(|c| c.trim().parse().unwrap_or_else(|_| panic!("BILLING_BENCH_TASKS: {c:?}"))).collect();
    let period = Period::new(2027, 3).unwrap();
    let opened = Utc.with_ymd_and_hms(2027, 2, 20, 0, 0, 0).unwrap();
    let t = Instant::now();
    match &seed_pool {
        SeedPool::Sqlite(p) => seed!(p, lines, period, opened),
        SeedPool::Postgres(p) => seed!(p, lines, period, opened),
    }
    // Statistics, as a database in service has them (the planner's choices depend on them);
    // `BILLING_BENCH_FRESH=1` closes on a database that has none yet, as one loaded in bulk
    // and closed before autovacuum came by.
    let fresh = setting::<u8>("BILLING_BENCH_FRESH", 0) == 1;
    match (&seed_pool, fresh) {
        (_, true) => {}
        (SeedPool::Sqlite(p), false) => sqlx::query("ANALYZE").execute(p).await.map(|_| ()).unwrap(),
        (SeedPool::Postgres(p), false) => sqlx::query("ANALYZE").execute(p).await.map(|_| ()).unwrap(),
    }
    let stats = if fresh { "no statistics" } else { "analyzed" };
    eprintln!("{backend}: seeded {lines} lines in {:.1} s ({stats})", t.elapsed().as_secs_f64());
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2027, 4, 1, 1, 0, 0).unwrap()));
    let app = app_over(store.clone(), clock);
    let t = Instant::now();
    let report = cycles::close(&app, period, None).await.unwrap();
    let close_seconds = t.elapsed().as_secs_f64();
    assert_eq!(report.billed, lines, "{report:?}");
    eprintln!("{backend}: closed {lines} lines in {close_seconds:.1} s ({:.0} lines/s)", lines as f64 / close_seconds);
    // The close ends with the escalation scan over every line; a second scan does the same
    // reads and rule evaluations (nothing was proposed, the bills are too young), so its time
    // shows how the close's time splits.
    let t = Instant::now();
    let rescan = cycles::escalation::scan(&app).await.unwrap();
    assert_eq!(
        (&rescan, &report.escalation),
        (&Default::default(), &Default::default()),
        "young bills propose nothing"
    );
    eprintln!("{backend}: of which the escalation scan, run again alone: {:.1} s", t.elapsed().as_secs_f64());
    let mut rates = Vec::new();
    for (round, tasks) in callers.iter().copied().enumerate() {
        // Fresh accounts each round (the keys are per account).
        let hot = debits(&app, 1, total, tasks, round).await;
        eprintln!("{backend}: {hot:.0} debits/s on one account, {tasks} callers");
        let spread = debits(&app, 1000, total, tasks, round).await;
        eprintln!("{backend}: {spread:.0} debits/s over 1,000 accounts, {tasks} callers");
        rates.push((tasks, hot, spread));
    }
    let problems = Ledger::new(&app).verify().await.unwrap();
    assert!(problems.is_empty(), "{:?}", &problems[..problems.len().min(5)]);
    Figures { backend, close_seconds, lines, rates }
}

enum SeedPool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let backends: String = setting("BILLING_BENCH_BACKENDS", "sqlite,postgres".to_string());
    let mut figures = Vec::new();
    rt.block_on(async {
        if backends.contains("sqlite") {
            let (store, _dir) = stores::sqlite().await;
            let pool = store.pool().clone();
            figures.push(run("sqlite", Arc::new(store), SeedPool::Sqlite(pool)).await);
        }
        if backends.contains("postgres")
            && let Some((store, schema)) = stores::postgres().await
        {
            let pool = store.pool().clone();
            figures.push(run("postgres", Arc::new(store), SeedPool::Postgres(pool)).await);
            schema.drop().await;
        }
    });
    println!("| backend | cycle close | lines/s | callers | debits/s, one account | debits/s, 1,000 accounts |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut failed = false;
    for f in &figures {
        for (tasks, hot, spread) in &f.rates {
            println!(
                "| {} | {} lines in {:.1} s | {:.0} | {tasks} | {hot:.0} | {spread:.0} |",
                f.backend,
                f.lines,
                f.close_seconds,
                f.lines as f64 / f.close_seconds,
            );
        }
        failed |= f.close_seconds >= 60.0;
    }
    if failed {
        eprintln!("cycle close took 60 s or more");
        std::process::exit(1);
    }
}

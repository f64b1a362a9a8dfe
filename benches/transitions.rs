//! Workflow transitions per second (not criterion: timed runs of a fixed length). Each
//! transition is one `WorkflowService::fire`: the instance read, the engine's step, and the
//! state, its event and its outbox email written in one transaction under the version check.
//! The step is a credit line's `payment_reminder_due` (an email, the version bumped), fired
//! by 1 and 8 concurrent clients, each on instances of its own (no conflicts).
//!
//! Run: `cargo bench --bench transitions`. On SQLite (a temp file) and, when reachable,
//! PostgreSQL (`CREDITLINE_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`,
//! in a schema of its own); `TRANSITIONS_BENCH_BACKENDS=sqlite` skips PostgreSQL.
//! `TRANSITIONS_BENCH_SECONDS` (3) per run, `TRANSITIONS_BENCH_RUNS` (3) runs per figure: the
//! median is printed with the lowest and highest beside it. Targets (issue 22) with 8
//! clients: 5,000/s on SQLite, 3,000/s on PostgreSQL.

#[path = "support/stores.rs"]
mod stores;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use creditline::app::App;
use creditline::config::Config;
use creditline::domain::SubjectId;
use creditline::services::ManualClock;
use creditline::services::workflow::Fire;
use creditline::store::Store;
use serde_json::json;

/// Instances each client cycles through.
const PER_CLIENT: usize = 64;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}: cannot read {v:?}")),
        Err(_) => default,
    }
}

fn app_over(store: Arc<dyn Store>) -> Arc<App> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = Config {
        rules_dir: repo.join("rules"),
        workflows_dir: repo.join("workflows"),
        templates_dir: repo.join("templates"),
        ..Default::default()
    };
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2027, 3, 5, 9, 0, 0).unwrap()));
    App::assemble(config, store, clock).unwrap()
}

/// Transitions per second of `clients` clients over `seconds`.
async fn rate(app: &Arc<App>, clients: usize, seconds: f64, round: usize) -> f64 {
    let mut handles = Vec::new();
    let mut subjects = Vec::new();
    for c in 0..clients {
        let mut mine = Vec::new();
        for i in 0..PER_CLIENT {
            let subject = SubjectId::new();
            let account = format!("line{i}@client{c}r{round}.io");
            app.workflow.start("credit_line", subject, Some(&account), "bench").await.unwrap();
            mine.push(subject);
        }
        subjects.push(mine);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    for mine in subjects {
        let app = app.clone();
        handles.push(tokio::spawn(async move {
            let mut n = 0usize;
            while Instant::now() < deadline {
                let mut fire = Fire::new(mine[n % mine.len()], "payment_reminder_due", "bench");
                fire.data = json!({ "amount_cents": 12_345, "due_date": "2027-03-10", "period": "2027-02" })
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                app.workflow.fire(fire).await.unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// (clients, median, lowest, highest)
async fn figures(app: Arc<App>, backend: &str) -> Vec<(usize, f64, f64, f64)> {
    let seconds: f64 = setting("TRANSITIONS_BENCH_SECONDS", 3.0);
    let runs: usize = setting("TRANSITIONS_BENCH_RUNS", 3);
    let mut out = Vec::new();
    let mut round = 0;
    for clients in [1, 8] {
        let mut rates = Vec::new();
        for _ in 0..runs {
            round += 1;
            let r = rate(&app, clients, seconds, round).await;
            eprintln!("{backend}: {clients} client(s): {r:.0} transitions/s");
            rates.push(r);
        }
        rates.sort_by(f64::total_cmp);
        out.push((clients, rates[rates.len() / 2], rates[0], rates[rates.len() - 1]));
    }
    out
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let backends: String = setting("TRANSITIONS_BENCH_BACKENDS", "sqlite,postgres".to_string());
    let mut table = Vec::new();
    rt.block_on(async {
        if backends.contains("sqlite") {
            let (store, _dir) = stores::sqlite().await;
            table.push(("sqlite", figures(app_over(Arc::new(store)), "sqlite").await));
        }
        if backends.contains("postgres")
            && let Some((store, schema)) = stores::postgres().await
        {
            table.push(("postgres", figures(app_over(Arc::new(store)), "postgres").await));
            schema.drop().await;
        }
    });
    println!("| backend | clients | transitions/s (median) | lowest | highest |");
    println!("| --- | --- | --- | --- | --- |");
    for (backend, rows) in &table {
        for (clients, median, low, high) in rows {
            println!("| {backend} | {clients} | {median:.0} | {low:.0} | {high:.0} |");
        }
    }
}

//! Backtest speed: `BACKTEST_BENCH_DECISIONS` (100,000) recorded `initial_limit` decisions
//! on a temp SQLite file, replayed under a candidate that raises the first tier from $200 to
//! $300, `BACKTEST_BENCH_RUNS` (3) times. Target: under 10 s a run (exit 1 above it).
//!
//! Run: `cargo bench --bench backtest`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use creditline::domain::SubjectId;
use creditline::rules::RuleSet;
use creditline::rules::inputs::InitialLimitInput;
use creditline::services::SystemClock;
use creditline::services::backtest::{self, Scope};
use creditline::store::OperationsStore as _;
use creditline::store::sqlite::SqliteStore;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn main() {
    let n = setting("BACKTEST_BENCH_DECISIONS", 100_000);
    let runs = setting("BACKTEST_BENCH_RUNS", 3);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::connect(&format!("sqlite://{}", dir.path().join("bench.db").display()))
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        let live = RuleSet::load(&repo().join("rules")).expect("rules");
        let seeding = Instant::now();
        let types = ["enterprise", "individual_with_product", "individual_without_product"];
        let mut tx = store.writer().begin().await.expect("begin");
        for chunk_start in (0..n).step_by(500) {
            let records: Vec<_> = (chunk_start..n.min(chunk_start + 500))
                .map(|i| {
                    let input = InitialLimitInput {
                        applicant_type: types[i % 3].into(),
                        requested_limit_cents: [0, 10_000, 25_000, 50_000][i % 4] as i64,
                        expected_monthly_spend_cents: (i % 50) as i64 * 1_000,
                        business_verification: "pass".into(),
                        aws_history: "pass".into(),
                    };
                    live.evaluate("initial_limit", &input, Some(SubjectId::new())).1
                })
                .collect();
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO rule_decisions (id, subject_id, rule, version, input, output, outcome, reasons, duration_us, decided_at) ",
            );
            q.push_values(&records, |mut b, d| {
                b.push_bind(d.id.0)
                    .push_bind(d.subject.map(|s| s.0))
                    .push_bind(d.rule.clone())
                    .push_bind(d.version.clone())
                    .push_bind(sqlx::types::Json(d.input.clone()))
                    .push_bind(sqlx::types::Json(d.output.clone()))
                    .push_bind(d.outcome.clone())
                    .push_bind(sqlx::types::Json(d.reasons.clone()))
                    .push_bind(d.duration_us)
                    .push_bind(d.decided_at);
            });
            q.build().execute(&mut *tx).await.expect("insert");
        }
        tx.commit().await.expect("commit");
        eprintln!("seeded {n} decisions in {:.1} s", seeding.elapsed().as_secs_f64());

        let candidate_dir = tempfile::tempdir().expect("temp dir");
        copy_dir(&repo().join("rules"), candidate_dir.path());
        let script = candidate_dir.path().join("initial_limit.rhai");
        let text = std::fs::read_to_string(&script).expect("read");
        std::fs::write(&script, text.replace("STANDARD_LIMIT_CENTS = 20000;", "STANDARD_LIMIT_CENTS = 30000;"))
            .expect("write");
        let candidate = Arc::new(RuleSet::load(candidate_dir.path()).expect("candidate"));
        let config = creditline::config::Config {
            rules_dir: repo().join("rules"),
            workflows_dir: repo().join("workflows"),
            templates_dir: repo().join("templates"),
            ..Default::default()
        };
        let app = creditline::app::App::assemble(config, Arc::new(store), Arc::new(SystemClock)).expect("app");
        let mut worst = 0.0f64;
        for run in 1..=runs {
            let started = Instant::now();
            let found = backtest::run(&app, candidate.clone(), &Scope::default()).await.expect("backtest");
            let secs = started.elapsed().as_secs_f64();
            let r = &found.report.rules["initial_limit"];
            println!(
                "backtest run {run}: {n} decisions in {secs:.2} s ({:.0}/s); {} changed, limits {:+} cents",
                n as f64 / secs,
                r.replayed - r.unchanged,
                r.limit_delta_cents
            );
            worst = worst.max(secs);
        }
        if worst > 10.0 {
            eprintln!("slowest run {worst:.2} s is over the 10 s target");
            std::process::exit(1);
        }
    });
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

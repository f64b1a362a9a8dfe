//! The database itself and the operators' reads: migrations, readiness, worker heartbeats, the
//! simulation report's counts.

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::*;

/// One worker process's last tick (`worker_heartbeats`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WorkerBeat {
    /// The worker's unique name (process id and a random suffix).
    pub worker: String,
    pub started_at: DateTime<Utc>,
    /// Wall time of the last finished tick.
    pub beat_at: DateTime<Utc>,
    /// The service clock that tick read.
    pub clock_at: DateTime<Utc>,
    /// The service clock of the last scheduled run (cycle close, gating, reminder scan).
    pub scheduled_clock_at: Option<DateTime<Utc>>,
    pub ticks: i64,
}

/// What [`Store::report_figures`](crate::store::Store::report_figures) reads: flows between
/// `from` (inclusive) and `to` (exclusive), stocks as they stand when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportWindow {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Cut-offs that split open tasks by age, newest first: a task created after
    /// `open_task_cutoffs[i]` (and not after an earlier one) is in bucket `i`; one created at
    /// or before the last is in bucket `open_task_cutoffs.len()`.
    pub open_task_cutoffs: Vec<DateTime<Utc>>,
}

/// Aggregate figures for the simulation's report, read in one snapshot. Every list is sorted
/// by its key, so the same database gives the same figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFigures {
    /// Applications received in the window, by their state now.
    pub applications: Vec<(String, i64)>,
    /// Every credit line, by its state now.
    pub lines: Vec<(String, i64)>,
    /// What the bills not paid in full still ask for.
    pub billed_unpaid_cents: i64,
    /// Credit drawn in months that have no bill yet (the month in progress, mostly).
    pub unbilled_cents: i64,
    pub bills: ReportBills,
    /// Limit increases proposed or requested in the window, by their state now.
    pub increases: Vec<(String, i64)>,
    /// Deposits held as guarantees, all accounts.
    pub deposits_held_cents: i64,
    /// Emails sent in the window, by template.
    pub emails_sent: Vec<(String, i64)>,
    /// Tasks created in the window, by kind.
    pub tasks_opened: Vec<(String, i64)>,
    /// Tasks finished (done or obsolete) in the window, by kind.
    pub tasks_closed: Vec<(String, i64)>,
    /// Tasks open now: (kind, age bucket as in [`ReportWindow::open_task_cutoffs`], count).
    pub tasks_open: Vec<(String, i64, i64)>,
}

/// Bills issued in a window, and bills with something to pay that fell due in it (`due_at`
/// within the window) with how they stand now. A bill paid at or before its `due_at` is on
/// time; "unpaid" is not paid in full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReportBills {
    pub issued: i64,
    pub issued_cents: i64,
    pub due: i64,
    pub due_cents: i64,
    pub paid_on_time: i64,
    pub paid_late: i64,
    pub unpaid: i64,
    pub unpaid_cents: i64,
}

#[async_trait]
pub trait OperationsStore: Send + Sync {
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;

    /// True where the database lets one writer in at a time (SQLite): there, writes made at
    /// the same moment gain from sharing a transaction (group commit). PostgreSQL runs them
    /// side by side and shares the commit's flush itself; batching them there measured slower.
    fn writes_one_at_a_time(&self) -> bool;

    /// Applies pending migrations; safe to run on every start.
    async fn migrate(&self) -> StoreResult<()>;

    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// Records a worker's finished tick (one row per worker, replaced each tick).
    async fn worker_beat(&self, beat: &WorkerBeat) -> StoreResult<()>;

    /// Every worker's last tick, newest first.
    async fn worker_beats(&self) -> StoreResult<Vec<WorkerBeat>>;

    /// The simulation report's counts (`sim::report`): GROUP BY reads of applications, lines,
    /// bills, credit usage, increases, deposits, sent emails and tasks, in one read
    /// transaction so they agree with each other.
    async fn report_figures(&self, window: &ReportWindow) -> StoreResult<ReportFigures>;

    /// Workflow events named in `events` since `since`, counted by name.
    async fn event_counts(&self, events: &[&str], since: DateTime<Utc>) -> StoreResult<Vec<(String, i64)>>;

    /// Brings the planner's statistics up to date for `tables` where they are missing or stale
    /// (over 1,000 rows and a fifth of the table changed since the last analysis), and returns
    /// the tables analyzed. A bulk job on a young PostgreSQL database (a million lines loaded
    /// that day, autovacuum not yet by) otherwise plans for the sizes it does not know: a
    /// close of 1,000,000 lines measured twice as slow. SQLite: nothing (`[]`); without
    /// statistics its planner assumes indexes are selective, and its young-table close was not
    /// measured.
    async fn refresh_statistics(&self, tables: &[&str]) -> StoreResult<Vec<String>>;
}

/// Implements [`OperationsStore`] for a backend (see [`super::sql`]).
macro_rules! impl_operations_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        #[async_trait::async_trait]
        impl crate::store::OperationsStore for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn writes_one_at_a_time(&self) -> bool {
                $backend == "sqlite"
            }

            async fn refresh_statistics(&self, tables: &[&str]) -> crate::store::StoreResult<Vec<String>> {
                if $backend != "postgres" || tables.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "SELECT relname::text FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname IN (",
                );
                let mut names = q.separated(", ");
                for t in tables {
                    names.push_bind(t.to_string());
                }
                names.push_unseparated(
                    ") AND n_mod_since_analyze > 1000 AND n_mod_since_analyze > n_live_tup / 5 ORDER BY relname",
                );
                let stale: Vec<String> = q.build_query_scalar().fetch_all(self.pool()).await?;
                if !stale.is_empty() {
                    // Names pg_stat_user_tables gave for the caller's list: quoted all the same.
                    let list = stale.iter().map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect::<Vec<_>>();
                    sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {}", list.join(", ")))).execute(self.pool()).await?;
                }
                Ok(stale)
            }

            async fn migrate(&self) -> crate::store::StoreResult<()> {
                let mut migrator = $migrator;
                // Other components (the job queue) may keep their own rows in sqlx's table.
                migrator.set_ignore_missing(true);
                migrator.run(self.pool()).await?;
                Ok(())
            }

            async fn ping(&self) -> crate::store::StoreResult<()> {
                sqlx::query("SELECT 1").execute(self.pool()).await?;
                Ok(())
            }

            async fn worker_beat(&self, beat: &crate::store::WorkerBeat) -> crate::store::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO worker_heartbeats (worker, started_at, beat_at, clock_at, scheduled_clock_at, ticks) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (worker) DO UPDATE SET beat_at = excluded.beat_at, clock_at = excluded.clock_at, \
                     scheduled_clock_at = excluded.scheduled_clock_at, ticks = excluded.ticks",
                )
                .bind(&beat.worker)
                .bind(beat.started_at)
                .bind(beat.beat_at)
                .bind(beat.clock_at)
                .bind(beat.scheduled_clock_at)
                .bind(beat.ticks)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn worker_beats(&self) -> crate::store::StoreResult<Vec<crate::store::WorkerBeat>> {
                use sqlx::Row;
                let rows = sqlx::query("SELECT * FROM worker_heartbeats ORDER BY beat_at DESC, worker")
                    .fetch_all(self.pool())
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push(crate::store::WorkerBeat {
                        worker: r.try_get("worker")?,
                        started_at: r.try_get("started_at")?,
                        beat_at: r.try_get("beat_at")?,
                        clock_at: r.try_get("clock_at")?,
                        scheduled_clock_at: r.try_get("scheduled_clock_at")?,
                        ticks: r.try_get("ticks")?,
                    });
                }
                Ok(out)
            }

            async fn event_counts(
                &self,
                events: &[&str],
                since: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<Vec<(String, i64)>> {
                if events.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT event, COUNT(*) FROM workflow_events WHERE event IN (");
                let mut names = q.separated(", ");
                for e in events {
                    names.push_bind(e.to_string());
                }
                q.push(") AND occurred_at >= ").push_bind(since).push(" GROUP BY event ORDER BY event");
                Ok(q.build_query_as().fetch_all(self.pool()).await?)
            }

            async fn report_figures(
                &self,
                w: &crate::store::ReportWindow,
            ) -> crate::store::StoreResult<crate::store::ReportFigures> {
                use sqlx::Row;
                use crate::workflow::names::task_state;
                let mut tx = self.pool().begin().await?;
                if crate::store::OperationsStore::backend(self) == "postgres" {
                    // One snapshot for every statement below (SQLite's read transaction is one
                    // already): the figures then add up even while workers write.
                    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
                }
                let applications: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT i.state, COUNT(*) FROM applications a JOIN workflow_instances i ON i.id = a.id \
                     WHERE a.created_at >= $1 AND a.created_at < $2 GROUP BY i.state ORDER BY i.state",
                )
                .bind(w.from)
                .bind(w.to)
                .fetch_all(&mut *tx)
                .await?;
                let lines: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT i.state, COUNT(*) FROM credit_lines l JOIN workflow_instances i ON i.id = l.id \
                     GROUP BY i.state ORDER BY i.state",
                )
                .fetch_all(&mut *tx)
                .await?;
                let billed_unpaid_cents: i64 = sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(amount_cents - paid_cents), 0) AS BIGINT) FROM bills \
                     WHERE paid_cents < amount_cents",
                )
                .fetch_one(&mut *tx)
                .await?;
                let unbilled_cents: i64 = sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(u.used_cents), 0) AS BIGINT) FROM credit_usage u \
                     WHERE NOT EXISTS (SELECT 1 FROM bills b WHERE b.line_id = u.line_id AND b.period = u.period)",
                )
                .fetch_one(&mut *tx)
                .await?;
                // Bills of nothing (a month without usage) have nothing to pay: issued, never due.
                let b = sqlx::query(
                    "SELECT \
                     CAST(COALESCE(SUM(CASE WHEN issued_at >= $1 AND issued_at < $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS issued, \
                     CAST(COALESCE(SUM(CASE WHEN issued_at >= $1 AND issued_at < $2 THEN amount_cents ELSE 0 END), 0) AS BIGINT) AS issued_cents, \
                     CAST(COALESCE(SUM(CASE WHEN due_at >= $1 AND due_at < $2 AND amount_cents > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS due, \
                     CAST(COALESCE(SUM(CASE WHEN due_at >= $1 AND due_at < $2 AND amount_cents > 0 THEN amount_cents ELSE 0 END), 0) AS BIGINT) AS due_cents, \
                     CAST(COALESCE(SUM(CASE WHEN due_at >= $1 AND due_at < $2 AND amount_cents > 0 \
                       AND paid_cents = amount_cents AND paid_at <= due_at THEN 1 ELSE 0 END), 0) AS BIGINT) AS on_time, \
                     CAST(COALESCE(SUM(CASE WHEN due_at >= $1 AND due_at < $2 AND amount_cents > 0 \
                       AND paid_cents = amount_cents AND paid_at > due_at THEN 1 ELSE 0 END), 0) AS BIGINT) AS late, \
                     CAST(COALESCE(SUM(CASE WHEN due_at >= $1 AND due_at < $2 AND paid_cents < amount_cents \
                       THEN 1 ELSE 0 END), 0) AS BIGINT) AS unpaid, \
                     CAST(COALESCE(SUM(CASE WHEN due_at >= $1 AND due_at < $2 AND paid_cents < amount_cents \
                       THEN amount_cents - paid_cents ELSE 0 END), 0) AS BIGINT) AS unpaid_cents \
                     FROM bills WHERE (issued_at >= $1 AND issued_at < $2) OR (due_at >= $1 AND due_at < $2)",
                )
                .bind(w.from)
                .bind(w.to)
                .fetch_one(&mut *tx)
                .await?;
                let bills = crate::store::ReportBills {
                    issued: b.try_get("issued")?,
                    issued_cents: b.try_get("issued_cents")?,
                    due: b.try_get("due")?,
                    due_cents: b.try_get("due_cents")?,
                    paid_on_time: b.try_get("on_time")?,
                    paid_late: b.try_get("late")?,
                    unpaid: b.try_get("unpaid")?,
                    unpaid_cents: b.try_get("unpaid_cents")?,
                };
                let increases: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT i.state, COUNT(*) FROM limit_increases l JOIN workflow_instances i ON i.id = l.id \
                     WHERE l.created_at >= $1 AND l.created_at < $2 GROUP BY i.state ORDER BY i.state",
                )
                .bind(w.from)
                .bind(w.to)
                .fetch_all(&mut *tx)
                .await?;
                let deposits_held_cents: i64 =
                    sqlx::query_scalar("SELECT CAST(COALESCE(SUM(deposit_cents), 0) AS BIGINT) FROM ledger_accounts")
                        .fetch_one(&mut *tx)
                        .await?;
                let emails_sent: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT name, COUNT(*) FROM outbox WHERE kind = 'email' AND status = 'sent' \
                     AND processed_at >= $1 AND processed_at < $2 GROUP BY name ORDER BY name",
                )
                .bind(w.from)
                .bind(w.to)
                .fetch_all(&mut *tx)
                .await?;
                let tasks_opened: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT kind, COUNT(*) FROM tasks WHERE created_at >= $1 AND created_at < $2 \
                     GROUP BY kind ORDER BY kind",
                )
                .bind(w.from)
                .bind(w.to)
                .fetch_all(&mut *tx)
                .await?;
                let tasks_closed: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT kind, COUNT(*) FROM tasks WHERE state NOT IN ($3, $4) \
                     AND updated_at >= $1 AND updated_at < $2 GROUP BY kind ORDER BY kind",
                )
                .bind(w.from)
                .bind(w.to)
                .bind(task_state::WAITING[0])
                .bind(task_state::WAITING[1])
                .fetch_all(&mut *tx)
                .await?;
                let mut q = Builder::new("SELECT kind, CAST(CASE");
                for (i, cutoff) in w.open_task_cutoffs.iter().enumerate() {
                    q.push(" WHEN created_at > ");
                    q.push_bind(*cutoff);
                    q.push(format_args!(" THEN {i}"));
                }
                q.push(format_args!(
                    " ELSE {} END AS BIGINT) AS bucket, COUNT(*) AS n FROM tasks WHERE state IN (",
                    w.open_task_cutoffs.len()
                ));
                let mut waiting = q.separated(", ");
                for st in task_state::WAITING {
                    waiting.push_bind(st);
                }
                q.push(") GROUP BY 1, 2 ORDER BY 1, 2");
                let tasks_open: Vec<(String, i64, i64)> = q.build_query_as().fetch_all(&mut *tx).await?;
                tx.commit().await?;
                Ok(crate::store::ReportFigures {
                    applications,
                    lines,
                    billed_unpaid_cents,
                    unbilled_cents,
                    bills,
                    increases,
                    deposits_held_cents,
                    emails_sent,
                    tasks_opened,
                    tasks_closed,
                    tasks_open,
                })
            }
        }
    };
}

pub(crate) use impl_operations_store;

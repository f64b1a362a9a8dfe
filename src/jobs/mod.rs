//! Background work. Outgoing email runs on apalis: SQLite storage for the embedded default
//! (apalis' tables in the same file, on a pool of its own), PostgreSQL storage when the
//! database is PostgreSQL, so any number of `creditline worker` processes share the queue.
//!
//! The outbox is the source of truth, apalis carries the work:
//! - the relay (each tick) marks deliverable outbox rows `queued` and pushes one
//!   [`QueuedEmail`] job per row under the idempotency key `<outbox id>:<enqueues>`, so a
//!   relay that dies between its two steps and runs again pushes no second job;
//! - a send job claims its row only while the row is still queued under the job's number
//!   ([`Store::claim_outbox`]): a stale or duplicated job does nothing;
//! - retries are scheduled on the outbox row (`available_at`, exponential backoff with
//!   jitter) and come back through the relay as a new job number;
//! - a worker that dies mid-send leaves its row `sending` under a lease; the tick hands it
//!   back when the lease runs out, and the retry sends the same Message-ID.
//!
//! Website checks (`website_check`, when `website_check.enabled`) travel the same way: the
//! tick queues the rows intake wrote (`Store::queue_website_checks`) as jobs keyed
//! `<check id>:<enqueues>`, and a job finishes its row only under its own number
//! (`services::website`).
//!
//! The same tick runs the reminder scan. Every step is guarded in the database, so running
//! workers on several machines at once is safe.
//!
//! [`Store::claim_outbox`]: crate::store::Store::claim_outbox

pub mod metrics;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::watch;

use crate::app::App;
use crate::email::transport::Mailer;
use crate::services::delivery;
use crate::services::reminders;
use crate::store::{QueuedEmail, WebsiteCheckJob};

/// The stable name of the send job (its queue is `<workers.queue>.send_email`).
pub const SEND_EMAIL: &str = "send_email";
/// The stable name of the website check job (its queue is `<workers.queue>.website_check`).
pub const WEBSITE_CHECK: &str = "website_check";
/// Website checks run at once per process: each holds a connection to someone else's server
/// for up to `website_check.timeout_seconds`.
const WEBSITE_CONCURRENCY: usize = 2;
/// Attempts apalis itself makes at one job. Delivery retries are counted on the outbox row;
/// these only cover a job whose database was briefly unreachable.
const JOB_ATTEMPTS: usize = 3;
/// A row queued this long without its job claiming it is queued again.
const STALE_QUEUED: chrono::Duration = chrono::Duration::minutes(10);

/// A job queue of the configured database, for jobs of type `J` (send jobs by default).
#[derive(Clone)]
pub enum Queue<J = QueuedEmail> {
    Sqlite(SqliteStorage<J>),
    Postgres(PostgresStorage<J>),
}

/// The connection apalis' storages share, migrated.
#[derive(Clone)]
pub enum Backend {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Backend {
    /// Opens apalis' storage on the configured database and migrates it.
    pub async fn open(app: &App) -> anyhow::Result<Backend> {
        let url = &app.config.database_url;
        if url.starts_with("sqlite:") {
            // Its own pool: apalis' setup would switch connections to synchronous=OFF, so the
            // options are set here and only its migrations are run, with their own table
            // (sharing `_sqlx_migrations` with ours would fail the second start).
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10));
            let _lock = crate::store::sqlite::startup_lock(url).await?;
            let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
            let mut migrator = SqliteStorage::<()>::migrations();
            migrator.dangerous_set_table_name("_apalis_migrations");
            migrator.run(&pool).await?;
            Ok(Backend::Sqlite(pool))
        } else {
            // apalis names its tables with their schema (`apalis.jobs`), but its columns use the
            // `hstore` type by its bare name: its connections look in apalis and public only,
            // whatever search_path the configured URL sets for ours.
            let options = PgConnectOptions::from_str(url)?.options([("search_path", "apalis,public")]);
            let pool = PgPoolOptions::new().max_connections(4).connect_with(options).await?;
            hstore_in_public(&pool).await?;
            PostgresStorage::<()>::setup(&pool).await?;
            Ok(Backend::Postgres(pool))
        }
    }
}

impl Backend {
    /// Deletes the finished jobs of these queues; returns how many. The outbox and the
    /// website-check rows hold the record of every job, so apalis' own rows are not needed
    /// once done. Kept, they cost more than space: apalis-sqlite's ack finds the job among
    /// every row its worker ever locked, so each ack grew slower with each job done (a
    /// simulation of 10,000 accounts spent a third of the worker's time there).
    pub async fn prune_finished(&self, queues: &[String]) -> anyhow::Result<u64> {
        let mut deleted = 0;
        for queue in queues {
            deleted += match self {
                Backend::Sqlite(pool) => sqlx::query("DELETE FROM Jobs WHERE status = 'Done' AND job_type = $1")
                    .bind(queue)
                    .execute(pool)
                    .await?
                    .rows_affected(),
                Backend::Postgres(pool) => {
                    sqlx::query("DELETE FROM apalis.jobs WHERE status = 'Done' AND job_type = $1")
                        .bind(queue)
                        .execute(pool)
                        .await?
                        .rows_affected()
                }
            };
        }
        Ok(deleted)
    }
}

impl Queue<QueuedEmail> {
    /// Opens apalis' storage on the configured database and migrates it: the send queue.
    pub async fn open(app: &App) -> anyhow::Result<Queue> {
        Ok(Queue::on(&Backend::open(app).await?, app, SEND_EMAIL))
    }

    /// Pushes one send job; pushing the same row and number again adds nothing.
    pub async fn push(&mut self, job: QueuedEmail) -> anyhow::Result<()> {
        self.push_keyed(job, format!("{}:{}", job.id, job.enqueues)).await
    }
}

impl<J> Queue<J>
where
    J: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + Unpin + 'static,
{
    /// The queue `<workers.queue>.<name>` on an open backend.
    pub fn on(backend: &Backend, app: &App, name: &str) -> Queue<J> {
        let queue = format!("{}.{name}", app.config.workers.queue);
        match backend {
            Backend::Sqlite(pool) => {
                let config = apalis_sqlite::Config::default().queue(&queue);
                Queue::Sqlite(SqliteStorage::new(pool).with_config(config))
            }
            Backend::Postgres(pool) => {
                // A worker that died (SIGKILL, a lost machine) has its running jobs put back
                // after 30 s of silence instead of apalis' default five minutes. (The outbox
                // lease sends the email again anyway; this keeps the queue itself clean.)
                let config = apalis_postgres::Config::default()
                    .queue(&queue)
                    .heartbeat_interval(std::time::Duration::from_secs(10))
                    .missed_heartbeats(3);
                Queue::Postgres(PostgresStorage::new(pool).with_config(config))
            }
        }
    }

    /// Pushes one job under its idempotency key; a known key adds nothing.
    pub async fn push_keyed(&mut self, job: J, key: String) -> anyhow::Result<()> {
        let task = TaskBuilder::new(job).idempotency_key(key.clone()).max_attempts(JOB_ATTEMPTS).build();
        match self {
            // SQLite ignores a known key (ON CONFLICT DO NOTHING).
            Queue::Sqlite(s) => s.push_task(task).await.map_err(|e| anyhow::anyhow!("enqueue {key}: {e}")),
            // PostgreSQL refuses it: the job is there already, which is all we wanted.
            Queue::Postgres(s) => match s.push_task(task).await {
                Ok(()) => Ok(()),
                Err(e) if e.to_string().contains("duplicate key") => Ok(()),
                Err(e) => Err(anyhow::anyhow!("enqueue {key}: {e}")),
            },
        }
    }
}

/// Installs `hstore` into `public` (or moves it there: created while another schema came first
/// in the search_path, it would be invisible to apalis' connections). Serialized by an advisory
/// lock, since two workers starting at once would race on CREATE EXTENSION.
async fn hstore_in_public(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock(hashtext('creditline.hstore'))").execute(&mut *conn).await?;
    let result = async {
        let schema: Option<String> = sqlx::query_scalar(
            "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname = 'hstore'",
        )
        .fetch_optional(&mut *conn)
        .await?;
        match schema.as_deref() {
            None => {
                sqlx::query("CREATE EXTENSION IF NOT EXISTS hstore SCHEMA public").execute(&mut *conn).await?;
            }
            Some("public") => {}
            Some(_) => {
                sqlx::query("ALTER EXTENSION hstore SET SCHEMA public").execute(&mut *conn).await?;
            }
        }
        Ok::<(), sqlx::Error>(())
    }
    .await;
    sqlx::query("SELECT pg_advisory_unlock(hashtext('creditline.hstore'))").execute(&mut *conn).await?;
    Ok(result?)
}

/// What the send handler needs.
#[derive(Clone)]
struct Context {
    app: Arc<App>,
    mailer: Mailer,
}

async fn check_website(job: WebsiteCheckJob, ctx: Data<Context>) -> Result<(), BoxDynError> {
    match crate::services::website::run(&ctx.app, job).await {
        Ok(checked) => {
            tracing::info!(check = %job.id, result = ?checked, "website_check");
            ctx.app.metrics.job_done(WEBSITE_CHECK);
            Ok(())
        }
        Err(e) => {
            // The row stays queued: apalis tries the job again, and the relay queues the row
            // again under a new number if no attempt finishes it.
            tracing::warn!(check = %job.id, error = %e, "website_check could not run");
            ctx.app.metrics.job_error(WEBSITE_CHECK);
            Err(e.into())
        }
    }
}

async fn send_email(job: QueuedEmail, ctx: Data<Context>) -> Result<(), BoxDynError> {
    match delivery::deliver(&ctx.app, &ctx.mailer, job).await {
        Ok(attempted) => {
            tracing::info!(outbox = %job.id, result = ?attempted, "send_email");
            ctx.app.metrics.email_job(&attempted);
            Ok(())
        }
        Err(e) => {
            // The row stays as it was (or under its lease): the job runs again, and the
            // lease recovery covers the rest.
            tracing::warn!(outbox = %job.id, error = %e, "send_email could not run");
            ctx.app.metrics.job_error(SEND_EMAIL);
            Err(e.into())
        }
    }
}

/// Runs the send workers, the relay and the reminder scan until `shutdown` resolves; then
/// stops taking jobs, lets those in flight finish (up to `workers.shutdown_seconds`) and
/// returns.
pub async fn run(app: Arc<App>, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let mailer = Mailer::from_config(&app.config.mail).map_err(|e| anyhow::anyhow!("mail transport: {e}"))?;
    let backend = Backend::open(&app).await?;
    let queue: Queue = Queue::on(&backend, &app, SEND_EMAIL);
    let checks: Queue<WebsiteCheckJob> = Queue::on(&backend, &app, WEBSITE_CHECK);
    if app.config.website_check.enabled && app.config.website_check.relaxed() {
        tracing::warn!(
            "website_check: test-only settings are on (loopback, http or an extra root): never in production"
        );
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    // Unique per process: apalis refuses a second live worker of one name.
    let name = format!("creditline-{}-{}", std::process::id(), &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let (send_nudge, check_nudge) = (Nudge::default(), Nudge::default());
    let ticker = tokio::spawn(tick_loop(
        app.clone(),
        name.clone(),
        (backend.clone(), queue.clone(), checks.clone()),
        (send_nudge.clone(), check_nudge.clone()),
        stop_rx.clone(),
    ));
    let ctx = Context { app: app.clone(), mailer };
    let cfg = app.config.workers.clone();
    let poll = Duration::from_millis(cfg.poll_ms);
    let check_name = format!("{name}-{WEBSITE_CHECK}");
    let check_ctx = ctx.clone();
    let signal = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
            Ok(())
        }
    };
    let monitor = Monitor::new().shutdown_timeout(Duration::from_secs(cfg.shutdown_seconds));
    tracing::info!(worker = %name, concurrency = cfg.concurrency, "workers started");
    // The two storages have different types, so the same workers are stamped out per arm.
    macro_rules! run_on {
        ($storage:expr, $checks:expr) => {{
            let (storage, checks) = ($storage, $checks);
            monitor
                .register(move |_| {
                    WorkerBuilder::new(name.as_str())
                        .backend(storage.clone().poll_with_strategy(Every::new(poll, send_nudge.clone())))
                        .concurrency(cfg.concurrency)
                        .data(ctx.clone())
                        .build(send_email)
                })
                .register(move |_| {
                    WorkerBuilder::new(check_name.as_str())
                        .backend(checks.clone().poll_with_strategy(Every::new(poll, check_nudge.clone())))
                        .concurrency(WEBSITE_CONCURRENCY)
                        .data(check_ctx.clone())
                        .build(check_website)
                })
                .run_with_signal(signal)
                .await
        }};
    }
    let result = match (queue, checks) {
        (Queue::Sqlite(storage), Queue::Sqlite(checks)) => run_on!(storage, checks),
        (Queue::Postgres(storage), Queue::Postgres(checks)) => run_on!(storage, checks),
        _ => Ok(()),
    };
    let _ = ticker.await;
    tracing::info!("workers stopped");
    result.map_err(|e| anyhow::anyhow!("workers: {e}"))
}

/// Wakes a worker to look for jobs every `workers.poll_ms`.
///
/// apalis' own `IntervalStrategy` re-arms its timer after a tick without polling it, so the
/// new timer holds no waker; when the fetch that follows comes back empty, nothing wakes the
/// worker again until its heartbeat (30 seconds). A job pushed in between waited that long:
/// the simulation saw emails sit `queued` for up to 30 seconds. This strategy polls its timer
/// again after each tick until it is pending, so a wake is always armed.
///
/// It is also woken at once by a [`Nudge`]: this process's relay nudges its own workers when
/// it pushes jobs, so they need not poll often to start sending soon (a worker that finds a
/// full batch fetches again without waiting; the poll only wakes one that found none).
struct Every {
    interval: tokio::time::Interval,
    nudge: Nudge,
}

impl Every {
    fn new(period: Duration, nudge: Nudge) -> Every {
        let mut interval = tokio::time::interval(period.max(Duration::from_millis(1)));
        // After a busy stretch, one look at the queue, not a burst of them.
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Every { interval, nudge }
    }
}

impl PollStrategy for Every {
    fn poll_drive(&mut self, cx: &mut std::task::Context<'_>, _: &PollSnapshot) -> std::task::Poll<Option<()>> {
        // Registered before the flag is read: a nudge in between still wakes this task.
        self.nudge.0.waker.register(cx.waker());
        let mut ticked = self.nudge.0.pushed.swap(false, std::sync::atomic::Ordering::AcqRel);
        // `Delay` moves the next tick a whole period on, so this ends after one more poll,
        // which registers the waker for that tick.
        while self.interval.poll_tick(cx).is_ready() {
            ticked = true;
        }
        if ticked { std::task::Poll::Ready(Some(())) } else { std::task::Poll::Pending }
    }
}

/// Tells this process's workers of one queue that jobs were just pushed.
#[derive(Clone, Default)]
struct Nudge(Arc<NudgeState>);

#[derive(Default)]
struct NudgeState {
    pushed: std::sync::atomic::AtomicBool,
    waker: futures_util::task::AtomicWaker,
}

impl Nudge {
    fn nudge(&self) {
        self.0.pushed.store(true, std::sync::atomic::Ordering::Release);
        self.0.waker.wake();
    }
}

/// How often finished jobs are deleted, while jobs pushed in the last `PRUNE_WHILE` may
/// still be running (a send waits `mail.smtp.timeout_seconds` at most, then leaves its row to
/// the lease recovery).
const PRUNE_EVERY: Duration = Duration::from_secs(1);
const PRUNE_WHILE: Duration = Duration::from_secs(600);

/// How often an idle worker records its heartbeat.
const BEAT_EVERY: Duration = Duration::from_secs(1);

/// When a scheduled job (cycle, reminder scan) last ran: by the wall clock, and by the
/// service clock. It is due again when either has moved on by its interval, so a simulation
/// that jumps the service clock a day runs it at once; in production both move together.
#[derive(Debug, Clone, Copy, Default)]
struct Schedule {
    wall: Option<tokio::time::Instant>,
    clock: Option<chrono::DateTime<chrono::Utc>>,
    /// The service clock of the last run that succeeded.
    done: Option<chrono::DateTime<chrono::Utc>>,
}

impl Schedule {
    fn due(&self, every: Duration, now: chrono::DateTime<chrono::Utc>) -> bool {
        let wall = self.wall.is_none_or(|t| t.elapsed() >= every);
        let clock = self.clock.is_none_or(|c| (now - c).to_std().is_ok_and(|d| d >= every));
        wall || clock
    }

    /// Marks a run started at `now`; a failed run is due again at the next tick.
    fn ran(&mut self, now: chrono::DateTime<chrono::Utc>, ok: bool) {
        if ok {
            *self = Schedule { wall: Some(tokio::time::Instant::now()), clock: Some(now), done: Some(now) };
        } else {
            *self = Schedule { done: self.done, ..Schedule::default() };
        }
    }
}

/// The relay, the lease recovery and (less often) the cycle job and the reminder scan, until
/// told to stop. Each finished tick is recorded in `worker_heartbeats` under `name`.
async fn tick_loop(
    app: Arc<App>,
    name: String,
    (backend, mut queue, mut checks): (Backend, Queue, Queue<WebsiteCheckJob>),
    (send_nudge, check_nudge): (Nudge, Nudge),
    mut stop: watch::Receiver<bool>,
) {
    let queues = [SEND_EMAIL, WEBSITE_CHECK].map(|q| format!("{}.{q}", app.config.workers.queue));
    // When jobs were last pushed, and when finished ones were last pruned.
    let (mut pushed_at, mut pruned_at) = (None::<tokio::time::Instant>, tokio::time::Instant::now());
    let every = Duration::from_millis(app.config.workers.tick_ms);
    let scan_every = Duration::from_secs(app.config.reminders.scan_interval_seconds.max(1));
    let cycle_every = Duration::from_secs(app.config.billing.tick_seconds.max(1));
    let (mut scan, mut cycle) = (Schedule::default(), Schedule::default());
    let started_at = chrono::Utc::now();
    let mut ticks = 0i64;
    let mut beat_written: (Option<tokio::time::Instant>, Option<chrono::DateTime<chrono::Utc>>) = (None, None);
    loop {
        let now = app.workflow.clock().now();
        if cycle.due(cycle_every, now) {
            let began = tokio::time::Instant::now();
            let result = crate::services::billing::scheduled(&app).await;
            cycle.ran(now, result.is_ok());
            match result {
                Ok(r) => {
                    for c in &r.closed {
                        tracing::info!(period = %c.period, billed = c.billed, "cycle closed");
                    }
                    tracing::debug!(elapsed_ms = began.elapsed().as_millis(), "billing cycle job");
                    app.metrics.job_done("billing_cycle");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "billing cycle");
                    app.metrics.job_error("billing_cycle");
                }
            }
        }
        match relay(&app, &mut queue).await {
            Ok(pushed) => {
                if pushed > 0 {
                    send_nudge.nudge();
                    pushed_at = Some(tokio::time::Instant::now());
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "outbox relay");
                app.metrics.job_error("relay");
            }
        }
        if app.config.website_check.enabled {
            match relay_website_checks(&app, &mut checks).await {
                Ok(pushed) => {
                    if pushed > 0 {
                        check_nudge.nudge();
                        pushed_at = Some(tokio::time::Instant::now());
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "website check relay");
                    app.metrics.job_error("website_check_relay");
                }
            }
        }
        // While jobs pushed lately may still be finishing; an idle worker writes nothing.
        if pushed_at.is_some_and(|t| t.elapsed() < PRUNE_WHILE) && pruned_at.elapsed() >= PRUNE_EVERY {
            pruned_at = tokio::time::Instant::now();
            if let Err(e) = backend.prune_finished(&queues).await {
                tracing::warn!(error = %e, "pruning finished jobs");
            }
        }
        if scan.due(scan_every, now) {
            let began = tokio::time::Instant::now();
            let result = reminders::scan(&app).await;
            scan.ran(now, result.is_ok());
            match result {
                Ok(r) => {
                    tracing::debug!(elapsed_ms = began.elapsed().as_millis(), "reminder scan");
                    if r.reminded + r.timed_out > 0 {
                        tracing::info!(reminded = r.reminded, timed_out = r.timed_out, "reminder scan");
                    }
                    app.metrics.job_done("reminder_scan");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reminder scan");
                    app.metrics.job_error("reminder_scan");
                }
            }
        }
        ticks += 1;
        // A beat is written when the scheduled jobs have run for a new clock, else once a
        // second: not a write every tick.
        let scheduled_clock_at = cycle.done.min(scan.done);
        if scheduled_clock_at != beat_written.1 || beat_written.0.is_none_or(|t| t.elapsed() >= BEAT_EVERY) {
            let beat = crate::store::WorkerBeat {
                worker: name.clone(),
                started_at,
                beat_at: chrono::Utc::now(),
                clock_at: now,
                scheduled_clock_at,
                ticks,
            };
            match app.store.worker_beat(&beat).await {
                Ok(()) => beat_written = (Some(tokio::time::Instant::now()), scheduled_clock_at),
                Err(e) => tracing::warn!(error = %e, "worker heartbeat"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One relay round: give expired leases back, then move deliverable rows into jobs. Returns
/// how many jobs were pushed.
pub async fn relay(app: &App, queue: &mut Queue) -> anyhow::Result<usize> {
    let now = app.workflow.clock().now();
    // A read first: the two steps below are write transactions, and an idle worker ticking
    // would otherwise take the database's write lock several times a tick for nothing.
    let (due, in_flight) = app.store.outbox_due(now).await?;
    if in_flight > 0 {
        let recovered = app.store.recover_outbox(now, now - STALE_QUEUED).await?;
        if recovered > 0 {
            tracing::info!(rows = recovered, "outbox rows handed back for another attempt");
        }
    }
    let mut pushed = 0;
    if due == 0 && in_flight == 0 {
        return Ok(pushed);
    }
    loop {
        let rows = app.store.queue_outbox(now, app.config.workers.batch).await?;
        for job in &rows {
            queue.push(*job).await?;
            pushed += 1;
        }
        if rows.len() < usize::try_from(app.config.workers.batch).unwrap_or(usize::MAX) {
            return Ok(pushed);
        }
    }
}

/// Website checks asked for by intake (and rows queued long ago whose job never finished
/// them) become jobs keyed `<check id>:<enqueues>`. Returns how many were pushed.
pub async fn relay_website_checks(app: &App, queue: &mut Queue<WebsiteCheckJob>) -> anyhow::Result<usize> {
    let now = app.workflow.clock().now();
    let mut pushed = 0;
    loop {
        let rows = app.store.queue_website_checks(now, now - STALE_QUEUED, app.config.workers.batch).await?;
        for job in &rows {
            queue.push_keyed(*job, format!("{}:{}", job.id, job.enqueues)).await?;
            pushed += 1;
        }
        if rows.len() < usize::try_from(app.config.workers.batch).unwrap_or(usize::MAX) {
            return Ok(pushed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The simulation's finding: after a tick, a worker whose fetch came back empty must still
    /// be woken for its next look, without anyone polling the strategy in between.
    #[tokio::test]
    async fn a_tick_leaves_the_next_wake_armed() {
        let wakes = Arc::new(Wakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut every = Every::new(Duration::from_millis(10), Nudge::default());
        let snapshot = PollSnapshot::default();
        let woken = || wakes.0.load(Ordering::SeqCst);
        // The first look: due at once (ready now or on the timer's next turn).
        if every.poll_drive(&mut cx, &snapshot).is_pending() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(woken(), 1, "the first look wakes the worker");
            assert_eq!(every.poll_drive(&mut cx, &snapshot), Poll::Ready(Some(())));
        }
        let before = woken();
        // Nothing polls the strategy now (the fetch came back empty and parked the worker);
        // its 10 ms timer falls due before this sleep ends, whatever the machine's load.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(woken(), before + 1, "the worker is woken for its next look");
        assert_eq!(every.poll_drive(&mut cx, &snapshot), Poll::Ready(Some(())));
    }

    /// A worker that polls rarely starts on jobs its own relay pushed at once, and once.
    #[tokio::test]
    async fn a_nudge_wakes_a_parked_worker_at_once() {
        let wakes = Arc::new(Wakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let nudge = Nudge::default();
        let mut every = Every::new(Duration::from_secs(3600), nudge.clone());
        let snapshot = PollSnapshot::default();
        // The first look is due at once; after it the worker parks for an hour.
        while every.poll_drive(&mut cx, &snapshot).is_ready() {}
        let before = wakes.0.load(Ordering::SeqCst);
        nudge.nudge();
        assert_eq!(wakes.0.load(Ordering::SeqCst), before + 1, "the nudge wakes the worker");
        assert_eq!(every.poll_drive(&mut cx, &snapshot), Poll::Ready(Some(())));
        assert_eq!(every.poll_drive(&mut cx, &snapshot), Poll::Pending, "one nudge, one look");
    }
}

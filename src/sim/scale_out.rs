//! `creditline scale-out`: the service as a team that outgrew one machine runs it, under
//! load, with processes dying, then checked from the database alone.
//!
//! Several `creditline serve --no-workers` and `creditline worker` processes share one
//! PostgreSQL database (a schema of the run's own) and an SMTP server (aiosmtpd). For the
//! length of the run the load generator, as separate tasks side by side:
//! - hands the simulated applicants' applications to the inbox (some twice: the mail gateway
//!   retries), and answers the emails they receive (materials, the colleague's domain
//!   confirmation), as the simulation's applicants do ([`super::letters`]);
//! - works the task queue as the simulation's reviewers do ([`super::reviewers`]);
//! - pays bills through the signed Stripe webhook (some events twice), each account as its
//!   payer kind would: on time, late, half, never;
//! - posts usage debits from several callers at once, as the platform's metering does (in
//!   this process, through the ledger: there is no HTTP endpoint for metering);
//! - moves the service clock (`test_only_clock_file`) a day every `--day-seconds`, so the
//!   workers' cycle job closes months and gates unpaid lines.
//!
//! HTTP requests go to the servers in turn; one that finds its server dead goes to the next
//! under the same Idempotency-Key, Message-ID or event id ([`Client::spread`]). Every
//! `--kill-every` seconds a random process gets SIGKILL and is started again.
//!
//! At the end the load stops, the clock moves past the email leases and retry waits, the
//! outbox and the job queue drain, and the checks run ([`Check`]): every inbound message has
//! one outcome, every line is billed once per closed month, `ledger verify` is clean, every
//! email row was sent once under one Message-ID and the SMTP server's Maildir agrees, no job
//! is left, no 5xx answer, and the simulation's invariants hold over the whole run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use sqlx::Row;

use super::client::{Client, KindFigures, Stats};
use super::driver::{self, WEBHOOK_SECRET};
use super::invariants::{Checker, Observed};
use super::letters;
use super::mailbox::{self, Mail};
use super::population::{self, Applicant, Kind, Payer};
use super::processes::{Cluster, free_port};
use super::reviewers::{self, Tokens};
use crate::app::App;
use crate::config::Config;
use crate::payments::stripe::Stripe;
use crate::services::FileClock;
use crate::services::ledger::{Ledger, LedgerError};

/// The service clock's first month.
const FIRST_MONTH: &str = "2027-01";
/// The email lease on the service clock (see where it is set).
const LEASE: chrono::Duration = chrono::Duration::days(3);
/// PostgreSQL connections of each process's pool (see where it is set).
const POOL: u32 = 6;
/// How long the end waits for the outbox and the job queue to drain.
const SETTLE_FOR: Duration = Duration::from_secs(240);

/// One run, as asked for on the command line.
#[derive(Debug, Clone, Serialize)]
pub struct Spec {
    pub seed: u64,
    /// How long the load runs (the end's drain and checks come after).
    #[serde(serialize_with = "secs")]
    pub run_for: Duration,
    pub servers: usize,
    pub workers: usize,
    /// A random process is killed (SIGKILL) and started again this often.
    #[serde(serialize_with = "secs")]
    pub kill_every: Duration,
    /// Wall time of one day on the service clock.
    #[serde(serialize_with = "secs")]
    pub day: Duration,
    /// Applicants drawn; they apply over the first two thirds of the run.
    pub accounts: usize,
    /// Usage debits per second, over `callers` callers.
    pub debits_per_second: u32,
    pub callers: usize,
    /// API reads per second (the queue, applications and lines, as the console's users
    /// and the platform read them).
    pub reads_per_second: u32,
    /// A fault planted to show the checks catch it.
    pub planted: Option<Planted>,
}

/// Faults planted on purpose (`--plant`), to prove the end's checks catch them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Planted {
    /// The SMTP server answers 250 to the first email and throws it away.
    LostEmail,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Where to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration the run starts from (rules, workflows and templates folders).
    pub base: Config,
    /// `postgres://…`: the run makes a schema of its own in it (dropped when the run passes).
    pub database: String,
    /// The `creditline` executable for the serve and worker processes.
    pub exe: PathBuf,
    /// Keep the run's folder here instead of a temporary one.
    pub keep: Option<PathBuf>,
}

/// One process killed and started again.
#[derive(Debug, Clone, Serialize)]
pub struct Kill {
    /// Seconds after the load started.
    pub at_s: f64,
    pub process: String,
    /// From the kill to the new process's ready line.
    pub back_after_ms: u64,
}

/// One of the end's checks.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// What the run did and found.
#[derive(Debug, Serialize)]
pub struct Report {
    pub spec: Spec,
    /// Seconds the load ran, and the drain after it.
    pub load_seconds: f64,
    pub settle_seconds: f64,
    /// Days the service clock moved, and the months the cycle job closed.
    pub days: i64,
    pub months_closed: Vec<String>,
    pub kills: Vec<Kill>,
    /// Per kind of HTTP request: count, latency percentiles, statuses.
    pub requests: Vec<KindFigures>,
    /// Requests that found their server dead and went on to another.
    pub failovers: u64,
    /// Per second of load: HTTP requests, inbound messages, webhooks, debits.
    pub throughput: BTreeMap<String, f64>,
    /// Usage debits: latency percentiles (ms) of the in-process ledger calls.
    pub debit_latency_ms: BTreeMap<String, f64>,
    pub counters: BTreeMap<String, u64>,
    pub checks: Vec<Check>,
    /// The run's folder (kept when a check failed).
    pub folder: Option<PathBuf>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut t = String::new();
        let s = &self.spec;
        let _ = writeln!(
            t,
            "scale-out: {} serve --no-workers + {} worker on PostgreSQL, load for {:.0} s (then {:.0} s to drain), \
             a process killed every {:.0} s, a day every {:.1} s",
            s.servers,
            s.workers,
            self.load_seconds,
            self.settle_seconds,
            s.kill_every.as_secs_f64(),
            s.day.as_secs_f64()
        );
        let _ = writeln!(t, "service clock: {} days, months closed: {}", self.days, self.months_closed.join(", "));
        let _ = writeln!(t, "kills ({}):", self.kills.len());
        for k in &self.kills {
            let _ = writeln!(t, "  {:>6.1} s  {:<10} back after {} ms", k.at_s, k.process, k.back_after_ms);
        }
        let _ = writeln!(t, "throughput (per second of load):");
        for (k, v) in &self.throughput {
            let _ = writeln!(t, "  {k:<24} {v:>9.1}");
        }
        let _ = writeln!(t, "HTTP requests ({} failed over to another server):", self.failovers);
        let _ = writeln!(
            t,
            "  {:<24} {:>7} {:>8} {:>8} {:>8} {:>8}  statuses",
            "kind", "count", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for r in &self.requests {
            let statuses: Vec<String> = r.statuses.iter().map(|(s, n)| format!("{s}:{n}")).collect();
            let _ = writeln!(
                t,
                "  {:<24} {:>7} {:>8.1} {:>8.1} {:>8.1} {:>8.1}  {}",
                r.kind,
                r.requests,
                r.p50_ms,
                r.p90_ms,
                r.p99_ms,
                r.max_ms,
                statuses.join(" ")
            );
        }
        let d: Vec<String> = self.debit_latency_ms.iter().map(|(k, v)| format!("{k} {v:.1}")).collect();
        let _ = writeln!(t, "usage debits (ms): {}", d.join(", "));
        let _ = writeln!(t, "counters:");
        for (k, v) in &self.counters {
            let _ = writeln!(t, "  {k:<40} {v}");
        }
        let _ = writeln!(t, "checks:");
        for c in &self.checks {
            let _ = writeln!(t, "  [{}] {}: {}", if c.ok { "ok" } else { "FAILED" }, c.name, c.detail);
        }
        if let Some(f) = &self.folder {
            let _ = writeln!(t, "the run's folder: {}", f.display());
        }
        t
    }
}

/// The processes of the run: the servers (each on a port of its own, kept across restarts
/// so the load's client can go on using it) and the workers; all killed on drop.
struct Fleet {
    cluster: Cluster,
    servers: Vec<(Option<Child>, String)>,
    workers: Vec<Option<Child>>,
}

impl Fleet {
    fn slots(&self) -> usize {
        self.servers.len() + self.workers.len()
    }

    fn name(&self, slot: usize) -> String {
        if slot < self.servers.len() {
            format!("serve-{}", slot + 1)
        } else {
            format!("worker-{}", slot - self.servers.len() + 1)
        }
    }

    fn child(&mut self, slot: usize) -> Option<&mut Option<Child>> {
        let n = self.servers.len();
        if slot < n { self.servers.get_mut(slot).map(|(c, _)| c) } else { self.workers.get_mut(slot - n) }
    }

    /// SIGKILL, as a machine losing power.
    fn kill(&mut self, slot: usize) {
        if let Some(Some(mut child)) = self.child(slot).map(Option::take) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process of `slot` again. A server takes its old port back, or else (another
    /// process's outgoing connection took it meanwhile) a new one, which `client` is told.
    fn start(&mut self, slot: usize, client: &Client) -> anyhow::Result<()> {
        if slot < self.servers.len() {
            let listen = self.servers[slot].1.clone();
            let (child, addr) = match self.cluster.spawn_server(&listen) {
                Ok(started) => started,
                Err(e) => {
                    tracing::warn!("{}: {e:#}; starting it on another port", self.name(slot));
                    self.cluster.spawn_server("127.0.0.1:0")?
                }
            };
            client.moved(slot, &addr);
            self.servers[slot] = (Some(child), addr);
        } else {
            let child = self.cluster.spawn_worker()?;
            if let Some(c) = self.child(slot) {
                *c = Some(child);
            }
        }
        Ok(())
    }

    /// The processes that exited by themselves (a crash the run did not cause).
    fn exited(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for slot in 0..self.slots() {
            let name = self.name(slot);
            if let Some(Some(child)) = self.child(slot)
                && let Ok(Some(status)) = child.try_wait()
            {
                out.push(format!("{name} exited by itself ({status})"));
            }
        }
        out
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for slot in 0..self.slots() {
            self.kill(slot);
        }
    }
}

/// What the load's tasks share.
struct Shared {
    spec: Spec,
    client: Client,
    app: Arc<App>,
    db: sqlx::PgPool,
    tokens: Tokens,
    applicants: Vec<Applicant>,
    by_address: BTreeMap<String, usize>,
    stop: AtomicBool,
    /// The service clock.
    now: Mutex<DateTime<Utc>>,
    clock_file: PathBuf,
    maildir: PathBuf,
    /// Per applicant, messages sent so far (numbers their Message-IDs).
    sent: Mutex<Vec<u32>>,
    /// Message-IDs handed to the inbox, without brackets.
    posted: Mutex<BTreeSet<String>>,
    mailboxes: Mutex<BTreeMap<String, Vec<Mail>>>,
    /// Accounts that may use credit (a line, or prepaid credits).
    spenders: RwLock<Vec<String>>,
    counters: Mutex<BTreeMap<String, u64>>,
    webhook_seq: AtomicU64,
    debit_micros: Mutex<Vec<u64>>,
    /// Problems the load met that are not answers (a refused debit for a reason other
    /// than the line, a request given up).
    problems: Mutex<Vec<String>>,
    run: String,
}

impl Shared {
    fn count(&self, key: &str, n: u64) {
        if let Ok(mut c) = self.counters.lock() {
            *c.entry(key.to_string()).or_default() += n;
        }
    }

    fn problem(&self, p: String) {
        tracing::warn!("{p}");
        if let Ok(mut ps) = self.problems.lock() {
            ps.push(p);
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.now.lock().map(|n| *n).unwrap_or_else(|_| Utc::now())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleeps, or returns false once the load is to stop.
    async fn pause(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if self.stopped() {
                return false;
            }
            tokio::time::sleep((until - Instant::now()).min(Duration::from_millis(100))).await;
        }
        !self.stopped()
    }

    fn next_n(&self, i: usize) -> u32 {
        let Ok(mut sent) = self.sent.lock() else { return 0 };
        sent[i] += 1;
        sent[i]
    }

    /// Hands one raw email to the inbox (twice when `twice`: the gateway retried).
    async fn mail_in(&self, raw: Vec<u8>, twice: bool) {
        if let Some(id) = crate::intake::mail::header_message_id(&raw)
            && let Ok(mut posted) = self.posted.lock()
        {
            posted.insert(id.trim_matches(['<', '>']).to_string());
        }
        for _ in 0..(if twice { 2 } else { 1 }) {
            match driver::inbound(&self.client, &self.tokens.inbox, raw.clone()).await {
                Ok(a) if a.ok() => self.count(&format!("inbound.{}", a.body["outcome"].as_str().unwrap_or("?")), 1),
                Ok(a) => self.count(&format!("inbound.refused.{}", a.status), 1),
                Err(e) => self.problem(format!("an inbound message was given up: {e}")),
            }
        }
    }

    /// A signed Stripe payment to the webhook (twice when `twice`: Stripe retried).
    async fn pay(&self, account: &str, cents: i64, purpose: &str, twice: bool) {
        let n = self.webhook_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let body = driver::payment_event(&self.run, n, account, cents, purpose);
        for _ in 0..(if twice { 2 } else { 1 }) {
            let signature = Stripe::sign(WEBHOOK_SECRET, self.now().timestamp(), &body);
            let headers = [("Content-Type", "application/json"), ("Stripe-Signature", signature.as_str())];
            match self.client.post_raw("/api/v1/webhooks/stripe", &headers, body.clone()).await {
                Ok(a) if a.ok() => {
                    let duplicate = a.body["duplicate"].as_bool().unwrap_or(false);
                    let outcome = if duplicate { "duplicate" } else { a.body["outcome"].as_str().unwrap_or("?") };
                    self.count(&format!("payments.{purpose}.{outcome}"), 1);
                }
                Ok(a) => self.count(&format!("payments.refused.{}", a.status), 1),
                Err(e) => self.problem(format!("a payment webhook was given up: {e}")),
            }
        }
    }
}

/// Runs the load, then the checks. `Err` only when the run could not go on (its folder is
/// kept then, and named).
pub async fn run(spec: Spec, opts: Options) -> anyhow::Result<Report> {
    if spec.servers == 0 || spec.workers == 0 {
        bail!("a scale-out run needs at least one server and one worker");
    }
    let (dir, temp) = driver::run_folder(opts.keep.as_deref(), "creditline-scale-out-")?;
    match run_in(spec, opts, &dir).await {
        Ok(mut report) => {
            if !report.passed() {
                report.folder = Some(temp.map_or(dir, tempfile::TempDir::keep));
            }
            Ok(report)
        }
        Err(e) => {
            let kept = temp.map_or(dir, tempfile::TempDir::keep);
            Err(e.context(format!("the scale-out run stopped; its folder: {}", kept.display())))
        }
    }
}

async fn run_in(spec: Spec, opts: Options, dir: &std::path::Path) -> anyhow::Result<Report> {
    let dir = dir.to_path_buf();
    let start = chrono::NaiveDate::parse_from_str(&format!("{FIRST_MONTH}-01"), "%Y-%m-%d")?;
    let clock_file = dir.join("clock");
    FileClock::write(&clock_file, driver::at(start))?;
    let sim_opts = driver::Options {
        base: opts.base.clone(),
        database: Some(opts.database.clone()),
        exe: opts.exe.clone(),
        keep: opts.keep.clone(),
        planted: None,
        service_log: None,
    };
    let (url, queue) = driver::database(&sim_opts, &dir, spec.seed).await?;
    let smtp_port = free_port()?;
    let mut config = driver::sim_config(&opts.base, &dir, &clock_file, &url, &queue, smtp_port, None)?;
    // The lease a sender holds an email under is on the service clock, which here jumps a
    // day at a time: a lease shorter than a jump runs out under a send in progress and a
    // second worker sends the email again (the first run of this command showed 18 copies
    // with no worker killed). Three days outlast any one jump; a killed worker's emails
    // then wait three jumps.
    config.mail.lease_seconds = LEASE.num_seconds().unsigned_abs();
    // Six processes and this one share PostgreSQL's 100 connections: 16 each (and apalis'
    // 4) would overdraw them, and a pool that waits for a connection times out into a 500.
    config.database_max_connections = POOL;
    let config_path = dir.join("creditline.toml");
    std::fs::write(&config_path, toml::to_string(&config).context("write the run's configuration")?)?;
    let app = App::build(config.clone(), true).await?;
    let tokens = driver::tokens(&opts.exe, &config_path, &dir)?;

    let mut cluster = Cluster::new(&dir, &opts.exe, &config_path, smtp_port, 3.0)?;
    let mut servers = Vec::new();
    for _ in 0..spec.servers {
        let listen = format!("127.0.0.1:{}", free_port()?);
        let (child, addr) = cluster.spawn_server(&listen)?;
        servers.push((Some(child), addr));
    }
    let mut workers = Vec::new();
    for _ in 0..spec.workers {
        workers.push(Some(cluster.spawn_worker()?));
    }
    if spec.planted == Some(Planted::LostEmail) {
        let everyone: Vec<String> = population::draw(spec.seed, spec.accounts, 1)
            .iter()
            .flat_map(|a| [a.sender.clone(), a.account_email.clone()])
            .collect();
        cluster.smtp_faults(&serde_json::json!({ "swallow": everyone }))?;
    }
    let addrs: Vec<String> = servers.iter().map(|(_, a)| a.clone()).collect();
    let fleet = Fleet { cluster, servers, workers };
    let stats = Arc::new(Stats::default());
    let client = Client::spread(&addrs, stats.clone())?;
    let db = sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&url).await?;
    // Each process's pool, apalis' 4, and this process's two pools: refused up front when
    // the server cannot hold them (the run would otherwise fail with 500s, not a clear error).
    let limit: String = sqlx::query_scalar("SHOW max_connections").fetch_one(&db).await?;
    let limit: u64 = limit.parse().unwrap_or(100);
    let needed = (spec.servers + spec.workers + 1) as u64 * u64::from(POOL + 4);
    if needed > limit.saturating_sub(10) {
        bail!(
            "{} processes need up to {needed} PostgreSQL connections; the server allows {limit} (10 kept for others)",
            spec.servers + spec.workers
        );
    }

    let applicants = population::draw(spec.seed, spec.accounts, 1);
    let by_address = population::by_address(&applicants);
    let shared = Arc::new(Shared {
        spec: spec.clone(),
        client,
        app: app.clone(),
        db: db.clone(),
        tokens,
        sent: Mutex::new(vec![0; applicants.len()]),
        applicants,
        by_address,
        stop: AtomicBool::new(false),
        now: Mutex::new(driver::at(start)),
        clock_file: clock_file.clone(),
        maildir: fleet.cluster.maildir(),
        posted: Mutex::new(BTreeSet::new()),
        mailboxes: Mutex::new(BTreeMap::new()),
        spenders: RwLock::new(Vec::new()),
        counters: Mutex::new(BTreeMap::new()),
        webhook_seq: AtomicU64::new(0),
        debit_micros: Mutex::new(Vec::new()),
        problems: Mutex::new(Vec::new()),
        run: queue.clone(),
    });

    eprintln!(
        "scale-out: {} servers, {} workers on {} (schema {queue}); load for {:?}; folder {}",
        spec.servers,
        spec.workers,
        opts.database.split('@').next_back().unwrap_or("PostgreSQL"),
        spec.run_for,
        dir.display()
    );
    let load_started = Instant::now();
    let mut tasks = vec![
        tokio::spawn(clock(shared.clone())),
        tokio::spawn(apply(shared.clone())),
        tokio::spawn(answer_mail(shared.clone())),
        tokio::spawn(review(shared.clone())),
        tokio::spawn(pay_bills(shared.clone())),
    ];
    for caller in 0..spec.callers {
        tasks.push(tokio::spawn(use_credit(shared.clone(), caller)));
    }
    if spec.reads_per_second > 0 {
        tasks.push(tokio::spawn(read(shared.clone())));
    }
    let chaos = Chaos::start(fleet, shared.client.clone(), spec.clone(), load_started);
    tokio::time::sleep(spec.run_for).await;
    shared.stop.store(true, Ordering::Relaxed);
    let mut failed = None;
    for t in tasks {
        if let Err(e) = t.await.map_err(|e| anyhow!("a load task failed: {e}")).and_then(|r| r) {
            failed.get_or_insert(e);
        }
    }
    let load_seconds = load_started.elapsed().as_secs_f64();
    let (mut fleet, kills) = chaos.finish()?;
    if let Some(e) = failed {
        return Err(e);
    }

    let settle_started = Instant::now();
    let mut checks = Vec::new();
    let exited = fleet.exited();
    checks.push(Check {
        name: "processes_alive",
        ok: exited.is_empty(),
        detail: if exited.is_empty() { "no process died but those killed".into() } else { exited.join("; ") },
    });
    let now = settle(&shared, &queue).await?;
    collect_mail(&shared).await?;
    let settle_seconds = settle_started.elapsed().as_secs_f64();
    checks.extend(checks_at_end(&shared, &stats, &queue, now, &kills).await?);

    let months_closed = months_closed(&db).await?;
    let mut throughput = BTreeMap::new();
    let figures = stats.figures();
    let http: usize = figures.iter().map(|f| f.requests).sum();
    throughput.insert("http requests".into(), http as f64 / load_seconds);
    let counters = shared.counters.lock().map(|c| c.clone()).unwrap_or_default();
    let sum = |prefix: &str| counters.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| *v).sum::<u64>();
    throughput.insert("inbound messages".into(), sum("inbound.") as f64 / load_seconds);
    throughput.insert("payment webhooks".into(), sum("payments.") as f64 / load_seconds);
    throughput.insert("reviewer actions".into(), sum("reviews.") as f64 / load_seconds);
    throughput.insert("usage debits".into(), sum("usage.") as f64 / load_seconds);
    throughput.insert("API reads".into(), sum("reads.") as f64 / load_seconds);
    let debit_latency_ms = {
        let mut m = shared.debit_micros.lock().map(|m| m.clone()).unwrap_or_default();
        m.sort_unstable();
        let at = |q: f64| m.get(((m.len() as f64 - 1.0) * q).round() as usize).map_or(0.0, |v| *v as f64 / 1000.0);
        [("p50", at(0.5)), ("p99", at(0.99)), ("max", at(1.0))].into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    };
    let days = (now - driver::at(start)).num_days();
    let report = Report {
        spec,
        load_seconds,
        settle_seconds,
        days,
        months_closed,
        kills,
        requests: figures,
        failovers: stats.failovers(),
        throughput,
        debit_latency_ms,
        counters,
        checks,
        folder: None,
    };
    drop(fleet);
    drop(shared);
    drop(app);
    if report.passed() {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {queue} CASCADE"))).execute(&db).await;
        let _ = sqlx::query("DELETE FROM apalis.jobs WHERE job_type LIKE $1 || '.%'").bind(&queue).execute(&db).await;
    }
    db.close().await;
    Ok(report)
}

/// Moves the service clock a day at a time.
async fn clock(s: Arc<Shared>) -> anyhow::Result<()> {
    while s.pause(s.spec.day).await {
        let next = s.now() + chrono::Duration::days(1);
        FileClock::write(&s.clock_file, next)?;
        if let Ok(mut n) = s.now.lock() {
            *n = next;
        }
    }
    Ok(())
}

/// The applications, spread over the first two thirds of the run; one in ten is handed in
/// twice (the mail gateway retried), and an applicant without a product buys prepaid credits.
async fn apply(s: Arc<Shared>) -> anyhow::Result<()> {
    let window = s.spec.run_for.mul_f64(2.0 / 3.0);
    let gap = window / u32::try_from(s.applicants.len().max(1)).unwrap_or(u32::MAX);
    for i in 0..s.applicants.len() {
        let a = &s.applicants[i];
        let raw = letters::application(a, s.now().date_naive(), s.next_n(i));
        s.mail_in(raw, i % 10 == 3).await;
        if a.kind == Kind::IndividualWithoutProduct {
            s.pay(&a.account_email, 2_500, "top_up", false).await;
            add_spender(&s, &a.account_email);
        }
        if !s.pause(gap).await {
            break;
        }
    }
    Ok(())
}

fn add_spender(s: &Shared, account: &str) {
    if let Ok(mut sp) = s.spenders.write()
        && !sp.iter().any(|x| x == account)
    {
        sp.push(account.to_string());
    }
}

/// Reads what the SMTP server received and answers as the applicants would.
async fn answer_mail(s: Arc<Shared>) -> anyhow::Result<()> {
    while s.pause(Duration::from_millis(300)).await {
        for (i, raw) in collect_mail(&s).await? {
            s.mail_in(raw, false).await;
            s.count(&format!("answers.{:?}", s.applicants[i].kind), 1);
        }
    }
    Ok(())
}

/// Takes the new mail from the Maildir into the mailboxes; the answers the applicants give
/// to it, by applicant.
async fn collect_mail(s: &Shared) -> anyhow::Result<Vec<(usize, Vec<u8>)>> {
    let day = s.now().date_naive();
    let mails = mailbox::collect(&s.maildir, &s.app, day).await?;
    let mut answers = Vec::new();
    let Ok(mut boxes) = s.mailboxes.lock() else { bail!("mailboxes poisoned") };
    for mail in mails {
        let again = boxes.get(&mail.rcpt).is_some_and(|b| b.iter().any(|m| m.message_id == mail.message_id));
        if !again && let Some(&i) = s.by_address.get(&mail.rcpt) {
            if mail.template.as_deref() == Some("application_approved") {
                add_spender(s, &s.applicants[i].account_email);
            }
            let n = s.next_n(i);
            if let Some(raw) = letters::answer(&s.applicants[i], &mail, day, n) {
                answers.push((i, raw));
            }
        }
        boxes.entry(mail.rcpt.clone()).or_default().push(mail);
    }
    Ok(answers)
}

/// The reviewers work the queue as in the simulation.
async fn review(s: Arc<Shared>) -> anyhow::Result<()> {
    while s.pause(Duration::from_millis(300)).await {
        let items = match reviewers::open_tasks(&s.client, &s.tokens).await {
            Ok(items) => items,
            Err(e) => {
                s.problem(format!("the reviewers could not read the queue: {e}"));
                continue;
            }
        };
        let truth = |account: &str| s.by_address.get(account).and_then(|i| s.applicants.get(*i)).cloned();
        for item in items {
            if s.stopped() {
                break;
            }
            let planned = match reviewers::plan(&s.client, &s.tokens, s.spec.seed, s.now(), &item, &truth).await {
                Ok(Some(p)) => p,
                Ok(None) => continue,
                Err(e) => {
                    s.problem(format!("a reviewer could not read a task: {e}"));
                    continue;
                }
            };
            match reviewers::send(&s.client, &planned).await {
                Ok(answers) => {
                    for (taken, answer) in answers {
                        s.count(&format!("reviews.{}.{}.{}", taken.kind, taken.action, answer.status), 1);
                    }
                }
                Err(e) => s.problem(format!("a reviewer's action was given up: {e}")),
            }
        }
    }
    Ok(())
}

/// Pays the bills as each account's payer kind would: on time (at once), late (after the
/// due day), half of it, or never. Some events are delivered twice.
async fn pay_bills(s: Arc<Shared>) -> anyhow::Result<()> {
    let mut paid: BTreeSet<String> = BTreeSet::new();
    while s.pause(Duration::from_millis(500)).await {
        let rows = sqlx::query(
            "SELECT id::text AS id, account_email, amount_cents - paid_cents AS owed, due_at \
             FROM bills WHERE paid_cents < amount_cents ORDER BY issued_at",
        )
        .fetch_all(&s.db)
        .await?;
        let now = s.now();
        for row in rows {
            let (id, account): (String, String) = (row.try_get("id")?, row.try_get("account_email")?);
            let (owed, due): (i64, DateTime<Utc>) = (row.try_get("owed")?, row.try_get("due_at")?);
            let Some(&i) = s.by_address.get(&account) else { continue };
            let share = match s.applicants[i].payer {
                Payer::OnTime => 100,
                Payer::Late if now > due + chrono::Duration::days(2) => 100,
                Payer::Partial => 50,
                Payer::Late | Payer::Never => continue,
            };
            if !paid.insert(id.clone()) {
                continue;
            }
            let twice = reviewers::fnv(s.spec.seed, &[&id, "twice"]).is_multiple_of(20);
            s.pay(&account, owed * share / 100, "bill_payment", twice).await;
        }
    }
    Ok(())
}

/// Reads of the API at a steady rate: the open queue, the newest applications and lines.
async fn read(s: Arc<Shared>) -> anyhow::Result<()> {
    const PAGES: [&str; 3] =
        ["/api/v1/tasks?state=open&limit=50", "/api/v1/applications?limit=50", "/api/v1/credit-lines?limit=50"];
    let gap = Duration::from_secs_f64(1.0 / f64::from(s.spec.reads_per_second.max(1)));
    let mut n = 0usize;
    let mut in_flight = tokio::task::JoinSet::new();
    while s.pause(gap).await {
        // Open loop: a slow answer does not slow the next request down.
        let (client, token, page) = (s.client.clone(), s.tokens.senior.clone(), PAGES[n % PAGES.len()]);
        let shared = s.clone();
        in_flight.spawn(async move {
            match client.get(page, &token).await {
                Ok(a) if a.ok() => shared.count("reads.ok", 1),
                Ok(a) => shared.count(&format!("reads.{}", a.status), 1),
                Err(e) => shared.problem(format!("a read was given up: {e}")),
            }
        });
        n += 1;
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
    Ok(())
}

/// One metering caller: debits of the accounts that may spend, at its share of the rate.
async fn use_credit(s: Arc<Shared>, caller: usize) -> anyhow::Result<()> {
    let ledger = Ledger::new(&s.app);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.spec.seed ^ (caller as u64).wrapping_mul(0x9E37_79B9));
    let per_caller = f64::from(s.spec.debits_per_second.max(1)) / s.spec.callers.max(1) as f64;
    let gap = Duration::from_secs_f64(1.0 / per_caller);
    let mut n = 0u64;
    while s.pause(gap).await {
        let account = {
            let Ok(sp) = s.spenders.read() else { continue };
            if sp.is_empty() {
                continue;
            }
            sp[rng.random_range(0..sp.len())].clone()
        };
        let Some(&i) = s.by_address.get(&account) else { continue };
        let cents = (s.applicants[i].usage_cents_per_month / 20).max(1);
        let Ok(email) = crate::domain::EmailAddress::parse(&account) else { continue };
        n += 1;
        let key = format!("scale-{caller}-{n}");
        let started = Instant::now();
        let result = ledger.debit(&email, crate::domain::Money::from_cents(cents), &key).await;
        if let Ok(mut m) = s.debit_micros.lock() {
            m.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
        match result {
            Ok(_) => s.count("usage.debited", 1),
            Err(LedgerError::Debit(_)) | Err(LedgerError::Refused(_)) => s.count("usage.refused", 1),
            Err(e) => s.problem(format!("a usage debit for {account} failed: {e}")),
        }
    }
    Ok(())
}

/// The thread that owns the processes while the load runs. Dropped (the run failed or was
/// interrupted), it stops and drops the fleet, whose processes die with it: none outlives
/// the run.
/// The fleet handed back by the chaos thread, with the kills it made.
type FleetBack = (Fleet, Vec<Kill>);

struct Chaos {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<FleetBack>>>,
}

impl Chaos {
    fn start(fleet: Fleet, client: Client, spec: Spec, started: Instant) -> Chaos {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || chaos(fleet, client, spec, flag, started));
        Chaos { stop, thread: Some(thread) }
    }

    /// Stops the kills; the fleet back, with what was done to it.
    fn finish(mut self) -> anyhow::Result<FleetBack> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => bail!("the chaos thread panicked"),
            None => bail!("the chaos thread was already stopped"),
        }
    }
}

impl Drop for Chaos {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Kills a random process every `kill_every` and starts it again; returns the fleet and what
/// it did when `stop` is set.
fn chaos(
    mut fleet: Fleet,
    client: Client,
    spec: Spec,
    stop: Arc<AtomicBool>,
    started: Instant,
) -> anyhow::Result<FleetBack> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(spec.seed);
    let mut kills = Vec::new();
    let mut next = started + spec.kill_every;
    loop {
        while Instant::now() < next {
            if stop.load(Ordering::Relaxed) {
                return Ok((fleet, kills));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let slot = rng.random_range(0..fleet.slots());
        let at = Instant::now();
        fleet.kill(slot);
        fleet.start(slot, &client).with_context(|| format!("start {} again", fleet.name(slot)))?;
        kills.push(Kill {
            at_s: (at - started).as_secs_f64(),
            process: fleet.name(slot),
            back_after_ms: u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
        next += spec.kill_every;
    }
}

/// After the load: moves the clock past the leases of killed workers and the retry waits,
/// until every email is out and no job is left; returns the service clock's last reading.
async fn settle(s: &Shared, queue: &str) -> anyhow::Result<DateTime<Utc>> {
    let started = Instant::now();
    let mut now = s.now();
    let mut quiet = 0;
    let mut moved_at = Instant::now();
    loop {
        let (due, in_flight) = s.app.store.outbox_due(now + chrono::Duration::days(3650)).await?;
        let jobs = open_jobs(&s.db, queue).await?;
        quiet = if due + in_flight == 0 && jobs == 0 { quiet + 1 } else { 0 };
        if quiet >= 3 {
            return Ok(now);
        }
        if started.elapsed() > SETTLE_FOR {
            // The checks name what is left.
            return Ok(now);
        }
        if due + in_flight > 0 && moved_at.elapsed() > Duration::from_secs(2) {
            // A day at a time, as during the load: past the retry waits and, in three
            // steps, past the lease of an email whose sender was killed.
            now += chrono::Duration::days(1);
            FileClock::write(&s.clock_file, now)?;
            moved_at = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Jobs of the run's queues apalis has not finished.
async fn open_jobs(db: &sqlx::PgPool, queue: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM apalis.jobs WHERE job_type LIKE $1 || '.%' AND status IN ('Pending', 'Queued', 'Running')",
    )
    .bind(queue)
    .fetch_one(db)
    .await?)
}

/// The months of the run the cycle job closed (its first tick also marks the empty months
/// before the run's start closed).
async fn months_closed(db: &sqlx::PgPool) -> anyhow::Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT period FROM cycle_runs WHERE period >= $1 ORDER BY period")
        .bind(FIRST_MONTH)
        .fetch_all(db)
        .await?)
}

/// The end's checks, from the database (and the SMTP server's Maildir).
async fn checks_at_end(
    s: &Shared,
    stats: &Stats,
    queue: &str,
    now: DateTime<Utc>,
    kills: &[Kill],
) -> anyhow::Result<Vec<Check>> {
    let mut out = Vec::new();
    let problems = s.problems.lock().map(|p| p.clone()).unwrap_or_default();
    out.push(none_of(
        "load_went_through",
        &problems,
        "every request was answered (after fail-over) and every debit was taken or refused",
    ));

    // Every inbound message has one outcome.
    let posted = s.posted.lock().map(|p| p.clone()).unwrap_or_default();
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT message_id, outcome FROM inbound_messages").fetch_all(&s.db).await?;
    let stored: BTreeMap<String, Option<String>> =
        rows.into_iter().map(|(id, o)| (id.trim_matches(['<', '>']).to_string(), o)).collect();
    let missing: Vec<&String> = posted.iter().filter(|id| !stored.contains_key(*id)).collect();
    let no_outcome: Vec<&String> = stored.iter().filter(|(_, o)| o.is_none()).map(|(id, _)| id).collect();
    out.push(Check {
        name: "inbound_one_outcome",
        ok: missing.is_empty() && no_outcome.is_empty() && !posted.is_empty(),
        detail: format!(
            "{} messages handed in, {} stored (one row per Message-ID), {} missing, {} without an outcome{}",
            posted.len(),
            stored.len(),
            missing.len(),
            no_outcome.len(),
            first(&missing, &no_outcome)
        ),
    });

    // Every line billed once per closed month.
    let doubled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT line_id, period FROM bills GROUP BY line_id, period HAVING count(*) > 1) d",
    )
    .fetch_one(&s.db)
    .await?;
    let bills: i64 = sqlx::query_scalar("SELECT count(*) FROM bills").fetch_one(&s.db).await?;
    let mut checker = Checker::new();
    let mailboxes = s.mailboxes.lock().map(|m| m.clone()).unwrap_or_default();
    let seen = Observed {
        now,
        mailboxes: &mailboxes,
        auto_replies: &BTreeSet::new(),
        // The reviewers stop with the load; the clock moves on a little while the outbox
        // drains.
        reviewer_max_delay_days: reviewers::MAX_DELAY_DAYS + 2,
        finishable_kinds: reviewers::FINISHABLE,
        drained: true,
    };
    let violations = checker.check(&s.app, &seen).await?;
    let unbilled = checker.check_every_closed_month(&s.app).await?;
    let months = months_closed(&s.db).await?;
    out.push(Check {
        name: "billed_once_per_month",
        ok: doubled == 0 && unbilled.is_empty() && bills > 0,
        detail: format!(
            "{bills} bills over the months closed ({}); {doubled} line-months billed twice; {} line-months that drew credit without a bill",
            months.join(", "),
            unbilled.len()
        ),
    });

    let mismatches = Ledger::new(&s.app).verify().await.map_err(|e| anyhow!("ledger verify: {e}"))?;
    out.push(none_of("ledger_verify", &mismatches, "every balance equals the sum of its entries"));

    let worker_kills = kills.iter().filter(|k| k.process.starts_with("worker")).count();
    out.push(emails_sent_once(s, &mailboxes, worker_kills).await?);

    let jobs = open_jobs(&s.db, queue).await?;
    let (due, in_flight) = s.app.store.outbox_due(now + chrono::Duration::days(3650)).await?;
    out.push(Check {
        name: "no_job_stuck",
        ok: jobs == 0 && due + in_flight == 0,
        detail: format!("{jobs} apalis job(s) unfinished, {due} email(s) due and {in_flight} in flight"),
    });

    let errors = stats.server_errors();
    out.push(none_of(
        "no_5xx",
        &errors,
        "no answer was a 5xx (a killed server answers nothing; its requests went to another)",
    ));

    let all: Vec<String> = violations.iter().chain(&unbilled).map(ToString::to_string).collect();
    out.push(none_of("simulation_invariants", &all, "the simulation's invariants hold over the whole run"));
    Ok(out)
}

/// A check that passes when nothing was `found`: then `fine`, else how many and the first five.
fn none_of(name: &'static str, found: &[String], fine: &str) -> Check {
    let detail = if found.is_empty() {
        fine.to_string()
    } else {
        format!("{} found: {}", found.len(), found.iter().take(5).cloned().collect::<Vec<_>>().join("; "))
    };
    Check { name, ok: found.is_empty(), detail }
}

fn first(a: &[&String], b: &[&String]) -> String {
    match a.first().or(b.first()) {
        Some(id) => format!(" (first: {id})"),
        None => String::new(),
    }
}

/// Every email row sent once, under one Message-ID of its own, and the SMTP server's
/// Maildir holding exactly those. A copy sent again carries the same Message-ID; only a
/// worker killed between the SMTP server's answer and its commit may cause one (SMTP is
/// at-least-once), so a copy in a run that killed no worker fails the check.
async fn emails_sent_once(
    s: &Shared,
    mailboxes: &BTreeMap<String, Vec<Mail>>,
    worker_kills: usize,
) -> anyhow::Result<Check> {
    let rows: Vec<(String, String, bool, Option<String>)> =
        sqlx::query_as("SELECT id::text, status, status = 'sent', message_id FROM outbox WHERE kind = 'email'")
            .fetch_all(&s.db)
            .await?;
    let mut by_message_id: BTreeMap<String, usize> = BTreeMap::new();
    let mut not_sent = Vec::new();
    for (id, status, sent, message_id) in &rows {
        if !sent {
            not_sent.push(format!("{id} {status}"));
        }
        if let Some(m) = message_id {
            *by_message_id.entry(m.trim_matches(['<', '>']).to_string()).or_default() += 1;
        } else if *sent {
            not_sent.push(format!("{id} sent without a Message-ID"));
        }
    }
    let shared_ids = by_message_id.values().filter(|n| **n > 1).count();
    // Copies the SMTP server stored, by Message-ID (one a recipient).
    let mut copies: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for (rcpt, mails) in mailboxes {
        for m in mails {
            *copies.entry(m.message_id.as_str()).or_default().entry(rcpt.as_str()).or_default() += 1;
        }
    }
    let undelivered: Vec<&String> = by_message_id.keys().filter(|m| !copies.contains_key(m.as_str())).collect();
    let unknown: Vec<&&str> =
        copies.keys().filter(|m| m.starts_with("outbox.") && !by_message_id.contains_key(**m)).collect();
    let again: usize = copies.values().flat_map(|r| r.values()).map(|n| n - 1).sum();
    let ok = not_sent.is_empty()
        && shared_ids == 0
        && undelivered.is_empty()
        && unknown.is_empty()
        && !rows.is_empty()
        && (again == 0 || worker_kills > 0);
    Ok(Check {
        name: "emails_sent_once",
        ok,
        detail: format!(
            "{} email rows, {} not sent, {shared_ids} Message-IDs shared by two rows, {} sent but not in the SMTP server's \
             Maildir, {} in the Maildir unknown to the outbox; {again} copies delivered again under their Message-ID \
             ({worker_kills} worker(s) killed, each maybe between the SMTP answer and its commit){}",
            rows.len(),
            not_sent.len(),
            undelivered.len(),
            unknown.len(),
            not_sent.first().map(|x| format!(" (first not sent: {x})")).unwrap_or_default()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_fails_when_any_check_fails() {
        let spec = Spec {
            seed: 1,
            run_for: Duration::from_secs(60),
            servers: 3,
            workers: 3,
            kill_every: Duration::from_secs(20),
            day: Duration::from_secs(1),
            accounts: 10,
            debits_per_second: 100,
            callers: 8,
            reads_per_second: 10,
            planted: None,
        };
        let check = |ok| Check { name: "x", ok, detail: String::new() };
        let mut report = Report {
            spec,
            load_seconds: 60.0,
            settle_seconds: 1.0,
            days: 60,
            months_closed: vec!["2027-01".into()],
            kills: Vec::new(),
            requests: Vec::new(),
            failovers: 0,
            throughput: BTreeMap::new(),
            debit_latency_ms: BTreeMap::new(),
            counters: BTreeMap::new(),
            checks: vec![check(true), check(true)],
            folder: None,
        };
        assert!(report.passed());
        report.checks.push(check(false));
        assert!(!report.passed());
        assert!(report.to_text().contains("[FAILED] x"));
    }
}

//! The day loop: starts the processes, moves the clock, lets applicants and reviewers act,
//! injects the day's faults, waits for the day's emails, checks the invariants and records
//! the month. See the module documentation of [`super`] for the order of a day.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde_json::json;

use super::client::{Answer, Client};
use super::faults::Plan;
use super::invariants::{Checker, Observed, Violation};
use super::mailbox::{self, Mail};
use super::population::{self, Applicant, Kind, Payer, Quirk};
use super::processes::{Cluster, free_port};
use super::report::{Recorder, Report, Timings};
use super::reviewers::{self, Tokens};
use super::{Spec, letters};
use crate::app::App;
use crate::config::{Config, MailTransport, SmtpTls};
use crate::domain::{EmailAddress, Money, Period};
use crate::payments::stripe::Stripe;
use crate::services::FileClock;
use crate::workflow::names::limit_increase;

/// The webhook secret of every simulation (its processes are its own).
pub(super) const WEBHOOK_SECRET: &str = "whsec_creditline_simulation";
/// What the simulated day's clock reads: business hours, UTC.
const HOUR_OF_DAY: u32 = 9;
/// How long the driver waits for the workers before it calls the run stuck.
const STUCK: Duration = Duration::from_secs(120);
/// How far the clock moves within a day with a killed worker: past the email lease (two
/// minutes), the stale-job limit and the longest retry wait (`mail.retry_max_ms`, an hour).
pub(super) const RETRY_HORIZON: chrono::Duration = chrono::Duration::minutes(61);
/// Requests the simulation keeps in flight at once: letters of different applicants,
/// payments of different accounts, the task views the reviewers read. The run waits on round
/// trips more than on any core; 32 keeps the server's writer busy (8 left it idle between
/// requests: the 2,000 × 3 run's letters took 12.6 s, its payments 4.2 s).
const AT_ONCE: usize = 32;
/// Quiet days after the end at most, for the last emails to go out.
const SETTLE_DAYS: usize = 5;

/// Faults planted on purpose, to prove the invariants catch them (`--plant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Planted {
    /// The applicants' mail server swallows one email while answering that it took it.
    LostEmail,
    /// One line gets a second bill for a month, written behind the service's back.
    DoubleBill,
}

/// Where and how to run, beside the [`Spec`].
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration the simulation starts from (rules, workflows and templates folders).
    pub base: Config,
    /// `postgres://…` to run on PostgreSQL (in a schema of its own); SQLite otherwise.
    pub database: Option<String>,
    /// The `creditline` executable for the serve and worker processes.
    pub exe: PathBuf,
    /// Keep the run's folder (database, logs, mailboxes) here instead of a temporary one.
    pub keep: Option<PathBuf>,
    pub planted: Option<Planted>,
    /// The log filter of the serve and worker processes (`warn` unless given).
    pub service_log: Option<String>,
}

/// A stopped run: the violations with the seed and day, and the trace.
#[derive(Debug)]
pub struct Failed {
    pub seed: u64,
    pub day: NaiveDate,
    pub violations: Vec<Violation>,
    pub folder: PathBuf,
    /// What the run had done until then (the report's counters) and noticed on the way.
    pub counters: String,
    pub findings: Vec<String>,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "simulation failed: seed {} on day {} ({} violation(s))",
            self.seed,
            self.day,
            self.violations.len()
        )?;
        for v in &self.violations {
            writeln!(f, "{v}")?;
        }
        for finding in &self.findings {
            writeln!(f, "finding: {finding}")?;
        }
        writeln!(f, "so far: {}", self.counters)?;
        write!(f, "replay: creditline simulate --seed {} … ; the run's folder: {}", self.seed, self.folder.display())
    }
}

/// What one applicant has done and is waiting to do.
#[derive(Debug, Default, Clone)]
struct Life {
    /// Messages sent so far (numbers their Message-IDs).
    sent: u32,
    /// Emails received and not yet acted on, with the day they may be answered.
    to_answer: Vec<(NaiveDate, Mail)>,
    /// The first email got an out-of-office answer already.
    auto_replied: bool,
    /// A credit line is open (`application_approved` arrived).
    line_open: bool,
    /// The day the line opened.
    opened: Option<NaiveDate>,
    /// Bill payments to make: (day, share of what is owed in percent).
    payments: Vec<(NaiveDate, i64)>,
    /// A deposit to pay, on a day.
    deposit_due: Option<NaiveDate>,
    /// Declined once (a re-applier tries again once).
    declined_on: Option<NaiveDate>,
    reapplied: bool,
    /// The limit asked for last (climbers).
    asked_limit: i64,
    /// Months paid in full and on time (climbers ask after two).
    healthy_months: u32,
    invoice_asked: bool,
    /// Materials requests answered so far.
    materials_answers: u32,
}

/// A webhook to deliver (reordering puts some off to the next day).
#[derive(Debug, Clone)]
struct Webhook {
    account: String,
    body: Vec<u8>,
}

struct World {
    spec: Spec,
    opts: Options,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    clock_file: PathBuf,
    cluster: Cluster,
    client: Client,
    app: Arc<App>,
    tokens: Tokens,
    applicants: Vec<Applicant>,
    by_address: BTreeMap<String, usize>,
    lives: Vec<Life>,
    mailboxes: BTreeMap<String, Vec<Mail>>,
    auto_replies: BTreeSet<String>,
    webhooks_tomorrow: Vec<Webhook>,
    webhook_seq: u64,
    recorder: Recorder,
    checker: Checker,
    phases: BTreeMap<String, Duration>,
    planted_done: bool,
}

/// Runs one simulation to its end, or to its first violated invariant.
pub async fn run(spec: Spec, opts: Options) -> anyhow::Result<Result<Report, Failed>> {
    let started = Instant::now();
    let mut world = World::start(spec, opts).await?;
    let result = world.days().await;
    let outcome = match result {
        Ok(None) => {
            let mut phases: BTreeMap<String, u64> = world
                .phases
                .iter()
                .map(|(k, v)| (k.clone(), u64::try_from(v.as_millis()).unwrap_or(u64::MAX)))
                .collect();
            phases.insert("start".into(), 0);
            for (step, spent) in world.checker.spent() {
                phases.insert(format!("invariants.{step}"), u64::try_from(spent.as_millis()).unwrap_or(u64::MAX));
            }
            let total_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let recorder = std::mem::replace(&mut world.recorder, Recorder::new(world.spec.clone()));
            Ok(recorder.finish(Some(Timings { total_ms, phases })))
        }
        Ok(Some(mut failed)) => {
            let recorder = std::mem::replace(&mut world.recorder, Recorder::new(world.spec.clone()));
            let report = recorder.finish(None);
            failed.counters = report.counters.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
            failed.findings = report.findings;
            Err(failed)
        }
        Err(e) => {
            // Keep the evidence (logs, database, mailboxes) of a run that could not go on.
            if let Some(t) = world._temp.take() {
                let _ = t.keep();
            }
            world.stop().await;
            return Err(e.context(format!(
                "simulation seed {} stopped; its folder: {}",
                world.spec.seed,
                world.dir.display()
            )));
        }
    };
    if outcome.is_err() && world._temp.is_some() {
        // Keep the evidence of a failed run.
        if let Some(t) = world._temp.take() {
            let _ = t.keep();
        }
    }
    world.stop().await;
    Ok(outcome)
}

impl World {
    async fn start(spec: Spec, opts: Options) -> anyhow::Result<World> {
        let (dir, temp) = run_folder(opts.keep.as_deref(), "creditline-sim-")?;
        let clock_file = dir.join("clock");
        FileClock::write(&clock_file, at(spec.start))?;
        let smtp_port = free_port()?;
        let (url, queue) = database(&opts, &dir, spec.seed).await?;
        let config = sim_config(&opts.base, &dir, &clock_file, &url, &queue, smtp_port, opts.service_log.as_deref())?;
        let config_path = dir.join("creditline.toml");
        std::fs::write(&config_path, toml::to_string(&config).context("write the simulation's configuration")?)?;
        let app = App::build(config.clone(), true).await?;
        let tokens = tokens(&opts.exe, &config_path, &dir)?;
        let mut cluster = Cluster::new(&dir, &opts.exe, &config_path, smtp_port, 3.0)?;
        cluster.start_server()?;
        cluster.start_worker()?;
        let client = Client::new(&cluster.addr)?;
        let days = u32::try_from((spec.end() - spec.start).num_days()).unwrap_or(0);
        // Applications arrive over the first two thirds of the run, so the last ones still
        // live through a few cycles.
        let applicants = population::draw(spec.seed, spec.accounts, (days * 2 / 3).max(1));
        let by_address = population::by_address(&applicants);
        let lives = vec![Life::default(); applicants.len()];
        Ok(World {
            recorder: Recorder::new(spec.clone()),
            spec,
            opts,
            dir,
            _temp: temp,
            clock_file,
            cluster,
            client,
            app,
            tokens,
            applicants,
            by_address,
            lives,
            mailboxes: BTreeMap::new(),
            auto_replies: BTreeSet::new(),
            webhooks_tomorrow: Vec::new(),
            webhook_seq: 0,
            checker: Checker::new(),
            phases: BTreeMap::new(),
            planted_done: false,
        })
    }

    async fn stop(&mut self) {
        self.cluster.kill_workers();
        self.cluster.kill_server();
        if let Some(url) = &self.opts.database {
            // The run's own schema goes with it (kept when the run failed, for the evidence).
            if self._temp.is_some()
                && let Ok(admin) = sqlx::PgPool::connect(url).await
            {
                let schema = schema_name(self.spec.seed, &self.dir);
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
                    .execute(&admin)
                    .await;
                admin.close().await;
            }
        }
    }

    fn timed(&mut self, phase: &str, since: Instant) {
        *self.phases.entry(phase.to_string()).or_default() += since.elapsed();
    }

    /// Every day from the start to the end; `Some` at the first violated invariant.
    async fn days(&mut self) -> anyhow::Result<Option<Failed>> {
        let mut day = self.spec.start;
        let end = self.spec.end();
        let mut n = 0u32;
        while day <= end {
            let plan = Plan::draw(self.spec.seed, n, self.spec.faults, self.applicants.len());
            for f in plan.names() {
                self.recorder.count(&format!("fault.{f}"), 1);
            }
            if let Some(failed) = self.day(day, &plan).await? {
                return Ok(Some(failed));
            }
            if (day + chrono::Duration::days(1)).day() == 1 {
                let t = Instant::now();
                self.recorder.end_of_month(&self.app, Period::containing(at(day)), at(day)).await?;
                self.timed("report", t);
            }
            day += chrono::Duration::days(1);
            n += 1;
        }
        // The end: everything due must be delivered and every check hold once more.
        let now = at(end);
        if (end + chrono::Duration::days(1)).day() != 1 {
            // The last, partial month is reported too.
            self.recorder.end_of_month(&self.app, Period::containing(now), now).await?;
        }
        // Then quiet days, no one acting and nothing failing, until every email is out: a
        // worker killed mid-send holds its emails under a lease until the clock passes it,
        // and a refused email waits for its retry.
        self.cluster.smtp_faults(&json!({}))?;
        self.cluster.kill_extra_workers();
        let mut last = end;
        for _ in 0..SETTLE_DAYS {
            let (due, in_flight) = self.app.store.outbox_due(at(last) + chrono::Duration::days(3650)).await?;
            if due + in_flight == 0 {
                break;
            }
            last += chrono::Duration::days(1);
            let now = at(last);
            FileClock::write(&self.clock_file, now)?;
            self.wait_scheduled(now).await?;
            self.drain(now, &Plan::default()).await?;
            self.read_mail(last).await?;
        }
        // Sends that finished after the last day's reading are read now.
        self.drain(at(last), &Plan::default()).await?;
        self.read_mail(last).await?;
        let violations = self.check(at(last), true).await?;
        if !violations.is_empty() {
            return Ok(Some(self.failed(last, violations)));
        }
        Ok(None)
    }

    async fn day(&mut self, day: NaiveDate, plan: &Plan) -> anyhow::Result<Option<Failed>> {
        let now = at(day);
        // The day's mail-server faults are in place before the clock moves: the emails the
        // morning's jobs send meet today's faults, never yesterday's, whatever their timing.
        self.smtp_faults(plan)?;
        FileClock::write(&self.clock_file, now)?;
        let t = Instant::now();
        if plan.kill_worker_morning {
            // Give the worker a moment to be inside the cycle close or the scan, then kill it.
            tokio::time::sleep(Duration::from_millis(30)).await;
            self.cluster.kill_workers();
            self.cluster.start_worker()?;
        }
        if plan.second_worker && self.cluster.workers() < 2 {
            self.cluster.start_worker()?;
        } else if !plan.second_worker {
            self.cluster.kill_extra_workers();
        }
        self.wait_scheduled(now).await?;
        self.timed("scheduled_jobs", t);
        if plan.broken_rules_reload {
            self.broken_rules_reload().await?;
        }
        let busy = if plan.database_busy { Some(self.hold_database_busy()) } else { None };
        self.applicants_act(day, plan).await?;
        if let Some(h) = busy {
            h.await.map_err(|e| anyhow!("database busy fault: {e}"))??;
        }
        self.reviewers_act(now, plan).await?;
        let t = Instant::now();
        if plan.kill_worker_mid_send {
            tokio::time::sleep(Duration::from_millis(15)).await;
            self.cluster.kill_workers();
            self.cluster.start_worker()?;
        }
        self.drain(now, plan).await?;
        self.timed("delivery", t);
        // A day that ends with nothing pending (no retry waiting, no lease held) is checked
        // as drained: every email sent must be in its mailbox. Asked before the mailboxes are
        // read, so a send finishing in between is not taken for a lost email.
        let (due, in_flight) = self.app.store.outbox_due(now + chrono::Duration::days(3650)).await?;
        let t = Instant::now();
        self.read_mail(day).await?;
        self.timed("mailboxes", t);
        self.plant(day).await?;
        let violations = self.check(now, due + in_flight == 0).await?;
        if !violations.is_empty() {
            return Ok(Some(self.failed(day, violations)));
        }
        self.cluster.check_alive()?;
        Ok(None)
    }

    fn failed(&self, day: NaiveDate, violations: Vec<Violation>) -> Failed {
        Failed {
            seed: self.spec.seed,
            day,
            violations,
            folder: self.dir.clone(),
            counters: String::new(),
            findings: Vec::new(),
        }
    }

    async fn check(&mut self, now: DateTime<Utc>, drained: bool) -> anyhow::Result<Vec<Violation>> {
        let t = Instant::now();
        let seen = Observed {
            now,
            mailboxes: &self.mailboxes,
            auto_replies: &self.auto_replies,
            reviewer_max_delay_days: reviewers::MAX_DELAY_DAYS,
            finishable_kinds: reviewers::FINISHABLE,
            drained,
        };
        let v = self.checker.check(&self.app, &seen).await?;
        self.timed("invariants", t);
        Ok(v)
    }

    /// Waits for a worker tick that ran the scheduled jobs (cycle close, gating, reminder scan)
    /// at `now`.
    async fn wait_scheduled(&mut self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let beats = self.app.store.worker_beats().await?;
            if beats.iter().any(|b| b.scheduled_clock_at.is_some_and(|c| c >= now)) {
                return Ok(());
            }
            if started.elapsed() > STUCK {
                bail!(
                    "no worker ran the scheduled jobs of {now} within {STUCK:?} (worker logs in {})",
                    self.dir.display()
                );
            }
            self.cluster.check_alive()?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until every email due today is delivered (or has failed, or waits for a retry
    /// tomorrow). After a worker was killed, emails it held under a lease wait for the lease
    /// to run out (tomorrow, on the simulated clock).
    async fn drain(&mut self, now: DateTime<Utc>, plan: &Plan) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut now = now;
        let mut killed = plan.kill_worker_mid_send || plan.kill_worker_morning;
        let mut quiet = 0;
        loop {
            let (due, in_flight) = self.app.store.outbox_due(now).await?;
            // Twice in a row, a tick apart: a row written by the last request may not be
            // visible to the first look.
            quiet = if due == 0 && (in_flight == 0 || killed) { quiet + 1 } else { 0 };
            if quiet >= 2 && killed {
                // A killed worker's emails stay under its lease (or queued for a job that died
                // with it) until the clock passes it. On every day with a kill the clock then
                // moves on within the day, past the lease, the stale-job limit and the longest
                // retry wait: whatever the moment of the kill was, every email of the day gets
                // its next attempt today, so the run stays the same for the same seed.
                killed = false;
                now += RETRY_HORIZON;
                FileClock::write(&self.clock_file, now)?;
                quiet = 0;
                continue;
            }
            if quiet >= 2 && in_flight == 0 {
                return Ok(());
            }
            if started.elapsed() > STUCK {
                bail!("{due} email(s) due and {in_flight} in flight were not delivered within {STUCK:?} on {now}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn smtp_faults(&self, plan: &Plan) -> anyhow::Result<()> {
        let addresses = |set: &BTreeSet<usize>| -> Vec<String> {
            set.iter()
                .filter_map(|i| self.applicants.get(*i))
                .flat_map(|a| [a.sender.clone(), a.account_email.clone()])
                .collect()
        };
        let mut faults = json!({ "refuse": addresses(&plan.smtp_refuse), "slow": addresses(&plan.smtp_slow), "down": plan.smtp_down });
        if self.opts.planted == Some(Planted::LostEmail) && !self.planted_done {
            // The first email to anyone is swallowed.
            let everyone: Vec<&String> = self.applicants.iter().flat_map(|a| [&a.sender, &a.account_email]).collect();
            faults["swallow"] = json!(everyone);
        }
        self.cluster.smtp_faults(&faults)
    }

    async fn read_mail(&mut self, day: NaiveDate) -> anyhow::Result<()> {
        let mails = mailbox::collect(&self.cluster.maildir(), &self.app, day).await?;
        for mail in mails {
            // A copy sent again after a crash (the same Message-ID) is one email to its reader.
            let again =
                self.mailboxes.get(&mail.rcpt).is_some_and(|box_| box_.iter().any(|m| m.message_id == mail.message_id));
            // (How many were sent again depends on the moment of the kill: not counted.)
            if !again && let Some(&i) = self.by_address.get(&mail.rcpt) {
                self.received(i, day, &mail);
            }
            self.mailboxes.entry(mail.rcpt.clone()).or_default().push(mail);
        }
        Ok(())
    }

    /// What an applicant plans on receiving one email.
    fn received(&mut self, i: usize, day: NaiveDate, mail: &Mail) {
        let a = &self.applicants[i];
        let life = &mut self.lives[i];
        let later = |d: u32| day + chrono::Duration::days(i64::from(d));
        match mail.template.as_deref() {
            Some("application_approved") => {
                life.line_open = true;
                life.opened.get_or_insert(day);
                life.asked_limit = life.asked_limit.max(a.requested_cents);
            }
            Some("line_closed") => life.line_open = false,
            Some("bill_issued") => {
                let due = day + chrono::Duration::days(8);
                match a.payer {
                    Payer::OnTime => life.payments.push((later(a.reply_delay_days.min(5)), 100)),
                    Payer::Late => {
                        life.payments.push((due + chrono::Duration::days(3 + i64::from(a.reply_delay_days)), 100))
                    }
                    Payer::Partial => {
                        life.payments.push((later(a.reply_delay_days.min(5)), 50));
                        life.payments.push((due + chrono::Duration::days(6), 100));
                    }
                    Payer::Never => {}
                }
            }
            Some("deposit_required") | Some("deposit_reminder")
                if life.deposit_due.is_none() && a.payer != Payer::Never =>
            {
                life.deposit_due = Some(later(a.reply_delay_days));
            }
            Some("application_declined") => {
                life.declined_on.get_or_insert(day);
            }
            _ => {}
        }
        life.to_answer.push((later(a.reply_delay_days), mail.clone()));
    }

    /// Each applicant, in order, plans the day: a new application, answers, payments, usage.
    /// Then the day's letters go out, each applicant's in its order and different applicants'
    /// side by side (nothing one applicant sends changes what another's letters do), then the
    /// usage and the payments.
    async fn applicants_act(&mut self, day: NaiveDate, plan: &Plan) -> anyhow::Result<()> {
        let mut hooks = std::mem::take(&mut self.webhooks_tomorrow);
        let mut debits = Vec::new();
        let mut letters_out: Vec<Vec<Vec<u8>>> = Vec::new();
        let started = Instant::now();
        for i in 0..self.applicants.len() {
            let mut mails: Vec<Vec<u8>> = Vec::new();
            let a = self.applicants[i].clone();
            let day_n = u32::try_from((day - self.spec.start).num_days()).unwrap_or(0);
            if a.apply_day == day_n {
                let n = self.next_n(i);
                mails.push(letters::application(&a, day, n));
                self.recorder.count("applications_sent", 1);
                if a.kind == Kind::IndividualWithoutProduct {
                    hooks.push(self.payment(&a.account_email, 2_500, "top_up"));
                }
            }
            // Answers to the emails that are due.
            let due: Vec<Mail> = {
                let life = &mut self.lives[i];
                let (now, later): (Vec<_>, Vec<_>) =
                    std::mem::take(&mut life.to_answer).into_iter().partition(|(d, _)| *d <= day);
                life.to_answer = later;
                now.into_iter().map(|(_, m)| m).collect()
            };
            // A person answers the newest email of a kind, not each copy of it; and a bad
            // actor asked again for the same materials gives up after two tries.
            let mut answered = BTreeSet::new();
            for mail in due.into_iter().rev() {
                let template = mail.template.clone().unwrap_or_default();
                if !answered.insert(template.clone()) {
                    continue;
                }
                if template.starts_with("materials_") {
                    self.lives[i].materials_answers += 1;
                    if self.lives[i].materials_answers > 2 && a.quirk != Quirk::Plain {
                        continue;
                    }
                }
                if a.auto_replies && !self.lives[i].auto_replied {
                    self.lives[i].auto_replied = true;
                    let n = self.next_n(i);
                    let raw = letters::auto_reply(&a, &mail, day, n);
                    if let Some(id) = crate::intake::mail::header_message_id(&raw) {
                        self.auto_replies.insert(id);
                    }
                    mails.push(raw);
                    self.recorder.count("auto_replies_sent", 1);
                }
                let n = self.next_n(i);
                if let Some(raw) = letters::answer(&a, &mail, day, n) {
                    mails.push(raw);
                    self.recorder.count("answers_sent", 1);
                }
            }
            self.pay(i, day, &mut hooks).await?;
            debits.extend(self.usage_today(i, day)?);
            self.ask(i, day, &mut mails);
            if !mails.is_empty() {
                letters_out.push(mails);
            }
        }
        self.timed("applicants.plan", started);
        let t = Instant::now();
        self.send_letters(letters_out, plan).await?;
        self.timed("applicants.letters", t);
        let t = Instant::now();
        self.post_usage(debits).await?;
        self.timed("applicants.usage", t);
        let t = Instant::now();
        self.deliver_webhooks(hooks, plan).await?;
        self.timed("applicants.payments", t);
        Ok(())
    }

    fn next_n(&mut self, i: usize) -> u32 {
        self.lives[i].sent += 1;
        self.lives[i].sent
    }

    /// Hands the day's letters to the service as the mail gateway does: each applicant's
    /// in order, up to [`AT_ONCE`] applicants at a time. The answers are recorded in
    /// the applicants' order, so the report does not depend on which finished first.
    async fn send_letters(&mut self, letters_out: Vec<Vec<Vec<u8>>>, plan: &Plan) -> anyhow::Result<()> {
        let times = if plan.duplicate_inbound { 2 } else { 1 };
        let (client, token) = (&self.client, &self.tokens.inbox);
        let letters: Vec<Vec<&Vec<u8>>> =
            letters_out.iter().map(|mails| mails.iter().filter(|m| !m.is_empty()).collect()).collect();
        for answer in side_by_side(letters, times, |raw| inbound(client, token, raw.clone())).await? {
            if !answer.ok() {
                self.recorder.finding(format!("inbox refused a simulated email: {} {}", answer.status, answer.body));
            }
            if let Some(outcome) = answer.body["outcome"].as_str() {
                self.recorder.count(&format!("inbound.{outcome}"), 1);
            }
        }
        Ok(())
    }

    /// A signed Stripe `payment_intent.succeeded` for an account.
    fn payment(&mut self, account: &str, cents: i64, purpose: &str) -> Webhook {
        self.webhook_seq += 1;
        let body = payment_event(&self.spec.seed.to_string(), self.webhook_seq, account, cents, purpose);
        Webhook { account: account.to_string(), body }
    }

    async fn deliver_webhooks(&mut self, mut hooks: Vec<Webhook>, plan: &Plan) -> anyhow::Result<()> {
        if plan.reorder_webhooks && hooks.len() > 1 {
            hooks.reverse();
            if let Some(last) = hooks.pop() {
                self.webhooks_tomorrow.push(last);
            }
        }
        let now = self.app.workflow.clock().now();
        let times = if plan.duplicate_webhooks { 2 } else { 1 };
        // Each account's payments in their order, several accounts at once (as Stripe sends
        // them); the answers are counted, so the order between accounts leaves no trace.
        let mut by_account: BTreeMap<&str, Vec<&Webhook>> = BTreeMap::new();
        for hook in &hooks {
            by_account.entry(hook.account.as_str()).or_default().push(hook);
        }
        let client = &self.client;
        let post = |hook: &Webhook| {
            let signature = Stripe::sign(WEBHOOK_SECRET, now.timestamp(), &hook.body);
            let body = hook.body.clone();
            async move {
                let headers = [("Content-Type", "application/json"), ("Stripe-Signature", signature.as_str())];
                client.post_raw("/api/v1/webhooks/stripe", &headers, body).await
            }
        };
        for answer in side_by_side(by_account.into_values().collect(), times, post).await? {
            if !answer.ok() {
                self.recorder.finding(format!("a simulated payment was refused: {} {}", answer.status, answer.body));
            }
            let outcome = answer.body["outcome"].as_str().unwrap_or("error");
            let duplicate = answer.body["duplicate"].as_bool().unwrap_or(false);
            self.recorder.count(&format!("payments.{}", if duplicate { "duplicate" } else { outcome }), 1);
        }
        Ok(())
    }

    /// Bill payments and deposits that are due today.
    async fn pay(&mut self, i: usize, day: NaiveDate, hooks: &mut Vec<Webhook>) -> anyhow::Result<()> {
        let account = self.applicants[i].account_email.clone();
        let shares: Vec<i64> = {
            let life = &mut self.lives[i];
            let (now, later): (Vec<_>, Vec<_>) =
                std::mem::take(&mut life.payments).into_iter().partition(|(d, _)| *d <= day);
            life.payments = later;
            now.into_iter().map(|(_, s)| s).collect()
        };
        for share in shares {
            let owed: i64 =
                self.app.store.unpaid_bills(&account).await?.iter().map(|b| b.amount_cents - b.paid_cents).sum();
            let cents = owed * share / 100;
            if cents > 0 {
                let hook = self.payment(&account, cents, "bill_payment");
                hooks.push(hook);
                if share == 100 {
                    self.lives[i].healthy_months += u32::from(self.applicants[i].payer == Payer::OnTime);
                }
            }
        }
        if self.lives[i].deposit_due.is_some_and(|d| d <= day) {
            self.lives[i].deposit_due = None;
            let needed = self.deposit_needed(&account).await?;
            if needed > 0 {
                let hook = self.payment(&account, needed, "deposit");
                hooks.push(hook);
            }
        }
        Ok(())
    }

    /// The guarantee an account's open increase still waits for, in cents.
    async fn deposit_needed(&self, account: &str) -> anyhow::Result<i64> {
        let ids = self.line_ids(account).await?;
        let increases = self.app.store.increases_for_lines(&ids).await?;
        let held = self.app.store.balances(account).await?.deposit_cents;
        Ok(increases
            .iter()
            .filter(|(_, state)| state == limit_increase::AWAITING_DEPOSIT)
            .map(|(inc, _)| inc.deposit_cents - held)
            .max()
            .unwrap_or(0)
            .max(0))
    }

    /// The ids of an account's credit lines (each it ever had).
    async fn line_ids(&self, account: &str) -> anyhow::Result<Vec<crate::domain::SubjectId>> {
        let filter = crate::store::CreditLineFilter {
            account_email: Some(account.to_string()),
            limit: 100,
            ..Default::default()
        };
        Ok(self.app.store.list_credit_lines(&filter).await?.iter().map(|l| l.id).collect())
    }

    /// Usage of the line (or prepaid credits) on some days of the month: the debit to post
    /// today, if any.
    fn usage_today(&self, i: usize, day: NaiveDate) -> anyhow::Result<Option<(EmailAddress, i64, String)>> {
        let a = &self.applicants[i];
        let life = &self.lives[i];
        let day_n = u32::try_from((day - self.spec.start).num_days()).unwrap_or(0);
        let prepaid_only = a.kind == Kind::IndividualWithoutProduct && a.apply_day <= day_n;
        if !(life.line_open || prepaid_only) {
            return Ok(None);
        }
        if a.quirk == Quirk::Churner && life.opened.is_some_and(|o| (day - o).num_days() > 90) {
            return Ok(None);
        }
        let draw = reviewers::fnv(self.spec.seed, &[&a.account_email, &day.to_string(), "usage"]);
        if !draw.is_multiple_of(4) {
            return Ok(None);
        }
        // About eight usage days a month.
        let cents = (a.usage_cents_per_month / 8).max(1);
        let account = EmailAddress::parse(&a.account_email).map_err(|e| anyhow!("{}: {e}", a.account_email))?;
        Ok(Some((account, cents, format!("sim-{}-{day}", a.index))))
    }

    /// The day's usage, posted at once as the platform's metering would (the ledger's group
    /// commit takes them in batches); each account has one debit a day, so the order inside
    /// the day does not change any balance.
    async fn post_usage(&mut self, debits: Vec<(EmailAddress, i64, String)>) -> anyhow::Result<()> {
        let ledger = crate::services::ledger::Ledger::new(&self.app);
        let results = futures_util::future::join_all(
            debits.iter().map(|(account, cents, key)| ledger.debit(account, Money::from_cents(*cents), key)),
        )
        .await;
        for ((account, _, _), r) in debits.iter().zip(results) {
            match r {
                Ok(_) => self.recorder.count("usage.debited", 1),
                Err(crate::services::ledger::LedgerError::Debit(_))
                | Err(crate::services::ledger::LedgerError::Refused(_)) => self.recorder.count("usage.refused", 1),
                Err(e) => return Err(anyhow!("usage debit for {account}: {e}")),
            }
        }
        Ok(())
    }

    /// Requests an applicant sends of their own accord: re-applications, increases, invoices.
    fn ask(&mut self, i: usize, day: NaiveDate, mails: &mut Vec<Vec<u8>>) {
        let a = self.applicants[i].clone();
        let life = self.lives[i].clone();
        if a.quirk == Quirk::Reapplier
            && !life.reapplied
            && life.declined_on.is_some_and(|d| (day - d).num_days() >= 20)
        {
            self.lives[i].reapplied = true;
            let n = self.next_n(i);
            mails.push(letters::reapplication(&a, day, n));
            self.recorder.count("reapplications_sent", 1);
        }
        if a.quirk == Quirk::Climber && life.line_open && day.day() == 15 && life.healthy_months >= 2 {
            let next = next_tier(life.asked_limit.max(a.requested_cents));
            self.lives[i].asked_limit = next;
            self.lives[i].healthy_months = 0;
            let n = self.next_n(i);
            mails.push(letters::increase_request(&a, next, day, n));
            self.recorder.count("increase_requests_sent", 1);
        }
        // An invoice for last month, once the line was open all of it (a month with charges).
        let open_last_month = life.opened.is_some_and(|o| (day - o).num_days() > 31 + i64::from(day.day()));
        if a.kind == Kind::Enterprise
            && open_last_month
            && !life.invoice_asked
            && day.day() == 20
            && a.index.is_multiple_of(5)
        {
            self.lives[i].invoice_asked = true;
            if let Some(period) = Period::containing(at(day)).previous() {
                let n = self.next_n(i);
                mails.push(letters::invoice_request(&a, period, day, n));
                self.recorder.count("invoice_requests_sent", 1);
            }
        }
    }

    async fn reviewers_act(&mut self, now: DateTime<Utc>, plan: &Plan) -> anyhow::Result<()> {
        let started = Instant::now();
        let items = reviewers::open_tasks(&self.client, &self.tokens).await?;
        let applicants = &self.applicants;
        let by_address = &self.by_address;
        let truth = |account: &str| by_address.get(account).and_then(|i| applicants.get(*i)).cloned();
        // The plans read the task views (several at once); each plan depends only on its view
        // and the seed, and they are kept in the queue's order.
        let plans: Vec<anyhow::Result<Option<reviewers::Planned>>> = {
            use futures_util::StreamExt;
            let (client, tokens, seed, truth) = (&self.client, &self.tokens, self.spec.seed, &truth);
            futures_util::stream::iter(items.iter().map(|item| reviewers::plan(client, tokens, seed, now, item, truth)))
                .buffered(AT_ONCE)
                .collect()
                .await
        };
        let mut planned = Vec::new();
        // Each applicant's tasks in the queue's order, as one group: a reviewer finishing two
        // tasks of one application must not race themselves into a version conflict.
        let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut first_seen: Vec<String> = Vec::new();
        for (item, p) in items.iter().zip(plans) {
            if let Some(p) = p? {
                let who = reviewers::account_of(item);
                let key = by_address.get(&who).map_or(who, |i| format!("#{i}"));
                let group = groups.entry(key.clone()).or_default();
                if group.is_empty() {
                    first_seen.push(key);
                }
                group.push(planned.len());
                planned.push(p);
            } else if let Some(kind) = item["task"]["kind"].as_str()
                && !reviewers::FINISHABLE.contains(&kind)
            {
                self.recorder.finding(format!("a task of kind {kind} that no reviewer can finish"));
            }
        }
        self.timed("reviewers.plan", started);
        // The month each invoice request asks for, by the path its action goes to.
        let asked: BTreeMap<String, (String, String)> = items
            .iter()
            .filter(|item| item["kind"] == "invoice_request")
            .filter_map(|item| {
                let id = item["id"].as_str()?;
                let d = &item["details"];
                let account = d["account_email"].as_str()?.to_string();
                let month = d["details"]["billing_period"].as_str()?.to_string();
                Some((format!("/api/v1/tasks/{id}/resolve"), (account, month)))
            })
            .collect();
        let t = Instant::now();
        // Different applicants' tasks go side by side, unless a server is to be killed in
        // the middle of one: then one at a time, so the kill meets the same request each run.
        let mut sent: Vec<(usize, Vec<(reviewers::Taken, Answer)>)> = if let Some(k) = plan.kill_server_at_action {
            let mut out = Vec::new();
            for (n, p) in planned.iter().enumerate() {
                if n == k {
                    self.kill_server_during(p).await?;
                }
                out.push((n, reviewers::send(&self.client, p).await?));
            }
            out
        } else {
            let ordered: Vec<Vec<usize>> = first_seen.iter().filter_map(|k| groups.remove(k)).collect();
            let (client, planned) = (&self.client, &planned);
            side_by_side(ordered, 1, |n| async move { Ok((n, reviewers::send(client, &planned[n]).await?)) }).await?
        };
        // Recorded in the queue's order, whichever request finished first.
        sent.sort_by_key(|(n, _)| *n);
        for (n, answers) in sent {
            let p = &planned[n];
            for (taken, answer) in answers {
                let label = if answer.ok() { "ok".to_string() } else { taken.code.to_string() };
                self.recorder.count(&format!("reviews.{}.{}.{label}", taken.kind, taken.action), 1);
                // 409s are the queue moving on under the reviewer (a task gone obsolete); any
                // other refusal is a way the service and its reviewers do not meet.
                let refused_invoice = taken.action == "mark_sent" && taken.code == "action_refused";
                if refused_invoice && let Some((account, month)) = asked.get(&p.path) {
                    // Support closes a request for a month with nothing billed; a month that
                    // was billed (the bills, not the ledger the invoice is made from) must be
                    // invoiced.
                    let lines = self.line_ids(account).await?;
                    let billed = self
                        .app
                        .store
                        .bills_for_lines(&lines)
                        .await?
                        .iter()
                        .any(|b| b.amount_cents > 0 && &b.period == month);
                    if billed {
                        self.recorder.finding(format!(
                            "an invoice for {month}, a month {account} was billed for, was refused: {}",
                            answer.body
                        ));
                    }
                }
                if !answer.ok() && answer.status != 409 && !refused_invoice {
                    let finding = format!("{} {} answered {}: {}", p.kind, taken.action, answer.status, answer.body);
                    eprintln!("{finding}");
                    self.recorder.finding(finding);
                }
            }
        }
        self.timed("reviewers.actions", t);
        Ok(())
    }

    /// Sends the request and kills the server while it may be working on it; then starts a
    /// new server. The caller sends the same request again under the same idempotency key.
    async fn kill_server_during(&mut self, p: &reviewers::Planned) -> anyhow::Result<()> {
        let client = self.client.clone();
        let (path, token, key, body) = (p.path.clone(), p.token.clone(), p.key.clone(), p.body.clone());
        let request = tokio::spawn(async move { client.post(&path, &token, &key, &body).await });
        tokio::time::sleep(Duration::from_millis(3)).await;
        self.cluster.kill_server();
        let _ = request.await;
        self.cluster.start_server()?;
        self.client = Client::new(&self.cluster.addr)?;
        Ok(())
    }

    async fn broken_rules_reload(&mut self) -> anyhow::Result<()> {
        let rules = self.dir.join("rules");
        let victim = rules.join("initial_limit.rhai");
        let good = std::fs::read(&victim).with_context(|| format!("read {}", victim.display()))?;
        std::fs::write(&victim, b"fn broken( {")?;
        let answer =
            self.client.post("/api/v1/admin/rules/reload", &self.tokens.admin, "sim-broken-reload", &json!({})).await;
        std::fs::write(&victim, good)?;
        let answer = answer?;
        self.recorder.count(&format!("rules_reload.broken.{}", answer.status), 1);
        if answer.ok() {
            self.recorder.finding("a rules reload with a broken script was accepted".into());
        }
        Ok(())
    }

    /// Holds a write lock on the database for a moment while the applicants act.
    fn hold_database_busy(&self) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        let url = self.app.config.database_url.clone();
        tokio::spawn(async move {
            if url.starts_with("sqlite:") {
                use sqlx::Connection;
                let mut conn = sqlx::SqliteConnection::connect(&url).await?;
                sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await?;
                tokio::time::sleep(Duration::from_millis(1500)).await;
                sqlx::query("ROLLBACK").execute(&mut conn).await?;
            } else {
                let pool = sqlx::PgPool::connect(&url).await?;
                let mut tx = pool.begin().await?;
                sqlx::query("LOCK TABLE outbox IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
                tokio::time::sleep(Duration::from_millis(1500)).await;
                tx.rollback().await?;
                pool.close().await;
            }
            Ok(())
        })
    }

    /// `--plant double_bill`: once a line has a bill, a second bill of the same month is
    /// written straight into the database, as a bug in the cycle close would.
    async fn plant(&mut self, _day: NaiveDate) -> anyhow::Result<()> {
        if self.planted_done {
            return Ok(());
        }
        match self.opts.planted {
            // The sink swallows the first email to anyone; once one was, the fault is spent.
            Some(Planted::LostEmail) if self.dir.join("mail").join("swallowed").exists() => {
                self.planted_done = true;
                self.cluster.smtp_faults(&json!({}))?;
            }
            Some(Planted::DoubleBill) => {
                let url = self.app.config.database_url.clone();
                let done = plant_double_bill(&url).await?;
                self.planted_done = done;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Copies one bill as a second bill of the same line and month, if the schema lets it (a
/// unique constraint refusing it is the service defending itself: then the bill's amount is
/// doubled instead, which the ledger check must catch).
async fn plant_double_bill(url: &str) -> anyhow::Result<bool> {
    let sql = "UPDATE bills SET amount_cents = amount_cents * 2 WHERE id = (SELECT id FROM bills WHERE amount_cents > 0 ORDER BY id LIMIT 1)";
    let affected = if url.starts_with("sqlite:") {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query(sql).execute(&mut conn).await?.rows_affected()
    } else {
        let pool = sqlx::PgPool::connect(url).await?;
        let n = sqlx::query(sql).execute(&pool).await?.rows_affected();
        pool.close().await;
        n
    };
    Ok(affected > 0)
}

/// Sends each group's requests in their order (each `times` times), up to [`AT_ONCE`] groups
/// at a time; the answers come back in the groups' order, whichever group finished first.
async fn side_by_side<T: Copy, R, F, Fut>(groups: Vec<Vec<T>>, times: usize, send: F) -> anyhow::Result<Vec<R>>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<R>>,
{
    use futures_util::StreamExt;
    let send = &send;
    let answers: Vec<anyhow::Result<Vec<R>>> = futures_util::stream::iter(groups.into_iter().map(|group| async move {
        let mut answers = Vec::new();
        for item in group {
            for _ in 0..times {
                answers.push(send(item).await?);
            }
        }
        Ok(answers)
    }))
    .buffered(AT_ONCE)
    .collect()
    .await;
    Ok(answers.into_iter().collect::<anyhow::Result<Vec<_>>>()?.into_iter().flatten().collect())
}

/// The next limit a climber asks for: $200, $500, $1,000, $2,000, $5,000, then $10,000.
fn next_tier(current: i64) -> i64 {
    [20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000].into_iter().find(|t| *t > current).unwrap_or(current)
}

/// Hands one raw email to the service as the mail gateway does.
pub(super) async fn inbound(client: &Client, token: &str, raw: Vec<u8>) -> anyhow::Result<super::client::Answer> {
    let bearer = format!("Bearer {token}");
    let headers = [("Authorization", bearer.as_str()), ("Content-Type", "message/rfc822")];
    client.post_raw("/api/v1/inbox/messages", &headers, raw).await
}

/// The simulated time of a day.
pub(super) fn at(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(HOUR_OF_DAY, 0, 0).unwrap_or_default().and_utc()
}

pub(super) fn schema_name(seed: u64, dir: &Path) -> String {
    let tail: String = dir.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let tail: String = tail.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("sim_{seed}_{tail}")
}

/// The database URL of the run (and its job queue's name): a SQLite file in the folder, or a
/// fresh schema of the PostgreSQL database.
pub(super) async fn database(opts: &Options, dir: &Path, seed: u64) -> anyhow::Result<(String, String)> {
    match &opts.database {
        None => Ok((format!("sqlite://{}", dir.join("sim.db").display()), format!("sim-{seed}"))),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let schema = schema_name(seed, dir);
            let admin = sqlx::PgPool::connect(url).await.with_context(|| "connect to --database")?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {schema}"))).execute(&admin).await?;
            admin.close().await;
            let sep = if url.contains('?') { '&' } else { '?' };
            Ok((format!("{url}{sep}options=-c%20search_path%3D{schema}"), schema))
        }
        Some(other) => bail!("--database must be a postgres:// URL (SQLite is the default), not {other:?}"),
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| format!("{} not found", p.display()))
}

pub(super) fn sim_config(
    base: &Config,
    dir: &Path,
    clock: &Path,
    url: &str,
    queue: &str,
    smtp_port: u16,
    log: Option<&str>,
) -> anyhow::Result<Config> {
    let mut c = base.clone();
    // The rules are copied: the broken-reload fault edits the copy, never the project's.
    let rules = dir.join("rules");
    copy_dir(&absolute(&base.rules_dir)?, &rules)?;
    c.rules_dir = rules;
    c.workflows_dir = absolute(&base.workflows_dir)?;
    c.templates_dir = absolute(&base.templates_dir)?;
    c.database_url = url.to_string();
    c.log_level = log.unwrap_or("warn").to_string();
    c.imap = None;
    c.mail.transport = MailTransport::Smtp;
    c.mail.smtp.host = "127.0.0.1".into();
    c.mail.smtp.port = smtp_port;
    c.mail.smtp.tls = SmtpTls::None;
    c.mail.smtp.username = None;
    c.mail.smtp.password = None;
    c.mail.smtp.timeout_seconds = 2;
    c.mail.dir = dir.join("mail-out");
    c.workers.queue = queue.to_string();
    // Sending waits on SMTP round trips, not on a core: with 8 sends at once and 4 pooled
    // connections, delivery was the largest share of a run (44 s of the 2,000 × 3 run's 117 s;
    // 23 s with these).
    c.workers.concurrency = 32;
    c.mail.smtp.pool_size = 16;
    // The relay nudges its own process's send workers when it pushes jobs; the poll only
    // finds jobs another worker pushed (the second-worker fault).
    c.workers.poll_ms = 100;
    c.workers.tick_ms = 10;
    c.workers.batch = 500;
    c.workers.shutdown_seconds = 5;
    c.payments.stripe_webhook_secret = Some(WEBHOOK_SECRET.into());
    c.website_check.enabled = false;
    c.test_only_clock_file = Some(clock.to_path_buf());
    Ok(c)
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The run's folder: `keep` (made if missing), or a temporary one (removed with its guard).
pub(super) fn run_folder(keep: Option<&Path>, prefix: &str) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match keep {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            Ok((std::fs::canonicalize(d)?, None))
        }
        None => {
            let t = tempfile::Builder::new().prefix(prefix).tempdir()?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}

/// A signed-to-be Stripe `payment_intent.succeeded` event, number `n` of the run `run`.
pub(super) fn payment_event(run: &str, n: u64, account: &str, cents: i64, purpose: &str) -> Vec<u8> {
    let body = json!({
        "id": format!("evt_sim_{run}_{n}"),
        "type": "payment_intent.succeeded",
        "data": { "object": { "id": format!("pi_sim_{run}_{n}"), "amount": cents, "currency": "usd",
                              "metadata": { "account_email": account, "purpose": purpose } } }
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The run's reviewers', admin's and mail gateway's tokens.
pub(super) fn tokens(exe: &Path, config: &Path, dir: &Path) -> anyhow::Result<Tokens> {
    Ok(Tokens {
        reviewer: token(exe, config, dir, "sim-reviewer", "reviewer")?,
        senior: token(exe, config, dir, "sim-senior", "senior_reviewer")?,
        second_senior: token(exe, config, dir, "sim-senior-2", "senior_reviewer")?,
        admin: token(exe, config, dir, "sim-admin", "admin")?,
        inbox: token(exe, config, dir, "sim-inbox", "inbox")?,
    })
}

/// An API token made by `creditline tokens create`, as an operator makes one.
fn token(exe: &Path, config: &Path, dir: &Path, name: &str, role: &str) -> anyhow::Result<String> {
    let out = super::processes::creditline(exe)
        .arg("--config")
        .arg(config)
        .args(["tokens", "create", "--name", name, "--role", role])
        .current_dir(dir)
        .output()?;
    if !out.status.success() {
        bail!("creditline tokens create {name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

//! The simulation's invariants: the policy and the service's promises, checked after every
//! simulated day against the database and what the applicants' mailboxes received.
//!
//! A day's check costs what changed that day: the checker keeps cursors over the append-mostly
//! tables (workflow events, outbox rows, ledger entries, bills; their ids are UUID v7, so
//! time-ordered), re-reads only the outbox rows still in flight, and otherwise asks the
//! database cheap aggregates. Ids come from each process's wall clock and a transaction may
//! commit a moment after a later id, so every read looks back [`LOOKBACK_MS`] behind the cursor
//! and skips what it has already taken.
//!
//! Each check has a name (the `check` of a [`Violation`]); `tests/sim_invariants.rs` plants
//! each fault it can in a real database and sees the right name fire.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::domain::{DecisionId, EventId, OutboxId, Period, SubjectId, paid_before};
use crate::sim::mailbox::Mail;
use crate::store::{BillRecord, EntryRecord, EventRecord, OutboxRecord, TaskFilter};
use crate::workflow::TaskKind;
use crate::workflow::names::{application, credit_line, limit_increase, task_state};

/// How far behind its cursor each read looks, for rows committed after a later id. The driver
/// checks only once every request it sent was answered, the scheduled jobs ran and the outbox
/// drained: no transaction that made its ids before the reads is still open then, except the
/// workers' own short background ticks. Three seconds covers those twice over, and the
/// database-busy fault's 1.5 s hold. (It was 30 s, and two minutes before that: every day
/// re-read the rows of the days that fit in the window, a dozen or more at 10,000 accounts.)
pub const LOOKBACK_MS: u64 = 3_000;
/// Rows read per query.
const PAGE: i64 = 2_000;
/// Lines of a trace.
const TRACE_LINES: usize = 15;

/// The email an application's applicant must have received once it reached a state.
const STATE_EMAILS: [(&str, &str); 5] = [
    (application::APPROVED, "application_approved"),
    (application::DECLINED, "application_declined"),
    (application::DEFERRED, "application_deferred"),
    (application::CLOSED_PREPAID, "prepaid_path"),
    (application::WITHDRAWN, "application_withdrawn"),
];

/// Entry kinds that may take prepaid credit away: usage the account made, its own request to
/// hold it as a guarantee, an admin's correction. Nothing else (no decline, deferral or gating).
const PREPAID_DEBITS: [&str; 3] = ["usage", "prepaid_held", "adjustment"];

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The check's name (stable: tests and reports match on it).
    pub check: &'static str,
    /// What it is about: an instance, a line, an account, a Message-ID.
    pub subject: String,
    pub detail: String,
    /// The subject's recent history (events, ledger entries), oldest first.
    pub trace: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "invariant {} violated by {}", self.check, self.subject)?;
        writeln!(f, "  {}", self.detail)?;
        if !self.trace.is_empty() {
            writeln!(f, "  trace:")?;
            for line in &self.trace {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}

/// What the driver saw that the database cannot tell.
pub struct Observed<'a> {
    pub now: DateTime<Utc>,
    /// By recipient, everything received so far.
    pub mailboxes: &'a BTreeMap<String, Vec<Mail>>,
    /// Message-IDs (no brackets) of auto-replies the applicants sent us.
    pub auto_replies: &'a BTreeSet<String>,
    /// The simulated reviewers act on a task within this.
    pub reviewer_max_delay_days: i64,
    /// Task kinds the simulated reviewers finish.
    pub finishable_kinds: &'a [&'a str],
    /// Every email due has been delivered (the outbox is idle).
    pub drained: bool,
}

/// A read position over a time-ordered id, with the ids taken inside the look-back window.
#[derive(Debug, Default)]
struct Cursor {
    newest: u128,
    recent: BTreeSet<u128>,
}

impl Cursor {
    /// Where the next read starts: the look-back window behind the newest id taken.
    fn from(&self) -> uuid::Uuid {
        let ms = (self.newest >> 80) as u64;
        uuid::Uuid::from_u128(u128::from(ms.saturating_sub(LOOKBACK_MS)) << 80)
    }

    /// True the first time an id is seen.
    fn take(&mut self, id: uuid::Uuid) -> bool {
        let n = id.as_u128();
        if !self.recent.insert(n) {
            return false;
        }
        self.newest = self.newest.max(n);
        true
    }

    fn prune(&mut self) {
        let floor = self.from().as_u128();
        self.recent = self.recent.split_off(&floor);
    }
}

/// The first copy of a delivered email, to compare later copies with.
#[derive(Debug, Clone)]
struct Delivered {
    subject: String,
    body_sha256: [u8; 32],
}

/// An application state whose email must reach the applicant.
#[derive(Debug, Clone)]
struct Expectation {
    event: EventId,
    application: SubjectId,
    state: String,
    template: &'static str,
}

/// The daily checker; see the module documentation.
#[derive(Debug, Default)]
pub struct Checker {
    events: Cursor,
    outbox: Cursor,
    entries: Cursor,
    bills: Cursor,
    /// Per recipient, how many of its mails were read.
    mail_read: BTreeMap<String, usize>,
    /// By (recipient, Message-ID): the first copy.
    delivered: BTreeMap<(String, String), Delivered>,
    /// Our outbox rows delivered so far, with their recipients.
    delivered_rows: BTreeMap<OutboxId, BTreeSet<String>>,
    /// Copies of an email delivered again under its Message-ID (SMTP is at-least-once).
    pub redelivered: u64,
    /// Email rows not sent yet, or failed (a retry may send them): re-read each day.
    in_flight: BTreeSet<OutboxId>,
    /// Sent rows not yet seen in a mailbox.
    unseen: BTreeMap<OutboxId, OutboxRecord>,
    /// `bill_issued` emails by (line, period).
    bill_emails: BTreeSet<(SubjectId, String)>,
    /// Emails of application events awaited in a mailbox, by event.
    expected: Vec<Expectation>,
    expected_rows: BTreeMap<EventId, Vec<(String, OutboxId)>>,
    /// Each credit line's states in event order (event id, state).
    line_states: BTreeMap<SubjectId, Vec<(u128, String)>>,
    /// Credit drawn per (line, period), from the entries.
    drawn: BTreeMap<(SubjectId, Period), i64>,
    /// Sums of each account's prepaid and deposit entries.
    sums: BTreeMap<String, (i64, i64)>,
    /// Every bill seen, by (line, period).
    billed: BTreeMap<(SubjectId, String), uuid::Uuid>,
    /// Months whose close was checked for completeness.
    closes_checked: BTreeSet<Period>,
    /// The month in which `ledger verify` last ran in full.
    verified_in: Option<Period>,
    /// Time spent per step.
    spent: BTreeMap<&'static str, std::time::Duration>,
}

/// What one day's reads found new, before the checks that combine them.
#[derive(Default)]
struct Day {
    draws: Vec<EntryRecord>,
    touched: BTreeSet<String>,
    deposit_moves: BTreeSet<String>,
    new_lines: Vec<SubjectId>,
    approvals: Vec<(SubjectId, EventRecord)>,
    increase_approvals: Vec<EventRecord>,
}

impl Checker {
    pub fn new() -> Checker {
        Checker::default()
    }

    /// Checks everything that changed since the last call.
    pub async fn check(&mut self, app: &App, seen: &Observed<'_>) -> anyhow::Result<Vec<Violation>> {
        let mut out = Vec::new();
        let mut day = Day::default();
        // Read whether last month closed before reading its bills: a close finishing between
        // the two reads must not look like a line it left unbilled.
        let last_month = Period::containing(seen.now).previous();
        let closed = match last_month {
            Some(p) if !self.closes_checked.contains(&p) => app.store.cycle_closed(p).await?.then_some(p),
            _ => None,
        };
        // Each step's time goes to the report's timings (`invariants.<step>`).
        let mut t = std::time::Instant::now();
        let mut lap = |spent: &mut BTreeMap<&'static str, std::time::Duration>, step: &'static str| {
            *spent.entry(step).or_default() += t.elapsed();
            t = std::time::Instant::now();
        };
        self.read_events(app, &mut day, &mut out).await?;
        lap(&mut self.spent, "read_events");
        self.read_entries(app, &mut day, &mut out).await?;
        lap(&mut self.spent, "read_entries");
        self.read_bills(app, &mut out).await?;
        self.read_outbox(app, &mut out).await?;
        lap(&mut self.spent, "read_bills_outbox");
        self.read_mail(app, seen, &mut out).await?;
        lap(&mut self.spent, "read_mail");
        self.check_ledger(app, seen, &day, &mut out).await?;
        lap(&mut self.spent, "ledger");
        self.check_gate(app, &day, &mut out).await?;
        if let Some(p) = closed {
            self.check_close(app, p, &mut out).await?;
        }
        lap(&mut self.spent, "gate_close");
        self.check_policy(app, &day, &mut out).await?;
        lap(&mut self.spent, "policy");
        self.check_delivery(app, seen, &mut out).await?;
        lap(&mut self.spent, "delivery");
        self.check_queue(app, seen, &mut out).await?;
        lap(&mut self.spent, "queue");
        Ok(out)
    }

    /// Every closed month's bills against the lines that drew credit in it. The daily checks
    /// look at the month just closed; a run checked once at its end (the scale-out run)
    /// needs every month it lived through.
    pub async fn check_every_closed_month(&mut self, app: &App) -> anyhow::Result<Vec<Violation>> {
        let mut out = Vec::new();
        let periods: BTreeSet<Period> = self.drawn.keys().map(|(_, p)| *p).collect();
        for p in periods {
            if app.store.cycle_closed(p).await? {
                self.check_close(app, p, &mut out).await?;
            }
        }
        Ok(out)
    }

    /// The time each step of the checks took so far.
    pub fn spent(&self) -> impl Iterator<Item = (&'static str, std::time::Duration)> + '_ {
        self.spent.iter().map(|(k, v)| (*k, *v))
    }

    async fn read_events(&mut self, app: &App, day: &mut Day, out: &mut Vec<Violation>) -> anyhow::Result<()> {
        let mut after = self.events.from();
        // Guarded events to check against their decisions, by instance.
        let mut guarded: BTreeMap<SubjectId, Vec<(EventRecord, String)>> = BTreeMap::new();
        loop {
            let page = app.store.events_after(after, PAGE).await?;
            let full = page.len() as i64 == PAGE;
            for (e, workflow, account) in page {
                after = e.id.0;
                if !self.events.take(e.id.0) {
                    continue;
                }
                match legal(app, &workflow, &e) {
                    Err(detail) => {
                        out.push(violation(app, "legal_transitions", e.instance_id, detail, account.as_deref()).await?)
                    }
                    Ok(Some(rule)) => guarded.entry(e.instance_id).or_default().push((e.clone(), rule)),
                    Ok(None) => {}
                }
                self.note_event(&workflow, &e, day);
            }
            if !full {
                break;
            }
        }
        self.events.prune();
        // The decisions behind guarded steps, by id in one read: a rule may decide about
        // another subject than the instance it moves (`limit_increase` decides about the line).
        let ids: Vec<DecisionId> =
            guarded.values().flatten().flat_map(|(e, _)| e.decision_ids.iter().copied()).collect();
        let decisions: BTreeMap<DecisionId, String> =
            app.store.decisions_by_ids(&ids).await?.into_iter().map(|d| (d.id, d.rule)).collect();
        for (instance, events) in guarded {
            for (e, rule) in events {
                let backed = e.decision_ids.iter().any(|id| decisions.get(id) == Some(&rule))
                    && e.decision_ids.iter().all(|id| decisions.contains_key(id));
                if !backed {
                    let detail = format!(
                        "event {} ({} -> {}) passed a `{rule}` guard without its decision records (decision ids {:?})",
                        e.event,
                        e.from_state.as_deref().unwrap_or("-"),
                        e.to_state,
                        e.decision_ids
                    );
                    out.push(violation(app, "guard_decisions", instance, detail, None).await?);
                }
            }
        }
        Ok(())
    }

    fn note_event(&mut self, workflow: &str, e: &EventRecord, day: &mut Day) {
        match workflow {
            credit_line::WORKFLOW => {
                self.line_states.entry(e.instance_id).or_default().push((e.id.0.as_u128(), e.to_state.clone()));
                if e.from_state.is_none() {
                    day.new_lines.push(e.instance_id);
                }
            }
            application::WORKFLOW => {
                let entered = e.from_state.as_deref() != Some(e.to_state.as_str());
                if let Some((_, template)) = STATE_EMAILS.iter().find(|(s, _)| *s == e.to_state)
                    && entered
                {
                    self.expected.push(Expectation {
                        event: e.id,
                        application: e.instance_id,
                        state: e.to_state.clone(),
                        template,
                    });
                }
                if e.to_state == application::APPROVED && entered {
                    day.approvals.push((e.instance_id, e.clone()));
                }
            }
            limit_increase::WORKFLOW
                if e.to_state == limit_increase::APPROVED
                    && e.from_state.as_deref() != Some(limit_increase::APPROVED) =>
            {
                day.increase_approvals.push(e.clone());
            }
            _ => {}
        }
    }

    async fn read_entries(&mut self, app: &App, day: &mut Day, out: &mut Vec<Violation>) -> anyhow::Result<()> {
        let mut after = self.entries.from();
        loop {
            let page = app.store.entries_after(after, PAGE).await?;
            let full = page.len() as i64 == PAGE;
            for e in page {
                after = e.id;
                if !self.entries.take(e.id) {
                    continue;
                }
                let sums = self.sums.entry(e.account_email.clone()).or_default();
                match e.bucket.as_str() {
                    "prepaid" => sums.0 += e.amount_cents,
                    "deposit" => sums.1 += e.amount_cents,
                    _ => {}
                }
                day.touched.insert(e.account_email.clone());
                if e.bucket == "deposit" && e.amount_cents < 0 {
                    day.deposit_moves.insert(e.account_email.clone());
                }
                if e.bucket == "prepaid" && e.amount_cents < 0 && !PREPAID_DEBITS.contains(&e.kind.as_str()) {
                    let detail = format!(
                        "a `{}` entry took {} cents of prepaid credit (only usage, a hold the account asked for or an admin's adjustment may)",
                        e.kind, -e.amount_cents
                    );
                    out.push(account_violation(app, "prepaid_kept", &e.account_email, detail).await?);
                }
                if e.bucket == "credit" && e.amount_cents < 0 {
                    if let (Some(line), Some(period)) =
                        (e.line_id, e.period.as_deref().and_then(|p| p.parse::<Period>().ok()))
                    {
                        *self.drawn.entry((line, period)).or_default() += -e.amount_cents;
                    }
                    day.draws.push(e);
                }
            }
            if !full {
                break;
            }
        }
        self.entries.prune();
        Ok(())
    }

    async fn read_bills(&mut self, app: &App, out: &mut Vec<Violation>) -> anyhow::Result<()> {
        let mut after = self.bills.from();
        loop {
            let page = app.store.bills_after(after, PAGE).await?;
            let full = page.len() as i64 == PAGE;
            for b in page {
                after = b.id;
                if !self.bills.take(b.id) {
                    continue;
                }
                if let Some(first) = self.billed.insert((b.line_id, b.period.clone()), b.id)
                    && first != b.id
                {
                    let detail = format!("a second bill {} for {} (the first: {first})", b.id, b.period);
                    out.push(violation(app, "one_bill_per_month", b.line_id, detail, Some(&b.account_email)).await?);
                }
                let used =
                    b.period.parse::<Period>().ok().and_then(|p| self.drawn.get(&(b.line_id, p)).copied()).unwrap_or(0);
                if b.amount_cents != used {
                    let detail =
                        format!("the bill for {} is {} cents but the line drew {used} cents", b.period, b.amount_cents);
                    out.push(violation(app, "bill_amount", b.line_id, detail, Some(&b.account_email)).await?);
                }
            }
            if !full {
                break;
            }
        }
        self.bills.prune();
        Ok(())
    }

    async fn read_outbox(&mut self, app: &App, out: &mut Vec<Violation>) -> anyhow::Result<()> {
        let mut after = self.outbox.from();
        let mut effects: BTreeMap<(EventId, String), OutboxId> = BTreeMap::new();
        let mut rows = Vec::new();
        loop {
            let page = app.store.outbox_after(after, PAGE).await?;
            let full = page.len() as i64 == PAGE;
            for row in page {
                after = row.id.0;
                if self.outbox.take(row.id.0) {
                    rows.push(row);
                }
            }
            if !full {
                break;
            }
        }
        self.outbox.prune();
        for row in rows {
            if let Some(first) = effects.insert((row.event_id, row.name.clone()), row.id) {
                let detail = format!(
                    "two outbox rows ({first}, {}) for the effect {}:{} of event {}",
                    row.id, row.kind, row.name, row.event_id
                );
                out.push(violation(app, "one_row_per_effect", row.instance_id, detail, None).await?);
            }
            if row.kind != "email" {
                continue;
            }
            if row.name == "bill_issued"
                && let Some(period) = row.payload.get("period").and_then(|p| p.as_str())
                && !self.bill_emails.insert((row.instance_id, period.to_string()))
            {
                let detail = format!("a second bill_issued email ({}) for {period}", row.id);
                out.push(violation(app, "one_row_per_effect", row.instance_id, detail, None).await?);
            }
            if STATE_EMAILS.iter().any(|(_, t)| *t == row.name) {
                self.expected_rows.entry(row.event_id).or_default().push((row.name.clone(), row.id));
            }
            self.in_flight.insert(row.id);
        }
        // Rows in flight: those now sent wait for their mailbox; failed ones stay (a reviewer
        // may send them again).
        let ids: Vec<OutboxId> = self.in_flight.iter().copied().collect();
        for row in app.store.outbox_rows(&ids).await? {
            if row.status == "sent" {
                self.in_flight.remove(&row.id);
                self.unseen.insert(row.id, row);
            }
        }
        Ok(())
    }

    async fn read_mail(&mut self, app: &App, seen: &Observed<'_>, out: &mut Vec<Violation>) -> anyhow::Result<()> {
        for (rcpt, mails) in seen.mailboxes {
            let read = self.mail_read.entry(rcpt.clone()).or_default();
            let new = mails.get(*read..).unwrap_or_default();
            *read = mails.len();
            for mail in new {
                if let Some(answered) = mail.thread.first()
                    && seen.auto_replies.contains(answered)
                {
                    let detail = format!(
                        "our email {:?} ({}) answers the auto-reply <{answered}>",
                        mail.subject,
                        mail.template.as_deref().unwrap_or("?")
                    );
                    out.push(mail_violation(app, "no_answer_to_auto_reply", mail, detail).await?);
                }
                let body = crate::intake::mail::parse(&mail.raw).map(|m| m.body).unwrap_or_default();
                let copy =
                    Delivered { subject: mail.subject.clone(), body_sha256: Sha256::digest(body.as_bytes()).into() };
                match self.delivered.get(&(rcpt.clone(), mail.message_id.clone())) {
                    Some(first) if first.subject == copy.subject && first.body_sha256 == copy.body_sha256 => {
                        self.redelivered += 1
                    }
                    Some(first) => {
                        let detail = format!(
                            "two different emails under one Message-ID: {:?} and {:?}{}",
                            first.subject,
                            copy.subject,
                            if first.subject == copy.subject { " (different bodies)" } else { "" }
                        );
                        out.push(mail_violation(app, "one_email_per_message_id", mail, detail).await?);
                    }
                    None => {
                        self.delivered.insert((rcpt.clone(), mail.message_id.clone()), copy);
                        if let Some(id) = crate::sim::mailbox::outbox_id(&mail.message_id) {
                            self.delivered_rows.entry(id).or_default().insert(rcpt.clone());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn check_ledger(
        &mut self,
        app: &App,
        seen: &Observed<'_>,
        day: &Day,
        out: &mut Vec<Violation>,
    ) -> anyhow::Result<()> {
        // In full once a month (and on the first check): an aggregate over every entry.
        let month = Period::containing(seen.now);
        if self.verified_in != Some(month) {
            self.verified_in = Some(month);
            for problem in crate::services::ledger::Ledger::new(app).verify().await? {
                out.push(Violation {
                    check: "ledger_verify",
                    subject: "ledger".into(),
                    detail: problem,
                    trace: Vec::new(),
                });
            }
        }
        for problem in app.store.ledger_breaches().await? {
            out.push(Violation {
                check: "ledger_balances",
                subject: "ledger".into(),
                detail: problem,
                trace: Vec::new(),
            });
        }
        // Daily, for the accounts that moved: stored balances against the sums of their entries.
        let touched: Vec<String> = day.touched.iter().cloned().collect();
        if touched.is_empty() {
            return Ok(());
        }
        for figures in app.store.account_figures(&touched, seen.now).await? {
            let (prepaid, deposit) = self.sums.get(&figures.account_email).copied().unwrap_or_default();
            let stored = figures.balances;
            if stored.prepaid_cents != prepaid || stored.deposit_cents != deposit {
                let detail = format!(
                    "stored prepaid {} / deposit {} cents, but the entries add up to {prepaid} / {deposit}",
                    stored.prepaid_cents, stored.deposit_cents
                );
                out.push(account_violation(app, "ledger_verify", &figures.account_email, detail).await?);
            }
        }
        Ok(())
    }

    /// Every credit draw posted today, against the line's state and the billing-cycle gate
    /// as they were when it was posted.
    async fn check_gate(&mut self, app: &App, day: &Day, out: &mut Vec<Violation>) -> anyhow::Result<()> {
        if day.draws.is_empty() {
            return Ok(());
        }
        let lines: BTreeSet<SubjectId> = day.draws.iter().filter_map(|e| e.line_id).collect();
        let lines: Vec<SubjectId> = lines.into_iter().collect();
        let mut bills: BTreeMap<(SubjectId, String), BillRecord> = BTreeMap::new();
        for b in app.store.bills_for_lines(&lines).await? {
            bills.insert((b.line_id, b.period.clone()), b);
        }
        let draw_days = crate::services::ledger::Ledger::new(app).draw_days();
        let mut reported = BTreeSet::new();
        for e in &day.draws {
            let Some(line) = e.line_id else { continue };
            if reported.contains(&line) {
                continue;
            }
            let state = self
                .line_states
                .get(&line)
                .and_then(|s| s.iter().rev().find(|(id, _)| *id < e.id.as_u128()))
                .map(|(_, s)| s.as_str());
            let mut problem = match state {
                Some(s) if app.workflow.is(credit_line::WORKFLOW, s, |s| s.draws_credit) => None,
                Some(s) => Some(format!("drew {} cents while the line was {s}", -e.amount_cents)),
                None => Some(format!("drew {} cents on a line with no state before it", -e.amount_cents)),
            };
            if problem.is_none()
                && let Some(period) = e.period.as_deref().and_then(|p| p.parse::<Period>().ok())
            {
                let due_by = paid_before(e.created_at, draw_days);
                let owing = self
                    .drawn
                    .range((line, Period::new(1970, 1).unwrap_or(period))..(line, period))
                    .filter(|((_, m), used)| *m < due_by && **used > 0)
                    .find(|((_, m), _)| match bills.get(&(line, m.to_string())) {
                        Some(b) => b.issued_at > e.created_at || !paid_by(b, e.created_at),
                        None => true,
                    });
                if let Some(((_, m), used)) = owing {
                    problem = Some(format!(
                        "drew {} cents for {period} while {m} ({used} cents used) was not billed and paid in full",
                        -e.amount_cents
                    ));
                }
            }
            if let Some(detail) = problem {
                reported.insert(line);
                out.push(violation(app, "credit_gate", line, detail, Some(&e.account_email)).await?);
            }
        }
        Ok(())
    }

    /// Once a month's close is recorded: every line that drew in it and is not closed has
    /// its bill.
    async fn check_close(&mut self, app: &App, period: Period, out: &mut Vec<Violation>) -> anyhow::Result<()> {
        self.closes_checked.insert(period);
        let missing: Vec<(SubjectId, i64)> = self
            .drawn
            .iter()
            .filter(|((line, p), used)| {
                *p == period
                    && **used > 0
                    && !self.billed.contains_key(&(*line, p.to_string()))
                    && self.line_states.get(line).and_then(|s| s.last()).is_some_and(|(_, s)| s != credit_line::CLOSED)
            })
            .map(|((line, _), used)| (*line, *used))
            .collect();
        for (line, used) in missing {
            let detail = format!("{period} is closed but the line, which drew {used} cents in it, has no bill");
            out.push(violation(app, "every_line_billed", line, detail, None).await?);
        }
        Ok(())
    }

    async fn check_policy(&mut self, app: &App, day: &Day, out: &mut Vec<Violation>) -> anyhow::Result<()> {
        let reviewers: BTreeSet<String> = if day.new_lines.is_empty() && day.approvals.is_empty() {
            BTreeSet::new()
        } else {
            app.store
                .tokens()
                .await?
                .into_iter()
                .filter(|t| matches!(t.role, crate::domain::Role::Reviewer | crate::domain::Role::SeniorReviewer))
                .map(|t| t.name)
                .collect()
        };
        let tier = app.rules.deposit_tier().cents();
        let mut tier_accounts: BTreeSet<String> = day.deposit_moves.clone();
        for (application, e) in &day.approvals {
            if !reviewers.contains(&e.actor) {
                let detail = format!("approved by {:?}, which is not a reviewer's token", e.actor);
                out.push(violation(app, "reviewer_approval", *application, detail, None).await?);
            }
            let record = app.store.application(crate::domain::ApplicationId(application.0)).await?;
            if let Some(record) = record
                && record.applicant_kind.as_deref() == Some("enterprise")
            {
                let events = app.store.events(*application).await?;
                if !events.iter().any(|x| x.event == "domain_confirmed") {
                    let detail = "an enterprise application approved without a company-domain confirmation".to_string();
                    out.push(
                        violation(app, "domain_confirmed", *application, detail, Some(&record.account_email)).await?,
                    );
                }
            }
        }
        for line in &day.new_lines {
            let Some(record) = app.store.credit_line(*line).await? else { continue };
            let events = app.store.events(record.application_id.into()).await?;
            let approved = events
                .iter()
                .any(|x| x.to_state == application::APPROVED && x.event == "approve" && reviewers.contains(&x.actor));
            if !approved {
                let detail = format!(
                    "a credit line opened for application {} without a reviewer's approve event",
                    record.application_id
                );
                out.push(violation(app, "reviewer_approval", *line, detail, Some(&record.account_email)).await?);
            }
            if record.monthly_limit_cents >= tier {
                tier_accounts.insert(record.account_email.clone());
            }
        }
        for e in &day.increase_approvals {
            let Some((increase, _)) = app.store.increase(e.instance_id).await? else { continue };
            if increase.next_limit_cents >= tier {
                tier_accounts.insert(increase.account_email.clone());
            }
            let overdue = app
                .store
                .bills_for_line(increase.line_id)
                .await?
                .into_iter()
                .find(|b| b.due_at <= e.occurred_at && b.amount_cents > 0 && !paid_by(b, e.occurred_at));
            if let Some(b) = overdue {
                let detail = format!(
                    "an increase to {} cents approved at {} while the bill for {} ({} of {} cents paid) was past its last day to pay",
                    increase.next_limit_cents, e.occurred_at, b.period, b.paid_cents, b.amount_cents
                );
                out.push(
                    violation(app, "increase_while_overdue", e.instance_id, detail, Some(&increase.account_email))
                        .await?,
                );
            }
        }
        for account in tier_accounts {
            let lines = app.store.instances_for_account(&account, credit_line::WORKFLOW).await?;
            let Some(open) = lines.iter().find(|i| i.state != credit_line::CLOSED) else { continue };
            let Some(line) = app.store.credit_line(open.id).await? else { continue };
            if line.monthly_limit_cents < tier {
                continue;
            }
            let held = app.store.balances(&account).await?.deposit_cents;
            if held < line.monthly_limit_cents {
                let detail = format!(
                    "a line of {} cents a month (the deposit tier is {tier}) with only {held} cents of deposit held",
                    line.monthly_limit_cents
                );
                out.push(violation(app, "deposit_guarantee", line.id, detail, Some(&account)).await?);
            }
        }
        Ok(())
    }

    async fn check_delivery(&mut self, app: &App, seen: &Observed<'_>, out: &mut Vec<Violation>) -> anyhow::Result<()> {
        let found: Vec<OutboxId> = self
            .unseen
            .values()
            .filter(|row| {
                self.delivered_rows.get(&row.id).is_some_and(|to| recipient(row).is_none_or(|r| to.contains(&r)))
            })
            .map(|row| row.id)
            .collect();
        for id in found {
            self.unseen.remove(&id);
        }
        if !seen.drained {
            return Ok(());
        }
        for row in std::mem::take(&mut self.unseen).into_values() {
            let reached = self.delivered_rows.get(&row.id).map(|to| to.iter().cloned().collect::<Vec<_>>().join(", "));
            let detail = format!(
                "outbox row {} ({}) is sent to {} but that mailbox has no <{}>{}",
                row.id,
                row.name,
                recipient(&row).unwrap_or_default(),
                message_id_of(&row),
                reached.map(|r| format!(" (it reached {r})")).unwrap_or_default()
            );
            out.push(violation(app, "email_delivered", row.instance_id, detail, None).await?);
        }
        let ids: Vec<OutboxId> = self.in_flight.iter().copied().collect();
        for row in app.store.outbox_rows(&ids).await? {
            match row.status.as_str() {
                "failed" => {
                    let tasks = app.store.tasks_for(row.instance_id).await?;
                    if !tasks.iter().any(|t| t.kind == TaskKind::EmailFailure.as_str()) {
                        let detail =
                            format!("outbox row {} ({}) failed without an email_failure task", row.id, row.name);
                        out.push(violation(app, "no_email_lost", row.instance_id, detail, None).await?);
                    }
                }
                status => {
                    let detail =
                        format!("outbox row {} ({}) is still {status} once the day is drained", row.id, row.name);
                    out.push(violation(app, "no_email_lost", row.instance_id, detail, None).await?);
                }
            }
        }
        // The applicant heard of every decided application.
        let mut waiting = Vec::new();
        for x in std::mem::take(&mut self.expected) {
            let row = self
                .expected_rows
                .get(&x.event)
                .and_then(|rows| rows.iter().find(|(n, _)| n == x.template))
                .map(|(_, id)| *id);
            let delivered = row.is_some_and(|id| self.delivered_rows.contains_key(&id));
            if delivered {
                self.expected_rows.remove(&x.event);
                continue;
            }
            if row.is_some_and(|id| self.in_flight.contains(&id)) {
                // Failed and waiting for a reviewer's retry: reported by no_email_lost's task check.
                waiting.push(x);
                continue;
            }
            let detail = format!("the application is {} but its applicant never received {}", x.state, x.template);
            out.push(violation(app, "mailbox_matches_state", x.application, detail, None).await?);
            self.expected_rows.remove(&x.event);
        }
        self.expected = waiting;
        Ok(())
    }

    async fn check_queue(&mut self, app: &App, seen: &Observed<'_>, out: &mut Vec<Violation>) -> anyhow::Result<()> {
        let limit = seen.now - Duration::days(seen.reviewer_max_delay_days + 1);
        for state in task_state::WAITING {
            let filter = TaskFilter {
                state: Some(state.into()),
                created_before: Some(limit),
                limit: 20,
                ..TaskFilter::default()
            };
            for task in app.store.list_tasks(&filter).await? {
                let detail = format!("{} task {} ({state}) open since {}", task.kind, task.id, task.created_at);
                let subject = task.subject_id.unwrap_or(SubjectId(task.id.0));
                out.push(violation(app, "task_overdue", subject, detail, None).await?);
            }
        }
        for kind in TaskKind::ALL.iter().filter(|k| !seen.finishable_kinds.contains(&k.as_str())) {
            let filter = TaskFilter {
                kind: Some(kind.as_str().into()),
                state: Some("open".into()),
                limit: 20,
                ..TaskFilter::default()
            };
            for task in app.store.list_tasks(&filter).await? {
                let detail = format!("an open {} task {} no simulated reviewer finishes", task.kind, task.id);
                let subject = task.subject_id.unwrap_or(SubjectId(task.id.0));
                out.push(violation(app, "task_finishable", subject, detail, None).await?);
            }
        }
        let (kept, processed) = app.store.message_counts().await?;
        if kept != processed {
            out.push(Violation {
                check: "message_outcome",
                subject: "inbox".into(),
                detail: format!("{} of {kept} inbound messages have no outcome", kept - processed),
                trace: Vec::new(),
            });
        }
        Ok(())
    }
}

/// Whether the event is a transition its workflow has. `Ok(Some(rule))` when that transition
/// is guarded by `rule` (its decisions are checked next).
fn legal(app: &App, workflow: &str, e: &EventRecord) -> Result<Option<String>, String> {
    let Some(def) = app.workflows.get(workflow) else {
        return Err(format!("event {} of an unknown workflow {workflow:?}", e.event));
    };
    let Some(from) = e.from_state.as_deref() else {
        return if e.to_state == def.initial {
            Ok(None)
        } else {
            Err(format!("created in {} instead of its initial state {}", e.to_state, def.initial))
        };
    };
    let matching: Vec<_> = def
        .transitions
        .iter()
        .filter(|t| t.event == e.event && t.from.iter().any(|f| f == from) && t.target(from) == e.to_state)
        .collect();
    if matching.is_empty() {
        return Err(format!("{from} -{}-> {} is not a transition of {workflow}", e.event, e.to_state));
    }
    // Several transitions may match (guards admitting different outcomes); a decision is
    // required only when every one of them is guarded, by the same rule.
    let rules: BTreeSet<&str> = matching.iter().filter_map(|t| t.guard.as_ref().map(|g| g.rule.as_str())).collect();
    if matching.iter().all(|t| t.guard.is_some()) && rules.len() == 1 {
        Ok(rules.into_iter().next().map(str::to_string))
    } else {
        Ok(None)
    }
}

/// Whether a bill was paid in full by `at`.
fn paid_by(b: &BillRecord, at: DateTime<Utc>) -> bool {
    b.paid_cents >= b.amount_cents && b.paid_at.is_none_or(|p| p <= at)
}

/// The address an email row is sent to (the payload's `to`, as the sender reads it).
fn recipient(row: &OutboxRecord) -> Option<String> {
    row.payload.get("to").and_then(|v| v.as_str()).map(|to| to.trim().to_lowercase())
}

/// The Message-ID a sent row went out with, without brackets.
fn message_id_of(row: &OutboxRecord) -> String {
    match &row.message_id {
        Some(m) => m.trim_start_matches('<').trim_end_matches('>').to_string(),
        None => format!("outbox.{}@", row.id),
    }
}

/// A violation about a workflow instance (or a line), with its history and, given an
/// account, its ledger entries.
async fn violation(
    app: &App,
    check: &'static str,
    subject: SubjectId,
    detail: String,
    account: Option<&str>,
) -> anyhow::Result<Violation> {
    let mut trace: Vec<String> = app.store.events(subject).await?.iter().map(event_line).collect();
    if let Some(account) = account {
        trace.extend(app.store.ledger_entries(account).await?.iter().map(entry_line));
    }
    Ok(Violation { check, subject: subject.to_string(), detail, trace: last(trace) })
}

async fn account_violation(app: &App, check: &'static str, account: &str, detail: String) -> anyhow::Result<Violation> {
    let trace = app.store.ledger_entries(account).await?.iter().map(entry_line).collect();
    Ok(Violation { check, subject: account.to_string(), detail, trace: last(trace) })
}

/// A violation about a delivered email: the history of the instance that sent it.
async fn mail_violation(app: &App, check: &'static str, mail: &Mail, detail: String) -> anyhow::Result<Violation> {
    let mut trace = Vec::new();
    if let Some(id) = crate::sim::mailbox::outbox_id(&mail.message_id)
        && let Some(row) = app.store.outbox_row(id).await?
    {
        trace = app.store.events(row.instance_id).await?.iter().map(event_line).collect();
    }
    trace.push(format!(
        "{} mail to {} <{}> {:?} in reply to {:?}",
        mail.day,
        mail.rcpt,
        mail.message_id,
        mail.subject,
        mail.thread.first()
    ));
    Ok(Violation { check, subject: format!("<{}>", mail.message_id), detail, trace: last(trace) })
}

fn event_line(e: &EventRecord) -> String {
    format!(
        "{} {} -{}-> {} by {}{}",
        e.occurred_at.format("%Y-%m-%d %H:%M"),
        e.from_state.as_deref().unwrap_or("(new)"),
        e.event,
        e.to_state,
        e.actor,
        e.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
    )
}

fn entry_line(e: &EntryRecord) -> String {
    format!(
        "{} ledger {} {} {:+} cents{}{}",
        e.created_at.format("%Y-%m-%d %H:%M"),
        e.kind,
        e.bucket,
        e.amount_cents,
        e.period.as_deref().map(|p| format!(" for {p}")).unwrap_or_default(),
        e.line_id.map(|l| format!(" on line {l}")).unwrap_or_default()
    )
}

/// The last lines of a trace, oldest first.
fn last(mut trace: Vec<String>) -> Vec<String> {
    let cut = trace.len().saturating_sub(TRACE_LINES);
    trace.drain(..cut);
    trace
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_looks_back_and_takes_each_id_once() {
        let mut c = Cursor::default();
        assert_eq!(c.from(), uuid::Uuid::nil());
        let ms = 1_000_000u128;
        let a = uuid::Uuid::from_u128((ms << 80) | 1);
        let b = uuid::Uuid::from_u128(((ms + 10) << 80) | 2);
        assert!(c.take(a));
        assert!(c.take(b));
        assert!(!c.take(a), "an id is taken once");
        c.prune();
        assert_eq!(c.from().as_u128() >> 80, ms + 10 - u128::from(LOOKBACK_MS));
        // An id committed late, inside the window, is still taken.
        let late = uuid::Uuid::from_u128(((ms + 5) << 80) | 3);
        assert!(c.from() < late);
        assert!(c.take(late));
    }

    #[test]
    fn a_violation_reads_as_one_block() {
        let v = Violation {
            check: "credit_gate",
            subject: "line-1".into(),
            detail: "drew 100 cents while the line was paused".into(),
            trace: vec!["2026-11-01 09:00 active -gated-> paused by system".into()],
        };
        let text = v.to_string();
        assert!(text.starts_with("invariant credit_gate violated by line-1\n"));
        assert!(text.contains("  drew 100 cents"));
        assert!(text.contains("    2026-11-01 09:00 active -gated-> paused by system"));
    }

    #[test]
    fn a_trace_keeps_its_last_lines() {
        let trace: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        let kept = last(trace);
        assert_eq!(kept.len(), TRACE_LINES);
        assert_eq!(kept.first().map(String::as_str), Some("25"));
    }

    #[test]
    fn a_bill_is_paid_by_a_time_only_in_full_and_before_it() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-15T09:00:00Z").map(|d| d.with_timezone(&Utc)).unwrap();
        let mut b = BillRecord {
            id: uuid::Uuid::nil(),
            line_id: SubjectId(uuid::Uuid::nil()),
            account_email: "a@example.com".into(),
            period: "2026-10".into(),
            amount_cents: 100,
            paid_cents: 50,
            due_at: at,
            issued_at: at,
            paid_at: None,
            version: 1,
        };
        assert!(!paid_by(&b, at));
        b.paid_cents = 100;
        b.paid_at = Some(at + Duration::days(1));
        assert!(!paid_by(&b, at));
        b.paid_at = Some(at);
        assert!(paid_by(&b, at));
    }
}

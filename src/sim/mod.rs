//! `creditline simulate`: the whole business run as it will live, from one seed.
//!
//! A simulation starts the real pieces as separate processes: `creditline serve --no-workers`
//! (HTTP), one or more `creditline worker` (emails, relay, cycle jobs, reminders) and an SMTP
//! server (aiosmtpd) whose deliveries are the applicants' mailboxes. All of them read the time
//! from one clock file (`test_only_clock_file`), which the driver moves a day at a time.
//!
//! Each simulated day, in this order (one order, so one seed gives one run):
//! 1. the clock moves to 09:00 of the day and the driver waits for a worker tick that ran the
//!    scheduled jobs at that time (`worker_heartbeats.scheduled_clock_at`);
//! 2. faults planned for the day happen (processes killed, mail refused, ...);
//! 3. applicants act: new applications, answers to the emails they received, payments through
//!    the signed Stripe webhook, usage debits;
//! 4. reviewers act through the HTTP API on tasks older than their delay;
//! 5. the driver waits until every email due is delivered, reads the mailboxes, and checks
//!    the invariants ([`invariants`]); a violation stops the run with the seed, the day and
//!    a trace.
//!
//! The report ([`report`]) counts what happened per month; without its timings it is the same
//! byte for byte for the same seed.

pub mod client;
pub mod driver;
pub mod faults;
pub mod invariants;
pub mod letters;
pub mod mailbox;
pub mod population;
pub mod processes;
pub mod report;
pub mod reviewers;
pub mod scale_out;

use chrono::NaiveDate;

/// How hard the world pushes (`--faults`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum FaultLevel {
    /// Nothing fails.
    None,
    /// Now and then: mail refused or slow, a process killed, a duplicated webhook.
    Some,
    /// Often, all kinds at once.
    Many,
}

/// One simulation, as asked for on the command line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Spec {
    pub seed: u64,
    pub accounts: usize,
    pub months: u32,
    pub faults: FaultLevel,
    /// The first simulated day (the 1st of a month).
    pub start: NaiveDate,
}

impl Spec {
    /// The last simulated day: `months` calendar months after `start`, plus the days the
    /// last month's bill needs to fall due, so the last cycle is paid or gated too.
    pub fn end(&self) -> NaiveDate {
        let end = self.start.checked_add_months(chrono::Months::new(self.months)).unwrap_or(self.start);
        end + chrono::Duration::days(15)
    }
}

//! Monthly billing cycles with a controlled clock, on both stores: 14 months of accounts that
//! pay on time, late, partly and never (their line states, bills and emails month by month),
//! and a cycle close stopped after k lines and run again (every line billed exactly once);
//! the days a line may draw while its bill is paid come from `cycle_gating`, and a reduced
//! line paid up gets the limit `line_restore` gives it.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use common::{TestStore, open_credit_line, repo};
use creditline::app::App;
use creditline::config::Config;
use creditline::domain::{EmailAddress, Money, Period, SubjectId};
use creditline::services::ManualClock;
use creditline::services::billing::escalation;
use creditline::services::billing::{close, gate, pay, scheduled};
use creditline::services::ledger::Ledger;
use creditline::services::rereview;

fn app(t: &TestStore, clock: Arc<ManualClock>) -> Arc<App> {
    let mut config = Config {
        rules_dir: repo().join("rules"),
        workflows_dir: repo().join("workflows"),
        templates_dir: repo().join("templates"),
        ..Default::default()
    };
    // Two lines a batch and a page: every close and scan here crosses pages (the escalation
    // scan reads the next page while it assesses the current one).
    config.billing.close_batch = 2;
    App::assemble(config, t.store.clone(), clock).unwrap()
}

fn day(year: i32, month: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, d, 12, 0, 0).unwrap()
}

async fn state(app: &App, line: SubjectId) -> String {
    app.store.credit_line(line).await.unwrap().unwrap().state
}

async fn emails(app: &App, line: SubjectId) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for o in app.store.outbox_for(line).await.unwrap() {
        if o.kind == "email" {
            *out.entry(o.name).or_default() += 1;
        }
    }
    out
}

async fn owed(app: &App, account: &str) -> i64 {
    app.store.unpaid_bills(account).await.unwrap().iter().map(|b| b.amount_cents - b.paid_cents).sum()
}

/// Policy: "To receive or continue a credit line for the next month, the account must complete
/// payment for the previous month's bill." What a line's account owes on bills plus what the line
/// drew in the month in progress (billed or not) never exceeds one month of its limit plus its
/// limit pro rata for the days `cycle_gating` lets it draw while a bill is paid (checked after
/// the month's close); `worst` keeps the highest seen.
async fn exposure(app: &App, line: SubjectId, period: Period, worst: &mut i64) {
    let l = app.store.credit_line(line).await.unwrap().unwrap();
    let days = Ledger::new(app).draw_days();
    let total = owed(app, &l.account_email).await + app.store.credit_used(line, period).await.unwrap();
    let bound = l.monthly_limit_cents + l.monthly_limit_cents * days / period.days();
    assert!(total <= bound, "{} in {period}: owes and drew {total}, more than {bound}", l.account_email);
    *worst = (*worst).max(total);
}

const ACCOUNTS: [&str; 5] = ["ontime@acme.io", "late@acme.io", "partly@acme.io", "never@acme.io", "grower@scale.io"];

/// Policy: "To receive or continue a credit line for the next month, the account must complete
/// payment for the previous month's bill. WaveSpeedAI may pause, reduce, or decline the next
/// month's credit line if the previous bill is unpaid or payment cannot be confirmed."
async fn fourteen_months_of_paying_on_time_late_partly_and_never(t: TestStore) {
    let clock = Arc::new(ManualClock::new(day(2027, 1, 1)));
    let app = app(&t, clock.clone());
    let mut lines = BTreeMap::new();
    for a in ACCOUNTS {
        lines.insert(a, open_credit_line(&app, a, 20_000).await);
    }
    let who = |a: &str| EmailAddress::parse(a).unwrap();
    let grower_of = || who("grower@scale.io");
    let mut worst = 0;
    let mut history: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut limits: Vec<i64> = Vec::new();
    let (mut year, mut month) = (2027, 1);
    for m in 0..14 {
        let period = Period::new(year, month).unwrap();
        // Day 1: close last month (twice: the second run bills nothing).
        clock.set(day(year, month, 1));
        if m > 0 {
            let previous = period.previous().unwrap();
            let first = close(&app, previous, None).await.unwrap();
            let again = close(&app, previous, None).await.unwrap();
            assert_eq!(again.billed, 0, "{previous}: a second close bills nothing");
            assert!(first.billed <= ACCOUNTS.len(), "{first:?}");
        }
        // Day 1, before the close ran: "never" tries to draw on the new month at once.
        if m > 0 {
            clock.set(day(year, month, 1) - chrono::Duration::hours(11));
            let _ = Ledger::new(&app)
                .debit(&who("never@acme.io"), Money::from_cents(1_000), &format!("early:{period}"))
                .await;
        }
        // Day 2: on time (and the grower) pay everything owed; "partly" pays half of it.
        clock.set(day(year, month, 2) - chrono::Duration::hours(1));
        let due = owed(&app, "grower@scale.io").await;
        if due > 0 {
            pay(&app, &grower_of(), Money::from_cents(due), "stripe", &format!("gp-{period}")).await.unwrap();
        }
        let due = owed(&app, "ontime@acme.io").await;
        if due > 0 {
            pay(&app, &who("ontime@acme.io"), Money::from_cents(due), "stripe", &format!("ot-{period}")).await.unwrap();
        }
        let due = owed(&app, "partly@acme.io").await;
        if due > 1 {
            pay(&app, &who("partly@acme.io"), Money::from_cents(due / 2), "stripe", &format!("pt-{period}"))
                .await
                .unwrap();
        }
        // Then each account uses $150 (refused where the line does not allow it: a bill unpaid).
        clock.set(day(year, month, 2));
        for a in ACCOUNTS.iter().filter(|a| !a.starts_with("grower")) {
            let _ = Ledger::new(&app).debit(&who(a), Money::from_cents(15_000), &format!("{a}:{period}")).await;
        }
        // The grower buys $4,000 of prepaid credit a month and uses it all, and its whole line.
        let grower = grower_of();
        let limit = app.store.credit_line(lines["grower@scale.io"]).await.unwrap().unwrap().monthly_limit_cents;
        Ledger::new(&app).top_up(&grower, Money::from_cents(400_000), "stripe", &format!("gr-{period}")).await.unwrap();
        Ledger::new(&app).debit(&grower, Money::from_cents(400_000 + limit), &format!("gr-{period}")).await.unwrap();
        limits.push(limit);
        exposure(&app, lines["never@acme.io"], period, &mut worst).await;
        // Day 3: a reviewer approves what is in review; a deposit asked for is paid and held.
        clock.set(day(year, month, 3));
        for (inc, st) in app.store.increases_for_line(lines["grower@scale.io"]).await.unwrap() {
            if st == "awaiting_deposit" {
                Ledger::new(&app)
                    .hold_deposit(
                        &grower,
                        Money::from_cents(asked(&app, inc.id).await),
                        "bank",
                        &format!("wire-{period}"),
                    )
                    .await
                    .unwrap();
                let r = escalation::scan(&app).await.unwrap();
                assert_eq!(r.deposits_recorded, 1, "{r:?}");
            }
        }
        for (inc, st) in app.store.increases_for_line(lines["grower@scale.io"]).await.unwrap() {
            if st == "pending_review" {
                escalation::approve(&app, inc.id, "reviewer:sam").await.unwrap();
            }
        }
        // Day 12 and 20: gating (bills are due on the 10th). Day 14: "late" pays.
        for d in [12, 14, 20, 28] {
            clock.set(day(year, month, d));
            if d == 14 {
                let due = owed(&app, "late@acme.io").await;
                if due > 0 {
                    pay(&app, &who("late@acme.io"), Money::from_cents(due), "paypal", &format!("lt-{period}"))
                        .await
                        .unwrap();
                }
                // Paid, "late" has its line back for the rest of the month.
                let late = who("late@acme.io");
                let _ = Ledger::new(&app).debit(&late, Money::from_cents(15_000), &format!("late-15:{period}")).await;
            } else {
                gate(&app).await.unwrap();
            }
            for a in ACCOUNTS {
                history.entry(a).or_default().push(format!("{}-{:02}:{}", period, d, state(&app, lines[a]).await));
            }
            exposure(&app, lines["never@acme.io"], period, &mut worst).await;
        }
        (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    }
    let at = |a: &str, when: &str| {
        history[a]
            .iter()
            .find(|h| h.starts_with(when))
            .unwrap_or_else(|| panic!("{a} {when}: {:?}", history[a]))
            .clone()
    };

    // On time: never gated, a bill every month, all paid, one bill email per bill.
    assert!(history["ontime@acme.io"].iter().all(|h| h.ends_with(":active")), "{:?}", history["ontime@acme.io"]);
    let bills = app.store.bills_for_line(lines["ontime@acme.io"]).await.unwrap();
    assert_eq!(bills.len(), 13, "January 2027 to January 2028");
    assert!(bills.iter().all(|b| b.amount_cents == 15_000 && b.paid_cents == 15_000 && b.paid_at.unwrap() < b.due_at));
    let e = emails(&app, lines["ontime@acme.io"]).await;
    assert_eq!(e.get("bill_issued"), Some(&13), "{e:?}");
    assert_eq!(e.get("payment_reminder"), None, "{e:?}");

    // Late: grace (a reminder) after the due date, restored by the payment, every month.
    assert_eq!(at("late@acme.io", "2027-02-12"), "2027-02-12:grace");
    assert_eq!(at("late@acme.io", "2027-02-14"), "2027-02-14:active");
    assert!(history["late@acme.io"].last().unwrap().ends_with(":active"));
    let e = emails(&app, lines["late@acme.io"]).await;
    assert_eq!(e.get("payment_reminder"), Some(&13), "{e:?}");
    assert_eq!(e.get("line_restored"), Some(&13), "{e:?}");
    assert_eq!(owed(&app, "late@acme.io").await, 0);

    // Partly: grace first, then reduced in proportion to what was paid (half: $100).
    assert_eq!(at("partly@acme.io", "2027-02-12"), "2027-02-12:grace");
    assert_eq!(at("partly@acme.io", "2027-02-20"), "2027-02-20:reduced");
    let line = app.store.credit_line(lines["partly@acme.io"]).await.unwrap().unwrap();
    assert!(line.monthly_limit_cents <= 10_000, "{line:?}");
    assert!(emails(&app, lines["partly@acme.io"]).await.contains_key("line_reduced"));

    // Never: grace, paused (credit refused, prepaid still works), then closed once the first
    // bill (due 11 February) is more than 60 days overdue.
    assert_eq!(at("never@acme.io", "2027-02-12"), "2027-02-12:grace");
    assert_eq!(at("never@acme.io", "2027-02-20"), "2027-02-20:paused");
    assert_eq!(at("never@acme.io", "2027-04-12"), "2027-04-12:paused", "{:?}", history["never@acme.io"]);
    assert_eq!(at("never@acme.io", "2027-04-20"), "2027-04-20:closed", "{:?}", history["never@acme.io"]);
    let e = emails(&app, lines["never@acme.io"]).await;
    assert_eq!((e.get("line_paused"), e.get("line_closed")), (Some(&1), Some(&1)), "{e:?}");
    // It used $150 in January and nothing after: the gate shut the line from 1 February on.
    assert_eq!(worst, 15_000, "the most \"never\" ever owed or drew");
    let never = who("never@acme.io");
    assert!(Ledger::new(&app).debit(&never, Money::from_cents(100), "after-close").await.is_err());
    Ledger::new(&app).top_up(&never, Money::from_cents(5_000), "stripe", "pi_never").await.unwrap();
    let d = Ledger::new(&app).debit(&never, Money::from_cents(100), "after-close-2").await.unwrap();
    assert_eq!((d.prepaid.cents(), d.credit.cents()), (100, 0), "prepaid access stays after the line is closed");
    // The closed line is billed no more: January 2027 to March 2027 only.
    let bills = app.store.bills_for_line(lines["never@acme.io"]).await.unwrap();
    let months: Vec<(String, i64)> = bills.into_iter().map(|b| (b.period, b.amount_cents)).collect();
    assert_eq!(months, [("2027-01".into(), 15_000), ("2027-02".into(), 0), ("2027-03".into(), 0)]);

    // The grower climbs the ladder, $200 -> $500 -> $1,000 -> $2,000, each step proposed at a
    // cycle close and approved by a reviewer; $5,000 only after its deposit was held (and in
    // the last month $10,000, after a deposit of $10,000 more).
    let mut steps = limits.clone();
    steps.dedup();
    assert_eq!(steps, [20_000, 50_000, 100_000, 200_000, 500_000], "{limits:?}");
    let increases = app.store.increases_for_line(lines["grower@scale.io"]).await.unwrap();
    let approved: Vec<i64> =
        increases.iter().filter(|(_, s)| s == "approved").map(|(r, _)| r.next_limit_cents).collect();
    assert_eq!(approved, [50_000, 100_000, 200_000, 500_000, 1_000_000], "{increases:?}");
    let (big, _) = increases.iter().find(|(r, _)| r.next_limit_cents == 500_000).unwrap();
    assert_eq!(big.deposit_cents, 500_000);
    let path: Vec<String> = app.store.events(big.id).await.unwrap().into_iter().map(|e| e.to_state).collect();
    assert_eq!(path, ["proposed", "awaiting_deposit", "pending_review", "approved"]);
    let mails: Vec<String> = app.store.outbox_for(big.id).await.unwrap().into_iter().map(|o| o.name).collect();
    assert!(
        mails.contains(&"deposit_required".to_string()) && mails.contains(&"limit_increase_approved".to_string()),
        "{mails:?}"
    );
    // The $10,000 rung needs a guarantee of $10,000, of which $5,000 was held: only the
    // shortfall was asked.
    let (ten, _) = increases.iter().find(|(r, _)| r.next_limit_cents == 1_000_000).unwrap();
    assert_eq!((ten.deposit_cents, asked(&app, ten.id).await), (1_000_000, 500_000));
    assert_eq!(
        app.store.balances("grower@scale.io").await.unwrap().deposit_cents,
        1_000_000,
        "deposits are held, not spent, and never asked twice"
    );
    // Nobody else was proposed anything: on time uses 75% of its line but its volume is too
    // small for $500; the others are not healthy.
    for a in ["ontime@acme.io", "late@acme.io", "partly@acme.io", "never@acme.io"] {
        assert!(app.store.increases_for_line(lines[a]).await.unwrap().is_empty(), "{a}");
    }

    let problems = Ledger::new(&app).verify().await.unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

/// What the `deposit_required` email of `subject` asked to pay (the shortfall).
async fn asked(app: &App, subject: SubjectId) -> i64 {
    let mails = app.store.outbox_for(subject).await.unwrap();
    let mail = mails.iter().rev().find(|o| o.name == "deposit_required").expect("a deposit_required email");
    mail.payload["deposit_cents"].as_i64().unwrap()
}

async fn a_close_stopped_midway_and_rerun_bills_every_line_exactly_once(t: TestStore) {
    let clock = Arc::new(ManualClock::new(day(2027, 3, 3)));
    let app = app(&t, clock.clone());
    let mut lines = Vec::new();
    for i in 0..30 {
        let a = format!("acct{i}@firm{i}.io");
        let line = open_credit_line(&app, &a, 20_000).await;
        if i % 3 != 0 {
            Ledger::new(&app).debit(&EmailAddress::parse(&a).unwrap(), Money::from_cents(1000 + i), "m").await.unwrap();
        }
        lines.push(line);
    }
    let period = Period::new(2027, 3).unwrap();
    assert!(close(&app, period, None).await.is_err(), "March cannot be closed before it ends");
    clock.set(day(2027, 4, 1));
    let first = close(&app, period, Some(7)).await.unwrap();
    assert!(first.stopped && first.billed == 7, "{first:?}");
    // The rerun, and a second worker closing at the same moment, finish the rest.
    let (a, b) = tokio::join!(close(&app, period, None), close(&app, period, None));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(first.billed + a.billed + b.billed, 30, "{a:?} {b:?}");
    for (i, line) in lines.iter().enumerate() {
        let bills = app.store.bills_for_line(*line).await.unwrap();
        assert_eq!(bills.len(), 1, "line {i}");
        let expected = if i % 3 == 0 { 0 } else { 1000 + i as i64 };
        assert_eq!(bills[0].amount_cents, expected);
        let mails = emails(&app, *line).await;
        assert_eq!(mails.get("bill_issued").copied().unwrap_or(0), usize::from(expected > 0), "line {i}: {mails:?}");
        assert_eq!(bills[0].due_at, Utc.with_ymd_and_hms(2027, 4, 11, 0, 0, 0).unwrap(), "due 10 days after the month");
    }
    // The daily gating and bill-reminder scans read only the lines that owe: the ones billed
    // something, until their bill is paid in full (then, and for a zero bill, none).
    let owing = |app: Arc<App>| async move {
        let filter = creditline::store::CreditLineFilter { owing: true, limit: 100, ..Default::default() };
        let mut ids: Vec<SubjectId> =
            app.store.list_credit_lines(&filter).await.unwrap().iter().map(|l| l.id).collect();
        ids.sort();
        ids
    };
    let mut billed: Vec<SubjectId> = lines.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(_, l)| *l).collect();
    billed.sort();
    assert_eq!(owing(app.clone()).await, billed);
    pay(&app, &EmailAddress::parse("acct1@firm1.io").unwrap(), Money::from_cents(1001), "stripe", "paid-1")
        .await
        .unwrap();
    billed.retain(|l| *l != lines[1]);
    assert_eq!(owing(app.clone()).await, billed, "a line paid in full owes nothing");
}

async fn the_scheduled_job_catches_up_missed_months_once_on_every_worker(t: TestStore) {
    let clock = Arc::new(ManualClock::new(day(2027, 1, 3)));
    let app = app(&t, clock.clone());
    let line = open_credit_line(&app, "ops@tick.io", 20_000).await;
    let who = EmailAddress::parse("ops@tick.io").unwrap();
    Ledger::new(&app).debit(&who, Money::from_cents(1_000), "jan").await.unwrap();
    // The workers were down from January to April: the first tick closes January, February
    // and March, oldest first; two workers ticking at once bill nothing twice.
    clock.set(day(2027, 4, 2));
    let (a, b) = tokio::join!(scheduled(&app), scheduled(&app));
    let (a, b) = (a.unwrap(), b.unwrap());
    let months: Vec<String> = app.store.bills_for_line(line).await.unwrap().into_iter().map(|b| b.period).collect();
    assert_eq!(months, ["2027-01", "2027-02", "2027-03"]);
    let billed: usize = a.closed.iter().chain(&b.closed).map(|c| c.billed).sum();
    assert_eq!(billed, 3, "{a:?} {b:?}");
    let again = scheduled(&app).await.unwrap();
    assert!(again.closed.is_empty(), "{again:?}");
    for p in ["2027-01", "2027-02", "2027-03"] {
        assert!(app.store.cycle_closed(p.parse().unwrap()).await.unwrap(), "{p} recorded as closed");
    }
}

async fn a_deferred_applicant_with_a_stable_prepaid_history_gets_a_re_review(t: TestStore) {
    let clock = Arc::new(ManualClock::new(day(2027, 1, 3)));
    let app = app(&t, clock.clone());
    let raw = std::fs::read(repo().join("tests/corpus/14-quoted-reply-ignored.eml")).unwrap();
    let report = creditline::services::inbound::ingest(&app, "14", &raw).await.unwrap();
    let id: creditline::domain::ApplicationId = report.application_id.unwrap().parse().unwrap();
    // A second applicant deferred the same way, with no prepaid history: the scan reads a
    // page of applications at once, and each must be judged on its own account's entries.
    let other = String::from_utf8(raw.clone()).unwrap().replace("orbitnotes.com", "quillnotes.com");
    let report = creditline::services::inbound::ingest(&app, "14b", other.as_bytes()).await.unwrap();
    let other_id: creditline::domain::ApplicationId = report.application_id.unwrap().parse().unwrap();
    clock.set(day(2027, 1, 20));
    creditline::services::reminders::scan(&app).await.unwrap();
    let application = app.store.application(id).await.unwrap().unwrap();
    assert_eq!(application.state, "deferred");
    assert_eq!(app.store.application(other_id).await.unwrap().unwrap().state, "deferred");
    let account = EmailAddress::parse(&application.account_email).unwrap();
    // Not eligible yet: no prepaid history.
    assert_eq!(rereview::scan(&app).await.unwrap().reopened, 0);
    for (m, d) in [(2, 1), (3, 1), (4, 1)] {
        clock.set(day(2027, m, d));
        Ledger::new(&app).top_up(&account, Money::from_cents(10_000), "stripe", &format!("t{m}")).await.unwrap();
        Ledger::new(&app).debit(&account, Money::from_cents(6_000), &format!("u{m}")).await.unwrap();
    }
    let r = rereview::scan(&app).await.unwrap();
    assert_eq!(r.reopened, 1, "{r:?}");
    assert_eq!(app.store.application(id).await.unwrap().unwrap().state, "pending_review");
    assert_eq!(app.store.application(other_id).await.unwrap().unwrap().state, "deferred", "no history of its own");
    let events = app.store.events(id.into()).await.unwrap();
    assert_eq!(events.last().unwrap().event, "re_review");
    assert_eq!(events.last().unwrap().decision_ids.len(), 1, "the rule's decision is recorded with the step");
    let filter =
        creditline::store::TaskFilter { kind: Some("application_review".into()), limit: 100, ..Default::default() };
    let tasks = app.store.list_tasks(&filter).await.unwrap();
    assert!(tasks.iter().any(|t| t.subject_id == Some(id.into()) && t.state == "open"), "{tasks:?}");
    assert_eq!(rereview::scan(&app).await.unwrap().reopened, 0, "once");
}

/// An emailed request for a higher limit, as the support inbox receives it.
fn increase_request(n: u32, account: &str, to: &str) -> Vec<u8> {
    format!(
        "Message-ID: <raise-{n}@ledgerly.io>\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\nFrom: {account}\r\n\
         To: support@wavespeed.ai\r\nSubject: Increase our credit line\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nCould you raise our credit line for {account} to {to}/month?\r\n"
    )
    .into_bytes()
}

async fn an_emailed_increase_request_goes_through_the_limit_increase_rule(t: TestStore) {
    let clock = Arc::new(ManualClock::new(day(2027, 1, 1)));
    let app = app(&t, clock.clone());
    let account = "ops@ledgerly.io";
    let line = open_credit_line(&app, account, 20_000).await;
    let who = EmailAddress::parse(account).unwrap();
    let increase_of = |report: &creditline::services::inbound::Report| {
        assert_eq!(report.outcome, "limit_increase_request", "{report:?}");
        report.state.clone().unwrap_or_default()
    };
    // Asked in the first month: no history yet, so the rule declines it with its reasons (an
    // email says so) and the line stays at $200.
    clock.set(day(2027, 1, 5));
    let early =
        creditline::services::inbound::ingest(&app, "early", &increase_request(1, account, "$500")).await.unwrap();
    assert_eq!(increase_of(&early), "declined");
    assert!(early.findings.contains(&"limit_increase_hold".to_string()), "{early:?}");
    let increases = app.store.increases_for_line(line).await.unwrap();
    assert_eq!(increases.len(), 1);
    let events = app.store.events(increases[0].0.id).await.unwrap();
    let assessed = events.iter().find(|e| e.event == "assessed").unwrap();
    assert_eq!(assessed.decision_ids.len(), 1, "the rule's decision is recorded with the step");
    assert!(assessed.reason.as_deref().unwrap_or_default().contains("month(s) on the line"), "{assessed:?}");
    let declined = app.store.outbox_for(increases[0].0.id).await.unwrap();
    assert!(declined.iter().any(|o| o.name == "limit_increase_declined"), "{declined:?}");
    // Three months of light use ($50 of $200, too little for the cycle to propose more on its
    // own), paid on time, and $1,000 of prepaid credit bought.
    Ledger::new(&app).top_up(&who, Money::from_cents(100_000), "stripe", "prepaid-1").await.unwrap();
    for m in 1..=3u32 {
        clock.set(day(2027, m, 2));
        let prepaid = app.store.balances(account).await.unwrap().prepaid_cents;
        Ledger::new(&app).debit(&who, Money::from_cents(prepaid + 5_000), &format!("use-{m}")).await.unwrap();
        clock.set(day(2027, m + 1, 1));
        let r = close(&app, Period::new(2027, m).unwrap(), None).await.unwrap();
        assert_eq!((r.escalation.proposed, r.escalation.awaiting_deposit), (0, 0), "{r:?}");
        clock.set(day(2027, m + 1, 4));
        pay(&app, &who, Money::from_cents(owed(&app, account).await), "stripe", &format!("pay-{m}")).await.unwrap();
        if m == 1 {
            Ledger::new(&app).top_up(&who, Money::from_cents(100_000), "stripe", "prepaid-2").await.unwrap();
        }
    }
    // Now the same request is supported: a reviewer task, never an automatic raise.
    clock.set(day(2027, 4, 6));
    let asked =
        creditline::services::inbound::ingest(&app, "asked", &increase_request(2, account, "$500")).await.unwrap();
    assert_eq!(increase_of(&asked), "pending_review");
    assert!(asked.findings.contains(&"limit_increase_propose".to_string()), "{asked:?}");
    let (open, state) = app.store.increases_for_line(line).await.unwrap().pop().unwrap();
    assert_eq!((state.as_str(), open.next_limit_cents, open.current_limit_cents), ("pending_review", 50_000, 20_000));
    let filter =
        creditline::store::TaskFilter { kind: Some("limit_increase_review".into()), limit: 100, ..Default::default() };
    let tasks = app.store.list_tasks(&filter).await.unwrap();
    assert!(tasks.iter().any(|t| t.subject_id == Some(open.id) && t.state == "open"), "{tasks:?}");
    assert_eq!(app.store.credit_line(line).await.unwrap().unwrap().monthly_limit_cents, 20_000);
    // A second request while this one is open joins it instead of opening another.
    let again =
        creditline::services::inbound::ingest(&app, "again", &increase_request(3, account, "$1,000")).await.unwrap();
    assert!(again.findings.contains(&"limit_increase_already_open".to_string()), "{again:?}");
    assert_eq!(app.store.increases_for_line(line).await.unwrap().len(), 2);
    // The reviewer approves: the line is raised to $500, for the month in progress too.
    Ledger::new(&app).debit(&who, Money::from_cents(1_000), "april-1").await.unwrap();
    escalation::approve(&app, open.id, "reviewer:sam").await.unwrap();
    assert_eq!(app.store.credit_line(line).await.unwrap().unwrap().monthly_limit_cents, 50_000);
    let d = Ledger::new(&app).debit(&who, Money::from_cents(49_000), "april-2").await.unwrap();
    assert_eq!(d.credit.cents(), 49_000, "{d:?}");
    assert!(Ledger::new(&app).debit(&who, Money::from_cents(1), "april-3").await.is_err(), "$500 and no more");
    let approved = app.store.outbox_for(open.id).await.unwrap();
    assert!(approved.iter().any(|o| o.name == "limit_increase_approved"), "{approved:?}");
}

/// Policy: "For special requests such as $5,000/month or more, WaveSpeedAI may require the
/// applicant to first deposit or top up the corresponding amount as a guarantee before granting
/// that level of credit." A line climbing to the deposit tier with part of the guarantee
/// already held (prepaid credit it asked to hold) is asked only for the shortfall; once the
/// rest is deposited the increase goes to review, and the deposit cannot be released under it.
async fn a_deposit_tier_climb_with_part_of_the_guarantee_held_asks_only_for_the_shortfall(t: TestStore) {
    let clock = Arc::new(ManualClock::new(day(2027, 1, 1)));
    let app = app(&t, clock.clone());
    let account = "climber@vault.io";
    let who = EmailAddress::parse(account).unwrap();
    let line = open_credit_line(&app, account, 200_000).await;
    let l = Ledger::new(&app);
    let mut reports = Vec::new();
    for m in 1..=3u32 {
        let period = Period::new(2027, m).unwrap();
        clock.set(day(2027, m, 2));
        // $3,000 of prepaid credit bought a month, all used, and the whole $2,000 line.
        l.top_up(&who, Money::from_cents(300_000), "stripe", &format!("pp-{period}")).await.unwrap();
        if m == 2 {
            // The account asks that $1,500 of its prepaid credit be held as a guarantee.
            l.hold_prepaid(&who, Money::from_cents(150_000), "admin:finance", "held at the account's request", "h1")
                .await
                .unwrap();
        }
        let prepaid = app.store.balances(account).await.unwrap().prepaid_cents;
        l.debit(&who, Money::from_cents(prepaid + 200_000), &format!("use-{period}")).await.unwrap();
        clock.set(day(2027, m + 1, 1));
        reports.push(close(&app, period, None).await.unwrap().escalation);
        clock.set(day(2027, m + 1, 5));
        pay(&app, &who, Money::from_cents(owed(&app, account).await), "stripe", &format!("pay-{period}"))
            .await
            .unwrap();
    }
    assert_eq!(reports.last().unwrap().awaiting_deposit, 1, "{reports:?}");
    let (increase, state) = app.store.increases_for_line(line).await.unwrap().pop().unwrap();
    assert_eq!((state.as_str(), increase.next_limit_cents), ("awaiting_deposit", 500_000));
    assert_eq!(increase.deposit_cents, 500_000, "the guarantee waited for is the whole new limit");
    assert_eq!(asked(&app, increase.id).await, 350_000, "only the shortfall is asked");
    let mail = app.store.outbox_for(increase.id).await.unwrap().into_iter().find(|o| o.name == "deposit_required");
    let data = creditline::email::context::context(&mail.unwrap().payload, None);
    let text = app.templates.render("deposit_required", &data).unwrap().text;
    for says in
        ["$5,000.00/month or more", "already\nhold $1,500.00", "Amount still needed: $3,500.00", "hold $3,500.00"]
    {
        assert!(text.contains(says), "{says:?} in {text}");
    }
    // The rest is deposited: the increase goes to review at the next scan and is approved.
    clock.set(day(2027, 4, 6));
    l.hold_deposit(&who, Money::from_cents(350_000), "bank", "wire-1").await.unwrap();
    let r = creditline::services::reminders::scan(&app).await.unwrap();
    assert_eq!(r.deposits_recorded, 1, "{r:?}");
    let approval = escalation::approve(&app, increase.id, "reviewer:sam").await.unwrap();
    assert_eq!(approval.state, "approved");
    assert_eq!(app.store.credit_line(line).await.unwrap().unwrap().monthly_limit_cents, 500_000);
    assert_eq!(app.store.balances(account).await.unwrap().deposit_cents, 500_000);
    let e = l.release_deposit(&who, Money::from_cents(1), "admin:finance", "asked back", "r1").await.unwrap_err();
    assert!(e.to_string().contains("relies on a guarantee of $5,000.00"), "{e}");
    let problems = l.verify().await.unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Policy: "To receive or continue a credit line for the next month, the account must complete
/// payment for the previous month's bill." How long a line may keep drawing while its bill is
/// paid is `cycle_gating`'s `draw_days_while_unpaid()`, not Rust's: set to 3, the line draws
/// at most three days' worth of its limit from the end of the month, then nothing until paid,
/// so a non-payer owes at most a month of its limit plus those days. A value out of range
/// refuses the rules.
async fn the_days_a_line_may_draw_while_its_bill_is_paid_are_the_cycle_gating_rules(t: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    common::copy_dir(&repo().join("rules"), &rules);
    let script = rules.join("cycle_gating.rhai");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("fn draw_days_while_unpaid() { 0 }"), "the shipped rule allows no days");
    std::fs::write(&script, text.replace("fn draw_days_while_unpaid() { 0 }", "fn draw_days_while_unpaid() { 40 }"))
        .unwrap();
    let e = creditline::rules::RuleSet::load(&rules).err().expect("40 days is out of range");
    assert!(format!("{e:?}").contains("draw_days_while_unpaid() returns 40, outside 0..=31"), "{e:?}");
    std::fs::write(&script, text.replace("fn draw_days_while_unpaid() { 0 }", "fn draw_days_while_unpaid() { 3 }"))
        .unwrap();

    let clock = Arc::new(ManualClock::new(day(2027, 3, 10)));
    let config = Config {
        rules_dir: rules,
        workflows_dir: repo().join("workflows"),
        templates_dir: repo().join("templates"),
        ..Default::default()
    };
    let app = App::assemble(config, t.store.clone(), clock.clone()).unwrap();
    assert_eq!(Ledger::new(&app).draw_days(), 3);
    let line = open_credit_line(&app, "ops@three.io", 30_000).await;
    let who = EmailAddress::parse("ops@three.io").unwrap();
    Ledger::new(&app).debit(&who, Money::from_cents(30_000), "march").await.unwrap();
    // April has 30 days: three of them are $30.00 of a $300.00 line.
    clock.set(day(2027, 4, 1) - chrono::Duration::hours(11));
    let e = Ledger::new(&app).debit(&who, Money::from_cents(3_001), "april-1").await.unwrap_err();
    assert!(e.to_string().contains("$30.00 on the credit line"), "{e}");
    Ledger::new(&app).debit(&who, Money::from_cents(3_000), "april-2").await.unwrap();
    clock.set(day(2027, 4, 3));
    close(&app, Period::new(2027, 3).unwrap(), None).await.unwrap();
    assert!(Ledger::new(&app).debit(&who, Money::from_cents(1), "april-3").await.is_err(), "allowance used");
    // From 4 April on, nothing.
    clock.set(day(2027, 4, 4) - chrono::Duration::hours(12));
    let e = Ledger::new(&app).debit(&who, Money::from_cents(1), "april-4").await.unwrap_err();
    assert!(e.to_string().contains("the bill for March 2027, $300.00, is unpaid"), "{e}");
    let mut worst = 0;
    exposure(&app, line, Period::new(2027, 4).unwrap(), &mut worst).await;
    assert_eq!(worst, 33_000, "a month of the limit and three days of it");
    let problems = Ledger::new(&app).verify().await.unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Policy: "WaveSpeedAI may pause, reduce, or decline the next month's credit line if the
/// previous bill is unpaid." A reduced line whose bills are paid is active again; whether it
/// gets its old limit back is the `line_restore` rule's decision (recorded with the step): a
/// first late cycle restores it, a second one in a year keeps the reduced limit.
async fn a_reduced_line_paid_up_is_active_again_at_the_limit_the_line_restore_rule_gives(t: TestStore) {
    let clock = Arc::new(ManualClock::new(day(2027, 1, 5)));
    let app = app(&t, clock.clone());
    let first = open_credit_line(&app, "first@slip.io", 50_000).await;
    let again = open_credit_line(&app, "again@slip.io", 50_000).await;
    let (f, a) = (EmailAddress::parse("first@slip.io").unwrap(), EmailAddress::parse("again@slip.io").unwrap());
    let limit = |line| {
        let app = app.clone();
        async move { app.store.credit_line(line).await.unwrap().unwrap().monthly_limit_cents }
    };
    Ledger::new(&app).debit(&f, Money::from_cents(20_000), "jan").await.unwrap();
    Ledger::new(&app).debit(&a, Money::from_cents(20_000), "jan").await.unwrap();
    // "again" slips once already: January's bill paid on 14 February, four days late.
    clock.set(day(2027, 2, 1));
    close(&app, Period::new(2027, 1).unwrap(), None).await.unwrap();
    clock.set(day(2027, 2, 2));
    pay(&app, &f, Money::from_cents(10_000), "stripe", "f-half").await.unwrap();
    clock.set(day(2027, 2, 14));
    pay(&app, &a, Money::from_cents(20_000), "stripe", "a-jan").await.unwrap();
    clock.set(day(2027, 2, 15));
    Ledger::new(&app).debit(&a, Money::from_cents(20_000), "feb").await.unwrap();
    // "first" is reduced in proportion to what it paid of January: half of $500.
    clock.set(day(2027, 2, 20));
    gate(&app).await.unwrap();
    assert_eq!((state(&app, first).await, limit(first).await), ("reduced".to_string(), 25_000));
    clock.set(day(2027, 2, 25));
    let paid = pay(&app, &f, Money::from_cents(10_000), "stripe", "f-rest").await.unwrap();
    assert_eq!(paid.restored, Some(first.to_string()));
    assert_eq!((state(&app, first).await, limit(first).await), ("active".to_string(), 50_000), "restored in full");
    let events = app.store.events(first).await.unwrap();
    let step = events.last().unwrap();
    assert_eq!((step.event.as_str(), step.decision_ids.len()), ("payment_confirmed", 1), "{step:?}");
    let decided = app.store.decisions_for(first).await.unwrap();
    let restore = decided.iter().find(|d| d.id == step.decision_ids[0]).unwrap();
    assert_eq!((restore.rule.as_str(), restore.outcome.as_str()), ("line_restore", "restore"));
    assert_eq!(restore.input["limit_before_cents"], 50_000);
    let mail = app.store.outbox_for(first).await.unwrap().into_iter().rfind(|o| o.name == "line_restored").unwrap();
    assert_eq!(mail.payload["monthly_limit_cents"], 50_000, "the email states the limit restored");
    let d = Ledger::new(&app).debit(&f, Money::from_cents(50_000), "feb-full").await.unwrap();
    assert_eq!(d.credit.cents(), 50_000, "the month in progress draws on the restored limit");

    // "again": February's bill half paid, reduced, then paid: its second late cycle in a year.
    clock.set(day(2027, 3, 1));
    close(&app, Period::new(2027, 2).unwrap(), None).await.unwrap();
    clock.set(day(2027, 3, 2));
    pay(&app, &a, Money::from_cents(10_000), "stripe", "a-half").await.unwrap();
    clock.set(day(2027, 3, 20));
    gate(&app).await.unwrap();
    assert_eq!((state(&app, again).await, limit(again).await), ("reduced".to_string(), 25_000));
    clock.set(day(2027, 3, 22));
    pay(&app, &a, Money::from_cents(10_000), "stripe", "a-rest").await.unwrap();
    assert_eq!((state(&app, again).await, limit(again).await), ("active".to_string(), 25_000), "kept reduced");
    let decided = app.store.decisions_for(again).await.unwrap();
    let keep = decided.iter().rfind(|d| d.rule == "line_restore").unwrap();
    assert_eq!(keep.outcome, "keep", "{keep:?}");
    assert!(keep.reasons.iter().any(|r| r.contains("2 late cycle(s)")), "{keep:?}");
    let d = Ledger::new(&app).debit(&a, Money::from_cents(25_001), "mar").await;
    assert!(d.is_err(), "the reduced limit holds");
    let problems = Ledger::new(&app).verify().await.unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Policy: "bills for credit used" (every cent drawn in a month is on that month's bill). A
/// debit planned in the last moment of a month can commit after the close read the month's
/// usage (found by the scale-out run: a bill of 1,400 cents for a line that drew 1,540). The
/// bill's write claims the usage: one read before the debit is given up, the close reads
/// again and bills the debit too; and once billed, no debit lands in the month.
async fn a_debit_racing_the_close_is_on_the_bill_or_in_the_next_month_never_lost(t: TestStore) {
    let clock = Arc::new(ManualClock::new(day(2027, 6, 15)));
    let app = app(&t, clock.clone());
    let account = "late@debit.io";
    let a = EmailAddress::parse(account).unwrap();
    let line = open_credit_line(&app, account, 20_000).await;
    Ledger::new(&app).debit(&a, Money::from_cents(1_400), "june-1").await.unwrap();
    let june = Period::new(2027, 6).unwrap();
    // The close reads June's usage at midnight...
    clock.set(Utc.with_ymd_and_hms(2027, 7, 1, 0, 0, 1).unwrap());
    let ended: Vec<&str> = app.workflow.states_where("credit_line", |s| s.terminal);
    let read = app.store.lines_to_bill(june, None, 10, &ended).await.unwrap();
    assert_eq!(read.iter().map(|(l, used)| (l.id, *used)).collect::<Vec<_>>(), vec![(line, 1_400)]);
    let stale = creditline::store::CycleWrite {
        bill: Some(creditline::store::BillWrite {
            id: uuid::Uuid::now_v7(),
            line_id: line,
            account_email: account.into(),
            period: june,
            amount_cents: 1_400,
            due_at: Utc.with_ymd_and_hms(2027, 7, 11, 0, 0, 0).unwrap(),
        }),
        at: Utc.with_ymd_and_hms(2027, 7, 1, 0, 0, 1).unwrap(),
        ..Default::default()
    };
    // ...and a debit that read the clock a moment before midnight commits after that read.
    clock.set(Utc.with_ymd_and_hms(2027, 6, 30, 23, 59, 59).unwrap());
    Ledger::new(&app).debit(&a, Money::from_cents(140), "june-last").await.unwrap();
    let lost = app.store.commit_bills(std::slice::from_ref(&stale)).await;
    assert!(matches!(lost, Err(creditline::store::StoreError::Conflict { .. })), "a bill of a stale usage: {lost:?}");
    assert!(app.store.commit_cycle(&stale).await.is_err(), "one by one too");
    assert!(app.store.bills_for_line(line).await.unwrap().is_empty(), "nothing of the stale bill is kept");
    // The close itself reads again: the late debit is on June's bill.
    clock.set(Utc.with_ymd_and_hms(2027, 7, 1, 0, 0, 2).unwrap());
    let report = close(&app, june, None).await.unwrap();
    assert_eq!(report.billed, 1);
    let bills = app.store.bills_for_line(line).await.unwrap();
    assert_eq!(bills.iter().map(|b| b.amount_cents).collect::<Vec<_>>(), vec![1_540]);
    // A debit still dated June finds the month billed: it is refused, not booked into June.
    clock.set(Utc.with_ymd_and_hms(2027, 6, 30, 23, 59, 59).unwrap());
    let late = Ledger::new(&app).debit(&a, Money::from_cents(10), "june-too-late").await;
    assert!(
        late.is_err(),
        "{late:?}: june {:?} july {:?}",
        app.store.credit_used(line, june).await,
        app.store.credit_used(line, Period::new(2027, 7).unwrap()).await
    );
    assert_eq!(app.store.credit_used(line, june).await.unwrap(), 1_540);
    // In July, June paid, it is July's.
    clock.set(day(2027, 7, 2));
    pay(&app, &a, Money::from_cents(1_540), "stripe", "june-bill").await.unwrap();
    Ledger::new(&app).debit(&a, Money::from_cents(10), "july-1").await.unwrap();
    assert_eq!(app.store.credit_used(line, Period::new(2027, 7).unwrap()).await.unwrap(), 10);
    let problems = Ledger::new(&app).verify().await.unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

store_suite!(
    a_debit_racing_the_close_is_on_the_bill_or_in_the_next_month_never_lost,
    fourteen_months_of_paying_on_time_late_partly_and_never,
    a_close_stopped_midway_and_rerun_bills_every_line_exactly_once,
    the_scheduled_job_catches_up_missed_months_once_on_every_worker,
    a_deferred_applicant_with_a_stable_prepaid_history_gets_a_re_review,
    an_emailed_increase_request_goes_through_the_limit_increase_rule,
    a_deposit_tier_climb_with_part_of_the_guarantee_held_asks_only_for_the_shortfall,
    the_days_a_line_may_draw_while_its_bill_is_paid_are_the_cycle_gating_rules,
    a_reduced_line_paid_up_is_active_again_at_the_limit_the_line_restore_rule_gives,
);

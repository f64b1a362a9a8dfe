//! The ledger on both stores: top-ups once per provider transaction (even delivered
//! concurrently), coupons (limit, expiry, once per account), deposits held and never spent,
//! usage debits (prepaid first, then this month's line, never more than both; refusals say
//! what is available), idempotent debits, concurrent debits that never overspend, a paused
//! line refusing credit while prepaid keeps working, the billing-cycle gate (no credit from
//! the end of a month that used some until its bill is paid), and `verify` over all of it.

mod common;

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use common::TestStore;
use creditline::app::App;
use creditline::domain::{BoundError, DebitError, EmailAddress, Money, Period};
use creditline::services::billing::{self, escalation};
use creditline::services::billing::{close, gate, pay};
use creditline::services::ledger::{Ledger, LedgerError};
use creditline::services::{Clock, ManualClock, payments, rereview};

fn who(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn usd(cents: i64) -> Money {
    Money::from_cents(cents)
}

async fn assert_sound(app: &App) {
    let problems = Ledger::new(app).verify().await.unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

async fn top_ups_count_once_per_provider_transaction(t: TestStore) {
    let app = t.app();
    let l = Ledger::new(&app);
    let a = who("ana@acme.io");
    let first = l.top_up(&a, usd(5000), "stripe", "pi_1").await.unwrap();
    assert!(!first.replayed);
    let again = l.top_up(&a, usd(5000), "Stripe", "pi_1").await.unwrap();
    assert!(again.replayed, "the same payment reported again");
    assert_eq!(again.entries, first.entries);
    // Delivered 16 times at once: credited once.
    let results = futures_util::future::join_all((0..16).map(|_| l.top_up(&a, usd(700), "paypal", "PAY-9"))).await;
    assert_eq!(results.iter().filter(|r| matches!(r, Ok(p) if !p.replayed)).count(), 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(app.store.balances("ana@acme.io").await.unwrap().prepaid_cents, 5700);
    assert!(matches!(l.top_up(&a, usd(0), "stripe", "pi_2").await, Err(LedgerError::Invalid(_))));
    assert_sound(&app).await;
}

async fn coupons_have_a_limit_an_expiry_and_count_once_per_account(t: TestStore) {
    let app = t.app();
    let l = Ledger::new(&app);
    l.create_coupon("welcome-10", usd(1000), 2, Utc::now() + Duration::days(30)).await.unwrap();
    l.redeem(&who("a@x.io"), "WELCOME-10").await.unwrap();
    let twice = l.redeem(&who("a@x.io"), "welcome-10").await.unwrap_err();
    assert!(matches!(&twice, LedgerError::Refused(m) if m.contains("already redeemed")), "{twice}");
    l.redeem(&who("b@x.io"), "welcome-10").await.unwrap();
    let used_up = l.redeem(&who("c@x.io"), "welcome-10").await.unwrap_err();
    assert!(matches!(&used_up, LedgerError::Refused(m) if m.contains("used up")), "{used_up}");
    assert!(l.redeem(&who("c@x.io"), "nope").await.is_err());
    assert_eq!(app.store.balances("a@x.io").await.unwrap().prepaid_cents, 1000);
    assert_eq!(app.store.balances("c@x.io").await.unwrap().prepaid_cents, 0);
    assert!(l.create_coupon("old", usd(1), 1, Utc::now() - Duration::days(1)).await.is_err(), "no expired codes");
    assert_sound(&app).await;
}

async fn debits_take_prepaid_first_then_the_line_and_never_more(t: TestStore) {
    let app = t.app();
    let l = Ledger::new(&app);
    let a = who("ops@lumen.io");
    let line = common::open_credit_line(&app, "ops@lumen.io", 20_000).await;
    l.top_up(&a, usd(5000), "stripe", "pi_a").await.unwrap();
    l.hold_deposit(&a, usd(500_000), "bank", "wire-1").await.unwrap();

    let d = l.debit(&a, usd(3000), "req-1").await.unwrap();
    assert_eq!((d.prepaid, d.credit, d.replayed), (usd(3000), usd(0), false));
    let d = l.debit(&a, usd(7000), "req-2").await.unwrap();
    assert_eq!((d.prepaid, d.credit, d.line_id), (usd(2000), usd(5000), Some(line)));
    let again = l.debit(&a, usd(7000), "req-2").await.unwrap();
    assert!(again.replayed && again.prepaid == usd(2000) && again.credit == usd(5000), "{again:?}");
    assert!(matches!(l.debit(&a, usd(1), "req-2").await, Err(LedgerError::KeyReused(_))));

    // $150 left on the line; the deposit is held, never spent.
    let refused = l.debit(&a, usd(15_001), "req-3").await.unwrap_err();
    let LedgerError::Debit(DebitError::Refused(r)) = &refused else { panic!("{refused}") };
    assert_eq!((r.available, r.prepaid, r.credit), (usd(15_000), usd(0), usd(15_000)), "{refused}");
    assert!(refused.to_string().contains("only $150.00 available"), "{refused}");
    l.debit(&a, usd(15_000), "req-4").await.unwrap();
    assert_eq!(app.store.balances("ops@lumen.io").await.unwrap().deposit_cents, 500_000);
    assert!(l.debit(&a, usd(1), "req-5").await.is_err());

    // Released by an admin, the deposit becomes prepaid credit.
    l.release_deposit(&a, usd(100_000), "admin:finance", "line closed", "rel-1").await.unwrap();
    assert_eq!(l.debit(&a, usd(1000), "req-6").await.unwrap().prepaid, usd(1000));
    assert!(l.adjust(&a, -1_000_000, "admin:finance", "typo", "adj-1").await.is_err(), "never below zero");
    l.adjust(&a, -500, "admin:finance", "refund fee", "adj-2").await.unwrap();
    let b = app.store.balances("ops@lumen.io").await.unwrap();
    assert_eq!((b.prepaid_cents, b.deposit_cents), (100_000 - 1000 - 500, 400_000));
    assert_sound(&app).await;
}

async fn a_paused_line_refuses_credit_while_prepaid_keeps_working(t: TestStore) {
    let app = t.app();
    let l = Ledger::new(&app);
    let a = who("dev@orbit.io");
    let line = common::open_credit_line(&app, "dev@orbit.io", 20_000).await;
    l.top_up(&a, usd(1000), "stripe", "pi_o").await.unwrap();
    let fired = app
        .workflow
        .fire(
            creditline::services::Fire::new(line, "gated", "system:cycle")
                .decision("cycle_gating", "pause", creditline::domain::DecisionId::new())
                .data("period", "2026-10"),
        )
        .await
        .unwrap();
    assert_eq!(fired.to, "paused");
    let e = l.debit(&a, usd(1001), "u1").await.unwrap_err();
    assert!(e.to_string().contains("$0.00 on the credit line"), "{e}");
    assert_eq!(l.debit(&a, usd(1000), "u2").await.unwrap().prepaid, usd(1000), "prepaid still works");
    assert_sound(&app).await;
}

async fn concurrent_debits_on_one_account_never_overspend(t: TestStore) {
    let app: Arc<App> = t.app();
    let a = who("hot@busy.io");
    common::open_credit_line(&app, "hot@busy.io", 10_000).await;
    Ledger::new(&app).top_up(&a, usd(5_000), "stripe", "pi_h").await.unwrap();
    // $150 available; 64 debits of $7 race for it: at most 21 fit.
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let app = app.clone();
            let a = a.clone();
            tokio::spawn(async move { Ledger::new(&app).debit(&a, usd(700), &format!("k{i}")).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(LedgerError::Debit(DebitError::Refused(_))) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 21, "every debit that fits succeeds, none beyond");
    let (prepaid, credit) = Ledger::new(&app).available(&a).await.unwrap();
    assert_eq!(prepaid.cents() + credit.cents(), 15_000 - 21 * 700);
    assert_sound(&app).await;
}

async fn debits_arriving_together_are_posted_once_each(t: TestStore) {
    let app: Arc<App> = t.app();
    let twice = who("twice@busy.io");
    Ledger::new(&app).top_up(&twice, usd(10_000), "stripe", "pi_t").await.unwrap();
    let others: Vec<EmailAddress> = (0..32).map(|i| who(&format!("o{i}@many.io"))).collect();
    for (i, o) in others.iter().enumerate() {
        Ledger::new(&app).top_up(o, usd(100), "stripe", &format!("pi_o{i}")).await.unwrap();
    }
    // One debit delivered 32 times at once, among 32 other accounts' debits (queued together,
    // so batches hold the same key more than once).
    let mut tasks = Vec::new();
    for o in &others {
        let (first, second, a, o) = (app.clone(), app.clone(), twice.clone(), o.clone());
        tasks.push(tokio::spawn(async move { Ledger::new(&first).debit(&a, usd(300), "once").await }));
        tasks.push(tokio::spawn(async move { Ledger::new(&second).debit(&o, usd(100), "mine").await }));
    }
    let mut fresh = 0;
    for t in tasks {
        let d = t.await.unwrap().unwrap();
        fresh += usize::from(!d.replayed);
        assert_eq!(d.prepaid.cents() + d.credit.cents(), if d.prepaid == usd(300) { 300 } else { 100 });
    }
    assert_eq!(fresh, 1 + 32, "the repeated debit once, every other account's once");
    assert_eq!(app.store.balances("twice@busy.io").await.unwrap().prepaid_cents, 9_700);
    for o in &others {
        assert_eq!(app.store.balances(o.as_str()).await.unwrap().prepaid_cents, 0, "{o}");
    }
    assert_sound(&app).await;
}

/// The drawing states of `workflows/credit_line` and the batch request of a debit.
const DRAWING: [&str; 3] = ["active", "grace", "reduced"];

fn batch_debit(account: &str, cents: i64, key: &str, at: chrono::DateTime<Utc>) -> creditline::store::DebitRequest {
    creditline::store::DebitRequest {
        account_email: account.to_string(),
        amount: usd(cents),
        keys: [format!("usage:{account}:{key}:prepaid"), format!("usage:{account}:{key}:credit")],
        period: Period::containing(at),
        at,
        draw_days: 0,
    }
}

/// A batch written by the store itself (`post_debits`, not through the queue, whose fallback
/// would hide a batch that cannot be written): a line's first draw of the month makes its
/// usage row, a later batch moves it, prepaid goes first, a debit over what is left is
/// refused in the domain's words, and the same keys again answer what was written.
async fn a_batch_of_debits_is_planned_in_order_and_written_once(t: TestStore) {
    use creditline::store::{DebitResult, DrawingLines};
    let at = noon(2026, 10, 15);
    let app = app_at(&t, Arc::new(ManualClock::new(at)));
    let line = common::open_credit_line(&app, "lined@batch.io", 20_000).await;
    Ledger::new(&app).top_up(&who("paid@batch.io"), usd(1_000), "stripe", "pi_b").await.unwrap();
    let lines = DrawingLines { workflow: "credit_line", states: &DRAWING };
    let first = [
        batch_debit("lined@batch.io", 100, "a", at),
        batch_debit("paid@batch.io", 300, "b", at),
        batch_debit("lined@batch.io", 200, "c", at),
        batch_debit("paid@batch.io", 800, "d", at),
    ];
    let posted = app.store.post_debits(&first, &lines, &|| at).await.unwrap();
    let credit = |r: &DebitResult| match r {
        DebitResult::Posted { split, line_id } => (split.prepaid.cents(), split.credit.cents(), *line_id),
        other => panic!("{other:?}"),
    };
    assert_eq!(credit(&posted[0]), (0, 100, Some(line)));
    assert_eq!(credit(&posted[1]), (300, 0, None));
    assert_eq!(credit(&posted[2]), (0, 200, Some(line)));
    assert!(
        matches!(&posted[3], DebitResult::Refused(DebitError::Refused(r)) if r.available == usd(700)),
        "{posted:?}"
    );
    let again = app.store.post_debits(&[batch_debit("lined@batch.io", 50, "e", at)], &lines, &|| at).await.unwrap();
    assert_eq!(credit(&again[0]), (0, 50, Some(line)));
    assert_eq!(app.store.credit_used(line, Period::containing(at)).await.unwrap(), 350);
    assert_eq!(app.store.balances("paid@batch.io").await.unwrap().prepaid_cents, 700);
    let replayed = app.store.post_debits(&first[..2], &lines, &|| at).await.unwrap();
    assert!(replayed.iter().all(|r| matches!(r, DebitResult::Existing(_))), "{replayed:?}");
    assert_sound(&app).await;
}

/// A batch whose caller goes away mid-way (here: a panic between its reads and its write,
/// where SQLite's transaction is open) leaves nothing begun behind: the next batch is written.
async fn a_batch_abandoned_mid_way_leaves_no_transaction_open(t: TestStore) {
    use creditline::store::{DebitResult, DrawingLines};
    let at = noon(2026, 10, 15);
    let app = app_at(&t, Arc::new(ManualClock::new(at)));
    Ledger::new(&app).top_up(&who("left@batch.io"), usd(1_000), "stripe", "pi_l").await.unwrap();
    let store = app.store.clone();
    let abandoned = tokio::spawn(async move {
        let lines = DrawingLines { workflow: "credit_line", states: &DRAWING };
        store.post_debits(&[batch_debit("left@batch.io", 100, "gone", at)], &lines, &|| panic!("caller gone")).await
    })
    .await;
    assert!(abandoned.is_err(), "the batch's task ended in the panic");
    let lines = DrawingLines { workflow: "credit_line", states: &DRAWING };
    let posted = app.store.post_debits(&[batch_debit("left@batch.io", 100, "next", at)], &lines, &|| at).await.unwrap();
    assert!(matches!(posted.as_slice(), [DebitResult::Posted { .. }]), "{posted:?}");
    assert_eq!(
        app.store.balances("left@batch.io").await.unwrap().prepaid_cents,
        900,
        "the abandoned one wrote nothing"
    );
    assert_sound(&app).await;
}

/// PostgreSQL plans a batch without a lock (another process may write between its reads and
/// its write): a draw that no longer fits when the batch writes fails the whole batch, with
/// nothing of it written, and one that still fits is written. The competing draw commits
/// from inside the batch, between its reads and its write (`now` is read there).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_a_batch_whose_line_moved_after_its_reads_is_written_whole_or_not_at_all() {
    use creditline::domain::{Bucket, EntryKind};
    use creditline::store::{CreditDraw, DebitResult, DrawingLines, EntryWrite, LedgerWrite};
    let Some(t) = common::postgres().await else {
        eprintln!("CREDITLINE_TEST_DATABASE_URL not set: PostgreSQL run skipped");
        return;
    };
    let at = noon(2026, 10, 15);
    let app = app_at(&t, Arc::new(ManualClock::new(at)));
    let line = common::open_credit_line(&app, "moved@batch.io", 20_000).await;
    Ledger::new(&app).top_up(&who("moved@batch.io"), usd(50), "stripe", "pi_m").await.unwrap();
    let period = Period::containing(at);
    // Draws `cents` on the line as another process would, committed before it returns.
    let elsewhere = app.clone();
    let draw_elsewhere = move |key: &str, cents: i64| {
        let mut e =
            EntryWrite::new(EntryKind::Usage, Bucket::Credit, -cents, format!("usage:elsewhere:{key}"), "usage");
        (e.line_id, e.period) = (Some(line), Some(period));
        let draw =
            CreditDraw { line_id: line, period, limit_cents: 20_000, cents, cap_cents: 20_000, paid_before: period };
        let write = LedgerWrite {
            account_email: "moved@batch.io".into(),
            entries: vec![e],
            draw: Some(draw),
            coupon: None,
            at,
        };
        let store = elsewhere.store.clone();
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(store.post_ledger(&write))).unwrap();
    };
    let lines = DrawingLines { workflow: "credit_line", states: &DRAWING };
    let batch = [batch_debit("moved@batch.io", 15_050, "big", at)];
    let (store, draw) = (app.store.clone(), draw_elsewhere.clone());
    // The usage row is new when the batch reads it and there when it writes.
    let failed = tokio::spawn(async move {
        let drew = std::sync::Once::new();
        store
            .post_debits(&batch, &lines, &|| {
                drew.call_once(|| draw("first", 10_000));
                at
            })
            .await
    })
    .await
    .unwrap();
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(app.store.credit_used(line, period).await.unwrap(), 10_000, "the other draw only");
    assert_eq!(app.store.balances("moved@batch.io").await.unwrap().prepaid_cents, 50, "no prepaid taken either");
    assert!(
        !app.store.ledger_entries("moved@batch.io").await.unwrap().iter().any(|e| e.idempotency_key.contains(":big:"))
    );
    // The row is there when the batch reads it and moved when it writes, still within the cap.
    let store = app.store.clone();
    let batch = [batch_debit("moved@batch.io", 5_050, "small", at)];
    let posted = tokio::spawn(async move {
        let drew = std::sync::Once::new();
        store
            .post_debits(&batch, &lines, &|| {
                drew.call_once(|| draw_elsewhere("second", 1_000));
                at
            })
            .await
    })
    .await
    .unwrap()
    .unwrap();
    assert!(matches!(posted.as_slice(), [DebitResult::Posted { .. }]), "{posted:?}");
    assert_eq!(app.store.credit_used(line, period).await.unwrap(), 16_000);
    assert_sound(&app).await;
}

/// Refused in the domain's words: never accepted, never a database error.
fn over_the_maximum<T: std::fmt::Debug, E: std::fmt::Display>(r: Result<T, E>) {
    let e = r.expect_err("an amount over the maximum is refused");
    assert!(e.to_string().contains("is over the maximum of $1,000,000.00"), "{e}");
}

async fn amounts_over_the_maximum_never_enter_the_ledger(t: TestStore) {
    let app = t.app();
    let l = Ledger::new(&app);
    let a = who("max@acme.io");
    l.hold_deposit(&a, usd(100), "bank", "wire-0").await.unwrap();
    for (i, cents) in [100_000_001, i64::MAX].into_iter().enumerate() {
        let amount = usd(cents);
        over_the_maximum(l.top_up(&a, amount, "stripe", &format!("pi_{i}")).await);
        over_the_maximum(l.hold_deposit(&a, amount, "bank", &format!("wire-{i}")).await);
        over_the_maximum(l.release_deposit(&a, amount, "admin:finance", "probe", &format!("rel-{i}")).await);
        over_the_maximum(l.adjust(&a, cents, "admin:finance", "probe", &format!("adj-{i}")).await);
        over_the_maximum(l.adjust(&a, -cents, "admin:finance", "probe", &format!("neg-{i}")).await);
        over_the_maximum(l.debit(&a, amount, &format!("use-{i}")).await);
        over_the_maximum(l.create_coupon(&format!("big-{i}"), amount, 1, Utc::now() + Duration::days(1)).await);
        over_the_maximum(creditline::services::billing::pay(&app, &a, amount, "stripe", &format!("pay-{i}")).await);
    }
    over_the_maximum(l.adjust(&a, i64::MIN, "admin:finance", "probe", "min").await);
    let e = l.adjust(&a, i64::MAX, "admin:finance", "probe", "max").await.unwrap_err();
    assert_eq!(e.to_string(), "amount $92,233,720,368,547,758.07 is over the maximum of $1,000,000.00");
    // The maximum itself is an amount like any other.
    l.top_up(&a, usd(100_000_000), "stripe", "pi_max").await.unwrap();
    l.adjust(&a, -100_000_000, "admin:finance", "refund", "adj-max").await.unwrap();
    let b = app.store.balances("max@acme.io").await.unwrap();
    assert_eq!((b.prepaid_cents, b.deposit_cents), (0, 100));
    assert!(app.store.ledger_entries("max@acme.io").await.unwrap().len() == 3, "nothing else was written");
    assert_sound(&app).await;
}

/// The app over `t` with `ledger.max_amount_cents` set to `max`.
fn app_with_max(t: &TestStore, max: i64) -> Arc<App> {
    let mut config = t.app().config.clone();
    config.ledger.max_amount_cents = max;
    App::assemble(config, t.store.clone(), Arc::new(creditline::services::SystemClock)).unwrap()
}

async fn no_balance_grows_past_what_an_account_can_hold(t: TestStore) {
    let ceiling = creditline::domain::MAX_BALANCE;
    let app = app_with_max(&t, ceiling.cents());
    let l = Ledger::new(&app);
    let a = who("whale@acme.io");
    l.adjust(&a, ceiling.cents(), "admin:finance", "probe", "fill").await.unwrap();
    l.hold_deposit(&a, ceiling, "bank", "wire-1").await.unwrap();
    let full = |r: Result<_, LedgerError>, bucket: &str| {
        let e = r.expect_err("a full balance takes nothing more");
        assert!(matches!(e, LedgerError::Bound(BoundError::Balance { .. })), "{e}");
        assert_eq!(
            e.to_string(),
            format!("the {bucket} balance would exceed $10,000,000,000,000.00, the most an account can hold")
        );
    };
    full(l.top_up(&a, usd(1), "stripe", "pi_1").await, "prepaid");
    assert!(l.hold_deposit(&a, ceiling, "bank", "wire-1").await.unwrap().replayed, "a replay is still a replay");
    full(l.adjust(&a, 1, "admin:finance", "probe", "one").await, "prepaid");
    full(l.hold_deposit(&a, usd(1), "bank", "wire-2").await, "deposit");
    full(l.release_deposit(&a, usd(1), "admin:finance", "probe", "rel").await, "prepaid");
    l.create_coupon("one-more", usd(1), 1, Utc::now() + Duration::days(1)).await.unwrap();
    full(l.redeem(&a, "one-more").await, "prepaid");
    let e = creditline::services::billing::pay(&app, &a, usd(1), "stripe", "pay-1").await.unwrap_err();
    assert!(e.to_string().contains("the prepaid balance would exceed"), "{e}");
    // What it can spend is still a sum that fits, and spending works.
    let (prepaid, credit) = l.available(&a).await.unwrap();
    assert_eq!(creditline::services::ledger::sum(prepaid, credit).unwrap(), ceiling);
    l.debit(&a, usd(1), "use-1").await.unwrap();
    // A coupon made under a higher maximum is held to today's.
    l.create_coupon("jumbo", usd(200_000_000), 5, Utc::now() + Duration::days(1)).await.unwrap();
    over_the_maximum(Ledger::new(&t.app()).redeem(&who("small@acme.io"), "jumbo").await);
    assert_sound(&app).await;
}

/// The app over `t` with a clock the test moves.
fn app_at(t: &TestStore, clock: Arc<ManualClock>) -> Arc<App> {
    App::assemble(t.app().config.clone(), t.store.clone(), clock).unwrap()
}

fn noon(year: i32, month: u32, d: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, d, 12, 0, 0).unwrap()
}

/// The input the latest decision of `rule` about `subject` was given.
async fn last_input(app: &App, subject: creditline::domain::SubjectId, rule: &str) -> serde_json::Value {
    let decisions = app.store.decisions_for(subject).await.unwrap();
    decisions.iter().rev().find(|d| d.rule == rule).map(|d| d.input.clone()).unwrap_or_default()
}

/// Policy: "WaveSpeedAI may pause, reduce, or decline the next month's credit line if the
/// previous bill is unpaid or payment cannot be confirmed." A bank transfer finance announced
/// reaches `cycle_gating` as `payment_pending` (a longer grace), credits nothing until it is
/// confirmed through the ordinary payment path, and a chargeback in six months leaves no grace.
async fn gating_sees_pending_payments_and_chargebacks(t: TestStore) {
    let clock = Arc::new(ManualClock::new(noon(2027, 1, 2)));
    let app = app_at(&t, clock.clone());
    let l = Ledger::new(&app);
    let accounts = ["waiting@acme.io", "silent@acme.io", "disputed@acme.io", "slow@acme.io"];
    let mut lines = Vec::new();
    for a in accounts {
        lines.push(common::open_credit_line(&app, a, 20_000).await);
        l.debit(&who(a), usd(15_000), "jan").await.unwrap();
    }
    clock.set(noon(2027, 2, 1));
    close(&app, Period::new(2027, 1).unwrap(), None).await.unwrap();
    // A transfer on its way for the whole bill; a token one that covers little of it.
    clock.set(noon(2027, 2, 5));
    let announced = payments::announce(
        &app,
        &who("waiting@acme.io"),
        usd(15_000),
        "bank",
        "WIRE-77",
        Some("MT103 seen"),
        "admin:cli",
    )
    .await
    .unwrap();
    assert_eq!((announced.payment.state.as_str(), announced.replayed), ("pending", false));
    payments::announce(&app, &who("slow@acme.io"), usd(100), "bank", "WIRE-78", None, "admin:cli").await.unwrap();
    assert_eq!(app.store.balances("waiting@acme.io").await.unwrap().prepaid_cents, 0, "pending credits nothing");
    assert_eq!(owed_by(&app, "waiting@acme.io").await, 15_000, "pending pays nothing");
    payments::report_incident(
        &app,
        &who("disputed@acme.io"),
        "chargeback",
        "stripe",
        "dp_1",
        Some(usd(5_000)),
        "fraudulent",
        "admin:cli",
    )
    .await
    .unwrap();
    // Three days overdue: grace, except for the account with a chargeback.
    clock.set(noon(2027, 2, 13));
    gate(&app).await.unwrap();
    let states = |app: Arc<App>, lines: Vec<creditline::domain::SubjectId>| async move {
        let mut out = Vec::new();
        for id in lines {
            out.push(app.store.credit_line(id).await.unwrap().unwrap().state);
        }
        out
    };
    assert_eq!(states(app.clone(), lines.clone()).await, ["grace", "grace", "paused", "grace"]);
    let disputed = last_input(&app, lines[2], "cycle_gating").await;
    assert_eq!((disputed["chargebacks_6m"].as_i64(), disputed["failed_payments_6m"].as_i64()), (Some(1), Some(0)));
    // Twelve days overdue: the pending transfer keeps its line in grace; the others pause.
    clock.set(noon(2027, 2, 22));
    gate(&app).await.unwrap();
    assert_eq!(states(app.clone(), lines.clone()).await, ["grace", "paused", "paused", "paused"]);
    assert_eq!(last_input(&app, lines[0], "cycle_gating").await["payment_pending"], true);
    assert_eq!(last_input(&app, lines[3], "cycle_gating").await["payment_pending"], false, "$1 of $150 buys no grace");
    // The money arrives: the ordinary payment pays the bill and restores the line.
    let confirmed = payments::confirm(&app, "bank", "WIRE-77", None).await.unwrap();
    assert_eq!(confirmed.payment.state, "confirmed");
    assert_eq!(confirmed.credited.as_deref(), Some("bill_payment"));
    assert_eq!(owed_by(&app, "waiting@acme.io").await, 0);
    assert_eq!(app.store.credit_line(lines[0]).await.unwrap().unwrap().state, "active");
    assert!(payments::confirm(&app, "bank", "WIRE-77", None).await.unwrap().replayed, "once");
    let dropped = payments::drop_pending(&app, "bank", "WIRE-78", "returned by the bank").await.unwrap();
    assert_eq!(dropped.payment.state, "dropped");
    assert!(payments::confirm(&app, "bank", "WIRE-78", None).await.is_err(), "a dropped payment is never credited");
    let standing = billing::standing(&app, "slow@acme.io", clock.now()).await.unwrap();
    assert_eq!(standing.pending_bill_cents, 0);
    assert_sound(&app).await;
}

async fn owed_by(app: &App, account: &str) -> i64 {
    app.store.unpaid_bills(account).await.unwrap().iter().map(|b| b.amount_cents - b.paid_cents).sum()
}

/// Policy: "WaveSpeedAI may use recent monthly transaction volume, payment history, and account
/// usage as review factors" and "If the account later builds a stable usage and payment
/// history ... WaveSpeedAI may review the account again". Failed payments and chargebacks
/// reach `limit_increase` (the cycle's proposals and an emailed request's input) and
/// `re_review`: a chargeback in six months means no increase and no re-review.
async fn a_chargeback_stops_increases_and_re_review(t: TestStore) {
    let clock = Arc::new(ManualClock::new(noon(2027, 1, 2)));
    let app = app_at(&t, clock.clone());
    let l = Ledger::new(&app);
    let clean = common::open_credit_line(&app, "clean@grow.io", 20_000).await;
    let disputed = common::open_credit_line(&app, "disputed@grow.io", 20_000).await;
    for a in ["clean@grow.io", "disputed@grow.io"] {
        l.top_up(&who(a), usd(100_000), "stripe", &format!("pi_{a}")).await.unwrap();
    }
    payments::report_incident(
        &app,
        &who("disputed@grow.io"),
        "chargeback",
        "stripe",
        "dp_9",
        Some(usd(100_000)),
        "fraudulent",
        "admin:cli",
    )
    .await
    .unwrap();
    payments::report_incident(
        &app,
        &who("disputed@grow.io"),
        "failed_payment",
        "stripe",
        "pi_f",
        None,
        "card declined",
        "admin:cli",
    )
    .await
    .unwrap();
    // Three months using the whole line, paid before the due date.
    let mut proposed = 0;
    for m in 1..=3u32 {
        clock.set(noon(2027, m, 2));
        for a in ["clean@grow.io", "disputed@grow.io"] {
            let prepaid = app.store.balances(a).await.unwrap().prepaid_cents;
            l.debit(&who(a), usd(prepaid + 20_000), &format!("use-{m}")).await.unwrap();
        }
        clock.set(noon(2027, m + 1, 1));
        proposed += close(&app, Period::new(2027, m).unwrap(), None).await.unwrap().escalation.proposed;
        clock.set(noon(2027, m + 1, 4));
        for a in ["clean@grow.io", "disputed@grow.io"] {
            pay(&app, &who(a), usd(owed_by(&app, a).await), "stripe", &format!("pay-{a}-{m}")).await.unwrap();
        }
    }
    assert_eq!(proposed, 1, "the clean account only");
    assert_eq!(app.store.increases_for_line(clean).await.unwrap().len(), 1);
    assert!(app.store.increases_for_line(disputed).await.unwrap().is_empty(), "no increase with a chargeback");
    let line = app.store.credit_line(disputed).await.unwrap().unwrap();
    let input = escalation::line_input(&app, &line, 50_000).await.unwrap();
    assert_eq!((input.chargebacks_6m, input.failed_payments_6m), (1, 1));
    let (decision, _) = app.rules.evaluate("limit_increase", &input, None);
    assert_eq!(decision.outcome, "decline", "{decision:?}");

    // Re-review reads the same standing.
    let standing = billing::standing(&app, "disputed@grow.io", clock.now()).await.unwrap();
    let entries = app.store.ledger_entries("disputed@grow.io").await.unwrap();
    let input = rereview::input("declined", &[], &entries, &standing, clock.now() + Duration::days(100));
    assert_eq!((input.chargebacks, input.failed_payments_6m), (1, 1));
    let (decision, _) = app.rules.evaluate("re_review", &input, None);
    assert_eq!(decision.outcome, "not_eligible");
    assert!(decision.reasons.iter().any(|r| r.contains("1 chargeback(s)")), "{decision:?}");
    assert_sound(&app).await;
}

/// Policy: "For special requests such as $5,000/month or more, WaveSpeedAI may require the
/// applicant to first deposit or top up the corresponding amount as a guarantee before granting
/// that level of credit." Prepaid credit can be held as the guarantee (an explicit entry with
/// its reason); a deposit is not released while a line of the deposit tier relies on it or a
/// bill is unpaid; once the line closed unpaid, an admin applies it to the bills and the rest
/// is released.
async fn a_deposit_guarantees_its_line_and_bills_until_applied_to_them(t: TestStore) {
    use chrono::TimeZone;
    let clock = Arc::new(creditline::services::ManualClock::new(Utc.with_ymd_and_hms(2027, 1, 2, 12, 0, 0).unwrap()));
    let app = App::assemble(t.app().config.clone(), t.store.clone(), clock.clone()).unwrap();
    let l = Ledger::new(&app);
    let a = who("cfo@vault.io");
    let line = common::open_credit_line(&app, "cfo@vault.io", 500_000).await;
    l.top_up(&a, usd(300_000), "stripe", "pi_v").await.unwrap();
    l.hold_deposit(&a, usd(200_000), "bank", "wire-1").await.unwrap();

    // Prepaid credit held as the guarantee, once per key, never more than there is.
    let held = l.hold_prepaid(&a, usd(300_000), "admin:fin", "held at the account's request", "h1").await.unwrap();
    assert!(held.entries.iter().all(|e| e.kind == "prepaid_held" && e.reason.is_some()), "{held:?}");
    assert!(l.hold_prepaid(&a, usd(300_000), "admin:fin", "again", "h1").await.unwrap().replayed);
    let short = l.hold_prepaid(&a, usd(1), "admin:fin", "more", "h2").await.unwrap_err();
    assert!(matches!(&short, LedgerError::Refused(m) if m.contains("$0.00 of prepaid credit")), "{short}");
    assert!(matches!(l.hold_prepaid(&a, usd(1), "admin:fin", " ", "h3").await, Err(LedgerError::Invalid(_))));
    let b = app.store.balances("cfo@vault.io").await.unwrap();
    assert_eq!((b.prepaid_cents, b.deposit_cents), (0, 500_000));

    // The $5,000 line relies on all of it: nothing leaves but what is held beyond it.
    let e = l.release_deposit(&a, usd(1), "admin:fin", "asked back", "r1").await.unwrap_err();
    assert!(matches!(&e, LedgerError::Refused(m) if m.contains("at most $0.00 can be released")), "{e}");
    l.hold_deposit(&a, usd(50_000), "bank", "wire-2").await.unwrap();
    l.release_deposit(&a, usd(50_000), "admin:fin", "the excess", "r2").await.unwrap();

    // January's $3,500 on the line (after $500 of prepaid) is billed and not paid: the deposit
    // guarantees it.
    let d = l.debit(&a, usd(400_000), "jan").await.unwrap();
    assert_eq!((d.prepaid, d.credit), (usd(50_000), usd(350_000)), "prepaid first");
    clock.set(Utc.with_ymd_and_hms(2027, 2, 1, 12, 0, 0).unwrap());
    creditline::services::billing::close(&app, creditline::domain::Period::new(2027, 1).unwrap(), None).await.unwrap();
    let e = l.release_deposit(&a, usd(1), "admin:fin", "asked back", "r3").await.unwrap_err();
    assert!(matches!(&e, LedgerError::Refused(m) if m.contains("owes $3,500.00 on unpaid bills")), "{e}");
    let e = l.apply_deposit(&a, "admin:fin", "closed unpaid", "ad1").await.unwrap_err();
    assert!(matches!(&e, LedgerError::Refused(m) if m.contains("still guarantees it")), "{e}");

    // The line closes unpaid: the deposit pays the bill and the rest is released, once.
    let mut close = creditline::services::Fire::new(line, "close", "admin:fin").reason("unpaid");
    for (key, value) in creditline::services::billing::owed_facts(&app.store.bills_for_line(line).await.unwrap()) {
        close = close.data(key, value);
    }
    app.workflow.fire(close).await.unwrap();
    let applied = l.apply_deposit(&a, "admin:fin", "closed unpaid", "ad1").await.unwrap();
    assert_eq!((applied.applied, applied.released), (usd(350_000), usd(150_000)), "{applied:?}");
    assert_eq!(applied.bills, [("2027-01".to_string(), 350_000)]);
    assert!(l.apply_deposit(&a, "admin:fin", "closed unpaid", "ad1").await.unwrap().replayed);
    let b = app.store.balances("cfo@vault.io").await.unwrap();
    assert_eq!((b.prepaid_cents, b.deposit_cents), (150_000, 0), "the rest released into prepaid");
    assert!(app.store.unpaid_bills("cfo@vault.io").await.unwrap().is_empty());
    let kinds: Vec<String> =
        app.store.ledger_entries("cfo@vault.io").await.unwrap().into_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&"deposit_applied".to_string()), "{kinds:?}");
    assert_sound(&app).await;
}

/// Policy: "To receive or continue a credit line for the next month, the account must complete
/// payment for the previous month's bill." From the first instant of November, before the
/// scheduler has closed October, a line that used credit in October draws nothing until
/// October's bill is paid in full, through the batched debit path and the single write alike
/// (the store's guarded write refuses it whatever the caller planned); prepaid credits keep
/// working, and a line that used nothing in October is not gated.
async fn a_line_draws_nothing_from_the_end_of_a_month_that_used_credit_until_its_bill_is_paid(t: TestStore) {
    use creditline::domain::{Bucket, EntryKind, Period};
    use creditline::services::Clock;
    use creditline::store::{CreditDraw, DebitRequest, DebitResult, EntryWrite, LedgerWrite};
    let clock = Arc::new(creditline::services::ManualClock::new(noon(2026, 10, 15)));
    let app = app_at(&t, clock.clone());
    let l = Ledger::new(&app);
    let (a, idle) = (who("ops@gated.io"), who("ops@idle.io"));
    let line = common::open_credit_line(&app, "ops@gated.io", 20_000).await;
    common::open_credit_line(&app, "ops@idle.io", 20_000).await;
    assert_eq!(l.debit(&a, usd(15_000), "oct").await.unwrap().credit, usd(15_000));

    // One second into November: October is not closed, let alone billed.
    let november = noon(2026, 11, 1) - Duration::hours(12) + Duration::seconds(1);
    clock.set(november);
    let refused = l.debit(&a, usd(100), "nov-1").await.unwrap_err();
    assert!(matches!(refused, LedgerError::Debit(DebitError::Gated(_))), "{refused}");
    assert!(refused.to_string().contains("the bill for October 2026, $150.00, is unpaid"), "{refused}");
    assert_eq!(l.available(&a).await.unwrap().1, usd(0), "no credit available");
    assert_eq!(l.debit(&idle, usd(100), "nov-1").await.unwrap().credit, usd(100), "a $0 month gates nothing");
    l.top_up(&a, usd(500), "stripe", "pi_g1").await.unwrap();
    let d = l.debit(&a, usd(500), "nov-2").await.unwrap();
    assert_eq!((d.prepaid, d.credit), (usd(500), usd(0)), "prepaid credits keep working");

    // The store refuses a draw planned as if the line were open: the single write...
    let period = Period::containing(november);
    let mut e =
        EntryWrite::new(EntryKind::Usage, Bucket::Credit, -100, "usage:ops@gated.io:forged:credit".into(), "usage");
    (e.line_id, e.period) = (Some(line), Some(period));
    let draw =
        CreditDraw { line_id: line, period, limit_cents: 20_000, cents: 100, cap_cents: 20_000, paid_before: period };
    let write =
        LedgerWrite { account_email: a.to_string(), entries: vec![e], draw: Some(draw), coupon: None, at: november };
    let e = app.store.post_ledger(&write).await.unwrap_err();
    assert!(matches!(e, creditline::store::StoreError::Refused(_)), "{e}");
    // ... and the batch, which says why.
    let request = DebitRequest {
        account_email: a.to_string(),
        amount: usd(100),
        keys: ["usage:ops@gated.io:b:prepaid".into(), "usage:ops@gated.io:b:credit".into()],
        period,
        at: november,
        draw_days: 0,
    };
    match app
        .store
        .post_debits(
            &[request],
            &creditline::store::DrawingLines { workflow: "credit_line", states: &["active", "grace", "reduced"] },
            &|| november,
        )
        .await
        .unwrap()
        .as_slice()
    {
        [DebitResult::Refused(DebitError::Gated(g))] => {
            assert_eq!((g.unpaid.period.to_string(), g.unpaid.owed), ("2026-10".to_string(), usd(15_000)));
        }
        other => panic!("{other:?}"),
    }

    // Billed, partly paid, paid: the line draws again only once nothing of October is owed.
    clock.set(noon(2026, 11, 1));
    creditline::services::billing::close(&app, "2026-10".parse().unwrap(), None).await.unwrap();
    assert!(l.debit(&a, usd(100), "nov-3").await.unwrap_err().to_string().contains("$150.00, is unpaid"));
    creditline::services::billing::pay(&app, &a, usd(10_000), "stripe", "pi_p1").await.unwrap();
    let e = l.debit(&a, usd(100), "nov-4").await.unwrap_err();
    assert!(e.to_string().contains("the bill for October 2026, $50.00, is unpaid"), "{e}");
    creditline::services::billing::pay(&app, &a, usd(5_000), "stripe", "pi_p2").await.unwrap();
    let d = l.debit(&a, usd(100), "nov-5").await.unwrap();
    assert_eq!((d.credit, d.line_id), (usd(100), Some(line)));
    assert_eq!(app.store.credit_line(line).await.unwrap().unwrap().state, "active", "the gate is not a state");

    // A debit that read the clock before the payment and reached the store after it draws,
    // stamped no earlier than the store's reading: never before the payment it saw.
    let late = DebitRequest {
        account_email: a.to_string(),
        amount: usd(100),
        keys: ["usage:ops@gated.io:late:prepaid".into(), "usage:ops@gated.io:late:credit".into()],
        period,
        at: november,
        draw_days: 0,
    };
    let states = ["active", "grace", "reduced"];
    let lines = creditline::store::DrawingLines { workflow: "credit_line", states: &states };
    let posted = app.store.post_debits(&[late], &lines, &|| clock.now()).await.unwrap();
    assert!(matches!(posted.as_slice(), [DebitResult::Posted { .. }]), "{posted:?}");
    let paid_at = app.store.bills_for_lines(&[line]).await.unwrap()[0].paid_at.unwrap();
    let stamped = app.store.ledger_entries(a.as_str()).await.unwrap();
    let late = stamped.iter().find(|e| e.idempotency_key.contains(":late:")).unwrap();
    assert!(late.created_at >= paid_at, "stamped {} before the payment of {paid_at}", late.created_at);
    // One planned in a month that has ended since goes alone, to be planned in the new one.
    clock.set(noon(2026, 12, 1));
    let stale = DebitRequest {
        account_email: a.to_string(),
        amount: usd(100),
        keys: ["usage:ops@gated.io:stale:prepaid".into(), "usage:ops@gated.io:stale:credit".into()],
        period,
        at: november,
        draw_days: 0,
    };
    let posted = app.store.post_debits(&[stale], &lines, &|| clock.now()).await.unwrap();
    assert_eq!(posted, vec![DebitResult::Alone]);
    assert_sound(&app).await;
}

store_suite!(
    a_batch_of_debits_is_planned_in_order_and_written_once,
    a_batch_abandoned_mid_way_leaves_no_transaction_open,
    gating_sees_pending_payments_and_chargebacks,
    a_chargeback_stops_increases_and_re_review,
    a_line_draws_nothing_from_the_end_of_a_month_that_used_credit_until_its_bill_is_paid,
    amounts_over_the_maximum_never_enter_the_ledger,
    no_balance_grows_past_what_an_account_can_hold,
    debits_arriving_together_are_posted_once_each,
    top_ups_count_once_per_provider_transaction,
    coupons_have_a_limit_an_expiry_and_count_once_per_account,
    debits_take_prepaid_first_then_the_line_and_never_more,
    a_paused_line_refuses_credit_while_prepaid_keeps_working,
    concurrent_debits_on_one_account_never_overspend,
    a_deposit_guarantees_its_line_and_bills_until_applied_to_them,
);

#[test]
fn the_ledger_commands_record_money_once_and_verify_catches_a_tampered_balance() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| common::run(dir.path(), args);
    let ok = |args: &[&str]| {
        let o = run(args);
        assert!(o.status.success(), "{args:?}: {}", common::stderr(&o));
        common::stdout(&o)
    };
    ok(&["ledger", "top-up", "ana@acme.io", "--amount", "$50", "--provider", "stripe", "--txn", "pi_1"]);
    let again = ok(&["ledger", "top-up", "ana@acme.io", "--amount", "$50", "--provider", "stripe", "--txn", "pi_1"]);
    assert!(again.contains("\"replayed\":true"), "{again}");
    ok(&["ledger", "debit", "ana@acme.io", "--amount", "12.34", "--key", "u1"]);
    let refused = run(&["ledger", "debit", "ana@acme.io", "--amount", "100", "--key", "u2"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(common::stderr(&refused).contains("only $37.66 available"), "{}", common::stderr(&refused));
    let balance = ok(&["ledger", "balance", "ana@acme.io", "--json"]);
    let v: serde_json::Value = serde_json::from_str(balance.trim()).unwrap();
    assert_eq!(v["prepaid_cents"], 3766);
    ok(&["ledger", "verify"]);

    // Someone edits a balance behind the ledger's back: verify says so and fails.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}", dir.path().join("creditline.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("UPDATE ledger_accounts SET prepaid_cents = 999999").execute(&pool).await.unwrap();
    });
    let bad = run(&["ledger", "verify"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        common::stdout(&bad).contains("ana@acme.io: prepaid balance $9,999.99 but its entries add up to $37.66"),
        "{}",
        common::stdout(&bad)
    );
}

/// The guarantee's commands: prepaid credit held as a deposit with its reason, and the deposit
/// applied (nothing owed: all of it released) once no line relies on it.
#[test]
fn the_guarantee_commands_hold_prepaid_credit_and_apply_the_deposit() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| common::run(dir.path(), args);
    let ok = |args: &[&str]| {
        let o = run(args);
        assert!(o.status.success(), "{args:?}: {}", common::stderr(&o));
        common::stdout(&o)
    };
    ok(&["ledger", "top-up", "ana@acme.io", "--amount", "$50", "--provider", "stripe", "--txn", "pi_1"]);
    let hold =
        ["ledger", "hold-prepaid", "ana@acme.io", "--amount", "$30", "--reason", "asked by email", "--key", "h1"];
    assert!(ok(&hold).contains("prepaid_held"));
    assert!(ok(&hold).contains("\"replayed\":true"));
    let too_much = run(&["ledger", "hold-prepaid", "ana@acme.io", "--amount", "$30", "--reason", "x", "--key", "h2"]);
    assert_eq!(too_much.status.code(), Some(2));
    assert!(common::stderr(&too_much).contains("$20.00 of prepaid credit"), "{}", common::stderr(&too_much));
    let balance = ok(&["ledger", "balance", "ana@acme.io", "--json"]);
    let v: serde_json::Value = serde_json::from_str(balance.trim()).unwrap();
    assert_eq!((v["prepaid_cents"].as_i64(), v["deposit_held_cents"].as_i64()), (Some(2000), Some(3000)));
    let applied: serde_json::Value =
        serde_json::from_str(ok(&["ledger", "apply-deposit", "ana@acme.io", "--key", "a1"]).trim()).unwrap();
    assert_eq!((applied["applied"].as_i64(), applied["released"].as_i64()), (Some(0), Some(3000)), "{applied}");
    ok(&["ledger", "verify"]);
}

/// `ledger adjust --cents 9223372036854775807` was accepted; `balance --json` then showed a
/// wrapped `spendable_cents` and the next adjustment failed with a database error.
fn huge_amounts_are_refused_by_the_cli_and_balances_stay_sane(dir: &std::path::Path) {
    let run = |args: &[&str]| common::run(dir, args);
    let refused = |args: &[&str], message: &str| {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}{}", common::stdout(&o), common::stderr(&o));
        assert_eq!(common::stderr(&o).trim(), format!("error: {message}"), "{args:?}");
    };
    let ok = |args: &[&str]| {
        let o = run(args);
        assert!(o.status.success(), "{args:?}: {}", common::stderr(&o));
        common::stdout(&o)
    };
    let balance = |account: &str| -> serde_json::Value {
        serde_json::from_str(ok(&["ledger", "balance", account, "--json"]).trim()).unwrap()
    };
    fn adjust<'a>(cents: &'a str, key: &'a str) -> [&'a str; 9] {
        ["ledger", "adjust", "ana@acme.io", "--cents", cents, "--reason", "probe", "--key", key]
    }
    let over = "amount $92,233,720,368,547,758.07 is over the maximum of $1,000,000.00";
    refused(&adjust("9223372036854775807", "k1"), over);
    refused(
        &adjust("-9223372036854775808", "k2"),
        "amount -$92,233,720,368,547,758.08 is over the maximum of $1,000,000.00",
    );
    let huge = "$92,233,720,368,547,758.07";
    for cmd in [
        &["ledger", "top-up", "ana@acme.io", "--amount", huge, "--provider", "bank", "--txn", "t1"][..],
        &["ledger", "pay", "ana@acme.io", "--amount", huge, "--provider", "bank", "--txn", "t2"],
        &["ledger", "deposit", "ana@acme.io", "--amount", huge, "--provider", "bank", "--reference", "r1"],
        &["ledger", "release", "ana@acme.io", "--amount", huge, "--reason", "probe", "--key", "k3"],
        &["ledger", "debit", "ana@acme.io", "--amount", huge, "--key", "k4"],
        &[
            "ledger",
            "coupon-create",
            "HUGE",
            "--credit",
            huge,
            "--max-redemptions",
            "1",
            "--expires-at",
            "2099-01-01T00:00:00Z",
        ],
    ] {
        refused(cmd, over);
    }
    refused(
        &["ledger", "top-up", "ana@acme.io", "--amount", "$1,000,000.01", "--provider", "bank", "--txn", "t3"],
        "amount $1,000,000.01 is over the maximum of $1,000,000.00",
    );
    let b = balance("ana@acme.io");
    assert_eq!((b["prepaid_cents"].as_i64(), b["spendable_cents"].as_i64()), (Some(0), Some(0)), "{b}");
    // The maximum itself goes in, and the next adjustment is an ordinary one.
    ok(&adjust("100000000", "k5"));
    ok(&adjust("-1", "k6"));
    let b = balance("ana@acme.io");
    assert_eq!((b["prepaid_cents"].as_i64(), b["spendable_cents"].as_i64()), (Some(99_999_999), Some(99_999_999)));

    // Configured up to the ceiling: a full balance refuses more in words, and still adds up.
    let generous = |args: &[&str]| {
        common::creditline(dir)
            .env("CREDITLINE_LEDGER__MAX_AMOUNT_CENTS", "1000000000000000")
            .args(args)
            .output()
            .unwrap()
    };
    let o =
        generous(&["ledger", "adjust", "bob@acme.io", "--cents", "1000000000000000", "--reason", "p", "--key", "b1"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let o = generous(&["ledger", "adjust", "bob@acme.io", "--cents", "1", "--reason", "p", "--key", "b2"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        common::stderr(&o).trim(),
        "error: the prepaid balance would exceed $10,000,000,000,000.00, the most an account can hold"
    );
    let b = balance("bob@acme.io");
    assert_eq!(b["spendable_cents"].as_i64(), Some(1_000_000_000_000_000), "{b}");
    ok(&["ledger", "verify"]);

    // The maximum is checked when the configuration loads.
    for bad in ["0", "-1", "1000000000000001"] {
        let o = common::creditline(dir)
            .env("CREDITLINE_LEDGER__MAX_AMOUNT_CENTS", bad)
            .args(["ledger", "verify"])
            .output()
            .unwrap();
        assert!(!o.status.success(), "{bad}");
        assert!(common::stderr(&o).contains("ledger.max_amount_cents"), "{bad}: {}", common::stderr(&o));
    }
}

#[test]
fn huge_amounts_are_refused_by_the_cli_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    huge_amounts_are_refused_by_the_cli_and_balances_stay_sane(dir.path());
}

#[test]
fn huge_amounts_are_refused_by_the_cli_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    if common::use_postgres(dir.path()) {
        huge_amounts_are_refused_by_the_cli_and_balances_stay_sane(dir.path());
    } else {
        eprintln!("CREDITLINE_TEST_DATABASE_URL not set: PostgreSQL run skipped");
    }
}

/// Policy: "WaveSpeedAI may pause, reduce, or decline the next month's credit line if the
/// previous bill is unpaid or payment cannot be confirmed." Finance announces a bank transfer
/// (pending: credits nothing), then confirms it (a real payment, once) or drops it; failed
/// payments and chargebacks are recorded once per reference and shown with the account.
fn pending_payments_failures_and_chargebacks_by_command(dir: &std::path::Path) {
    let run = |args: &[&str]| common::run(dir, args);
    let ok = |args: &[&str]| {
        let o = run(args);
        assert!(o.status.success(), "{args:?}: {}", common::stderr(&o));
        common::stdout(&o)
    };
    let refused = |args: &[&str], message: &str| {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}{}", common::stdout(&o), common::stderr(&o));
        assert!(common::stderr(&o).contains(message), "{args:?}: {}", common::stderr(&o));
    };
    let balance = |account: &str| -> serde_json::Value {
        serde_json::from_str(ok(&["ledger", "balance", account, "--json"]).trim()).unwrap()
    };
    let a = "ana@acme.io";
    let announced = ok(&["ledger", "pending", a, "--amount", "$150", "--reference", "WIRE-1", "--note", "MT103 seen"]);
    assert!(announced.contains("\"state\":\"pending\""), "{announced}");
    let again = ok(&["ledger", "pending", a, "--amount", "$150", "--reference", "WIRE-1"]);
    assert!(again.contains("\"replayed\":true"), "{again}");
    refused(&["ledger", "pending", "bob@acme.io", "--amount", "$150", "--reference", "WIRE-1"], "already used");
    refused(&["ledger", "pending", a, "--amount", "$0", "--reference", "WIRE-2"], "more than $0.00");
    refused(&["ledger", "pending", a, "--amount", "$1,000,000.01", "--reference", "WIRE-2"], "over the maximum");
    let b = balance(a);
    assert_eq!((b["prepaid_cents"].as_i64(), b["pending_bill_payments_cents"].as_i64()), (Some(0), Some(15_000)));
    // Confirmed: a payment through `ledger pay`'s path (no bill here, so prepaid credit), once.
    let confirmed = ok(&["ledger", "pending-confirm", "WIRE-1"]);
    assert!(confirmed.contains("\"credited\":\"bill_payment\""), "{confirmed}");
    assert!(ok(&["ledger", "pending-confirm", "WIRE-1"]).contains("\"replayed\":true"));
    refused(&["ledger", "pending-drop", "WIRE-1", "--reason", "typo"], "confirmed already");
    let b = balance(a);
    assert_eq!((b["prepaid_cents"].as_i64(), b["pending_bill_payments_cents"].as_i64()), (Some(15_000), Some(0)));
    // Dropped: never credited.
    ok(&["ledger", "pending", a, "--amount", "$80", "--reference", "WIRE-3"]);
    ok(&["ledger", "pending-drop", "WIRE-3", "--reason", "returned by the bank"]);
    refused(&["ledger", "pending-confirm", "WIRE-3"], "was dropped (returned by the bank)");
    refused(&["ledger", "pending-confirm", "WIRE-404"], "no pending payment WIRE-404 from bank");
    assert_eq!(balance(a)["prepaid_cents"].as_i64(), Some(15_000));

    // Failed payments and chargebacks: once per reference, beside the ledger.
    ok(&["ledger", "pending", a, "--amount", "$20", "--reference", "WIRE-4"]);
    let failed = ok(&["ledger", "payment-failed", a, "--reference", "WIRE-4", "--reason", "account closed"]);
    assert!(failed.contains("\"replayed\":false"), "{failed}");
    ok(&["ledger", "payment-failed", a, "--reference", "WIRE-4", "--reason", "account closed"]);
    let first = ok(&["ledger", "chargeback", a, "--amount", "$50", "--reference", "dp_1", "--provider", "stripe"]);
    assert!(first.contains("\"replayed\":false"), "{first}");
    let second = ok(&["ledger", "chargeback", a, "--amount", "$50", "--reference", "dp_1", "--provider", "stripe"]);
    assert!(second.contains("\"replayed\":true"), "{second}");
    refused(&["ledger", "chargeback", a, "--amount", "$50", "--reference", ""], "a provider and a reference");
    let b = balance(a);
    assert_eq!((b["failed_payments_6m"].as_i64(), b["chargebacks"].as_i64()), (Some(1), Some(1)), "{b}");
    assert_eq!(b["pending_bill_payments_cents"].as_i64(), Some(0), "the failed transfer is no longer pending");
    let text = ok(&["ledger", "balance", a]);
    assert!(text.contains("failed payments in 6 months 1, chargebacks 1"), "{text}");
    let listed: Vec<serde_json::Value> =
        ok(&["ledger", "payments", a]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = listed.iter().map(|v| v["record"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["pending_payment", "pending_payment", "pending_payment", "failed_payment", "chargeback"]);
    assert_eq!(listed[4]["incident"]["amount_cents"], 5_000);
    ok(&["ledger", "verify"]);
}

#[test]
fn pending_payments_failures_and_chargebacks_by_command_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    pending_payments_failures_and_chargebacks_by_command(dir.path());
}

#[test]
fn pending_payments_failures_and_chargebacks_by_command_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    if common::use_postgres(dir.path()) {
        pending_payments_failures_and_chargebacks_by_command(dir.path());
    } else {
        eprintln!("CREDITLINE_TEST_DATABASE_URL not set: PostgreSQL run skipped");
    }
}

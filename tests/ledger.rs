//! The ledger on both stores: top-ups once per provider transaction (even delivered
//! concurrently), coupons (limit, expiry, once per account), deposits held and never spent,
//! usage debits (prepaid first, then this month's line, never more than both; refusals say
//! what is available), idempotent debits, concurrent debits that never overspend, a paused
//! line refusing credit while prepaid keeps working, and `verify` over all of it.

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use common::TestStore;
use creditline::app::App;
use creditline::domain::{DebitError, EmailAddress, Money};
use creditline::services::ledger::{Ledger, LedgerError};

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
        .fire(creditline::services::Fire::new(line, "gated", "system:cycle").decision(
            "cycle_gating",
            "pause",
            creditline::domain::DecisionId::new(),
        ))
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

store_suite!(
    debits_arriving_together_are_posted_once_each,
    top_ups_count_once_per_provider_transaction,
    coupons_have_a_limit_an_expiry_and_count_once_per_account,
    debits_take_prepaid_first_then_the_line_and_never_more,
    a_paused_line_refuses_credit_while_prepaid_keeps_working,
    concurrent_debits_on_one_account_never_overspend,
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

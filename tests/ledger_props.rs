//! Property tests on the ledger over a real SQLite store: for any sequence of top-ups, debits,
//! adjustments, deposits and releases, the stored balances equal the sums of the entries, a
//! model of the rules predicts every outcome, and nothing spendable ever goes below zero.

mod common;

use creditline::domain::{EmailAddress, Money};
use creditline::services::ledger::Ledger;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    TopUp(i64),
    Debit(i64),
    Adjust(i64),
    Deposit(i64),
    Release(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..50_000).prop_map(Op::TopUp),
        (1i64..40_000).prop_map(Op::Debit),
        (-20_000i64..20_000).prop_filter("non-zero", |c| *c != 0).prop_map(Op::Adjust),
        (1i64..100_000).prop_map(Op::Deposit),
        (1i64..100_000).prop_map(Op::Release),
    ]
}

/// What the rules say should happen.
#[derive(Debug, Default)]
struct Model {
    prepaid: i64,
    deposit: i64,
    credit_used: i64,
}

const LIMIT: i64 = 20_000;

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn balances_are_the_sum_of_entries_and_never_negative(ops in proptest::collection::vec(op(), 1..24)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let t = common::sqlite().await;
            let app = t.app();
            let l = Ledger::new(&app);
            let a = EmailAddress::parse("prop@acme.io").unwrap();
            common::open_credit_line(&app, "prop@acme.io", LIMIT).await;
            let mut m = Model::default();
            for (i, op) in ops.iter().enumerate() {
                let key = format!("k{i}");
                match *op {
                    Op::TopUp(c) => {
                        l.top_up(&a, Money::from_cents(c), "stripe", &key).await.unwrap();
                        m.prepaid += c;
                    }
                    Op::Debit(c) => {
                        let r = l.debit(&a, Money::from_cents(c), &key).await;
                        if c <= m.prepaid + (LIMIT - m.credit_used) {
                            let d = r.unwrap();
                            let from_prepaid = c.min(m.prepaid);
                            assert_eq!((d.prepaid.cents(), d.credit.cents()), (from_prepaid, c - from_prepaid));
                            m.prepaid -= from_prepaid;
                            m.credit_used += c - from_prepaid;
                        } else {
                            assert!(r.is_err(), "{op:?} should be refused with {m:?}");
                        }
                    }
                    Op::Adjust(c) => {
                        let r = l.adjust(&a, c, "admin:test", "prop", &key).await;
                        if m.prepaid + c >= 0 { r.unwrap(); m.prepaid += c; } else { assert!(r.is_err()); }
                    }
                    Op::Deposit(c) => {
                        l.hold_deposit(&a, Money::from_cents(c), "bank", &key).await.unwrap();
                        m.deposit += c;
                    }
                    Op::Release(c) => {
                        let r = l.release_deposit(&a, Money::from_cents(c), "admin:test", "prop", &key).await;
                        if c <= m.deposit { r.unwrap(); m.deposit -= c; m.prepaid += c; } else { assert!(r.is_err()); }
                    }
                }
                let b = app.store.balances(a.as_str()).await.unwrap();
                assert_eq!((b.prepaid_cents, b.deposit_cents), (m.prepaid, m.deposit), "after {op:?}");
                let (prepaid, credit) = l.available(&a).await.unwrap();
                assert!(prepaid.cents() >= 0 && credit.cents() >= 0);
                assert_eq!(credit.cents(), LIMIT - m.credit_used);
                let problems = l.verify().await.unwrap();
                assert!(problems.is_empty(), "{problems:?}");
            }
        });
    }
}

//! Rule analytics along whole billing cycles: the lines an `initial_limit` suggestion led to
//! are followed through their bills, paid on time, late or not at all, and counted so under
//! the rule version that suggested them. On SQLite and on PostgreSQL, with a controlled clock.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use common::{TestStore, open_credit_line, repo};
use creditline::app::App;
use creditline::config::Config;
use creditline::domain::{EmailAddress, Money, Period};
use creditline::rules::inputs::InitialLimitInput;
use creditline::services::ManualClock;
use creditline::services::billing::{close, pay};
use creditline::services::ledger::Ledger;
use creditline::services::rule_analytics::{self, Repayment};

fn day(year: i32, month: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, d, 12, 0, 0).unwrap()
}

fn who(account: &str) -> EmailAddress {
    EmailAddress::parse(account).unwrap()
}

async fn the_lines_a_suggestion_led_to_are_followed_through_their_bills(t: TestStore) {
    let clock = Arc::new(ManualClock::new(day(2027, 1, 5)));
    let config = Config {
        rules_dir: repo().join("rules"),
        workflows_dir: repo().join("workflows"),
        templates_dir: repo().join("templates"),
        ..Default::default()
    };
    let app: Arc<App> = App::assemble(config, t.store.clone(), clock.clone()).unwrap();
    let accounts = ["ontime@acme.io", "late@acme.io", "never@acme.io"];
    for account in accounts {
        let line = open_credit_line(&app, account, 20_000).await;
        let application = app.store.credit_line(line).await.unwrap().unwrap().application_id;
        let input = InitialLimitInput {
            applicant_type: "enterprise".into(),
            requested_limit_cents: 20_000,
            expected_monthly_spend_cents: 0,
            business_verification: "pass".into(),
            aws_history: "pass".into(),
        };
        let (_, record) = app.rules.evaluate("initial_limit", &input, Some(application.into()));
        assert_eq!(record.output["limit_cents"], 20_000, "the suggestion is the line's limit");
        app.store.record_decision(&record).await.unwrap();
        Ledger::new(&app).debit(&who(account), Money::from_cents(10_000), &format!("use:{account}")).await.unwrap();
    }
    // January is billed on February 1st, due ten days later.
    clock.set(day(2027, 2, 1));
    close(&app, Period::new(2027, 1).unwrap(), None).await.unwrap();
    clock.set(day(2027, 2, 5));
    pay(&app, &who("ontime@acme.io"), Money::from_cents(10_000), "stripe", "p-ontime").await.unwrap();
    clock.set(day(2027, 2, 25));
    pay(&app, &who("late@acme.io"), Money::from_cents(10_000), "stripe", "p-late").await.unwrap();

    let found = rule_analytics::analytics(&app, day(2026, 1, 1)).await.unwrap();
    let version = app.rules.current().version("initial_limit").unwrap().to_string();
    let figures = found.versions.iter().find(|v| v.rule == "initial_limit" && v.version == version).expect("figures");
    assert_eq!(
        figures.repayment,
        Some(Repayment { lines: 3, bills: 3, on_time: 1, late: 1, unpaid: 1, unpaid_cents: 10_000 })
    );
    assert_eq!(figures.agreement.as_ref().map(|a| a.approved_as_suggested), Some(3));
    // Decisions carry the time they were made (the wall clock, not the test's).
    let offers: i64 = figures.by_month.values().filter_map(|m| m.get("offer")).sum();
    assert_eq!(offers, 3);
}

store_suite!(the_lines_a_suggestion_led_to_are_followed_through_their_bills);

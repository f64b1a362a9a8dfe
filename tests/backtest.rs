//! Backtests of candidate rules over a recorded history: a candidate that raises the first
//! tier from $200 to $300 reports exactly the applications and dollars that change, computed
//! here independently of the rules; a candidate that shortens the billing grace from 7 to 5
//! days reports the lines that would have been paused instead of given grace; records made
//! before an input field existed are counted apart; the CLI reports the same. On SQLite and
//! on PostgreSQL.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::TestStore;
use creditline::domain::SubjectId;
use creditline::rules::RuleSet;
use creditline::rules::inputs::InitialLimitInput;
use creditline::services::backtest::{self, Scope};

/// The first-tier limit the policy suggests, computed without the rules: the standard tier,
/// capped at what was requested and at the expected spend plus a quarter, rounded up to $10.
fn expected_limit(standard: i64, input: &InitialLimitInput) -> Option<i64> {
    if !matches!(input.applicant_type.as_str(), "enterprise" | "individual_with_product") {
        return None;
    }
    let mut limit = standard;
    if input.requested_limit_cents > 0 && input.requested_limit_cents < limit {
        limit = input.requested_limit_cents;
    }
    if input.expected_monthly_spend_cents > 0 {
        let justified = (input.expected_monthly_spend_cents * 125 / 100 + 999) / 1000 * 1000;
        limit = limit.min(justified);
    }
    Some(limit)
}

/// A history of initial-limit decisions with a spread of requests and spends, each decided
/// by today's rules and recorded against an application-like subject.
fn history() -> Vec<(SubjectId, InitialLimitInput)> {
    let types = ["enterprise", "individual_with_product", "individual_without_product"];
    let requested = [0, 10_000, 20_000, 25_000, 50_000];
    let spend = [0, 8_000, 20_000, 40_000];
    let mut out = Vec::new();
    for (i, t) in types.iter().enumerate() {
        for r in requested {
            for s in spend {
                let input = InitialLimitInput {
                    applicant_type: t.to_string(),
                    requested_limit_cents: r,
                    expected_monthly_spend_cents: s,
                    business_verification: if i == 0 { "pass" } else { "concern" }.into(),
                    aws_history: "pass".into(),
                };
                out.push((SubjectId::new(), input));
            }
        }
    }
    out
}

async fn raising_the_first_tier_reports_exactly_what_changes(store: TestStore) {
    let app = store.app();
    let live = RuleSet::load(&common::repo().join("rules")).expect("the shipped rules");
    let seeded = history();
    for (subject, input) in &seeded {
        let (_, record) = live.evaluate("initial_limit", input, Some(*subject));
        store.store.record_decision(&record).await.expect("record");
    }
    // One record made before `aws_history` was part of the input: not replayable.
    let (_, mut old) = live.evaluate("initial_limit", &seeded[0].1, Some(SubjectId::new()));
    old.id = creditline::domain::DecisionId::new();
    if let Some(o) = old.input.as_object_mut() {
        o.remove("aws_history");
    }
    store.store.record_decision(&old).await.expect("record");

    let dir = tempfile::tempdir().expect("temp dir");
    common::copy_dir(&common::repo().join("rules"), dir.path());
    let script = dir.path().join("initial_limit.rhai");
    let text = std::fs::read_to_string(&script).expect("read");
    assert!(text.contains("let STANDARD_LIMIT_CENTS = 20000;"), "the first tier is where this test expects it");
    std::fs::write(&script, text.replace("let STANDARD_LIMIT_CENTS = 20000;", "let STANDARD_LIMIT_CENTS = 30000;"))
        .expect("write");
    let candidate = Arc::new(RuleSet::load(dir.path()).expect("the candidate loads"));

    let found = backtest::run(&app, candidate, &Scope::default()).await.expect("backtest");
    let report = &found.report.rules["initial_limit"];

    // Independently: which subjects' limits move, and by how much.
    let mut expected: BTreeMap<SubjectId, (i64, i64)> = BTreeMap::new();
    for (subject, input) in &seeded {
        if let (Some(before), Some(after)) = (expected_limit(20_000, input), expected_limit(30_000, input))
            && before != after
        {
            expected.insert(*subject, (before, after));
        }
    }
    assert!(expected.len() >= 5, "the history exercises the change: {}", expected.len());
    let reported: BTreeMap<SubjectId, (i64, i64)> = report
        .changes
        .iter()
        .map(|c| (c.subject.expect("a subject"), (c.from_limit_cents.unwrap(), c.to_limit_cents.unwrap())))
        .collect();
    assert_eq!(reported, expected);
    let dollars: i64 = expected.values().map(|(b, a)| a - b).sum();
    assert_eq!(report.limit_delta_cents, dollars);
    assert_eq!(report.matrix, BTreeMap::from([("offer -> offer".to_string(), expected.len() as u64)]));
    assert_eq!(report.replayed as usize, seeded.len());
    assert_eq!(report.unchanged as usize, seeded.len() - expected.len());
    assert_eq!(report.unreplayable, BTreeMap::from([("recorded before the input had aws_history".to_string(), 1)]));
    assert_eq!(found.affected.len(), expected.len());

    // Only decisions since a later day: none.
    let tomorrow = chrono::Utc::now() + chrono::Duration::days(1);
    let none =
        backtest::run(&app, Arc::new(RuleSet::load(dir.path()).unwrap()), &Scope { rule: None, since: Some(tomorrow) })
            .await
            .expect("backtest");
    assert!(none.report.rules.is_empty());
}

/// Billing months as the gate saw them: one line per days overdue from 0 to 12, each owing
/// a bill it has not paid, decided by today's `cycle_gating` and recorded.
async fn shortening_the_grace_reports_the_lines_that_would_have_paused(store: TestStore) {
    use creditline::rules::inputs::CycleGatingInput;
    let app = store.app();
    let live = RuleSet::load(&common::repo().join("rules")).expect("the shipped rules");
    let mut lines = BTreeMap::new();
    for days in 0..=12 {
        let input = CycleGatingInput {
            bill_amount_cents: 18_000,
            paid_cents: 0,
            days_overdue: days,
            payment_pending: false,
            late_cycles_12m: 0,
            missed_cycles_12m: 0,
            current_limit_cents: 20_000,
            failed_payments_6m: 0,
            chargebacks_6m: 0,
        };
        let line = SubjectId::new();
        let (_, record) = live.evaluate("cycle_gating", &input, Some(line));
        store.store.record_decision(&record).await.expect("record");
        lines.insert(line, days);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    common::copy_dir(&common::repo().join("rules"), dir.path());
    let script = dir.path().join("cycle_gating.rhai");
    let text = std::fs::read_to_string(&script).expect("read");
    assert!(text.contains("let GRACE_DAYS = 7;"), "the grace is where this test expects it");
    std::fs::write(&script, text.replace("let GRACE_DAYS = 7;", "let GRACE_DAYS = 5;")).expect("write");
    let candidate = Arc::new(RuleSet::load(dir.path()).expect("the candidate loads"));
    let scope = Scope { rule: Some("cycle_gating".into()), since: None };
    let found = backtest::run(&app, candidate, &scope).await.expect("backtest");
    let report = &found.report.rules["cycle_gating"];
    // Independently: 6 and 7 days overdue were grace under 7 days of grace, and pause under 5.
    let paused: Vec<i64> = report
        .changes
        .iter()
        .map(|c| lines[&c.subject.expect("a line")])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(paused, vec![6, 7]);
    assert_eq!(report.matrix, BTreeMap::from([("grace -> pause".to_string(), 2)]));
    assert_eq!(report.newly, BTreeMap::from([("pause".to_string(), 2)]));
    assert_eq!(report.replayed, 13);
}

store_suite!(
    raising_the_first_tier_reports_exactly_what_changes,
    shortening_the_grace_reports_the_lines_that_would_have_paused,
);

#[test]
fn the_cli_backtests_the_corpus_and_names_a_missing_rule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let corpus = common::repo().join("tests/corpus");
    let o = common::run(dir.path(), &["ingest", &corpus.display().to_string()]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let rules = common::repo().join("rules").display().to_string();
    // The shipped rules replayed over what they decided: nothing changes.
    let o = common::run(dir.path(), &["rules", "backtest", "--candidate", &rules, "--json"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&common::stdout(&o)).expect("JSON");
    let rules_seen = v["report"]["rules"].as_object().expect("rules");
    assert!(rules_seen.contains_key("initial_limit") && rules_seen.contains_key("applicant_type"), "{v}");
    for (name, r) in rules_seen {
        assert_eq!(r["replayed"], r["unchanged"], "{name}: the same rules decide the same");
    }
    let o = common::run(dir.path(), &["rules", "backtest", "--candidate", &rules, "--rule", "nonsense"]);
    assert!(!o.status.success());
    assert!(common::stderr(&o).contains("no rule named \"nonsense\""), "{}", common::stderr(&o));
}

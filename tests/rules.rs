//! The rules engine: fixtures, sandbox limits, fail-closed decoding, reload.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use creditline::rules::inputs::InitialLimitInput;
use creditline::rules::{Limits, RuleSet, Rules, RulesError, fixtures};
use serde_json::json;

fn shipped() -> PathBuf {
    common::repo().join("rules")
}

/// A private copy of the shipped rules to edit.
fn copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    common::copy_dir(&shipped(), &rules);
    (dir, rules)
}

fn load(dir: &Path) -> RuleSet {
    RuleSet::load(dir).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn every_fixture_case_passes_and_there_are_enough_of_them() {
    let rules = load(&shipped());
    let results = fixtures::run(&rules, &shipped().join("tests")).unwrap();
    let failures: Vec<_> = results.iter().filter(|r| r.failure.is_some()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(results.len() >= 60, "only {} cases", results.len());
    for rule in [
        "applicant_type",
        "business_verification",
        "aws_history",
        "initial_limit",
        "limit_increase",
        "cycle_gating",
        "re_review",
        "line_restore",
    ] {
        assert!(results.iter().filter(|r| r.rule == rule).count() >= 7, "{rule} has too few cases");
    }
}

#[test]
fn a_wrong_expectation_is_reported_as_a_failure() {
    let (_dir, rules) = copy();
    let file = rules.join("tests/initial_limit.toml");
    let text = std::fs::read_to_string(&file).unwrap().replacen(
        "fields = { limit_cents = 20000 }",
        "fields = { limit_cents = 20001 }",
        1,
    );
    std::fs::write(&file, text).unwrap();
    let results = fixtures::run(&load(&rules), &rules.join("tests")).unwrap();
    let failed: Vec<_> = results.iter().filter_map(|r| r.failure.as_ref()).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("limit_cents"), "{}", failed[0]);
}

#[test]
fn an_endless_loop_becomes_manual_review_and_stops_fast() {
    let (_dir, rules) = copy();
    std::fs::write(rules.join("runaway.rhai"), "let n = 0;\nloop { n += 1; }\n").unwrap();
    let set = load(&rules);
    let started = Instant::now();
    let (d, record) = set.evaluate("runaway", &json!({}), None);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(d.outcome, "manual_review");
    assert!(d.reasons[0].starts_with("rule_error:"), "{:?}", d.reasons);
    assert!(d.reasons[0].to_lowercase().contains("operations"), "{:?}", d.reasons);
    assert_eq!(record.outcome, "manual_review");
}

/// A scan hands a page of inputs to `evaluate_many_async`, which splits it over several
/// blocking tasks: every decision must come back in its input's place, as evaluated alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_inputs_split_over_tasks_come_back_in_order() {
    let handle = Rules::load(&shipped()).unwrap();
    let input = |i: i64| InitialLimitInput {
        applicant_type: if i % 3 == 0 { "individual_without_product" } else { "enterprise" }.into(),
        requested_limit_cents: 10_000 + 1_000 * (i % 40),
        expected_monthly_spend_cents: 5_000 * (i % 7),
        business_verification: if i % 5 == 0 { "concern" } else { "pass" }.into(),
        aws_history: "pass".into(),
    };
    let n = 700;
    let inputs: Vec<_> =
        (0..n).map(|i| (input(i), Some(creditline::domain::SubjectId(uuid::Uuid::from_u128(i as u128))))).collect();
    let many = handle.evaluate_many_async("initial_limit", inputs).await;
    assert_eq!(many.len(), n as usize);
    let mut outcomes = std::collections::BTreeSet::new();
    for (i, (decision, record)) in many.iter().enumerate() {
        let i = i as i64;
        let (alone, _) = handle.evaluate("initial_limit", &input(i), None);
        assert_eq!(decision, &alone, "input {i}");
        assert_eq!(record.subject, Some(creditline::domain::SubjectId(uuid::Uuid::from_u128(i as u128))));
        outcomes.insert(decision.outcome.clone());
    }
    assert!(outcomes.len() > 1, "the inputs must tell apart: {outcomes:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_runaway_script_does_not_stall_the_runtime() {
    let (_dir, rules) = copy();
    std::fs::write(rules.join("runaway.rhai"), "loop { }\n").unwrap();
    let handle = std::sync::Arc::new(Rules::load(&rules).unwrap());
    // On a single-threaded runtime, a blocking evaluation would starve this ticker.
    let ticker = tokio::spawn(async {
        let mut ticks = 0;
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(1)).await;
            ticks += 1;
        }
        ticks
    });
    let evals: Vec<_> = (0..8)
        .map(|_| {
            let h = handle.clone();
            tokio::spawn(async move { h.evaluate_async("runaway", &json!({}), None).await })
        })
        .collect();
    assert_eq!(ticker.await.unwrap(), 5);
    for e in evals {
        let (d, _) = e.await.unwrap();
        assert!(d.is_rule_error());
    }
}

#[test]
fn editing_a_tier_amount_changes_the_decision_without_a_build() {
    let (_dir, rules) = copy();
    let input =
        InitialLimitInput { applicant_type: "enterprise".into(), requested_limit_cents: 100_000, ..Default::default() };
    let before = load(&rules).evaluate("initial_limit", &input, None).0;
    assert_eq!(before.cents("limit_cents"), Some(20_000));
    let file = rules.join("initial_limit.rhai");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("let STANDARD_LIMIT_CENTS = 20000;"));
    std::fs::write(&file, text.replace("let STANDARD_LIMIT_CENTS = 20000;", "let STANDARD_LIMIT_CENTS = 30000;"))
        .unwrap();
    let after = load(&rules).evaluate("initial_limit", &input, None);
    assert_eq!(after.0.cents("limit_cents"), Some(30_000));
    assert_ne!(after.1.version, load(&shipped()).version("initial_limit").unwrap());
}

#[test]
fn compile_errors_name_file_line_and_column() {
    let (_dir, rules) = copy();
    std::fs::write(rules.join("broken.rhai"), "let a = 1;\nlet b = ;\n").unwrap();
    let errors = RuleSet::load(&rules).err().expect("must not compile");
    assert_eq!(errors.len(), 1);
    match &errors[0] {
        RulesError::Compile { file, line, column, .. } => {
            assert!(file.ends_with("broken.rhai"));
            assert_eq!((*line, *column), (2, 9));
        }
        other => panic!("{other}"),
    }
    assert!(errors[0].to_string().contains("broken.rhai:2:9:"), "{}", errors[0]);
}

#[test]
fn the_sandbox_refuses_eval_undeclared_variables_and_modules() {
    for (name, src) in [
        ("uses_eval", "eval(\"1\")"),
        ("undeclared", "#{ outcome: x, reasons: [] }"),
        ("imports", "import \"os\" as os;\n#{ outcome: \"pass\", reasons: [] }"),
    ] {
        let (_dir, rules) = copy();
        std::fs::write(rules.join(format!("{name}.rhai")), src).unwrap();
        assert!(RuleSet::load(&rules).is_err(), "{name} must not compile");
    }
    // Oversized strings hit the limit and fail closed.
    let (_dir, rules) = copy();
    std::fs::write(rules.join("big.rhai"), "let s = \"x\";\nloop { s += s; }\n").unwrap();
    let (d, _) = load(&rules).evaluate("big", &json!({}), None);
    assert!(d.is_rule_error(), "{d:?}");
}

#[test]
fn contract_breaches_fail_closed() {
    let (_dir, rules) = copy();
    std::fs::write(rules.join("initial_limit.rhai"), "#{ outcome: \"approve\", reasons: [] }").unwrap();
    std::fs::write(rules.join("aws_history.rhai"), "#{ outcome: \"pass\", reasons: [] }").unwrap();
    std::fs::write(rules.join("re_review.rhai"), "#{ reasons: [] }").unwrap();
    std::fs::write(rules.join("cycle_gating.rhai"), "#{ outcome: \"reduce\", reasons: [\"r\"] }").unwrap();
    let set = load(&rules);
    for (rule, needle) in [
        ("initial_limit", "unknown outcome \"approve\""),
        ("aws_history", "missing field `findings`"),
        ("re_review", "missing field `outcome`"),
        ("cycle_gating", "new_limit_cents"),
        ("no_such_rule", "no rule named"),
    ] {
        let (d, _) = set.evaluate(rule, &json!({}), None);
        assert_eq!(d.outcome, "manual_review", "{rule}");
        assert!(d.reasons[0].starts_with("rule_error:") && d.reasons[0].contains(needle), "{rule}: {:?}", d.reasons);
    }
}

#[test]
fn decisions_record_version_input_output_and_timing() {
    let set = load(&shipped());
    let subject = creditline::domain::SubjectId::new();
    let input = creditline::rules::inputs::BusinessVerificationInput {
        applicant_type: "enterprise".into(),
        contact_email: "a@gmail.com".into(),
        website: "https://x.vercel.app".into(),
        ..Default::default()
    };
    // A raw input with fields missing fails closed rather than guessing.
    let partial = json!({ "applicant_type": "enterprise", "contact_email": "a@gmail.com" });
    assert!(set.evaluate("business_verification", &partial, None).0.is_rule_error());
    let (d, r) = set.evaluate("business_verification", &input, Some(subject));
    assert_eq!(d.outcome, "fail");
    assert_eq!(r.version, set.version("business_verification").unwrap());
    assert_eq!(r.version.len(), 64);
    assert_eq!(r.input, serde_json::to_value(&input).unwrap());
    assert_eq!(r.output["outcome"], "fail");
    assert_eq!(r.subject, Some(subject));
    assert_eq!(r.reasons, d.reasons);
    assert!(d.findings.contains(&"generic_platform_website".to_string()));
}

#[test]
fn reload_takes_new_versions_and_keeps_the_old_on_error() {
    let (_dir, rules) = copy();
    let handle = Rules::load(&rules).unwrap();
    let old = handle.current().version("re_review").unwrap().to_string();
    let file = rules.join("re_review.rhai");
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, original.replace("let MIN_DAYS_AFTER_DECLINE = 90;", "let MIN_DAYS_AFTER_DECLINE = 10;"))
        .unwrap();
    handle.reload().unwrap();
    let new = handle.current().version("re_review").unwrap().to_string();
    assert_ne!(old, new);
    std::fs::write(&file, "this is not rhai (").unwrap();
    assert!(handle.reload().is_err());
    assert_eq!(handle.current().version("re_review").unwrap(), new, "the previous rules stay in force");
}

/// Policy versions stored before `data/project_material_hosts.txt` existed judge links with a
/// `material_kind` of their own script: they still load, and their own function decides.
#[test]
fn a_policy_version_from_before_the_material_list_still_loads_and_judges_links_itself() {
    let (_dir, rules) = copy();
    std::fs::remove_file(rules.join("data/project_material_hosts.txt")).unwrap();
    std::fs::write(
        rules.join("links.rhai"),
        r#"fn material_kind(link) { if host_of(link) == "github.com" { "own_repository" } else { "own_other" } }
        #{ outcome: "ok", reasons: [material_kind("https://github.com/x"), material_kind("https://vimeo.com/1")] }"#,
    )
    .unwrap();
    let set = load(&rules);
    let (d, _) = set.evaluate("links", &json!({}), None);
    assert_eq!(d.reasons, ["own_repository", "own_other"], "{d:?}");
    // Without the list, the helper knows no host: every link is "other".
    std::fs::write(rules.join("links.rhai"), r#"#{ outcome: "ok", reasons: [material_kind("https://github.com/x")] }"#)
        .unwrap();
    assert_eq!(load(&rules).evaluate("links", &json!({}), None).0.reasons, ["other"]);
}

#[test]
fn a_broken_material_list_is_refused_naming_its_line() {
    let (_dir, rules) = copy();
    std::fs::write(rules.join("data/project_material_hosts.txt"), "repository github.com\nrepo gitlab.com\n").unwrap();
    let errors = RuleSet::load(&rules).err().expect("refused");
    let text = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(text.contains("project_material_hosts.txt: line 2: unknown kind \"repo\""), "{text}");
}

#[test]
fn helpers_compute_dates_domains_and_money() {
    let (_dir, rules) = copy();
    std::fs::write(
        rules.join("helpers.rhai"),
        r#"#{ outcome: "ok", reasons: [
            "" + days_between("2026-01-31", "2026-03-01"),
            "" + months_between("2026-01-31", "2026-03-30"),
            "" + months_between("2025-11-15", "2026-11-15"),
            registrable_domain("https://shop.example.co.uk/x"),
            registrable_domain("ops@mail.acme.io"),
            "" + is_free_mail_domain("someone@GMAIL.com"),
            "" + is_generic_platform_host("https://a.b.vercel.app"),
            "" + is_tool_directory_host("futuretools.io"),
            format_money(parse_money("USD 5,000")),
            "" + (parse_money("lots") == ()),
            material_kind("https://gist.github.com/me/x"),
            material_kind("https://www.youtube.com/watch?v=1"),
            material_kind("https://my-own-product.dev"),
            join(["a", 2, "c"], ", "),
            "" + sum([1, 2, 39]),
            "" + sum([])
        ] }"#,
    )
    .unwrap();
    let (d, _) = load(&rules).evaluate("helpers", &json!({}), None);
    assert_eq!(
        d.reasons,
        [
            "29",
            "1",
            "12",
            "example.co.uk",
            "acme.io",
            "true",
            "true",
            "true",
            "$5,000.00",
            "true",
            "repository",
            "demo_video",
            "other",
            "a, 2, c",
            "42",
            "0"
        ],
        "{d:?}"
    );
}

#[test]
fn list_helpers_refuse_what_they_cannot_add_or_hold() {
    let (_dir, rules) = copy();
    let set_with = |script: &str| {
        std::fs::write(rules.join("lists.rhai"), script).unwrap();
        load(&rules)
    };
    let rule_error = |script: &str| set_with(script).evaluate("lists", &json!({}), None).0;
    let d = rule_error(r#"#{ outcome: "ok", reasons: ["" + sum([1, "two"])] }"#);
    assert!(d.is_rule_error() && d.reasons[0].contains("sum: string is not a whole number"), "{d:?}");
    let d = rule_error(r#"#{ outcome: "ok", reasons: ["" + sum([9223372036854775807, 1])] }"#);
    assert!(d.is_rule_error() && d.reasons[0].contains("overflows"), "{d:?}");
    // Rhai bounds the list's own text; a separator of 1,000 bytes between 100 entries is not.
    let d = rule_error(
        r#"let a = []; let s = "0123456789"; s = s + s + s + s + s + s + s + s + s + s;
        let sep = s + s + s + s + s + s + s + s + s + s;
        for i in 0..100 { a.push("x"); } #{ outcome: "ok", reasons: [join(a, sep)] }"#,
    );
    assert!(d.is_rule_error() && d.reasons[0].contains("join: the text would be over"), "{d:?}");
}

#[test]
fn a_helper_refuses_an_oversized_input_instead_of_running_long() {
    // The probe of issue 15: parse_money on a 16,000-character string in a loop ran 1.7 s,
    // the operation limit not counting the time inside the helper.
    let (_dir, rules) = copy();
    std::fs::write(
        rules.join("slow_money.rhai"),
        "let s = \"1\";\nwhile s.len() < 16000 { s += s; }\nlet n = 0;\nloop { if parse_money(s) == () { n += 1; } }\n",
    )
    .unwrap();
    let (d, record) = load(&rules).evaluate("slow_money", &json!({}), None);
    assert_eq!(d.outcome, "manual_review");
    assert!(d.reasons[0].starts_with("rule_error:"), "{:?}", d.reasons);
    assert!(d.reasons[0].contains("parse_money: input of 16384 bytes is over the 64-byte limit"), "{:?}", d.reasons);
    assert_eq!(record.reasons, d.reasons);

    // Every helper that takes text caps it.
    for call in [
        "days_between(s, \"2026-01-01\")",
        "months_between(\"2026-01-01\", s)",
        "registrable_domain(s)",
        "host_of(s)",
        "is_free_mail_domain(s)",
        "is_generic_platform_host(s)",
        "is_tool_directory_host(s)",
    ] {
        let (_dir, rules) = copy();
        let name = call.split('(').next().unwrap();
        let src =
            format!("let s = \"a\";\nwhile s.len() < 4096 {{ s += s; }}\n{call};\n#{{ outcome: \"x\", reasons: [] }}");
        std::fs::write(rules.join("capped.rhai"), src).unwrap();
        let (d, _) = load(&rules).evaluate("capped", &json!({}), None);
        assert!(d.is_rule_error(), "{call}: {d:?}");
        assert!(d.reasons[0].contains(&format!("{name}: input of 4096 bytes is over")), "{call}: {:?}", d.reasons);
    }
}

#[test]
fn a_rule_over_its_time_budget_is_stopped_and_recorded_with_its_reason() {
    let (_dir, rules) = copy();
    // Every call is within the helpers' caps and each step is cheap, but together they run
    // far longer than the budget (the operation limit would stop it only much later).
    std::fs::write(
        rules.join("slow.rhai"),
        "let big = \"0123456789abcdef\";\nwhile big.len() < 8192 { big += big; }\n\
         let n = 0;\nloop { n += parse_money(\"USD 1,234,567.89 per month\"); big.index_of(\"z\"); }\n",
    )
    .unwrap();
    let limits = Limits { budget: Duration::from_millis(1), ..Limits::default() };
    let set = RuleSet::load_with(&rules, limits).unwrap_or_else(|e| panic!("{e:?}"));
    let subject = creditline::domain::SubjectId::new();
    let (d, record) = set.evaluate("slow", &json!({}), Some(subject));
    assert_eq!(d.outcome, "manual_review");
    assert!(d.reasons[0].starts_with("rule_error: rule_budget_exceeded:"), "{:?}", d.reasons);
    assert_eq!(
        (record.outcome.as_str(), &record.reasons, record.subject),
        ("manual_review", &d.reasons, Some(subject))
    );

    // Stopped inside a function of the script, the reason is the same.
    std::fs::write(
        rules.join("slow_fn.rhai"),
        "fn spin(s) { let big = s; while big.len() < 8192 { big += big; } loop { big.index_of(\"z\"); } }\nspin(\"ab\")\n",
    )
    .unwrap();
    let set = RuleSet::load_with(&rules, limits).unwrap_or_else(|e| panic!("{e:?}"));
    let (d, _) = set.evaluate("slow_fn", &json!({}), None);
    assert!(d.reasons[0].starts_with("rule_error: rule_budget_exceeded:"), "{:?}", d.reasons);
}

#[tokio::test(flavor = "current_thread")]
async fn a_slow_rule_runs_off_the_async_runtime_and_stops_at_its_budget() {
    let (_dir, rules) = copy();
    std::fs::write(
        rules.join("slow.rhai"),
        "let big = \"0123456789abcdef\";\nwhile big.len() < 8192 { big += big; }\nloop { big.index_of(\"z\"); }\n",
    )
    .unwrap();
    // The operation limit would stop this script only after about ten times the budget.
    let limits = Limits { budget: Duration::from_millis(10), ..Limits::default() };
    let handle = std::sync::Arc::new(Rules::load_with(&rules, limits).unwrap());
    let h = handle.clone();
    let slow = tokio::spawn(async move { h.evaluate_async("slow", &json!({}), None).await });
    // On this single-threaded runtime, a task only gets to run while the evaluation is in
    // flight if the evaluation is not holding the thread.
    tokio::task::yield_now().await;
    assert!(!slow.is_finished(), "the evaluation ended before anything else could run");
    let (d, _) = slow.await.unwrap();
    assert!(d.reasons[0].starts_with("rule_error: rule_budget_exceeded:"), "{:?}", d.reasons);
}

#[test]
fn out_of_range_rule_outputs_fail_closed_naming_field_and_value() {
    for (value, shown) in [("-5", "-5"), ("9223372036854775807", "9223372036854775807"), ("0", "0")] {
        let (_dir, rules) = copy();
        std::fs::write(
            rules.join("initial_limit.rhai"),
            format!("#{{ outcome: \"offer\", limit_cents: {value}, reasons: [\"r\"] }}"),
        )
        .unwrap();
        let input = InitialLimitInput { applicant_type: "enterprise".into(), ..Default::default() };
        let (d, record) = load(&rules).evaluate("initial_limit", &input, None);
        assert_eq!(d.outcome, "manual_review", "{value}");
        assert!(d.reasons[0].contains("rule_output_out_of_range"), "{:?}", d.reasons);
        assert!(d.reasons[0].contains(&format!("`limit_cents` = {shown}")), "{:?}", d.reasons);
        assert!(d.fields.is_empty(), "no limit is offered: {d:?}");
        // The script's answer stays on the record for the audit; the record says manual review.
        assert_eq!(record.outcome, "manual_review");
        assert_eq!(record.output["limit_cents"].to_string(), shown);
        assert_eq!(record.decision(Limits::default().max_limit_cents).unwrap().outcome, "manual_review");
    }
    // The maximum is configurable.
    let (_dir, rules) = copy();
    let input = InitialLimitInput { applicant_type: "enterprise".into(), ..Default::default() };
    let low = Limits { max_limit_cents: 10_000, ..Limits::default() };
    let (d, _) = RuleSet::load_with(&rules, low).unwrap().evaluate("initial_limit", &input, None);
    assert!(d.reasons[0].contains("`limit_cents` = 20000 is outside 1..=10000"), "{:?}", d.reasons);
}

#[test]
fn the_cli_evaluates_with_the_configured_budget_and_maximum() {
    let (dir, rules) = copy();
    std::fs::write(rules.join("spin.rhai"), "loop { \"0123456789abcdef\".index_of(\"z\"); }\n").unwrap();
    let input = dir.path().join("input.json");
    std::fs::write(&input, r#"{"applicant_type": "enterprise"}"#).unwrap();
    let eval = |rule: &str, key: &str, value: &str| {
        let o = common::creditline(dir.path())
            .env("CREDITLINE_RULES_DIR", &rules)
            .env(key, value)
            .args(["rules", "eval", rule, "--input", input.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", common::stderr(&o));
        serde_json::from_str::<serde_json::Value>(&common::stdout(&o)).unwrap()
    };
    let d = eval("spin", "CREDITLINE_RULES__BUDGET_MS", "1");
    assert_eq!(d["outcome"], "manual_review");
    assert!(
        d["reasons"][0].as_str().unwrap().starts_with("rule_error: rule_budget_exceeded: stopped after its 1 ms"),
        "{d}"
    );
    let d = eval("initial_limit", "CREDITLINE_RULES__MAX_LIMIT_CENTS", "15000");
    assert_eq!(d["outcome"], "manual_review");
    assert!(d["reasons"][0].as_str().unwrap().contains("`limit_cents` = 20000 is outside 1..=15000"), "{d}");

    let o = common::creditline(dir.path())
        .env("CREDITLINE_RULES__BUDGET_MS", "0")
        .args(["rules", "check"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(common::stderr(&o).contains("rules.budget_ms"), "{}", common::stderr(&o));
}

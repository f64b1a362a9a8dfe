//! Rule evaluation speed: one full application evaluation (applicant type, business
//! verification, AWS history, initial limit), each of the four alone, and a runaway script aborted
//! by the operation limit. Run: `cargo bench --bench rules`.

use std::path::PathBuf;

use creditline::rules::RuleSet;
use creditline::rules::inputs::{ApplicantTypeInput, AwsHistoryInput, BusinessVerificationInput, InitialLimitInput};
use criterion::{Criterion, criterion_group, criterion_main};

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules")
}

fn bench(c: &mut Criterion) {
    let set = match RuleSet::load(&rules_dir()) {
        Ok(s) => s,
        Err(e) => panic!("rules do not compile: {e:?}"),
    };
    let applicant = ApplicantTypeInput {
        declared_type: "enterprise".into(),
        account_email: "billing@lumenforge.io".into(),
        legal_company_name: "Lumenforge Ltd".into(),
        registration_country: "United Kingdom".into(),
        website: "https://www.lumenforge.io".into(),
        product: "Lumenforge Studio".into(),
        use_case: "batch product photos".into(),
        aws_account: "482199371204".into(),
        aws_login: true,
        expected_monthly_spend_cents: 18_000,
        requested_limit_cents: 20_000,
        business_contact: "Slack".into(),
        ..Default::default()
    };
    let verification = BusinessVerificationInput {
        applicant_type: "enterprise".into(),
        contact_email: "maya.chen@lumenforge.io".into(),
        website: "https://www.lumenforge.io".into(),
        ..Default::default()
    };
    let aws = AwsHistoryInput {
        has_account: true,
        account_age_months: 68,
        standing: "good".into(),
        months_with_usage: 12,
        recent_monthly_billing_cents: vec![340_000, 345_000, 338_000],
        aws_login: true,
    };
    let limit = InitialLimitInput {
        applicant_type: "enterprise".into(),
        requested_limit_cents: 20_000,
        expected_monthly_spend_cents: 18_000,
        business_verification: "pass".into(),
        aws_history: "pass".into(),
    };

    c.bench_function("full_application_evaluation", |b| {
        b.iter(|| {
            let a = set.evaluate("applicant_type", &applicant, None);
            let v = set.evaluate("business_verification", &verification, None);
            let h = set.evaluate("aws_history", &aws, None);
            let l = set.evaluate("initial_limit", &limit, None);
            assert_eq!(l.0.outcome, "offer");
            (a, v, h, l)
        })
    });
    // Each of the four alone, to see where a full evaluation's time goes.
    c.bench_function("single_rule_applicant_type", |b| b.iter(|| set.evaluate("applicant_type", &applicant, None)));
    c.bench_function("single_rule_business_verification", |b| {
        b.iter(|| set.evaluate("business_verification", &verification, None))
    });
    c.bench_function("single_rule_aws_history", |b| b.iter(|| set.evaluate("aws_history", &aws, None)));
    c.bench_function("single_rule_initial_limit", |b| b.iter(|| set.evaluate("initial_limit", &limit, None)));

    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("rules");
    std::fs::create_dir_all(copy.join("data")).expect("mkdir");
    // Every data list the shipped rules load, whatever lists are added later.
    for entry in std::fs::read_dir(rules_dir().join("data")).expect("rules/data") {
        let path = entry.expect("list").path();
        std::fs::copy(&path, copy.join("data").join(path.file_name().expect("name"))).expect("copy list");
    }
    std::fs::write(copy.join("runaway.rhai"), "let n = 0;\nloop { n += 1; }\n").expect("write script");
    let runaway = RuleSet::load(&copy).expect("compiles");
    c.bench_function("runaway_script_aborted", |b| {
        b.iter(|| {
            let (d, _) = runaway.evaluate("runaway", &serde_json::json!({}), None);
            assert!(d.is_rule_error());
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

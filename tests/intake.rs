//! The support inbox, black-box through `creditline ingest` (SQLite) and through the library on
//! PostgreSQL: the shared samples, our own corpus (`tests/corpus`, expectations in
//! `expected.json`), Maildir handling, a crash in the middle, oversized mail, and replies.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{TestStore, creditline, run, stderr, stdout};
use serde::Deserialize;
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    common::repo().join("tests/corpus")
}

fn samples_dir() -> PathBuf {
    common::repo().join("../shared/samples/inbox")
}

/// `ingest --json` over `paths`: one report per message, in order.
fn ingest(cwd: &Path, paths: &[&Path]) -> Vec<Value> {
    let mut args = vec!["ingest".to_string(), "--json".to_string()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(cwd, &args);
    assert!(o.status.success(), "ingest failed: {}", stderr(&o));
    stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn file_name(report: &Value) -> String {
    let source = report["source"].as_str().expect("source");
    Path::new(source).file_name().expect("file name").to_string_lossy().into_owned()
}

fn by_file(reports: Vec<Value>) -> BTreeMap<String, Value> {
    reports.into_iter().map(|r| (file_name(&r), r)).collect()
}

fn show(cwd: &Path, id: &str) -> Value {
    let o = run(cwd, &["applications", "show", id, "--json"]);
    assert!(o.status.success(), "show {id}: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("show --json is JSON")
}

/// The application views behind the reports, by application id.
fn views_via_cli(cwd: &Path, reports: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let ids: std::collections::BTreeSet<&str> = reports.values().filter_map(|r| r["application_id"].as_str()).collect();
    ids.into_iter().map(|id| (id.to_string(), show(cwd, id))).collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// What one corpus message must give. Absent keys are not checked.
#[derive(Debug, Deserialize)]
struct Expectation {
    file: String,
    outcome: String,
    state: Option<String>,
    applicant_type: Option<String>,
    /// The exact missing list.
    missing: Option<Vec<String>>,
    #[serde(default)]
    missing_include: Vec<String>,
    #[serde(default)]
    findings_include: Vec<String>,
    #[serde(default)]
    findings_exclude: Vec<String>,
    /// The same application as the one this other file created.
    same_application_as: Option<String>,
    /// The application's account email (forwarded mail is read from the forwarded part).
    account: Option<String>,
    /// Extracted fields: the value must contain this text, and carry its provenance.
    #[serde(default)]
    field: BTreeMap<String, String>,
    /// Months of AWS billing read from an attached CSV.
    evidence_months: Option<usize>,
}

fn expectations() -> Vec<Expectation> {
    let text = std::fs::read_to_string(corpus_dir().join("expected.json")).expect("read expected.json");
    serde_json::from_str(&text).expect("expected.json parses")
}

/// Every difference between what the corpus gave and what `expected.json` says.
fn corpus_failures(reports: &BTreeMap<String, Value>, views: &BTreeMap<String, Value>) -> Vec<String> {
    let mut failures = Vec::new();
    let mut fail = |file: &str, what: String| failures.push(format!("{file}: {what}"));
    let expected = expectations();
    assert!(expected.len() >= 30, "the corpus has at least 30 messages");
    for e in &expected {
        let Some(r) = reports.get(&e.file) else {
            fail(&e.file, "no report".into());
            continue;
        };
        if r["outcome"] != e.outcome.as_str() {
            fail(&e.file, format!("outcome {} (want {})", r["outcome"], e.outcome));
        }
        if let Some(state) = &e.state
            && r["state"] != state.as_str()
        {
            fail(&e.file, format!("state {} (want {state})", r["state"]));
        }
        if let Some(t) = &e.applicant_type
            && r["applicant_type"] != t.as_str()
        {
            fail(&e.file, format!("applicant_type {} (want {t})", r["applicant_type"]));
        }
        let missing = strings(&r["missing"]);
        if let Some(m) = &e.missing {
            let (mut got, mut want) = (missing.clone(), m.clone());
            got.sort();
            want.sort();
            if got != want {
                fail(&e.file, format!("missing {got:?} (want {want:?})"));
            }
        }
        for m in &e.missing_include {
            if !missing.contains(m) {
                fail(&e.file, format!("missing {missing:?} lacks {m}"));
            }
        }
        let findings = strings(&r["findings"]);
        for f in &e.findings_include {
            if !findings.contains(f) {
                fail(&e.file, format!("findings {findings:?} lack {f}"));
            }
        }
        for f in &e.findings_exclude {
            if findings.contains(f) {
                fail(&e.file, format!("findings {findings:?} must not have {f}"));
            }
        }
        if let Some(other) = &e.same_application_as {
            let theirs = reports.get(other).map(|o| &o["application_id"]);
            if r["application_id"].is_null() || Some(&r["application_id"]) != theirs {
                fail(&e.file, format!("application {} is not {other}'s ({theirs:?})", r["application_id"]));
            }
        }
        let view = r["application_id"].as_str().and_then(|id| views.get(id));
        if let Some(account) = &e.account
            && view.map(|v| &v["account_email"]) != Some(&Value::from(account.as_str()))
        {
            fail(&e.file, format!("account is not {account}"));
        }
        for (key, want) in &e.field {
            let found =
                view.and_then(|v| v["fields"].as_array()?.iter().rev().find(|f| f["field"] == key.as_str()).cloned());
            match found {
                None => fail(&e.file, format!("no field {key}")),
                Some(f) => {
                    let value = f["value"].as_str().unwrap_or_default();
                    if !value.contains(want.as_str()) {
                        fail(&e.file, format!("{key} = {value:?} (want it to contain {want:?})"));
                    }
                    if f["message_id"].as_str().is_none_or(str::is_empty)
                        || f["excerpt"].as_str().is_none_or(str::is_empty)
                    {
                        fail(&e.file, format!("{key} has no provenance: {f}"));
                    }
                }
            }
        }
        if let Some(months) = e.evidence_months {
            let got = view
                .and_then(|v| v["evidence"].as_array()?.iter().find(|x| x["kind"] == "aws_billing").cloned())
                .and_then(|x| x["data"]["months"].as_array().map(Vec::len));
            if got != Some(months) {
                fail(&e.file, format!("aws billing months {got:?} (want {months})"));
            }
        }
    }
    failures
}

#[test]
fn the_shared_samples_give_the_outcomes_their_content_implies() {
    let dir = tempfile::tempdir().unwrap();
    let reports = by_file(ingest(dir.path(), &[&samples_dir()]));
    let outcome = |f: &str| reports[f]["outcome"].as_str().unwrap_or_default().to_string();
    let state = |f: &str| reports[f]["state"].as_str().unwrap_or_default().to_string();
    let kind = |f: &str| reports[f]["applicant_type"].as_str().unwrap_or_default().to_string();
    assert_eq!(reports.len(), 8);

    // A complete enterprise application waits for the confirmation from its company domain.
    let f = "01-enterprise-complete.eml";
    assert_eq!(
        (outcome(f), state(f), kind(f)),
        ("created_application".into(), "awaiting_domain_confirmation".into(), "enterprise".into())
    );
    assert_eq!(strings(&reports[f]["missing"]), ["company_domain_confirmation"]);
    // An individual with an app and a website goes to review.
    let f = "02-individual-with-product.eml";
    assert_eq!(
        (outcome(f), state(f), kind(f)),
        ("created_application".into(), "pending_review".into(), "individual_with_product".into())
    );
    // An individual without a product is answered with the prepaid path.
    let f = "03-individual-no-product.eml";
    assert_eq!(
        (outcome(f), state(f), kind(f)),
        ("created_application".into(), "closed_prepaid".into(), "individual_without_product".into())
    );
    // Free mail, a vercel.app site and a tool-directory profile are not enough.
    let f = "04-enterprise-platform-site.eml";
    assert_eq!(
        (outcome(f), state(f), kind(f)),
        ("created_application".into(), "awaiting_materials".into(), "enterprise".into())
    );
    let findings = strings(&reports[f]["findings"]);
    for code in ["free_mail_domain", "generic_platform_website", "tool_directory_website"] {
        assert!(findings.iter().any(|x| x == code), "{code} in {findings:?}");
    }
    // The CFO's reply from lumenforge.io confirms application 01 and moves it to review.
    let f = "05-domain-confirmation-reply.eml";
    assert_eq!((outcome(f), state(f)), ("domain_confirmed".into(), "pending_review".into()));
    assert_eq!(reports[f]["application_id"], reports["01-enterprise-complete.eml"]["application_id"]);
    assert_eq!(outcome("06-invoice-request.eml"), "invoice_request");
    assert_eq!(outcome("07-out-of-office.eml"), "ignored_auto_reply");
    // Lumenforge has no credit line yet: the request is recorded and goes to a reviewer.
    let f = "08-increase-to-5000.eml";
    assert_eq!(outcome(f), "limit_increase_request");
    assert!(strings(&reports[f]["findings"]).contains(&"no_credit_line_for_account".to_string()));

    // The confirmed application shows its fields with provenance.
    let id = reports["01-enterprise-complete.eml"]["application_id"].as_str().unwrap();
    let view = show(dir.path(), id);
    let website = view["fields"].as_array().unwrap().iter().find(|f| f["field"] == "website").unwrap();
    assert_eq!(website["value"], "https://www.lumenforge.io");
    assert_eq!(website["message_id"], "CAL7f2a1.9c3e@mail.lumenforge.io");
    assert_eq!(website["excerpt"], "Website: https://www.lumenforge.io");
    assert_eq!(view["messages"].as_array().unwrap().len(), 2, "the application and the confirmation");
    assert!(view["decisions"].as_array().unwrap().iter().any(|d| d["rule"] == "initial_limit"));
}

#[test]
fn the_corpus_gives_its_expected_outcomes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let reports = by_file(ingest(dir.path(), &[&corpus_dir()]));
    let views = views_via_cli(dir.path(), &reports);
    let failures = corpus_failures(&reports, &views);
    assert!(failures.is_empty(), "{} corpus failures:\n{}", failures.len(), failures.join("\n"));
}

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
}

/// Checks library reports against `expected.json`, with the views from the store.
async fn check_corpus(app: &creditline::app::App, reports: Vec<creditline::services::inbound::Report>) {
    let reports: BTreeMap<String, Value> = reports
        .into_iter()
        .map(|r| {
            let r = serde_json::to_value(r).unwrap();
            (file_name(&r), r)
        })
        .collect();
    let mut views = BTreeMap::new();
    for id in reports.values().filter_map(|r| r["application_id"].as_str()) {
        let record = app.store.application(id.parse().unwrap()).await.unwrap().expect("application exists");
        views.insert(
            id.to_string(),
            creditline::services::views::application(app.store.as_ref(), &record).await.unwrap(),
        );
    }
    let failures = corpus_failures(&reports, &views);
    assert!(failures.is_empty(), "{} corpus failures:\n{}", failures.len(), failures.join("\n"));
}

/// The same corpus through the library one message at a time, on both stores.
async fn the_corpus_gives_its_expected_outcomes(t: TestStore) {
    let app = t.app();
    let files = corpus_files();
    let mut reports = Vec::new();
    for f in &files {
        let raw = std::fs::read(f).unwrap();
        reports
            .push(creditline::services::inbound::ingest(&app, &f.display().to_string(), &raw).await.expect("ingest"));
    }
    check_corpus(&app, reports).await;

    // Everything again: every message is a duplicate and nothing changes.
    let before = app.store.message_counts().await.unwrap();
    for f in &files {
        let raw = std::fs::read(f).unwrap();
        let report = creditline::services::inbound::ingest(&app, "again", &raw).await.unwrap();
        assert_eq!(report.outcome, "duplicate", "{}", f.display());
    }
    assert_eq!(app.store.message_counts().await.unwrap(), before);
}

/// The corpus in one call of the batched path gives exactly the same outcomes.
async fn the_corpus_in_one_batch_gives_the_same_outcomes(t: TestStore) {
    let app = t.app();
    let messages: Vec<(String, Vec<u8>)> =
        corpus_files().iter().map(|f| (f.display().to_string(), std::fs::read(f).unwrap())).collect();
    let reports = creditline::services::inbound::ingest_many(&app, &messages).await.expect("ingest_many");
    assert_eq!(reports.len(), messages.len());
    check_corpus(&app, reports).await;
    let again = creditline::services::inbound::ingest_many(&app, &messages).await.unwrap();
    assert!(again.iter().all(|r| r.outcome == "duplicate"));
}

/// As `creditline ingest` runs it: the rules on the batch's own task (`rules_inline`), the
/// same outcomes, each decision recorded.
async fn the_corpus_in_one_batch_with_rules_inline_gives_the_same_outcomes(t: TestStore) {
    use creditline::services::inbound::{ingest_many, rules_inline};
    let app = t.app();
    let messages: Vec<(String, Vec<u8>)> =
        corpus_files().iter().map(|f| (f.display().to_string(), std::fs::read(f).unwrap())).collect();
    let reports = rules_inline(ingest_many(&app, &messages)).await.expect("ingest_many");
    assert_eq!(reports.len(), messages.len());
    let created: Vec<String> = reports
        .iter()
        .filter(|r| r.outcome == "created_application")
        .filter_map(|r| r.application_id.clone())
        .collect();
    assert!(!created.is_empty());
    for id in &created {
        let subject = creditline::domain::SubjectId(id.parse().unwrap());
        let rules: Vec<String> = app.store.decisions_for(subject).await.unwrap().into_iter().map(|d| d.rule).collect();
        assert!(rules.iter().any(|r| r == "applicant_type"), "{id}: {rules:?}");
    }
    check_corpus(&app, reports).await;
}

/// Two writers ingest the same message at once: one outcome, the other a duplicate.
async fn the_same_message_ingested_concurrently_is_processed_once(t: TestStore) {
    let app = t.app();
    let raw = std::fs::read(corpus_dir().join("02-base64-individual.eml")).unwrap();
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let (app, raw) = (app.clone(), raw.clone());
            tokio::spawn(async move { creditline::services::inbound::ingest(&app, &format!("writer {i}"), &raw).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for run in runs {
        outcomes.push(run.await.unwrap().unwrap().outcome);
    }
    assert_eq!(outcomes.iter().filter(|o| *o == "created_application").count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| *o == "duplicate").count(), 7, "{outcomes:?}");
    let apps = app.store.list_applications(&Default::default()).await.unwrap();
    assert_eq!(apps.len(), 1);
}

/// An intake write whose transition starts from a stale version writes nothing at all: not
/// the claim, not the fields, not the events (on SQLite the statements go in one call after a
/// guard read; on PostgreSQL each runs with its own check).
async fn a_stale_intake_write_is_refused_whole(t: TestStore) {
    use creditline::store::{FieldWrite, IntakeWrite, Kept, RawMessage, StoreError, TransitionWrite, WorkflowChanges};
    let app = t.app();
    let first = std::fs::read(corpus_dir().join("27-materials-missing.eml")).unwrap();
    let report = creditline::services::inbound::ingest(&app, "first", &first).await.unwrap();
    let id: creditline::domain::ApplicationId = report.application_id.unwrap().parse().unwrap();
    let instance = app.store.instance(id.into()).await.unwrap().unwrap();
    let fields_before = app.store.application_fields(id).await.unwrap().len();
    let events_before = app.store.events(id.into()).await.unwrap().len();

    let raw = RawMessage {
        sha256: "f".repeat(64),
        message_id: "stale@example.com".into(),
        size: 1,
        raw: Some(b"x".to_vec()),
        source: "test".into(),
        received_at: chrono::Utc::now(),
    };
    assert!(matches!(app.store.keep_message(&raw).await.unwrap(), Kept::ToProcess));
    let write = IntakeWrite {
        message_sha256: raw.sha256.clone(),
        outcome: "updated_application".into(),
        application_id: Some(id),
        report: serde_json::json!({}),
        processed_at: chrono::Utc::now(),
        workflow: WorkflowChanges::step(TransitionWrite {
            instance_id: id.into(),
            expected_version: instance.version - 1,
            event_id: creditline::domain::EventId::new(),
            event: "materials_complete".into(),
            from_state: instance.state.clone(),
            to_state: "business_verification".into(),
            actor: "test".into(),
            reason: None,
            decision_ids: vec![],
            outbox: vec![],
            tasks: vec![],
            at: chrono::Utc::now(),
        }),
        fields: vec![(
            id,
            FieldWrite {
                field: "website".into(),
                value: "https://x.example".into(),
                message_id: "stale@example.com".into(),
                excerpt: "x".into(),
            },
        )],
        ..Default::default()
    };
    let err = app.store.commit_intake(&write).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(app.store.application_fields(id).await.unwrap().len(), fields_before);
    assert_eq!(app.store.events(id.into()).await.unwrap().len(), events_before);
    assert_eq!(app.store.instance(id.into()).await.unwrap().unwrap().version, instance.version);
    assert!(matches!(app.store.keep_message(&raw).await.unwrap(), Kept::ToProcess), "the message is still unclaimed");

    // The same write at the right version goes through, once.
    let mut fresh = write.clone();
    fresh.workflow.steps[0].expected_version = instance.version;
    app.store.commit_intake(&fresh).await.unwrap();
    assert_eq!(app.store.application_fields(id).await.unwrap().len(), fields_before + 1);
    assert!(matches!(app.store.commit_intake(&fresh).await, Err(StoreError::Duplicate(_))));
}

store_suite!(
    the_corpus_gives_its_expected_outcomes,
    the_corpus_in_one_batch_gives_the_same_outcomes,
    the_corpus_in_one_batch_with_rules_inline_gives_the_same_outcomes,
    the_same_message_ingested_concurrently_is_processed_once,
    a_stale_intake_write_is_refused_whole,
);

/// A Maildir with `n` distinct applications in `new/`.
fn maildir_with_applications(root: &Path, n: usize) -> PathBuf {
    let md = root.join("Maildir");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    for i in 0..n {
        let msg = format!(
            "Message-ID: <app-{i}@studio{i}.example>\r\nFrom: dev{i}@studio{i}.com\r\nTo: support@wavespeed.ai\r\n\
             Subject: Credit line application {i}\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\n\r\n\
             Account email: dev{i}@studio{i}.com\r\nApplicant type: individual\r\n\
             Product: Studio {i}, an app that draws comics\r\nWebsite: https://studio{i}.com\r\n\
             Expected monthly usage: $100\r\nRequested credit line: $200/month\r\n"
        );
        std::fs::write(md.join("new").join(format!("1700000000.{i:05}.host")), msg).unwrap();
    }
    md
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

fn applications(cwd: &Path) -> Vec<Value> {
    let o = run(cwd, &["applications", "list", "--json", "--limit", "10000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn ingesting_a_maildir_twice_changes_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let md = maildir_with_applications(dir.path(), 12);
    let first = ingest(dir.path(), &[&md]);
    assert_eq!(first.len(), 12);
    assert!(first.iter().all(|r| r["outcome"] == "created_application"), "{first:?}");
    assert_eq!(count_files(&md.join("new")), 0, "processed messages leave new/");
    let cur: Vec<String> = std::fs::read_dir(md.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cur.len(), 12);
    assert!(cur.iter().all(|n| n.ends_with(":2,S")), "marked seen: {cur:?}");
    let before = applications(dir.path());

    let second = ingest(dir.path(), &[&md]);
    assert_eq!(second.len(), 12);
    assert!(second.iter().all(|r| r["outcome"] == "duplicate"), "{second:?}");
    assert_eq!(applications(dir.path()), before, "nothing changed");
}

#[test]
fn killing_ingest_midway_and_rerunning_loses_no_message_and_doubles_none() {
    let dir = tempfile::tempdir().unwrap();
    // Enough messages that the kill, after the first 20 reports, lands before the end even
    // when a batch of 64 commits in a few milliseconds.
    let n = 1000;
    let md = maildir_with_applications(dir.path(), n);
    let mut child = creditline(dir.path())
        .args(["ingest", "--json", &md.display().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..20 {
        lines.next().expect("a report before the kill").unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = count_files(&md.join("new"));
    assert!(left > 0 && left < n, "killed in the middle ({left} of {n} left in new/)");

    let rerun = ingest(dir.path(), &[&md]);
    assert_eq!(rerun.len(), n, "every message seen once by the rerun");
    for r in &rerun {
        assert!(["created_application", "duplicate"].contains(&r["outcome"].as_str().unwrap()), "{r}");
    }
    assert_eq!(count_files(&md.join("new")), 0);
    let apps = applications(dir.path());
    assert_eq!(apps.len(), n, "one application per message");
    let accounts: std::collections::BTreeSet<&str> =
        apps.iter().map(|a| a["account_email"].as_str().unwrap()).collect();
    assert_eq!(accounts.len(), n);
}

#[test]
fn an_oversized_message_is_rejected_before_parsing_and_ingest_still_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.eml");
    let mut raw = b"Message-ID: <huge@example.com>\r\nFrom: a@example.com\r\nSubject: big\r\n\r\n".to_vec();
    raw.resize(25 * 1024 * 1024 + 1, b'a');
    std::fs::write(&path, &raw).unwrap();
    let reports = ingest(dir.path(), &[&path]);
    assert_eq!(reports[0]["outcome"], "rejected");
    let error = reports[0]["error"].as_str().unwrap();
    assert!(error.contains("25 MiB") || error.contains("too large"), "{error}");
    // The same bytes again are a duplicate: the rejection was recorded.
    assert_eq!(ingest(dir.path(), &[&path])[0]["outcome"], "duplicate");
}

#[test]
fn an_unreadable_path_fails_with_exit_1_after_the_readable_ones() {
    let dir = tempfile::tempdir().unwrap();
    let sample = corpus_dir().join("22-spam.eml");
    let o = run(dir.path(), &["ingest", "--json", "no-such-folder", &sample.display().to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no-such-folder"));
    assert_eq!(stdout(&o).lines().count(), 1, "the readable message was still ingested");
}

#[test]
fn a_reply_carrying_only_the_reference_token_reaches_its_application() {
    let dir = tempfile::tempdir().unwrap();
    let first = ingest(dir.path(), &[&corpus_dir().join("27-materials-missing.eml")]);
    let id = first[0]["application_id"].as_str().unwrap().to_string();
    assert_eq!(first[0]["state"], "awaiting_materials");
    let reference = show(dir.path(), &id)["reference"].as_str().unwrap().to_string();
    assert!(reference.starts_with("CL-"));
    // From another address, no thread headers: only the token in the subject links it.
    let reply = format!(
        "Message-ID: <token-reply@fjordpixel.no>\r\nFrom: ceo@fjordpixel.no\r\nTo: support@wavespeed.ai\r\n\
         Subject: Re: [{reference}] Materials needed\r\n\r\nRegistration country: Norway\r\n\
         Website: https://fjordpixel.no\r\nProduct: Fjord Pixel, photo restoration\r\nUse case: archive photos\r\n\
         Expected monthly usage: $120\r\n"
    );
    let path = dir.path().join("reply.eml");
    std::fs::write(&path, reply).unwrap();
    let r = &ingest(dir.path(), &[&path])[0];
    assert_eq!(r["application_id"], id.as_str());
    assert_eq!(r["outcome"], "updated_application");
    assert_eq!(r["state"], "awaiting_domain_confirmation");
    assert!(strings(&r["missing"]) == ["company_domain_confirmation"], "{r}");
}

//! Policy changes as data, maker-checker (issue 21, point 1), through the CLI and a running
//! server on SQLite and PostgreSQL, with `rules.from_folder = false` as production runs: the
//! folder seeds the first version in force; a reviewer may not propose; a proposal that does
//! not compile is refused with its file and line; the proposer may not approve their own; a
//! second senior reviewer puts it in force and the running server's next decision records the
//! new script's hash; a rollback, proposed and approved the same way, restores the old hash
//! for the next decision; a rejected proposal stays out of force; the folder's reload is
//! refused. With the default `from_folder = true` (development), activation is refused.

mod common;
#[path = "common/console.rs"]
mod console_client;

use common::{Api, run, stderr, stdout};
use console_client::{Browser, application_mail, body, csrf_of, post_raw};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn production(dir: &std::path::Path) {
    let path = dir.join("creditline.toml");
    let mut toml = std::fs::read_to_string(&path).unwrap_or_default();
    toml.push_str("\n[rules]\nfrom_folder = false\npoll_seconds = 1\n");
    std::fs::write(&path, toml).expect("write creditline.toml");
}

/// A copy of the shipped rules with the first tier at `cents`; its initial_limit's hash.
fn candidate(root: &std::path::Path, name: &str, cents: u32) -> (String, String) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("candidate folder");
    common::copy_dir(&common::repo().join("rules"), &dir);
    let script = dir.join("initial_limit.rhai");
    let text = std::fs::read_to_string(&script).expect("read");
    assert!(text.contains("let STANDARD_LIMIT_CENTS = 20000;"), "the first tier is where this test expects it");
    let changed = text.replace("let STANDARD_LIMIT_CENTS = 20000;", &format!("let STANDARD_LIMIT_CENTS = {cents};"));
    std::fs::write(&script, &changed).expect("write");
    (dir.display().to_string(), hex::encode(Sha256::digest(changed.as_bytes())))
}

fn shipped_initial_limit_hash() -> String {
    let text = std::fs::read_to_string(common::repo().join("rules/initial_limit.rhai")).expect("read");
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Runs `creditline rules ARGS`; the id the command printed first when it succeeded.
fn rules(api: &Api, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["rules"];
    all.extend_from_slice(args);
    let o = run(api.dir(), &all);
    (o.status.code(), stdout(&o), stderr(&o))
}

fn id_of(out: &str) -> String {
    out.split_whitespace().next().expect("an id").to_string()
}

/// The newest initial_limit decision about `account`'s application.
fn newest_initial_limit(api: &Api, account: &str) -> Value {
    let list = api.get(&format!("/api/v1/applications?account_email={account}"), &api.reviewer);
    let id = list["items"][0]["id"].as_str().unwrap_or_else(|| panic!("an application of {account}: {list}"));
    let view = api.get(&format!("/api/v1/applications/{id}"), &api.reviewer);
    let decisions = view["application"]["decisions"].as_array().expect("decisions").clone();
    decisions.into_iter().rev().find(|d| d["rule"] == "initial_limit").expect("an initial_limit decision")
}

/// The initial_limit version the newest decision about `account`'s application recorded.
fn initial_limit_version(api: &Api, account: &str) -> String {
    newest_initial_limit(api, account)["version"].as_str().expect("a version").to_string()
}

/// Waits (up to 10 s) until an application from `account` records `hash` for initial_limit:
/// the server looks for a new version every second.
fn next_decision_uses(api: &Api, accounts: &mut std::ops::RangeFrom<u32>, hash: &str) {
    for _ in 0..20 {
        let account = format!("dev{}@gmail.com", accounts.next().expect("another account"));
        post_raw(api, &application_mail(&account, &[]));
        if initial_limit_version(api, &account) == hash {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("the server never decided with initial_limit {hash}");
}

fn a_policy_change_takes_a_second_person_and_rolls_back(dir: tempfile::TempDir) {
    production(dir.path());
    let work = tempfile::tempdir().expect("candidates");
    let api = Api::start(dir);
    let old = shipped_initial_limit_hash();
    let mut accounts = 1..;

    // The folder seeded the first version in force.
    let (code, out, err) = rules(&api, &["versions"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains(" in_force ") && out.contains("proposed by bootstrap"), "{out}");
    let seed = id_of(&out);
    next_decision_uses(&api, &mut accounts, &old);

    // Who may propose, and what: a reviewer may not; rules that do not compile are refused.
    let (raised, new) = candidate(work.path(), "raised", 30000);
    let (code, _, err) = rules(&api, &["propose", &raised, "--note", "first tier $300", "--by", "rita"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("only admins and senior reviewers"), "{err}");
    let (broken, _) = candidate(work.path(), "broken", 30000);
    std::fs::write(format!("{broken}/initial_limit.rhai"), "let x = ;\n").expect("break it");
    let (code, _, err) = rules(&api, &["propose", &broken, "--note", "typo", "--by", "sam"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("do not compile") && err.contains("initial_limit.rhai:1:"), "{err}");

    // Proposed by sam: sam may not approve it; sue may, and the server uses it next.
    let (code, out, err) = rules(&api, &["propose", &raised, "--note", "first tier $300, backtested", "--by", "sam"]);
    assert_eq!(code, Some(0), "{err}");
    let proposal = id_of(&out);
    let (code, out, _) = rules(&api, &["show", &proposal]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("-let STANDARD_LIMIT_CENTS = 20000;") && out.contains("+let STANDARD_LIMIT_CENTS = 30000;"),
        "{out}"
    );
    let (code, _, err) = rules(&api, &["approve", &proposal, "--by", "sam"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("maker-checker"), "{err}");
    next_decision_uses(&api, &mut accounts, &old);
    let (code, out, err) = rules(&api, &["approve", &proposal, "--by", "sue", "--note", "agreed"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(" in_force ") && out.contains("decided by sue"), "{out}");
    next_decision_uses(&api, &mut accounts, &new);
    let (_, out, _) = rules(&api, &["versions"]);
    assert!(out.contains(&format!("{seed} superseded")), "{out}");

    // Rollback: proposed by sue, approved by sam; the next decision has the old hash again.
    let (code, out, err) = rules(&api, &["rollback", &seed, "--by", "sue", "--note", "complaints about the $300 tier"]);
    assert_eq!(code, Some(0), "{err}");
    let back = id_of(&out);
    let (code, _, err) = rules(&api, &["approve", &back, "--by", "sam"]);
    assert_eq!(code, Some(0), "{err}");
    next_decision_uses(&api, &mut accounts, &old);

    // A rejected proposal never comes into force; approving it afterwards is refused.
    let (_, out, _) = rules(&api, &["propose", &raised, "--note", "again", "--by", "ada"]);
    let again = id_of(&out);
    let (code, out, err) = rules(&api, &["reject", &again, "--by", "sam", "--note", "not now"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(" rejected "), "{out}");
    let (code, _, err) = rules(&api, &["approve", &again, "--by", "sue"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("is rejected, not proposed"), "{err}");

    // Every step is in the audit log, with who.
    for (action, who) in [
        ("rules.bootstrap", "bootstrap"),
        ("rules.propose", "sam"),
        ("rules.activate", "sue"),
        ("rules.propose_rollback", "sue"),
        ("rules.activate", "sam"),
        ("rules.reject", "sam"),
    ] {
        let audit = api.get(&format!("/api/v1/audit?action={action}"), &api.admin);
        let actors: Vec<&str> = audit["items"].as_array().unwrap().iter().filter_map(|e| e["actor"].as_str()).collect();
        assert!(actors.contains(&who), "{action} by {who}: {audit}");
    }

    // The folder is no longer the policy: a reload is refused.
    let r = api.send("POST", "/api/v1/admin/rules/reload", Some(&api.admin), &[], b"");
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
}

fn in_development_the_folder_is_the_policy(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let work = tempfile::tempdir().expect("candidates");
    let (raised, new) = candidate(work.path(), "raised", 30000);
    // The folder's versions are kept from the first start on.
    let (code, out, err) = rules(&api, &["history", "initial_limit"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with(&shipped_initial_limit_hash()), "{out}");
    let (code, out, err) = rules(&api, &["propose", &raised, "--note", "try it", "--by", "sam"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = rules(&api, &["approve", &id_of(&out), "--by", "sue"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("rules.from_folder is on"), "{err}");
    let (code, out, _) = rules(&api, &["versions"]);
    assert_eq!(code, Some(0));
    assert_eq!(out.lines().count(), 1, "only the proposal: {out}");
    // A proposal's rule versions are kept too, with their source.
    let (_, out, _) = rules(&api, &["history", "initial_limit"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let (code, source, _) = rules(&api, &["history", "initial_limit", "--source", &new[..16]]);
    assert_eq!(code, Some(0));
    assert!(source.contains("let STANDARD_LIMIT_CENTS = 30000;"), "{source}");
    let (code, _, err) = rules(&api, &["history", "no_such_rule"]);
    assert_eq!(code, Some(2), "{err}");
}

/// The live initial_limit offer of the newest application of `account`, in cents.
fn live_limit(api: &Api, account: &str) -> i64 {
    newest_initial_limit(api, account)["output"]["limit_cents"].as_i64().expect("an offer")
}

fn a_shadow_run_never_acts_and_goes_with_its_rejection(dir: tempfile::TempDir) {
    production(dir.path());
    let work = tempfile::tempdir().expect("candidates");
    let api = Api::start(dir);
    // The applications below ask $200 with $120 of expected use: the live rules offer $150;
    // a first tier of $100 would offer $100.
    let (lowered, _) = candidate(work.path(), "lowered", 10000);
    let (code, out, err) = rules(&api, &["propose", &lowered, "--note", "first tier $100", "--by", "sam"]);
    assert_eq!(code, Some(0), "{err}");
    let proposal = id_of(&out);
    let (code, _, err) = rules(&api, &["shadow", &proposal, "--by", "sue"]);
    assert_eq!(code, Some(0), "{err}");

    // The server picks the shadow run up within a poll; live decisions stay as they were.
    let mut shown = String::new();
    for n in 0..40 {
        let account = format!("shadow{n}@gmail.com");
        post_raw(&api, &application_mail(&account, &[]));
        assert_eq!(live_limit(&api, &account), 15000, "the live offer is the policy in force's");
        std::thread::sleep(std::time::Duration::from_millis(300));
        shown = rules(&api, &["show", &proposal]).1;
        if shown.contains("changed ") {
            break;
        }
    }
    assert!(shown.contains("shadow run: on"), "{shown}");
    let line = shown.lines().find(|l| l.trim_start().starts_with("initial_limit:")).expect("initial_limit compared");
    assert!(line.contains("live: offer") && line.contains("shadow: offer"), "{line}");
    let changed = shown.lines().find(|l| l.contains("changed ")).expect("a changed decision");
    assert!(changed.contains("\"limit_cents\":15000") && changed.contains("\"limit_cents\":10000"), "{changed}");
    let (_, versions, _) = rules(&api, &["versions"]);
    assert_eq!(versions.lines().filter(|l| l.contains(" in_force ")).count(), 1);
    assert!(versions.contains("proposed by bootstrap"), "the seed is still in force: {versions}");

    // Rejected: the results go, and new live decisions make no more.
    let (code, _, err) = rules(&api, &["reject", &proposal, "--by", "ada", "--note", "not this quarter"]);
    assert_eq!(code, Some(0), "{err}");
    let shown = rules(&api, &["show", &proposal]).1;
    assert!(shown.contains("shadow run: off") && !shown.contains("decisions,"), "{shown}");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    post_raw(&api, &application_mail("after-reject@gmail.com", &[]));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let shown = rules(&api, &["show", &proposal]).1;
    assert!(!shown.contains("decisions,"), "no shadow results after the rejection: {shown}");
    assert_eq!(live_limit(&api, "after-reject@gmail.com"), 15000);
}

fn the_console_shows_a_version_with_its_diff_and_impact_and_decides_it(dir: tempfile::TempDir) {
    production(dir.path());
    let work = tempfile::tempdir().expect("candidates");
    let api = Api::start(dir);
    let (lowered, _) = candidate(work.path(), "lowered", 10000);
    let (code, out, err) = rules(&api, &["propose", &lowered, "--note", "first tier <b>$100</b>", "--by", "sam"]);
    assert_eq!(code, Some(0), "{err}");
    let id = id_of(&out);
    let page = format!("/console/rules/{id}");

    let sam = Browser::sign_in(&api, &api.senior);
    let list = sam.page("/console/rules");
    assert!(list.contains(&format!("<a href=\"/console/rules/{id}\">")), "{list}");
    assert!(list.contains("first tier &lt;b&gt;$100&lt;&#x2f;b&gt;"), "escaped: {list}");
    let shown = sam.page(&page);
    assert!(shown.contains("<del>-let STANDARD_LIMIT_CENTS = 20000;"), "{shown}");
    assert!(shown.contains("<ins>+let STANDARD_LIMIT_CENTS = 10000;"), "{shown}");
    assert!(shown.contains("You proposed this version"), "{shown}");
    let csrf = csrf_of(&shown);
    let approve = [("csrf", csrf.as_str()), ("version", "1"), ("action", "approve")];
    let r = sam.post(&format!("{page}/act"), &approve);
    assert_eq!(r.status, 403, "maker = checker: {}", body(&r));
    assert!(body(&r).contains("maker-checker"), "{}", body(&r));

    // The backtest beside the diff: the recorded initial_limit decisions under $100.
    let sue = Browser::sign_in(&api, &api.senior2);
    let impact = sue.page(&format!("{page}?backtest=on"));
    assert!(impact.contains("<h3>initial limit</h3>"), "{impact}");
    assert!(impact.contains("decisions replayed"), "{impact}");
    let csrf = csrf_of(&impact);
    let r = sue.post(&format!("{page}/act"), &[("version", "1"), ("action", "approve")]);
    assert_eq!(r.status, 403, "no CSRF token");
    let r = sue.post(&format!("{page}/act"), &[("csrf", &csrf), ("version", "1"), ("action", "shadow")]);
    assert_eq!(r.status, 303, "{}", body(&r));
    assert!(sue.page(&page).contains("in shadow"));
    // A reviewer reads, but the forms are not theirs (and the service says no).
    let rita = Browser::sign_in(&api, &api.reviewer);
    let read = rita.page(&page);
    assert!(!read.contains("Approve and put in force"), "{read}");
    let rcsrf = csrf_of(&read);
    let r = rita.post(&format!("{page}/act"), &[("csrf", &rcsrf), ("version", "1"), ("action", "approve")]);
    assert_eq!(r.status, 403);
    // A stale page: the version moved (the shadow start), so the approval it shows is refused.
    let r = sue.post(&format!("{page}/act"), &[("csrf", &csrf), ("version", "0"), ("action", "approve")]);
    assert_eq!(r.status, 409, "{}", body(&r));
    let r = sue.post(&format!("{page}/act"), &[("csrf", &csrf), ("version", "1"), ("action", "approve")]);
    assert_eq!(r.status, 303, "{}", body(&r));
    let done = sue.page(&page);
    assert!(done.contains("<dt>State</dt><dd>in force"), "{done}");
    assert!(done.contains("This is the version in force."), "{done}");
}

/// Rule analytics: reviewers' agreement with the suggested limit, the overrides with their
/// reasons, the outcomes by month, on the CLI and in the console.
fn analytics_count_agreement_overrides_and_outcomes(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let reviews: Vec<Value> =
        api.get("/api/v1/tasks?kind=application_review&limit=200", &api.reviewer)["items"].as_array().unwrap().clone();
    let suggested = |task: &Value| {
        let id = task["id"].as_str().unwrap();
        api.get(&format!("/api/v1/tasks/{id}"), &api.reviewer)["suggested_limit_cents"].as_i64()
    };
    let offered: Vec<&Value> = reviews.iter().filter(|t| suggested(t).is_some()).collect();
    assert!(offered.len() >= 3, "the corpus has applications with a suggested limit");
    let decide = |token: &str, task: &Value, what: &str, body: Value| {
        let r = api.post(&format!("/api/v1/tasks/{}/{what}", task["id"].as_str().unwrap()), token, &[], &body);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    };
    let s0 = suggested(offered[0]).unwrap();
    decide(&api.reviewer, offered[0], "approve", serde_json::json!({ "monthly_limit_cents": s0 }));
    let s1 = suggested(offered[1]).unwrap();
    decide(
        &api.senior,
        offered[1],
        "approve",
        serde_json::json!({ "monthly_limit_cents": s1 + 10000, "override_reason": "three years of steady AWS spend" }),
    );
    decide(
        &api.reviewer,
        offered[2],
        "decline",
        serde_json::json!({ "reason_code": "website_not_owned", "message": "The site belongs to someone else." }),
    );

    let o = run(api.dir(), &["rules", "analytics", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let found: Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    let versions = found["versions"].as_array().expect("versions");
    let limit = versions
        .iter()
        .find(|v| v["rule"] == "initial_limit" && v["version"] == shipped_initial_limit_hash())
        .unwrap_or_else(|| panic!("the shipped initial_limit: {found}"));
    let a = &limit["agreement"];
    assert_eq!(a["approved_as_suggested"], 1, "{a}");
    assert_eq!(a["approved_otherwise"], 1, "{a}");
    assert_eq!(a["declined_despite_offer"], 1, "{a}");
    assert_eq!(a["approved_without_offer"], 0, "{a}");
    assert_eq!(limit["overrides"][0]["reason"], "three years of steady AWS spend");
    assert_eq!(limit["overrides"][0]["approved_cents"], s1 + 10000);
    assert_eq!(limit["repayment"]["lines"], 2);
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    assert!(limit["by_month"][&month]["offer"].as_i64().unwrap_or(0) >= 3, "{limit}");
    assert!(versions.iter().any(|v| v["rule"] == "applicant_type"), "every rule is counted");

    let sam = Browser::sign_in(&api, &api.senior);
    let page = sam.page("/console/rules/analytics");
    assert!(page.contains("<dt>Approved at another limit</dt><dd>1</dd>"), "{page}");
    assert!(page.contains("three years of steady AWS spend"), "{page}");
}

black_box_suite!(
    analytics_count_agreement_overrides_and_outcomes,
    the_console_shows_a_version_with_its_diff_and_impact_and_decides_it,
    a_policy_change_takes_a_second_person_and_rolls_back,
    in_development_the_folder_is_the_policy,
    a_shadow_run_never_acts_and_goes_with_its_rejection,
);

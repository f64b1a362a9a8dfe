//! The admin reload endpoint over real HTTP: new rules take effect without a restart, and a
//! version that does not compile is refused while the old one stays in force.

mod common;

use common::{creditline, http, run, stderr, stdout};
use sha2::Digest;

fn token(cwd: &std::path::Path, name: &str, role: &str) -> String {
    let o = run(cwd, &["tokens", "create", "--name", name, "--role", role]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).trim().to_string()
}

fn reload(addr: &str, token: &str) -> common::Response {
    let bearer = format!("Bearer {token}");
    http(addr, "POST", "/api/v1/admin/rules/reload", &[("Authorization", &bearer)], b"")
}

#[test]
fn rules_reload_through_the_api_and_a_broken_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    common::copy_dir(&common::repo().join("rules"), &rules);
    let with_rules =
        |args: &[&str]| creditline(dir.path()).env("CREDITLINE_RULES_DIR", &rules).args(args).output().unwrap();
    let admin = token(dir.path(), "ops", "admin");
    let reviewer = token(dir.path(), "rita", "reviewer");
    let inbox = token(dir.path(), "gw", "inbox");
    let mut cmd = creditline(dir.path());
    cmd.env("CREDITLINE_RULES_DIR", &rules);
    let server = common::serve_with(cmd);

    assert_eq!(http(&server.addr, "POST", "/api/v1/admin/rules/reload", &[], b"").status, 401);
    assert_eq!(reload(&server.addr, &reviewer).status, 403);
    let r = reload(&server.addr, &admin);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let file = rules.join("initial_limit.rhai");
    let old_hash = hex::encode(sha2::Sha256::digest(std::fs::read(&file).unwrap()));
    assert_eq!(r.json()["rules"]["initial_limit"], old_hash.as_str());

    // A new tier amount, no Rust change: the next decision carries the new version.
    let text = std::fs::read_to_string(&file).unwrap().replace("20000;", "30000;");
    std::fs::write(&file, &text).unwrap();
    let new_hash = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    let r = reload(&server.addr, &admin);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["rules"]["initial_limit"], new_hash.as_str());
    let raw = std::fs::read(common::repo().join("tests/corpus/02-base64-individual.eml")).unwrap();
    let bearer = format!("Bearer {inbox}");
    let posted = http(&server.addr, "POST", "/api/v1/inbox/messages", &[("Authorization", &bearer)], &raw);
    assert_eq!(posted.status, 201);
    let id = posted.json()["application_id"].as_str().unwrap().to_string();
    let o = with_rules(&["applications", "show", &id, "--json"]);
    let view: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let decision = view["decisions"].as_array().unwrap().iter().find(|d| d["rule"] == "initial_limit").unwrap().clone();
    assert_eq!(decision["version"], new_hash.as_str());

    // A broken version is refused; the one in force stays.
    std::fs::write(&file, "let broken = ;").unwrap();
    let r = reload(&server.addr, &admin);
    assert_eq!(r.status, 422);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let problem = r.json();
    assert_eq!(problem["code"], "rules_rejected");
    assert!(problem["detail"].as_str().unwrap().contains("initial_limit.rhai"), "{problem}");
    assert_eq!(http(&server.addr, "GET", "/healthz", &[], b"").status, 200);
}

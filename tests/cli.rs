//! Black-box tests of the `creditline` binary: each runs in its own temp working directory.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{creditline, run, stderr, stdout};

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let r = common::http(addr, "GET", path, &[], b"");
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

#[test]
fn serve_in_a_fresh_directory_creates_its_database_and_answers_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::serve(dir.path());
    let addr = server.addr.as_str();
    assert!(dir.path().join("creditline.db").exists(), "database file created in the working directory");
    let (status, body) = http_get(addr, "/healthz");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_get(addr, "/readyz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"database\":\"sqlite\""), "{body}");
    let (status, _) = http_get(addr, "/no-such-page");
    assert_eq!(status, 404);
}

#[test]
fn workflows_graph_prints_mermaid() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["workflows", "graph", "credit_line_application"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("stateDiagram-v2\n"), "{out}");
    assert!(out.contains("pending_review --> declined: decline"), "{out}");
    let o = run(dir.path(), &["workflows", "graph", "nope"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unknown workflow \"nope\""));
}

#[test]
fn workflows_check_passes_on_the_shipped_files_and_fails_on_a_broken_copy() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["workflows", "check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("ok: 5 workflows"), "{}", stdout(&o));

    let copy = dir.path().join("workflows");
    common::copy_dir(&common::repo().join("workflows"), &copy);
    let file = copy.join("aws_login.toml");
    let text = std::fs::read_to_string(&file).unwrap().replace("email:aws_login_approved", "email:missing_template");
    std::fs::write(&file, text).unwrap();
    let o =
        creditline(dir.path()).env("CREDITLINE_WORKFLOWS_DIR", &copy).args(["workflows", "check"]).output().unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("aws_login.toml:") && err.contains("missing_template"), "{err}");
}

#[test]
fn unknown_configuration_keys_are_errors_that_name_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("creditline.toml"), "database_urll = \"sqlite://x.db\"\n").unwrap();
    let o = run(dir.path(), &["workflows", "check"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("database_urll"), "{}", stderr(&o));

    std::fs::remove_file(dir.path().join("creditline.toml")).unwrap();
    let o = creditline(dir.path()).env("CREDITLINE_LISTEN_PORT", "1").args(["workflows", "check"]).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("CREDITLINE_LISTEN_PORT"), "{}", stderr(&o));

    let o = run(dir.path(), &["--config", "missing.toml", "workflows", "check"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing.toml"), "{}", stderr(&o));
}

#[test]
fn configuration_file_and_environment_layer_over_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("creditline.toml"), "database_url = \"sqlite://from-file.db\"\n").unwrap();
    let o = run(dir.path(), &["migrate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("from-file.db").exists());
    let o =
        creditline(dir.path()).env("CREDITLINE_DATABASE_URL", "sqlite://from-env.db").arg("migrate").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("from-env.db").exists(), "environment wins over the file");
}

#[test]
fn applications_create_list_show_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            "applications",
            "create",
            "--account-email",
            "Billing@Lumenforge.io",
            "--kind",
            "enterprise",
            "--requested-limit",
            "$200",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let created = stdout(&o);
    let mut parts = created.split_whitespace();
    let (id, reference) = (parts.next().unwrap().to_string(), parts.next().unwrap().to_string());

    let o = run(dir.path(), &["applications", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(listed["id"], id.as_str());

    for key in [&id, &reference] {
        let o = run(dir.path(), &["applications", "show", key, "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(shown["account_email"], "billing@lumenforge.io");
        assert_eq!(shown["state"], "received");
        assert_eq!(shown["requested_limit_cents"], 20_000);
        assert_eq!(shown["applicant_kind"], "enterprise");
    }
    let o = run(dir.path(), &["applications", "show", &id]);
    assert!(stdout(&o).contains("$200.00"), "{}", stdout(&o));

    let o = run(dir.path(), &["applications", "history", &reference]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("created") && stdout(&o).contains("received"), "{}", stdout(&o));

    // A limit below one (or above the most a list prints) is refused with a clear error,
    // not read as "no limit".
    for (cmd, bad) in [("applications", "-1"), ("applications", "0"), ("tasks", "-5"), ("invoices", "10001")] {
        let o = run(dir.path(), &[cmd, "list", "--limit", bad]);
        assert_eq!(o.status.code(), Some(2), "{cmd} list --limit {bad}: {}", stdout(&o));
        assert!(stderr(&o).contains("--limit") && stderr(&o).contains("1..=10000"), "{}", stderr(&o));
    }

    let o = run(dir.path(), &["applications", "show", "CL-NOTHING"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(dir.path(), &["applications", "create", "--account-email", "not-an-email"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not an email address"), "{}", stderr(&o));
}

#[test]
fn rules_commands_check_eval_and_test() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["rules", "check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 8, "{}", stdout(&o));

    let input = dir.path().join("input.json");
    std::fs::write(&input, r#"{"applicant_type": "enterprise", "requested_limit_cents": 15000}"#).unwrap();
    let o = run(dir.path(), &["rules", "eval", "initial_limit", "--input", input.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let d: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(d["outcome"], "offer");
    assert_eq!(d["fields"]["limit_cents"], 15000);
    assert_eq!(d["version"].as_str().unwrap().len(), 64);

    std::fs::write(&input, r#"{"applicant_typo": "enterprise"}"#).unwrap();
    let o = run(dir.path(), &["rules", "eval", "initial_limit", "--input", input.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("applicant_typo"), "{}", stderr(&o));

    let o = run(dir.path(), &["rules", "test"]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).lines().last().unwrap().ends_with(" passed, 0 failed"));

    // A broken copy: `rules test` fails, `rules check` names file, line and column.
    let copy = dir.path().join("rules");
    common::copy_dir(&common::repo().join("rules"), &copy);
    std::fs::write(
        copy.join("tests/re_review.toml"),
        "[[case]]\nname = \"wrong\"\ninput = {}\noutcome = \"eligible\"\n",
    )
    .unwrap();
    let o = creditline(dir.path()).env("CREDITLINE_RULES_DIR", &copy).args(["rules", "test"]).output().unwrap();
    assert!(!o.status.success());
    assert!(stdout(&o).contains("FAIL re_review: wrong"), "{}", stdout(&o));
    std::fs::write(copy.join("cycle_gating.rhai"), "let x = ;").unwrap();
    let o = creditline(dir.path()).env("CREDITLINE_RULES_DIR", &copy).args(["rules", "check"]).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cycle_gating.rhai:1:9:"), "{}", stderr(&o));
}

#[cfg(unix)]
#[test]
fn sighup_reloads_rules_and_keeps_them_when_the_new_version_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("rules");
    common::copy_dir(&common::repo().join("rules"), &copy);
    let mut cmd = creditline(dir.path());
    cmd.env("CREDITLINE_RULES_DIR", &copy).env("CREDITLINE_LOG_LEVEL", "info").stderr(Stdio::piped());
    let mut server = common::serve_with(cmd);
    let pid = server.child.id().to_string();
    let addr = server.addr.clone();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let err = server.child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let wait_for = |needle: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(l) = rx.recv_timeout(std::time::Duration::from_millis(200))
                && l.contains(needle)
            {
                return l;
            }
        }
        panic!("no log line containing {needle:?}");
    };
    let file = copy.join("initial_limit.rhai");
    let text = std::fs::read_to_string(&file).unwrap().replace("20000;", "30000;");
    std::fs::write(&file, &text).unwrap();
    let new_hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    };
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    let reloaded = wait_for("rules reloaded");
    assert!(reloaded.contains(&format!("initial_limit={}", &new_hash[..12])), "{reloaded}");

    std::fs::write(&file, "let broken = ;").unwrap();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    let rejected = wait_for("rules reload rejected");
    assert!(rejected.contains("initial_limit.rhai"), "{rejected}");
    // Still serving.
    assert_eq!(http_get(&addr, "/healthz").0, 200);
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["workflows", "--help"],
        vec!["workflows", "check", "--help"],
        vec!["workflows", "graph", "--help"],
        vec!["applications", "--help"],
        vec!["applications", "list", "--help"],
        vec!["applications", "show", "--help"],
        vec!["applications", "history", "--help"],
        vec!["applications", "create", "--help"],
        vec!["rules", "--help"],
        vec!["rules", "check", "--help"],
        vec!["rules", "eval", "--help"],
        vec!["rules", "test", "--help"],
    ] {
        let o = run(dir.path(), &args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn json_logs_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let o = creditline(dir.path())
        .env("CREDITLINE_LOG_LEVEL", "info")
        .args(["--log-format", "json", "applications", "create", "--account-email", "a@b.co"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let line = err.lines().find(|l| l.contains("application opened")).unwrap_or_else(|| panic!("no log line: {err}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["level"], "INFO");
}

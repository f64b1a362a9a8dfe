//! API tokens and the inbox endpoint over real HTTP against a running `creditline serve`.

mod common;

use std::path::Path;

use common::{http, run, stderr, stdout};

fn create_token(cwd: &Path, name: &str, role: &str) -> String {
    let o = run(cwd, &["tokens", "create", "--name", name, "--role", role]);
    assert!(o.status.success(), "{}", stderr(&o));
    let token = stdout(&o).trim().to_string();
    assert!(token.starts_with("clt_"), "{token}");
    token
}

fn post_message(addr: &str, token: Option<&str>, raw: &[u8]) -> common::Response {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "message/rfc822")];
    if let Some(b) = &bearer {
        headers.push(("Authorization", b.as_str()));
    }
    http(addr, "POST", "/api/v1/inbox/messages", &headers, raw)
}

#[test]
fn the_inbox_endpoint_ingests_behind_an_inbox_token() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = create_token(dir.path(), "mail-gateway", "inbox");
    let reviewer = create_token(dir.path(), "rita", "reviewer");
    let server = common::serve(dir.path());
    let raw = std::fs::read(common::repo().join("tests/corpus/02-base64-individual.eml")).unwrap();

    let r = post_message(&server.addr, None, &raw);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json()["code"], "unauthenticated");
    assert_eq!(post_message(&server.addr, Some("clt_000000000000_00"), &raw).status, 401, "malformed token");
    let last = if inbox.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}", &inbox[..inbox.len() - 1]);
    assert_eq!(post_message(&server.addr, Some(&forged), &raw).status, 401, "wrong secret");

    let r = post_message(&server.addr, Some(&reviewer), &raw);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["code"], "forbidden");

    let r = post_message(&server.addr, Some(&inbox), &raw);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let report = r.json();
    assert_eq!(report["outcome"], "created_application");
    assert_eq!(report["state"], "pending_review");
    assert_eq!(report["source"], "api:mail-gateway");

    // The same message again is a duplicate and changes nothing.
    let again = post_message(&server.addr, Some(&inbox), &raw);
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["outcome"], "duplicate");
    assert_eq!(again.json()["application_id"], report["application_id"]);

    let empty = post_message(&server.addr, Some(&inbox), b"");
    assert_eq!(empty.status, 400);
    assert_eq!(empty.json()["code"], "empty_message");

    // A revoked token stops working at once.
    let o = run(dir.path(), &["tokens", "revoke", "mail-gateway"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(post_message(&server.addr, Some(&inbox), &raw).status, 401);
}

#[test]
fn an_oversized_body_is_refused_with_413() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = create_token(dir.path(), "gw", "inbox");
    let server = common::serve(dir.path());
    let raw = vec![b'a'; 27 * 1024 * 1024];
    let r = post_message(&server.addr, Some(&inbox), &raw);
    assert_eq!(r.status, 413);
}

#[test]
fn token_names_are_unique_and_roles_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    create_token(dir.path(), "ops", "admin");
    let o = run(dir.path(), &["tokens", "create", "--name", "ops", "--role", "admin"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    let o = run(dir.path(), &["tokens", "create", "--name", "x", "--role", "root"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unknown role"), "{}", stderr(&o));
    let o = run(dir.path(), &["tokens", "list", "--json"]);
    let listed = stdout(&o);
    assert!(listed.contains("\"ops\"") && !listed.contains("secret"), "{listed}");
    let o = run(dir.path(), &["tokens", "revoke", "nobody"]);
    assert_eq!(o.status.code(), Some(2));
}

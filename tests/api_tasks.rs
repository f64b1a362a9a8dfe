//! The task queue and the audit log over real HTTP against a running `creditline serve`,
//! with tasks made by ingesting the corpus.

mod common;

use common::Api;

fn roles_decide_who_reaches_the_queue_and_the_audit_log(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let task = api.get("/api/v1/tasks?limit=1", &api.reviewer)["items"][0]["id"].as_str().unwrap().to_string();
    let endpoints = [
        ("GET", "/api/v1/tasks".to_string(), vec!["reviewer", "senior_reviewer", "admin"]),
        ("GET", format!("/api/v1/tasks/{task}"), vec!["reviewer", "senior_reviewer", "admin"]),
        ("GET", "/api/v1/audit".to_string(), vec!["senior_reviewer", "admin"]),
        ("POST", "/api/v1/admin/rules/reload".to_string(), vec!["admin"]),
    ];
    let tokens =
        [("reviewer", &api.reviewer), ("senior_reviewer", &api.senior), ("admin", &api.admin), ("inbox", &api.inbox)];
    for (method, path, allowed) in &endpoints {
        let r = api.call(method, path, None, &[]);
        assert_eq!(r.status, 401, "{method} {path} without a token");
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        for (role, token) in &tokens {
            let r = api.call(method, path, Some(token), &[]);
            let want_allowed = allowed.contains(role);
            if want_allowed {
                assert!(r.status < 400, "{method} {path} as {role}: {}", r.status);
            } else {
                assert_eq!(r.status, 403, "{method} {path} as {role}");
                assert_eq!(r.json()["code"], "forbidden");
            }
        }
    }
}

fn the_queue_lists_oldest_first_with_cursor_pages_and_filters(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let all = api.get("/api/v1/tasks?limit=500", &api.reviewer)["items"].as_array().unwrap().clone();
    assert!(all.len() >= 5, "the corpus makes triage, invoice and increase tasks: {}", all.len());
    let ids: Vec<&str> = all.iter().map(|t| t["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "oldest first (ids are time-ordered)");
    for t in &all {
        assert_eq!(t["state"], "open");
        assert_eq!(t["sla_seconds"], 24 * 3600);
        assert_eq!(t["overdue"], false);
        assert!(t["age_seconds"].as_i64().unwrap() >= 0);
    }

    // Pages of two cover the same tasks, each once.
    let mut paged = Vec::new();
    let mut path = "/api/v1/tasks?limit=2".to_string();
    loop {
        let page = api.get(&path, &api.reviewer);
        paged.extend(page["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/tasks?limit=2&after={c}"),
            None => break,
        }
    }
    assert_eq!(paged, ids);

    let triage = api.get("/api/v1/tasks?kind=triage", &api.reviewer)["items"].as_array().unwrap().clone();
    assert!(!triage.is_empty() && triage.iter().all(|t| t["kind"] == "triage"));
    let invoices = api.get("/api/v1/tasks?kind=invoice_request", &api.reviewer)["items"].as_array().unwrap().len();
    assert_eq!(invoices, 2, "two invoice requests in the corpus");
    assert!(api.get("/api/v1/tasks?older_than_hours=1", &api.reviewer)["items"].as_array().unwrap().is_empty());

    // Bad queries name the parameter.
    let r = api.call("GET", "/api/v1/tasks?limit=abc", Some(&api.reviewer), &[]);
    assert_eq!(r.status, 400);
    assert!(r.json()["detail"].as_str().unwrap().contains("limit"), "{}", r.json());
    let r = api.call("GET", "/api/v1/tasks?colour=red", Some(&api.reviewer), &[]);
    assert_eq!(r.status, 400);
    assert!(r.json()["detail"].as_str().unwrap().contains("colour"));
    assert_eq!(api.call("GET", "/api/v1/tasks/not-an-id", Some(&api.reviewer), &[]).status, 400);
    let missing = "01a20000-0000-7000-8000-000000000000";
    assert_eq!(api.call("GET", &format!("/api/v1/tasks/{missing}"), Some(&api.reviewer), &[]).status, 404);
}

fn one_assignee_at_a_time_with_versions_and_an_audit_trail(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let task = api.get("/api/v1/tasks?kind=invoice_request&limit=1", &api.reviewer)["items"][0].clone();
    let id = task["id"].as_str().unwrap().to_string();
    let v = task["version"].as_i64().unwrap();

    // A stale If-Match changes nothing.
    let stale = format!("\"{}\"", v - 1);
    let r = api.call("POST", &format!("/api/v1/tasks/{id}/claim"), Some(&api.reviewer), &[("If-Match", &stale)]);
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["code"], "version_conflict");

    let current = format!("\"{v}\"");
    let r = api.call(
        "POST",
        &format!("/api/v1/tasks/{id}/claim"),
        Some(&api.reviewer),
        &[("If-Match", &current), ("X-Request-Id", "req-claim-1")],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["assignee"], "rita");
    assert_eq!(r.header("etag"), Some(format!("\"{}\"", v + 1).as_str()));
    // Claiming again is harmless; someone else cannot.
    assert_eq!(api.call("POST", &format!("/api/v1/tasks/{id}/claim"), Some(&api.reviewer), &[]).status, 200);
    let r = api.call("POST", &format!("/api/v1/tasks/{id}/claim"), Some(&api.reviewer2), &[]);
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["code"], "already_claimed");
    let r = api.call("POST", &format!("/api/v1/tasks/{id}/release"), Some(&api.reviewer2), &[]);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["code"], "not_assignee");
    assert_eq!(api.get("/api/v1/tasks?assignee=rita", &api.reviewer)["items"].as_array().unwrap().len(), 1);

    assert_eq!(api.call("POST", &format!("/api/v1/tasks/{id}/release"), Some(&api.reviewer), &[]).status, 200);
    let r = api.call("POST", &format!("/api/v1/tasks/{id}/release"), Some(&api.reviewer), &[]);
    assert_eq!(r.json()["code"], "not_claimed");
    assert_eq!(api.call("POST", &format!("/api/v1/tasks/{id}/claim"), Some(&api.reviewer2), &[]).status, 200);
    // An admin may take a task back from anyone.
    assert_eq!(api.call("POST", &format!("/api/v1/tasks/{id}/release"), Some(&api.admin), &[]).status, 200);

    let audit = api.get(&format!("/api/v1/audit?target=task:{id}"), &api.senior)["items"].as_array().unwrap().clone();
    let actions: Vec<(&str, &str)> =
        audit.iter().map(|a| (a["actor"].as_str().unwrap(), a["action"].as_str().unwrap())).collect();
    assert_eq!(
        actions,
        [("rita", "task.claim"), ("rita", "task.release"), ("rob", "task.claim"), ("ada", "task.release")]
    );
    assert_eq!(audit[0]["request_id"], "req-claim-1");
    assert_eq!(audit[0]["version_before"], v);
    assert_eq!(audit[0]["version_after"], v + 1);
    let only_claims =
        api.get("/api/v1/audit?action=task.claim&actor=rob", &api.admin)["items"].as_array().unwrap().len();
    assert_eq!(only_claims, 1);
}

fn two_reviewers_claiming_at_the_same_moment_one_wins(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let tasks = api.get("/api/v1/tasks?limit=5", &api.reviewer)["items"].as_array().unwrap().clone();
    for task in tasks {
        let path = format!("/api/v1/tasks/{}/claim", task["id"].as_str().unwrap());
        let statuses = api.race(&[&api.reviewer, &api.reviewer2], |t| api.call("POST", &path, Some(t), &[]));
        let wins = statuses.iter().filter(|(s, _)| *s == 200).count();
        assert_eq!(wins, 1, "{statuses:?}");
        let loser = statuses.iter().find(|(s, _)| *s != 200).unwrap();
        assert_eq!(loser.0, 409, "{statuses:?}");
        let target = format!("task:{}", task["id"].as_str().unwrap());
        let audit = api.get(&format!("/api/v1/audit?target={target}"), &api.admin)["items"].as_array().unwrap().len();
        assert_eq!(audit, 1, "one claim recorded");
    }
}

fn a_task_view_shows_the_application_with_provenance_decisions_and_history(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    // Applications that reach pending_review open an application_review task.
    let reviews = api.get("/api/v1/tasks?kind=application_review", &api.reviewer)["items"].as_array().unwrap().clone();
    assert!(!reviews.is_empty(), "the corpus puts applications into review");
    let view = api.get(&format!("/api/v1/tasks/{}", reviews[0]["id"].as_str().unwrap()), &api.reviewer);
    assert_eq!(view["task"]["id"], reviews[0]["id"]);
    let app = &view["application"];
    assert_eq!(app["state"], "pending_review");
    let fields = app["fields"].as_array().unwrap();
    assert!(!fields.is_empty());
    assert!(fields.iter().all(|f| f["message_id"].is_string() && !f["excerpt"].as_str().unwrap().is_empty()));
    let rules: Vec<&str> = app["decisions"].as_array().unwrap().iter().map(|d| d["rule"].as_str().unwrap()).collect();
    for rule in ["applicant_type", "business_verification", "aws_history", "initial_limit"] {
        assert!(rules.contains(&rule), "{rule} in {rules:?}");
    }
    assert!(app["decisions"][0]["reasons"].is_array());
    assert!(!app["messages"].as_array().unwrap().is_empty(), "the email thread");
    let events: Vec<&str> =
        view["events"].as_array().unwrap().iter().map(|e| e["to_state"].as_str().unwrap()).collect();
    assert_eq!(events.last(), Some(&"pending_review"), "{events:?}");

    // A task that is not about an application shows no application.
    let triage = &api.get("/api/v1/tasks?kind=triage&limit=1", &api.reviewer)["items"][0];
    let view = api.get(&format!("/api/v1/tasks/{}", triage["id"].as_str().unwrap()), &api.reviewer);
    assert!(view["application"].is_null());
    assert_eq!(view["task"]["kind"], "triage");
}

/// The queue's store operations on both backends: claim with version check and audit in one
/// transaction, listing filters, and the append-only audit log.
async fn assigning_a_task_checks_its_version_and_records_the_audit(t: common::TestStore) {
    use creditline::store::{AuditFilter, AuditRecord, StoreError, TaskFilter};
    let app = t.app();
    for f in ["22-spam.eml", "23-empty-body.eml", "33-invoice-request.eml"] {
        let raw = std::fs::read(common::repo().join("tests/corpus").join(f)).unwrap();
        creditline::services::inbound::ingest(&app, f, &raw).await.unwrap();
    }
    let open = TaskFilter { state: Some("open".into()), limit: 100, ..Default::default() };
    let tasks = app.store.list_tasks(&open).await.unwrap();
    assert_eq!(tasks.len(), 3);
    let task = &tasks[0];
    let audit = |action: &str| AuditRecord {
        id: uuid::Uuid::now_v7(),
        actor: "rita".into(),
        action: action.into(),
        target: format!("task:{}", task.id),
        version_before: Some(task.version),
        version_after: Some(task.version + 1),
        request_id: "r1".into(),
        detail: serde_json::json!({}),
        at: chrono::Utc::now(),
    };
    let claimed = app.store.assign_task(task.id, task.version, Some("rita"), &audit("task.claim")).await.unwrap();
    assert_eq!(claimed.assignee.as_deref(), Some("rita"));
    assert_eq!(claimed.version, task.version + 1);
    // The old version again: conflict, and no second audit entry.
    let stale = app.store.assign_task(task.id, task.version, Some("rob"), &audit("task.claim")).await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })), "{stale:?}");
    let entries = app.store.list_audit(&AuditFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, "rita");
    let mine = TaskFilter { assignee: Some("rita".into()), limit: 100, ..Default::default() };
    assert_eq!(app.store.list_tasks(&mine).await.unwrap().len(), 1);
    let paged = TaskFilter { after: Some(tasks[0].id), limit: 100, ..open.clone() };
    assert_eq!(app.store.list_tasks(&paged).await.unwrap().len(), 2);
    let invoices = TaskFilter { kind: Some("invoice_request".into()), limit: 100, ..Default::default() };
    assert_eq!(app.store.list_tasks(&invoices).await.unwrap().len(), 1);
}

store_suite!(assigning_a_task_checks_its_version_and_records_the_audit);

black_box_suite!(
    roles_decide_who_reaches_the_queue_and_the_audit_log,
    the_queue_lists_oldest_first_with_cursor_pages_and_filters,
    one_assignee_at_a_time_with_versions_and_an_audit_trail,
    two_reviewers_claiming_at_the_same_moment_one_wins,
    a_task_view_shows_the_application_with_provenance_decisions_and_history,
);

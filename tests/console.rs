//! The reviewer console over real HTTP against a running `creditline serve`: sign-in and its
//! cookie, sign-out, the security headers, CSRF on every form, the queue's filters, claim and
//! release with stale pages refused, and applicant text shown as text. (The browser tests
//! drive the same pages in Chromium.)

mod common;
#[path = "common/console.rs"]
mod console_client;

use common::Api;
use console_client::{Browser, body, csrf_of, form, post_form, session_cookie};

fn a_token_becomes_an_expiring_http_only_session_that_sign_out_ends(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    // No session: every page sends the browser to the sign-in page.
    for path in ["/console/queue", "/console/tasks/0190f0c5-3bd4-7000-8000-000000000000"] {
        let r = api.call("GET", path, None, &[]);
        assert_eq!(r.status, 303, "{path}");
        assert_eq!(r.header("location"), Some("/console/sign-in"));
    }
    let page = api.call("GET", "/console/sign-in", None, &[]);
    assert_eq!(page.status, 200);
    assert!(body(&page).contains("<label for=\"token\">API token</label>"));

    // A wrong token, an API token mangled, and the inbox's token are all refused.
    for token in ["nonsense", &format!("{}0", &api.reviewer), &api.inbox] {
        let r = post_form(&api, None, "/console/sign-in", &[("token", token)]);
        assert_eq!(r.status, 401, "{token}");
        assert!(session_cookie(&r).is_none());
        assert!(body(&r).contains("That token is not valid"));
    }

    let r = post_form(&api, None, "/console/sign-in", &[("token", &api.reviewer)]);
    assert_eq!(r.status, 303);
    let set = r.header("set-cookie").expect("Set-Cookie").to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=43200"] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: no Secure flag: {set}");
    let behind_tls = api.send(
        "POST",
        "/console/sign-in",
        None,
        &[("Content-Type", "application/x-www-form-urlencoded"), ("X-Forwarded-Proto", "https")],
        &form(&[("token", &api.reviewer)]),
    );
    assert!(behind_tls.header("set-cookie").unwrap_or_default().contains("Secure"));

    let rita = Browser { api: &api, cookie: session_cookie(&r).expect("cookie") };
    let queue = rita.get("/console/queue");
    assert_eq!(queue.status, 200);
    assert!(body(&queue).contains("rita (reviewer)"));
    let csp = queue.header("content-security-policy").expect("CSP");
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(queue.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(queue.header("cache-control"), Some("no-store"));
    // An API token is not a session cookie, nor the reverse.
    let r = api.call("GET", "/console/queue", None, &[("Cookie", &format!("creditline_session={}", api.reviewer))]);
    assert_eq!(r.status, 303);
    let cookie_value = rita.cookie.split_once('=').unwrap().1.to_string();
    assert_eq!(api.call("GET", "/api/v1/tasks", Some(&cookie_value), &[]).status, 401);

    // Sign-out needs the form's CSRF token; then the cookie is worth nothing.
    let csrf = csrf_of(&body(&queue));
    assert_eq!(rita.post("/console/sign-out", &[]).status, 403);
    assert_eq!(rita.post("/console/sign-out", &[("csrf", "0000")]).status, 403);
    assert_eq!(rita.get("/console/queue").status, 200, "a refused sign-out changes nothing");
    let out = rita.post("/console/sign-out", &[("csrf", &csrf)]);
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").unwrap_or_default().contains("Max-Age=0"));
    assert_eq!(rita.get("/console/queue").status, 303);

    // Revoking the API token ends its sessions at once.
    let sam = Browser::sign_in(&api, &api.senior);
    assert_eq!(sam.get("/console/queue").status, 200);
    let o = common::run(api.dir(), &["tokens", "revoke", "sam"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert_eq!(sam.get("/console/queue").status, 303);
}

fn the_queue_filters_and_claims_with_the_version_and_csrf_token_of_the_page(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let rita = Browser::sign_in(&api, &api.reviewer);
    let rob = Browser::sign_in(&api, &api.reviewer2);
    let triage = api.get("/api/v1/tasks?kind=triage&limit=500", &api.reviewer)["items"].as_array().unwrap().clone();
    let others = api.get("/api/v1/tasks?limit=500", &api.reviewer)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] != "triage")
        .cloned()
        .collect::<Vec<_>>();
    assert!(!triage.is_empty() && !others.is_empty(), "the corpus makes triage and other tasks");

    let page = rita.page("/console/queue?kind=triage");
    for t in &triage {
        assert!(page.contains(t["id"].as_str().unwrap()), "triage task listed");
    }
    for t in &others {
        assert!(!page.contains(t["id"].as_str().unwrap()), "a {} task under the triage filter", t["kind"]);
    }
    // Each row names who the task is about (the sender of a triage message).
    let from = triage[0]["details"]["from"].as_str().unwrap_or_default();
    assert!(from.is_empty() || page.contains(&format!("<span class=\"who\">{from}</span>")), "{from}: {page}");
    assert_eq!(rita.get("/console/queue?kind=nonsense").status, 400);
    assert_eq!(rita.get("/console/queue?colour=red").status, 400);
    assert!(rita.page("/console/queue?assignee=me").contains("No tasks match these filters."));

    let task = triage[0]["id"].as_str().unwrap();
    let version = triage[0]["version"].as_i64().unwrap().to_string();
    let csrf = csrf_of(&page);
    let claim = format!("/console/tasks/{task}/claim");
    // Without the page's CSRF token (or with another session's) nothing happens.
    assert_eq!(rita.post(&claim, &[("version", &version)]).status, 403);
    let robs_csrf = csrf_of(&rob.page("/console/queue"));
    assert_eq!(rita.post(&claim, &[("csrf", &robs_csrf), ("version", &version)]).status, 403);
    // A page older than the task is refused, with a message saying so.
    let stale = rita.post(&claim, &[("csrf", &csrf), ("version", "999")]);
    assert_eq!(stale.status, 409);
    assert!(body(&stale).contains("someone else changed this"), "{}", body(&stale));
    assert!(api.get(&format!("/api/v1/tasks/{task}"), &api.reviewer)["task"]["assignee"].is_null());

    let claimed = rita.post(&claim, &[("csrf", &csrf), ("version", &version)]);
    assert_eq!(claimed.status, 303, "{}", body(&claimed));
    assert_eq!(claimed.header("location"), Some(format!("/console/tasks/{task}").as_str()));
    assert_eq!(api.get(&format!("/api/v1/tasks/{task}"), &api.reviewer)["task"]["assignee"], "rita");
    let mine = rita.page("/console/queue?assignee=me");
    assert!(mine.contains(task) && mine.contains("Release"));
    // Rob's page still offers the claim, but the task is Rita's now.
    let late = rob.post(&claim, &[("csrf", &robs_csrf), ("version", &version)]);
    assert_eq!(late.status, 409);

    let now = api.get(&format!("/api/v1/tasks/{task}"), &api.reviewer)["task"]["version"].as_i64().unwrap();
    let released =
        rita.post(&format!("/console/tasks/{task}/release"), &[("csrf", &csrf), ("version", &now.to_string())]);
    assert_eq!(released.status, 303);
    assert!(api.get(&format!("/api/v1/tasks/{task}"), &api.reviewer)["task"]["assignee"].is_null());
}

fn the_queue_counts_by_kind_and_hands_out_the_next_unclaimed_task(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    let rita = Browser::sign_in(&api, &api.reviewer);
    let rob = Browser::sign_in(&api, &api.reviewer2);
    let open = api.get("/api/v1/tasks?limit=500", &api.reviewer)["items"].as_array().unwrap().clone();
    let mut per_kind = std::collections::BTreeMap::<String, usize>::new();
    for t in &open {
        *per_kind.entry(t["kind"].as_str().unwrap().to_string()).or_default() += 1;
    }
    let page = rita.page("/console/queue");
    for (kind, n) in &per_kind {
        let row = format!(">{}</a></td><td>{n}</td><td>{n}</td>", kind.replace('_', " "));
        assert!(page.contains(&row), "{kind}: {n} open, all unclaimed: {page}");
    }
    let triage: Vec<&str> = open.iter().filter(|t| t["kind"] == "triage").map(|t| t["id"].as_str().unwrap()).collect();
    assert!(triage.len() >= 2, "the corpus makes triage tasks: {triage:?}");
    let csrf = csrf_of(&page);
    assert_eq!(rita.post("/console/queue/next", &[("kind", "triage")]).status, 403, "no CSRF token");
    assert_eq!(rita.post("/console/queue/next", &[("csrf", &csrf), ("kind", "nonsense")]).status, 400);

    // The oldest unclaimed goes to whoever asks first, the next one to the next.
    let first = rita.post("/console/queue/next", &[("csrf", &csrf), ("kind", "triage")]);
    assert_eq!(first.header("location"), Some(format!("/console/tasks/{}", triage[0]).as_str()));
    let robs_csrf = csrf_of(&rob.page("/console/queue"));
    let second = rob.post("/console/queue/next", &[("csrf", &robs_csrf), ("kind", "triage")]);
    assert_eq!(second.header("location"), Some(format!("/console/tasks/{}", triage[1]).as_str()));
    assert_eq!(api.get(&format!("/api/v1/tasks/{}", triage[0]), &api.reviewer)["task"]["assignee"], "rita");
    assert_eq!(api.get(&format!("/api/v1/tasks/{}", triage[1]), &api.reviewer)["task"]["assignee"], "rob");
    let n = triage.len();
    let row = format!(">triage</a></td><td>{n}</td><td>{}</td>", n - 2);
    assert!(rita.page("/console/queue").contains(&row), "two claimed: {row}");

    for _ in 2..n {
        assert_eq!(rita.post("/console/queue/next", &[("csrf", &csrf), ("kind", "triage")]).status, 303);
    }
    let clear = rita.post("/console/queue/next", &[("csrf", &csrf), ("kind", "triage")]);
    assert_eq!(clear.status, 404);
    assert!(body(&clear).contains("the queue is clear"));
}

fn applicant_text_shows_as_text(dir: tempfile::TempDir) {
    let api = Api::start(dir);
    // Not an application: it becomes a triage task whose title and excerpt are the sender's.
    let raw = "Message-ID: <xss-1@evil.example>\r\nFrom: ops@evil.example\r\nTo: support@wavespeed.ai\r\n\
               Subject: <script>alert(1)</script>\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\n\
               Content-Type: text/plain; charset=utf-8\r\n\r\n\
               Hello <img src=x onerror=alert(2)> there\r\n";
    let posted = api.send(
        "POST",
        "/api/v1/inbox/messages",
        Some(&api.inbox),
        &[("Content-Type", "message/rfc822")],
        raw.as_bytes(),
    );
    assert!(posted.status == 201, "{}", body(&posted));
    let tasks = api.get("/api/v1/tasks?kind=triage&limit=500", &api.reviewer)["items"].as_array().unwrap().clone();
    let task = tasks
        .iter()
        .find(|t| t["title"].as_str().unwrap_or_default().contains("<script>"))
        .unwrap_or_else(|| panic!("a triage task titled by the subject: {tasks:?}"));
    let rita = Browser::sign_in(&api, &api.reviewer);
    for page in [
        rita.page("/console/queue?kind=triage"),
        rita.page(&format!("/console/tasks/{}", task["id"].as_str().unwrap())),
    ] {
        assert!(page.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "escaped: {page}");
        assert!(!page.contains("<script>") && !page.contains("<img"), "{page}");
    }
    assert!(
        rita.page(&format!("/console/tasks/{}", task["id"].as_str().unwrap()))
            .contains("&lt;img src=x onerror=alert(2)&gt;")
    );
}

black_box_suite!(
    a_token_becomes_an_expiring_http_only_session_that_sign_out_ends,
    the_queue_filters_and_claims_with_the_version_and_csrf_token_of_the_page,
    the_queue_counts_by_kind_and_hands_out_the_next_unclaimed_task,
    applicant_text_shows_as_text,
);

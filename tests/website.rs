//! The website check (issue 23 item 6) against real local servers: what the fetch records,
//! the limits (redirects, size, time), the address guard (with the guard on, and with only
//! the test-only loopback relaxation), HTTPS with a certificate subject, the job's
//! idempotency on both stores, and the whole path over HTTP: application email in, worker
//! runs the check, the reviewer reads the evidence (both stores).
//!
//! Policy (`../shared/seed/payment-methods.txt`, Business Verification): the website must
//! represent "the applicant's own business or product", not "a temporary landing page".

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use creditline::config::WebsiteCheckConfig;
use creditline::website::{self, Names, fetch::fetch};

use common::TestStore;

const STORYWEAVE: &str = "<html><head><title>Storyweave \u{2014} bedtime stories, illustrated</title></head>\
    <body><h1>Storyweave</h1><p>An Android app that illustrates bedtime stories.</p></body></html>";
const PARKED: &str = "<html><head><title>storyweave.app is for sale</title></head>\
    <body><p>This domain is for sale! Make an offer on this domain today.</p></body></html>";

/// A site on 127.0.0.1 serving the test pages; counts the requests it answered.
struct Site {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

async fn site() -> Site {
    let hits = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route("/", get(|| async { Html(STORYWEAVE) }))
        .route("/parked", get(|| async { Html(PARKED) }))
        .route("/for-sale", get(|| async { Redirect::to("/parked") }))
        .route("/hop/{n}", get(hop))
        .route("/to-private", get(|| async { Redirect::to("http://10.0.0.1/") }))
        .route("/to-metadata", get(|| async { Redirect::to("http://169.254.169.254/latest/meta-data/") }))
        .route("/to-mapped", get(|| async { Redirect::to("http://[::ffff:192.168.1.1]/") }))
        .route("/huge", get(|| async { Html(format!("<title>Big</title>{}", "storyweave ".repeat(400_000))) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Html(STORYWEAVE)
            }),
        )
        .route("/gone", get(|| async { (StatusCode::NOT_FOUND, Html("<title>Not Found</title>")) }))
        .layer(axum::middleware::from_fn_with_state(hits.clone(), count));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    Site { addr, hits }
}

async fn count(
    State(hits): State<Arc<AtomicUsize>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    next.run(req).await
}

/// `/hop/N` redirects to `/hop/N+1` up to `/hop/10`, which answers.
async fn hop(Path(n): Path<u32>) -> Response {
    if n >= 10 { Html(STORYWEAVE).into_response() } else { Redirect::to(&format!("/hop/{}", n + 1)).into_response() }
}

/// The test-only relaxation: loopback and plain HTTP allowed; every other non-public address
/// stays refused.
fn relaxed() -> WebsiteCheckConfig {
    WebsiteCheckConfig {
        enabled: true,
        test_only_allow_loopback: true,
        test_only_allow_http: true,
        ..Default::default()
    }
}

fn storyweave() -> Names {
    Names { company: None, product: Some("Storyweave, an Android app that illustrates bedtime stories".into()) }
}

#[tokio::test]
async fn a_business_site_is_read_with_its_title_and_the_applicants_name() {
    let s = site().await;
    let url = format!("http://{}/", s.addr);
    let e = website::evaluate(&url, &fetch(&relaxed(), &url).await, &storyweave());
    assert!(e.fetched, "{e:?}");
    assert_eq!(e.status, 200);
    assert_eq!(e.final_url, url);
    assert_eq!(e.title, "Storyweave \u{2014} bedtime stories, illustrated");
    assert!(e.name_found);
    assert_eq!(e.name_matched, "Storyweave");
    assert!(e.parked_signs.is_empty(), "{:?}", e.parked_signs);
    assert_eq!((e.error.as_str(), e.truncated, e.certificate_subject.as_str()), ("", false, ""));
}

/// Policy: not "a temporary landing page": a parked or for-sale page is recorded as such.
#[tokio::test]
async fn a_parked_page_behind_a_redirect_is_recognised() {
    let s = site().await;
    let url = format!("http://{}/for-sale", s.addr);
    let e = website::evaluate(&url, &fetch(&relaxed(), &url).await, &storyweave());
    assert_eq!(e.status, 200);
    assert_eq!(e.redirects, vec![format!("http://{}/parked", s.addr)]);
    assert_eq!(e.final_url, format!("http://{}/parked", s.addr));
    assert!(e.parked_signs.iter().any(|s| s.contains("domain is for sale")), "{:?}", e.parked_signs);
}

#[tokio::test]
async fn redirects_beyond_the_limit_are_refused() {
    let s = site().await;
    let cfg = WebsiteCheckConfig { max_redirects: 3, ..relaxed() };
    let within = fetch(&cfg, &format!("http://{}/hop/7", s.addr)).await;
    assert_eq!(within.status, Some(200), "three redirects are allowed: {within:?}");
    assert_eq!(within.redirects.len(), 3);
    let over = fetch(&cfg, &format!("http://{}/hop/6", s.addr)).await;
    assert_eq!(over.status, None);
    assert_eq!(over.error.as_ref().map(|e| e.0.as_str()), Some("too_many_redirects"), "{over:?}");
}

/// A redirect to a private, link-local (cloud metadata) or IPv4-mapped private address is
/// refused before any connection, even with the loopback relaxation on.
#[tokio::test]
async fn a_redirect_to_a_private_or_link_local_address_is_refused() {
    let s = site().await;
    for (path, target) in [("to-private", "10.0.0.1"), ("to-metadata", "169.254.169.254"), ("to-mapped", "192.168.1.1")]
    {
        let url = format!("http://{}/{path}", s.addr);
        let e = website::evaluate(&url, &fetch(&relaxed(), &url).await, &storyweave());
        assert!(!e.fetched, "{path}: {e:?}");
        assert_eq!(e.error, "refused_address", "{path}: {e:?}");
        assert!(e.error_detail.contains(target) || e.error_detail.contains("::ffff:c0a8:101"), "{path}: {e:?}");
    }
}

/// With the guard on (no relaxation but plain HTTP), loopback is refused by name (after DNS
/// resolution) and by address, and no request reaches the server.
#[tokio::test]
async fn with_the_guard_on_loopback_is_refused_by_name_and_by_address() {
    let s = site().await;
    let cfg = WebsiteCheckConfig { enabled: true, test_only_allow_http: true, ..Default::default() };
    let by_name = fetch(&cfg, &format!("http://localhost:{}/", s.addr.port())).await;
    let (code, detail) = by_name.error.clone().expect("refused");
    assert_eq!(code, "refused_address", "{by_name:?}");
    assert!(detail.contains("localhost") && (detail.contains("127.0.0.1") || detail.contains("::1")), "{detail}");
    let by_address = fetch(&cfg, &format!("http://{}/", s.addr)).await;
    assert_eq!(by_address.error.as_ref().map(|e| e.0.as_str()), Some("refused_address"), "{by_address:?}");
    assert_eq!(s.hits.load(Ordering::SeqCst), 0, "nothing reached the server");
    // The same site with the relaxation: the guard was the only thing in the way.
    assert_eq!(fetch(&relaxed(), &format!("http://localhost:{}/", s.addr.port())).await.status, Some(200));
}

#[tokio::test]
async fn plain_http_and_other_schemes_are_refused_without_the_relaxation() {
    let s = site().await;
    let cfg = WebsiteCheckConfig { test_only_allow_loopback: true, ..Default::default() };
    for url in [format!("http://{}/", s.addr), "ftp://example.com/".into(), "file:///etc/passwd".into()] {
        let f = fetch(&cfg, &url).await;
        assert_eq!(f.error.as_ref().map(|e| e.0.as_str()), Some("refused_scheme"), "{url}: {f:?}");
    }
    assert_eq!(fetch(&cfg, "not a url").await.error.map(|e| e.0), Some("invalid_url".to_string()));
    assert_eq!(s.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_page_over_the_size_limit_is_read_only_up_to_it() {
    let s = site().await;
    let cfg = WebsiteCheckConfig { max_bytes: 64 * 1024, ..relaxed() };
    let url = format!("http://{}/huge", s.addr);
    let e = website::evaluate(&url, &fetch(&cfg, &url).await, &storyweave());
    assert!(e.truncated);
    assert_eq!(e.bytes, 64 * 1024);
    assert_eq!(e.title, "Big", "what was read is still read");
    let whole = fetch(&WebsiteCheckConfig { max_bytes: 16 * 1024 * 1024, ..relaxed() }, &url).await;
    assert!(!whole.truncated && whole.body.len() > 4_000_000, "the limit, not the page, stopped it");
}

#[tokio::test]
async fn a_site_that_does_not_answer_in_time_is_a_timeout() {
    let s = site().await;
    let cfg = WebsiteCheckConfig { timeout_seconds: 1, connect_timeout_seconds: 1, ..relaxed() };
    let started = Instant::now();
    let f = fetch(&cfg, &format!("http://{}/slow", s.addr)).await;
    assert_eq!(f.error.as_ref().map(|e| e.0.as_str()), Some("timeout"), "{f:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn an_error_status_is_recorded_as_one() {
    let s = site().await;
    let url = format!("http://{}/gone", s.addr);
    let e = website::evaluate(&url, &fetch(&relaxed(), &url).await, &storyweave());
    assert_eq!((e.fetched, e.status, e.error.as_str()), (true, 404, "http_error"));
}

/// An HTTPS site with a certificate from a test root (trusted through the test-only root
/// setting, over loopback): the certificate's subject is recorded; its redirect to plain
/// HTTP is refused.
#[tokio::test]
async fn https_records_the_certificate_subject() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (addr, root) = tls_site(dir.path()).await;
    let cfg = WebsiteCheckConfig {
        test_only_allow_loopback: true,
        test_only_root_certificate: Some(root),
        ..Default::default()
    };
    let url = format!("https://localhost:{}/", addr.port());
    let e = website::evaluate(&url, &fetch(&cfg, &url).await, &storyweave());
    assert_eq!(e.status, 200, "{e:?}");
    assert!(e.certificate_subject.contains("CN=Storyweave Test Site"), "{e:?}");
    assert!(e.certificate_subject.contains("O=Storyweave Ltd"), "{e:?}");
    assert!(e.name_found);
    let down = fetch(&cfg, &format!("https://localhost:{}/downgrade", addr.port())).await;
    assert_eq!(down.error.as_ref().map(|e| e.0.as_str()), Some("refused_scheme"), "{down:?}");
    // Without the test root the certificate is not trusted: nothing is read.
    let untrusted = fetch(&WebsiteCheckConfig { test_only_root_certificate: None, ..cfg }, &url).await;
    assert_eq!(untrusted.error.as_ref().map(|e| e.0.as_str()), Some("connect_failed"), "{untrusted:?}");
}

/// A minimal HTTPS server (one response per connection) with a self-signed certificate for
/// localhost; returns its address and the PEM file to trust.
async fn tls_site(dir: &std::path::Path) -> (SocketAddr, std::path::PathBuf) {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "Storyweave Test Site");
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "Storyweave Ltd");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("certificate");
    let pem = dir.join("root.pem");
    std::fs::write(&pem, cert.pem()).expect("write pem");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let response = if head.starts_with(b"GET /downgrade") {
                    format!(
                        "HTTP/1.1 302 Found\r\nLocation: http://localhost:{}/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        addr.port()
                    )
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{STORYWEAVE}",
                        STORYWEAVE.len()
                    )
                };
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, pem)
}

// --- the job, through the library, on both stores --------------------------------------------

fn application_email(message_id: &str, website: &str) -> Vec<u8> {
    format!(
        "Message-ID: <{message_id}>\r\nDate: Mon, 16 Nov 2026 10:00:00 +0000\r\nFrom: Lena Vogel <lena.dev@gmail.com>\r\n\
         To: support@wavespeed.ai\r\nSubject: credit line for my app\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Hi,\r\n\r\nI'm an independent developer applying for a credit line.\r\n\r\n\
         - Account email: lena.dev@gmail.com\r\n- Applying as: individual\r\n\
         - Product: Storyweave, an Android app that illustrates bedtime stories\r\n\
         - App: https://play.google.com/store/apps/details?id=app.storyweave\r\n\
         - Website: {website}\r\n- AWS account: yes, opened January 2022, about $30/month\r\n\
         - Expected usage about $90/month, requesting $200/month\r\n- Contact: Telegram @lenadev\r\n\r\nThanks, Lena\r\n"
    )
    .into_bytes()
}

fn app_with_checks(t: &TestStore) -> Arc<creditline::app::App> {
    let mut config = t.app().config.clone();
    config.website_check = relaxed();
    creditline::app::App::assemble(config, t.store.clone(), Arc::new(creditline::services::SystemClock))
        .expect("assemble the app")
}

/// Intake asks for one check per application and address (a second message naming the same
/// site adds none); the job records the evidence, the decision made with it and one
/// `website_checked` event, once: the same job again, or a stale one, does nothing.
async fn the_check_job_records_evidence_once(t: TestStore) {
    let s = site().await;
    let app = app_with_checks(&t);
    let url = format!("http://localhost:{}/parked", s.addr.port());
    let first = creditline::services::inbound::ingest(&app, "test", &application_email("w1@mail.gmail.com", &url))
        .await
        .unwrap();
    let id: creditline::domain::ApplicationId = first.application_id.as_deref().unwrap().parse().unwrap();
    assert_eq!(first.state.as_deref(), Some("pending_review"), "{first:?}");
    let again = creditline::services::inbound::ingest(&app, "test", &application_email("w2@mail.gmail.com", &url))
        .await
        .unwrap();
    assert_eq!(again.application_id, first.application_id, "{again:?}");
    let checks = t.store.website_checks_for(id).await.unwrap();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!((checks[0].status.as_str(), checks[0].url.as_str()), ("pending", url.as_str()));

    let now = chrono::Utc::now();
    let jobs = t.store.queue_website_checks(now, now - chrono::Duration::minutes(10), 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert!(t.store.queue_website_checks(now, now - chrono::Duration::minutes(10), 10).await.unwrap().is_empty());
    let stale = creditline::store::WebsiteCheckJob { enqueues: 0, ..jobs[0] };
    assert_eq!(
        creditline::services::website::run(&app, stale).await.unwrap(),
        creditline::services::website::Checked::Stale
    );

    let checked = creditline::services::website::run(&app, jobs[0]).await.unwrap();
    assert_eq!(checked, creditline::services::website::Checked::Recorded { outcome: "concern".into(), event: true });
    assert_eq!(
        creditline::services::website::run(&app, jobs[0]).await.unwrap(),
        creditline::services::website::Checked::Stale
    );

    let checks = t.store.website_checks_for(id).await.unwrap();
    let e = checks[0].evidence.clone().expect("evidence");
    assert_eq!(checks[0].status, "done");
    assert!(e.parked_signs.iter().any(|s| s.contains("for sale")), "{e:?}");
    let events = t.store.events(id.into()).await.unwrap();
    let website: Vec<_> = events.iter().filter(|e| e.event == "website_checked").collect();
    assert_eq!(website.len(), 1, "{events:?}");
    assert_eq!(
        (website[0].from_state.as_deref(), website[0].to_state.as_str()),
        (Some("pending_review"), "pending_review")
    );
    assert!(website[0].reason.as_deref().unwrap_or_default().contains("website_parked_or_placeholder"), "{website:?}");
    let decisions = t.store.decisions_for(id.into()).await.unwrap();
    let d = decisions.iter().find(|d| website[0].decision_ids.contains(&d.id)).expect("the event's decision");
    assert_eq!((d.rule.as_str(), d.outcome.as_str()), ("business_verification", "concern"));
    assert_eq!(d.input["website_evidence"]["title"], "storyweave.app is for sale");
    // Done rows are never queued again, however old.
    let later = now + chrono::Duration::hours(1);
    assert!(t.store.queue_website_checks(later, later, 10).await.unwrap().is_empty());
}

/// Off by default: intake asks for no check.
async fn without_the_setting_no_check_is_asked_for(t: TestStore) {
    let app = t.app();
    assert!(!app.config.website_check.enabled);
    let r = creditline::services::inbound::ingest(
        &app,
        "test",
        &application_email("w3@mail.gmail.com", "https://storyweave.app"),
    )
    .await
    .unwrap();
    let id: creditline::domain::ApplicationId = r.application_id.as_deref().unwrap().parse().unwrap();
    assert!(t.store.website_checks_for(id).await.unwrap().is_empty());
}

store_suite!(the_check_job_records_evidence_once, without_the_setting_no_check_is_asked_for);

// --- the whole path over HTTP, with the worker of `creditline serve` ---------------------------

/// An application email comes in over the inbox endpoint; the server's own worker runs the
/// check; the reviewer reads the evidence on `GET /api/v1/applications/{id}`, with the
/// `website_checked` event and the business_verification decision made with it. The parked
/// site is a concern; the business site is not.
fn the_reviewer_sees_the_website_evidence(dir: tempfile::TempDir) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let s = site().await;
            addr_tx.send(s.addr).expect("send address");
            let _ = stop_rx.await;
        });
    });
    let addr = addr_rx.recv().expect("site address");
    let toml = dir.path().join("creditline.toml");
    let mut config = std::fs::read_to_string(&toml).unwrap_or_default();
    config.push_str(
        "\n[website_check]\nenabled = true\ntimeout_seconds = 5\ntest_only_allow_loopback = true\ntest_only_allow_http = true\n",
    );
    std::fs::write(&toml, config).expect("write creditline.toml");
    let token = |name: &str, role: &str| {
        let o = common::run(dir.path(), &["tokens", "create", "--name", name, "--role", role]);
        assert!(o.status.success(), "{}", common::stderr(&o));
        common::stdout(&o).trim().to_string()
    };
    let (inbox, reviewer) = (token("gw", "inbox"), token("rita", "reviewer"));
    let server = common::serve(dir.path());
    let post = |raw: &[u8]| {
        let bearer = format!("Bearer {inbox}");
        let r = common::http(
            &server.addr,
            "POST",
            "/api/v1/inbox/messages",
            &[("Content-Type", "message/rfc822"), ("Authorization", &bearer)],
            raw,
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()["application_id"].as_str().expect("application id").to_string()
    };
    let business = post(&application_email("e2e-1@mail.gmail.com", &format!("http://localhost:{}/", addr.port())));
    let parked_raw = String::from_utf8(application_email(
        "e2e-2@mail.gmail.com",
        &format!("http://localhost:{}/parked", addr.port()),
    ))
    .unwrap()
    .replace("lena.dev@gmail.com", "max.dev@gmail.com");
    let parked = post(parked_raw.as_bytes());

    let view = |id: &str| {
        let bearer = format!("Bearer {reviewer}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = common::http(
                &server.addr,
                "GET",
                &format!("/api/v1/applications/{id}"),
                &[("Authorization", &bearer)],
                b"",
            );
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let v = r.json();
            if v["application"]["website_checks"][0]["status"] == "done" {
                return v;
            }
            assert!(Instant::now() < deadline, "the website check did not finish: {v}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let v = view(&business);
    let checks = v["application"]["website_checks"].as_array().expect("website checks");
    assert_eq!(checks.len(), 1, "{v}");
    let e = &checks[0]["evidence"];
    assert_eq!(e["status"], 200);
    assert_eq!(e["title"], "Storyweave \u{2014} bedtime stories, illustrated");
    assert_eq!(e["name_found"], true);
    assert_eq!(e["parked_signs"], serde_json::json!([]));
    let event =
        v["events"].as_array().unwrap().iter().find(|e| e["event"] == "website_checked").expect("event").clone();
    assert!(!event["reason"].as_str().unwrap().contains("website_"), "{event}");

    let v = view(&parked);
    let e = &v["application"]["website_checks"][0]["evidence"];
    assert!(e["parked_signs"].as_array().unwrap().iter().any(|s| s.as_str().unwrap().contains("for sale")), "{e}");
    let event =
        v["events"].as_array().unwrap().iter().find(|e| e["event"] == "website_checked").expect("event").clone();
    assert!(event["reason"].as_str().unwrap().contains("concern (website_parked_or_placeholder)"), "{event}");
    let decision = v["application"]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|d| d["rule"] == "business_verification")
        .expect("decision")
        .clone();
    assert_eq!(decision["outcome"], "concern");
    assert_eq!(decision["input"]["website_evidence"]["title"], "storyweave.app is for sale");
    // The CLI shows the same evidence, one line per check.
    let o = common::run(dir.path(), &["applications", "show", &parked]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let out = common::stdout(&o);
    assert!(out.contains("website check:") && out.contains("HTTP 200"), "{out}");
    assert!(out.contains("parked or placeholder") && out.contains("domain is for sale"), "{out}");
    drop(server);
    let _ = stop_tx.send(());
    server_thread.join().expect("site thread");
}

black_box_suite!(the_reviewer_sees_the_website_evidence);

/// Strict configuration: the section's keys are known, their bounds checked, and a
/// misspelt key (say, a guessed relaxation) is an error naming it.
#[test]
fn the_website_check_settings_are_strict() {
    let dir = tempfile::tempdir().expect("temp dir");
    let load = |toml: &str| {
        let path = dir.path().join("creditline.toml");
        std::fs::write(&path, toml).expect("write config");
        creditline::config::Config::load_from(Some(&path), Vec::new())
    };
    let on = load("[website_check]\nenabled = true\nmax_redirects = 3\n").expect("valid");
    assert!(on.website_check.enabled && !on.website_check.relaxed());
    assert_eq!(on.website_check.max_redirects, 3);
    assert!(!creditline::config::Config::default().website_check.enabled, "off by default");
    let unknown = load("[website_check]\nallow_private_addresses = true\n").unwrap_err().to_string();
    assert!(unknown.contains("allow_private_addresses"), "{unknown}");
    for bad in [
        "max_bytes = 0",
        "timeout_seconds = 0",
        "timeout_seconds = 5\nconnect_timeout_seconds = 6",
        "max_redirects = 50",
    ] {
        let e = load(&format!("[website_check]\n{bad}\n")).unwrap_err().to_string();
        assert!(e.contains("website_check."), "{bad}: {e}");
    }
}

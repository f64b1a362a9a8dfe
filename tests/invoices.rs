//! Invoice requests end to end (policy, `../shared/seed/payment-methods.txt`: "Email support …
//! include your account email, specify the billing period or transaction IDs, provide any
//! required business information"): an email in through `creditline ingest`, the
//! acknowledgement and the request for what is missing delivered over real SMTP (aiosmtpd),
//! the customer's reply in the same thread completing the request, a reviewer's `mark_sent`
//! issuing the invoice from the ledger and sending it as a PDF attachment, read back and
//! compared with the ledger; on SQLite and PostgreSQL. And the numbering: concurrent issues
//! never skip or repeat a number.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestStore, creditline, python_with_aiosmtpd, repo, run, stderr, stdout};
use creditline::domain::{EmailAddress, Money, Role};
use creditline::services::access::Caller;
use creditline::services::actions::Actor;
use creditline::services::task_actions::{self, ResolveError, TaskAction};
use creditline::store::{InvoiceFilter, TaskFilter};
use mail_parser::MimeHeaders;

/// A running aiosmtpd writing a Maildir, and a running `creditline worker`; both stopped on drop.
struct Mailroom {
    smtpd: Child,
    worker: Option<Child>,
    maildir: PathBuf,
}

impl Drop for Mailroom {
    fn drop(&mut self) {
        for c in [Some(&mut self.smtpd), self.worker.as_mut()].into_iter().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Mailroom {
    /// `None` (the test is skipped) without aiosmtpd, except in CI.
    fn start(dir: &Path) -> Option<Mailroom> {
        let Some(py) = python_with_aiosmtpd() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "aiosmtpd is not installed; CI must run the SMTP tests"
            );
            eprintln!("aiosmtpd not installed: SMTP test skipped");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // On PostgreSQL the suite wrote a creditline.toml ending in its [workers] table.
        let mut toml = std::fs::read_to_string(dir.join("creditline.toml")).unwrap_or_else(|_| "[workers]\n".into());
        toml.push_str(&format!(
            "tick_ms = 100\npoll_ms = 100\n\n[mail]\ntransport = \"smtp\"\nretry_base_ms = 300\nretry_max_ms = 1000\n\n\
             [mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout_seconds = 5\n\n\
             [invoices]\nissuer_name = \"WaveSpeedAI Inc.\"\nissuer_address = [\"1 Market Street\", \"San Francisco, CA\"]\n"
        ));
        std::fs::write(dir.join("creditline.toml"), toml).unwrap();
        let maildir = dir.join("maildir");
        let mut smtpd = Command::new(py)
            .arg(repo().join("src/sim/smtp_sink.py"))
            .args(["--port", &port.to_string(), "--maildir"])
            .arg(&maildir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aiosmtpd");
        let mut line = String::new();
        BufReader::new(smtpd.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("ready"), "aiosmtpd did not start: {line:?}");
        let o = run(dir, &["migrate"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let log = std::fs::File::create(dir.join("worker.log")).unwrap();
        let worker = creditline(dir).arg("worker").stdout(Stdio::null()).stderr(log).spawn().expect("spawn worker");
        Some(Mailroom { smtpd, worker: Some(worker), maildir })
    }

    /// Every message the SMTP server accepted, raw.
    fn messages(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else { continue };
            for e in entries.flatten() {
                out.push(std::fs::read(e.path()).unwrap());
            }
        }
        out
    }

    /// Waits for a delivered message whose subject contains `needle`.
    fn wait_for(&self, needle: &str) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            for m in self.messages() {
                let parsed = mail_parser::MessageParser::default().parse(&m[..]).unwrap();
                if parsed.subject().unwrap_or_default().contains(needle) {
                    return m;
                }
            }
            assert!(Instant::now() < deadline, "no message with {needle:?} delivered");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn ingest(dir: &Path, name: &str, raw: &str) -> serde_json::Value {
    let path = dir.join(name);
    std::fs::write(&path, raw).unwrap();
    let o = run(dir, &["ingest", "--json", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).unwrap()
}

fn text_of(raw: &[u8]) -> String {
    let m = mail_parser::MessageParser::default().parse(raw).unwrap();
    m.body_text(0).unwrap_or_default().replace("\r\n", "\n")
}

/// The text a PDF shows (lopdf's extraction over every page).
fn pdf_text(bytes: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(bytes).expect("the attachment is a PDF");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text(&pages).expect("its text")
}

/// Policy: "Email support … include your account email, specify the billing period or
/// transaction IDs, provide any required business information". The request is acknowledged,
/// the missing period and business details are asked for, the reply (threaded by In-Reply-To
/// alone: its subject names nothing) completes it, and the reviewer's `mark_sent` sends invoice
/// INV-000001 as a PDF whose number and total match the ledger.
fn an_invoice_request_is_acknowledged_completed_and_sent_as_a_pdf(dir: tempfile::TempDir) {
    let dir = dir.path();
    let Some(mail) = Mailroom::start(dir) else { return };
    let account = "ops@acme-render.com";
    for (amount, txn) in [("25.00", "ch_invtest0001"), ("12.34", "ch_invtest0002")] {
        let o = run(dir, &["ledger", "top-up", account, "--amount", amount, "--provider", "stripe", "--txn", txn]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let month = chrono::Utc::now().format("%Y-%m").to_string();

    let first = ingest(
        dir,
        "1.eml",
        "From: Olivia Park <ops@acme-render.com>\r\nTo: support@wavespeed.ai\r\nSubject: Invoice request\r\n\
         Message-ID: <inv-1@acme-render.com>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nHello, could you send us an invoice please?\r\nThanks, Olivia\r\n",
    );
    assert_eq!(first["outcome"], "invoice_request", "{first}");
    assert_eq!(first["state"], "awaiting_details", "{first}");
    assert_eq!(
        first["missing"],
        serde_json::json!(["billing_period_or_transactions", "legal_company_name", "billing_address"])
    );

    let ack = mail.wait_for("We received your invoice request");
    let asked = mail.wait_for("Details needed for your invoice");
    let asked_text = text_of(&asked);
    for item in
        ["the billing period (the month) or the transaction IDs", "your legal company name", "the billing address"]
    {
        assert!(asked_text.contains(item), "{item} is asked for: {asked_text}");
    }
    let asked_msg = mail_parser::MessageParser::default().parse(&asked[..]).unwrap();
    let ack_msg = mail_parser::MessageParser::default().parse(&ack[..]).unwrap();
    assert_eq!(ack_msg.to().and_then(|a| a.first()).and_then(|a| a.address()), Some(account));
    assert_eq!(asked_msg.in_reply_to().as_text(), Some("inv-1@acme-render.com"), "the question answers the request");
    let asked_id = asked_msg.message_id().unwrap().to_string();

    let reply = ingest(
        dir,
        "2.eml",
        &format!(
            "From: Olivia Park <ops@acme-render.com>\r\nTo: support@wavespeed.ai\r\nSubject: Re: the details\r\n\
             Message-ID: <inv-2@acme-render.com>\r\nIn-Reply-To: <{asked_id}>\r\n\
             References: <inv-1@acme-render.com> <{asked_id}>\r\nDate: Tue, 01 Dec 2026 11:00:00 +0000\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nBilling period: {month}\r\nLegal company name: Acme Render Ltd\r\n\
             Billing address: 1 Main Street, London EC1A 1BB, United Kingdom\r\nVAT number: GB999888777\r\n"
        ),
    );
    assert_eq!(reply["outcome"], "invoice_request", "{reply}");
    assert_eq!(reply["state"], "pending_review", "the reply completes the request, opening no new one: {reply}");
    assert_eq!(reply["missing"], serde_json::json!([]));

    let o = run(dir, &["tasks", "list", "--kind", "invoice_request"]);
    let tasks: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(tasks.len(), 1, "one request, one task: {tasks:?}");
    let o = run(dir, &["tokens", "create", "--name", "rita", "--role", "reviewer"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let token = stdout(&o).trim().lines().last().unwrap().to_string();
    let task = tasks[0]["id"].as_str().unwrap();
    let o = run(dir, &["tasks", "resolve", task, "--action", "mark_sent", "--note", "issued", "--token", &token]);
    assert!(o.status.success(), "{}", stderr(&o));
    let done: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(done["detail"]["invoice"], "INV-000001", "{done}");
    assert_eq!(done["event"]["to"], "sent", "{done}");

    let sent = mail.wait_for("Your invoice INV-000001");
    let msg = mail_parser::MessageParser::default().parse(&sent[..]).unwrap();
    assert_eq!(msg.to().and_then(|a| a.first()).and_then(|a| a.address()), Some(account));
    assert_eq!(msg.in_reply_to().as_text(), Some("inv-2@acme-render.com"), "in the customer's thread");
    let pdf = msg
        .attachments()
        .find(|a| a.attachment_name() == Some("INV-000001.pdf"))
        .expect("the PDF is attached")
        .contents()
        .to_vec();
    assert!(msg.attachments().any(|a| a.attachment_name() == Some("INV-000001.html")), "and the HTML");
    let text = pdf_text(&pdf);

    // The ledger's own figures: the month's top-ups.
    let o = run(dir, &["ledger", "entries", account]);
    let ledger: i64 = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["kind"] == "top_up")
        .map(|e| e["amount_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(ledger, 3_734);
    let total = Money::from_cents(ledger).to_string();
    for needle in [
        "INV-000001",
        total.as_str(),
        "$25.00",
        "$12.34",
        "Acme Render Ltd",
        "1 Main Street",
        "GB999888777",
        "WaveSpeedAI Inc.",
    ] {
        assert!(text.contains(needle), "the PDF shows {needle}: {text}");
    }
    assert!(text_of(&sent).contains(&format!("{total} in total")), "{}", text_of(&sent));

    // The CLI shows and renders the same invoice, byte for byte.
    let o = run(dir, &["invoices", "list"]);
    let listed: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["invoice"], "INV-000001");
    assert_eq!(listed[0]["total_cents"], ledger);
    let o = run(dir, &["invoices", "show", "INV-000001"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(shown["document"]["total_cents"], ledger);
    assert_eq!(shown["document"]["customer"]["name"], "Acme Render Ltd");
    let out = dir.join("copy.pdf");
    let o = run(dir, &["invoices", "render", "1", "--format", "pdf", "--output", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), pdf, "render writes the bytes that were sent");
    let o = run(dir, &["invoices", "render", "INV-000001", "--format", "html"]);
    assert!(stdout(&o).contains("Acme Render Ltd") && stdout(&o).contains(&total), "{}", stdout(&o));
    let o = run(dir, &["invoices", "show", "7"]);
    assert_eq!(o.status.code(), Some(2), "an unknown invoice is an error");
    assert!(stderr(&o).contains("no invoice 7"), "{}", stderr(&o));

    // Finished: marking it sent again changes nothing and issues no second invoice.
    let o = run(dir, &["tasks", "resolve", task, "--action", "mark_sent", "--note", "again", "--token", &token]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let o = run(dir, &["invoices", "list"]);
    assert_eq!(stdout(&o).lines().count(), 1);
    drop(mail);
}

black_box_suite!(an_invoice_request_is_acknowledged_completed_and_sent_as_a_pdf);

#[test]
fn every_invoices_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["invoices", "--help"][..],
        &["invoices", "list", "--help"],
        &["invoices", "show", "--help"],
        &["invoices", "render", "--help"],
    ] {
        let o = run(dir.path(), args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(!stdout(&o).trim().is_empty());
    }
}

fn request_email(i: usize, month: &str) -> String {
    format!(
        "From: ops{i}@acme{i}.com\r\nTo: support@wavespeed.ai\r\nSubject: Invoice request\r\n\
         Message-ID: <conc-{i}-{}@acme{i}.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Please send an invoice.\r\nBilling period: {month}\r\nLegal company name: Acme {i} Ltd\r\n\
         Billing address: {i} Main Street, London\r\n",
        uuid::Uuid::now_v7()
    )
}

/// The numbering: 22 reviewers mark 22 requests sent at once; the two with nothing to bill are
/// refused and burn no number; the 20 invoices are numbered exactly 1..=20, one per request,
/// each with its own account's total.
async fn concurrent_issues_never_skip_or_repeat_a_number(t: TestStore) {
    let app = t.app();
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    for i in 0..22 {
        let account = format!("ops{i}@acme{i}.com");
        if i < 20 {
            creditline::services::ledger::Ledger::new(&app)
                .top_up(
                    &EmailAddress::parse(&account).unwrap(),
                    Money::from_cents(1_000 + i as i64),
                    "stripe",
                    &format!("ch_conc{i:08}"),
                )
                .await
                .unwrap();
        }
        let r = creditline::services::inbound::ingest(&app, "test", request_email(i, &month).as_bytes()).await.unwrap();
        assert_eq!(r.state.as_deref(), Some("pending_review"), "{r:?}");
    }
    let tasks = app
        .store
        .list_tasks(&TaskFilter {
            kind: Some("invoice_request".into()),
            state: Some("open".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(tasks.len(), 22);
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks.len()));
    let mut handles = Vec::new();
    for (n, task) in tasks.iter().enumerate() {
        let (app, barrier, id) = (app.clone(), barrier.clone(), task.id);
        handles.push(tokio::spawn(async move {
            let caller = Caller { token_id: format!("t{n}"), name: format!("reviewer{n}"), role: Role::Reviewer };
            barrier.wait().await;
            let actor = Actor { caller: &caller, request_id: "test", now: app.workflow.clock().now() };
            let action = TaskAction::MarkSent { note: "sent".into(), invoice_reference: None };
            task_actions::resolve(&app, &actor, id, None, action, None).await
        }));
    }
    let mut refused = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => {}
            Err(ResolveError::Refused(why)) => {
                assert!(why.contains("no charges"), "{why}");
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(refused, 2);
    let invoices = app.store.list_invoices(&InvoiceFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(
        invoices.iter().map(|i| i.number).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<i64>>(),
        "no gap, no repeat"
    );
    assert_eq!(app.store.last_invoice_number().await.unwrap(), 20);
    let mut accounts: Vec<&str> = invoices.iter().map(|i| i.account_email.as_str()).collect();
    accounts.sort();
    accounts.dedup();
    assert_eq!(accounts.len(), 20, "one invoice per request");
    for inv in &invoices {
        let i: i64 = inv.account_email.trim_start_matches("ops").split('@').next().unwrap().parse().unwrap();
        assert_eq!(inv.total_cents, 1_000 + i, "{} is billed its own top-up", inv.account_email);
        let doc = creditline::services::invoices::document(inv).unwrap();
        assert_eq!(doc.number_text, format!("INV-{:06}", inv.number));
        assert!(pdf_text(&inv.pdf).contains(&doc.number_text), "the PDF carries its number");
    }
    let tasks_done = app
        .store
        .list_tasks(&TaskFilter {
            kind: Some("invoice_request".into()),
            state: Some("done".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(tasks_done.len(), 20);
}

store_suite!(concurrent_issues_never_skip_or_repeat_a_number);

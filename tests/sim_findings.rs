//! What the simulation found, each fixed and pinned here through intake and delivery on a
//! real SQLite database: an enterprise is asked to confirm its domain once; our emails never
//! thread as replies to an out-of-office; an invoice for a month of credit-line usage is made
//! from that month's bill.

use std::sync::Arc;

use creditline::app::App;
use creditline::config::Config;
use creditline::email::transport::Mailer;

mod common;

async fn app(dir: &std::path::Path) -> Arc<App> {
    app_with_clock(dir, None).await
}

/// The service reading its time from `clock` (a `FileClock` file) when one is given.
async fn app_with_clock(dir: &std::path::Path, clock: Option<std::path::PathBuf>) -> Arc<App> {
    let config = Config {
        test_only_clock_file: clock,
        database_url: format!("sqlite://{}", dir.join("t.db").display()),
        rules_dir: common::repo().join("rules"),
        workflows_dir: common::repo().join("workflows"),
        templates_dir: common::repo().join("templates"),
        mail: creditline::config::MailConfig { dir: dir.join("out"), ..Default::default() },
        ..Default::default()
    };
    App::build(config, true).await.expect("app")
}

async fn ingest(app: &App, raw: &str) -> String {
    let report =
        creditline::services::inbound::ingest(app, "test", raw.replace('\n', "\r\n").as_bytes()).await.expect("ingest");
    let v = serde_json::to_value(&report).unwrap();
    v["outcome"].as_str().unwrap_or("").to_string()
}

/// Delivers every queued email (file transport); returns them as text, in order.
async fn deliver(app: &App, dir: &std::path::Path) -> Vec<String> {
    delivered(app, dir).await.into_iter().map(|(_, m)| m).collect()
}

/// As [`deliver`], each with its template's name.
async fn delivered(app: &App, dir: &std::path::Path) -> Vec<(String, String)> {
    let mailer = Mailer::from_config(&app.config.mail).expect("mailer");
    let now = app.workflow.clock().now();
    let mut out = Vec::new();
    for job in app.store.queue_outbox(now, 100).await.expect("queue") {
        creditline::services::delivery::deliver(app, &mailer, job).await.expect("deliver");
        let name = app.store.outbox_row(job.id).await.expect("row").expect("the row").name;
        out.push((name, std::fs::read_to_string(dir.join("out").join(format!("{}.eml", job.id))).expect("the .eml")));
    }
    out
}

fn header(raw: &str, name: &str) -> String {
    let prefix = format!("{name}: ");
    let mut lines = raw.lines().skip_while(|l| !l.starts_with(&prefix));
    let mut value = lines.next().map(|l| l[prefix.len()..].trim_end().to_string()).unwrap_or_default();
    for l in lines.take_while(|l| l.starts_with(' ') || l.starts_with('\t')) {
        value.push_str(l.trim_end());
    }
    value
}

#[test]
fn our_emails_never_answer_an_out_of_office() {
    let dir = tempfile::tempdir().unwrap();
    common::rt().block_on(async {
        let app = app(dir.path()).await;
        let apply = "Message-ID: <apply-1@gmail.com>\nFrom: Lena <lena.sim@gmail.com>\nTo: support@wavespeed.ai\nSubject: Credit line\nDate: Mon, 04 Jan 2027 09:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nHello, I would like a monthly credit line please.\nAccount email: lena.sim@gmail.com\n";
        assert_eq!(ingest(&app, apply).await, "created_application");
        let first = deliver(&app, dir.path()).await;
        let ours = first.iter().map(|m| header(m, "Message-ID")).next_back().expect("an email to the applicant");
        let ooo = format!("Message-ID: <ooo-1@gmail.com>\nFrom: Lena <lena.sim@gmail.com>\nTo: support@wavespeed.ai\nSubject: Out of office: Re: Credit line\nAuto-Submitted: auto-replied\nIn-Reply-To: {ours}\nReferences: {ours}\nDate: Mon, 04 Jan 2027 09:01:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nI am away until Monday.\n");
        assert_eq!(ingest(&app, &ooo).await, "ignored_auto_reply");
        let answer = format!("Message-ID: <answer-1@gmail.com>\nFrom: Lena <lena.sim@gmail.com>\nTo: support@wavespeed.ai\nSubject: Re: Credit line\nIn-Reply-To: {ours}\nReferences: {ours}\nDate: Tue, 05 Jan 2027 09:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nThanks, I will send the rest soon.\n");
        ingest(&app, &answer).await;
        // Whatever we send next threads into the conversation, never to the out-of-office.
        let next = deliver(&app, dir.path()).await;
        assert!(!next.is_empty(), "the answer brought an email");
        for m in next {
            assert!(!header(&m, "In-Reply-To").contains("ooo-1@gmail.com"), "{m}");
            assert!(!header(&m, "References").contains("ooo-1@gmail.com"), "{m}");
            assert!(header(&m, "In-Reply-To").contains("answer-1@gmail.com"), "{m}");
        }
    });
}

const TOOL_SITE_APPLICATION: &str = "Message-ID: <apply-2@quartz-harbor-9.com>\nFrom: Maya Chen <maya@quartz-harbor-9.com>\nTo: support@wavespeed.ai\nSubject: Monthly credit line application - Quartz Harbor Ltd\nDate: Mon, 04 Jan 2027 09:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nHello,\n\nWe would like to apply for a monthly credit line.\n\nAccount email: maya@quartz-harbor-9.com\nApplicant type: Enterprise\nLegal company name: Quartz Harbor Ltd\nRegistration country: United Kingdom\nWebsite: https://www.futurepedia.io/tool/quartz-harbor\nProduct: Harbor Studio, product photo generation for shops\nMain business activity: software for online shops\nUse case: batch image generation\nAWS account: 4821-9937-1204, opened March 2021, in good standing, about $3,400/month spend\nExpected monthly usage: around $180\nRequested credit line: $200/month\n\nBest regards,\nMaya Chen\n";

#[test]
fn an_enterprise_confirms_its_domain_once_however_many_rounds_of_materials() {
    let dir = tempfile::tempdir().unwrap();
    common::rt().block_on(async {
        let app = app(dir.path()).await;
        assert_eq!(ingest(&app, TOOL_SITE_APPLICATION).await, "created_application");
        let mails = delivered(&app, dir.path()).await;
        let names: Vec<&String> = mails.iter().map(|(n, _)| n).collect();
        let request = mails.iter().find(|(n, _)| n == "domain_confirmation_request").unwrap_or_else(|| panic!("a domain confirmation request: {names:?}"));
        let ours = header(&request.1, "Message-ID");
        let confirm = format!("Message-ID: <confirm-2@quartz-harbor-9.com>\nFrom: Oliver <oliver@quartz-harbor-9.com>\nTo: support@wavespeed.ai\nSubject: Re: confirm\nIn-Reply-To: {ours}\nReferences: <apply-2@quartz-harbor-9.com> {ours}\nDate: Mon, 04 Jan 2027 10:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nConfirmed. I am the CFO of Quartz Harbor Ltd and I confirm that Maya Chen applied on our behalf.\n");
        let outcome = ingest(&app, &confirm).await;
        assert_eq!(outcome, "domain_confirmed", "{confirm}");
        let after = delivered(&app, dir.path()).await;
        // The directory page is not the business's site: materials are asked for; the
        // applicant sends the same set again.
        let asked = after.iter().find(|(n, _)| n == "materials_requested").map(|(_, m)| m.clone());
        let asked = asked.unwrap_or_else(|| panic!("materials asked for: {:?}", after.iter().map(|(n, _)| n).collect::<Vec<_>>()));
        let again = TOOL_SITE_APPLICATION
            .replace("<apply-2@", "<apply-3@")
            .replace("Subject: Monthly", &format!("In-Reply-To: {}\nSubject: Re: Monthly", header(&asked, "Message-ID")));
        ingest(&app, &again).await;
        deliver(&app, dir.path()).await;
        let id = app.store.list_applications(&Default::default()).await.unwrap()[0].id;
        let outbox = app.store.outbox_for(id.into()).await.unwrap();
        let confirmations = outbox.iter().filter(|o| o.name == "domain_confirmation_request").count();
        assert_eq!(confirmations, 1, "{:?}", outbox.iter().map(|o| &o.name).collect::<Vec<_>>());
    });
}

#[test]
fn workers_starting_at_once_on_one_sqlite_file_all_start() {
    // Three processes migrating one fresh file at once: before the start-up lock, all but one
    // could die ("table already exists", "database is locked").
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let mut children: Vec<std::process::Child> = (0..3)
            .map(|_| {
                common::creditline(dir.path())
                    .arg("worker")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("start a worker")
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_secs(3));
        for child in &mut children {
            let exited = child.try_wait().expect("wait");
            let _ = child.kill();
            let out = child.wait_with_output_ref();
            assert!(exited.is_none(), "a worker exited at start-up: {out}");
        }
    }
}

trait ErrText {
    fn wait_with_output_ref(&mut self) -> String;
}

impl ErrText for std::process::Child {
    fn wait_with_output_ref(&mut self) -> String {
        use std::io::Read;
        let _ = self.wait();
        let mut s = String::new();
        if let Some(e) = self.stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

/// Policy: "Email support … specify the billing period or transaction IDs". A month of
/// credit-line usage is invoiced from that month's bill. The cycle close wrote the bill's
/// ledger entry without its month, so every such request was refused with "no charges to
/// invoice" (found by the simulation: all its invoice requests were closed unissued).
#[test]
fn an_invoice_for_a_billed_month_is_made_from_its_bill() {
    use creditline::domain::{EmailAddress, Money, Period, Role};
    use creditline::services::FileClock;
    use creditline::services::access::Caller;
    use creditline::services::actions::Actor;
    use creditline::services::task_actions::{self, TaskAction};
    let dir = tempfile::tempdir().unwrap();
    common::rt().block_on(async {
        let clock = dir.path().join("clock");
        let march: chrono::DateTime<chrono::Utc> = "2027-03-10T09:00:00Z".parse().unwrap();
        FileClock::write(&clock, march).unwrap();
        let app = app_with_clock(dir.path(), Some(clock.clone())).await;
        let account = "ops@acme-render.com";
        common::open_credit_line(&app, account, 20_000).await;
        let ledger = creditline::services::ledger::Ledger::new(&app);
        let who = EmailAddress::parse(account).unwrap();
        ledger.debit(&who, Money::from_cents(4_000), "use-1").await.unwrap();
        ledger.debit(&who, Money::from_cents(321), "use-2").await.unwrap();
        FileClock::write(&clock, "2027-04-02T09:00:00Z".parse().unwrap()).unwrap();
        let closed = creditline::services::billing::close(&app, Period::containing(march), None).await.unwrap();
        assert_eq!(closed.billed, 1);

        let request = "Message-ID: <inv-march@acme-render.com>\nFrom: Olivia Park <ops@acme-render.com>\nTo: support@wavespeed.ai\nSubject: Invoice for March\nDate: Fri, 02 Apr 2027 10:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nHello, please send us an invoice.\nBilling period: 2027-03\nLegal company name: Acme Render Ltd\nBilling address: 1 Main Street, London\n";
        assert_eq!(ingest(&app, request).await, "invoice_request");
        let filter = creditline::store::TaskFilter {
            kind: Some("invoice_request".into()),
            state: Some("open".into()),
            limit: 10,
            ..Default::default()
        };
        let task = app.store.list_tasks(&filter).await.unwrap().pop().expect("the invoice task");
        let caller = Caller { token_id: "t".into(), name: "support".into(), role: Role::Reviewer };
        let actor = Actor { caller: &caller, request_id: "test", now: app.workflow.clock().now() };
        let action = TaskAction::MarkSent { note: "sent".into(), invoice_reference: None };
        let sent = task_actions::resolve(&app, &actor, task.id, None, action, None).await;
        assert!(sent.is_ok(), "the invoice is issued: {:?}", sent.err());
        let invoices = app
            .store
            .list_invoices(&creditline::store::InvoiceFilter { limit: 10, ..Default::default() })
            .await
            .unwrap();
        assert_eq!(invoices.len(), 1);
        assert_eq!(invoices[0].total_cents, 4_321, "the invoice is the month's bill");
        assert_eq!(invoices[0].account_email, account);
    });
}

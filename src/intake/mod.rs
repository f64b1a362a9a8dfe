//! Support-inbox intake: a raw message becomes a new or updated application, a domain
//! confirmation, an invoice or limit-increase request, an ignored auto-reply, or a triage
//! task; never nothing. The raw bytes are kept before parsing; everything a message changes
//! (workflow steps, decisions, extracted fields with provenance, evidence, tasks, outbox)
//! commits in one transaction with the message's outcome, so a rerun never doubles it.

pub mod authres;
pub mod billing_csv;
pub mod classify;
pub mod extract;
pub mod imap;
pub mod mail;
pub mod sources;
pub mod text;
mod words;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::domain::{ApplicationId, DecisionId, Domain, EmailAddress, Money, SubjectId, TaskId};
use crate::rules::inputs::{ApplicantTypeInput, AwsHistoryInput, BusinessVerificationInput, InitialLimitInput};
use crate::rules::typed::{ApplicantType, Check};
use crate::rules::{Decision, DecisionRecord};
use crate::services::{Cursor, Fire, NewApplicationInput, ServiceError};
use crate::store::{
    ApplicationRecord, ApplicationUpdate, AttachmentWrite, EvidenceWrite, FieldWrite, IntakeWrite, Kept, RawMessage,
    StoreError, TaskWrite,
};
use crate::workflow::names::{application, aws_login, credit_line, invoice_request};
use classify::Intent;
use extract::{Extracted, Found, field};
use mail::Mail;

/// What happened to one message: the line `creditline ingest --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    pub source: String,
    pub message_id: String,
    pub outcome: String,
    pub application_id: Option<String>,
    pub state: Option<String>,
    pub applicant_type: Option<String>,
    pub missing: Vec<String>,
    pub findings: Vec<String>,
    pub error: Option<String>,
}

pub mod outcome {
    pub const CREATED: &str = "created_application";
    pub const UPDATED: &str = "updated_application";
    pub const DOMAIN_CONFIRMED: &str = "domain_confirmed";
    pub const INVOICE: &str = "invoice_request";
    pub const LIMIT_INCREASE: &str = "limit_increase_request";
    pub const AWS_LOGIN: &str = "aws_login_request";
    pub const AUTO_REPLY: &str = "ignored_auto_reply";
    pub const DUPLICATE: &str = "duplicate";
    pub const TRIAGE: &str = "triage";
    pub const REJECTED: &str = "rejected";
}

const ACTOR: &str = "intake";
const APPLICATION: &str = application::WORKFLOW;
/// `business_verification` findings about the website that a materials request explains.
const WEBSITE_FINDINGS: &[&str] = &[
    "missing_website",
    "invalid_website",
    "generic_platform_website",
    "tool_directory_website",
    "email_website_domain_mismatch",
];
const CONFIRMATION: &str = "company_domain_confirmation";
const DOMAIN_CONFIRMED_FIELD: &str = "domain_confirmed";
/// The address whose reply confirmed the company domain: the identity verification checks.
const CONFIRMED_BY_FIELD: &str = "domain_confirmed_by";

/// The Message-ID from the header block, read without parsing the message (it is the key
/// the raw bytes are kept under before anything else happens).
pub fn header_message_id(raw: &[u8]) -> Option<String> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").or_else(|| raw.windows(2).position(|w| w == b"\n\n"));
    let head = &raw[..head_end.unwrap_or(raw.len().min(64 * 1024))];
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else { continue };
        if !name.trim().eq_ignore_ascii_case("message-id") {
            continue;
        }
        let mut value = value.trim().to_string();
        while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
            value.push_str(next.trim());
            lines.next();
        }
        let id = mail::strip_nul(&value).trim().trim_matches(['<', '>']).trim().to_string();
        return (!id.is_empty() && id.len() <= 998).then_some(id);
    }
    None
}

/// What is kept of a message before anything else, and the report it starts with.
fn prepare(app: &App, source: &str, raw: &[u8]) -> (RawMessage, Report) {
    let sha256 = mail::sha256_hex(raw);
    let now = app.workflow.clock().now();
    let too_large = raw.len() > mail::MAX_MESSAGE_BYTES;
    let message_id = if too_large { None } else { header_message_id(raw) }
        .unwrap_or_else(|| format!("{sha256}@no-message-id.invalid"));
    let kept = RawMessage {
        sha256,
        message_id: message_id.clone(),
        size: i64::try_from(raw.len()).unwrap_or(i64::MAX),
        raw: (!too_large).then(|| raw.to_vec()),
        source: source.to_string(),
        received_at: now,
    };
    let blank = Report {
        source: source.to_string(),
        message_id,
        outcome: String::new(),
        application_id: None,
        state: None,
        applicant_type: None,
        missing: Vec::new(),
        findings: Vec::new(),
        error: None,
    };
    (kept, blank)
}

/// A message read and extracted, ready to plan (or the reason it cannot be read).
struct Parsed {
    mail: Result<Mail, mail::MailError>,
    extracted: Extracted,
}

fn parse(raw: &[u8], now: DateTime<Utc>) -> Parsed {
    let mail = mail::parse(raw);
    let extracted = match &mail {
        Ok(m) => {
            let mut x = extract::extract(&m.subject, &m.body, m.date.unwrap_or(now).date_naive());
            // Recent AWS billing records (policy: "when applicable") arrive as a billing CSV.
            if let Some(a) = m.attachments.iter().find(|a| a.csv.as_deref().and_then(billing_csv::parse).is_some()) {
                x.set(
                    field::AWS_BILLING_RECORDS,
                    "true",
                    &format!("attached: {}", a.filename.as_deref().unwrap_or("billing CSV")),
                );
            }
            x
        }
        Err(_) => Extracted::default(),
    };
    Parsed { mail, extracted }
}

/// The outcome of one message as one write (parse errors become `rejected`, planning errors
/// a triage task: a message always gets an outcome).
async fn plan_parsed(
    app: &App,
    sha256: &str,
    parsed: &Parsed,
    blank: &Report,
    now: DateTime<Utc>,
) -> Result<(IntakeWrite, Report), StoreError> {
    match &parsed.mail {
        Err(e) => Ok(rejected(sha256, blank.clone(), e.to_string(), now)),
        Ok(mail) => match plan_with_aws_login(app, mail, &parsed.extracted, blank.clone(), now).await {
            Ok(planned) => Ok(planned),
            Err(PlanError::Store(e)) => Err(e),
            Err(PlanError::Workflow(e)) => {
                tracing::error!(error = %e, message_id = %blank.message_id, "intake could not plan the workflow step; sent to triage");
                Ok(triage(app, mail, blank.clone(), now, &format!("workflow: {e}")))
            }
        },
    }
}

/// Commits a planned write; when another writer changed the same application in between,
/// plans again from fresh state (a few times).
async fn commit_one(
    app: &App,
    kept: &RawMessage,
    parsed: &Parsed,
    blank: &Report,
    planned: (IntakeWrite, Report),
) -> Result<Report, StoreError> {
    let now = kept.received_at;
    let mut planned = planned;
    for _ in 0..3 {
        match app.store.commit_intake(&planned.0).await {
            Ok(()) => return Ok(planned.1),
            // Another message opened the account's AWS login first: decide again, joining it.
            Err(e) if crate::services::aws_login::is_second_request(&e) => {
                planned = plan_parsed(app, &kept.sha256, parsed, blank, now).await?
            }
            Err(StoreError::Duplicate(_)) => {
                let report = match app.store.keep_message(kept).await? {
                    Kept::Processed { report } => report,
                    Kept::ToProcess => serde_json::Value::Null,
                };
                return Ok(duplicate(blank.clone(), &report));
            }
            Err(StoreError::Conflict { .. }) => planned = plan_parsed(app, &kept.sha256, parsed, blank, now).await?,
            Err(e) if e.is_data_fault() => {
                // Something in this message's outcome cannot be stored. It is recorded as
                // rejected with the reason, so it cannot hold back the messages after it
                // (and a rerun does not meet it again).
                tracing::error!(error = %e, message_id = %blank.message_id, "intake outcome could not be stored; rejected");
                let why = format!("the outcome could not be stored: {}", mail::strip_nul(&e.to_string()));
                let (write, report) = rejected(&kept.sha256, blank.clone(), why, now);
                app.store.commit_intake(&write).await?;
                return Ok(report);
            }
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict { expected: 0, actual: 0 })
}

/// Ingests one raw message: keeps it, reads it, decides, and commits the outcome. The
/// same bytes or Message-ID again is a `duplicate` and changes nothing.
pub async fn ingest(app: &App, source: &str, raw: &[u8]) -> Result<Report, StoreError> {
    let (kept, blank) = prepare(app, source, raw);
    if let Kept::Processed { report } = app.store.keep_message(&kept).await? {
        return Ok(duplicate(blank, &report));
    }
    let parsed = parse(raw, kept.received_at);
    let planned = plan_parsed(app, &kept.sha256, &parsed, &blank, kept.received_at).await?;
    commit_one(app, &kept, &parsed, &blank, planned).await
}

/// Most messages a batch commits together.
const BATCH: usize = 64;

/// Ingests many messages with the same outcomes as [`ingest`] one by one, in order, but
/// with one commit per batch (a commit costs far more than reading and deciding a message),
/// and with the next batch decided while the previous one commits. All raw messages are
/// kept (one transaction) before any is read. A message that could depend on one not yet
/// committed (same thread, account or sender) waits for that commit, so every message is
/// decided on committed state. If a batch commit fails, each of its writes is committed on
/// its own (and planned again on a conflict).
pub async fn ingest_many(app: &App, messages: &[(String, Vec<u8>)]) -> Result<Vec<Report>, StoreError> {
    let (raws, blanks): (Vec<RawMessage>, Vec<Report>) = messages.iter().map(|(s, raw)| prepare(app, s, raw)).unzip();
    let kept = app.store.keep_messages(&raws).await?;
    let mut reports: Vec<Option<Report>> = vec![None; messages.len()];
    let mut first_copy: std::collections::HashMap<&str, usize> = Default::default();
    let mut copies = Vec::new();
    let mut todo = Vec::new();
    for (i, ((raw_message, blank), keep)) in raws.iter().zip(&blanks).zip(kept).enumerate() {
        if let Kept::Processed { report } = keep {
            reports[i] = Some(duplicate(blank.clone(), &report));
        } else if let Some(first) = first_copy.get(raw_message.sha256.as_str()) {
            // The same bytes twice in one call: the first copy is the message.
            copies.push((i, *first));
        } else {
            first_copy.insert(&raw_message.sha256, i);
            todo.push(i);
        }
    }
    let work = Work { app, messages, raws: &raws, blanks: &blanks, todo: &todo };
    let mut next = 0;
    let mut committing = Batch::default();
    loop {
        let busy = std::mem::take(&mut committing.keys);
        let (committed, planned) = tokio::join!(committing.commit(&work), work.plan_batch(&mut next, &busy));
        for (i, report) in committed? {
            reports[i] = Some(report);
        }
        committing = planned?;
        if committing.writes.is_empty() && next == todo.len() {
            break;
        }
    }
    for (copy, first) in copies {
        let earlier = json!(reports[first]);
        reports[copy] = Some(duplicate(blanks[copy].clone(), &earlier));
    }
    Ok(reports.into_iter().map(|r| r.expect("every message got a report")).collect())
}

/// The messages of one [`ingest_many`] call still to decide.
struct Work<'a> {
    app: &'a App,
    messages: &'a [(String, Vec<u8>)],
    raws: &'a [RawMessage],
    blanks: &'a [Report],
    todo: &'a [usize],
}

impl Work<'_> {
    /// Decides messages from `todo[*next]` on, up to a batch, stopping before one that could
    /// depend on a write not yet committed (`busy`: the batch being committed; or this one).
    async fn plan_batch(
        &self,
        next: &mut usize,
        busy: &std::collections::HashSet<String>,
    ) -> Result<Batch, StoreError> {
        let mut batch = Batch::default();
        while *next < self.todo.len() && batch.writes.len() < BATCH {
            let i = self.todo[*next];
            let (kept, blank) = (&self.raws[i], &self.blanks[i]);
            let parsed = parse(&self.messages[i].1, kept.received_at);
            let keys = batch_keys(&parsed);
            if keys.iter().any(|k| busy.contains(k) || batch.keys.contains(k)) {
                break;
            }
            let planned = plan_parsed(self.app, &kept.sha256, &parsed, blank, kept.received_at).await?;
            batch.keys.extend(keys);
            batch.keys.extend(written_keys(&planned.0));
            let (write, report) = planned;
            batch.writes.push(write);
            batch.pending.push(Pending { index: i, parsed, report });
            *next += 1;
        }
        Ok(batch)
    }
}

/// A decided message of a batch (its index into the call's messages), with what it takes
/// to decide it again.
struct Pending {
    index: usize,
    parsed: Parsed,
    report: Report,
}

#[derive(Default)]
struct Batch {
    writes: Vec<IntakeWrite>,
    pending: Vec<Pending>,
    keys: std::collections::HashSet<String>,
}

impl Batch {
    /// Commits the batch; returns each message's report by its index.
    async fn commit(self, work: &Work<'_>) -> Result<Vec<(usize, Report)>, StoreError> {
        if self.writes.is_empty() {
            return Ok(Vec::new());
        }
        match work.app.store.commit_intakes(&self.writes).await {
            Ok(()) => Ok(self.pending.into_iter().map(|p| (p.index, p.report)).collect()),
            Err(e @ (StoreError::Duplicate(_) | StoreError::Conflict { .. } | StoreError::Database(_))) => {
                if let StoreError::Database(_) = e
                    && !e.is_data_fault()
                {
                    return Err(e);
                }
                // One message's write spoils the batch: each goes on its own, so only that
                // one is rejected (or planned again on a conflict).
                let mut out = Vec::with_capacity(self.writes.len());
                for (write, p) in self.writes.into_iter().zip(self.pending) {
                    let (kept, blank) = (&work.raws[p.index], &work.blanks[p.index]);
                    out.push((p.index, commit_one(work.app, kept, &p.parsed, blank, (write, p.report)).await?));
                }
                Ok(out)
            }
            Err(e) => Err(e),
        }
    }
}

/// What deciding this message reads that an earlier message of a batch could have written:
/// its thread (message ids, reference tokens), its sender and its account.
fn batch_keys(parsed: &Parsed) -> Vec<String> {
    let Ok(mail) = &parsed.mail else { return Vec::new() };
    let mut keys: Vec<String> = mail.in_reply_to.iter().chain(&mail.references).map(|id| format!("id:{id}")).collect();
    keys.push(format!("id:{}", mail.message_id));
    keys.extend(mail.from.iter().map(|f| format!("addr:{}", f.to_lowercase())));
    keys.extend(parsed.extracted.get(field::ACCOUNT_EMAIL).map(|a| format!("addr:{}", a.to_lowercase())));
    keys.extend(
        mail.subject
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| {
                let w = w.to_ascii_uppercase();
                w.starts_with("CL-") || w.starts_with(INVOICE_REFERENCE_PREFIX)
            })
            .map(|w| format!("ref:{}", w.to_ascii_uppercase())),
    );
    keys
}

/// What a planned write creates or changes that a later message could look up.
fn written_keys(w: &IntakeWrite) -> Vec<String> {
    let mut keys: Vec<String> = w
        .new_instances
        .iter()
        .flat_map(|(i, a)| {
            i.account_email
                .iter()
                .map(|e| format!("addr:{}", e.to_lowercase()))
                .chain(a.iter().map(|a| format!("ref:{}", a.reference)))
        })
        .collect();
    keys.extend(w.application_id.map(|id| format!("app:{id}")));
    keys.extend(w.invoice_requests.iter().map(|r| format!("ref:{}", r.reference)));
    keys
}

fn duplicate(mut blank: Report, earlier: &serde_json::Value) -> Report {
    blank.outcome = outcome::DUPLICATE.into();
    blank.application_id = earlier.get("application_id").and_then(|v| v.as_str()).map(str::to_string);
    blank.state = earlier.get("state").and_then(|v| v.as_str()).map(str::to_string);
    blank
}

fn rejected(sha256: &str, mut report: Report, error: String, now: DateTime<Utc>) -> (IntakeWrite, Report) {
    report.outcome = outcome::REJECTED.into();
    report.error = Some(error);
    let write = IntakeWrite {
        message_sha256: sha256.to_string(),
        outcome: report.outcome.clone(),
        report: json!(report),
        processed_at: now,
        ..Default::default()
    };
    (write, report)
}

#[derive(Debug, thiserror::Error)]
enum PlanError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Workflow(#[from] ServiceError),
}

/// Everything one message will write, built up while deciding.
struct Plan<'a> {
    app: &'a App,
    mail: &'a Mail,
    write: IntakeWrite,
    report: Report,
    /// Where this message's answers go when that is not the account's address: the sender,
    /// who may only have named the account.
    reply_to: Option<String>,
}

impl<'a> Plan<'a> {
    fn new(app: &'a App, mail: &'a Mail, report: Report, now: DateTime<Utc>) -> Plan<'a> {
        let attachments = mail
            .attachments
            .iter()
            .enumerate()
            .map(|(i, a)| AttachmentWrite {
                position: i as i64,
                filename: a.filename.clone(),
                content_type: a.content_type.clone(),
                size: a.size as i64,
                sha256: a.sha256.clone(),
            })
            .collect();
        let write =
            IntakeWrite { message_sha256: mail.sha256.clone(), processed_at: now, attachments, ..Default::default() };
        Plan { app, mail, write, report, reply_to: None }
    }

    fn finish(mut self, outcome: &str) -> (IntakeWrite, Report) {
        self.report.outcome = outcome.to_string();
        self.report.findings.sort();
        self.report.findings.dedup();
        self.write.outcome = outcome.to_string();
        self.write.application_id = self.report.application_id.as_deref().and_then(|s| s.parse().ok());
        self.write.report = json!(self.report);
        (self.write, self.report)
    }

    /// Evaluates a rule on the blocking pool: a slow script must not stall the async workers
    /// that serve HTTP and other messages.
    async fn evaluate<I: Serialize + Sync>(&mut self, rule: &str, input: &I, subject: Option<SubjectId>) -> Decision {
        let (decision, record): (Decision, DecisionRecord) = self.app.rules.evaluate_async(rule, input, subject).await;
        self.write.decisions.push(record);
        decision
    }

    fn fire(&mut self, cursor: &mut Cursor, fire: Fire) -> Result<(), ServiceError> {
        let (mut write, _) = self.app.workflow.plan(cursor, &fire)?;
        self.address(&mut write.outbox);
        self.write.transitions.push(write);
        self.report.state = Some(cursor.state.clone());
        Ok(())
    }

    /// Sends this message's answers to `reply_to`, when set, greeting the sender by name.
    fn address(&self, outbox: &mut [crate::store::OutboxWrite]) {
        for row in outbox {
            if let Some(to) = &self.reply_to {
                row.payload["to"] = json!(to);
            }
            if let Some(name) = &self.mail.from_name
                && row.payload.get("name").is_none_or(|n| n.is_null())
            {
                row.payload["name"] = json!(name);
            }
        }
    }

    /// Whether our receiving server vouches for this message's sender at `domain`, recorded
    /// as evidence the reviewer sees (and as a finding when it does not).
    fn authenticate(&mut self, subject: ApplicationId, domain: &Domain) -> SenderCheck {
        let check = sender_check(self.app, self.mail, domain);
        let (verdict, detail) = match &check {
            SenderCheck::Authenticated(d) => ("authenticated", d.clone()),
            SenderCheck::Failed(d) => ("failed", d.clone()),
            SenderCheck::NotConfigured => (
                "not_checked",
                "intake.authserv_id is not configured: no Authentication-Results header is trusted".to_string(),
            ),
        };
        match check {
            SenderCheck::Authenticated(_) => {}
            SenderCheck::Failed(_) => self.report.findings.push("sender_authentication_failed".into()),
            SenderCheck::NotConfigured => self.report.findings.push("sender_not_authenticated".into()),
        }
        self.write.evidence.push((
            subject,
            EvidenceWrite {
                kind: "sender_authentication".into(),
                data: json!({
                    "sender": self.mail.envelope_from,
                    "domain": domain.as_str(),
                    "verdict": verdict,
                    "detail": detail,
                }),
                message_id: self.mail.message_id.clone(),
            },
        ));
        check
    }

    fn task(&mut self, kind: &str, subject: Option<SubjectId>, title: String, details: serde_json::Value) {
        self.write.tasks.push(TaskWrite {
            id: TaskId::new(),
            kind: kind.to_string(),
            subject_id: subject,
            message_sha256: Some(self.mail.sha256.clone()),
            title,
            details,
            idempotency_key: format!("message:{}:{kind}", self.mail.sha256),
        });
    }

    fn record_fields(&mut self, app: ApplicationId, x: &Extracted) {
        // The website check (src/services/website.rs) is asked for in this message's
        // transaction; a pair of application and address asked for before adds nothing.
        if self.app.config.website_check.enabled
            && let Some(url) = x.get(field::WEBSITE)
        {
            let request = crate::store::WebsiteCheckRequest {
                id: uuid::Uuid::now_v7(),
                application_id: app,
                url: url.to_string(),
            };
            self.write.website_checks.push(request);
        }
        for (key, Found { value, excerpt }) in &x.fields {
            self.write.fields.push((
                app,
                FieldWrite {
                    field: key.clone(),
                    value: value.clone(),
                    message_id: self.mail.message_id.clone(),
                    excerpt: excerpt.clone(),
                },
            ));
        }
        for a in &self.mail.attachments {
            if let Some(months) = a.csv.as_deref().and_then(billing_csv::parse) {
                self.write.evidence.push((
                    app,
                    EvidenceWrite {
                        kind: "aws_billing".into(),
                        data: json!({ "file": a.filename, "sha256": a.sha256, "months": months }),
                        message_id: self.mail.message_id.clone(),
                    },
                ));
            }
        }
    }
}

fn triage(app: &App, mail: &Mail, report: Report, now: DateTime<Utc>, why: &str) -> (IntakeWrite, Report) {
    let mut p = Plan::new(app, mail, report, now);
    p.task(
        "triage",
        None,
        format!("Triage: {}", if mail.subject.is_empty() { "(no subject)" } else { &mail.subject }),
        json!({ "from": mail.from, "subject": mail.subject, "reason": why, "excerpt": excerpt(&mail.body) }),
    );
    p.finish(outcome::TRIAGE)
}

fn excerpt(body: &str) -> String {
    body.chars().take(500).collect()
}

/// What our receiving mail server found about a message's sender (see [`authres`]).
#[derive(Debug, Clone, PartialEq, Eq)]
enum SenderCheck {
    /// Our server's `Authentication-Results` vouch for the sender's domain.
    Authenticated(String),
    /// They do not (or our server's header is missing); says what was found.
    Failed(String),
    /// No `intake.authserv_id`: nothing in the message can be trusted to say.
    NotConfigured,
}

fn sender_check(app: &App, mail: &Mail, domain: &Domain) -> SenderCheck {
    let Some(authserv_id) = app.config.intake.authserv_id.as_deref() else { return SenderCheck::NotConfigured };
    match authres::trusted(mail.authentication_results.iter().map(String::as_str), authserv_id) {
        None => SenderCheck::Failed(format!("no Authentication-Results header from {authserv_id}")),
        Some(results) => match authres::verdict(&results, domain) {
            authres::Verdict::Pass(d) => SenderCheck::Authenticated(d),
            authres::Verdict::Fail(d) => SenderCheck::Failed(d),
        },
    }
}

/// Mail from our own support address is our own mail coming back (a loop through a
/// forwarding rule or a misaddressed copy): never answered.
fn from_ourselves(app: &App, mail: &Mail) -> Option<String> {
    let ours = app.config.mail.from.parse::<lettre::message::Mailbox>().ok()?;
    let ours = ours.email.to_string().to_lowercase();
    [&mail.envelope_from, &mail.from]
        .into_iter()
        .flatten()
        .any(|a| a.eq_ignore_ascii_case(&ours))
        .then(|| format!("sent from our own address {ours}"))
}

/// How the account an email names relates to its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    /// The sender's own address (or no other was named).
    Sender,
    /// Another address at the company's own domain (the website's), e.g. a colleague naming
    /// the billing account: answered at the sender, noted for the reviewer.
    Colleague,
    /// Any other address: its owner must confirm from it before anything is reviewed.
    Unconfirmed,
}

fn named_account(sender: &EmailAddress, account: &EmailAddress, x: &Extracted) -> Named {
    if sender == account {
        return Named::Sender;
    }
    let company = x.get(field::WEBSITE).and_then(|w| Domain::from_url(w).ok()).map(|d| d.registrable());
    let same = |a: &EmailAddress| Some(a.domain().registrable()) == company;
    if same(sender) && same(account) { Named::Colleague } else { Named::Unconfirmed }
}

async fn plan(
    app: &App,
    mail: &Mail,
    x: Extracted,
    report: Report,
    now: DateTime<Utc>,
) -> Result<(IntakeWrite, Report), PlanError> {
    let thread = thread_application(app, mail).await?;

    if let Some(why) = mail.auto_reply.clone().or_else(|| from_ourselves(app, mail)) {
        let mut p = Plan::new(app, mail, report, now);
        if let Some(a) = &thread {
            p.report.application_id = Some(a.id.to_string());
            p.report.state = Some(a.state.clone());
        }
        p.report.error = None;
        tracing::debug!(reason = %why, "auto-reply recorded, not answered");
        return Ok(p.finish(outcome::AUTO_REPLY));
    }
    if let Some(a) = thread {
        return update_application(app, mail, report, now, a, x).await;
    }
    if let Some(request) = thread_invoice_request(app, mail).await? {
        return invoice_reply(app, mail, report, now, request, &x).await;
    }
    // Answers go to the sender (of the forwarded message, for a forward), never to an address
    // the message only names.
    let Some(sender) = mail.from.as_deref().and_then(|f| EmailAddress::parse(f).ok()) else {
        return Ok(triage(app, mail, report, now, "no sender address to answer"));
    };
    let account = x.get(field::ACCOUNT_EMAIL).and_then(|a| EmailAddress::parse(a).ok()).unwrap_or(sender.clone());
    match classify::intent(&mail.subject, &mail.body, &x) {
        Intent::InvoiceRequest => invoice_request(app, mail, report, now, (&sender, &account), &x),
        Intent::LimitIncrease if account != sender => {
            // A change to someone else's line: a person checks who is asking.
            let mut p = Plan::new(app, mail, report, now);
            p.report.findings.push("account_email_mismatch".into());
            p.task(
                "triage",
                None,
                format!("Limit increase for {account} requested by {sender}"),
                json!({
                    "account_email": account.as_str(),
                    "from": mail.from,
                    "reason": "the request names an account other than its sender",
                    "subject": mail.subject,
                    "excerpt": excerpt(&mail.body),
                }),
            );
            Ok(p.finish(outcome::TRIAGE))
        }
        Intent::LimitIncrease => Ok(limit_increase(app, mail, report, now, &account, &x).await?),
        Intent::AwsLogin if account != sender => {
            // AWS login for someone else's account: a person checks who is asking.
            let mut p = Plan::new(app, mail, report, now);
            p.report.findings.push("account_email_mismatch".into());
            p.task(
                "triage",
                None,
                format!("AWS login for {account} requested by {sender}"),
                json!({
                    "account_email": account.as_str(),
                    "from": mail.from,
                    "reason": "the AWS login request names an account other than its sender",
                    "subject": mail.subject,
                    "excerpt": excerpt(&mail.body),
                }),
            );
            Ok(p.finish(outcome::TRIAGE))
        }
        Intent::AwsLogin => Ok(aws_login_request(app, mail, report, now, &account).await?),
        intent => {
            if let Some(open) = open_application(app, &account, mail.from.as_deref()).await? {
                return update_application(app, mail, report, now, open, x).await;
            }
            if intent == Intent::Unknown {
                return Ok(triage(app, mail, report, now, "not recognised as an application or request"));
            }
            // One line per account: an application from an account that has one (or owes on
            // a closed one) goes to that line's people, not into a second application.
            let standing = crate::services::standing::standing(app, account.as_str()).await?;
            if let (Some(line), Some(code), Some(why)) =
                (standing.line(), standing.code(), standing.refusal(account.as_str()))
            {
                let mut p = Plan::new(app, mail, report, now);
                p.report.findings.push(code.into());
                let details = json!({
                    "account_email": account.as_str(),
                    "credit_line": line,
                    "reason": why,
                    "from": mail.from,
                    "subject": mail.subject,
                    "excerpt": excerpt(&mail.body),
                });
                p.task("triage", Some(line), format!("Application from {account}: {why}"), details);
                return Ok(p.finish(outcome::TRIAGE));
            }
            if let Some(decided) = decided_application(app, &account).await? {
                return reapplication(app, mail, report, now, decided, x).await;
            }
            Ok(new_application(app, mail, report, now, (sender, account), x).await?)
        }
    }
}

/// The application a reply belongs to: by In-Reply-To/References, then by the reference
/// token ("CL-XXXXXXXX") our emails put in their subject.
async fn thread_application(app: &App, mail: &Mail) -> Result<Option<ApplicationRecord>, StoreError> {
    let ids: Vec<String> = mail.in_reply_to.iter().chain(mail.references.iter().rev()).cloned().collect();
    if let Some(id) = app.store.application_for_thread(&ids).await? {
        return app.store.application(id).await;
    }
    for word in mail.subject.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        if word.len() == 11
            && word.to_ascii_uppercase().starts_with("CL-")
            && let Some(a) = app.store.application_by_reference(&word.to_ascii_uppercase()).await?
        {
            return Ok(Some(a));
        }
    }
    Ok(None)
}

async fn open_application(
    app: &App,
    account: &EmailAddress,
    from: Option<&str>,
) -> Result<Option<ApplicationRecord>, StoreError> {
    let mut emails = vec![account.as_str().to_string()];
    if let Some(from) = from.and_then(|f| EmailAddress::parse(f).ok())
        && &from != account
    {
        emails.push(from.as_str().to_string());
    }
    for email in emails {
        for inst in app.store.instances_for_account(&email, APPLICATION).await? {
            // Any application not yet decided owns its account's new messages; one only
            // waiting for a guarantee is answered by a person (see `update`).
            if app.workflow.state(APPLICATION, &inst.state).is_some_and(|s| s.in_progress()) {
                return app.store.application(ApplicationId(inst.id.0)).await;
            }
        }
    }
    Ok(None)
}

/// When the application waits because a reviewer asked for information: the items asked for
/// that no message since brought, as far as the extraction can tell (an item it cannot read,
/// such as free text, counts as brought by any message that brings a field or a file).
/// `None` when the wait is not a reviewer's request.
async fn still_requested(
    app: &App,
    p: &Plan<'_>,
    record: &ApplicationRecord,
    x: &Extracted,
) -> Result<Option<Vec<String>>, StoreError> {
    let subject: SubjectId = record.id.into();
    let events = app.store.events(subject).await?;
    let entered = events.iter().rev().find(|e| {
        e.to_state == application::AWAITING_MATERIALS && e.from_state.as_deref() != Some(e.to_state.as_str())
    });
    let Some(asked) = entered.filter(|e| e.event == "request_info") else { return Ok(None) };
    let items: Vec<String> = app
        .store
        .outbox_for(subject)
        .await?
        .into_iter()
        .filter(|o| o.event_id == asked.id)
        .find_map(|o| o.payload.get("missing").and_then(|m| m.as_array()).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i.as_str().map(str::to_string))
        .collect();
    let mut brought: std::collections::BTreeSet<String> = x.fields.keys().cloned().collect();
    for f in app.store.application_fields(record.id).await? {
        if f.recorded_at >= asked.occurred_at {
            brought.insert(f.field);
        }
    }
    let files = !p.mail.attachments.is_empty();
    let billing = p.write.evidence.iter().any(|(_, e)| e.kind == "aws_billing");
    let anything = files || !x.fields.is_empty();
    let remaining = items
        .into_iter()
        .filter(|item| match extract::material_field(item) {
            Some(f) => !brought.contains(f),
            None if item.to_lowercase().contains("billing") => !billing,
            None => !anything,
        })
        .collect();
    Ok(Some(remaining))
}

/// Only the account itself, or a message in the application's own thread (a reply to what we
/// sent), may withdraw it: a stranger naming the reference may not.
fn may_withdraw(mail: &Mail, account: Option<&EmailAddress>) -> bool {
    let sender = mail.envelope_from.as_deref().and_then(|f| EmailAddress::parse(f).ok());
    (sender.is_some() && sender.as_ref() == account) || !mail.in_reply_to.is_empty()
}

/// A message about an application that is over (approved, withdrawn, closed to the prepaid
/// path or never confirmed): kept on it, and a person is told.
fn closed_reply(
    app: &App,
    mail: &Mail,
    report: Report,
    now: DateTime<Utc>,
    record: &ApplicationRecord,
    x: &Extracted,
) -> (IntakeWrite, Report) {
    let mut p = Plan::new(app, mail, report, now);
    p.report.application_id = Some(record.id.to_string());
    p.report.state = Some(record.state.clone());
    p.report.applicant_type = record.applicant_kind.clone();
    p.record_fields(record.id, x);
    p.report.findings.push("reply_to_closed_application".into());
    let details = json!({
        "application_id": record.id,
        "reference": record.reference,
        "state": record.state,
        "from": mail.from,
        "subject": mail.subject,
        "excerpt": excerpt(&mail.body),
    });
    let title = format!("Message from {} on {} application {}", record.account_email, record.state, record.reference);
    p.task("triage", Some(record.id.into()), title, details);
    p.finish(outcome::UPDATED)
}

async fn instance_of(app: &App, id: ApplicationId) -> Result<crate::store::Instance, StoreError> {
    let instance = app.store.instance(id.into()).await?;
    instance.ok_or_else(|| StoreError::NotFound(format!("workflow instance of application {id}")))
}

/// The account's latest declined or deferred application, if any.
async fn decided_application(app: &App, account: &EmailAddress) -> Result<Option<ApplicationRecord>, StoreError> {
    let decided = app
        .store
        .instances_for_account(account.as_str(), APPLICATION)
        .await?
        .into_iter()
        .filter(|i| app.workflow.is(APPLICATION, &i.state, |s| s.reopenable()))
        .max_by_key(|i| i.id.0);
    match decided {
        Some(i) => app.store.application(ApplicationId(i.id.0)).await,
        None => Ok(None),
    }
}

/// A declined or deferred applicant writes again: the `re_review` rule decides, as the
/// periodic scan would, whether the application goes back to review now; otherwise a person
/// sees the message on the existing application (never a second application beside it).
async fn reapplication(
    app: &App,
    mail: &Mail,
    report: Report,
    now: DateTime<Utc>,
    record: ApplicationRecord,
    x: Extracted,
) -> Result<(IntakeWrite, Report), PlanError> {
    let instance = instance_of(app, record.id).await?;
    let events = app.store.events(record.id.into()).await?;
    let entries = app.store.ledger_entries(&record.account_email).await?;
    let payments = crate::services::billing::standing(app, &record.account_email, now).await?;
    let input = crate::services::rereview::input(&instance.state, &events, &entries, &payments, now);
    let mut p = Plan::new(app, mail, report, now);
    p.report.application_id = Some(record.id.to_string());
    p.report.state = Some(instance.state.clone());
    p.report.applicant_type = record.applicant_kind.clone();
    p.record_fields(record.id, &x);
    let decision = p.evaluate("re_review", &input, Some(record.id.into())).await;
    let mut cursor = Cursor::from(&instance);
    if decision.outcome == "eligible" {
        let fire = Fire::new(cursor.subject, "re_review", ACTOR)
            .decision("re_review", &decision.outcome, last_decision_id(&p))
            .reason(&decision.reasons.join("; "));
        p.fire(&mut cursor, fire)?;
    } else {
        p.report.findings.push("reapplied_before_re_review".into());
        let details = json!({
            "application_id": record.id,
            "reference": record.reference,
            "state": instance.state,
            "re_review": { "outcome": decision.outcome, "reasons": decision.reasons },
            "from": mail.from,
            "subject": mail.subject,
            "excerpt": excerpt(&mail.body),
        });
        let title =
            format!("{} wrote again about {} application {}", record.account_email, instance.state, record.reference);
        p.task("triage", Some(record.id.into()), title, details);
    }
    Ok(p.finish(outcome::UPDATED))
}

fn details_of(x: &Extracted) -> serde_json::Value {
    serde_json::Value::Object(x.fields.iter().map(|(k, f)| (k.clone(), json!(f.value))).collect())
}

async fn new_application(
    app: &App,
    mail: &Mail,
    report: Report,
    now: DateTime<Utc>,
    (sender, account): (EmailAddress, EmailAddress),
    mut x: Extracted,
) -> Result<(IntakeWrite, Report), ServiceError> {
    let named = named_account(&sender, &account, &x);
    // The policy names email as a contact method: an application that names no other channel
    // is answered at the address it came from rather than asked for a contact.
    if let Some(from) = &mail.from {
        x.set(field::BUSINESS_CONTACT, format!("email {from}"), &format!("From: {from}"));
    }
    let input = NewApplicationInput {
        account_email: account.clone(),
        applicant_kind: None,
        requested_limit: x.cents(field::REQUESTED_LIMIT).map(Money::from_cents),
        details: details_of(&x),
    };
    let (mut instance, new_app, mut cursor) = app.workflow.plan_application(input, ACTOR)?;
    let id = ApplicationId(cursor.subject.0);
    let mut p = Plan::new(app, mail, report, now);
    p.report.application_id = Some(id.to_string());
    p.report.state = Some(cursor.state.clone());
    p.record_fields(id, &x);
    if named != Named::Sender {
        p.reply_to = Some(sender.to_string());
        p.report.findings.push("account_email_mismatch".into());
    }
    p.address(&mut instance.outbox);
    if named == Named::Unconfirmed {
        let fire = Fire::new(cursor.subject, "account_unconfirmed", ACTOR)
            .reason(&format!("the email from {sender} names the account {account}"))
            .data("account_email", account.as_str());
        p.fire(&mut cursor, fire)?;
        p.write.new_instances.push((instance, Some(new_app)));
        return Ok(p.finish(outcome::CREATED));
    }
    let kind = drive(&mut p, &mut cursor, &x, &new_app.account_email).await?;
    let mut new_app = new_app;
    new_app.applicant_kind = kind;
    p.write.new_instances.push((instance, Some(new_app)));
    Ok(p.finish(outcome::CREATED))
}

async fn update_application(
    app: &App,
    mail: &Mail,
    report: Report,
    now: DateTime<Utc>,
    record: ApplicationRecord,
    x: Extracted,
) -> Result<(IntakeWrite, Report), PlanError> {
    let earlier = stored_extraction(app, record.id).await?;
    let merged = x.clone().merged_over(&earlier);
    // Deferred only because no answer came in time: the reply is the answer, and the
    // application continues where it waited (what the deferral email promised).
    let resume = match record.state.as_str() {
        application::DEFERRED => resumes_after_time_out(&app.store.events(record.id.into()).await?),
        _ => None,
    };
    if resume.is_none() {
        // A declined or deferred applicant writing back: re_review decides now, or a person
        // sees the message (never stored with no one told).
        if app.workflow.is(APPLICATION, &record.state, |s| s.reopenable()) {
            return reapplication(app, mail, report, now, record, x).await;
        }
        if !app.workflow.is(APPLICATION, &record.state, |s| s.open) {
            return Ok(closed_reply(app, mail, report, now, &record, &x));
        }
    }
    let mut p = Plan::new(app, mail, report, now);
    p.report.application_id = Some(record.id.to_string());
    p.report.state = Some(record.state.clone());
    p.report.applicant_type = record.applicant_kind.clone();
    p.record_fields(record.id, &x);
    let instance = instance_of(app, record.id).await?;
    let mut cursor = Cursor::from(&instance);
    let account = EmailAddress::parse(&record.account_email).ok();
    let sender = mail.from.as_deref().and_then(|f| EmailAddress::parse(f).ok());
    if let (Some(s), Some(a)) = (&sender, &account)
        && s != a
    {
        p.reply_to = Some(s.to_string());
    }

    let mut outcome_name = outcome::UPDATED;
    if classify::withdraws(&mail.subject, &mail.body) && may_withdraw(mail, account.as_ref()) {
        let writer = mail.from.clone().unwrap_or_default();
        let fire = Fire::new(cursor.subject, "withdraw", ACTOR).reason(&format!("withdrawn by email from {writer}"));
        p.fire(&mut cursor, fire)?;
        p.report.findings.push("withdrawn_by_applicant".into());
        return Ok(p.finish(outcome::UPDATED));
    }
    if let Some(event) = resume {
        let writer = mail.from.clone().unwrap_or_default();
        let fire = Fire::new(cursor.subject, event, ACTOR).reason(&format!("reply from {writer} after the time-out"));
        p.fire(&mut cursor, fire)?;
        p.report.findings.push("resumed_after_time_out".into());
    }
    if cursor.state == application::AWAITING_ACCOUNT_CONFIRMATION {
        // Only the account's own address confirms it (the address this message came from,
        // not one a forward quotes).
        let writer = mail.envelope_from.as_deref().and_then(|f| EmailAddress::parse(f).ok());
        match account.as_ref().filter(|a| writer.as_ref() == Some(*a)) {
            Some(a) => {
                if let SenderCheck::Failed(detail) = p.authenticate(record.id, &a.domain()) {
                    authentication_task(&mut p, record.id, "Account confirmation", a, &detail);
                } else {
                    p.reply_to = None;
                    let fire =
                        Fire::new(cursor.subject, "account_confirmed", ACTOR).reason(&format!("confirmed by {a}"));
                    p.fire(&mut cursor, fire)?;
                }
            }
            None => p.report.findings.push("account_not_confirmed".into()),
        }
    }
    if cursor.state == application::AWAITING_DOMAIN_CONFIRMATION {
        let confirmed = match confirms_company_domain(&mut p, &record, &merged).await {
            Some(domain) => match p.authenticate(record.id, &domain) {
                SenderCheck::Failed(detail) => {
                    let writer = mail.envelope_from.clone().unwrap_or_default();
                    authentication_task(&mut p, record.id, "Domain confirmation", &writer, &detail);
                    false
                }
                _ => true,
            },
            None => {
                p.report.findings.push("confirmation_not_from_company_domain".into());
                false
            }
        };
        if confirmed {
            outcome_name = outcome::DOMAIN_CONFIRMED;
            p.write.fields.push((
                record.id,
                FieldWrite {
                    field: DOMAIN_CONFIRMED_FIELD.into(),
                    value: "true".into(),
                    message_id: mail.message_id.clone(),
                    excerpt: format!("reply from {}", mail.from.as_deref().unwrap_or_default()),
                },
            ));
            // The confirmed company domain is the company's identity from here on: verification
            // checks the address that confirmed, not the account's (which may be free mail).
            let confirmer = mail.envelope_from.clone().unwrap_or_default();
            p.write.fields.push((
                record.id,
                FieldWrite {
                    field: CONFIRMED_BY_FIELD.into(),
                    value: confirmer.clone(),
                    message_id: mail.message_id.clone(),
                    excerpt: format!("reply from {}", mail.from.as_deref().unwrap_or_default()),
                },
            ));
            let reason = format!("confirmed by {}", mail.from.as_deref().unwrap_or_default());
            let fire = Fire::new(cursor.subject, "domain_confirmed", ACTOR).reason(&reason);
            p.fire(&mut cursor, fire)?;
            verify(&mut p, &mut cursor, &merged, &record.account_email, &confirmer).await?;
        }
    }
    let mut kind = None;
    let mut asked_again = false;
    if cursor.state == application::AWAITING_MATERIALS
        && let Some(remaining) = still_requested(app, &p, &record, &x).await?
        && !remaining.is_empty()
    {
        // A reviewer asked for these and this reply does not bring them: the applicant gets
        // the list of what is still missing, and the application stays out of review.
        p.report.missing = remaining.clone();
        p.report.findings.push("requested_items_missing".into());
        let fire = Fire::new(cursor.subject, "materials_missing", ACTOR)
            .reason("the reply does not bring everything the reviewer asked for")
            .data("missing", &remaining);
        p.fire(&mut cursor, fire)?;
        asked_again = true;
    }
    if asked_again {
        // Recorded above; nothing else to decide until the items arrive.
    } else if outcome_name == outcome::UPDATED
        && [application::RECEIVED, application::AWAITING_MATERIALS].contains(&cursor.state.as_str())
    {
        // (A confirmation that led to a failed verification has been answered already: the
        // same message is not read again as materials, which would ask for the confirmation
        // it just gave.)
        kind = drive(&mut p, &mut cursor, &with_confirmation(merged.clone(), &earlier), &record.account_email).await?;
    } else if outcome_name == outcome::UPDATED {
        // Not waiting for materials: record them (the reviewer sees them) and report the checks.
        let earlier = app.store.evidence_for(record.id).await?;
        assess(&mut p, &merged, &record.account_email, Some(cursor.subject), &earlier).await;
    }
    let mut details = record.details.clone();
    if let (Some(obj), serde_json::Value::Object(new)) = (details.as_object_mut(), details_of(&x)) {
        obj.extend(new);
    }
    p.write.application_update = Some(ApplicationUpdate {
        id: record.id,
        applicant_kind: kind,
        requested_limit_cents: x.cents(field::REQUESTED_LIMIT),
        details,
    });
    Ok(p.finish(outcome_name))
}

/// The step that takes an application deferred by a time-out back to the wait it timed out
/// of (`None` when a reviewer, or a wait for a guarantee, deferred it: those are re-reviewed).
fn resumes_after_time_out(events: &[crate::store::EventRecord]) -> Option<&'static str> {
    let deferral = events.iter().rev().find(|e| e.to_state == application::DEFERRED)?;
    if deferral.event != "timed_out" {
        return None;
    }
    match deferral.from_state.as_deref() {
        Some(application::AWAITING_MATERIALS) => Some("materials_reply"),
        Some(application::AWAITING_DOMAIN_CONFIRMATION) => Some("confirmation_reply"),
        _ => None,
    }
}

fn with_confirmation(mut x: Extracted, earlier: &Extracted) -> Extracted {
    for key in [DOMAIN_CONFIRMED_FIELD, CONFIRMED_BY_FIELD] {
        if let Some(f) = earlier.fields.get(key) {
            x.fields.insert(key.into(), f.clone());
        }
    }
    x
}

/// The address verification checks: the one that confirmed the company domain once it has,
/// else the account's.
fn verified_contact<'x>(x: &'x Extracted, account: &'x str) -> &'x str {
    x.get(CONFIRMED_BY_FIELD).filter(|c| x.flag(DOMAIN_CONFIRMED_FIELD) && !c.is_empty()).unwrap_or(account)
}

async fn stored_extraction(app: &App, id: ApplicationId) -> Result<Extracted, StoreError> {
    let mut x = Extracted::default();
    // Oldest first: later rows overwrite, so the newest value of each field wins.
    for f in app.store.application_fields(id).await? {
        x.fields.insert(f.field, Found { value: f.value, excerpt: f.excerpt });
    }
    Ok(x)
}

/// A reviewer looks at a confirmation our mail server could not vouch for: the reply may
/// have been forged.
fn authentication_task(p: &mut Plan<'_>, id: ApplicationId, what: &str, writer: &dyn std::fmt::Display, detail: &str) {
    let details = json!({
        "application_id": id,
        "from": p.mail.envelope_from,
        "subject": p.mail.subject,
        "reason": "sender_authentication_failed",
        "authentication": detail,
        "authentication_results": p.mail.authentication_results,
        "excerpt": excerpt(&p.mail.body),
    });
    p.task("triage", Some(id.into()), format!("{what} from {writer} failed sender authentication"), details);
}

/// The registrable domain of the application's website, unless the website is a page on a
/// host of many owners (a deployment platform, a tool directory): a profile on
/// producthunt.com does not make producthunt.com the applicant's company domain.
fn website_domain(app: &App, x: &Extracted) -> Option<Domain> {
    let host = x.get(field::WEBSITE).and_then(|w| Domain::from_url(w).ok())?;
    (!app.rules.is_shared_host(&host)).then(|| host.registrable())
}

/// The company domain the applicant is asked to confirm from: the website's, else the
/// account address's when that is not free mail. `None` leaves the email to name the
/// account address's domain.
fn company_domain(app: &App, x: &Extracted, account: &str) -> Option<Domain> {
    website_domain(app, x).or_else(|| {
        let domain = EmailAddress::parse(account).ok()?.domain().registrable();
        (!app.rules.is_shared_host(&domain)).then_some(domain)
    })
}

/// The company domain a confirmation comes from: the registrable domain of the address
/// that sent it (not one a forward quotes), when that is the company's (the website's, or
/// the account address's) and not free mail.
async fn confirms_company_domain(p: &mut Plan<'_>, record: &ApplicationRecord, x: &Extracted) -> Option<Domain> {
    let from = EmailAddress::parse(p.mail.envelope_from.as_deref()?).ok()?;
    let sender = from.domain().registrable();
    let mut company: Vec<Domain> = website_domain(p.app, x).into_iter().collect();
    if let Ok(a) = EmailAddress::parse(&record.account_email) {
        company.push(a.domain().registrable());
    }
    let input = BusinessVerificationInput {
        applicant_type: "enterprise".into(),
        contact_email: from.to_string(),
        website: x.get(field::WEBSITE).unwrap_or_default().to_string(),
        ..Default::default()
    };
    let d = p.evaluate("business_verification", &input, Some(record.id.into())).await;
    let free_mail = d.findings.iter().any(|f| f == "free_mail_domain");
    (!free_mail && company.contains(&sender)).then_some(sender)
}

fn applicant_input(x: &Extracted, account: &str) -> ApplicantTypeInput {
    let s = |k: &str| x.get(k).unwrap_or_default().to_string();
    ApplicantTypeInput {
        declared_type: s(field::APPLICANT_TYPE),
        account_email: account.to_string(),
        legal_company_name: s(field::LEGAL_COMPANY_NAME),
        registration_country: s(field::REGISTRATION_COUNTRY),
        website: s(field::WEBSITE),
        product: s(field::PRODUCT),
        use_case: s(field::USE_CASE),
        app_link: s(field::APP_LINK),
        other_links: x.list(field::OTHER_LINKS),
        aws_account: s(field::AWS_ACCOUNT),
        aws_login: x.flag(field::AWS_LOGIN),
        expected_monthly_spend_cents: x.cents(field::EXPECTED_MONTHLY_SPEND).unwrap_or(0),
        requested_limit_cents: x.cents(field::REQUESTED_LIMIT).unwrap_or(0),
        business_contact: s(field::BUSINESS_CONTACT),
        domain_confirmed: x.flag(DOMAIN_CONFIRMED_FIELD),
        states_no_product: x.flag(field::STATES_NO_PRODUCT),
        main_business_activity: s(field::MAIN_BUSINESS_ACTIVITY),
        aws_billing_records: x.flag(field::AWS_BILLING_RECORDS),
    }
}

/// `earlier`: the evidence stored with the application from earlier messages (billing CSVs
/// sent before this one still count).
fn aws_input(p: &Plan<'_>, x: &Extracted, earlier: &[EvidenceWrite]) -> AwsHistoryInput {
    let account = x.get(field::AWS_ACCOUNT).unwrap_or_default().to_lowercase();
    let has_account = !account.is_empty() && !["no", "none", "n/a", "-"].contains(&account.trim());
    let age = x.get(field::AWS_ACCOUNT_AGE_MONTHS).and_then(|v| v.parse().ok()).unwrap_or(-1);
    let months: Vec<i64> = earlier
        .iter()
        .chain(p.write.evidence.iter().map(|(_, e)| e))
        .filter(|e| e.kind == "aws_billing")
        .flat_map(|e| e.data["months"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["amount_cents"].as_i64())
        .collect();
    let stated = x.cents(field::AWS_MONTHLY_SPEND_CENTS);
    // A stated regular monthly spend is read as usage in every month of the account's age.
    let months_with_usage = if !months.is_empty() {
        months.iter().filter(|c| **c > 0).count() as i64
    } else if stated.is_some() && age >= 0 {
        age.min(12)
    } else {
        0
    };
    let recent = if months.is_empty() {
        stated.into_iter().collect()
    } else {
        months[months.len().saturating_sub(3)..].to_vec()
    };
    AwsHistoryInput {
        has_account,
        aws_login: x.flag(field::AWS_LOGIN),
        account_age_months: age,
        standing: x.get(field::AWS_STANDING).unwrap_or_default().to_string(),
        months_with_usage,
        recent_monthly_billing_cents: recent,
    }
}

/// Runs the checks for the report (and the reviewer): applicant type, business
/// verification, and AWS history when the message says anything about AWS.
async fn assess(
    p: &mut Plan<'_>,
    x: &Extracted,
    account: &str,
    subject: Option<SubjectId>,
    earlier: &[EvidenceWrite],
) -> (Decision, DecisionId) {
    let applicant = p.evaluate("applicant_type", &applicant_input(x, account), subject).await;
    let applicant_id = last_decision_id(p);
    let kind = match ApplicantType::try_from(&applicant) {
        Ok(ApplicantType::Known { kind, .. }) => kind.as_str().to_string(),
        _ => applicant.outcome.clone(),
    };
    p.report.applicant_type = Some(kind.clone());
    p.report.missing = applicant.missing.clone();
    let verification = BusinessVerificationInput {
        applicant_type: kind,
        contact_email: p.mail.from.clone().unwrap_or_else(|| account.to_string()),
        website: x.get(field::WEBSITE).unwrap_or_default().to_string(),
        app_link: x.get(field::APP_LINK).unwrap_or_default().to_string(),
        other_links: x.list(field::OTHER_LINKS),
        account_email: account.to_string(),
        // The website check runs after intake; its job decides again with the evidence.
        website_evidence: None,
    };
    let business = p.evaluate("business_verification", &verification, subject).await;
    p.report.findings.extend(business.findings.iter().cloned());
    if x.get(field::AWS_ACCOUNT).is_some() || x.get(field::AWS_ACCOUNT_AGE_MONTHS).is_some() {
        let input = aws_input(p, x, earlier);
        let aws = p.evaluate("aws_history", &input, subject).await;
        p.report.findings.extend(aws.findings.iter().cloned());
    }
    (applicant, applicant_id)
}

/// From `received` or `awaiting_materials`: classify, ask for what is missing, or move on
/// to confirmation and verification. Returns the applicant kind to record.
async fn drive(
    p: &mut Plan<'_>,
    cursor: &mut Cursor,
    x: &Extracted,
    account: &str,
) -> Result<Option<String>, ServiceError> {
    // Evidence from the application's earlier messages (a billing CSV sent before this one).
    let earlier = p.app.store.evidence_for(ApplicationId(cursor.subject.0)).await?;
    let (applicant, applicant_id) = assess(p, x, account, Some(cursor.subject), &earlier).await;
    let decided = |f: Fire| f.decision("applicant_type", &applicant.outcome, applicant_id);
    let typed = ApplicantType::try_from(&applicant).unwrap_or(ApplicantType::ManualReview);
    let subject = cursor.subject;
    match typed {
        ApplicantType::Known { kind, .. } if !kind.may_get_credit_line() => {
            let fire = decided(Fire::new(subject, "classified", ACTOR).reason("no_product_prepaid_available"));
            p.fire(cursor, fire)?;
            Ok(Some(kind.as_str().to_string()))
        }
        ApplicantType::Known { kind, missing } => {
            let outstanding: Vec<&String> = missing.iter().filter(|m| *m != CONFIRMATION).collect();
            if !outstanding.is_empty() {
                let fire = Fire::new(subject, "materials_missing", ACTOR).data("missing", &outstanding);
                p.fire(cursor, fire)?;
                return Ok(Some(kind.as_str().to_string()));
            }
            // The confirmation must come from the company's domain: its website's, which the
            // email names (never the applicant's free-mail domain). Once the domain confirmed
            // it, a later round of materials does not ask again (found by the simulation: the
            // applicant got a second confirmation request after answering a materials request).
            let confirmed = kind.as_str() == "enterprise" && x.flag(DOMAIN_CONFIRMED_FIELD);
            let event = if confirmed { "materials_complete_confirmed" } else { "materials_complete" };
            let mut complete = decided(Fire::new(subject, event, ACTOR));
            if let Some(domain) = company_domain(p.app, x, account) {
                complete = complete.data("company_domain", domain.as_str());
            }
            p.fire(cursor, complete)?;
            if cursor.state == application::AWAITING_DOMAIN_CONFIRMATION && x.flag(DOMAIN_CONFIRMED_FIELD) {
                p.fire(cursor, Fire::new(subject, "domain_confirmed", ACTOR).reason("confirmed earlier"))?;
            }
            if cursor.state == application::BUSINESS_VERIFICATION {
                verify(p, cursor, x, account, verified_contact(x, account)).await?;
            }
            Ok(Some(kind.as_str().to_string()))
        }
        ApplicantType::Unknown { missing } => {
            p.fire(cursor, Fire::new(subject, "materials_missing", ACTOR).data("missing", &missing))?;
            Ok(None)
        }
        ApplicantType::ManualReview => {
            p.fire(cursor, decided(Fire::new(subject, "materials_complete", ACTOR)))?;
            Ok(None)
        }
    }
}

/// What a materials request asks for besides its reason, as `applicant_type` does: the main
/// business activity of an enterprise, and recent AWS billing records of an applicant who
/// applies through AWS login (policy: "when applicable").
fn asked_along(kind: &str, x: &Extracted) -> Vec<String> {
    let mut items = Vec::new();
    if kind == "enterprise" && x.get(field::MAIN_BUSINESS_ACTIVITY).is_none() {
        items.push(field::MAIN_BUSINESS_ACTIVITY.to_string());
    }
    if x.flag(field::AWS_LOGIN) && !x.flag(field::AWS_BILLING_RECORDS) {
        items.push(field::AWS_BILLING_RECORDS.to_string());
    }
    items
}

/// The id of the decision just recorded, to cite in the step that used it.
fn last_decision_id(p: &Plan<'_>) -> DecisionId {
    p.write.decisions.last().map(|d| d.id).unwrap_or_default()
}

/// `business_verification` then `aws_history`, each firing its workflow step; ends in
/// `pending_review` (with the initial-limit suggestion recorded) or back in
/// `awaiting_materials` when verification failed. `contact` is the address verified: the
/// one that confirmed the company domain, for an enterprise (policy: "Enterprise applicants
/// should contact WaveSpeedAI from an email address associated with the company domain").
async fn verify(
    p: &mut Plan<'_>,
    cursor: &mut Cursor,
    x: &Extracted,
    account: &str,
    contact: &str,
) -> Result<(), ServiceError> {
    let subject = cursor.subject;
    let kind = p.report.applicant_type.clone().unwrap_or_default();
    let input = BusinessVerificationInput {
        applicant_type: kind.clone(),
        contact_email: contact.to_string(),
        website: x.get(field::WEBSITE).unwrap_or_default().to_string(),
        app_link: x.get(field::APP_LINK).unwrap_or_default().to_string(),
        other_links: x.list(field::OTHER_LINKS),
        account_email: account.to_string(),
        // The website check runs after intake; its job decides again with the evidence.
        website_evidence: None,
    };
    let business = p.evaluate("business_verification", &input, Some(subject)).await;
    p.report.findings.extend(business.findings.iter().cloned());
    let id = last_decision_id(p);
    // When the website does not verify, the email says why and what would do instead.
    let website: Vec<String> =
        business.findings.iter().filter(|f| WEBSITE_FINDINGS.contains(&f.as_str())).cloned().collect();
    let mut missing = if website.is_empty() { vec![field::WEBSITE.to_string()] } else { website };
    missing.extend(asked_along(&kind, x));
    let fire = Fire::new(subject, "verified", ACTOR)
        .decision("business_verification", &business.outcome, id)
        .data("findings", &business.findings)
        .data("missing", &missing);
    p.fire(cursor, fire)?;
    if cursor.state != application::AWS_HISTORY_CHECK {
        return Ok(());
    }
    let earlier = p.app.store.evidence_for(ApplicationId(subject.0)).await?;
    let aws_in = aws_input(p, x, &earlier);
    let aws = p.evaluate("aws_history", &aws_in, Some(subject)).await;
    p.report.findings.extend(aws.findings.iter().cloned());
    let id = last_decision_id(p);
    p.fire(cursor, Fire::new(subject, "aws_checked", ACTOR).decision("aws_history", &aws.outcome, id))?;
    let limit = InitialLimitInput {
        applicant_type: kind,
        requested_limit_cents: x.cents(field::REQUESTED_LIMIT).unwrap_or(0),
        expected_monthly_spend_cents: x.cents(field::EXPECTED_MONTHLY_SPEND).unwrap_or(0),
        business_verification: business.outcome.clone(),
        aws_history: Check::aws_history(&aws).map(|_| aws.outcome.clone()).unwrap_or_default(),
    };
    p.evaluate("initial_limit", &limit, Some(subject)).await;
    Ok(())
}

async fn limit_increase(
    app: &App,
    mail: &Mail,
    report: Report,
    now: DateTime<Utc>,
    account: &EmailAddress,
    x: &Extracted,
) -> Result<(IntakeWrite, Report), PlanError> {
    let mut p = Plan::new(app, mail, report, now);
    let requested = x.cents(field::REQUESTED_LIMIT);
    let lines = app.store.instances_for_account(account.as_str(), credit_line::WORKFLOW).await?;
    let line = lines.into_iter().find(|l| l.state != credit_line::CLOSED);
    let details = json!({
        "account_email": account.as_str(),
        "requested_limit_cents": requested,
        "from": mail.from,
        "subject": mail.subject,
        "excerpt": excerpt(&mail.body),
    });
    let line = match line {
        Some(l) => app.store.credit_line(l.id).await?,
        None => None,
    };
    let Some(line) = line else {
        p.report.findings.push("no_credit_line_for_account".into());
        p.task("triage", None, format!("Limit increase request from {account}, who has no credit line"), details);
        return Ok(p.finish(outcome::LIMIT_INCREASE));
    };
    if let Some(open) = crate::services::billing::escalation::open_increase_of(app, line.id).await? {
        // One increase at a time: the request joins the open one for its reviewer.
        p.report.findings.push("limit_increase_already_open".into());
        p.report.state = Some("open".into());
        let mut details = details;
        details["limit_increase"] = json!(open.id);
        details["credit_line"] = json!(line.id);
        let title = format!("Limit increase request from {account} while increase {} is open", open.id);
        p.task("triage", Some(open.id), title, details);
        return Ok(p.finish(outcome::LIMIT_INCREASE));
    }
    // The same rule as the cycle's proposals, with what was asked: a supported request goes to
    // a reviewer (or waits for its deposit), one the history does not support yet is declined
    // with the rule's reasons. Never granted here.
    let input = crate::services::billing::escalation::line_input(app, &line, requested.unwrap_or(0)).await?;
    let (decision, record) = app.rules.evaluate_async("limit_increase", &input, Some(line.id)).await;
    let write = crate::services::billing::escalation::open_increase(
        app,
        &line,
        &decision,
        record,
        Some((requested.unwrap_or(0), details)),
    )?;
    p.report.findings.push(format!("limit_increase_{}", decision.outcome));
    p.report.state = write.transitions.last().map(|t| t.to_state.clone());
    p.write.new_instances.extend(write.new_instance.map(|i| (i, None)));
    p.write.increases.extend(write.increase);
    p.write.transitions.extend(write.transitions);
    p.write.decisions.extend(write.decisions);
    Ok(p.finish(outcome::LIMIT_INCREASE))
}

// --- AWS login (policy: "Users apply for AWS login first") ------------------------------------

/// [`plan`], then the AWS login of an application that applies through it.
async fn plan_with_aws_login(
    app: &App,
    mail: &Mail,
    x: &Extracted,
    report: Report,
    now: DateTime<Utc>,
) -> Result<(IntakeWrite, Report), PlanError> {
    let planned = plan(app, mail, x.clone(), report, now).await?;
    link_aws_login(app, mail, planned, x).await
}

/// An email asking for AWS login: starts the account's `aws_login` review (the reviewer's
/// `aws_login_review` task, the `aws_login_received` acknowledgement), or, when the account
/// has one open or approved already, joins it (one per account).
async fn aws_login_request(
    app: &App,
    mail: &Mail,
    report: Report,
    now: DateTime<Utc>,
    account: &EmailAddress,
) -> Result<(IntakeWrite, Report), PlanError> {
    let mut p = Plan::new(app, mail, report, now);
    match crate::services::aws_login::of_account(app.store.as_ref(), account.as_str()).await? {
        Some(open) if open.state != aws_login::DECLINED => {
            // Nothing new to review: the message is kept with the finding, the open review
            // (or the approval) stands.
            let finding =
                if open.state == aws_login::APPROVED { "aws_login_already_approved" } else { "aws_login_already_open" };
            p.report.findings.push(finding.into());
            p.report.state = Some(open.state);
        }
        _ => {
            let state = start_aws_login(&mut p, account)?;
            p.report.state = Some(state);
        }
    }
    Ok(p.finish(outcome::AWS_LOGIN))
}

/// Opens an `aws_login` instance for `account` and fires `start_review`, in this message's
/// write. Returns the state it is left in.
fn start_aws_login(p: &mut Plan<'_>, account: &EmailAddress) -> Result<String, ServiceError> {
    let id = SubjectId::new();
    let (mut instance, mut cursor) =
        p.app.workflow.plan_start(crate::services::aws_login::WORKFLOW, id, Some(account.as_str()), ACTOR)?;
    p.address(&mut instance.outbox);
    p.write.new_instances.push((instance, None));
    // The reviewer's task carries the request (its details are the step's data).
    let fire = Fire::new(id, "start_review", ACTOR)
        .reason("requested by email")
        .data("from", &p.mail.from)
        .data("message_id", &p.mail.message_id)
        .data("excerpt", excerpt(&p.mail.body));
    let (mut write, _) = p.app.workflow.plan(&mut cursor, &fire)?;
    p.address(&mut write.outbox);
    p.write.transitions.push(write);
    Ok(cursor.state)
}

/// An application that applies through AWS login is linked to the account's AWS login: the
/// link is kept as `aws_login` evidence (its id and state then) with a finding
/// (`aws_login_pending`, `_approved`, `_declined`), and the reviewer sees the state read live
/// (`services::aws_login`). When the account has none open or approved, one is started from
/// this email, if it comes from the account itself (never for an address it only names).
async fn link_aws_login(
    app: &App,
    mail: &Mail,
    planned: (IntakeWrite, Report),
    x: &Extracted,
) -> Result<(IntakeWrite, Report), PlanError> {
    use crate::services::aws_login as logins;
    let (write, report) = planned;
    if !x.flag(field::AWS_LOGIN) || ![outcome::CREATED, outcome::UPDATED].contains(&write.outcome.as_str()) {
        return Ok((write, report));
    }
    let Some(id) = write.application_id else { return Ok((write, report)) };
    let store = app.store.as_ref();
    let account = match write.new_instances.iter().find_map(|(_, a)| a.as_ref()) {
        Some(a) => a.account_email.clone(),
        None => match store.application(id).await? {
            Some(a) => a.account_email,
            None => return Ok((write, report)),
        },
    };
    if store.evidence_for(id).await?.iter().any(|e| e.kind == logins::LINK_EVIDENCE) {
        return Ok((write, report));
    }
    let outcome_name = write.outcome.clone();
    let mut p = Plan { app, mail, write, report, reply_to: None };
    let existing = logins::of_account(store, &account).await?;
    let from_account =
        mail.from.as_deref().and_then(|f| EmailAddress::parse(f).ok()).is_some_and(|f| f.as_str() == account);
    let (login, state, started) = match existing {
        Some(i) if i.state != aws_login::DECLINED => (Some(i.id), i.state, false),
        _ if from_account => {
            let account = EmailAddress::parse(&account).map_err(|e| StoreError::Corrupt(format!("{account}: {e}")))?;
            let state = start_aws_login(&mut p, &account)?;
            let started = p.write.new_instances.last().map(|(i, _)| i.id);
            (started, state, true)
        }
        Some(i) => (Some(i.id), i.state, false),
        None => (None, "none".to_string(), false),
    };
    let finding = match state.as_str() {
        aws_login::APPROVED => "aws_login_approved",
        aws_login::DECLINED => "aws_login_declined",
        "none" => "aws_login_not_requested",
        _ => "aws_login_pending",
    };
    p.report.findings.push(finding.into());
    if let Some(login) = login {
        p.write.evidence.push((
            id,
            EvidenceWrite {
                kind: logins::LINK_EVIDENCE.into(),
                data: json!({ "aws_login_id": login, "state": state, "started_by_this_message": started }),
                message_id: mail.message_id.clone(),
            },
        ));
    }
    Ok(p.finish(&outcome_name))
}

// ---- invoice requests -------------------------------------------------------------------------

/// Invoice request references read `IR-XXXXXXXX`.
const INVOICE_REFERENCE_PREFIX: &str = "IR-";

/// What a message says about the invoice it asks for.
fn invoice_details(mail: &Mail, x: &Extracted) -> crate::domain::invoice::RequestDetails {
    // "Company: ACME Robotics GmbH, Hauptstrasse 5, 10115 Berlin" names both, unless the
    // address has its own line.
    let (company, address) = match x.get(field::LEGAL_COMPANY_NAME) {
        Some(c) => {
            let (name, address) = crate::domain::invoice::split_company(c);
            (Some(name), address)
        }
        None => (None, None),
    };
    crate::domain::invoice::RequestDetails {
        billing_period: x.get(field::BILLING_PERIOD).map(str::to_string),
        transaction_ids: x.list(field::TRANSACTION_IDS),
        company,
        billing_address: x.get(field::BILLING_ADDRESS).map(str::to_string).or(address),
        tax_id: x.get(field::TAX_ID).map(str::to_string),
        messages: vec![mail.message_id.clone()],
    }
}

/// A new invoice request (policy: "Email support ... include your account email, specify the
/// billing period or transaction IDs, provide any required business information"): kept, and
/// acknowledged to its sender (`invoice_request_received`); then either the email listing
/// what is missing (`invoice_details_requested`) or, complete, a reviewer task. The invoice
/// itself goes to the account's own address when a reviewer sends it.
fn invoice_request(
    app: &App,
    mail: &Mail,
    report: Report,
    now: DateTime<Utc>,
    (sender, account): (&EmailAddress, &EmailAddress),
    x: &Extracted,
) -> Result<(IntakeWrite, Report), PlanError> {
    let mut p = Plan::new(app, mail, report, now);
    if sender != account {
        p.reply_to = Some(sender.as_str().to_string());
    }
    let id = SubjectId::new();
    let reference =
        crate::services::workflow::reference_for(ApplicationId(id.0)).replacen("CL-", INVOICE_REFERENCE_PREFIX, 1);
    let (mut instance, mut cursor) =
        app.workflow.plan_start(invoice_request::WORKFLOW, id, Some(account.as_str()), ACTOR)?;
    p.address(&mut instance.outbox);
    for row in &mut instance.outbox {
        row.payload["reference"] = json!(reference);
        row.payload["account_email"] = json!(account.as_str());
    }
    p.write.new_instances.push((instance, None));
    let details = invoice_details(mail, x);
    invoice_step(&mut p, &mut cursor, &reference, account.as_str(), &details)?;
    p.write.invoice_requests.push(crate::store::InvoiceRequestWrite {
        id,
        reference,
        account_email: account.as_str().to_string(),
        requester: sender.as_str().to_string(),
        details: json!(details),
        at: now,
    });
    Ok(p.finish(outcome::INVOICE))
}

/// The step a request's details call for: ask for exactly what is missing, or hand the
/// complete request to a reviewer.
fn invoice_step(
    p: &mut Plan<'_>,
    cursor: &mut Cursor,
    reference: &str,
    account: &str,
    details: &crate::domain::invoice::RequestDetails,
) -> Result<(), ServiceError> {
    let missing = details.missing();
    p.report.missing = missing.iter().map(|m| m.to_string()).collect();
    let base = |event: &str| {
        Fire::new(cursor.subject, event, ACTOR).data("reference", reference).data("account_email", account)
    };
    let fire = if missing.is_empty() {
        base("details_complete").data("details", details).data("scope", details.scope().map(|s| s.label()))
    } else {
        base("details_missing").data("missing", &missing)
    };
    p.fire(cursor, fire)
}

/// The invoice request a reply belongs to: one of our emails about it (its Message-ID,
/// `<outbox.ID@…>`, names the outbox row and so the request) in In-Reply-To/References, or its
/// `IR-XXXXXXXX` reference in the subject.
async fn thread_invoice_request(
    app: &App,
    mail: &Mail,
) -> Result<Option<crate::store::InvoiceRequestRecord>, StoreError> {
    for id in mail.in_reply_to.iter().chain(mail.references.iter().rev()) {
        let id = id.trim().trim_matches(['<', '>']);
        let Some((local, _)) = id.strip_prefix("outbox.").and_then(|rest| rest.split_once('@')) else { continue };
        let Ok(outbox) = local.parse::<crate::domain::OutboxId>() else { continue };
        if let Some(row) = app.store.outbox_row(outbox).await?
            && let Some(request) = app.store.invoice_request(row.instance_id).await?
        {
            return Ok(Some(request));
        }
    }
    for word in mail.subject.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        if word.len() == 11
            && word.to_ascii_uppercase().starts_with(INVOICE_REFERENCE_PREFIX)
            && let Some(r) = app.store.invoice_request_by_reference(&word.to_ascii_uppercase()).await?
        {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// A reply in an invoice request's thread adds its details; one the request waits for
/// completes it (or is asked again for what is still missing), instead of opening a new
/// request. A reply once the request is with a reviewer or finished goes to a person.
async fn invoice_reply(
    app: &App,
    mail: &Mail,
    report: Report,
    now: DateTime<Utc>,
    request: crate::store::InvoiceRequestRecord,
    x: &Extracted,
) -> Result<(IntakeWrite, Report), PlanError> {
    let mut p = Plan::new(app, mail, report, now);
    if request.requester != request.account_email {
        p.reply_to = Some(request.requester.clone());
    }
    let mut details: crate::domain::invoice::RequestDetails =
        serde_json::from_value(request.details.clone()).unwrap_or_default();
    details.merge(invoice_details(mail, x));
    p.report.state = Some(request.state.clone());
    if [invoice_request::RECEIVED, invoice_request::AWAITING_DETAILS].contains(&request.state.as_str()) {
        let instance = app
            .store
            .instance(request.id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("invoice request {}", request.id)))?;
        let mut cursor = Cursor::from(&instance);
        invoice_step(&mut p, &mut cursor, &request.reference, &request.account_email, &details)?;
    } else {
        p.report.findings.push("reply_to_invoice_request".into());
        let details = json!({
            "invoice_request": request.id,
            "reference": request.reference,
            "state": request.state,
            "from": mail.from,
            "subject": mail.subject,
            "excerpt": excerpt(&mail.body),
        });
        let title = format!("Reply to invoice request {} ({})", request.reference, request.state);
        p.task("triage", Some(request.id), title, details);
    }
    p.write.invoice_requests.push(crate::store::InvoiceRequestWrite {
        id: request.id,
        reference: request.reference,
        account_email: request.account_email,
        requester: request.requester,
        details: json!(details),
        at: now,
    });
    Ok(p.finish(outcome::INVOICE))
}

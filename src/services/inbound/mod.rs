//! Support-inbox intake: a raw message becomes a new or updated application, a domain
//! confirmation, an invoice or limit-increase request, an ignored auto-reply, or a triage
//! task; never nothing. The raw bytes are kept before parsing; everything a message changes
//! (workflow steps, decisions, extracted fields with provenance, evidence, tasks, outbox)
//! commits in one transaction with the message's outcome, so a rerun never doubles it.
//!
//! Reading a message (parse, clean, extract, classify) is `crate::intake`, pure; this tree
//! reads the store and asks the rules and the workflow engine what the message does:
//! `routing` picks the flow, `applications`, `assessment`, `increases`, `aws_login_requests`
//! and `invoice_requests` plan it into one `plan::Plan`; `batch` ingests many messages with
//! one commit per batch.

mod applications;
mod assessment;
mod aws_login_requests;
mod batch;
mod increases;
mod invoice_requests;
mod plan;
pub mod report;
mod routing;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::app::App;
use crate::intake::extract::Extracted;
use crate::intake::mail::{self, Mail};
use crate::intake::{Parsed, parse};
use crate::store::{IntakeWrite, Kept, RawMessage, StoreError};
use crate::workflow::names::application;
pub use batch::ingest_many;
pub use plan::rules_inline;
use plan::{PlanError, triage};
pub use report::{Report, outcome};

/// The actor of the steps and decisions intake records. Events keep it, so it stays "intake"
/// whatever the module is called.
const ACTOR: &str = "intake";
const APPLICATION: &str = application::WORKFLOW;

/// What is kept of a message before anything else, and the report it starts with.
fn prepare(app: &App, source: &str, raw: &[u8]) -> (RawMessage, Report) {
    let sha256 = mail::sha256_hex(raw);
    let now = app.workflow.clock().now();
    let too_large = raw.len() > mail::MAX_MESSAGE_BYTES;
    let message_id = if too_large { None } else { mail::header_message_id(raw) }
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
    let parsed = parse(raw, kept.received_at, app.rules.current().material_hosts());
    let planned = plan_parsed(app, &kept.sha256, &parsed, &blank, kept.received_at).await?;
    commit_one(app, &kept, &parsed, &blank, planned).await
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

/// [`routing::route`], then the AWS login of an application that applies through it.
async fn plan_with_aws_login(
    app: &App,
    mail: &Mail,
    x: &Extracted,
    report: Report,
    now: DateTime<Utc>,
) -> Result<(IntakeWrite, Report), PlanError> {
    let planned = routing::route(app, mail, x.clone(), report, now).await?;
    aws_login_requests::link_aws_login(app, mail, planned, x).await
}

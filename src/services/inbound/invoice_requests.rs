//! Invoice requests by email (see "Invoices" in the README): a new request, and a reply in a
//! request's thread, which adds its details.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::ACTOR;
use super::plan::{Plan, PlanError};
use super::report::{Report, outcome};
use crate::app::App;
use crate::domain::{ApplicationId, EmailAddress, SubjectId};
use crate::intake::extract::{Extracted, field};
use crate::intake::mail::Mail;
use crate::intake::text::excerpt;
use crate::services::{Cursor, Fire, ServiceError};
use crate::store::{IntakeWrite, StoreError};
use crate::workflow::names::invoice_request;

/// Invoice request references read `IR-XXXXXXXX`.
pub(super) const INVOICE_REFERENCE_PREFIX: &str = "IR-";

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
pub(super) fn invoice_request(
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
    p.address(instance.effect_payloads_mut());
    for payload in instance.effect_payloads_mut() {
        payload["reference"] = json!(reference);
        payload["account_email"] = json!(account.as_str());
    }
    p.write.workflow.opened.push(instance);
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
pub(super) async fn thread_invoice_request(
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
pub(super) async fn invoice_reply(
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

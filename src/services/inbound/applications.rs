//! Applications by email: a new one, a message on an open one (materials, confirmations, a
//! withdrawal, a reply after a time-out), a declined or deferred applicant writing again
//! (`re_review`), and a message on one that is over.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::assessment::{
    CONFIRMED_BY_FIELD, DOMAIN_CONFIRMED_FIELD, assess, drive, verify, website_domain, with_confirmation,
};
use super::plan::{Plan, PlanError, SenderCheck, last_decision_id};
use super::report::{Report, outcome};
use super::{ACTOR, APPLICATION};
use crate::app::App;
use crate::domain::{ApplicationId, Domain, EmailAddress, Money, SubjectId};
use crate::intake::classify;
use crate::intake::extract::{self, Extracted, Found, field};
use crate::intake::mail::Mail;
use crate::intake::text::excerpt;
use crate::rules::inputs::BusinessVerificationInput;
use crate::services::{Cursor, Fire, NewApplicationInput, ServiceError};
use crate::store::{ApplicationRecord, ApplicationUpdate, FieldWrite, IntakeWrite, StoreError};
use crate::workflow::names::application;

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

/// A first application from an account: opened, then driven as far as its materials allow
/// (or held until a named account confirms from its own address).
pub(super) async fn new_application(
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
    let (mut instance, mut cursor) = app.workflow.plan_application(input, ACTOR)?;
    let id = ApplicationId(cursor.subject.0);
    let mut p = Plan::new(app, mail, report, now);
    p.report.application_id = Some(id.to_string());
    p.report.state = Some(cursor.state.clone());
    p.record_fields(id, &x);
    if named != Named::Sender {
        p.reply_to = Some(sender.to_string());
        p.report.findings.push("account_email_mismatch".into());
    }
    p.address(instance.effect_payloads_mut());
    if named == Named::Unconfirmed {
        let fire = Fire::new(cursor.subject, "account_unconfirmed", ACTOR)
            .reason(&format!("the email from {sender} names the account {account}"))
            .data("account_email", account.as_str());
        p.fire(&mut cursor, fire)?;
        p.write.workflow.opened.push(instance);
        return Ok(p.finish(outcome::CREATED));
    }
    let kind = drive(&mut p, &mut cursor, &x, account.as_str()).await?;
    if let Some(new_app) = &mut instance.application {
        new_app.applicant_kind = kind;
    }
    p.write.workflow.opened.push(instance);
    Ok(p.finish(outcome::CREATED))
}

/// A message on an application it was routed to (its thread, or the account's open one).
pub(super) async fn update_application(
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

/// A declined or deferred applicant writes again: the `re_review` rule decides, as the
/// periodic scan would, whether the application goes back to review now; otherwise a person
/// sees the message on the existing application (never a second application beside it).
pub(super) async fn reapplication(
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

async fn instance_of(app: &App, id: ApplicationId) -> Result<crate::store::Instance, StoreError> {
    let instance = app.store.instance(id.into()).await?;
    instance.ok_or_else(|| StoreError::NotFound(format!("workflow instance of application {id}")))
}

async fn stored_extraction(app: &App, id: ApplicationId) -> Result<Extracted, StoreError> {
    let mut x = Extracted::default();
    // Oldest first: later rows overwrite, so the newest value of each field wins.
    for f in app.store.application_fields(id).await? {
        x.fields.insert(f.field, Found { value: f.value, excerpt: f.excerpt });
    }
    Ok(x)
}

fn details_of(x: &Extracted) -> serde_json::Value {
    serde_json::Value::Object(x.fields.iter().map(|(k, f)| (k.clone(), json!(f.value))).collect())
}

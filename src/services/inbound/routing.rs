//! Which flow a message goes to: its thread (an application's, an invoice request's), then
//! its sender's account and what it asks for. Nothing is dropped: what fits no flow is a
//! triage task.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::APPLICATION;
use super::applications::{new_application, reapplication, update_application};
use super::aws_login_requests::aws_login_request;
use super::increases::limit_increase;
use super::invoice_requests::{invoice_reply, invoice_request, thread_invoice_request};
use super::plan::{Plan, PlanError, triage};
use super::report::{Report, outcome};
use crate::app::App;
use crate::domain::{ApplicationId, EmailAddress};
use crate::intake::classify::{self, Intent};
use crate::intake::extract::{Extracted, field};
use crate::intake::mail::Mail;
use crate::intake::text::excerpt;
use crate::store::{ApplicationRecord, Instance, IntakeWrite, StoreError};

/// Decides what one message does, as one write and its report.
pub(super) async fn route(
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
            // Read once for both questions below: an open application, a decided one.
            let applications = app.store.instances_for_account(account.as_str(), APPLICATION).await?;
            if let Some(open) = open_application(app, &applications, &account, mail.from.as_deref()).await? {
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
            if let Some(decided) = decided_application(app, &applications).await? {
                return reapplication(app, mail, report, now, decided, x).await;
            }
            Ok(new_application(app, mail, report, now, (sender, account), x).await?)
        }
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

/// The application in progress of the account (its `applications`), else of the sender when
/// that is another address.
async fn open_application(
    app: &App,
    applications: &[Instance],
    account: &EmailAddress,
    from: Option<&str>,
) -> Result<Option<ApplicationRecord>, StoreError> {
    // Any application not yet decided owns its account's new messages; one only waiting for
    // a guarantee is answered by a person (see `update_application`).
    let in_progress = |i: &&Instance| app.workflow.state(APPLICATION, &i.state).is_some_and(|s| s.in_progress());
    let mut open = applications.iter().find(in_progress).map(|i| i.id);
    if open.is_none()
        && let Some(from) = from.and_then(|f| EmailAddress::parse(f).ok())
        && &from != account
    {
        open =
            app.store.instances_for_account(from.as_str(), APPLICATION).await?.iter().find(in_progress).map(|i| i.id);
    }
    match open {
        Some(id) => app.store.application(ApplicationId(id.0)).await,
        None => Ok(None),
    }
}

/// The latest declined or deferred one of an account's `applications`, if any.
async fn decided_application(app: &App, applications: &[Instance]) -> Result<Option<ApplicationRecord>, StoreError> {
    let decided = applications
        .iter()
        .filter(|i| app.workflow.is(APPLICATION, &i.state, |s| s.reopenable()))
        .max_by_key(|i| i.id.0);
    match decided {
        Some(i) => app.store.application(ApplicationId(i.id.0)).await,
        None => Ok(None),
    }
}

//! AWS login by email (policy: "Users apply for AWS login first"): a request starts or joins
//! the account's `aws_login` review, and an application that applies through AWS login is
//! linked to it. The review itself is `services::aws_login`.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::ACTOR;
use super::plan::{Plan, PlanError};
use super::report::{Report, outcome};
use crate::app::App;
use crate::domain::{EmailAddress, SubjectId};
use crate::intake::extract::{Extracted, field};
use crate::intake::mail::Mail;
use crate::intake::text::excerpt;
use crate::services::{Fire, ServiceError};
use crate::store::{EvidenceWrite, IntakeWrite, StoreError};
use crate::workflow::names::aws_login;

/// An email asking for AWS login: starts the account's `aws_login` review (the reviewer's
/// `aws_login_review` task, the `aws_login_received` acknowledgement), or, when the account
/// has one open or approved already, joins it (one per account).
pub(super) async fn aws_login_request(
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
    p.address(instance.effect_payloads_mut());
    p.write.workflow.opened.push(instance);
    // The reviewer's task carries the request (its details are the step's data).
    let fire = Fire::new(id, "start_review", ACTOR)
        .reason("requested by email")
        .data("from", &p.mail.from)
        .data("message_id", &p.mail.message_id)
        .data("excerpt", excerpt(&p.mail.body));
    let (mut write, _) = p.app.workflow.plan(&mut cursor, &fire)?;
    p.address(write.effect_payloads_mut());
    p.write.workflow.steps.push(write);
    Ok(cursor.state)
}

/// An application that applies through AWS login is linked to the account's AWS login: the
/// link is kept as `aws_login` evidence (its id and state then) with a finding
/// (`aws_login_pending`, `_approved`, `_declined`), and the reviewer sees the state read live
/// (`services::aws_login`). When the account has none open or approved, one is started from
/// this email, if it comes from the account itself (never for an address it only names).
pub(super) async fn link_aws_login(
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
    let account = match write.workflow.opened.iter().find_map(|i| i.application.as_ref()) {
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
            let started = p.write.workflow.opened.last().map(|i| i.id);
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

//! A limit increase asked for by email: assessed by the `limit_increase` rule as the cycle's
//! proposals are (`services::billing::escalation`), never granted here.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::plan::{Plan, PlanError};
use super::report::{Report, outcome};
use crate::app::App;
use crate::domain::EmailAddress;
use crate::intake::extract::{Extracted, field};
use crate::intake::mail::Mail;
use crate::intake::text::excerpt;
use crate::store::IntakeWrite;
use crate::workflow::names::credit_line;

pub(super) async fn limit_increase(
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
    p.report.state = write.workflow.steps.last().map(|t| t.to_state.clone());
    p.write.workflow.extend(write.workflow);
    p.write.increases.extend(write.increase);
    Ok(p.finish(outcome::LIMIT_INCREASE))
}

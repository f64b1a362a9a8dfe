//! Deciding a task from its page. Every form goes first to a preview: the emails the decision
//! would send, rendered from the same templates and data the delivery worker uses; only the
//! preview's "Confirm" takes the decision, at the task version the reviewer saw (a page gone
//! stale is refused, never applied). Application reviews take the reviewer decisions
//! (approve with the rule's suggestion prefilled, decline with a reason code, defer, request
//! information with the missing items prefilled); the other kinds take their task actions.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::page::{ConsoleError, Form, render};
use super::session::Signed;
use crate::app::App;
use crate::domain::{Money, Role, SubjectId, TaskId};
use crate::services::decisions::{self, Decision, DecisionError, DeclineReason};
use crate::services::previews::EmailPreview;
use crate::services::task_actions::{self, ResolveError, TaskAction};
use crate::services::task_view::TaskView;
use crate::services::tasks::{Actor, REVIEWERS};
use crate::services::views;
use crate::workflow::TaskKind;
use crate::workflow::names::task_state;

/// The decisions an application review takes, in the order the page offers them.
const REVIEW_DECISIONS: &[&str] = &["approve", "decline", "defer", "request_info"];

/// Longest text a form field may carry (the API's limits: notes and reasons 1,000, messages
/// 2,000, an information item 200, at most 20 items).
const SHORT: usize = 1000;
const LONG: usize = 2000;
const ITEM: usize = 200;
const ITEMS: usize = 20;

/// What the task page's decision forms need.
#[derive(Debug, Serialize)]
pub struct Forms {
    /// The actions this kind takes; empty when the task takes no more (or is someone else's).
    actions: Vec<&'static str>,
    /// Why no form is shown, when none is.
    closed: Option<String>,
    review: bool,
    senior: bool,
    /// The rule's suggestion, in dollars, prefilled in the approval.
    suggested: Option<String>,
    /// A first approval waiting for its second: who gave it and for how much.
    first_by: Option<String>,
    first_limit: Option<String>,
    /// The same, as the limit field is prefilled.
    first_limit_plain: Option<String>,
    /// The decline reason codes, with their words.
    reasons: Vec<(&'static str, String)>,
    /// The materials still missing, one per line, prefilled in the request for information.
    missing: String,
    /// The emails already queued or sent about the task's subject, newest last.
    emails: Vec<views::OutboxRecord>,
}

/// The forms for `view` as the signed-in reviewer may use them.
pub async fn forms(app: &App, view: &TaskView, signed: &Signed) -> Result<Forms, ConsoleError> {
    let task = &view.task.task;
    let me = signed.0.caller.name.as_str();
    let role = signed.0.caller.role;
    let review = task.kind == TaskKind::ApplicationReview.as_str();
    let first = task.details.get("first_approval");
    let closed = if !matches!(task.state.as_str(), task_state::OPEN | task_state::AWAITING_SECOND_APPROVAL) {
        Some(format!("This task is {}: it takes no more decisions.", task.state.replace('_', " ")))
    } else if let Some(other) = task.assignee.as_deref().filter(|a| *a != me) {
        Some(format!("{other} has claimed this task: only they can decide it now."))
    } else if !REVIEWERS.contains(&role) {
        Some(format!("The {} role does not decide tasks.", role.as_str().replace('_', " ")))
    } else if task.state == task_state::AWAITING_SECOND_APPROVAL && role != Role::SeniorReviewer {
        Some("This approval waits for a second senior reviewer.".into())
    } else if first.and_then(|f| f.get("by")).and_then(Value::as_str) == Some(me) {
        Some("You gave the first approval: a different senior reviewer confirms it (four-eyes).".into())
    } else {
        None
    };
    let actions = match (&closed, review) {
        (Some(_), _) => Vec::new(),
        (None, true) => REVIEW_DECISIONS.to_vec(),
        (None, false) => task_actions::allowed(&task.kind).to_vec(),
    };
    let emails = match task.subject_id {
        Some(s) => views::emails_about(app, s).await?,
        None => Vec::new(),
    };
    let missing = emails
        .iter()
        .rev()
        .find_map(|o| o.payload.get("missing").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .map(crate::email::context::material_words)
        .collect::<Vec<_>>()
        .join("\n");
    let first_limit = first.and_then(|f| f.get("monthly_limit_cents")).and_then(Value::as_i64).map(Money::from_cents);
    Ok(Forms {
        actions,
        closed,
        review,
        senior: role == Role::SeniorReviewer,
        suggested: view.suggested_limit_cents.map(|c| plain_dollars(Money::from_cents(c))),
        first_by: first.and_then(|f| f.get("by")).and_then(Value::as_str).map(str::to_string),
        first_limit: first_limit.map(|m| m.to_string()),
        first_limit_plain: first_limit.map(plain_dollars),
        reasons: DeclineReason::ALL.iter().map(|r| (r.as_str(), r.as_str().replace('_', " "))).collect(),
        missing,
        emails,
    })
}

/// `$1,000.00` → `1000.00`: what an amount field is prefilled with.
fn plain_dollars(m: Money) -> String {
    let c = m.cents();
    format!("{}.{:02}", c / 100, c % 100)
}

/// One decision form, as every form on the page posts it (a field the action does not use
/// stays empty).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    /// The task version the page showed.
    version: i64,
    action: String,
    /// `yes` on the preview's confirm button; anything else shows the preview.
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    monthly_limit: String,
    #[serde(default)]
    override_reason: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    reason_code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    condition: String,
    #[serde(default)]
    reason: String,
    /// Information items, one per line.
    #[serde(default)]
    items: String,
    #[serde(default)]
    application: String,
    #[serde(default)]
    credit_line: String,
    #[serde(default)]
    invoice_reference: String,
}

/// What a form asks for, checked.
#[derive(Debug, Clone, PartialEq)]
enum Asked {
    Decision(Decision),
    Action(TaskAction),
}

fn bad(field: &str, why: impl std::fmt::Display) -> ConsoleError {
    ConsoleError::BadRequest(format!("{}: {why}", field.replace('_', " ")))
}

/// A text field that may be left empty.
fn optional(field: &str, value: &str, max: usize) -> Result<Option<String>, ConsoleError> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(bad(field, format!("at most {max} characters")));
    }
    Ok((!v.is_empty()).then(|| v.to_string()))
}

fn required(field: &str, value: &str, max: usize) -> Result<String, ConsoleError> {
    optional(field, value, max)?.ok_or_else(|| bad(field, "required"))
}

impl ActForm {
    /// The decision or action the form asks for, for a task of `kind`.
    fn asked(&self, kind: &str) -> Result<Asked, ConsoleError> {
        let note = optional("note", &self.note, LONG)?;
        if kind == TaskKind::ApplicationReview.as_str() {
            return Ok(Asked::Decision(match self.action.as_str() {
                "approve" => {
                    let limit = Money::parse(&self.monthly_limit).map_err(|e| bad("monthly_limit", e))?;
                    if limit.cents() <= 0 {
                        return Err(bad("monthly_limit", "must be more than $0"));
                    }
                    Decision::Approve {
                        monthly_limit: limit,
                        override_reason: optional("override_reason", &self.override_reason, SHORT)?,
                        note: optional("note", &self.note, SHORT)?,
                    }
                }
                "decline" => Decision::Decline {
                    reason_code: DeclineReason::parse(&self.reason_code)
                        .ok_or_else(|| bad("reason_code", "choose a reason"))?
                        .as_str()
                        .to_string(),
                    message: required("message", &self.message, LONG)?,
                },
                "defer" => {
                    let until = match self.until.trim() {
                        "" => None,
                        d => Some(d.parse::<NaiveDate>().map_err(|_| bad("until", "a date like 2027-03-01"))?),
                    };
                    let condition = optional("condition", &self.condition, SHORT)?;
                    if until.is_none() && condition.is_none() {
                        return Err(bad("until", "give a date or a condition (or both)"));
                    }
                    Decision::Defer { until, condition, reason: required("reason", &self.reason, SHORT)? }
                }
                "request_info" => {
                    let items: Vec<String> =
                        self.items.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
                    if items.is_empty() || items.len() > ITEMS {
                        return Err(bad("items", format!("1 to {ITEMS} items, one per line")));
                    }
                    if items.iter().any(|i| i.chars().count() > ITEM) {
                        return Err(bad("items", format!("each at most {ITEM} characters")));
                    }
                    Decision::RequestInfo { items, message: optional("message", &self.message, LONG)? }
                }
                other => return Err(bad("action", format!("{other:?} is not a review decision"))),
            }));
        }
        if !task_actions::allowed(kind).contains(&self.action.as_str()) {
            return Err(bad("action", format!("a {} task does not take {:?}", kind.replace('_', " "), self.action)));
        }
        Ok(Asked::Action(match self.action.as_str() {
            "approve" => TaskAction::Approve { note },
            "decline" => TaskAction::Decline { reason: required("reason", &self.reason, LONG)? },
            "request_info" => TaskAction::RequestInfo { message: required("message", &self.message, LONG)? },
            "confirm" => TaskAction::Confirm { note },
            "reject" => TaskAction::Reject { note: required("note", &self.note, LONG)? },
            "attach" => {
                let application = optional("application", &self.application, 100)?;
                let credit_line = match self.credit_line.trim() {
                    "" => None,
                    l => Some(l.parse::<SubjectId>().map_err(|_| bad("credit_line", "not a credit line id"))?),
                };
                if application.is_some() == credit_line.is_some() {
                    return Err(bad("application", "give an application reference or a credit line id"));
                }
                TaskAction::Attach { application, credit_line, note }
            }
            "mark_sent" => TaskAction::MarkSent {
                note: required("note", &self.note, LONG)?,
                invoice_reference: optional("invoice_reference", &self.invoice_reference, 200)?,
            },
            "retry" => TaskAction::Retry { note },
            "close" => TaskAction::Close { note: required("note", &self.note, LONG)? },
            other => return Err(bad("action", format!("{other:?} is not an action"))),
        }))
    }
}

/// `POST /console/tasks/{id}/act`: the preview of a decision, or (from the preview) the
/// decision itself.
pub async fn act(
    State(app): State<Arc<App>>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<ActForm>,
) -> Result<Response, ConsoleError> {
    signed.check(&form.csrf)?;
    signed.require(REVIEWERS)?;
    let id: TaskId = id.parse().map_err(|_| ConsoleError::NotFound(format!("no task {id:?}")))?;
    let task = views::task(&app, id).await?.ok_or_else(|| ConsoleError::NotFound(format!("no task {id}")))?;
    let asked = form.asked(&task.kind)?;
    let request_id = uuid::Uuid::now_v7().to_string();
    let actor = Actor { caller: &signed.0.caller, request_id: &request_id, now: app.workflow.clock().now() };
    if form.confirm != "yes" {
        let emails = match &asked {
            Asked::Decision(d) => decisions::preview(&app, &actor, id, Some(form.version), d).await?,
            Asked::Action(a) => task_actions::preview(&app, &actor, id, Some(form.version), a).await?,
        };
        return preview_page(&signed, &task, &form, &emails).map(IntoResponse::into_response);
    }
    match asked {
        Asked::Decision(d) => {
            decisions::decide(&app, &actor, id, Some(form.version), d, None).await?;
        }
        Asked::Action(a) => {
            task_actions::resolve(&app, &actor, id, Some(form.version), a, None).await?;
        }
    }
    Ok(Redirect::to(&format!("/console/tasks/{id}#decided")).into_response())
}

fn preview_page(
    signed: &Signed,
    task: &views::TaskRecord,
    form: &ActForm,
    emails: &[EmailPreview],
) -> Result<Html<String>, ConsoleError> {
    // The confirm form sends back exactly what was previewed.
    let fields: Vec<(&str, &str)> = [
        ("monthly_limit", form.monthly_limit.as_str()),
        ("override_reason", &form.override_reason),
        ("note", &form.note),
        ("reason_code", &form.reason_code),
        ("message", &form.message),
        ("until", &form.until),
        ("condition", &form.condition),
        ("reason", &form.reason),
        ("items", &form.items),
        ("application", &form.application),
        ("credit_line", &form.credit_line),
        ("invoice_reference", &form.invoice_reference),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect();
    render(
        "decide.html",
        minijinja::context! {
            me => &signed.0.caller.name, role => signed.0.caller.role.as_str(), csrf => &signed.0.csrf,
            task, action => &form.action, version => form.version, fields, emails,
        },
    )
}

impl From<DecisionError> for ConsoleError {
    fn from(e: DecisionError) -> ConsoleError {
        match e {
            DecisionError::TaskNotFound(_) => ConsoleError::NotFound(e.to_string()),
            DecisionError::TaskClosed(..)
            | DecisionError::ClaimedByOther { .. }
            | DecisionError::ApplicationMoved(..)
            | DecisionError::LineRefused(..)
            | DecisionError::AwsLoginNotApproved(..) => ConsoleError::Stale(e.to_string()),
            DecisionError::Forbidden(m) => ConsoleError::Forbidden(m),
            DecisionError::NotReviewable(..) | DecisionError::Refused(_) => ConsoleError::BadRequest(e.to_string()),
            DecisionError::Replay(r) => ConsoleError::Internal(r.to_string()),
            DecisionError::Service(s) => service(s),
            DecisionError::Store(s) => crate::services::Failure::from(s).into(),
        }
    }
}

impl From<ResolveError> for ConsoleError {
    fn from(e: ResolveError) -> ConsoleError {
        match e {
            ResolveError::NotFound(_) => ConsoleError::NotFound(e.to_string()),
            ResolveError::Closed(..) | ResolveError::ClaimedByOther { .. } | ResolveError::Obsolete(..) => {
                ConsoleError::Stale(e.to_string())
            }
            ResolveError::Forbidden(m) => ConsoleError::Forbidden(m),
            ResolveError::WrongAction { .. } | ResolveError::Refused(_) => ConsoleError::BadRequest(e.to_string()),
            ResolveError::Replay(r) => ConsoleError::Internal(r.to_string()),
            ResolveError::Service(s) => service(s),
            ResolveError::Store(s) => crate::services::Failure::from(s).into(),
        }
    }
}

/// A step the workflow does not allow is the reviewer's to know (400); a version conflict is
/// a stale page (409); anything else is ours.
fn service(e: crate::services::ServiceError) -> ConsoleError {
    match e {
        crate::services::ServiceError::Engine(engine) => ConsoleError::BadRequest(engine.to_string()),
        crate::services::ServiceError::Store(s) => crate::services::Failure::from(s).into(),
        crate::services::ServiceError::NotFound(what) => ConsoleError::NotFound(format!("not found: {what}")),
        other => ConsoleError::Internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(action: &str) -> ActForm {
        ActForm { version: 1, action: action.into(), ..ActForm::default() }
    }

    #[test]
    fn an_approval_reads_its_limit_in_dollars_and_refuses_nothing_or_words() {
        let mut f = form("approve");
        f.monthly_limit = "200.00".into();
        let Ok(Asked::Decision(Decision::Approve { monthly_limit, override_reason: None, note: None })) =
            f.asked("application_review")
        else {
            panic!("an approval")
        };
        assert_eq!(monthly_limit.cents(), 20_000);
        for bad in ["", "lots", "0", "-5"] {
            f.monthly_limit = bad.into();
            assert!(matches!(f.asked("application_review"), Err(ConsoleError::BadRequest(_))), "{bad:?}");
        }
    }

    #[test]
    fn a_decline_needs_a_known_reason_code_and_a_message() {
        let mut f = form("decline");
        f.message = "Not this time.".into();
        assert!(f.asked("application_review").is_err(), "no code");
        f.reason_code = "no_product".into();
        assert!(matches!(f.asked("application_review"), Ok(Asked::Decision(Decision::Decline { .. }))));
        f.reason_code = "because".into();
        assert!(f.asked("application_review").is_err());
        f.reason_code = "no_product".into();
        f.message = "x".repeat(LONG + 1);
        assert!(f.asked("application_review").is_err(), "too long");
    }

    #[test]
    fn a_request_for_information_takes_one_item_a_line() {
        let mut f = form("request_info");
        f.items = "a company website\n\n  bank statement  \n".into();
        let Ok(Asked::Decision(Decision::RequestInfo { items, .. })) = f.asked("application_review") else {
            panic!("a request")
        };
        assert_eq!(items, ["a company website", "bank statement"]);
        f.items = (0..=ITEMS).map(|i| format!("item {i}\n")).collect();
        assert!(f.asked("application_review").is_err());
    }

    #[test]
    fn a_deferral_needs_a_date_or_a_condition() {
        let mut f = form("defer");
        f.reason = "too early".into();
        assert!(f.asked("application_review").is_err());
        f.until = "2027-02-30".into();
        assert!(f.asked("application_review").is_err(), "no such day");
        f.until = "2027-03-01".into();
        assert!(matches!(f.asked("application_review"), Ok(Asked::Decision(Decision::Defer { .. }))));
    }

    #[test]
    fn other_kinds_take_only_their_own_actions() {
        let mut f = form("close");
        f.note = "spam".into();
        assert!(matches!(f.asked("triage"), Ok(Asked::Action(TaskAction::Close { .. }))));
        assert!(f.asked("limit_increase_review").is_err(), "an increase is not closed");
        let mut f = form("attach");
        assert!(f.asked("triage").is_err(), "attach to what");
        f.application = "CL-4K7Q2M9X".into();
        assert!(matches!(f.asked("triage"), Ok(Asked::Action(TaskAction::Attach { .. }))));
        f.credit_line = "nonsense".into();
        assert!(f.asked("triage").is_err());
    }

    #[test]
    fn amounts_are_prefilled_without_symbols() {
        assert_eq!(plain_dollars(Money::from_cents(100_050)), "1000.50");
    }
}

//! One task on one screen: what it is about, the applicant's email thread with each value
//! marked where it was read (provenance) and the attachments, what the rules decided with
//! their inputs, the billing evidence as a chart, the account's credit lines, the reviewers'
//! notes and the history.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;
use serde_json::Value;

use super::chart;
use super::page::{ConsoleError, Form, render};
use super::queue::REVIEWERS;
use super::session::Signed;
use crate::app::App;
use crate::domain::{ApplicationId, EmailAddress, SubjectId, TaskId};
use crate::services::tasks::Actor;
use crate::services::views::{self, CreditLineView};
use crate::services::{notes, task_view, thread};
use crate::workflow::names::{credit_line, task_state};

/// Lines shown beside a task: the account's lines that are not closed (there is at most one
/// open line per account; closed ones are on the account's page).
const LINES_SHOWN: usize = 3;

pub async fn task(
    State(app): State<Arc<App>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Html<String>, ConsoleError> {
    signed.require(REVIEWERS)?;
    let not_found = || ConsoleError::NotFound(format!("no task {id:?}"));
    let task_id: TaskId = id.parse().map_err(|_| not_found())?;
    let view = task_view::view(&app, task_id).await.map_err(|e| ConsoleError::Internal(e.to_string()))?;
    let view = view.ok_or_else(not_found)?;
    let me = &signed.0.caller.name;
    let task = &view.task.task;
    let forms = super::decide::forms(&app, &view, &signed).await?;

    // The view's application is the task's subject.
    let application_id = task.subject_id.filter(|_| view.application.is_some()).map(|s| ApplicationId(s.0));
    let messages = match application_id {
        Some(a) => thread::thread(&app, a).await?,
        None => Vec::new(),
    };
    // Whatever the task is about (an application, a login, a line, an increase, an invoice
    // request), the account's line in use is beside it.
    let mut account = view
        .application
        .as_ref()
        .or(view.aws_login.as_ref())
        .and_then(|v| v.get("account_email"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if account.is_none()
        && let Some(s) = task.subject_id
    {
        account = views::account_of(&app, s).await?;
    }
    let lines = match account.and_then(|a| a.parse::<EmailAddress>().ok()) {
        Some(account) => open_lines(&app, &account).await?,
        None => Vec::new(),
    };
    let notes = match task.subject_id {
        Some(s) => notes::of(&app, s).await?,
        None => Vec::new(),
    };
    let months = view.application.as_ref().map(billing_months).unwrap_or_default();
    render(
        "task.html",
        minijinja::context! {
            me => me, role => signed.0.caller.role.as_str(), csrf => &signed.0.csrf,
            view => &view, forms, messages, lines, notes, application_id,
            note_key => uuid::Uuid::now_v7().to_string(),
            bars => chart::bars(&months), chart_max => months.iter().map(|m| m.1).max().unwrap_or(0), months, chart_width => chart::WIDTH, chart_height => chart::HEIGHT,
            mine => task.assignee.as_deref() == Some(me.as_str()),
            claimable => task.state == task_state::OPEN && task.assignee.is_none(),
        },
    )
}

/// The account's lines that are not closed, each with its money picture.
pub async fn open_lines(app: &App, account: &EmailAddress) -> Result<Vec<CreditLineView>, ConsoleError> {
    let Some(found) = views::account_view(app, account).await? else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for line in found.credit_lines.iter().rev().filter(|l| l.state != credit_line::CLOSED).take(LINES_SHOWN) {
        if let Some(v) = views::credit_line_view(app, line.id).await? {
            out.push(v);
        }
    }
    Ok(out)
}

/// The months of the newest AWS billing statement among the application's evidence.
fn billing_months(application: &Value) -> Vec<(String, i64)> {
    let evidence = application.get("evidence").and_then(Value::as_array);
    let newest =
        evidence.into_iter().flatten().rev().find(|e| e.get("kind").and_then(Value::as_str) == Some("aws_billing"));
    let months = newest.and_then(|e| e.pointer("/data/months")).and_then(Value::as_array);
    months
        .into_iter()
        .flatten()
        .filter_map(|m| Some((m.get("period")?.as_str()?.to_string(), m.get("amount_cents")?.as_i64()?)))
        .collect()
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    csrf: String,
    body: String,
    key: String,
}

/// Adds a note on the task's subject and goes back to the task.
pub async fn add_note(
    State(app): State<Arc<App>>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Result<Redirect, ConsoleError> {
    signed.check(&form.csrf)?;
    signed.require(REVIEWERS)?;
    let task_id: TaskId = id.parse().map_err(|_| ConsoleError::NotFound(format!("no task {id:?}")))?;
    let task = views::task(&app, task_id).await?.ok_or_else(|| ConsoleError::NotFound(format!("no task {id}")))?;
    let subject = task.subject_id.ok_or_else(|| ConsoleError::BadRequest("this task has no subject to note".into()))?;
    note(&app, &signed, subject, &form).await?;
    Ok(Redirect::to(&format!("/console/tasks/{task_id}#notes")))
}

/// Adds a note on a credit line and goes back to the line.
pub async fn add_line_note(
    State(app): State<Arc<App>>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Result<Redirect, ConsoleError> {
    signed.check(&form.csrf)?;
    signed.require(REVIEWERS)?;
    let line: SubjectId = id.parse().map_err(|_| ConsoleError::NotFound(format!("no credit line {id:?}")))?;
    note(&app, &signed, line, &form).await?;
    Ok(Redirect::to(&format!("/console/lines/{line}#notes")))
}

async fn note(app: &App, signed: &Signed, subject: SubjectId, form: &NoteForm) -> Result<(), ConsoleError> {
    let request_id = uuid::Uuid::now_v7().to_string();
    let actor = Actor { caller: &signed.0.caller, request_id: &request_id, now: app.workflow.clock().now() };
    match notes::add(app, &actor, subject, &form.body, &form.key).await {
        Ok(_) => Ok(()),
        Err(notes::NoteError::Store(f)) => Err(f.into()),
        Err(notes::NoteError::NoSubject(s)) => Err(ConsoleError::NotFound(format!("nothing to note: {s}"))),
        Err(e) => Err(ConsoleError::BadRequest(e.to_string())),
    }
}

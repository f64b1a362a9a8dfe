//! The records beside the queue: account search, an account's page, the credit lines and one
//! line's money picture, and the audit log (senior reviewers and admins).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use serde::{Deserialize, Serialize};

use super::page::{ConsoleError, render};
use super::queue::REVIEWERS;
use super::session::Signed;
use crate::app::App;
use crate::domain::{EmailAddress, Role, SubjectId};
use crate::services::notes;
use crate::services::views::{self, AuditFilter, CreditLineFilter};
use crate::workflow::names::credit_line;

/// Rows a listing shows at a time.
const PAGE: i64 = 50;
/// The longest search text read.
const MAX_QUERY: usize = 200;
/// Who may read the audit log in the console.
const AUDITORS: &[Role] = &[Role::SeniorReviewer, Role::Admin];

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ConsoleError> {
    q.map(|Query(q)| q).map_err(|e| ConsoleError::BadRequest(e.body_text()))
}

/// `?after=` as a cursor of type `T`, or a clear refusal.
fn cursor<T: std::str::FromStr>(after: &str) -> Result<Option<T>, ConsoleError> {
    match after {
        "" => Ok(None),
        a => a.parse().map(Some).map_err(|_| ConsoleError::BadRequest("the page cursor is not valid".into())),
    }
}

#[derive(Deserialize, Serialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// Finds accounts by any part of the address, or an application by its reference.
pub async fn search(
    State(app): State<Arc<App>>,
    signed: Signed,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Html<String>, ConsoleError> {
    signed.require(REVIEWERS)?;
    let q = query(q)?;
    let text = q.q.trim();
    if text.chars().count() > MAX_QUERY {
        return Err(ConsoleError::BadRequest(format!("a search is at most {MAX_QUERY} characters")));
    }
    let (accounts, application) = if text.is_empty() {
        (Vec::new(), None)
    } else {
        let reference = views::application_by_reference(&app, &text.to_ascii_uppercase()).await?;
        (views::find_accounts(&app, text, PAGE).await?, reference)
    };
    render(
        "search.html",
        minijinja::context! {
            me => &signed.0.caller.name, role => signed.0.caller.role.as_str(), csrf => &signed.0.csrf,
            q => text, accounts, application, searched => !text.is_empty(),
        },
    )
}

/// An account: prepaid access (always), its applications and its credit lines.
pub async fn account(
    State(app): State<Arc<App>>,
    signed: Signed,
    Path(email): Path<String>,
) -> Result<Html<String>, ConsoleError> {
    signed.require(REVIEWERS)?;
    let not_found = || ConsoleError::NotFound(format!("no account {email:?}"));
    let address: EmailAddress = email.parse().map_err(|_| not_found())?;
    let view = views::account_view(&app, &address).await?.ok_or_else(not_found)?;
    let lines = super::task::open_lines(&app, &address).await?;
    render(
        "account.html",
        minijinja::context! {
            me => &signed.0.caller.name, role => signed.0.caller.role.as_str(), csrf => &signed.0.csrf,
            view, lines,
        },
    )
}

#[derive(Deserialize, Serialize, Default)]
pub struct LinesQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    owing: String,
    #[serde(default)]
    after: String,
}

const LINE_STATES: &[&str] =
    &[credit_line::ACTIVE, credit_line::GRACE, credit_line::PAUSED, credit_line::REDUCED, credit_line::CLOSED];

/// The credit lines with their state, oldest first, filtered by state and owing.
pub async fn lines(
    State(app): State<Arc<App>>,
    signed: Signed,
    q: Result<Query<LinesQuery>, QueryRejection>,
) -> Result<Html<String>, ConsoleError> {
    signed.require(REVIEWERS)?;
    let q = query(q)?;
    if !q.state.is_empty() && !LINE_STATES.contains(&q.state.as_str()) {
        return Err(ConsoleError::BadRequest(format!("no credit-line state {:?}", q.state)));
    }
    let filter = CreditLineFilter {
        account_email: None,
        state: (!q.state.is_empty()).then(|| q.state.clone()),
        after: cursor::<SubjectId>(&q.after)?,
        limit: PAGE,
        owing: q.owing == "on",
    };
    let page = views::credit_lines(&app, filter).await?;
    render(
        "lines.html",
        minijinja::context! {
            me => &signed.0.caller.name, role => signed.0.caller.role.as_str(), csrf => &signed.0.csrf,
            lines => page.items, next_cursor => page.next_cursor, filter => &q, states => LINE_STATES,
        },
    )
}

/// One credit line: limit, use this month, bills and payments, gating history, increases,
/// deposit, notes.
pub async fn line(
    State(app): State<Arc<App>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Html<String>, ConsoleError> {
    signed.require(REVIEWERS)?;
    let not_found = || ConsoleError::NotFound(format!("no credit line {id:?}"));
    let line_id: SubjectId = id.parse().map_err(|_| not_found())?;
    let view = views::credit_line_view(&app, line_id).await?.ok_or_else(not_found)?;
    let notes = notes::of(&app, line_id).await?;
    render(
        "line.html",
        minijinja::context! {
            me => &signed.0.caller.name, role => signed.0.caller.role.as_str(), csrf => &signed.0.csrf,
            line => view, notes, note_key => uuid::Uuid::now_v7().to_string(),
        },
    )
}

#[derive(Deserialize, Serialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    after: String,
}

/// The audit log, oldest first, for senior reviewers and admins.
pub async fn audit(
    State(app): State<Arc<App>>,
    signed: Signed,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Html<String>, ConsoleError> {
    signed.require(AUDITORS)?;
    let q = query(q)?;
    let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let filter = AuditFilter {
        actor: some(&q.actor),
        action: some(&q.action),
        target: some(&q.target),
        after: cursor::<uuid::Uuid>(&q.after)?,
        limit: PAGE,
    };
    let page = views::audit(&app, filter).await?;
    render(
        "audit.html",
        minijinja::context! {
            me => &signed.0.caller.name, role => signed.0.caller.role.as_str(), csrf => &signed.0.csrf,
            entries => page.items, next_cursor => page.next_cursor, filter => &q,
        },
    )
}

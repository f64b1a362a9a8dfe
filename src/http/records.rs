//! Read endpoints for reviewers: applications, accounts and credit lines.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::Caller;
use super::error::{ApiError, Problem};
use super::request::{parse_id, path, query};
use crate::app::App;
use crate::domain::{ApplicationId, EmailAddress, Role, SubjectId};
use crate::services::views;
use crate::store::{
    ApplicationFilter, ApplicationRecord, CreditLineFilter, CreditLineRecord, EventRecord, OutboxRecord, StoreError,
};
use crate::workflow::names::credit_line;

pub(super) const READERS: &[Role] = &[Role::Reviewer, Role::SeniorReviewer, Role::Admin];

/// This area's routes, each declared once: its `#[utoipa::path]` gives both the route and
/// its entry in the OpenAPI document.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list_applications))
        .routes(routes!(application))
        .routes(routes!(account))
        .routes(routes!(list_credit_lines))
        .routes(routes!(credit_line))
}

/// A page of a listing, oldest first; `next_cursor` goes into `after` for the next page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Cuts a `limit + 1` fetch to `limit` and names the cursor of the next page, if any.
pub(super) fn page<T>(mut items: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Page<T> {
    let more = items.len() as i64 > limit;
    items.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = if more { items.last().map(cursor) } else { None };
    Page { items, next_cursor }
}

pub(super) fn limit(given: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    let limit = given.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", format!("limit: must be from 1 to {max}")))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ApplicationQuery {
    /// Only applications in this workflow state, e.g. `pending_review`.
    state: Option<String>,
    account_email: Option<String>,
    /// The `next_cursor` of the previous page.
    after: Option<ApplicationId>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/applications", tag = "records", params(ApplicationQuery),
    responses((status = 200, body = Page<ApplicationRecord>, links(
                  ("application" = (operation_id = "application", parameters(("id" = "$response.body#/items/0/id")))),
                  ("account" = (operation_id = "account",
                                parameters(("email" = "$response.body#/items/0/account_email")))),
                  ("post_event" = (operation_id = "post_event", parameters(("id" = "$response.body#/items/0/id")))))),
              (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn list_applications(
    State(app): State<Arc<App>>,
    caller: Caller,
    q: Result<Query<ApplicationQuery>, QueryRejection>,
) -> Result<Json<Page<ApplicationRecord>>, ApiError> {
    caller.require(READERS)?;
    let q = query(q)?;
    let limit = limit(q.limit, 50, 500)?;
    let filter = ApplicationFilter { state: q.state, account_email: q.account_email, after: q.after, limit: limit + 1 };
    let items = app.store.list_applications(&filter).await?;
    Ok(Json(page(items, limit, |a| a.id.to_string())))
}

/// An application with everything known about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationView {
    /// The application, its extracted `fields` with provenance, `evidence`, rule `decisions`
    /// with reasons and the `messages` of its thread.
    #[schema(value_type = Object)]
    pub application: Value,
    /// The workflow history, oldest first.
    pub events: Vec<EventRecord>,
    /// Emails and tasks its steps queued, oldest first.
    pub outbox: Vec<OutboxRecord>,
    /// Credit lines opened by approving it.
    pub credit_lines: Vec<CreditLineRecord>,
}

#[utoipa::path(get, path = "/api/v1/applications/{id}", tag = "records",
    params(("id" = String, Path, description = "Application id or its reference (CL-...)",
            pattern = "^(CL-[0-9A-Z]+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")),
    responses((status = 200, body = ApplicationView), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn application(
    State(app): State<Arc<App>>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<ApplicationView>, ApiError> {
    caller.require(READERS)?;
    let id = path(id, "invalid_id")?;
    let found = if id.starts_with("CL-") {
        app.store.application_by_reference(&id).await?
    } else {
        let parsed: ApplicationId = parse_id("id", &id, "an id")?;
        app.store.application(parsed).await?
    };
    let a = found.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no application {id}")))?;
    let store = app.store.as_ref();
    Ok(Json(ApplicationView {
        application: views::application(store, &a).await?,
        events: store.events(a.id.into()).await?,
        outbox: store.outbox_for(a.id.into()).await?,
        credit_lines: views::credit_lines_of(store, &a.account_email, views::PAGE)
            .await?
            .into_iter()
            .filter(|l| l.application_id == a.id)
            .collect(),
    }))
}

/// What the service knows about an account (an email address).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub account_email: String,
    /// Always true: a declined, deferred or paused credit line never takes away prepaid
    /// credits (policy: "Prepaid Access Remains Available").
    pub prepaid_access: bool,
    /// The line in use, if one is not closed.
    pub active_credit_line: Option<CreditLineRecord>,
    pub credit_lines: Vec<CreditLineRecord>,
    pub applications: Vec<ApplicationRecord>,
}

#[utoipa::path(get, path = "/api/v1/accounts/{email}", tag = "records",
    params(("email" = String, Path, format = Email, description = "The account's email address")),
    responses((status = 200, body = AccountView), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn account(
    State(app): State<Arc<App>>,
    caller: Caller,
    email: Result<Path<String>, PathRejection>,
) -> Result<Json<AccountView>, ApiError> {
    caller.require(READERS)?;
    let email = path(email, "invalid_email")?;
    let email = EmailAddress::parse(&email)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_email", format!("email: {e}")))?;
    let account = email.as_str().to_string();
    let store = app.store.as_ref();
    let applications = views::applications_of(store, &account, views::PAGE).await?;
    let credit_lines = views::credit_lines_of(store, &account, views::PAGE).await?;
    if applications.is_empty() && credit_lines.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no applications or credit lines for {account}"),
        ));
    }
    let active_credit_line = credit_lines.iter().rev().find(|l| l.state != credit_line::CLOSED).cloned();
    Ok(Json(AccountView {
        account_email: account,
        prepaid_access: true,
        active_credit_line,
        credit_lines,
        applications,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CreditLineQuery {
    account_email: Option<String>,
    /// active, grace, paused, reduced or closed.
    state: Option<String>,
    /// The `next_cursor` of the previous page.
    after: Option<SubjectId>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/credit-lines", tag = "records", params(CreditLineQuery),
    responses((status = 200, body = Page<CreditLineRecord>, links(
                  ("credit_line" = (operation_id = "credit_line", parameters(("id" = "$response.body#/items/0/id")))),
                  ("account" = (operation_id = "account",
                                parameters(("email" = "$response.body#/items/0/account_email")))),
                  ("post_event" = (operation_id = "post_event", parameters(("id" = "$response.body#/items/0/id")))))),
              (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn list_credit_lines(
    State(app): State<Arc<App>>,
    caller: Caller,
    q: Result<Query<CreditLineQuery>, QueryRejection>,
) -> Result<Json<Page<CreditLineRecord>>, ApiError> {
    caller.require(READERS)?;
    let q = query(q)?;
    let limit = limit(q.limit, 50, 500)?;
    let filter = CreditLineFilter {
        account_email: q.account_email,
        state: q.state,
        after: q.after,
        limit: limit + 1,
        owing: false,
    };
    let items = app.store.list_credit_lines(&filter).await?;
    Ok(Json(page(items, limit, |l| l.id.to_string())))
}

/// A credit line and its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditLineView {
    pub credit_line: CreditLineRecord,
    pub events: Vec<EventRecord>,
}

#[utoipa::path(get, path = "/api/v1/credit-lines/{id}", tag = "records",
    params(("id" = String, Path, format = Uuid, description = "Credit line id")),
    responses((status = 200, body = CreditLineView), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn credit_line(
    State(app): State<Arc<App>>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<CreditLineView>, ApiError> {
    caller.require(READERS)?;
    let id = path(id, "invalid_id")?;
    let parsed: SubjectId = parse_id("id", &id, "an id")?;
    let line = app
        .store
        .credit_line(parsed)
        .await?
        .ok_or_else(|| ApiError::from(StoreError::NotFound(format!("credit line {id}"))))?;
    let events = app.store.events(parsed).await?;
    Ok(Json(CreditLineView { credit_line: line, events }))
}

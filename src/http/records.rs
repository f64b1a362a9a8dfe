//! Read endpoints for reviewers: applications, accounts and credit lines.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::Caller;
use super::error::{ApiError, Problem};
use super::request::{PathId, path, query};
use crate::app::App;
use crate::domain::{ApplicationId, EmailAddress, Role, SubjectId};
use crate::services::views::{
    self, AccountView, ApplicationFilter, ApplicationKey, ApplicationRecord, ApplicationView, CreditLineFilter,
    CreditLineRecord, CreditLineView, Page,
};

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
    let filter = ApplicationFilter { state: q.state, account_email: q.account_email, after: q.after, limit };
    Ok(Json(views::applications(&app, filter).await?))
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
    id: PathId<ApplicationKey>,
) -> Result<Json<ApplicationView>, ApiError> {
    caller.require(READERS)?;
    let key = id.get()?;
    let found = views::find_application(&app, &key).await?;
    let a = found.ok_or_else(|| ApiError::not_found(format!("no application {}", id.as_given())))?;
    Ok(Json(views::application_view(&app, &a).await?))
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
    let view = views::account_view(&app, &email).await?;
    let account = email.as_str();
    view.map(Json).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no applications or credit lines for {account}"))
    })
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
    let filter =
        CreditLineFilter { account_email: q.account_email, state: q.state, after: q.after, limit, owing: false };
    Ok(Json(views::credit_lines(&app, filter).await?))
}

#[utoipa::path(get, path = "/api/v1/credit-lines/{id}", tag = "records",
    params(("id" = String, Path, format = Uuid, description = "Credit line id")),
    responses((status = 200, body = CreditLineView), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn credit_line(
    State(app): State<Arc<App>>,
    caller: Caller,
    id: PathId<SubjectId>,
) -> Result<Json<CreditLineView>, ApiError> {
    caller.require(READERS)?;
    let view = views::credit_line_view(&app, id.get()?).await?;
    view.map(Json).ok_or_else(|| ApiError::not_found(format!("not found: credit line {}", id.as_given())))
}

//! Reviewer decisions on an application-review task: approve, decline, defer, request_info.
//! Each takes the task version (If-Match or `version`) and an optional `Idempotency-Key`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::error::{ApiError, Problem};
use super::request::{MAX_JSON_BODY, Mutation, invalid, text};
use crate::app::App;
use crate::domain::{Money, Role, TaskId};
use crate::services::actions::{ActionError, Outcome};
use crate::services::decisions::{self, Decided, Decision, DecisionError, DeclineReason};
use crate::services::{Failure, FailureKind, ServiceError};

const DECIDERS: &[Role] = &[Role::Reviewer, Role::SeniorReviewer];

/// This area's routes, each declared once: its `#[utoipa::path]` gives both the route and
/// its entry in the OpenAPI document.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(approve))
        .routes(routes!(decline))
        .routes(routes!(defer))
        .routes(routes!(request_info))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
}

/// Approve with a monthly limit. At most the `initial_limit` rule's suggestion, unless a
/// senior reviewer overrides it with `override_reason`. At or above the four-eyes limit
/// (config `four_eyes_from_cents`, default $1,000) the first approval moves the task to
/// `awaiting_second_approval`; a different senior reviewer then approves the same limit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The monthly limit in cents, e.g. 20000 for $200/month.
    #[schema(minimum = 1, example = 20000)]
    pub monthly_limit_cents: i64,
    /// Why a senior reviewer approves above the rule's suggestion.
    #[schema(max_length = 1000, pattern = r"\S")]
    pub override_reason: Option<String>,
    /// A note for the record.
    #[schema(max_length = 1000, pattern = r"\S")]
    pub note: Option<String>,
    /// The task version decided on (or send If-Match).
    pub version: Option<i64>,
}

/// Decline with a reason code and a message for the applicant (prepaid access stays).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineBody {
    pub reason_code: DeclineReason,
    /// Sent to the applicant; at most 2,000 characters.
    #[schema(max_length = 2000, pattern = r"\S")]
    pub message: String,
    pub version: Option<i64>,
}

/// Defer until a date, or until a condition is met (at least one), with a reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeferBody {
    /// A date after today (UTC).
    pub until: Option<NaiveDate>,
    /// e.g. "three months of paid prepaid usage".
    #[schema(max_length = 1000, pattern = r"\S")]
    pub condition: Option<String>,
    #[schema(max_length = 1000, pattern = r"\S")]
    pub reason: String,
    pub version: Option<i64>,
}

/// Ask the applicant for more: the items are listed in the email.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestInfoBody {
    /// 1 to 20 items, each at most 200 characters.
    #[schema(min_items = 1, max_items = 20)]
    pub items: Vec<String>,
    #[schema(max_length = 2000, pattern = r"\S")]
    pub message: Option<String>,
    pub version: Option<i64>,
}

impl From<DecisionError> for ApiError {
    fn from(e: DecisionError) -> ApiError {
        let e = match e {
            DecisionError::Store(s) => return Failure::from(s).into(),
            DecisionError::Service(s) => return service(s),
            other => other,
        };
        let code = e.code();
        let status = match &e {
            DecisionError::TaskNotFound(_) => StatusCode::NOT_FOUND,
            DecisionError::TaskClosed(..)
            | DecisionError::ClaimedByOther { .. }
            | DecisionError::ApplicationMoved(..)
            | DecisionError::LineRefused(..)
            | DecisionError::AwsLoginNotApproved(..) => StatusCode::CONFLICT,
            DecisionError::NotReviewable(..) | DecisionError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            DecisionError::Forbidden(_) => StatusCode::FORBIDDEN,
            DecisionError::Replay(ActionError::KeyReused(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            DecisionError::Replay(ActionError::InProgress(_)) => StatusCode::CONFLICT,
            DecisionError::Replay(ActionError::Store(_)) => return internal(&e),
            DecisionError::Service(_) | DecisionError::Store(_) => return internal(&e),
        };
        ApiError::new(status, code, e.to_string())
    }
}

fn internal(e: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "decision failed");
    ApiError::internal()
}

/// A workflow-engine refusal is the caller's problem (422); a version conflict is the
/// caller's to retry (409); any other storage trouble is ours.
pub(super) fn service(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Engine(engine) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "transition_refused", engine.to_string())
        }
        ServiceError::Store(s) => match Failure::from(s) {
            f if f.kind() == FailureKind::Conflict => f.into(),
            f => internal(&f),
        },
        ServiceError::NotFound(what) => ApiError::not_found(format!("not found: {what}")),
        other => internal(&other),
    }
}

/// A mutation's answer: its status, the ETag of the new version, and whether it is a replay.
pub(super) fn respond<T: Serialize>(outcome: Outcome<T>) -> Response {
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::OK);
    let mut r = (status, Json(outcome.body)).into_response();
    if let Some(v) = outcome.etag
        && let Ok(h) = HeaderValue::from_str(&format!("\"{v}\""))
    {
        r.headers_mut().insert(header::ETAG, h);
    }
    if outcome.replayed {
        r.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    r
}

/// Everything a decision request carries besides its body.
async fn run(app: &App, m: &Mutation, version: Option<i64>, decision: Decision) -> Result<Response, ApiError> {
    let id: TaskId = m.id()?;
    let expected = m.expected(version)?;
    let key = m.idempotency_key()?;
    let actor = m.actor(app.workflow.clock().now());
    let outcome = decisions::decide(app, &actor, id, expected, decision, key.as_ref()).await?;
    Ok(respond(outcome))
}

fn optional_text(field: &str, value: &Option<String>, max: usize) -> Result<(), ApiError> {
    value.as_deref().map_or(Ok(()), |v| text(field, v, max))
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/approve", tag = "decisions",
    params(("id" = String, Path, format = Uuid, description = "Task id"),
           ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"?[0-9]+"?$"#, description = "The task version decided on"),
           ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,200}$", description = "Retries with the same key get the first answer")),
    request_body = ApproveBody,
    responses((status = 200, body = Decided, description = "Approved, or first approval recorded"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
              (status = 415, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn approve(State(app): State<Arc<App>>, m: Mutation) -> Result<Response, ApiError> {
    m.caller.require(DECIDERS)?;
    let b: ApproveBody = m.json()?;
    if b.monthly_limit_cents <= 0 {
        return Err(invalid("monthly_limit_cents", "must be more than 0"));
    }
    optional_text("override_reason", &b.override_reason, 1000)?;
    optional_text("note", &b.note, 1000)?;
    let decision = Decision::Approve {
        monthly_limit: Money::from_cents(b.monthly_limit_cents),
        override_reason: b.override_reason,
        note: b.note,
    };
    run(&app, &m, b.version, decision).await
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/decline", tag = "decisions",
    params(("id" = String, Path, format = Uuid, description = "Task id"),
           ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"?[0-9]+"?$"#, description = "The task version decided on"),
           ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,200}$", description = "Retries with the same key get the first answer")),
    request_body = DeclineBody,
    responses((status = 200, body = Decided, description = "Declined; the decline email is queued"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
              (status = 415, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn decline(State(app): State<Arc<App>>, m: Mutation) -> Result<Response, ApiError> {
    m.caller.require(DECIDERS)?;
    let b: DeclineBody = m.json()?;
    text("message", &b.message, 2000)?;
    let decision = Decision::Decline { reason_code: b.reason_code.as_str().to_string(), message: b.message };
    run(&app, &m, b.version, decision).await
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/defer", tag = "decisions",
    params(("id" = String, Path, format = Uuid, description = "Task id"),
           ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"?[0-9]+"?$"#, description = "The task version decided on"),
           ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,200}$", description = "Retries with the same key get the first answer")),
    request_body = DeferBody,
    responses((status = 200, body = Decided, description = "Deferred; the deferral email is queued"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
              (status = 415, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn defer(State(app): State<Arc<App>>, m: Mutation) -> Result<Response, ApiError> {
    m.caller.require(DECIDERS)?;
    let b: DeferBody = m.json()?;
    text("reason", &b.reason, 1000)?;
    optional_text("condition", &b.condition, 1000)?;
    if b.until.is_none() && b.condition.is_none() {
        return Err(invalid("until", "give a date to defer until, or a condition"));
    }
    let decision = Decision::Defer { until: b.until, condition: b.condition, reason: b.reason };
    run(&app, &m, b.version, decision).await
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/request-info", tag = "decisions",
    params(("id" = String, Path, format = Uuid, description = "Task id"),
           ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"?[0-9]+"?$"#, description = "The task version decided on"),
           ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,200}$", description = "Retries with the same key get the first answer")),
    request_body = RequestInfoBody,
    responses((status = 200, body = Decided, description = "Information requested; the email is queued"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
              (status = 415, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn request_info(State(app): State<Arc<App>>, m: Mutation) -> Result<Response, ApiError> {
    m.caller.require(DECIDERS)?;
    let b: RequestInfoBody = m.json()?;
    if b.items.is_empty() || b.items.len() > 20 {
        return Err(invalid("items", "1 to 20 items"));
    }
    for (i, item) in b.items.iter().enumerate() {
        text(&format!("items[{i}]"), item, 200)?;
    }
    optional_text("message", &b.message, 2000)?;
    let decision = Decision::RequestInfo { items: b.items, message: b.message };
    run(&app, &m, b.version, decision).await
}

//! `POST /api/v1/tasks/{id}/resolve`: finishing every task kind that is not an application
//! review (those have their decision routes). Same version check, roles, audit and
//! `Idempotency-Key` as the decisions.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::decisions::{respond, service};
use super::error::{ApiError, Problem};
use super::request::{MAX_JSON_BODY, Mutation, invalid, text};
use crate::app::App;
use crate::domain::{Role, SubjectId, TaskId};
use crate::services::Failure;
use crate::services::actions::ActionError;
use crate::services::task_actions::{self, ActionName, ResolveError, TaskActed, TaskAction};

const DECIDERS: &[Role] = &[Role::Reviewer, Role::SeniorReviewer];

/// This area's routes, each declared once: its `#[utoipa::path]` gives both the route and
/// its entry in the OpenAPI document.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(resolve)).layer(DefaultBodyLimit::max(MAX_JSON_BODY))
}

/// How a task is finished. Approving (or confirming the deposit of) an increase at or
/// above `four_eyes_from_cents` records a first approval; a different senior reviewer then
/// approves it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    pub action: ActionName,
    /// A note for the record; required for reject and close, and for mark_sent.
    #[schema(max_length = 2000, pattern = r"\S")]
    pub note: Option<String>,
    /// decline: why, shown to the account in the decline email.
    #[schema(max_length = 2000, pattern = r"\S")]
    pub reason: Option<String>,
    /// request_info: what the account is asked, shown in the email.
    #[schema(max_length = 2000, pattern = r"\S")]
    pub message: Option<String>,
    /// attach: the application's reference, e.g. `CL-2026-000123`.
    #[schema(max_length = 100, pattern = r"\S")]
    pub application: Option<String>,
    /// attach: the credit line's id.
    pub credit_line: Option<SubjectId>,
    /// mark_sent: the invoice's number or reference.
    #[schema(max_length = 200, pattern = r"\S")]
    pub invoice_reference: Option<String>,
    /// The task version acted on (or send If-Match).
    pub version: Option<i64>,
}

impl From<ResolveError> for ApiError {
    fn from(e: ResolveError) -> ApiError {
        let e = match e {
            ResolveError::Store(s) => return Failure::from(s).into(),
            ResolveError::Service(s) => return service(s),
            other => other,
        };
        let status = match &e {
            ResolveError::NotFound(_) => StatusCode::NOT_FOUND,
            ResolveError::Closed(..) | ResolveError::ClaimedByOther { .. } | ResolveError::Obsolete(..) => {
                StatusCode::CONFLICT
            }
            ResolveError::WrongAction { .. } | ResolveError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ResolveError::Forbidden(_) => StatusCode::FORBIDDEN,
            ResolveError::Replay(ActionError::KeyReused(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            ResolveError::Replay(ActionError::InProgress(_)) => StatusCode::CONFLICT,
            ResolveError::Replay(ActionError::Store(_)) | ResolveError::Service(_) | ResolveError::Store(_) => {
                tracing::error!(error = %e, "task action failed");
                return ApiError::internal();
            }
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

fn optional(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    if let Some(v) = &value {
        text(field, v, max)?;
    }
    Ok(value)
}

fn required(field: &str, value: Option<String>, max: usize) -> Result<String, ApiError> {
    optional(field, value, max)?.ok_or_else(|| invalid(field, "required for this action"))
}

/// The service's action from the body: each action's fields, checked.
pub fn action(b: ResolveBody) -> Result<TaskAction, ApiError> {
    let note = optional("note", b.note, 2000)?;
    Ok(match b.action {
        ActionName::Approve => TaskAction::Approve { note },
        ActionName::Decline => TaskAction::Decline { reason: required("reason", b.reason, 2000)? },
        ActionName::RequestInfo => TaskAction::RequestInfo { message: required("message", b.message, 2000)? },
        ActionName::Confirm => TaskAction::Confirm { note },
        ActionName::Reject => TaskAction::Reject { note: required("note", note, 2000)? },
        ActionName::Attach => TaskAction::Attach {
            application: optional("application", b.application, 100)?,
            credit_line: b.credit_line,
            note,
        },
        ActionName::MarkSent => TaskAction::MarkSent {
            note: required("note", note, 2000)?,
            invoice_reference: optional("invoice_reference", b.invoice_reference, 200)?,
        },
        ActionName::Retry => TaskAction::Retry { note },
        ActionName::Close => TaskAction::Close { note: required("note", note, 2000)? },
    })
}

/// Finish a task: see `ResolveBody` for the actions each task kind takes.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/resolve", tag = "tasks",
    params(("id" = String, Path, format = Uuid, description = "Task id"),
           ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"?[0-9]+"?$"#, description = "The task version acted on"),
           ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,200}$", description = "Retries with the same key get the first answer")),
    request_body = ResolveBody,
    responses((status = 200, body = TaskActed, description = "Done, or a first approval recorded"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem),
              (status = 409, body = Problem, description = "Closed, claimed by another, changed since read, or `task_obsolete`: its subject moved on and the task was closed"),
              (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn resolve(State(app): State<Arc<App>>, m: Mutation) -> Result<Response, ApiError> {
    m.caller.require(DECIDERS)?;
    let id: TaskId = m.id()?;
    let b: ResolveBody = m.json()?;
    let expected = m.expected(b.version)?;
    let action = action(b)?;
    let key = m.idempotency_key()?;
    let actor = m.actor(app.workflow.clock().now());
    let outcome = task_actions::resolve(&app, &actor, id, expected, action, key.as_ref()).await?;
    Ok(respond(outcome))
}

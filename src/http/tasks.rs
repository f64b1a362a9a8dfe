//! The reviewer task queue: list (filters, cursor pagination, oldest first, age against the
//! SLA), one task with everything about its application, claim and release.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::Caller;
use super::error::{ApiError, Problem};
use super::records::limit;
use super::request::{PathId, RequestId, if_match, query};
use crate::app::App;
use crate::domain::TaskId;
use crate::services::Failure;
use crate::services::task_view::{self, TaskItem, TaskView, item};
use crate::services::tasks::{self, Actor, REVIEWERS, TaskError, created_before};
use crate::services::views::{self, Page, TaskFilter, TaskRecord};

/// This area's routes, each declared once: its `#[utoipa::path]` gives both the route and
/// its entry in the OpenAPI document.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(view)).routes(routes!(claim)).routes(routes!(release))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// e.g. `application_review`, `triage`, `invoice_request`.
    kind: Option<String>,
    /// `open` by default; `all` for every state.
    state: Option<String>,
    assignee: Option<String>,
    /// Only tasks at least this old.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_f64)]
    older_than_hours: Option<u32>,
    /// The `next_cursor` of the previous page.
    after: Option<TaskId>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

impl From<TaskError> for ApiError {
    fn from(e: TaskError) -> ApiError {
        match e {
            TaskError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            TaskError::Closed(..) => ApiError::new(StatusCode::CONFLICT, "task_closed", e.to_string()),
            TaskError::ClaimedByOther { .. } => ApiError::new(StatusCode::CONFLICT, "already_claimed", e.to_string()),
            TaskError::NotClaimed(_) => ApiError::new(StatusCode::CONFLICT, "not_claimed", e.to_string()),
            TaskError::NotAssignee(_) => ApiError::new(StatusCode::FORBIDDEN, "not_assignee", e.to_string()),
            TaskError::Store(e) => Failure::from(e).into(),
        }
    }
}

/// Every write answers the task with its version as the ETag (for the next If-Match).
fn with_etag<T: Serialize>(task: &TaskRecord, body: T) -> Response {
    let mut r = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", task.version)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", operation_id = "list_tasks", params(ListQuery),
    responses((status = 200, body = Page<TaskItem>, description = "Oldest first"), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<TaskItem>>, ApiError> {
    caller.require(REVIEWERS)?;
    let q = query(q)?;
    let limit = limit(q.limit, 50, 500)?;
    let now = app.workflow.clock().now();
    let state = match q.state.as_deref() {
        None => Some("open".to_string()),
        Some("all") => None,
        Some(s) => Some(s.to_string()),
    };
    let filter = TaskFilter {
        kind: q.kind,
        state,
        assignee: q.assignee,
        created_before: q.older_than_hours.map(|h| created_before(now, h)),
        after: q.after,
        limit,
    };
    let tasks = views::tasks(&app, filter).await?;
    let sla = app.config.task_sla_hours;
    Ok(Json(Page { items: tasks.items.iter().map(|t| item(t, now, sla)).collect(), next_cursor: tasks.next_cursor }))
}

/// One task with its application (extracted materials with provenance, rule decisions,
/// evidence, the email thread) and the application's event history.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, format = Uuid, description = "Task id")),
    responses((status = 200, body = TaskView, headers(("ETag" = String, description = "The task version"))),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn view(State(app): State<Arc<App>>, caller: Caller, id: PathId<TaskId>) -> Result<Response, ApiError> {
    caller.require(REVIEWERS)?;
    let id = id.get()?;
    let view = task_view::view(&app, id).await.map_err(ApiError::from)?;
    let view = view.ok_or_else(|| ApiError::from(TaskError::NotFound(id)))?;
    Ok(with_etag(&view.task.task.clone(), view))
}

#[derive(Debug, Clone, Copy)]
enum Assignment {
    Claim,
    Release,
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/claim", tag = "tasks",
    params(("id" = String, Path, format = Uuid, description = "Task id"),
           ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"?[0-9]+"?$"#, description = "The task version seen")),
    responses((status = 200, body = TaskItem, headers(("ETag" = String, description = "The new task version"))),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn claim(
    State(app): State<Arc<App>>,
    caller: Caller,
    request: RequestId,
    headers: HeaderMap,
    id: PathId<TaskId>,
) -> Result<Response, ApiError> {
    assign(&app, &caller, &request, &headers, id, Assignment::Claim).await
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/release", tag = "tasks",
    params(("id" = String, Path, format = Uuid, description = "Task id"),
           ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"?[0-9]+"?$"#, description = "The task version seen")),
    responses((status = 200, body = TaskItem, headers(("ETag" = String, description = "The new task version"))),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn release(
    State(app): State<Arc<App>>,
    caller: Caller,
    request: RequestId,
    headers: HeaderMap,
    id: PathId<TaskId>,
) -> Result<Response, ApiError> {
    assign(&app, &caller, &request, &headers, id, Assignment::Release).await
}

/// Claim and release share everything but the service call.
async fn assign(
    app: &App,
    caller: &Caller,
    request: &RequestId,
    headers: &HeaderMap,
    id: PathId<TaskId>,
    change: Assignment,
) -> Result<Response, ApiError> {
    caller.require(REVIEWERS)?;
    let id = id.get()?;
    let expected = if_match(headers)?;
    let actor = Actor { caller, request_id: &request.0, now: app.workflow.clock().now() };
    let task = match change {
        Assignment::Claim => tasks::claim(app, &actor, id, expected).await?,
        Assignment::Release => tasks::release(app, &actor, id, expected).await?,
    };
    Ok(with_etag(&task, item(&task, actor.now, app.config.task_sla_hours)))
}

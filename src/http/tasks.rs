//! The reviewer task queue: list (filters, cursor pagination, oldest first, age against the
//! SLA), one task with everything about its application, claim and release.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::error::ApiError;
use super::request::{RequestId, if_match, query};
use crate::app::App;
use crate::domain::{ApplicationId, Role, TaskId};
use crate::services::tasks::{self, Actor, TaskError};
use crate::services::views;
use crate::store::{TaskFilter, TaskRecord};

const REVIEWERS: &[Role] = &[Role::Reviewer, Role::SeniorReviewer, Role::Admin];

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/tasks", get(list))
        .route("/api/v1/tasks/{id}", get(view))
        .route("/api/v1/tasks/{id}/claim", post(claim))
        .route("/api/v1/tasks/{id}/release", post(release))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    kind: Option<String>,
    /// `open` by default; `all` for every state.
    state: Option<String>,
    assignee: Option<String>,
    /// Only tasks at least this old.
    older_than_hours: Option<u32>,
    /// The `next_cursor` of the previous page.
    after: Option<TaskId>,
    /// 1 to 500, default 50.
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
            TaskError::Store(e) => e.into(),
        }
    }
}

fn task_id(raw: &str) -> Result<TaskId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", format!("id: {raw:?} is not a task id")))
}

/// A task as the API shows it: its fields plus its age against the SLA.
fn item(task: &TaskRecord, now: DateTime<Utc>, sla_hours: u32) -> Value {
    let age = (now - task.created_at).num_seconds().max(0);
    let sla = i64::from(sla_hours) * 3600;
    let mut v = serde_json::to_value(task).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("age_seconds".into(), json!(age));
        o.insert("sla_seconds".into(), json!(sla));
        o.insert("overdue".into(), json!(age > sla));
    }
    v
}

/// Every write answers the task with its version as the ETag (for the next If-Match).
fn with_etag(task: &TaskRecord, body: Value) -> Response {
    let mut r = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", task.version)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(REVIEWERS)?;
    let q = query(q)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "limit: must be from 1 to 500"));
    }
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
        created_before: q.older_than_hours.map(|h| now - chrono::Duration::hours(i64::from(h))),
        after: q.after,
        limit: limit + 1,
    };
    let mut tasks = app.store.list_tasks(&filter).await?;
    let more = tasks.len() as i64 > limit;
    tasks.truncate(limit as usize);
    let next = if more { tasks.last().map(|t| t.id.to_string()) } else { None };
    let sla = app.config.task_sla_hours;
    Ok(Json(json!({
        "items": tasks.iter().map(|t| item(t, now, sla)).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// One task with its application (extracted materials with provenance, rule decisions,
/// evidence, the email thread) and the application's event history.
async fn view(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(REVIEWERS)?;
    let id = task_id(&id)?;
    let task = app.store.task(id).await?.ok_or_else(|| ApiError::from(TaskError::NotFound(id)))?;
    let now = app.workflow.clock().now();
    let mut body = json!({ "task": item(&task, now, app.config.task_sla_hours), "application": null, "events": [] });
    let application = match task.subject_id {
        Some(s) => app.store.application(ApplicationId(s.0)).await?,
        None => None,
    };
    if let Some(a) = application {
        body["application"] = views::application(app.store.as_ref(), &a).await?;
        body["events"] = serde_json::to_value(app.store.events(a.id.into()).await?).unwrap_or_default();
    }
    Ok(with_etag(&task, body))
}

#[derive(Debug, Clone, Copy)]
enum Assignment {
    Claim,
    Release,
}

async fn claim(
    State(app): State<Arc<App>>,
    caller: Caller,
    request: RequestId,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    assign(&app, &caller, &request, &headers, &id, Assignment::Claim).await
}

async fn release(
    State(app): State<Arc<App>>,
    caller: Caller,
    request: RequestId,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    assign(&app, &caller, &request, &headers, &id, Assignment::Release).await
}

/// Claim and release share everything but the service call.
async fn assign(
    app: &App,
    caller: &Caller,
    request: &RequestId,
    headers: &HeaderMap,
    id: &str,
    change: Assignment,
) -> Result<Response, ApiError> {
    caller.require(REVIEWERS)?;
    let id = task_id(id)?;
    let expected = if_match(headers)?;
    let actor = Actor { caller, request_id: &request.0, now: app.workflow.clock().now() };
    let task = match change {
        Assignment::Claim => tasks::claim(app.store.as_ref(), &actor, id, expected).await?,
        Assignment::Release => tasks::release(app.store.as_ref(), &actor, id, expected).await?,
    };
    Ok(with_etag(&task, item(&task, actor.now, app.config.task_sla_hours)))
}

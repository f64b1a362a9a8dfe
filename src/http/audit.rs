//! `GET /api/v1/audit`: every API mutation with actor, action, target, versions, request id.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::error::ApiError;
use super::request::query;
use crate::app::App;
use crate::domain::Role;
use crate::store::AuditFilter;

pub fn router() -> Router<Arc<App>> {
    Router::new().route("/api/v1/audit", get(list))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    /// e.g. `task:<id>`.
    target: Option<String>,
    after: Option<uuid::Uuid>,
    limit: Option<i64>,
}

async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::SeniorReviewer, Role::Admin])?;
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "limit: must be from 1 to 1000"));
    }
    let filter = AuditFilter { actor: q.actor, action: q.action, target: q.target, after: q.after, limit: limit + 1 };
    let mut entries = app.store.list_audit(&filter).await?;
    let more = entries.len() as i64 > limit;
    entries.truncate(limit as usize);
    let next = if more { entries.last().map(|e| e.id.to_string()) } else { None };
    Ok(Json(json!({ "items": entries, "next_cursor": next })))
}

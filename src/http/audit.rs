//! `GET /api/v1/audit`: every API mutation with actor, action, target, versions, request id.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::Caller;
use super::error::{ApiError, Problem};
use super::records::limit;
use super::request::query;
use crate::app::App;
use crate::domain::Role;
use crate::services::views::{self, AuditFilter, AuditRecord, Page};

/// This area's routes, each declared once: its `#[utoipa::path]` gives both the route and
/// its entry in the OpenAPI document.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    /// e.g. `task:<id>`.
    target: Option<String>,
    /// The `next_cursor` of the previous page.
    after: Option<uuid::Uuid>,
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", operation_id = "list_audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditRecord>, description = "Oldest first"), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Page<AuditRecord>>, ApiError> {
    caller.require(&[Role::SeniorReviewer, Role::Admin])?;
    let q = query(q)?;
    let limit = limit(q.limit, 100, 1000)?;
    let filter = AuditFilter { actor: q.actor, action: q.action, target: q.target, after: q.after, limit };
    Ok(Json(views::audit(&app, filter).await?))
}

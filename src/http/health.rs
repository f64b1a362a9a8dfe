//! Liveness and readiness for load balancers and orchestrators, and Prometheus metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;

/// This area's routes, each declared once: its `#[utoipa::path]` gives both the route and
/// its entry in the OpenAPI document.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz)).routes(routes!(metrics))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// ok, ready or unavailable.
    pub status: &'static str,
    /// sqlite or postgres (readiness only).
    pub database: Option<&'static str>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok", database: None })
}

/// The process can do its work: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn readyz(State(app): State<Arc<App>>) -> (StatusCode, Json<Health>) {
    let database = Some(app.backend());
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(Health { status: "ready", database })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "unavailable", database }))
        }
    }
}

/// Prometheus text format: jobs done, failed and retried per kind, emails sent and failed
/// (this process), and the email queue depth per status (the whole database).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String),
              (status = 503, description = "The database does not answer", content_type = "text/plain", body = String)))]
async fn metrics(State(app): State<Arc<App>>) -> (StatusCode, [(axum::http::HeaderName, &'static str); 1], String) {
    let content_type = (axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    match app.store.outbox_counts().await {
        Ok(depth) => (StatusCode::OK, [content_type], app.metrics.render(&depth)),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: queue depth unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, [content_type], "# database unavailable\n".to_string())
        }
    }
}

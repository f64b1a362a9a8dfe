//! The HTTP adapter (axum). Each area gets its own module with a `router()` that declares
//! each route once (utoipa-axum): the served routes and the OpenAPI document come from it.

mod admin;
mod audit;
mod auth;
mod decisions;
pub mod error;
mod health;
mod inbox;
mod invoices;
mod openapi;
mod records;
mod request;
mod task_actions;
mod tasks;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use crate::app::App;

/// Every area's routes in one router, and the OpenAPI document made from the same
/// declarations (so a route cannot be served without being documented, or the reverse).
fn api() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .merge(health::router())
        .merge(inbox::router())
        .merge(admin::router())
        .merge(tasks::router())
        .merge(decisions::router())
        .merge(task_actions::router())
        .merge(audit::router())
        .merge(records::router())
        .merge(webhooks::router())
        .merge(invoices::router())
        .merge(openapi::router())
}

pub fn router(app: Arc<App>) -> Router {
    let (routes, _) = api().split_for_parts();
    routes
        // The reviewer console: HTML pages, outside the API's document.
        .nest("/console", crate::console::router())
        // Errors are problem+json everywhere, not only in the handlers: an unknown path and a
        // method a path does not take (axum keeps the Allow header on the 405).
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

async fn not_found() -> error::ApiError {
    error::ApiError::new(axum::http::StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> error::ApiError {
    error::ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take this method",
    )
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app)).with_graceful_shutdown(shutdown).await
}

//! The HTTP adapter (axum). Each area gets its own module with a `router()`.

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

use crate::app::App;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
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

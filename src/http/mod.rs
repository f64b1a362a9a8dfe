//! The HTTP adapter (axum). Each area gets its own module with a `router()`.

mod admin;
mod audit;
mod auth;
pub mod error;
mod health;
mod inbox;
mod request;
mod tasks;

use std::sync::Arc;

use axum::Router;

use crate::app::App;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .merge(health::router())
        .merge(inbox::router())
        .merge(admin::router())
        .merge(tasks::router())
        .merge(audit::router())
        .with_state(app)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app)).with_graceful_shutdown(shutdown).await
}

//! The reviewer console: server-rendered pages under `/console`, the third adapter on the
//! same services as the API and the CLI. Every page works without JavaScript; every form
//! carries the session's CSRF token; the services decide what a role may do (the pages only
//! hide what it may not). The templates and the stylesheet are compiled into the binary.

mod chart;
mod decide;
mod evidence;
mod overview;
mod page;
mod policy;
mod queue;
mod records;
mod session;
mod task;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::app::App;

pub use page::ConsoleError;

/// The console's routes, nested under `/console` by the HTTP adapter.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/queue") }))
        .route("/sign-in", get(session::sign_in_page).post(session::sign_in))
        .route("/sign-out", post(session::sign_out))
        .route("/queue", get(queue::queue))
        .route("/queue/next", post(queue::next))
        .route("/tasks/{id}", get(task::task))
        .route("/tasks/{id}/claim", post(queue::claim))
        .route("/tasks/{id}/release", post(queue::release))
        .route("/tasks/{id}/act", post(decide::act))
        .route("/tasks/{id}/notes", post(task::add_note))
        .route("/applications/{id}/messages/{sha256}/attachments/{position}", get(evidence::attachment))
        .route("/search", get(records::search))
        .route("/accounts/{email}", get(records::account))
        .route("/lines", get(records::lines))
        .route("/lines/{id}", get(records::line))
        .route("/lines/{id}/notes", post(task::add_line_note))
        .route("/audit", get(records::audit))
        .route("/dashboard", get(overview::dashboard))
        .route("/workflows", get(overview::workflows))
        .route("/rules", get(policy::versions))
        .route("/rules/analytics", get(policy::analytics))
        .route("/rules/{id}", get(policy::version))
        .route("/rules/{id}/act", post(policy::act))
        .route("/link/{key}", get(session::link_page).post(session::link_sign_in))
        .route("/console.css", get(stylesheet))
        .route("/console.js", get(shortcuts))
        .fallback(|| async { ConsoleError::NotFound("no such page".into()) })
        .layer(axum::middleware::map_response(security_headers))
}

/// What every console answer carries: no inline script or style, no framing, no sniffing,
/// nothing cached (the pages show applicants' data), no referrer to other hosts.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        // A handler's own stricter policy (an attachment's sandbox) stays.
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}

/// The keyboard shortcuts: the console's one script, which the pages work without.
async fn shortcuts() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../templates/console/console.js"))
}

async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../../templates/console/console.css"))
}

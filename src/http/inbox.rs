//! `POST /api/v1/inbox/messages`: a mail gateway hands over one raw message (RFC 5322 bytes
//! as the body) and gets the same report `creditline ingest --json` prints.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};

use super::auth::Caller;
use super::error::ApiError;
use crate::app::App;
use crate::domain::Role;
use crate::intake::{self, Report, mail::MAX_MESSAGE_BYTES};

const ROLES: &[Role] = &[Role::Inbox, Role::Admin];

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/inbox/messages", post(post_message))
        // Room for a message just over the limit, so it is recorded as `rejected` rather than
        // refused unseen; anything larger gets 413.
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES + 1024 * 1024))
}

/// 201 with the report for a new message; 200 with a `duplicate` report for one seen before.
async fn post_message(
    State(app): State<Arc<App>>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Report>), ApiError> {
    caller.require(ROLES)?;
    if body.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "empty_message", "the body must be the raw message"));
    }
    let source = format!("api:{}", caller.name);
    let report = intake::ingest(&app, &source, &body).await?;
    let status = if report.outcome == intake::outcome::DUPLICATE { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(report)))
}

//! `POST /api/v1/inbox/messages`: a mail gateway hands over one raw message (RFC 5322 bytes
//! as the body) and gets the same report `creditline ingest --json` prints.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::Caller;
use super::error::{ApiError, Problem};
use crate::app::App;
use crate::domain::Role;
use crate::intake::mail::MAX_MESSAGE_BYTES;
use crate::services::Failure;
use crate::services::inbound::{self, Report};

const ROLES: &[Role] = &[Role::Inbox, Role::Admin];

/// This area's routes, each declared once: its `#[utoipa::path]` gives both the route and
/// its entry in the OpenAPI document.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(post_message))
        // Room for a message just over the limit, so it is recorded as `rejected` rather than
        // refused unseen; anything larger gets 413.
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES + 1024 * 1024))
}

/// The request body: the message's bytes as they are (a binary string, not JSON).
struct RawMessage;

impl utoipa::PartialSchema for RawMessage {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for RawMessage {}

/// 201 with the report for a new message; 200 with a `duplicate` report for one seen before.
#[utoipa::path(post, path = "/api/v1/inbox/messages", tag = "inbox",
    request_body(content = inline(RawMessage), content_type = "message/rfc822", description = "One raw RFC 5322 message, at most 25 MiB"),
    responses((status = 201, body = Report, description = "A new message, processed"),
              (status = 200, body = Report, description = "A message seen before (outcome duplicate)"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 413, body = Problem)),
    security(("bearer" = [])))]
async fn post_message(
    State(app): State<Arc<App>>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Report>), ApiError> {
    caller.require(ROLES)?;
    let body = super::request::body(body)?;
    if body.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "empty_message", "the body must be the raw message"));
    }
    let source = format!("api:{}", caller.name);
    let report = inbound::ingest(&app, &source, &body).await.map_err(Failure::from)?;
    let status = if report.outcome == inbound::outcome::DUPLICATE { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(report)))
}

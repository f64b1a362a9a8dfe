//! Per-request helpers shared by the areas: the request id (for the audit log and the logs),
//! query and body parsing that answers problem+json naming the field, and `If-Match`.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::app::App;

/// `X-Request-Id` when the caller sent a sensible one, else a new UUID.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl FromRequestParts<Arc<App>> for RequestId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &Arc<App>) -> Result<RequestId, ApiError> {
        let given = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 100 && v.chars().all(|c| c.is_ascii_graphic()));
        Ok(RequestId(given.map(str::to_string).unwrap_or_else(|| uuid::Uuid::now_v7().to_string())))
    }
}

/// The query string parsed into `T`, or a 400 that says which parameter is wrong.
pub fn query<T: DeserializeOwned>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
}

/// The version an `If-Match` header names (`"3"`, `3` or `W/"3"`), if any.
pub fn if_match(parts: &axum::http::HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = parts.get(axum::http::header::IF_MATCH) else { return Ok(None) };
    let text = v.to_str().unwrap_or_default().trim().trim_start_matches("W/").trim_matches('"');
    text.parse().map(Some).map_err(|_| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_if_match", "If-Match must name a version, e.g. \"3\"")
    })
}

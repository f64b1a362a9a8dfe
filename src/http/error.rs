//! One error type for every endpoint, answered as `application/problem+json` (RFC 9457) with a
//! stable `code`. Internal detail goes to the log, never into the response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::services::access::AccessError;
use crate::services::{Failure, FailureKind};

/// The body of every error answer (RFC 9457 problem details).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem kind.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable and machine-readable, e.g. `version_conflict`.
    pub code: String,
    /// What went wrong, naming the field when a field is wrong.
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, machine-readable: clients switch on this, not on the text.
    pub code: &'static str,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError { status, code, detail: detail.into() }
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "a valid bearer token is required")
    }

    pub fn forbidden(allowed: &[crate::domain::Role]) -> ApiError {
        let roles: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this endpoint is for the roles: {}", roles.join(", ")),
        )
    }

    /// 409 `version_conflict`: another writer moved the resource first.
    pub fn conflict() -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "version_conflict", "the resource changed; reload and retry")
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn internal() -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the request could not be completed; it is logged")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("https://creditline.dev/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_string(),
            status: self.status.as_u16(),
            code: self.code.to_string(),
            detail: self.detail,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The one mapping of a storage failure, whichever service it came through.
impl From<Failure> for ApiError {
    fn from(e: Failure) -> ApiError {
        match e.kind() {
            FailureKind::Conflict => ApiError::conflict(),
            FailureKind::NotFound(what) => ApiError::not_found(format!("not found: {what}")),
            FailureKind::Internal => {
                tracing::error!(error = %e, "store error");
                ApiError::internal()
            }
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> ApiError {
        match e {
            AccessError::Unauthenticated => ApiError::unauthenticated(),
            AccessError::Store(e) => Failure::from(e).into(),
            e => {
                tracing::error!(error = %e, "access error");
                ApiError::internal()
            }
        }
    }
}

//! Per-request helpers shared by the areas: the request id (for the audit log and the logs),
//! query and body parsing that answers problem+json naming the field, and `If-Match`.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::auth::Caller;
use super::error::ApiError;
use crate::app::App;
use crate::domain::{SubjectId, TaskId};
use crate::services::views::ApplicationKey;

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

/// The path parameter, or a problem+json answer with `code` when it cannot be read (e.g. it is
/// not UTF-8 once percent-decoded): axum's own rejection is plain text.
pub fn path(p: Result<Path<String>, PathRejection>, code: &'static str) -> Result<String, ApiError> {
    p.map(|Path(t)| t).map_err(|e| ApiError::new(e.status(), code, e.body_text()))
}

/// The version an `If-Match` header names (`"3"`, `3` or `W/"3"`), if any.
pub fn if_match(parts: &axum::http::HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = parts.get(axum::http::header::IF_MATCH) else { return Ok(None) };
    let text = v.to_str().unwrap_or_default().trim().trim_start_matches("W/").trim_matches('"');
    text.parse().map(Some).map_err(|_| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_if_match", "If-Match must name a version, e.g. \"3\"")
    })
}

/// JSON request bodies are small: a decision, an event. Anything larger is refused (413).
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// A JSON body parsed into `T`: 415 unless it is JSON, 400 naming the field that is wrong.
fn json_body<T: DeserializeOwned>(headers: &axum::http::HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be application/json",
        ));
    }
    // PostgreSQL cannot store NUL in text or JSONB; no field of ours has a use for it, so it
    // is refused here, the same on both backends, rather than failing deep in a write.
    if body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "NUL characters (\\u0000) are not accepted",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = parsed.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let detail = if path == "." { inner.to_string() } else { format!("{path}: {inner}") };
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", detail)
    })?;
    de.end().map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.to_string()))?;
    Ok(value)
}

/// The `Idempotency-Key` header, bound to this request's method, path and body: the same
/// key with another request is refused rather than answered with the wrong response.
fn idempotency_key(
    headers: &axum::http::HeaderMap,
    method: &axum::http::Method,
    path: &str,
    body: &[u8],
) -> Result<Option<crate::services::actions::IdempotencyKey>, ApiError> {
    use sha2::{Digest, Sha256};
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let key = v.to_str().ok().filter(|k| !k.is_empty() && k.len() <= 200 && k.chars().all(|c| c.is_ascii_graphic()));
    let Some(key) = key else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Idempotency-Key: 1 to 200 visible ASCII characters",
        ));
    };
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    Ok(Some(crate::services::actions::IdempotencyKey { key: key.to_string(), request_hash: hex::encode(h.finalize()) }))
}

/// Validation beyond the types: a 422 naming the field.
pub fn invalid(field: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", format!("{field}: {problem}"))
}

/// A required text of at most `max` characters, not blank.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be blank"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, format!("at most {max} characters")));
    }
    Ok(())
}

/// The version to expect: `If-Match` or the body's `version`; both must agree when both
/// are given.
fn expected_version(headers: &axum::http::HeaderMap, body: Option<i64>) -> Result<Option<i64>, ApiError> {
    match (if_match(headers)?, body) {
        (Some(h), Some(b)) if h != b => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "version_mismatch",
            format!("If-Match names version {h} but version is {b}"),
        )),
        (h, b) => Ok(h.or(b)),
    }
}

/// The raw body, or a problem+json answer when it is over the route's size limit.
pub fn body(
    b: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::body::Bytes, ApiError> {
    b.map_err(|e| {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "body_too_large" } else { "invalid_body" };
        ApiError::new(status, code, e.body_text())
    })
}

/// The one way an id in a path is read: 400 `invalid_id` naming the field and what it is not.
fn parse_id<T: std::str::FromStr>(field: &str, raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", format!("{field}: {raw:?} is not {what}")))
}

/// What the API takes as the id in a path: its parameter's name and what an error calls it
/// ("id: \"x\" is not a task id").
pub trait PathParam: std::str::FromStr {
    const FIELD: &'static str = "id";
    const WHAT: &'static str;
}

impl PathParam for TaskId {
    const WHAT: &'static str = "a task id";
}

/// A workflow instance: a credit line, an application, an increase, ...
impl PathParam for SubjectId {
    const WHAT: &'static str = "an id";
}

/// An application's id or its reference (`CL-…`).
impl PathParam for ApplicationKey {
    const WHAT: &'static str = "an id";
}

/// The id in a request's path, read when the handler asks for it ([`PathId::get`]): after
/// the handler has checked the caller's role, so a caller without the role gets 403 whatever
/// the id, as with [`Mutation::id`].
pub struct PathId<T> {
    raw: Result<String, ApiError>,
    id: std::marker::PhantomData<fn() -> T>,
}

impl<T: PathParam> FromRequestParts<Arc<App>> for PathId<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<PathId<T>, Self::Rejection> {
        let raw = path(Path::<String>::from_request_parts(parts, app).await, "invalid_id");
        Ok(PathId { raw, id: std::marker::PhantomData })
    }
}

impl<T: PathParam> PathId<T> {
    /// The id, or 400 `invalid_id` naming the parameter (problem+json, as every error).
    pub fn get(&self) -> Result<T, ApiError> {
        parse_id(T::FIELD, self.raw.as_ref().map_err(Clone::clone)?, T::WHAT)
    }

    /// The id as the path gave it, for messages that quote it.
    pub fn as_given(&self) -> &str {
        self.raw.as_deref().unwrap_or_default()
    }
}

/// What every mutation (a `POST` on `/api/v1/.../{id}/...`) shares, read once: the caller
/// (401 here, before anything else), the request id, the method, path and headers, the path's
/// id and the raw body. The id and the body are checked when the handler asks for them,
/// after it has checked the caller's role (403), so a caller without the role learns nothing
/// from the answer about ids or bodies. The body stays raw because the `Idempotency-Key` is
/// bound to it byte for byte.
pub struct Mutation {
    pub caller: Caller,
    pub request_id: RequestId,
    method: axum::http::Method,
    path: String,
    headers: axum::http::HeaderMap,
    id: Result<String, ApiError>,
    body: Result<axum::body::Bytes, ApiError>,
}

impl axum::extract::FromRequest<Arc<App>> for Mutation {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, app: &Arc<App>) -> Result<Mutation, ApiError> {
        let (mut parts, body) = req.into_parts();
        let caller = Caller::from_request_parts(&mut parts, app).await?;
        let request_id = RequestId::from_request_parts(&mut parts, app).await?;
        let id = path(Path::<String>::from_request_parts(&mut parts, app).await, "invalid_id");
        let (method, path, headers) = (parts.method.clone(), parts.uri.path().to_string(), parts.headers.clone());
        // Through `Bytes` so the route's `DefaultBodyLimit` holds (413 when over it).
        let bytes = axum::body::Bytes::from_request(axum::extract::Request::from_parts(parts, body), app).await;
        Ok(Mutation { caller, request_id, method, path, headers, id, body: self::body(bytes) })
    }
}

impl Mutation {
    /// The path's id, parsed as `T` as every id in a path is ([`PathParam`]).
    pub fn id<T: PathParam>(&self) -> Result<T, ApiError> {
        parse_id(T::FIELD, self.id.as_ref().map_err(Clone::clone)?, T::WHAT)
    }

    /// The body, parsed as JSON into `T` (413, 415 or 400 naming the field).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        json_body(&self.headers, self.body.as_ref().map_err(Clone::clone)?)
    }

    /// The version to expect: `If-Match` or the body's `version`, which must agree.
    pub fn expected(&self, in_body: Option<i64>) -> Result<Option<i64>, ApiError> {
        expected_version(&self.headers, in_body)
    }

    /// The `Idempotency-Key`, bound to this request's method, path and body.
    pub fn idempotency_key(&self) -> Result<Option<crate::services::actions::IdempotencyKey>, ApiError> {
        let body = self.body.as_ref().map_err(Clone::clone)?;
        idempotency_key(&self.headers, &self.method, &self.path, body)
    }

    /// Who acts, for the services: the caller, this request's id and `now`.
    pub fn actor(&self, now: chrono::DateTime<chrono::Utc>) -> crate::services::actions::Actor<'_> {
        crate::services::actions::Actor { caller: &self.caller, request_id: &self.request_id.0, now }
    }
}

//! Admin operations over HTTP: reloading the rules without a restart (as SIGHUP does), and
//! posting a workflow event by hand (a payment confirmed by bank transfer) through the
//! same engine, audit log and idempotency as every other change.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::Caller;
use super::decisions::{respond, service};
use super::error::{ApiError, Problem};
use super::request::{MAX_JSON_BODY, Mutation, text};
use crate::app::App;
use crate::domain::{Role, SubjectId};
use crate::services::Failure;
use crate::services::actions::{self, ActionError, EventError, EventPosted, ManualEvent};

/// This area's routes, each declared once: its `#[utoipa::path]` gives both the route and
/// its entry in the OpenAPI document.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(reload_rules))
        .routes(routes!(post_event))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
}

/// The rules in force after a reload: each rule's name and SHA-256.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadResponse {
    pub rules: BTreeMap<String, String>,
}

/// Recompiles `rules/`. 200 with each rule's new version; 422 with the compile errors when the
/// new version is rejected (the rules in force stay).
#[utoipa::path(post, path = "/api/v1/admin/rules/reload", tag = "admin",
    responses((status = 200, body = ReloadResponse), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn reload_rules(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<ReloadResponse>, ApiError> {
    caller.require(&[Role::Admin])?;
    if !app.config.rules.from_folder {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "rules_from_database",
            "rules.from_folder is off: the rules change only by a proposal that another admin or senior reviewer \
             approves (creditline rules propose, then rules approve)",
        ));
    }
    let reloading = app.clone();
    // Compiling is CPU work: keep it off the async workers.
    let result = tokio::task::spawn_blocking(move || reloading.reload_rules()).await.map_err(|e| {
        tracing::error!(error = %e, "rules reload task failed");
        ApiError::internal()
    })?;
    match result {
        Ok(versions) => {
            tracing::info!(actor = %caller.name, "rules reloaded through the API");
            let rules: BTreeMap<String, String> = versions.into_iter().collect();
            Ok(Json(ReloadResponse { rules }))
        }
        Err(errors) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rules_rejected",
            format!("the new rules do not compile; the previous rules stay in force: {}", errors.join("; ")),
        )),
    }
}

/// An event to post on a workflow instance by hand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// An event the instance's workflow defines from its current state, e.g.
    /// `payment_confirmed` on a paused credit line.
    #[schema(max_length = 100, pattern = r"\S")]
    pub event: String,
    /// Why, for the history (required: a hand-posted event always says why).
    #[schema(max_length = 1000, pattern = r"\S")]
    pub reason: String,
    /// The instance version this was decided on (or send If-Match).
    pub version: Option<i64>,
    /// Only `message`: a note for the applicant, shown in the step's email where it has a
    /// message. Any other key is refused (400 naming it): recipients, amounts and references
    /// come from the records.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Map<String, serde_json::Value>>,
}

impl From<EventError> for ApiError {
    fn from(e: EventError) -> ApiError {
        match e {
            EventError::NotFound(id) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no workflow instance {id}"))
            }
            e @ EventError::Data { .. } => ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.to_string()),
            e @ EventError::SystemEvent { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "system_event", e.to_string())
            }
            EventError::Action(ActionError::KeyReused(k)) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                format!("Idempotency-Key {k:?} was already used for a different request"),
            ),
            EventError::Action(e @ ActionError::InProgress(_)) => {
                ApiError::new(StatusCode::CONFLICT, e.code(), e.to_string())
            }
            EventError::Action(ActionError::Store(s)) | EventError::Store(s) => Failure::from(s).into(),
            EventError::Service(s) => service(s),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/admin/workflows/{id}/events", tag = "admin",
    params(("id" = String, Path, format = Uuid, description = "Workflow instance id (an application, credit line, ...)"),
           ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"?[0-9]+"?$"#, description = "The instance version decided on"),
           ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,200}$", description = "Retries with the same key get the first answer")),
    request_body = EventBody,
    responses((status = 200, body = EventPosted), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn post_event(State(app): State<Arc<App>>, m: Mutation) -> Result<Response, ApiError> {
    m.caller.require(&[Role::Admin])?;
    let subject: SubjectId = m.id()?;
    let b: EventBody = m.json()?;
    text("event", &b.event, 100)?;
    text("reason", &b.reason, 1000)?;
    let expected = m.expected(b.version)?;
    let key = m.idempotency_key()?;
    let actor = m.actor(app.workflow.clock().now());
    let event = ManualEvent {
        subject,
        event: b.event,
        reason: b.reason,
        expected_version: expected,
        data: b.data.unwrap_or_default(),
    };
    Ok(respond(actions::post_event(&app, &actor, event, key.as_ref()).await?))
}

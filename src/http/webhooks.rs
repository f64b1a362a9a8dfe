//! `POST /api/v1/webhooks/{provider}`: payment providers report payments here (and payments
//! pending, failed or canceled, and disputes). No bearer token: each request is authenticated
//! by the provider's signature over the raw body.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::error::{ApiError, Problem};
use crate::app::App;
use crate::payments::{WebhookError, providers};
use crate::services::payments::{self, PaymentError, WebhookOutcome};

/// Provider events are small; anything larger is not one.
const MAX_WEBHOOK_BODY: usize = 256 * 1024;

/// This area's routes, each declared once: its `#[utoipa::path]` gives both the route and
/// its entry in the OpenAPI document.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(receive)).layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
}

/// 200 once the event is handled (or was before: `duplicate`); providers retry anything else.
#[utoipa::path(post, path = "/api/v1/webhooks/{provider}", tag = "payments",
    params(("provider" = String, Path, description = "stripe (others plug in)")),
    request_body(content = inline(serde_json::Value), content_type = "application/json", description = "The provider's event, signed (Stripe: the Stripe-Signature header)"),
    responses((status = 200, body = WebhookOutcome),
              (status = 400, body = Problem, description = "Signed, but not an event that can be read (`bad_payload`: the detail names the field; ids and types must be short printable text), an amount that is not whole cents from $0.01 to `ledger.max_amount_cents` (`amount_out_of_range`), or a malformed path"),
              (status = 401, body = Problem, description = "Missing, stale or wrong signature"),
              (status = 404, body = Problem, description = "No such provider configured"),
              (status = 413, body = Problem),
              (status = 422, body = Problem, description = "The payment cannot be recorded, or a dispute names no payment or account known here")))]
async fn receive(
    State(app): State<Arc<App>>,
    provider: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookOutcome>, ApiError> {
    let provider = super::request::path(provider, "unknown_provider")?;
    let configured = providers(&app.config.payments);
    let Some(p) = configured.get(provider.as_str()) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_provider",
            format!("no payment provider {provider:?} is configured"),
        ));
    };
    let body = super::request::body(body)?;
    let event = p
        .verify(&headers, &body, app.workflow.clock().now())
        .and_then(|event| event.check(app.config.ledger.max_amount()).map(|()| event))
        .map_err(|e| match e {
            WebhookError::Signature(m) => ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", m),
            WebhookError::Payload(m) => ApiError::new(StatusCode::BAD_REQUEST, "bad_payload", m),
            WebhookError::Amount(m) => ApiError::new(StatusCode::BAD_REQUEST, "amount_out_of_range", m),
        })?;
    match payments::handle(&app, p.name(), event).await {
        Ok(outcome) => Ok(Json(outcome)),
        Err(PaymentError::Invalid(m)) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "payment_refused", m)),
        Err(PaymentError::Other(e)) => {
            tracing::error!(error = %e, "webhook");
            Err(ApiError::internal())
        }
    }
}

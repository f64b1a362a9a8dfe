//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document, generated from the handlers'
//! annotations and the types they read and write, so it cannot drift from the code.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::App;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "creditline",
        description = "Credit-line review: the support inbox, the reviewer task queue, decisions with \
                       four-eyes approval, applications, accounts, credit lines and the audit log. \
                       Errors are application/problem+json (RFC 9457) with a stable `code`.",
    ),
    tags(
        (name = "tasks", description = "The reviewer task queue"),
        (name = "decisions", description = "Approve, decline, defer, request information"),
        (name = "records", description = "Applications, accounts and credit lines"),
        (name = "audit", description = "Every API mutation"),
        (name = "admin", description = "Rules reload, hand-posted workflow events"),
        (name = "inbox", description = "Raw support-inbox messages"),
        (name = "payments", description = "Payment-provider webhooks, authenticated by their signatures"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

/// Bearer API tokens (`creditline tokens create --name NAME --role ROLE`).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// Every error answer is `application/problem+json` (see [`super::error::ApiError`]): the
/// handlers name `body = Problem` and this files each such response under that media type,
/// with the status's reason phrase as its description where the handler gave none.
struct ProblemJson;

const PROBLEM_REF: &str = "#/components/schemas/Problem";

impl Modify for ProblemJson {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, response) in operation.responses.responses.iter_mut() {
                    let RefOr::T(response) = response else { continue };
                    let is_problem = response
                        .content
                        .get("application/json")
                        .is_some_and(|c| matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location == PROBLEM_REF));
                    if is_problem && let Some(content) = response.content.shift_remove("application/json") {
                        response.content.insert("application/problem+json".to_string(), content);
                    }
                    if response.description.is_empty() {
                        let reason = status
                            .parse::<u16>()
                            .ok()
                            .and_then(|s| StatusCode::from_u16(s).ok())
                            .and_then(|s| s.canonical_reason());
                        response.description = reason.unwrap_or("Error").to_string();
                    }
                }
            }
        }
    }
}

/// This area's routes, each declared once: its `#[utoipa::path]` gives both the route and
/// its entry in the OpenAPI document.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(openapi))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi() -> Json<Value> {
    Json(document())
}

/// The document as served. utoipa 5 writes a response link's fields in snake_case
/// (`operation_id`); OpenAPI names them in camelCase (`operationId`), so they are renamed here.
fn document() -> Value {
    // The paths come from the routes (each area's `router()`); the modifiers then see them.
    let mut api = OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(super::api()).into_openapi();
    BearerAuth.modify(&mut api);
    ProblemJson.modify(&mut api);
    let mut doc = match serde_json::to_value(api) {
        Ok(doc) => doc,
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document does not serialize");
            return Value::Null;
        }
    };
    let operations = doc
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { continue };
        let links = responses.values_mut().filter_map(|r| r.get_mut("links")).filter_map(Value::as_object_mut);
        for link in links.flat_map(|l| l.values_mut()).filter_map(Value::as_object_mut) {
            for (from, to) in
                [("operation_id", "operationId"), ("operation_ref", "operationRef"), ("request_body", "requestBody")]
            {
                if let Some(v) = link.remove(from) {
                    link.insert(to.to_string(), v);
                }
            }
        }
    }
    doc
}

//! Admin operations over HTTP: reloading the rules without a restart (as SIGHUP does).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::auth::Caller;
use super::error::ApiError;
use crate::app::App;
use crate::domain::Role;

pub fn router() -> Router<Arc<App>> {
    Router::new().route("/api/v1/admin/rules/reload", post(reload_rules))
}

/// Recompiles `rules/`. 200 with each rule's new version; 422 with the compile errors when the
/// new version is rejected (the rules in force stay).
async fn reload_rules(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Admin])?;
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
            Ok(Json(json!({ "rules": rules })))
        }
        Err(errors) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rules_rejected",
            format!("the new rules do not compile; the previous rules stay in force: {}", errors.join("; ")),
        )),
    }
}

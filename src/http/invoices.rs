//! Read endpoints for issued invoices (made by a reviewer's `mark_sent` on an invoice request).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::Caller;
use super::error::{ApiError, Problem};
use super::records::{READERS, limit};
use super::request::{PathId, PathParam, query};
use crate::app::App;
use crate::services::views::{self, InvoiceFilter, InvoiceRecord, Page};

/// This area's routes, each declared once: its `#[utoipa::path]` gives both the route and
/// its entry in the OpenAPI document.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(invoice))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct InvoiceQuery {
    account_email: Option<String>,
    /// The `next_cursor` of the previous page (an invoice number).
    #[param(minimum = 0)]
    after: Option<i64>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/invoices", tag = "records", params(InvoiceQuery),
    responses((status = 200, body = Page<InvoiceRecord>), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    q: Result<Query<InvoiceQuery>, QueryRejection>,
) -> Result<Json<Page<InvoiceRecord>>, ApiError> {
    caller.require(READERS)?;
    let q = query(q)?;
    let limit = limit(q.limit, 50, 500)?;
    if q.after.is_some_and(|a| a < 0) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "after: must be an invoice number"));
    }
    let filter = InvoiceFilter { account_email: q.account_email, after: q.after, limit };
    Ok(Json(views::invoices(&app, filter).await?))
}

/// An invoice's number as a path gives it: `42` or `INV-000042` (letters and dashes before
/// the digits, whatever the configured prefix).
struct InvoiceNumber(i64);

impl std::str::FromStr for InvoiceNumber {
    type Err = ();

    fn from_str(raw: &str) -> Result<InvoiceNumber, ()> {
        let digits = raw.trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == '-');
        // `+42` reads as a number to Rust, not to a person.
        let number = digits.parse::<i64>().ok().filter(|n| *n >= 1 && !digits.starts_with('+'));
        number.map(InvoiceNumber).ok_or(())
    }
}

impl PathParam for InvoiceNumber {
    const FIELD: &'static str = "number";
    const WHAT: &'static str = "an invoice number";
}

#[utoipa::path(get, path = "/api/v1/invoices/{number}", tag = "records",
    params(("number" = String, Path, description = "The invoice number: 42 or INV-000042",
            pattern = "^[A-Za-z-]*[0-9]{1,18}$")),
    responses((status = 200, body = InvoiceRecord), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn invoice(
    State(app): State<Arc<App>>,
    caller: Caller,
    number: PathId<InvoiceNumber>,
) -> Result<Json<InvoiceRecord>, ApiError> {
    caller.require(READERS)?;
    let InvoiceNumber(n) = number.get()?;
    match views::invoice(&app, n).await? {
        Some(i) => Ok(Json(i)),
        None => Err(ApiError::not_found(format!("no invoice {}", number.as_given()))),
    }
}

//! Invoices from the ledger: an invoice request's details and the account's ledger entries
//! become a [`Document`] (lines and totals from [`crate::domain::invoice`]), rendered once as
//! HTML and PDF and kept unchanged. Issuing happens in the reviewer's `mark_sent`
//! ([`super::task_actions`]), which numbers the invoice in the same transaction.

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::domain::invoice::{self, Document, LedgerCharge, Party, RequestDetails};
use crate::store::{InvoiceRecord, InvoiceRequestRecord, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The request or the ledger does not allow an invoice (nothing to bill, an unknown
    /// transaction id, details missing): said to the reviewer.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The invoice for `request`, numbered `number`, issued by `by` at `now` (not yet stored).
pub async fn build(
    app: &App,
    request: &InvoiceRequestRecord,
    number: i64,
    by: &str,
    now: DateTime<Utc>,
) -> Result<InvoiceRecord, IssueError> {
    let details: RequestDetails = serde_json::from_value(request.details.clone())
        .map_err(|e| StoreError::Corrupt(format!("invoice request {}: details: {e}", request.id)))?;
    let missing = details.missing();
    if !missing.is_empty() {
        return Err(IssueError::Refused(format!("the request still lacks {}", missing.join(", "))));
    }
    let scope =
        details.scope().ok_or_else(|| IssueError::Refused("the request names no period or transaction".into()))?;
    let charges: Vec<LedgerCharge> = app
        .store
        .ledger_entries(&request.account_email)
        .await?
        .into_iter()
        .map(|e| LedgerCharge {
            kind: e.kind,
            amount_cents: e.amount_cents,
            period: e.period,
            provider: e.provider,
            provider_ref: e.provider_ref,
            at: e.created_at,
        })
        .collect();
    let lines = invoice::lines(&scope, &charges).map_err(|e| IssueError::Refused(e.to_string()))?;
    let total = invoice::total(&lines).map_err(|e| IssueError::Refused(e.to_string()))?;
    let cfg = &app.config.invoices;
    let doc = Document {
        number,
        number_text: invoice::number_text(&cfg.number_prefix, number),
        issued_on: now.date_naive(),
        issuer: Party {
            name: cfg.issuer_name.clone(),
            address: cfg.issuer_address.clone(),
            tax_id: cfg.issuer_tax_id.clone(),
            email: Some(cfg.issuer_email.clone()),
        },
        customer: Party {
            name: details.company.clone().unwrap_or_default(),
            address: invoice::address_lines(details.billing_address.as_deref().unwrap_or_default()),
            tax_id: details.tax_id.clone(),
            email: None,
        },
        account_email: request.account_email.clone(),
        covers: scope.label(),
        currency: "USD".into(),
        lines,
        total_cents: total.cents(),
    };
    let html = crate::invoices::html(&doc).map_err(|e| IssueError::Refused(e.to_string()))?;
    let pdf = crate::invoices::pdf(&doc);
    Ok(InvoiceRecord {
        number,
        request_id: Some(request.id),
        account_email: request.account_email.clone(),
        total_cents: doc.total_cents,
        document: serde_json::to_value(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        html,
        pdf,
        issued_by: by.to_string(),
        issued_at: now,
    })
}

/// The document an invoice was issued with.
pub fn document(invoice: &InvoiceRecord) -> Result<Document, StoreError> {
    serde_json::from_value(invoice.document.clone())
        .map_err(|e| StoreError::Corrupt(format!("invoice {}: {e}", invoice.number)))
}

//! A verified payment-provider event becomes money in the ledger, once: a top-up, a bill
//! payment (oldest bills first; a gated line is restored) or a deposit held as guarantee.
//! Redeliveries of an event are answered as duplicates; a payment reported twice under
//! different events still counts once (the ledger keys it by the provider's transaction id).

use serde::Serialize;

use crate::app::App;
use crate::payments::{ProviderEvent, Purpose};

use super::cycles;
use super::ledger::{Ledger, LedgerError};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WebhookOutcome {
    pub event_id: String,
    /// This event was handled before; nothing was done now.
    pub duplicate: bool,
    /// top_up, bill_payment, deposit, already_recorded or ignored:<event type>.
    pub outcome: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub async fn handle(app: &App, provider: &str, event: ProviderEvent) -> Result<WebhookOutcome, PaymentError> {
    let event_id = event.event_id().to_string();
    if let Some(outcome) = app.store.webhook_outcome(provider, &event_id).await.map_err(anyhow::Error::from)? {
        return Ok(WebhookOutcome { event_id, duplicate: true, outcome });
    }
    let outcome = match event {
        ProviderEvent::Ignored { kind, .. } => format!("ignored:{kind}"),
        ProviderEvent::Payment { account, amount, transaction, purpose, .. } => {
            let replayed = match purpose {
                Purpose::TopUp => {
                    Ledger::new(app).top_up(&account, amount, provider, &transaction).await.map(|p| p.replayed)
                }
                Purpose::Deposit => {
                    Ledger::new(app).hold_deposit(&account, amount, provider, &transaction).await.map(|p| p.replayed)
                }
                Purpose::BillPayment => match cycles::pay(app, &account, amount, provider, &transaction).await {
                    Ok(p) => Ok(p.replayed),
                    Err(cycles::CycleError::Invalid(m)) => Err(LedgerError::Invalid(m)),
                    Err(e) => return Err(anyhow::Error::from(e).into()),
                },
            };
            match replayed {
                Ok(true) => "already_recorded".to_string(),
                Ok(false) => {
                    serde_json::to_value(purpose).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
                }
                Err(LedgerError::Refused(m)) if m.contains("already recorded") => "already_recorded".to_string(),
                Err(
                    e @ (LedgerError::Invalid(_)
                    | LedgerError::Bound(_)
                    | LedgerError::Refused(_)
                    | LedgerError::Debit(_)
                    | LedgerError::KeyReused(_)),
                ) => {
                    return Err(PaymentError::Invalid(e.to_string()));
                }
                Err(e) => return Err(anyhow::Error::from(e).into()),
            }
        }
    };
    let now = app.workflow.clock().now();
    let first = app.store.record_webhook(provider, &event_id, &outcome, now).await.map_err(anyhow::Error::from)?;
    Ok(WebhookOutcome { event_id, duplicate: !first, outcome })
}

//! Payment providers: each turns its webhook (headers and raw body) into a verified
//! [`ProviderEvent`], or says why not. Stripe is built in; PayPal, WeChat Pay, Alipay and
//! Naver Pay plug in by implementing [`PaymentProvider`] and joining [`providers`].

pub mod stripe;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{EmailAddress, Money};

/// What a payment is for, as the checkout that created it said (its metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Prepaid credits.
    TopUp,
    /// A credit-line bill (oldest unpaid first; any rest becomes prepaid credit).
    BillPayment,
    /// A deposit held as guarantee for a large line.
    Deposit,
}

/// A verified event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderEvent {
    Payment {
        event_id: String,
        account: EmailAddress,
        amount: Money,
        transaction: String,
        purpose: Purpose,
    },
    /// A payment the provider has started but not completed (Stripe
    /// `payment_intent.processing`): recorded as pending, it credits nothing.
    Processing {
        event_id: String,
        account: EmailAddress,
        amount: Money,
        transaction: String,
        purpose: Purpose,
    },
    /// A payment that did not go through: `failed` for an attempt that failed (Stripe
    /// `payment_intent.payment_failed`, counted as a failed payment), otherwise given up
    /// (`payment_intent.canceled`). A pending payment of the same transaction is dropped.
    Unpaid {
        event_id: String,
        account: EmailAddress,
        amount: Money,
        transaction: String,
        purpose: Purpose,
        failed: bool,
        reason: String,
    },
    /// A dispute opened on a payment (Stripe `charge.dispute.created`). The account is the one
    /// the disputed payment was recorded for, or the dispute's own metadata.
    Chargeback {
        event_id: String,
        dispute: String,
        /// The disputed payment (Stripe: its payment intent), when the provider names it.
        transaction: Option<String>,
        account: Option<EmailAddress>,
        amount: Money,
        reason: String,
    },
    /// A verified event of a type we do not act on (acknowledged, not retried).
    Ignored {
        event_id: String,
        kind: String,
    },
}

impl ProviderEvent {
    pub fn event_id(&self) -> &str {
        match self {
            ProviderEvent::Payment { event_id, .. }
            | ProviderEvent::Processing { event_id, .. }
            | ProviderEvent::Unpaid { event_id, .. }
            | ProviderEvent::Chargeback { event_id, .. }
            | ProviderEvent::Ignored { event_id, .. } => event_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Missing, malformed, stale or wrong signature: the sender is not the provider.
    #[error("signature: {0}")]
    Signature(String),
    /// Signed, but not an event we can read; the message names the field.
    #[error("payload: {0}")]
    Payload(String),
    /// Signed and readable, but its amount is not one the ledger takes (not a whole positive
    /// number of cents, or over `ledger.max_amount_cents`).
    #[error("amount: {0}")]
    Amount(String),
}

/// Provider ids are short tokens (`evt_…`, `pi_…`); the ledger keeps references of at most this.
const MAX_ID_CHARS: usize = 200;

impl ProviderEvent {
    /// What every provider's event must satisfy before it reaches the store, whatever the
    /// provider parsed: an amount the ledger takes, and ids and types that are short, printable
    /// text (PostgreSQL text cannot hold NUL, and providers retry forever on a 500).
    pub fn check(&self, max: Money) -> Result<(), WebhookError> {
        let text = |field: &str, value: &str| {
            if value.is_empty() || value.chars().count() > MAX_ID_CHARS || value.chars().any(char::is_control) {
                Err(WebhookError::Payload(format!(
                    "{field}: must be 1 to {MAX_ID_CHARS} characters without control characters"
                )))
            } else {
                Ok(())
            }
        };
        let amount_in_range = |amount: &Money| {
            if amount.cents() <= 0 || *amount > max {
                Err(WebhookError::Amount(format!("{amount} is out of range: from $0.01 to the maximum of {max}")))
            } else {
                Ok(())
            }
        };
        match self {
            ProviderEvent::Payment { event_id, amount, transaction, .. }
            | ProviderEvent::Processing { event_id, amount, transaction, .. }
            | ProviderEvent::Unpaid { event_id, amount, transaction, .. } => {
                text("event id", event_id)?;
                text("transaction id", transaction)?;
                amount_in_range(amount)?;
            }
            ProviderEvent::Chargeback { event_id, dispute, transaction, amount, .. } => {
                text("event id", event_id)?;
                text("dispute id", dispute)?;
                if let Some(t) = transaction {
                    text("transaction id", t)?;
                }
                amount_in_range(amount)?;
            }
            ProviderEvent::Ignored { event_id, kind } => {
                text("event id", event_id)?;
                text("event type", kind)?;
            }
        }
        Ok(())
    }
}

pub trait PaymentProvider: Send + Sync {
    /// The name in the webhook path and in ledger entries (`stripe`).
    fn name(&self) -> &'static str;
    fn verify(
        &self,
        headers: &axum::http::HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<ProviderEvent, WebhookError>;
}

/// The providers configured, by name.
pub fn providers(config: &crate::config::PaymentsConfig) -> BTreeMap<&'static str, Arc<dyn PaymentProvider>> {
    let mut out: BTreeMap<&'static str, Arc<dyn PaymentProvider>> = BTreeMap::new();
    if let Some(secret) = &config.stripe_webhook_secret {
        let p = stripe::Stripe::new(secret.clone(), config.tolerance_seconds);
        out.insert(p.name(), Arc::new(p));
    }
    out
}

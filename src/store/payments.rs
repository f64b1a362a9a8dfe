//! What payment providers told us: webhook events handled, announced payments, failed payments
//! and chargebacks.

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::*;

/// A payment announced but not confirmed (`pending_payments`): a bank transfer an admin
/// reported, or a provider's `processing` event. It credits nothing until it is confirmed
/// through the ordinary payment path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PendingPaymentRecord {
    pub id: uuid::Uuid,
    pub account_email: String,
    pub provider: String,
    pub reference: String,
    pub amount_cents: i64,
    /// top_up, bill_payment or deposit.
    pub purpose: String,
    /// pending, confirmed or dropped.
    pub state: String,
    pub actor: String,
    pub note: Option<String>,
    /// Why it was dropped.
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A failed payment or a chargeback (`payment_incidents`), beside the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct IncidentRecord {
    pub id: uuid::Uuid,
    pub account_email: String,
    /// failed_payment or chargeback.
    pub kind: String,
    pub provider: String,
    pub reference: String,
    pub amount_cents: i64,
    pub reason: String,
    pub actor: String,
    pub occurred_at: DateTime<Utc>,
}

#[async_trait]
pub trait PaymentStore: Send + Sync {
    /// The outcome recorded for a provider's webhook event, if it was handled.
    async fn webhook_outcome(&self, provider: &str, event_id: &str) -> StoreResult<Option<String>>;

    /// Records a handled webhook event; false when it was recorded already.
    async fn record_webhook(
        &self,
        provider: &str,
        event_id: &str,
        outcome: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool>;

    /// Records an announced payment; false (nothing written) when its provider reference is
    /// known already, in any state.
    async fn add_pending_payment(&self, payment: &PendingPaymentRecord) -> StoreResult<bool>;

    /// The announced payment with this provider reference, in any state.
    async fn pending_payment(&self, provider: &str, reference: &str) -> StoreResult<Option<PendingPaymentRecord>>;

    /// Moves an announced payment that is still `pending` to `state` (`confirmed` or
    /// `dropped`); false when it is not pending (settled already, or unknown).
    async fn settle_pending_payment(
        &self,
        provider: &str,
        reference: &str,
        state: &str,
        reason: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool>;

    /// The announced payments of these accounts, oldest first; only those still pending when
    /// `open_only`.
    async fn pending_payments(&self, accounts: &[String], open_only: bool) -> StoreResult<Vec<PendingPaymentRecord>>;

    /// Records a failed payment or a chargeback; false when one of its kind with this provider
    /// reference is recorded already.
    async fn record_incident(&self, incident: &IncidentRecord) -> StoreResult<bool>;

    /// The failed payments and chargebacks of these accounts, oldest first.
    async fn payment_incidents(&self, accounts: &[String]) -> StoreResult<Vec<IncidentRecord>>;
}

/// Implements [`PaymentStore`] for a backend (see [`super::sql`]).
macro_rules! impl_payments_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        #[async_trait::async_trait]
        impl crate::store::PaymentStore for $store {
            async fn webhook_outcome(&self, provider: &str, event_id: &str) -> crate::store::StoreResult<Option<String>> {
                Ok(sqlx::query_scalar("SELECT outcome FROM webhook_events WHERE provider = $1 AND event_id = $2")
                    .bind(provider)
                    .bind(event_id)
                    .fetch_optional(self.pool())
                    .await?)
            }

            async fn record_webhook(
                &self,
                provider: &str,
                event_id: &str,
                outcome: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO webhook_events (provider, event_id, outcome, received_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (provider, event_id) DO NOTHING",
                )
                .bind(provider)
                .bind(event_id)
                .bind(outcome)
                .bind(at)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn add_pending_payment(&self, p: &crate::store::PendingPaymentRecord) -> crate::store::StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO pending_payments (id, account_email, provider, reference, amount_cents, purpose, state, \
                     actor, note, reason, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                     ON CONFLICT (provider, reference) DO NOTHING",
                )
                .bind(p.id)
                .bind(&p.account_email)
                .bind(&p.provider)
                .bind(&p.reference)
                .bind(p.amount_cents)
                .bind(&p.purpose)
                .bind(&p.state)
                .bind(&p.actor)
                .bind(&p.note)
                .bind(&p.reason)
                .bind(p.created_at)
                .bind(p.updated_at)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn pending_payment(
                &self,
                provider: &str,
                reference: &str,
            ) -> crate::store::StoreResult<Option<crate::store::PendingPaymentRecord>> {
                Ok(sqlx::query_as("SELECT * FROM pending_payments WHERE provider = $1 AND reference = $2")
                    .bind(provider)
                    .bind(reference)
                    .fetch_optional(self.pool())
                    .await?)
            }

            async fn settle_pending_payment(
                &self,
                provider: &str,
                reference: &str,
                state: &str,
                reason: Option<&str>,
                at: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE pending_payments SET state = $1, reason = COALESCE($2, reason), updated_at = $3 \
                     WHERE provider = $4 AND reference = $5 AND state = 'pending'",
                )
                .bind(state)
                .bind(reason)
                .bind(at)
                .bind(provider)
                .bind(reference)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn pending_payments(
                &self,
                accounts: &[String],
                open_only: bool,
            ) -> crate::store::StoreResult<Vec<crate::store::PendingPaymentRecord>> {
                let mut out = Vec::new();
                for chunk in accounts.chunks(500) {
                    let mut q = Builder::new("SELECT * FROM pending_payments WHERE account_email IN (");
                    let mut list = q.separated(", ");
                    for a in chunk {
                        list.push_bind(a.clone());
                    }
                    q.push(")");
                    if open_only {
                        q.push(" AND state = 'pending'");
                    }
                    q.push(" ORDER BY created_at, id");
                    out.extend(q.build_query_as::<crate::store::PendingPaymentRecord>().fetch_all(self.pool()).await?);
                }
                Ok(out)
            }

            async fn record_incident(&self, i: &crate::store::IncidentRecord) -> crate::store::StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO payment_incidents (id, account_email, kind, provider, reference, amount_cents, reason, \
                     actor, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (kind, provider, reference) DO NOTHING",
                )
                .bind(i.id)
                .bind(&i.account_email)
                .bind(&i.kind)
                .bind(&i.provider)
                .bind(&i.reference)
                .bind(i.amount_cents)
                .bind(&i.reason)
                .bind(&i.actor)
                .bind(i.occurred_at)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn payment_incidents(&self, accounts: &[String]) -> crate::store::StoreResult<Vec<crate::store::IncidentRecord>> {
                let mut out = Vec::new();
                for chunk in accounts.chunks(500) {
                    let mut q = Builder::new("SELECT * FROM payment_incidents WHERE account_email IN (");
                    let mut list = q.separated(", ");
                    for a in chunk {
                        list.push_bind(a.clone());
                    }
                    q.push(") ORDER BY occurred_at, id");
                    out.extend(q.build_query_as::<crate::store::IncidentRecord>().fetch_all(self.pool()).await?);
                }
                Ok(out)
            }
        }
    };
}

pub(crate) use impl_payments_store;

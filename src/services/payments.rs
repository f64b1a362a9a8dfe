//! A verified payment-provider event becomes money in the ledger, once: a top-up, a bill
//! payment (oldest bills first; a gated line is restored) or a deposit held as guarantee.
//! Redeliveries of an event are answered as duplicates; a payment reported twice under
//! different events still counts once (the ledger keys it by the provider's transaction id).
//!
//! Beside the money, the account's payment standing: payments announced but not confirmed
//! (a bank transfer finance reports, a provider's `processing` event), failed payments and
//! chargebacks. None of them moves money here: a pending payment is credited only when it is
//! confirmed through the ordinary payment path, and a chargeback is a record beside the
//! ledger (see the README). The rules read the standing (`cycle_gating`, `limit_increase`,
//! `re_review`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::app::App;
use crate::domain::{EmailAddress, Money};
use crate::payments::{ProviderEvent, Purpose};
use crate::store::{IncidentRecord, PendingPaymentRecord, StoreError};

use super::billing;
use super::ledger::{Ledger, LedgerError};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WebhookOutcome {
    pub event_id: String,
    /// This event was handled before; nothing was done now.
    pub duplicate: bool,
    /// top_up, bill_payment, deposit, already_recorded, payment_pending, payment_failed,
    /// payment_canceled, chargeback or ignored:<event type>.
    pub outcome: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<StoreError> for PaymentError {
    fn from(e: StoreError) -> Self {
        PaymentError::Other(e.into())
    }
}

pub async fn handle(app: &App, provider: &str, event: ProviderEvent) -> Result<WebhookOutcome, PaymentError> {
    let event_id = event.event_id().to_string();
    if let Some(outcome) = app.store.webhook_outcome(provider, &event_id).await? {
        return Ok(WebhookOutcome { event_id, duplicate: true, outcome });
    }
    let now = app.workflow.clock().now();
    let outcome = match event {
        ProviderEvent::Ignored { kind, .. } => format!("ignored:{kind}"),
        ProviderEvent::Payment { account, amount, transaction, purpose, .. } => {
            let outcome = credit(app, provider, &account, amount, &transaction, purpose).await?;
            // The announcement, if there was one, is now a payment.
            app.store.settle_pending_payment(provider, &transaction, "confirmed", None, now).await?;
            outcome
        }
        ProviderEvent::Processing { account, amount, transaction, purpose, .. } => {
            let mut pending = pending_record(&account, provider, &transaction, amount, purpose, provider, None, now);
            // Providers do not promise order: a payment that already succeeded or failed is
            // recorded as settled, so a late `processing` never leaves it pending forever.
            // (A failure or cancellation that came first left a dropped record, which this
            // insert does not replace.)
            if !app.store.entries_by_provider_ref(provider, &transaction).await?.is_empty() {
                pending.state = "confirmed".into();
            }
            if app.store.add_pending_payment(&pending).await? && pending.state == "pending" {
                "payment_pending".into()
            } else {
                "already_recorded".into()
            }
        }
        ProviderEvent::Unpaid { account, amount, transaction, purpose, failed, reason, .. } => {
            if failed {
                let incident = incident_record(
                    &account,
                    "failed_payment",
                    provider,
                    &transaction,
                    amount.cents(),
                    &reason,
                    provider,
                    now,
                );
                app.store.record_incident(&incident).await?;
            }
            // Dropped if it was announced; recorded as dropped otherwise, for a late `processing`.
            if !app.store.settle_pending_payment(provider, &transaction, "dropped", Some(&reason), now).await? {
                let mut dropped =
                    pending_record(&account, provider, &transaction, amount, purpose, provider, None, now);
                dropped.state = "dropped".into();
                dropped.reason = Some(reason);
                app.store.add_pending_payment(&dropped).await?;
            }
            if failed { "payment_failed".into() } else { "payment_canceled".into() }
        }
        ProviderEvent::Chargeback { dispute, transaction, account, amount, reason, .. } => {
            let account = disputed_account(app, provider, transaction.as_deref(), account).await?.ok_or_else(|| {
                PaymentError::Invalid(format!(
                    "dispute {dispute}: no payment {} is recorded and the dispute names no account",
                    transaction.as_deref().unwrap_or("(none named)")
                ))
            })?;
            let reason = match &transaction {
                Some(t) => format!("{reason} (payment {t})"),
                None => reason,
            };
            let incident =
                incident_record(&account, "chargeback", provider, &dispute, amount.cents(), &reason, provider, now);
            if app.store.record_incident(&incident).await? { "chargeback".into() } else { "already_recorded".into() }
        }
    };
    let first = app.store.record_webhook(provider, &event_id, &outcome, now).await?;
    Ok(WebhookOutcome { event_id, duplicate: !first, outcome })
}

/// Credits a confirmed payment by its purpose; the outcome names what it became, or
/// `already_recorded` when the provider's transaction was credited before.
async fn credit(
    app: &App,
    provider: &str,
    account: &EmailAddress,
    amount: Money,
    transaction: &str,
    purpose: Purpose,
) -> Result<String, PaymentError> {
    let replayed = match purpose {
        Purpose::TopUp => Ledger::new(app).top_up(account, amount, provider, transaction).await.map(|p| p.replayed),
        Purpose::Deposit => {
            Ledger::new(app).hold_deposit(account, amount, provider, transaction).await.map(|p| p.replayed)
        }
        Purpose::BillPayment => match billing::pay(app, account, amount, provider, transaction).await {
            Ok(p) => Ok(p.replayed),
            Err(billing::CycleError::Invalid(m)) => Err(LedgerError::Invalid(m)),
            Err(e) => return Err(anyhow::Error::from(e).into()),
        },
    };
    match replayed {
        Ok(true) => Ok("already_recorded".to_string()),
        Ok(false) => Ok(purpose_name(purpose).to_string()),
        Err(LedgerError::Refused(m)) if m.contains("already recorded") => Ok("already_recorded".to_string()),
        Err(
            e @ (LedgerError::Invalid(_)
            | LedgerError::Bound(_)
            | LedgerError::Refused(_)
            | LedgerError::Debit(_)
            | LedgerError::KeyReused(_)),
        ) => Err(PaymentError::Invalid(e.to_string())),
        Err(e) => Err(anyhow::Error::from(e).into()),
    }
}

fn purpose_name(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::TopUp => "top_up",
        Purpose::BillPayment => "bill_payment",
        Purpose::Deposit => "deposit",
    }
}

fn purpose_of(name: &str) -> Option<Purpose> {
    match name {
        "top_up" => Some(Purpose::TopUp),
        "bill_payment" => Some(Purpose::BillPayment),
        "deposit" => Some(Purpose::Deposit),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn pending_record(
    account: &EmailAddress,
    provider: &str,
    reference: &str,
    amount: Money,
    purpose: Purpose,
    actor: &str,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> PendingPaymentRecord {
    PendingPaymentRecord {
        id: uuid::Uuid::now_v7(),
        account_email: account.to_string(),
        provider: provider.to_string(),
        reference: reference.to_string(),
        amount_cents: amount.cents(),
        purpose: purpose_name(purpose).to_string(),
        state: "pending".into(),
        actor: actor.to_string(),
        note: note.map(str::to_string),
        reason: None,
        created_at: now,
        updated_at: now,
    }
}

#[allow(clippy::too_many_arguments)]
fn incident_record(
    account: &EmailAddress,
    kind: &str,
    provider: &str,
    reference: &str,
    amount_cents: i64,
    reason: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> IncidentRecord {
    IncidentRecord {
        id: uuid::Uuid::now_v7(),
        account_email: account.to_string(),
        kind: kind.to_string(),
        provider: provider.to_string(),
        reference: reference.to_string(),
        amount_cents,
        reason: reason.to_string(),
        actor: actor.to_string(),
        occurred_at: now,
    }
}

/// The account a dispute is about: whoever the disputed payment was credited to, else the
/// one the dispute names.
async fn disputed_account(
    app: &App,
    provider: &str,
    transaction: Option<&str>,
    named: Option<EmailAddress>,
) -> Result<Option<EmailAddress>, PaymentError> {
    if let Some(t) = transaction {
        let entries = app.store.entries_by_provider_ref(provider, t).await?;
        if let Some(e) = entries.first() {
            let account = EmailAddress::parse(&e.account_email)
                .map_err(|err| anyhow::anyhow!("ledger entry {}: stored account is invalid: {err}", e.id))?;
            return Ok(Some(account));
        }
    }
    Ok(named)
}

// ---- By hand (finance's desk: `creditline ledger pending`, `payment-failed`, `chargeback`) ----

/// Provider names and references as the ledger keeps them: short printable text.
fn reference(provider: &str, reference: &str) -> Result<(String, String), PaymentError> {
    let provider = provider.trim().to_ascii_lowercase();
    let reference = reference.trim().to_string();
    let ok = |s: &str| !s.is_empty() && s.chars().count() <= 200 && !s.chars().any(char::is_control);
    if !ok(&provider) || !ok(&reference) {
        return Err(PaymentError::Invalid(
            "a provider and a reference of 1 to 200 characters without control characters are required".into(),
        ));
    }
    Ok((provider, reference))
}

fn text(what: &str, value: &str, max: usize) -> Result<String, PaymentError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(PaymentError::Invalid(format!(
            "{what}: 1 to {max} characters without control characters are required"
        )));
    }
    Ok(value.to_string())
}

fn amount_ok(app: &App, amount: Money) -> Result<(), PaymentError> {
    if amount.cents() <= 0 {
        return Err(PaymentError::Invalid(format!("an amount must be more than $0.00, not {amount}")));
    }
    Ledger::new(app).bounded(amount).map(|_| ()).map_err(|e| PaymentError::Invalid(e.to_string()))
}

/// What a command on a pending payment did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingOutcome {
    pub payment: PendingPaymentRecord,
    /// For a confirmation: what the payment became (bill_payment, top_up, deposit,
    /// already_recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credited: Option<String>,
    /// The same command was carried out before; nothing new was written.
    pub replayed: bool,
}

/// A bill payment announced by hand (a bank transfer on its way): pending, credits nothing.
pub async fn announce(
    app: &App,
    account: &EmailAddress,
    amount: Money,
    provider: &str,
    reference_id: &str,
    note: Option<&str>,
    actor: &str,
) -> Result<PendingOutcome, PaymentError> {
    amount_ok(app, amount)?;
    let (provider, reference_id) = reference(provider, reference_id)?;
    let note = note.map(|n| text("note", n, 1000)).transpose()?;
    if !app.store.entries_by_provider_ref(&provider, &reference_id).await?.is_empty() {
        return Err(PaymentError::Invalid(format!(
            "payment {reference_id} from {provider} is recorded already; it cannot be pending"
        )));
    }
    let now = app.workflow.clock().now();
    let record =
        pending_record(account, &provider, &reference_id, amount, Purpose::BillPayment, actor, note.as_deref(), now);
    if app.store.add_pending_payment(&record).await? {
        return Ok(PendingOutcome { payment: record, credited: None, replayed: false });
    }
    let known =
        app.store.pending_payment(&provider, &reference_id).await?.ok_or_else(|| {
            PaymentError::Other(anyhow::anyhow!("pending payment {provider} {reference_id} vanished"))
        })?;
    if known.account_email == record.account_email && known.amount_cents == record.amount_cents {
        return Ok(PendingOutcome { payment: known, credited: None, replayed: true });
    }
    Err(PaymentError::Invalid(format!(
        "reference {reference_id} from {provider} is already used for {} of {}",
        Money::from_cents(known.amount_cents),
        known.account_email
    )))
}

async fn known_pending(app: &App, provider: &str, reference_id: &str) -> Result<PendingPaymentRecord, PaymentError> {
    let (provider, reference_id) = reference(provider, reference_id)?;
    app.store
        .pending_payment(&provider, &reference_id)
        .await?
        .ok_or_else(|| PaymentError::Invalid(format!("no pending payment {reference_id} from {provider}")))
}

/// The announced payment has arrived: it is credited through the ordinary payment path (for a
/// bill payment: oldest bills first, a gated line restored), `amount` being what arrived
/// when it differs from what was announced, and it is marked confirmed.
pub async fn confirm(
    app: &App,
    provider: &str,
    reference_id: &str,
    amount: Option<Money>,
) -> Result<PendingOutcome, PaymentError> {
    let pending = known_pending(app, provider, reference_id).await?;
    match pending.state.as_str() {
        "confirmed" => return Ok(PendingOutcome { payment: pending, credited: None, replayed: true }),
        "dropped" => {
            return Err(PaymentError::Invalid(format!(
                "pending payment {} from {} was dropped ({}); record the payment itself instead",
                pending.reference,
                pending.provider,
                pending.reason.as_deref().unwrap_or("no reason")
            )));
        }
        _ => {}
    }
    let amount = amount.unwrap_or(Money::from_cents(pending.amount_cents));
    amount_ok(app, amount)?;
    let account = EmailAddress::parse(&pending.account_email)
        .map_err(|e| anyhow::anyhow!("pending payment {}: stored account is invalid: {e}", pending.id))?;
    let purpose = purpose_of(&pending.purpose)
        .ok_or_else(|| anyhow::anyhow!("pending payment {}: unknown purpose {:?}", pending.id, pending.purpose))?;
    // Credited first (once per provider reference), then marked: a confirmation cut short
    // in between is completed by running it again.
    let credited = credit(app, &pending.provider, &account, amount, &pending.reference, purpose).await?;
    let now = app.workflow.clock().now();
    app.store.settle_pending_payment(&pending.provider, &pending.reference, "confirmed", None, now).await?;
    let payment = known_pending(app, &pending.provider, &pending.reference).await?;
    Ok(PendingOutcome { payment, credited: Some(credited), replayed: false })
}

/// The announced payment will not arrive.
pub async fn drop_pending(
    app: &App,
    provider: &str,
    reference_id: &str,
    reason: &str,
) -> Result<PendingOutcome, PaymentError> {
    let reason = text("reason", reason, 500)?;
    let pending = known_pending(app, provider, reference_id).await?;
    let now = app.workflow.clock().now();
    if app.store.settle_pending_payment(&pending.provider, &pending.reference, "dropped", Some(&reason), now).await? {
        let payment = known_pending(app, &pending.provider, &pending.reference).await?;
        return Ok(PendingOutcome { payment, credited: None, replayed: false });
    }
    match pending.state.as_str() {
        "dropped" => Ok(PendingOutcome { payment: pending, credited: None, replayed: true }),
        _ => Err(PaymentError::Invalid(format!(
            "pending payment {} from {} is {} already; it cannot be dropped",
            pending.reference, pending.provider, pending.state
        ))),
    }
}

/// What recording a failed payment or a chargeback did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentOutcome {
    pub incident: IncidentRecord,
    /// Recorded before under this reference; nothing new was written.
    pub replayed: bool,
}

/// An account's pending payments (open or settled) and its failed payments and chargebacks,
/// oldest first.
pub async fn of_account(
    app: &App,
    account: &EmailAddress,
) -> Result<(Vec<PendingPaymentRecord>, Vec<IncidentRecord>), PaymentError> {
    let accounts = [account.to_string()];
    Ok((app.store.pending_payments(&accounts, false).await?, app.store.payment_incidents(&accounts).await?))
}

/// A failed payment or chargeback reported by hand; once per kind, provider and reference.
#[allow(clippy::too_many_arguments)]
pub async fn report_incident(
    app: &App,
    account: &EmailAddress,
    kind: &str,
    provider: &str,
    reference_id: &str,
    amount: Option<Money>,
    reason: &str,
    actor: &str,
) -> Result<IncidentOutcome, PaymentError> {
    if let Some(a) = amount {
        amount_ok(app, a)?;
    }
    let (provider, reference_id) = reference(provider, reference_id)?;
    let reason = text("reason", reason, 500)?;
    let now = app.workflow.clock().now();
    let cents = amount.map_or(0, Money::cents);
    let incident = incident_record(account, kind, &provider, &reference_id, cents, &reason, actor, now);
    if app.store.record_incident(&incident).await? {
        if kind == "failed_payment" {
            app.store.settle_pending_payment(&provider, &reference_id, "dropped", Some(&reason), now).await?;
        }
        return Ok(IncidentOutcome { incident, replayed: false });
    }
    let known = app
        .store
        .payment_incidents(std::slice::from_ref(&incident.account_email))
        .await?
        .into_iter()
        .find(|i| i.kind == kind && i.provider == provider && i.reference == reference_id);
    match known {
        Some(i) => Ok(IncidentOutcome { incident: i, replayed: true }),
        None => Err(PaymentError::Invalid(format!(
            "{kind} {reference_id} from {provider} is recorded already for another account"
        ))),
    }
}

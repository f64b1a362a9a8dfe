//! Rows as the services see them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{ApplicationId, DecisionId, EventId, OutboxId, SubjectId};

/// A workflow instance to create.
#[derive(Debug, Clone)]
pub struct NewInstance {
    pub id: SubjectId,
    pub workflow: String,
    pub subject_kind: String,
    pub state: String,
    pub account_email: Option<String>,
    pub created_event: EventId,
    pub actor: String,
    pub reason: Option<String>,
    pub outbox: Vec<OutboxWrite>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewApplication {
    pub reference: String,
    pub account_email: String,
    pub applicant_kind: Option<String>,
    pub requested_limit_cents: Option<i64>,
    pub details: serde_json::Value,
}

/// One step of a workflow, ready to be written.
#[derive(Debug, Clone)]
pub struct TransitionWrite {
    pub instance_id: SubjectId,
    pub expected_version: i64,
    pub event_id: EventId,
    pub event: String,
    pub from_state: String,
    pub to_state: String,
    pub actor: String,
    pub reason: Option<String>,
    pub decision_ids: Vec<DecisionId>,
    pub outbox: Vec<OutboxWrite>,
    pub at: DateTime<Utc>,
}

/// An effect to record in the outbox. The idempotency key is unique across the outbox, so
/// an effect can never be written twice.
#[derive(Debug, Clone)]
pub struct OutboxWrite {
    pub id: OutboxId,
    pub kind: String,
    pub name: String,
    pub idempotency_key: String,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: SubjectId,
    pub workflow: String,
    pub subject_kind: String,
    pub state: String,
    pub version: i64,
    pub account_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventRecord {
    pub id: EventId,
    pub instance_id: SubjectId,
    /// The instance's version after this event.
    pub version: i64,
    pub event: String,
    /// `None` for the event that created the instance.
    pub from_state: Option<String>,
    pub to_state: String,
    pub actor: String,
    pub reason: Option<String>,
    pub decision_ids: Vec<DecisionId>,
    pub occurred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutboxRecord {
    pub id: OutboxId,
    pub instance_id: SubjectId,
    pub event_id: EventId,
    pub kind: String,
    pub name: String,
    pub idempotency_key: String,
    pub payload: serde_json::Value,
    /// pending, queued, sending, sent or failed (emails); tasks open as reviewer tasks.
    pub status: String,
    /// Delivery attempts made so far.
    pub attempts: i64,
    /// How many send jobs were queued for it (each job's key is `id:enqueues`).
    pub enqueues: i64,
    pub last_error: Option<String>,
    /// The Message-ID it went out with.
    pub message_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

/// An email outbox row handed to a send job: the job carries both numbers, and only the
/// job for the row's current `enqueues` may claim it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedEmail {
    pub id: OutboxId,
    pub enqueues: i64,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    Sent {
        message_id: String,
    },
    /// A transient failure: try again from `available_at`.
    Retry {
        available_at: DateTime<Utc>,
        error: String,
    },
    /// A permanent failure (or the last attempt): no more tries, and a reviewer task.
    Failed {
        error: String,
        task: TaskWrite,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApplicationRecord {
    pub id: ApplicationId,
    pub reference: String,
    pub account_email: String,
    pub applicant_kind: Option<String>,
    pub requested_limit_cents: Option<i64>,
    pub details: serde_json::Value,
    pub state: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct ApplicationFilter {
    pub state: Option<String>,
    pub account_email: Option<String>,
    /// Return applications created after this one (cursor pagination).
    pub after: Option<ApplicationId>,
    pub limit: i64,
}

/// A raw inbound message, kept (content-addressed) before anything is read from it.
#[derive(Debug, Clone)]
pub struct RawMessage {
    pub sha256: String,
    pub message_id: String,
    pub size: i64,
    /// `None` only for a message rejected for its size: its bytes are not kept.
    pub raw: Option<Vec<u8>>,
    pub source: String,
    pub received_at: DateTime<Utc>,
}

/// What the store already knew of a message when asked to keep it.
#[derive(Debug, Clone, PartialEq)]
pub enum Kept {
    /// Stored now, or stored before but never processed (a crash in between): process it.
    ToProcess,
    /// Processed before (same bytes or same Message-ID): its earlier report.
    Processed { report: serde_json::Value },
}

/// One value read from a message, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldWrite {
    pub field: String,
    pub value: String,
    pub message_id: String,
    pub excerpt: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldRecord {
    pub field: String,
    pub value: String,
    pub message_id: String,
    pub excerpt: String,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvidenceWrite {
    pub kind: String,
    pub data: serde_json::Value,
    pub message_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentWrite {
    pub position: i64,
    pub filename: Option<String>,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

/// A reviewer task to open (unique by its key, so a replay opens none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskWrite {
    pub id: crate::domain::TaskId,
    pub kind: String,
    pub subject_id: Option<SubjectId>,
    pub message_sha256: Option<String>,
    pub title: String,
    pub details: serde_json::Value,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskRecord {
    pub id: crate::domain::TaskId,
    pub kind: String,
    pub state: String,
    pub subject_id: Option<SubjectId>,
    pub message_sha256: Option<String>,
    pub title: String,
    pub details: serde_json::Value,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    /// The reviewer working on it (a token name), if claimed.
    pub assignee: Option<String>,
    pub claimed_at: Option<DateTime<Utc>>,
}

/// New facts for an existing application (kind and requested limit as last read).
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationUpdate {
    pub id: ApplicationId,
    pub applicant_kind: Option<String>,
    pub requested_limit_cents: Option<i64>,
    pub details: serde_json::Value,
}

/// Everything one processed message changes, written in one transaction together with the
/// message's outcome. If the message was processed meanwhile, nothing is written.
#[derive(Debug, Clone, Default)]
pub struct IntakeWrite {
    pub message_sha256: String,
    pub outcome: String,
    pub application_id: Option<ApplicationId>,
    pub report: serde_json::Value,
    pub processed_at: DateTime<Utc>,
    pub new_instances: Vec<(NewInstance, Option<NewApplication>)>,
    pub application_update: Option<ApplicationUpdate>,
    pub transitions: Vec<TransitionWrite>,
    pub decisions: Vec<crate::rules::DecisionRecord>,
    pub fields: Vec<(ApplicationId, FieldWrite)>,
    pub evidence: Vec<(ApplicationId, EvidenceWrite)>,
    pub attachments: Vec<AttachmentWrite>,
    pub tasks: Vec<TaskWrite>,
    /// Limit increases requested by the message (their instances are in `new_instances`).
    pub increases: Vec<IncreaseRecord>,
    /// Website checks the message asks for (an application's website became known); a pair
    /// of application and address asked for before adds nothing.
    pub website_checks: Vec<WebsiteCheckRequest>,
    /// Invoice requests the message opens or adds details to (inserted, or their details
    /// replaced); their workflow steps are in `new_instances` and `transitions`.
    pub invoice_requests: Vec<InvoiceRequestWrite>,
}

/// A message of an application's email thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageRecord {
    pub sha256: String,
    pub message_id: String,
    pub outcome: Option<String>,
    pub report: Option<serde_json::Value>,
    pub received_at: DateTime<Utc>,
}

/// An API token as stored: the secret only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub role: crate::domain::Role,
    #[serde(skip)]
    pub secret_sha256: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Which tasks to list: oldest first, after the cursor.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub kind: Option<String>,
    pub state: Option<String>,
    pub assignee: Option<String>,
    /// Only tasks created before this moment (an age filter).
    pub created_before: Option<DateTime<Utc>>,
    pub after: Option<crate::domain::TaskId>,
    pub limit: i64,
}

/// One mutation, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: uuid::Uuid,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub version_before: Option<i64>,
    pub version_after: Option<i64>,
    pub request_id: String,
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub after: Option<uuid::Uuid>,
    pub limit: i64,
}

/// A task's next state, written only if the task is still at `expected_version`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskUpdate {
    pub id: crate::domain::TaskId,
    pub expected_version: i64,
    pub state: String,
    pub assignee: Option<String>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub details: serde_json::Value,
}

/// The credit line an approval opens (its state lives in its workflow instance).
#[derive(Debug, Clone, PartialEq)]
pub struct CreditLineWrite {
    pub id: SubjectId,
    pub account_email: String,
    pub application_id: ApplicationId,
    pub monthly_limit_cents: i64,
    pub approved_by: String,
    pub second_approver: Option<String>,
}

/// A credit line with its workflow state and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreditLineRecord {
    pub id: SubjectId,
    pub account_email: String,
    pub application_id: ApplicationId,
    pub monthly_limit_cents: i64,
    pub approved_by: String,
    pub second_approver: Option<String>,
    pub state: String,
    pub version: i64,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct CreditLineFilter {
    pub account_email: Option<String>,
    pub state: Option<String>,
    pub after: Option<SubjectId>,
    pub limit: i64,
    /// Only lines with a bill not paid in full (the scans that gate and remind).
    pub owing: bool,
}

/// The answer to a mutation sent with an `Idempotency-Key`, kept with the mutation.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotentResponse {
    /// The token name that sent the key: keys of different callers never collide.
    pub caller: String,
    pub key: String,
    /// SHA-256 of method, path and body: the same key with another request is refused.
    pub request_hash: String,
    pub status: u16,
    pub response: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A reviewer's or admin's action, all of it in one transaction: the task, the workflow
/// step with its event and outbox rows, what the step opens, the audit entry and the
/// response kept for the idempotency key.
#[derive(Debug, Clone)]
pub struct ActionWrite {
    pub task: Option<TaskUpdate>,
    pub transition: Option<TransitionWrite>,
    pub new_instance: Option<NewInstance>,
    pub credit_line: Option<CreditLineWrite>,
    pub decisions: Vec<crate::rules::DecisionRecord>,
    pub audit: AuditRecord,
    pub idempotency: Option<IdempotentResponse>,
}

/// One ledger entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryWrite {
    pub id: uuid::Uuid,
    pub kind: crate::domain::EntryKind,
    pub bucket: crate::domain::Bucket,
    /// Signed: positive grows the bucket.
    pub amount_cents: i64,
    pub line_id: Option<SubjectId>,
    pub period: Option<crate::domain::Period>,
    pub idempotency_key: String,
    pub provider: Option<String>,
    pub provider_ref: Option<String>,
    pub actor: String,
    pub reason: Option<String>,
}

impl EntryWrite {
    /// An entry with a fresh id and nothing but its essentials; callers add the rest.
    pub fn new(
        kind: crate::domain::EntryKind,
        bucket: crate::domain::Bucket,
        amount_cents: i64,
        idempotency_key: String,
        actor: &str,
    ) -> EntryWrite {
        EntryWrite {
            id: uuid::Uuid::now_v7(),
            kind,
            bucket,
            amount_cents,
            line_id: None,
            period: None,
            idempotency_key,
            provider: None,
            provider_ref: None,
            actor: actor.to_string(),
            reason: None,
        }
    }
}

/// Credit drawn on a line for one period, against the period's limit and the billing-cycle
/// gate ([`crate::domain::Gate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditDraw {
    pub line_id: SubjectId,
    pub period: crate::domain::Period,
    pub limit_cents: i64,
    pub cents: i64,
    /// The most the period may have drawn after this draw: the limit, or less while a closed
    /// month's bill is being paid (`Gate::cap`).
    pub cap_cents: i64,
    /// Every month of the line before this one that used credit must be billed and paid in
    /// full (`domain::paid_before`); the store refuses the draw otherwise.
    pub paid_before: crate::domain::Period,
}

/// Everything one ledger operation writes, in one transaction: the entries, the balances they
/// move (guarded: never below zero, never above the line's limit), a coupon redemption.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerWrite {
    pub account_email: String,
    pub entries: Vec<EntryWrite>,
    pub draw: Option<CreditDraw>,
    /// A coupon code to redeem (once per account, within its limit and before it expires).
    pub coupon: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EntryRecord {
    pub id: uuid::Uuid,
    pub account_email: String,
    pub kind: String,
    pub bucket: String,
    pub amount_cents: i64,
    pub line_id: Option<SubjectId>,
    pub period: Option<String>,
    pub idempotency_key: String,
    pub provider: Option<String>,
    pub provider_ref: Option<String>,
    pub actor: String,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An account's balances as stored (each must equal the sum of its entries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Balances {
    pub prepaid_cents: i64,
    pub deposit_cents: i64,
}

/// One usage debit of a batch ([`Store::post_debits`](crate::store::Store::post_debits)).
#[derive(Debug, Clone)]
pub struct DebitRequest {
    pub account_email: String,
    pub amount: crate::domain::Money,
    /// The idempotency keys of its prepaid and its credit entry.
    pub keys: [String; 2],
    pub period: crate::domain::Period,
    pub at: DateTime<Utc>,
    /// `cycle_gating`'s `draw_days_while_unpaid()`, for the billing-cycle gate.
    pub draw_days: i64,
}

/// What became of one debit of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum DebitResult {
    Posted {
        split: crate::domain::Split,
        line_id: Option<SubjectId>,
    },
    /// Its keys were used before: the entries recorded then.
    Existing(Vec<EntryRecord>),
    Refused(crate::domain::DebitError),
    /// Its keys appear twice in the batch: to be posted on its own.
    Alone,
}

/// What an account holds and what it bought lately, read for many accounts at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFigures {
    pub account_email: String,
    pub balances: Balances,
    pub topups_cents: i64,
}

/// A coupon code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CouponRecord {
    pub code: String,
    pub credit_cents: i64,
    pub max_redemptions: i64,
    pub redeemed: i64,
    pub expires_at: DateTime<Utc>,
}

/// Stored balances next to the sums of the entries, per account and per line and period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerSums {
    /// (account, stored prepaid, stored deposit, sum of prepaid entries, sum of deposit entries)
    pub accounts: Vec<(String, i64, i64, i64, i64)>,
    /// (line, period, stored used, limit, minus the sum of its credit entries)
    pub usage: Vec<(SubjectId, String, i64, i64, i64)>,
    /// Accounts with entries but no balance row.
    pub orphans: Vec<String>,
    /// (account, owed on its bills, sum of its receivable entries)
    pub receivables: Vec<(String, i64, i64)>,
}

/// A bill to issue: the credit used on a line in a period.
#[derive(Debug, Clone, PartialEq)]
pub struct BillWrite {
    pub id: uuid::Uuid,
    pub line_id: SubjectId,
    pub account_email: String,
    pub period: crate::domain::Period,
    pub amount_cents: i64,
    pub due_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BillRecord {
    pub id: uuid::Uuid,
    pub line_id: SubjectId,
    pub account_email: String,
    pub period: String,
    pub amount_cents: i64,
    pub paid_cents: i64,
    pub due_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub version: i64,
}

/// Part of a payment applied to one bill (guarded by the bill's version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillPayment {
    pub bill_id: uuid::Uuid,
    pub expected_version: i64,
    pub cents: i64,
}

/// One billing-cycle step in one transaction: a bill issued (at most once per line and
/// period: `false` when it existed), payments applied, ledger entries, the credit line's
/// workflow step and limit, the rule decisions behind them.
#[derive(Debug, Clone, Default)]
pub struct CycleWrite {
    pub bill: Option<BillWrite>,
    pub payments: Vec<BillPayment>,
    pub ledger: Option<LedgerWrite>,
    /// A workflow instance to open first (a limit increase), with its row.
    pub new_instance: Option<NewInstance>,
    pub increase: Option<IncreaseRecord>,
    /// Workflow steps, in order (an instance opened above may be stepped here).
    pub transitions: Vec<TransitionWrite>,
    pub new_limit: Option<(SubjectId, i64)>,
    pub decisions: Vec<crate::rules::DecisionRecord>,
    pub at: DateTime<Utc>,
}

/// A proposed or requested higher limit for a credit line (its state is the
/// `limit_increase` workflow instance with the same id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IncreaseRecord {
    pub id: SubjectId,
    pub line_id: SubjectId,
    pub account_email: String,
    pub current_limit_cents: i64,
    pub next_limit_cents: i64,
    /// The deposit to hold first (0 below the deposit tier).
    pub deposit_cents: i64,
    pub created_at: DateTime<Utc>,
}

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

/// A website check to run for an application (`website_checks`, issue 23 item 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebsiteCheckRequest {
    pub id: uuid::Uuid,
    pub application_id: ApplicationId,
    pub url: String,
}

/// A website check handed to its job: only the job of the row's current `enqueues` may
/// finish it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebsiteCheckJob {
    pub id: uuid::Uuid,
    pub enqueues: i64,
}

/// A website check with what it found.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WebsiteCheckRecord {
    pub id: uuid::Uuid,
    pub application_id: ApplicationId,
    pub url: String,
    /// `pending`, `queued` (its job exists) or `done`.
    pub status: String,
    pub enqueues: i64,
    pub requested_at: DateTime<Utc>,
    pub checked_at: Option<DateTime<Utc>>,
    /// What the fetch found, once done.
    pub evidence: Option<crate::website::WebsiteEvidence>,
}

/// What a finished website check writes in one transaction: the evidence, and on an
/// application still open the decision the rules made with it and its `website_checked`
/// event.
#[derive(Debug, Clone)]
pub struct WebsiteCheckFinish {
    pub job: WebsiteCheckJob,
    pub evidence: crate::website::WebsiteEvidence,
    pub at: DateTime<Utc>,
    pub decision: Option<crate::rules::DecisionRecord>,
    pub transition: Option<TransitionWrite>,
}

/// An invoice request to insert, or whose details to replace (same id).
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceRequestWrite {
    pub id: SubjectId,
    pub reference: String,
    pub account_email: String,
    pub requester: String,
    /// [`crate::domain::invoice::RequestDetails`] as JSON.
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// An invoice request with its workflow state.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InvoiceRequestRecord {
    pub id: SubjectId,
    pub reference: String,
    pub account_email: String,
    pub requester: String,
    pub details: serde_json::Value,
    pub state: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An issued invoice (immutable).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InvoiceRecord {
    pub number: i64,
    pub request_id: Option<SubjectId>,
    pub account_email: String,
    pub total_cents: i64,
    /// [`crate::domain::invoice::Document`] as JSON.
    pub document: serde_json::Value,
    #[serde(skip)]
    pub html: String,
    #[serde(skip)]
    pub pdf: Vec<u8>,
    pub issued_by: String,
    pub issued_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub account_email: Option<String>,
    /// Invoices numbered after this one.
    pub after: Option<i64>,
    pub limit: i64,
}

/// A reviewer's `mark_sent`: the invoice to issue (numbered `invoice.number`, which must be
/// the counter's next; `None` when the request's invoice exists and is reused) and the task,
/// workflow step (with the email and its attachment), audit entry and kept answer, all in one
/// transaction.
#[derive(Debug, Clone)]
pub struct InvoiceIssue {
    pub invoice: Option<InvoiceRecord>,
    pub action: ActionWrite,
}

/// One worker process's last tick (`worker_heartbeats`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WorkerBeat {
    /// The worker's unique name (process id and a random suffix).
    pub worker: String,
    pub started_at: DateTime<Utc>,
    /// Wall time of the last finished tick.
    pub beat_at: DateTime<Utc>,
    /// The service clock that tick read.
    pub clock_at: DateTime<Utc>,
    /// The service clock of the last scheduled run (cycle close, gating, reminder scan).
    pub scheduled_clock_at: Option<DateTime<Utc>>,
    pub ticks: i64,
}

/// What [`Store::report_figures`](crate::store::Store::report_figures) reads: flows between
/// `from` (inclusive) and `to` (exclusive), stocks as they stand when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportWindow {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Cut-offs that split open tasks by age, newest first: a task created after
    /// `open_task_cutoffs[i]` (and not after an earlier one) is in bucket `i`; one created at
    /// or before the last is in bucket `open_task_cutoffs.len()`.
    pub open_task_cutoffs: Vec<DateTime<Utc>>,
}

/// Aggregate figures for the simulation's report, read in one snapshot. Every list is sorted
/// by its key, so the same database gives the same figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFigures {
    /// Applications received in the window, by their state now.
    pub applications: Vec<(String, i64)>,
    /// Every credit line, by its state now.
    pub lines: Vec<(String, i64)>,
    /// What the bills not paid in full still ask for.
    pub billed_unpaid_cents: i64,
    /// Credit drawn in months that have no bill yet (the month in progress, mostly).
    pub unbilled_cents: i64,
    pub bills: ReportBills,
    /// Limit increases proposed or requested in the window, by their state now.
    pub increases: Vec<(String, i64)>,
    /// Deposits held as guarantees, all accounts.
    pub deposits_held_cents: i64,
    /// Emails sent in the window, by template.
    pub emails_sent: Vec<(String, i64)>,
    /// Tasks created in the window, by kind.
    pub tasks_opened: Vec<(String, i64)>,
    /// Tasks finished (done or obsolete) in the window, by kind.
    pub tasks_closed: Vec<(String, i64)>,
    /// Tasks open now: (kind, age bucket as in [`ReportWindow::open_task_cutoffs`], count).
    pub tasks_open: Vec<(String, i64, i64)>,
}

/// Bills issued in a window, and bills with something to pay that fell due in it (`due_at`
/// within the window) with how they stand now. A bill paid at or before its `due_at` is on
/// time; "unpaid" is not paid in full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReportBills {
    pub issued: i64,
    pub issued_cents: i64,
    pub due: i64,
    pub due_cents: i64,
    pub paid_on_time: i64,
    pub paid_late: i64,
    pub unpaid: i64,
    pub unpaid_cents: i64,
}

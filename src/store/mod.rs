//! Persistence: one [`Store`] trait, two implementations sharing their SQL ([`sqlite`] is
//! the embedded default, [`postgres`] the scale-out backend). Each method that writes is one
//! transaction: the callers (services) decide *what* to write, the store makes it atomic.

mod records;
mod sql;

pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

pub use records::*;

use crate::domain::{ApplicationId, SubjectId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer moved the row first; nothing was written.
    #[error("version conflict: expected version {expected}, found {actual}")]
    Conflict { expected: i64, actual: i64 },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    Duplicate(String),
    /// A guarded write found the balance, limit or coupon no longer allowing it; nothing was
    /// written.
    #[error("refused: {0}")]
    Refused(String),
    #[error("unsupported database url {0:?} (expected sqlite://... or postgres://...)")]
    UnsupportedUrl(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::Duplicate(db.message().to_string());
        }
        StoreError::Database(e)
    }
}

impl StoreError {
    /// The database refused this write for what it holds (a value it cannot store, a check
    /// it breaks), not because it is unreachable, busy or lost a race: writing the same
    /// thing again would fail again, while other writes would not.
    pub fn is_data_fault(&self) -> bool {
        let StoreError::Database(e) = self else { return false };
        match e {
            sqlx::Error::Encode(_) => true,
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                if code.len() == 5 {
                    // PostgreSQL SQLSTATE: 22 data exception (a NUL byte, a value out of
                    // range), 23 integrity constraint (a CHECK).
                    code.starts_with("22") || code.starts_with("23")
                } else {
                    // SQLite result codes (the low byte of an extended code): TOOBIG,
                    // CONSTRAINT, MISMATCH, RANGE.
                    code.parse::<i64>().is_ok_and(|c| [18, 19, 20, 25].contains(&(c & 0xff)))
                }
            }
            _ => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the services need from a database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;

    /// Applies pending migrations; safe to run on every start.
    async fn migrate(&self) -> StoreResult<()>;

    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// Creates a workflow instance in its initial state with its creation event, its
    /// initial effects and, for applications, the application row: all or nothing.
    async fn create_instance(&self, new: &NewInstance, application: Option<&NewApplication>) -> StoreResult<()>;

    /// Moves an instance from `expected_version`, appends the event and writes the outbox
    /// rows in one transaction. A stale version is [`StoreError::Conflict`] and writes
    /// nothing. Returns the new version.
    async fn apply_transition(&self, t: &TransitionWrite) -> StoreResult<i64>;

    async fn instance(&self, id: SubjectId) -> StoreResult<Option<Instance>>;

    /// The event log of an instance, oldest first.
    async fn events(&self, id: SubjectId) -> StoreResult<Vec<EventRecord>>;

    /// The events of these instances (only those into `to_state`, when given), by instance
    /// and then oldest first.
    async fn events_of(&self, ids: &[SubjectId], to_state: Option<&str>) -> StoreResult<Vec<EventRecord>>;

    /// Outbox rows of an instance, oldest first.
    async fn outbox_for(&self, id: SubjectId) -> StoreResult<Vec<OutboxRecord>>;

    async fn application(&self, id: ApplicationId) -> StoreResult<Option<ApplicationRecord>>;

    async fn application_by_reference(&self, reference: &str) -> StoreResult<Option<ApplicationRecord>>;

    /// Appends a rule decision (rule, version hash, input, output, reasons, timing).
    async fn record_decision(&self, record: &crate::rules::DecisionRecord) -> StoreResult<()>;

    /// Decisions about a subject, oldest first.
    async fn decisions_for(&self, subject: SubjectId) -> StoreResult<Vec<crate::rules::DecisionRecord>>;

    /// Applications, oldest first, optionally in one state, starting after a cursor id.
    async fn list_applications(&self, filter: &ApplicationFilter) -> StoreResult<Vec<ApplicationRecord>>;

    /// Keeps a raw inbound message (by content hash) unless it or its Message-ID is known.
    async fn keep_message(&self, message: &RawMessage) -> StoreResult<Kept>;

    /// Writes everything a processed message changes, and its outcome, in one transaction.
    /// `Duplicate` when the message was processed meanwhile (nothing is written then).
    async fn commit_intake(&self, write: &IntakeWrite) -> StoreResult<()>;

    /// The application a message thread belongs to: the first of `message_ids` that is a
    /// known inbound message linked to an application.
    async fn application_for_thread(&self, message_ids: &[String]) -> StoreResult<Option<ApplicationId>>;

    /// Instances of `workflow` for an account, newest first.
    async fn instances_for_account(&self, account_email: &str, workflow: &str) -> StoreResult<Vec<Instance>>;

    /// Extracted values of an application, oldest first (each with its provenance).
    async fn application_fields(&self, id: ApplicationId) -> StoreResult<Vec<FieldRecord>>;

    /// Evidence of an application (kind, data), oldest first.
    async fn evidence_for(&self, id: ApplicationId) -> StoreResult<Vec<EvidenceWrite>>;

    /// The inbound messages linked to an application, oldest first.
    async fn messages_for(&self, id: ApplicationId) -> StoreResult<Vec<MessageRecord>>;

    /// How many inbound messages are kept, and how many of them are processed.
    async fn message_counts(&self) -> StoreResult<(i64, i64)>;

    /// Several [`Store::keep_message`]s in one transaction (one commit for a batch).
    async fn keep_messages(&self, messages: &[RawMessage]) -> StoreResult<Vec<Kept>>;

    /// Several intake writes in one transaction: all or none. A write that another write of
    /// the batch depends on (the same instance) is refused as `Conflict`; callers then commit
    /// them one by one.
    async fn commit_intakes(&self, writes: &[IntakeWrite]) -> StoreResult<()>;

    /// Tasks matching the filter, oldest first.
    async fn list_tasks(&self, filter: &TaskFilter) -> StoreResult<Vec<TaskRecord>>;

    async fn task(&self, id: crate::domain::TaskId) -> StoreResult<Option<TaskRecord>>;

    /// Sets (or clears) a task's assignee if it is still at `expected_version`, and records
    /// `audit` in the same transaction. A newer version is `Conflict`.
    async fn assign_task(
        &self,
        id: crate::domain::TaskId,
        expected_version: i64,
        assignee: Option<&str>,
        audit: &AuditRecord,
    ) -> StoreResult<TaskRecord>;

    /// Writes a reviewer's or admin's action in one transaction. A task or instance that moved
    /// meanwhile is `Conflict`; an idempotency key already used is `Duplicate`: either way
    /// nothing is written.
    async fn commit_action(&self, action: &ActionWrite) -> StoreResult<()>;

    /// The response kept for a caller's idempotency key.
    async fn idempotent_response(&self, caller: &str, key: &str) -> StoreResult<Option<IdempotentResponse>>;

    async fn credit_line(&self, id: SubjectId) -> StoreResult<Option<CreditLineRecord>>;

    /// Credit lines, oldest first, after the cursor.
    async fn list_credit_lines(&self, filter: &CreditLineFilter) -> StoreResult<Vec<CreditLineRecord>>;

    /// Audit entries matching the filter, oldest first.
    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>>;

    /// Stores a new API token; a name already in use is `Duplicate`.
    async fn create_token(&self, token: &TokenRecord) -> StoreResult<()>;

    /// The token with this id, revoked or not.
    async fn token(&self, id: &str) -> StoreResult<Option<TokenRecord>>;

    /// Every token, oldest first.
    async fn tokens(&self) -> StoreResult<Vec<TokenRecord>>;

    /// Revokes the named token; false when no unrevoked token has that name.
    async fn revoke_token(&self, name: &str, at: chrono::DateTime<chrono::Utc>) -> StoreResult<bool>;

    /// Marks up to `limit` deliverable email rows (pending, due by `now`) as queued, oldest
    /// first, and returns them with their new job number. Concurrent relays never take the
    /// same row.
    async fn queue_outbox(&self, now: chrono::DateTime<chrono::Utc>, limit: i64) -> StoreResult<Vec<QueuedEmail>>;

    /// Takes a queued row for one delivery attempt (counted) until `lease_until`. `None` when
    /// the job is stale: the row was sent, failed, or queued again under a newer number.
    async fn claim_outbox(
        &self,
        job: &QueuedEmail,
        lease_until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Option<OutboxRecord>>;

    /// Records how attempt `attempt` ended, if the row is still that attempt's (false when a
    /// lease ran out and the row moved on). A failure opens its reviewer task in the same
    /// transaction.
    async fn finish_outbox(
        &self,
        id: crate::domain::OutboxId,
        attempt: i64,
        outcome: &DeliveryOutcome,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool>;

    /// Makes rows deliverable again whose sender's lease ran out, or that were queued before
    /// `queued_before` without their job ever claiming them. Returns how many.
    async fn recover_outbox(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        queued_before: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<u64>;

    async fn outbox_row(&self, id: crate::domain::OutboxId) -> StoreResult<Option<OutboxRecord>>;

    /// Puts a failed email back in the queue with a fresh count of attempts (a reviewer fixed
    /// its cause). False when the row is not failed.
    async fn requeue_outbox(
        &self,
        id: crate::domain::OutboxId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool>;

    /// Email outbox rows per status.
    async fn outbox_counts(&self) -> StoreResult<Vec<(String, i64)>>;

    /// Instances of `workflow` in any of `states`.
    async fn waiting_instances(&self, workflow: &str, states: &[&str]) -> StoreResult<Vec<Instance>>;

    /// Appends the entries and moves the balances in one transaction. An idempotency key or
    /// provider reference already used is `Duplicate`; a balance that would go below zero, a
    /// draw beyond the limit, or a coupon used up, expired or already redeemed by the account
    /// is `Refused`. Either way nothing is written.
    async fn post_ledger(&self, write: &LedgerWrite) -> StoreResult<()>;

    async fn balances(&self, account_email: &str) -> StoreResult<Balances>;

    /// Posts many usage debits in one transaction, planned in order under the write lock
    /// (each takes prepaid credits first, then its account's usable line for its period, from
    /// what the debits before it left). The balance updates stay guarded in the statements: a
    /// writer outside the batch that got there first makes the whole batch `Conflict`, with
    /// nothing written.
    async fn post_debits(&self, requests: &[DebitRequest], drawing: &[&str]) -> StoreResult<Vec<DebitResult>>;

    /// Credit drawn on a line in a period (0 when nothing was).
    async fn credit_used(&self, line: SubjectId, period: crate::domain::Period) -> StoreResult<i64>;

    /// What these lines owe, by month: each bill not paid in full (what is left of it), and
    /// each month that used credit and has no bill yet (what it used, the month in progress
    /// included). The billing-cycle gate ([`crate::domain::Gate`]) is made of these.
    async fn owed_months(&self, lines: &[SubjectId]) -> StoreResult<Vec<(SubjectId, crate::domain::Unpaid)>>;

    /// An account's entries, oldest first.
    async fn ledger_entries(&self, account_email: &str) -> StoreResult<Vec<EntryRecord>>;

    /// The entries of these accounts made after `since`, oldest first.
    async fn entries_since(
        &self,
        accounts: &[String],
        since: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<EntryRecord>>;

    /// The entries with these idempotency keys.
    async fn entries_by_keys(&self, keys: &[String]) -> StoreResult<Vec<EntryRecord>>;

    /// A new coupon code; a code in use is `Duplicate`.
    async fn create_coupon(&self, coupon: &CouponRecord, at: chrono::DateTime<chrono::Utc>) -> StoreResult<()>;

    async fn coupon(&self, code: &str) -> StoreResult<Option<CouponRecord>>;

    /// What `ledger verify` compares.
    async fn ledger_sums(&self) -> StoreResult<LedgerSums>;

    /// Writes one billing-cycle step atomically. With a bill: `false` (and nothing written)
    /// when that line already has its bill for the period. A moved instance or bill is
    /// `Conflict`.
    async fn commit_cycle(&self, write: &CycleWrite) -> StoreResult<bool>;

    /// Writes many bill steps (each a bill, its receivable entries, its workflow step) in one
    /// transaction with multi-row statements: what a cycle close does per batch. Says, per
    /// write, whether its bill was new; a line billed already is skipped with nothing written.
    /// A moved instance is `Conflict` and nothing of the batch is written. Writes of any
    /// other shape are `Refused` (they go through [`Store::commit_cycle`]).
    async fn commit_bills(&self, writes: &[CycleWrite]) -> StoreResult<Vec<bool>>;

    /// Up to `limit` credit lines after `after` (in id order), in none of the `ended` states
    /// and opened before the period ended, that have no bill for it yet (what a cycle close
    /// still has to do), each with the credit it used in the period.
    async fn lines_to_bill(
        &self,
        period: crate::domain::Period,
        after: Option<SubjectId>,
        limit: i64,
        ended: &[&str],
    ) -> StoreResult<Vec<(CreditLineRecord, i64)>>;

    /// A line's bills, oldest period first.
    async fn bills_for_line(&self, line: SubjectId) -> StoreResult<Vec<BillRecord>>;

    /// An account's bills not paid in full, oldest first.
    async fn unpaid_bills(&self, account_email: &str) -> StoreResult<Vec<BillRecord>>;

    /// A line's limit increases with their workflow states, oldest first.
    async fn increases_for_line(&self, line: SubjectId) -> StoreResult<Vec<(IncreaseRecord, String)>>;

    /// The limit increases of these lines with their workflow states, oldest first.
    async fn increases_for_lines(&self, lines: &[SubjectId]) -> StoreResult<Vec<(IncreaseRecord, String)>>;

    /// One limit increase with its workflow state.
    async fn increase(&self, id: SubjectId) -> StoreResult<Option<(IncreaseRecord, String)>>;

    /// The bills of these lines, by line, oldest period first.
    async fn bills_for_lines(&self, lines: &[SubjectId]) -> StoreResult<Vec<BillRecord>>;

    /// Balances and prepaid bought since `topups_since` of these accounts (those with a
    /// ledger account; the others have neither).
    async fn account_figures(
        &self,
        accounts: &[String],
        topups_since: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<AccountFigures>>;

    /// Whether the scheduler recorded `period` as closed.
    async fn cycle_closed(&self, period: crate::domain::Period) -> StoreResult<bool>;

    /// Records `period` as closed (a second record is ignored).
    async fn mark_cycle_closed(
        &self,
        period: crate::domain::Period,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()>;

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

    /// The ledger entries of a provider's transaction, oldest first.
    async fn entries_by_provider_ref(&self, provider: &str, reference: &str) -> StoreResult<Vec<EntryRecord>>;

    /// [`Store::commit_action`] that also writes `notes` (versioned updates of other tasks,
    /// e.g. the AWS-login decision noted on the review tasks of the applications waiting for
    /// it) in the same transaction: a note on a task that moved meanwhile is `Conflict`.
    async fn commit_action_noting(&self, action: &ActionWrite, notes: &[TaskUpdate]) -> StoreResult<()>;

    /// The tasks about a subject (an application, an AWS login, ...), oldest first.
    async fn tasks_for(&self, subject: SubjectId) -> StoreResult<Vec<TaskRecord>>;

    /// Marks up to `limit` website checks as queued, oldest first: those pending, and those
    /// queued before `queued_before` whose job never finished them. Each gets a new job
    /// number; concurrent relays never take the same row.
    async fn queue_website_checks(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        queued_before: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> StoreResult<Vec<WebsiteCheckJob>>;

    async fn website_check(&self, id: uuid::Uuid) -> StoreResult<Option<WebsiteCheckRecord>>;

    /// An application's website checks, oldest first.
    async fn website_checks_for(&self, id: ApplicationId) -> StoreResult<Vec<WebsiteCheckRecord>>;

    /// Records a check's evidence, its decision and its event in one transaction, if the row
    /// is still queued under the job's number (false, nothing written, when it is not). A
    /// moved application is `Conflict`, with nothing written.
    async fn finish_website_check(&self, finish: &WebsiteCheckFinish) -> StoreResult<bool>;

    /// An invoice request with its workflow state.
    async fn invoice_request(&self, id: SubjectId) -> StoreResult<Option<InvoiceRequestRecord>>;

    /// The invoice request with this `IR-…` reference.
    async fn invoice_request_by_reference(&self, reference: &str) -> StoreResult<Option<InvoiceRequestRecord>>;

    /// The number of the last invoice issued (0 before the first).
    async fn last_invoice_number(&self) -> StoreResult<i64>;

    /// Issues an invoice and writes the action that sends it, in one transaction. The counter
    /// moves from `number - 1` to `number` in it: when another issue took that number first
    /// this is `Conflict` (nothing written; plan again with the next number); a request that
    /// has its invoice already is `Duplicate`. A rolled-back issue leaves the counter as it was,
    /// so numbers have no gaps.
    async fn issue_invoice(&self, issue: &InvoiceIssue) -> StoreResult<()>;

    async fn invoice(&self, number: i64) -> StoreResult<Option<InvoiceRecord>>;

    async fn invoice_for_request(&self, request: SubjectId) -> StoreResult<Option<InvoiceRecord>>;

    /// Invoices by number, after the cursor.
    async fn list_invoices(&self, filter: &InvoiceFilter) -> StoreResult<Vec<InvoiceRecord>>;

    /// Records a worker's finished tick (one row per worker, replaced each tick).
    async fn worker_beat(&self, beat: &WorkerBeat) -> StoreResult<()>;

    /// Every worker's last tick, newest first.
    async fn worker_beats(&self) -> StoreResult<Vec<WorkerBeat>>;

    /// Emails not yet delivered: (pending and deliverable at `now`, queued or being sent).
    async fn outbox_due(&self, now: chrono::DateTime<chrono::Utc>) -> StoreResult<(i64, i64)>;
    /// The simulation report's counts (`sim::report`): GROUP BY reads of applications, lines,
    /// bills, credit usage, increases, deposits, sent emails and tasks, in one read
    /// transaction so they agree with each other.
    async fn report_figures(&self, window: &ReportWindow) -> StoreResult<ReportFigures>;
    /// Workflow events with an id above `after` (ids are time-ordered), oldest first, up to
    /// `limit`, each with its instance's workflow and account: what the simulation's checker
    /// reads each day.
    async fn events_after(
        &self,
        after: uuid::Uuid,
        limit: i64,
    ) -> StoreResult<Vec<(EventRecord, String, Option<String>)>>;

    /// Outbox rows with an id above `after`, oldest first, up to `limit`.
    async fn outbox_after(&self, after: uuid::Uuid, limit: i64) -> StoreResult<Vec<OutboxRecord>>;

    /// The outbox rows with these ids.
    async fn outbox_rows(&self, ids: &[crate::domain::OutboxId]) -> StoreResult<Vec<OutboxRecord>>;

    /// Ledger entries with an id above `after`, oldest first, up to `limit`.
    async fn entries_after(&self, after: uuid::Uuid, limit: i64) -> StoreResult<Vec<EntryRecord>>;

    /// Bills with an id above `after`, oldest first, up to `limit`.
    async fn bills_after(&self, after: uuid::Uuid, limit: i64) -> StoreResult<Vec<BillRecord>>;

    /// What the ledger's CHECKs forbid, found anyway: balances below zero, credit used over
    /// its period's limit (one line each).
    async fn ledger_breaches(&self) -> StoreResult<Vec<String>>;

    /// The rule decisions with these ids (whatever their subject).
    async fn decisions_by_ids(
        &self,
        ids: &[crate::domain::DecisionId],
    ) -> StoreResult<Vec<crate::rules::DecisionRecord>>;
}

/// Opens the store a database URL names: `sqlite://path` (created if missing) or
/// `postgres://...`.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}

//! Persistence: one [`Store`] trait made of one trait per area (workflow, applications, intake,
//! tasks, audit, outbox, ledger, debits, billing, payments, invoices, console sessions,
//! reviewer notes, rule history and policy versions, operations), each in its own module beside the SQL that implements it. Two backends share
//! that SQL ([`sqlite`] is the embedded default, [`postgres`] the scale-out backend). Each
//! method that writes is one transaction: the callers (services) decide *what* to write, the
//! store makes it atomic. Rows become records with `sqlx::FromRow`.

mod applications;
mod audit;
pub mod backup;
mod billing;
mod credit_lines;
mod debits;
mod intake;
mod invoices;
mod ledger;
mod ledger_reads;
mod notes;
mod operations;
mod outbox;
mod payments;
mod rule_history;
mod rule_policies;
mod sessions;
mod sql;
mod statements;
mod tasks;
mod workflow;
mod workflow_changes;

pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

pub use applications::*;
pub use audit::*;
pub use billing::*;
pub use credit_lines::*;
pub use debits::*;
pub use intake::*;
pub use invoices::*;
pub use ledger::*;
pub use ledger_reads::*;
pub use notes::*;
pub use operations::*;
pub use outbox::*;
pub use payments::*;
pub use rule_history::*;
pub use rule_policies::*;
pub use sessions::*;
pub use tasks::*;
pub use workflow::*;
pub use workflow_changes::*;

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

/// Everything the services need from a database, one trait per area (each in its own
/// module, with the SQL that implements it).
pub trait Store:
    OperationsStore
    + WorkflowStore
    + ApplicationStore
    + IntakeStore
    + TaskStore
    + AuditStore
    + OutboxStore
    + LedgerStore
    + LedgerReadStore
    + DebitStore
    + CreditLineStore
    + BillingStore
    + PaymentStore
    + InvoiceStore
    + SessionStore
    + RuleHistoryStore
    + NoteStore
    + RulePolicyStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: OperationsStore
        + WorkflowStore
        + ApplicationStore
        + IntakeStore
        + TaskStore
        + AuditStore
        + OutboxStore
        + LedgerStore
        + LedgerReadStore
        + DebitStore
        + CreditLineStore
        + BillingStore
        + PaymentStore
        + InvoiceStore
        + SessionStore
        + RuleHistoryStore
        + NoteStore
        + RulePolicyStore
        + Send
        + Sync
        + 'static
{
}

/// Opens the store a database URL names: `sqlite://path` (created if missing) or
/// `postgres://...`.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    connect_sized(url, postgres::DEFAULT_POOL).await
}

/// [`connect`], with PostgreSQL's pool at most `max_connections` (SQLite's pools are sized
/// by what the file allows: one writer).
pub async fn connect_sized(url: &str, max_connections: u32) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect_sized(url, max_connections).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}

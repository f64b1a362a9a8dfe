//! Pure domain types: no I/O, no clocks, no databases. Everything that comes from outside
//! is parsed into one of these types once, at the edge.

mod access;
mod address;
mod applicant;
mod ids;
pub mod invoice;
mod ledger;
mod money;
mod period;

pub use access::{BearerToken, Role, RoleError, TOKEN_RANDOM_BYTES};
pub use address::{AddressError, Domain, EmailAddress};
pub use applicant::{ApplicantKind, ApplicantKindError};
pub use ids::{ApplicationId, DecisionId, EventId, OutboxId, SubjectId, TaskId};
pub use ledger::{
    BoundError, Bucket, DebitError, EntryKind, Funds, Gate, Gated, MAX_BALANCE, Refused, Split, Unpaid, grown,
    paid_before, plan_debit, split_debit, within,
};
pub use money::{Money, MoneyError};
pub use period::{Period, PeriodError, last_day_to_pay, reminder_window};

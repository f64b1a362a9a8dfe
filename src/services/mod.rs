//! Services combine the parts: they read through the store, ask the pure engine (and the
//! rules) what to do, and hand the store one atomic write. Adapters (CLI, HTTP, jobs,
//! inbox) call services and nothing below them.

pub mod access;
pub mod actions;
pub mod aws_login;
pub mod backtest;
pub mod backups;
pub mod billing;
pub mod clock;
pub mod dashboard;
pub mod debit_queue;
pub mod decisions;
pub mod delivery;
pub mod error;
pub mod group_commit;
pub mod in_flight;
pub mod inbound;
pub mod invoices;
pub mod ledger;
pub mod notes;
pub mod payments;
pub mod policy_in_force;
pub mod previews;
pub mod reminders;
pub mod rereview;
pub mod rule_analytics;
pub mod rule_policy;
pub mod standing;
pub mod task_actions;
pub mod task_counts;
pub mod task_view;
pub mod tasks;
pub mod thread;
pub mod views;
pub mod website;
pub mod workflow;

pub use clock::{Clock, FileClock, ManualClock, SystemClock};
pub use error::{Failure, FailureKind};
pub use workflow::{AppliedDecision, Cursor, Fire, Fired, NewApplicationInput, ServiceError, WorkflowService};

//! Monthly billing, one module tree whose imports point one way (tests/layering.rs checks it):
//!
//! - [`schedule`]: the scheduled job, which runs [`close`] for every month not closed yet,
//!   then [`gate`];
//! - [`close`]: bills every line once per month, then [`escalation`] proposes increases;
//! - [`gate`]: what an overdue bill means for its line (the `cycle_gating` rule);
//! - [`repay`]: a bill payment, oldest bills first, restoring a gated line;
//! - [`escalation`]: limit increases, their deposits and approval;
//! - below them all: [`lines`] (reading lines and bills, planning a step), [`payment_standing`]
//!   (how an account has been paying) and [`error`].
//!
//! Each step is one [`crate::store::CycleWrite`]: bill, entries, workflow step and decision
//! together.

pub mod close;
pub mod error;
pub mod escalation;
pub mod gate;
pub mod lines;
pub mod payment_standing;
pub mod repay;
pub mod schedule;

pub use close::{CloseReport, close};
pub use error::CycleError;
pub use gate::{GateReport, gate, gating_input, owed_facts};
pub use payment_standing::{PaymentStanding, Standings, standing, standings};
pub use repay::{Paid, pay};
pub use schedule::{ScheduleReport, last_closed_period, scheduled};

//! The workflow and state names the Rust code acts on, one place for all of them.
//!
//! The files in `workflows/` own the states; Rust names a state only where it drives a step
//! the file cannot express (the gate puts a line in `paused`, an approval waits in
//! `awaiting_second_approval`). What a *group* of states has in common is a flag in the file
//! (`open`, `terminal`, `keeps_prepaid_access`, `draws_credit`, `reminded`), asked through
//! [`Definition::states_where`](super::Definition::states_where), never a list kept here: a
//! state added to a file then joins its group without a Rust change.
//!
//! [`missing`] checks every name below against the loaded files, so a renamed or removed
//! state stops the service at start-up instead of misrouting mail at run time.

use super::Workflows;

macro_rules! names {
    ($( $(#[$doc:meta])* $module:ident = $workflow:literal { $( $konst:ident = $state:literal ),* $(,)? } )*) => {
        $(
            $(#[$doc])*
            pub mod $module {
                /// The workflow's name (`workflows/<name>.toml`).
                pub const WORKFLOW: &str = $workflow;
                $( pub const $konst: &str = $state; )*
                pub(super) const STATES: &[&str] = &[$( $state ),*];
            }
        )*
        /// Every workflow Rust drives, with the states it names in it.
        pub const ALL: &[(&str, &[&str])] = &[$( ($workflow, $module::STATES) ),*];
    };
}

names! {
    /// An application for a credit line (`credit_line_application.toml`).
    application = "credit_line_application" {
        RECEIVED = "received",
        AWAITING_ACCOUNT_CONFIRMATION = "awaiting_account_confirmation",
        AWAITING_MATERIALS = "awaiting_materials",
        AWAITING_DOMAIN_CONFIRMATION = "awaiting_domain_confirmation",
        BUSINESS_VERIFICATION = "business_verification",
        AWS_HISTORY_CHECK = "aws_history_check",
        PENDING_REVIEW = "pending_review",
        AWAITING_SECOND_APPROVAL = "awaiting_second_approval",
        AWAITING_DEPOSIT = "awaiting_deposit",
        APPROVED = "approved",
        DECLINED = "declined",
        DEFERRED = "deferred",
        CLOSED_PREPAID = "closed_prepaid",
        WITHDRAWN = "withdrawn",
    }
    /// An approved monthly credit line (`credit_line.toml`).
    credit_line = "credit_line" {
        ACTIVE = "active",
        GRACE = "grace",
        PAUSED = "paused",
        REDUCED = "reduced",
        CLOSED = "closed",
    }
    /// A proposed limit increase (`limit_increase.toml`).
    limit_increase = "limit_increase" {
        AWAITING_DEPOSIT = "awaiting_deposit",
        PENDING_REVIEW = "pending_review",
        APPROVED = "approved",
        CLOSED = "closed",
    }
    /// The review of an application's AWS account login (`aws_login.toml`).
    aws_login = "aws_login" {
        UNDER_REVIEW = "under_review",
        APPROVED = "approved",
        DECLINED = "declined",
    }
    /// A request for an invoice (`invoice_request.toml`).
    invoice_request = "invoice_request" {
        RECEIVED = "received",
        AWAITING_DETAILS = "awaiting_details",
        PENDING_REVIEW = "pending_review",
    }
}

/// A reviewer task's own lifecycle, kept by the service rather than a workflow file.
pub mod task_state {
    /// Waiting for a reviewer.
    pub const OPEN: &str = "open";
    /// A first senior approved; a second must (four-eyes).
    pub const AWAITING_SECOND_APPROVAL: &str = "awaiting_second_approval";
    pub const DONE: &str = "done";
    /// Its subject moved on without it (the applicant withdrew, a line closed).
    pub const OBSOLETE: &str = "obsolete";
    /// The states in which a task still waits for someone.
    pub const WAITING: [&str; 2] = [OPEN, AWAITING_SECOND_APPROVAL];
}

/// `workflow.state` for every name above that the loaded files lack (a workflow missing
/// altogether is named once, as `workflow`).
pub fn missing(workflows: &Workflows) -> Vec<String> {
    let mut out = Vec::new();
    for (workflow, states) in ALL {
        match workflows.get(workflow) {
            None => out.push((*workflow).to_string()),
            Some(def) => {
                out.extend(states.iter().filter(|s| def.state(s).is_none()).map(|s| format!("{workflow}.{s}")))
            }
        }
    }
    out
}

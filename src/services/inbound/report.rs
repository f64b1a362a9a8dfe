//! What intake answers for one message. Imports nothing of the crate, so the modules that
//! only read an outcome (delivery skips auto-replies) do not depend on the intake services.

use serde::{Deserialize, Serialize};

/// What happened to one message: the line `creditline ingest --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    pub source: String,
    pub message_id: String,
    pub outcome: String,
    pub application_id: Option<String>,
    pub state: Option<String>,
    pub applicant_type: Option<String>,
    pub missing: Vec<String>,
    pub findings: Vec<String>,
    pub error: Option<String>,
}

pub mod outcome {
    pub const CREATED: &str = "created_application";
    pub const UPDATED: &str = "updated_application";
    pub const DOMAIN_CONFIRMED: &str = "domain_confirmed";
    pub const INVOICE: &str = "invoice_request";
    pub const LIMIT_INCREASE: &str = "limit_increase_request";
    pub const AWS_LOGIN: &str = "aws_login_request";
    pub const AUTO_REPLY: &str = "ignored_auto_reply";
    pub const DUPLICATE: &str = "duplicate";
    pub const TRIAGE: &str = "triage";
    pub const REJECTED: &str = "rejected";
}

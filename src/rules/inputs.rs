//! The typed input of each rule set. Text fields are empty strings when unknown, amounts are
//! integer cents (0 when unknown), dates ISO `YYYY-MM-DD`: simple for scripts to test.

use serde::{Deserialize, Serialize};

/// `applicant_type`: what the application says about who is applying.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApplicantTypeInput {
    /// As stated by the applicant: "enterprise", "individual" or "".
    pub declared_type: String,
    pub account_email: String,
    pub legal_company_name: String,
    pub registration_country: String,
    pub website: String,
    pub product: String,
    pub use_case: String,
    pub app_link: String,
    /// Other verifiable links (repositories, store pages, demos).
    pub other_links: Vec<String>,
    pub aws_account: String,
    /// Whether the account signs in with AWS (then AWS account details are expected).
    pub aws_login: bool,
    pub expected_monthly_spend_cents: i64,
    pub requested_limit_cents: i64,
    pub business_contact: String,
    /// A confirmation reply from a company-domain address was received.
    pub domain_confirmed: bool,
    /// The applicant said they have no company, product or project.
    pub states_no_product: bool,
    /// "Main business activity" (policy: "Business Verification" materials).
    pub main_business_activity: String,
    /// Recent AWS billing records were attached (a billing CSV).
    pub aws_billing_records: bool,
}

/// `business_verification`: the contact address and the website.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusinessVerificationInput {
    /// "enterprise" or "individual_with_product".
    pub applicant_type: String,
    pub contact_email: String,
    pub website: String,
    pub app_link: String,
    pub other_links: Vec<String>,
    /// The WaveSpeedAI account's address, when `contact_email` is another one (the address
    /// that confirmed the company domain): a free-mail account is then a finding, not a failure.
    pub account_email: String,
    /// What the background website check found (`src/website`), once it ran: absent (`()`
    /// in scripts) at intake, present when the check job decides again with it.
    pub website_evidence: Option<crate::website::WebsiteEvidence>,
}

/// `aws_history`: the applicant's existing AWS account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsHistoryInput {
    pub has_account: bool,
    /// Whether the applicant applies through AWS login (then AWS details are applicable).
    pub aws_login: bool,
    /// Age in whole months; -1 when unknown.
    pub account_age_months: i64,
    /// "good", "suspended", "closed" or "" (unknown).
    pub standing: String,
    /// Months with any usage in the last 12.
    pub months_with_usage: i64,
    /// Recent monthly bills, newest last, in cents.
    pub recent_monthly_billing_cents: Vec<i64>,
}

/// `initial_limit`: the first monthly limit to suggest to the reviewer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InitialLimitInput {
    pub applicant_type: String,
    pub requested_limit_cents: i64,
    pub expected_monthly_spend_cents: i64,
    /// Outcomes of the earlier checks ("pass", "concern", "fail", "").
    pub business_verification: String,
    pub aws_history: String,
}

/// `limit_increase`: an existing line's history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitIncreaseInput {
    pub current_limit_cents: i64,
    /// 0 when proposed by the cycle job rather than requested.
    pub requested_limit_cents: i64,
    /// "active", "grace", "paused", "reduced", "closed".
    pub line_state: String,
    pub months_on_line: i64,
    pub consecutive_on_time_payments: i64,
    pub late_payments_12m: i64,
    pub missed_payments_12m: i64,
    /// Average share of the limit used over recent cycles, 0..=100.
    pub utilization_percent: i64,
    /// Recent monthly transaction volume (usage plus prepaid top-ups), cents.
    pub recent_monthly_volume_cents: i64,
    /// Deposit already held as guarantee, cents.
    pub deposit_held_cents: i64,
    /// Payments that failed in the last six months (provider events and finance's reports).
    pub failed_payments_6m: i64,
    /// Chargebacks (disputed payments) in the last six months.
    pub chargebacks_6m: i64,
}

/// `cycle_gating`: the previous bill, at or after its due date.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CycleGatingInput {
    pub bill_amount_cents: i64,
    pub paid_cents: i64,
    /// Days since the due date; 0 or less when not yet due.
    pub days_overdue: i64,
    /// A payment was reported but not yet confirmed (a bank transfer finance announced, a
    /// provider's `processing` event), and the bill payments announced cover what is owed.
    pub payment_pending: bool,
    pub late_cycles_12m: i64,
    pub missed_cycles_12m: i64,
    pub current_limit_cents: i64,
    /// Payments that failed in the last six months.
    pub failed_payments_6m: i64,
    /// Chargebacks (disputed payments) in the last six months.
    pub chargebacks_6m: i64,
}

/// `line_restore`: a line reduced by `cycle_gating` whose bills are now paid in full.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LineRestoreInput {
    /// The limit before the reduction (0 when unknown).
    pub limit_before_cents: i64,
    /// The reduced limit the line has now.
    pub current_limit_cents: i64,
    /// Days after its due date that the last bill was paid in full (0: on time).
    pub days_late: i64,
    /// Bills of the last 12 months paid in full after their due date, this one included.
    pub late_cycles_12m: i64,
}

/// `re_review`: a declined or deferred account's prepaid history since.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReReviewInput {
    /// "declined" or "deferred".
    pub previous_outcome: String,
    pub days_since_decision: i64,
    pub prepaid_months_active: i64,
    pub topups_12m: i64,
    pub prepaid_spend_6m_cents: i64,
    /// Payments that failed in the last six months.
    pub failed_payments_6m: i64,
    /// Every chargeback on record for the account.
    pub chargebacks: i64,
}

/// Fills a loosely written input (a fixture, a `rules eval` file) into the rule's typed
/// shape: unknown fields are errors, missing ones take their defaults. Rules without a typed
/// input pass through unchanged.
pub fn normalize(rule: &str, input: serde_json::Value) -> Result<serde_json::Value, String> {
    fn typed<T: Serialize + for<'de> Deserialize<'de>>(v: serde_json::Value) -> Result<serde_json::Value, String> {
        let t: T = serde_json::from_value(v).map_err(|e| e.to_string())?;
        serde_json::to_value(t).map_err(|e| e.to_string())
    }
    match rule {
        "applicant_type" => typed::<ApplicantTypeInput>(input),
        "business_verification" => typed::<BusinessVerificationInput>(input),
        "aws_history" => typed::<AwsHistoryInput>(input),
        "initial_limit" => typed::<InitialLimitInput>(input),
        "limit_increase" => typed::<LimitIncreaseInput>(input),
        "cycle_gating" => typed::<CycleGatingInput>(input),
        "re_review" => typed::<ReReviewInput>(input),
        "line_restore" => typed::<LineRestoreInput>(input),
        _ => Ok(input),
    }
}

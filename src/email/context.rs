//! The data an email template sees, made from an outbox row's payload (what the workflow step
//! knew) in the words the templates use: amounts as "$200.00", the reference token, the list
//! of missing materials. Pure: the caller supplies what it looked up.

use serde_json::{Map, Value, json};

use crate::domain::{EmailAddress, Money, Period};

/// Every variable a template may use. Start-up refuses a template using anything else.
pub const VARIABLES: &[&str] = &[
    // A greeting name; "there" when none is known ("Hello there,").
    "name",
    // The application's reference token, e.g. CL-4K7Q2M9X (also in the subject).
    "reference",
    "account_email",
    // A monthly limit, e.g. "$200.00".
    "limit",
    // The reviewer's message to the applicant, or the step's reason.
    "message",
    // The materials still needed (a list).
    "missing",
    // The company domain a confirmation must come from.
    "company_domain",
    // A bill's amount, the last day to pay it (a date) and its calendar month ("October
    // 2026"); `overdue` is set when that last day has passed.
    "amount",
    "due_date",
    "period",
    "overdue",
    // What a closed line still owes in all, and each unpaid bill in words (a list).
    "owed",
    "bills",
    // The date a change (a raised limit) applies from.
    "effective_date",
    // What is still to pay (the shortfall) before a limit at or above the deposit tier, the
    // guarantee held in all, what is already held, and the tier itself (from the rules).
    "deposit",
    // A deferral: the date it lasts until, and what would change the answer.
    "until",
    "condition",
    "guarantee",
    "held",
    "deposit_tier",
    // What an account asked for, when it was not what is offered.
    "requested",
    // An issued invoice's printed number, e.g. INV-000042.
    "invoice_number",
];

/// Variables every email's data has whatever the step supplied: a greeting name ("there"
/// when none is known) and the instance's address with its domain (from the payload's `to`).
pub const ALWAYS: &[&str] = &["name", "account_email", "company_domain"];

/// Which template variable each payload key becomes in [`context`] (a `Fire`'s data key on
/// the left). Workflow files declare the keys their firing code supplies (`data = [...]`);
/// this table turns them into the variables an `email:T` effect may rely on. The unit test
/// below keeps it in step with [`context`].
pub const PAYLOAD_KEYS: &[(&str, &str)] = &[
    ("name", "name"),
    ("reference", "reference"),
    ("account_email", "account_email"),
    ("company_domain", "company_domain"),
    ("monthly_limit_cents", "limit"),
    ("limit_cents", "limit"),
    ("amount_cents", "amount"),
    ("deposit_cents", "deposit"),
    ("guarantee_cents", "guarantee"),
    ("held_cents", "held"),
    ("deposit_tier_cents", "deposit_tier"),
    ("offered_below_cents", "requested"),
    ("message", "message"),
    ("reason", "message"),
    ("missing", "missing"),
    ("until", "until"),
    ("condition", "condition"),
    ("due_date", "due_date"),
    ("period", "period"),
    ("overdue", "overdue"),
    ("owed_cents", "owed"),
    ("owed_bills", "bills"),
    ("effective_date", "effective_date"),
    ("invoice_number", "invoice_number"),
];

/// The template variable a payload key becomes, if any.
pub fn variable_for(key: &str) -> Option<&'static str> {
    PAYLOAD_KEYS.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A material the applicant is asked for, in the applicant's words (reviewers' free-text
/// items stay as written).
pub fn material_words(item: &str) -> String {
    let words = match item {
        "account_email" => "the email address of your WaveSpeedAI account",
        "applicant_type" => "whether you apply as a company or as an individual",
        "legal_company_name" => "your legal company name",
        "registration_country" => "the country or region where the company is registered",
        "website" => "your company or product website, on a domain of your own",
        "product" => "what your product or project is",
        "use_case" => "how you plan to use WaveSpeedAI",
        "app_link" => {
            "your product's website, an app download link or other material we can check (a repository, a demo video, a paper, a marketplace listing)"
        }
        "aws_account" => "the AWS account you sign in with (its ID, when it was opened, its standing and usage)",
        "aws_billing_records" => {
            "your recent AWS billing records (for example the billing CSV of the last three months)"
        }
        "expected_monthly_spend" => "your expected monthly usage",
        "requested_limit" => "the monthly credit line you ask for",
        "business_contact" => "a business contact (email, Slack, Discord or similar)",
        "main_business_activity" => "your main business activity",
        "company_domain_confirmation" => "a confirmation reply from an address at your company's domain",
        // What an invoice request lacks (`domain::invoice::item`).
        "billing_period_or_transactions" => {
            "the billing period (the month) or the transaction IDs the invoice should cover"
        }
        "billing_address" => "the billing address to print on the invoice",
        // Why a website did not verify, and what would.
        "generic_platform_website" => {
            "a website on your own domain: a page on a deployment platform (such as vercel.app) is not enough by itself"
        }
        "tool_directory_website" => {
            "your own company or product website: a profile on a tool directory is not enough by itself"
        }
        "invalid_website" => "a website address we can open",
        "missing_website" => "your company or product website",
        "email_website_domain_mismatch" => {
            "a reply from an address at your website's domain (or a website on your email's domain)"
        }
        other => return other.to_string(),
    };
    words.to_string()
}

/// Template data for `payload`. `reference` is the application's token when the row belongs
/// to one (looked up by the caller; the payload of a creation step does not carry it).
pub fn context(payload: &Value, reference: Option<&str>) -> Value {
    let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_string);
    let money = |key: &str| payload.get(key).and_then(Value::as_i64).map(|c| Money::from_cents(c).to_string());
    let mut ctx = Map::new();
    ctx.insert("name".into(), json!(text("name").unwrap_or_else(|| "there".into())));
    if let Some(r) = text("reference").or_else(|| reference.map(str::to_string)) {
        ctx.insert("reference".into(), json!(r));
    }
    if let Some(to) = text("to") {
        if let Ok(address) = EmailAddress::parse(&to) {
            ctx.insert("company_domain".into(), json!(address.domain().registrable().as_str()));
        }
        ctx.insert("account_email".into(), json!(to));
    }
    // A step that writes to someone other than the account (the sender who named it) says
    // which account it is about.
    if let Some(a) = text("account_email") {
        ctx.insert("account_email".into(), json!(a));
    }
    if let Some(d) = text("company_domain") {
        ctx.insert("company_domain".into(), json!(d));
    }
    for (key, var) in [
        ("monthly_limit_cents", "limit"),
        ("limit_cents", "limit"),
        ("amount_cents", "amount"),
        ("deposit_cents", "deposit"),
        ("guarantee_cents", "guarantee"),
        ("held_cents", "held"),
        ("deposit_tier_cents", "deposit_tier"),
        ("offered_below_cents", "requested"),
        ("owed_cents", "owed"),
    ] {
        if let Some(m) = money(key) {
            ctx.insert(var.into(), json!(m));
        }
    }
    if let Some(m) = text("message").or_else(|| text("reason")) {
        ctx.insert("message".into(), json!(m));
    }
    if let Some(items) = payload.get("missing").and_then(Value::as_array) {
        let words: Vec<String> = items.iter().filter_map(Value::as_str).map(material_words).collect();
        ctx.insert("missing".into(), json!(words));
    }
    for key in ["until", "condition", "invoice_number"] {
        if let Some(v) = text(key).filter(|v| !v.trim().is_empty()) {
            ctx.insert(key.into(), json!(v));
        }
    }
    for key in ["due_date", "effective_date"] {
        if let Some(v) = payload.get(key).filter(|v| !v.is_null()) {
            ctx.insert(key.into(), v.clone());
        }
    }
    if let Some(v) = payload.get("period").filter(|v| !v.is_null()) {
        ctx.insert("period".into(), json!(month_words(v)));
    }
    if payload.get("overdue").is_some_and(|v| !matches!(v, Value::Null | Value::Bool(false))) {
        ctx.insert("overdue".into(), json!(true));
    }
    if let Some(bills) = payload.get("owed_bills") {
        let words: Vec<String> = bills.as_array().into_iter().flatten().map(bill_words).collect();
        ctx.insert("bills".into(), json!(words));
    }
    Value::Object(ctx)
}

/// A billing period as people write it ("October 2026"); anything that is not a period stays
/// as it was written.
fn month_words(v: &Value) -> String {
    match v.as_str() {
        Some(s) => s.parse::<Period>().map_or_else(|_| s.to_string(), Period::name),
        None => v.to_string(),
    }
}

/// One unpaid bill in words: "October 2026: $150.00 (last day to pay 2026-11-10)".
fn bill_words(bill: &Value) -> String {
    let period = bill.get("period").map(month_words).unwrap_or_default();
    let amount = bill.get("amount_cents").and_then(Value::as_i64).map(Money::from_cents).unwrap_or_default();
    match bill.get("due_date").and_then(Value::as_str) {
        Some(d) => format!("{period}: {amount} (last day to pay {d})"),
        None => format!("{period}: {amount}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_facts_become_template_words() {
        let payload = json!({
            "to": "ops@mail.acme-render.co.uk",
            "monthly_limit_cents": 20000,
            "reason": "business_not_verified",
            "message": "We could not verify the website.",
            "missing": ["website"],
            "reference": "CL-AAAA1111",
        });
        let ctx = context(&payload, Some("CL-IGNORED"));
        assert_eq!(ctx["limit"], "$200.00");
        assert_eq!(ctx["reference"], "CL-AAAA1111", "the payload's own reference wins");
        assert_eq!(ctx["message"], "We could not verify the website.");
        assert_eq!(ctx["company_domain"], "acme-render.co.uk");
        assert_eq!(ctx["name"], "there");
        assert_eq!(ctx["missing"], json!(["your company or product website, on a domain of your own"]));
        for key in ctx.as_object().unwrap().keys() {
            assert!(VARIABLES.contains(&key.as_str()), "{key} is not a template variable");
        }
    }

    /// Every declared payload key really becomes its variable, so a workflow file's `data`
    /// says what the template will see.
    #[test]
    fn each_payload_key_becomes_the_variable_the_table_names() {
        for (key, var) in PAYLOAD_KEYS {
            let value = match *key {
                "missing" => json!(["website"]),
                k if k.ends_with("_cents") => json!(12345),
                _ => json!("x"),
            };
            let ctx = context(&json!({ *key: value }), None);
            assert!(ctx.get(*var).is_some(), "{key} does not become {var}: {ctx}");
            assert!(VARIABLES.contains(var), "{var} is not a template variable");
        }
        let bare = context(&json!({ "to": "ops@acme.io" }), None);
        for var in ALWAYS {
            assert!(bare.get(*var).is_some(), "{var} is always there: {bare}");
        }
    }

    #[test]
    fn periods_read_as_months_and_owed_bills_as_words() {
        let ctx = context(
            &json!({
                "period": "2026-10",
                "owed_cents": 27000,
                "owed_bills": [
                    { "period": "2026-10", "amount_cents": 15000, "due_date": "2026-11-10" },
                    { "period": "2026-11", "amount_cents": 12000, "due_date": "2026-12-10" },
                ],
                "overdue": false,
            }),
            None,
        );
        assert_eq!(ctx["period"], "October 2026");
        assert_eq!(ctx["owed"], "$270.00");
        assert_eq!(
            ctx["bills"],
            json!([
                "October 2026: $150.00 (last day to pay 2026-11-10)",
                "November 2026: $120.00 (last day to pay 2026-12-10)"
            ])
        );
        assert!(ctx.get("overdue").is_none(), "false is not overdue");
        assert_eq!(context(&json!({ "overdue": true }), None)["overdue"], true);
        assert_eq!(context(&json!({ "period": "Q3 invoices" }), None)["period"], "Q3 invoices");
    }

    #[test]
    fn the_reason_stands_in_for_a_missing_message_and_the_caller_supplies_the_reference() {
        let ctx = context(&json!({ "to": "a@b.io", "reason": "too new" }), Some("CL-X"));
        assert_eq!(ctx["message"], "too new");
        assert_eq!(ctx["reference"], "CL-X");
        assert!(ctx.get("limit").is_none());
    }
}

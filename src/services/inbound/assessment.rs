//! What the rules are asked about an application and the steps their answers take: the
//! inputs of `applicant_type`, `business_verification`, `aws_history` and `initial_limit`
//! read from the extracted fields, the checks for the report, and the drive from
//! `received` through materials, confirmation and verification to review.

use super::ACTOR;
use super::plan::{Plan, last_decision_id};
use crate::app::App;
use crate::domain::{ApplicationId, DecisionId, Domain, EmailAddress, SubjectId};
use crate::intake::extract::{Extracted, field};
use crate::rules::Decision;
use crate::rules::inputs::{ApplicantTypeInput, AwsHistoryInput, BusinessVerificationInput, InitialLimitInput};
use crate::rules::typed::{ApplicantType, Check};
use crate::services::{Cursor, Fire, ServiceError};
use crate::store::EvidenceWrite;
use crate::workflow::names::application;

/// `business_verification` findings about the website that a materials request explains.
const WEBSITE_FINDINGS: &[&str] = &[
    "missing_website",
    "invalid_website",
    "generic_platform_website",
    "tool_directory_website",
    "email_website_domain_mismatch",
];

/// `applicant_type` lists the company-domain confirmation among the missing items; its own
/// step asks for it, not a materials request.
const CONFIRMATION: &str = "company_domain_confirmation";
/// Set once a reply from the company's domain confirmed it.
pub(super) const DOMAIN_CONFIRMED_FIELD: &str = "domain_confirmed";

/// The address whose reply confirmed the company domain: the identity verification checks.
pub(super) const CONFIRMED_BY_FIELD: &str = "domain_confirmed_by";

fn applicant_input(x: &Extracted, account: &str) -> ApplicantTypeInput {
    let s = |k: &str| x.get(k).unwrap_or_default().to_string();
    ApplicantTypeInput {
        declared_type: s(field::APPLICANT_TYPE),
        account_email: account.to_string(),
        legal_company_name: s(field::LEGAL_COMPANY_NAME),
        registration_country: s(field::REGISTRATION_COUNTRY),
        website: s(field::WEBSITE),
        product: s(field::PRODUCT),
        use_case: s(field::USE_CASE),
        app_link: s(field::APP_LINK),
        other_links: x.list(field::OTHER_LINKS),
        aws_account: s(field::AWS_ACCOUNT),
        aws_login: x.flag(field::AWS_LOGIN),
        expected_monthly_spend_cents: x.cents(field::EXPECTED_MONTHLY_SPEND).unwrap_or(0),
        requested_limit_cents: x.cents(field::REQUESTED_LIMIT).unwrap_or(0),
        business_contact: s(field::BUSINESS_CONTACT),
        domain_confirmed: x.flag(DOMAIN_CONFIRMED_FIELD),
        states_no_product: x.flag(field::STATES_NO_PRODUCT),
        main_business_activity: s(field::MAIN_BUSINESS_ACTIVITY),
        aws_billing_records: x.flag(field::AWS_BILLING_RECORDS),
    }
}

/// `earlier`: the evidence stored with the application from earlier messages (billing CSVs
/// sent before this one still count).
fn aws_input(p: &Plan<'_>, x: &Extracted, earlier: &[EvidenceWrite]) -> AwsHistoryInput {
    let account = x.get(field::AWS_ACCOUNT).unwrap_or_default().to_lowercase();
    let has_account = !account.is_empty() && !["no", "none", "n/a", "-"].contains(&account.trim());
    let age = x.get(field::AWS_ACCOUNT_AGE_MONTHS).and_then(|v| v.parse().ok()).unwrap_or(-1);
    let months: Vec<i64> = earlier
        .iter()
        .chain(p.write.evidence.iter().map(|(_, e)| e))
        .filter(|e| e.kind == "aws_billing")
        .flat_map(|e| e.data["months"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["amount_cents"].as_i64())
        .collect();
    let stated = x.cents(field::AWS_MONTHLY_SPEND_CENTS);
    // A stated regular monthly spend is read as usage in every month of the account's age.
    let months_with_usage = if !months.is_empty() {
        months.iter().filter(|c| **c > 0).count() as i64
    } else if stated.is_some() && age >= 0 {
        age.min(12)
    } else {
        0
    };
    let recent = if months.is_empty() {
        stated.into_iter().collect()
    } else {
        months[months.len().saturating_sub(3)..].to_vec()
    };
    AwsHistoryInput {
        has_account,
        aws_login: x.flag(field::AWS_LOGIN),
        account_age_months: age,
        standing: x.get(field::AWS_STANDING).unwrap_or_default().to_string(),
        months_with_usage,
        recent_monthly_billing_cents: recent,
    }
}

/// Runs the checks for the report (and the reviewer): applicant type, business
/// verification, and AWS history when the message says anything about AWS.
pub(super) async fn assess(
    p: &mut Plan<'_>,
    x: &Extracted,
    account: &str,
    subject: Option<SubjectId>,
    earlier: &[EvidenceWrite],
) -> (Decision, DecisionId) {
    let applicant = p.evaluate("applicant_type", &applicant_input(x, account), subject).await;
    let applicant_id = last_decision_id(p);
    let kind = match ApplicantType::try_from(&applicant) {
        Ok(ApplicantType::Known { kind, .. }) => kind.as_str().to_string(),
        _ => applicant.outcome.clone(),
    };
    p.report.applicant_type = Some(kind.clone());
    p.report.missing = applicant.missing.clone();
    let verification = BusinessVerificationInput {
        applicant_type: kind,
        contact_email: p.mail.from.clone().unwrap_or_else(|| account.to_string()),
        website: x.get(field::WEBSITE).unwrap_or_default().to_string(),
        app_link: x.get(field::APP_LINK).unwrap_or_default().to_string(),
        other_links: x.list(field::OTHER_LINKS),
        account_email: account.to_string(),
        // The website check runs after intake; its job decides again with the evidence.
        website_evidence: None,
    };
    let business = p.evaluate("business_verification", &verification, subject).await;
    p.report.findings.extend(business.findings.iter().cloned());
    if x.get(field::AWS_ACCOUNT).is_some() || x.get(field::AWS_ACCOUNT_AGE_MONTHS).is_some() {
        let input = aws_input(p, x, earlier);
        let aws = p.evaluate("aws_history", &input, subject).await;
        p.report.findings.extend(aws.findings.iter().cloned());
    }
    (applicant, applicant_id)
}

/// From `received` or `awaiting_materials`: classify, ask for what is missing, or move on
/// to confirmation and verification. Returns the applicant kind to record.
pub(super) async fn drive(
    p: &mut Plan<'_>,
    cursor: &mut Cursor,
    x: &Extracted,
    account: &str,
) -> Result<Option<String>, ServiceError> {
    // Evidence from the application's earlier messages (a billing CSV sent before this one).
    let earlier = p.app.store.evidence_for(ApplicationId(cursor.subject.0)).await?;
    let (applicant, applicant_id) = assess(p, x, account, Some(cursor.subject), &earlier).await;
    let decided = |f: Fire| f.decision("applicant_type", &applicant.outcome, applicant_id);
    let typed = ApplicantType::try_from(&applicant).unwrap_or(ApplicantType::ManualReview);
    let subject = cursor.subject;
    match typed {
        ApplicantType::Known { kind, .. } if !kind.may_get_credit_line() => {
            let fire = decided(Fire::new(subject, "classified", ACTOR).reason("no_product_prepaid_available"));
            p.fire(cursor, fire)?;
            Ok(Some(kind.as_str().to_string()))
        }
        ApplicantType::Known { kind, missing } => {
            let outstanding: Vec<&String> = missing.iter().filter(|m| *m != CONFIRMATION).collect();
            if !outstanding.is_empty() {
                let fire = Fire::new(subject, "materials_missing", ACTOR).data("missing", &outstanding);
                p.fire(cursor, fire)?;
                return Ok(Some(kind.as_str().to_string()));
            }
            // The confirmation must come from the company's domain: its website's, which the
            // email names (never the applicant's free-mail domain). Once the domain confirmed
            // it, a later round of materials does not ask again (found by the simulation: the
            // applicant got a second confirmation request after answering a materials request).
            let confirmed = kind.as_str() == "enterprise" && x.flag(DOMAIN_CONFIRMED_FIELD);
            let event = if confirmed { "materials_complete_confirmed" } else { "materials_complete" };
            let mut complete = decided(Fire::new(subject, event, ACTOR));
            if let Some(domain) = company_domain(p.app, x, account) {
                complete = complete.data("company_domain", domain.as_str());
            }
            p.fire(cursor, complete)?;
            if cursor.state == application::AWAITING_DOMAIN_CONFIRMATION && x.flag(DOMAIN_CONFIRMED_FIELD) {
                p.fire(cursor, Fire::new(subject, "domain_confirmed", ACTOR).reason("confirmed earlier"))?;
            }
            if cursor.state == application::BUSINESS_VERIFICATION {
                verify(p, cursor, x, account, verified_contact(x, account)).await?;
            }
            Ok(Some(kind.as_str().to_string()))
        }
        ApplicantType::Unknown { missing } => {
            p.fire(cursor, Fire::new(subject, "materials_missing", ACTOR).data("missing", &missing))?;
            Ok(None)
        }
        ApplicantType::ManualReview => {
            p.fire(cursor, decided(Fire::new(subject, "materials_complete", ACTOR)))?;
            Ok(None)
        }
    }
}

/// What a materials request asks for besides its reason, as `applicant_type` does: the main
/// business activity of an enterprise, and recent AWS billing records of an applicant who
/// applies through AWS login (policy: "when applicable").
fn asked_along(kind: &str, x: &Extracted) -> Vec<String> {
    let mut items = Vec::new();
    if kind == "enterprise" && x.get(field::MAIN_BUSINESS_ACTIVITY).is_none() {
        items.push(field::MAIN_BUSINESS_ACTIVITY.to_string());
    }
    if x.flag(field::AWS_LOGIN) && !x.flag(field::AWS_BILLING_RECORDS) {
        items.push(field::AWS_BILLING_RECORDS.to_string());
    }
    items
}

/// `business_verification` then `aws_history`, each firing its workflow step; ends in
/// `pending_review` (with the initial-limit suggestion recorded) or back in
/// `awaiting_materials` when verification failed. `contact` is the address verified: the
/// one that confirmed the company domain, for an enterprise (policy: "Enterprise applicants
/// should contact WaveSpeedAI from an email address associated with the company domain").
pub(super) async fn verify(
    p: &mut Plan<'_>,
    cursor: &mut Cursor,
    x: &Extracted,
    account: &str,
    contact: &str,
) -> Result<(), ServiceError> {
    let subject = cursor.subject;
    let kind = p.report.applicant_type.clone().unwrap_or_default();
    let input = BusinessVerificationInput {
        applicant_type: kind.clone(),
        contact_email: contact.to_string(),
        website: x.get(field::WEBSITE).unwrap_or_default().to_string(),
        app_link: x.get(field::APP_LINK).unwrap_or_default().to_string(),
        other_links: x.list(field::OTHER_LINKS),
        account_email: account.to_string(),
        // The website check runs after intake; its job decides again with the evidence.
        website_evidence: None,
    };
    let business = p.evaluate("business_verification", &input, Some(subject)).await;
    p.report.findings.extend(business.findings.iter().cloned());
    let id = last_decision_id(p);
    // When the website does not verify, the email says why and what would do instead.
    let website: Vec<String> =
        business.findings.iter().filter(|f| WEBSITE_FINDINGS.contains(&f.as_str())).cloned().collect();
    let mut missing = if website.is_empty() { vec![field::WEBSITE.to_string()] } else { website };
    missing.extend(asked_along(&kind, x));
    let fire = Fire::new(subject, "verified", ACTOR)
        .decision("business_verification", &business.outcome, id)
        .data("findings", &business.findings)
        .data("missing", &missing);
    p.fire(cursor, fire)?;
    if cursor.state != application::AWS_HISTORY_CHECK {
        return Ok(());
    }
    let earlier = p.app.store.evidence_for(ApplicationId(subject.0)).await?;
    let aws_in = aws_input(p, x, &earlier);
    let aws = p.evaluate("aws_history", &aws_in, Some(subject)).await;
    p.report.findings.extend(aws.findings.iter().cloned());
    let id = last_decision_id(p);
    p.fire(cursor, Fire::new(subject, "aws_checked", ACTOR).decision("aws_history", &aws.outcome, id))?;
    let limit = InitialLimitInput {
        applicant_type: kind,
        requested_limit_cents: x.cents(field::REQUESTED_LIMIT).unwrap_or(0),
        expected_monthly_spend_cents: x.cents(field::EXPECTED_MONTHLY_SPEND).unwrap_or(0),
        business_verification: business.outcome.clone(),
        aws_history: Check::aws_history(&aws).map(|_| aws.outcome.clone()).unwrap_or_default(),
    };
    p.evaluate("initial_limit", &limit, Some(subject)).await;
    Ok(())
}

pub(super) fn with_confirmation(mut x: Extracted, earlier: &Extracted) -> Extracted {
    for key in [DOMAIN_CONFIRMED_FIELD, CONFIRMED_BY_FIELD] {
        if let Some(f) = earlier.fields.get(key) {
            x.fields.insert(key.into(), f.clone());
        }
    }
    x
}

/// The address verification checks: the one that confirmed the company domain once it has,
/// else the account's.
fn verified_contact<'x>(x: &'x Extracted, account: &'x str) -> &'x str {
    x.get(CONFIRMED_BY_FIELD).filter(|c| x.flag(DOMAIN_CONFIRMED_FIELD) && !c.is_empty()).unwrap_or(account)
}

/// The registrable domain of the application's website, unless the website is a page on a
/// host of many owners (a deployment platform, a tool directory): a profile on
/// producthunt.com does not make producthunt.com the applicant's company domain.
pub(super) fn website_domain(app: &App, x: &Extracted) -> Option<Domain> {
    let host = x.get(field::WEBSITE).and_then(|w| Domain::from_url(w).ok())?;
    (!app.rules.is_shared_host(&host)).then(|| host.registrable())
}

/// The company domain the applicant is asked to confirm from: the website's, else the
/// account address's when that is not free mail. `None` leaves the email to name the
/// account address's domain.
fn company_domain(app: &App, x: &Extracted, account: &str) -> Option<Domain> {
    website_domain(app, x).or_else(|| {
        let domain = EmailAddress::parse(account).ok()?.domain().registrable();
        (!app.rules.is_shared_host(&domain)).then_some(domain)
    })
}

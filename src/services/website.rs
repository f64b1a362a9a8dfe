//! The website check job (issue 23 item 6): fetch the site an application names, record what
//! it shows, and let the rules read it.
//!
//! Intake asks for a check in the same transaction that learns the website (a
//! `website_checks` row, unique per application and address, written only when
//! `website_check.enabled`). The worker's tick queues pending rows as apalis jobs; a job:
//!
//! 1. takes its row only while it is still queued under the job's number (a duplicate or
//!    stale job does nothing);
//! 2. fetches the site ([`crate::website::fetch`]) and reads it ([`crate::website::evaluate`]);
//! 3. runs `business_verification` again, with the evidence as `input.website_evidence`: the
//!    input of the application's latest decision of that rule, or one made from its fields;
//! 4. writes, in one transaction, the evidence on the row, the decision and, while the
//!    application is open (not decided, declined or deferred), a `website_checked` event that
//!    names the concerns and carries the decision. A version conflict (a reviewer or a reply
//!    moved the application meanwhile) plans step 3 and 4 again.
//!
//! The rule runs at intake before the check has finished, so this later decision is how the
//! evidence reaches the rule; the reviewer sees the evidence itself on the application
//! (`website_checks` in its view) and the decision's reasons in its history.

use crate::app::App;
use crate::domain::ApplicationId;
use crate::rules::inputs::BusinessVerificationInput;
use crate::services::{Cursor, Fire, ServiceError};
use crate::store::{StoreError, WebsiteCheckFinish, WebsiteCheckJob, WorkflowChanges};
use crate::website::{self, Names, WebsiteEvidence};

const ACTOR: &str = "system:website_check";
const EVENT: &str = "website_checked";
/// Attempts at writing when the application keeps moving under the job.
const CONFLICT_RETRIES: usize = 5;

/// What one job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The row was finished or queued again under a newer number: nothing to do.
    Stale,
    /// Evidence recorded; the decision's outcome, and whether an event was appended.
    Recorded { outcome: String, event: bool },
}

/// Runs one website check job.
pub async fn run(app: &App, job: WebsiteCheckJob) -> Result<Checked, ServiceError> {
    let Some(check) = app.store.website_check(job.id).await? else { return Ok(Checked::Stale) };
    if check.status != "queued" || check.enqueues != job.enqueues {
        return Ok(Checked::Stale);
    }
    let fields = app.store.application_fields(check.application_id).await?;
    let latest = |name: &str| fields.iter().rev().find(|f| f.field == name).map(|f| f.value.clone());
    let names = Names {
        company: latest(crate::intake::extract::field::LEGAL_COMPANY_NAME),
        product: latest(crate::intake::extract::field::PRODUCT),
    };
    let fetched = website::fetch::fetch(&app.config.website_check, &check.url).await;
    let evidence = website::evaluate(&check.url, &fetched, &names);
    tracing::info!(
        application = %check.application_id,
        url = %check.url,
        status = evidence.status,
        error = %evidence.error,
        name_found = evidence.name_found,
        parked = !evidence.parked_signs.is_empty(),
        "website checked"
    );
    for _ in 0..CONFLICT_RETRIES {
        let finish = plan(app, check.application_id, job, &evidence).await?;
        let outcome = finish.workflow.decisions.first().map(|d| d.outcome.clone()).unwrap_or_default();
        let event = !finish.workflow.steps.is_empty();
        match app.store.finish_website_check(&finish).await {
            Ok(true) => return Ok(Checked::Recorded { outcome, event }),
            Ok(false) => return Ok(Checked::Stale),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict { expected: 0, actual: 0 }.into())
}

/// The decision and the event for the application as it stands now.
async fn plan(
    app: &App,
    id: ApplicationId,
    job: WebsiteCheckJob,
    evidence: &WebsiteEvidence,
) -> Result<WebsiteCheckFinish, ServiceError> {
    let record = app.store.application(id).await?.ok_or_else(|| ServiceError::NotFound(format!("application {id}")))?;
    let instance =
        app.store.instance(id.into()).await?.ok_or_else(|| ServiceError::NotFound(format!("instance {id}")))?;
    let mut input = verification_input(app, &record).await?;
    input.website_evidence = Some(evidence.clone());
    let (decision, mut record_d) = app.rules.evaluate_async("business_verification", &input, Some(id.into())).await;
    record_d.decided_at = app.workflow.clock().now();
    let concerns: Vec<&str> =
        decision.findings.iter().filter(|f| f.starts_with("website_")).map(String::as_str).collect();
    let reason = if concerns.is_empty() {
        format!("website {} checked: business_verification {}", evidence.url, decision.outcome)
    } else {
        format!(
            "website {} checked: business_verification {} ({})",
            evidence.url,
            decision.outcome,
            concerns.join(", ")
        )
    };
    let mut cursor = Cursor::from(&instance);
    let fire =
        Fire::new(id, EVENT, ACTOR).reason(&reason).decision("business_verification", &decision.outcome, record_d.id);
    // Only open applications record the event (the workflow says which); on the others the
    // evidence and the decision are kept all the same.
    let transition = match app.workflow.plan(&mut cursor, &fire) {
        Ok((t, _)) => Some(t),
        Err(ServiceError::Engine(_)) => None,
        Err(e) => return Err(e),
    };
    Ok(WebsiteCheckFinish {
        job,
        evidence: evidence.clone(),
        at: app.workflow.clock().now(),
        workflow: WorkflowChanges {
            steps: transition.into_iter().collect(),
            decisions: vec![record_d],
            ..WorkflowChanges::default()
        },
    })
}

/// The input of the application's latest `business_verification` decision (what intake
/// knew), or, without one, an input made from its fields.
async fn verification_input(
    app: &App,
    record: &crate::store::ApplicationRecord,
) -> Result<BusinessVerificationInput, ServiceError> {
    let decisions = app.store.decisions_for(record.id.into()).await?;
    if let Some(d) = decisions.iter().rev().find(|d| d.rule == "business_verification")
        && let Ok(mut input) = serde_json::from_value::<BusinessVerificationInput>(d.input.clone())
    {
        input.website_evidence = None;
        return Ok(input);
    }
    let fields = app.store.application_fields(record.id).await?;
    let latest =
        |name: &str| fields.iter().rev().find(|f| f.field == name).map(|f| f.value.clone()).unwrap_or_default();
    // As intake verifies: against the address that confirmed the company domain, once one did.
    let confirmed = latest("domain_confirmed_by");
    let contact = if confirmed.is_empty() { record.account_email.clone() } else { confirmed };
    Ok(BusinessVerificationInput {
        applicant_type: record.applicant_kind.clone().unwrap_or_default(),
        contact_email: contact,
        account_email: record.account_email.clone(),
        website: latest(crate::intake::extract::field::WEBSITE),
        app_link: latest(crate::intake::extract::field::APP_LINK),
        // Stored as intake extracts it: addresses separated by white space.
        other_links: latest(crate::intake::extract::field::OTHER_LINKS)
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        website_evidence: None,
    })
}

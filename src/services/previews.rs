//! The emails a decision would send, rendered before it is taken: the reviewer sees exactly
//! what the applicant will receive (the same template, the same data the delivery worker
//! will use) and only then confirms. Nothing here writes.

use serde::Serialize;

use crate::app::App;
use crate::domain::{ApplicationId, SubjectId};
use crate::email::context::context;
use crate::store::{OutboxWrite, StoreError, WorkflowChanges};

/// One email as the applicant would receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailPreview {
    pub to: String,
    /// The template (`templates/email/<template>.j2`).
    pub template: String,
    pub subject: String,
    /// The plain-text part (the HTML part says the same).
    pub text: String,
    /// Why this email could not be written, if it could not: the worker would fail it too.
    pub problem: Option<String>,
}

/// The emails among the changes' effects, in the order they would be queued.
pub async fn emails(app: &App, changes: &WorkflowChanges) -> Result<Vec<EmailPreview>, StoreError> {
    // Collected before the awaits: an iterator of closures held across them would make the
    // future not `Send` for every lifetime (the handlers' futures must be).
    let mut rows: Vec<(SubjectId, &OutboxWrite)> = Vec::new();
    for i in &changes.opened {
        rows.extend(i.outbox.iter().map(|o| (i.id, o)));
    }
    for s in &changes.steps {
        rows.extend(s.outbox.iter().map(|o| (s.instance_id, o)));
    }
    let mut out = Vec::new();
    for (instance, row) in rows.into_iter().filter(|(_, o)| o.kind == "email") {
        out.push(email(app, instance, row).await?);
    }
    Ok(out)
}

/// One outbox row rendered as the delivery worker would.
pub async fn email(app: &App, instance: SubjectId, row: &OutboxWrite) -> Result<EmailPreview, StoreError> {
    let reference = reference_of(app, instance).await?;
    let data = context(&row.payload, reference.as_deref());
    let to = row.payload.get("to").and_then(|v| v.as_str()).unwrap_or("(no recipient)").to_string();
    Ok(match app.templates.render(&row.name, &data) {
        Ok(r) => EmailPreview { to, template: row.name.clone(), subject: r.subject, text: r.text, problem: None },
        Err(e) => EmailPreview {
            to,
            template: row.name.clone(),
            subject: String::new(),
            text: String::new(),
            problem: Some(e.to_string()),
        },
    })
}

/// The reference the emails about `instance` carry in their subject: its application's or its
/// invoice request's (as [`super::delivery`] threads them).
async fn reference_of(app: &App, instance: SubjectId) -> Result<Option<String>, StoreError> {
    if let Some(a) = app.store.application(ApplicationId(instance.0)).await? {
        return Ok(Some(a.reference));
    }
    Ok(app.store.invoice_request(instance).await?.map(|r| r.reference))
}

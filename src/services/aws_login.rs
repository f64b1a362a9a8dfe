//! AWS login and the credit line (policy `../shared/seed/payment-methods.txt`: "Users apply
//! for AWS login first. If an AWS login user also needs a monthly credit line, WaveSpeedAI
//! reviews the credit request separately").
//!
//! An account has at most one `aws_login` instance that is open or approved (the
//! `one_aws_login_per_account` index); after a decline it may ask again. An application that
//! applies through AWS login (the extractor's `aws_login` field) is linked to the account's
//! AWS login: it is reviewed as any other, but cannot be approved until the AWS login is
//! approved ([`approval_block`]); the reviewer sees the AWS login's state on the application,
//! and the AWS-login reviewer sees the applications waiting for it.

use serde_json::{Value, json};

use crate::domain::ApplicationId;
use crate::intake::extract::field;
use crate::store::{ApplicationRecord, Instance, Store, StoreError, TaskUpdate};
use crate::workflow::TaskKind;
use crate::workflow::names::{application, aws_login, task_state};

pub use crate::workflow::names::aws_login::WORKFLOW;
/// Evidence kind of the link an application keeps to the AWS login it applied through.
pub const LINK_EVIDENCE: &str = "aws_login";
/// The states of an application whose review waits for the AWS login's decision.
const REVIEW_WAITS: &[&str] = &[application::PENDING_REVIEW, application::AWAITING_SECOND_APPROVAL];

/// The account's AWS login: the one open or approved (there is at most one), else the newest
/// declined one.
pub async fn of_account(store: &dyn Store, account: &str) -> Result<Option<Instance>, StoreError> {
    let all = store.instances_for_account(account, WORKFLOW).await?;
    Ok(all.iter().find(|i| i.state != aws_login::DECLINED).or(all.first()).cloned())
}

/// Whether an application applies through AWS login, as its emails said.
pub async fn applies_through(store: &dyn Store, id: ApplicationId) -> Result<bool, StoreError> {
    Ok(store.application_fields(id).await?.iter().any(|f| f.field == field::AWS_LOGIN && f.value == "true"))
}

/// Why an application that applies through AWS login may not be approved while its AWS
/// login is in `state` (`None`: the account has none): a problem code and the message.
/// `None` when the AWS login is approved.
pub fn approval_block(account: &str, state: Option<&str>) -> Option<(&'static str, String)> {
    match state {
        Some(aws_login::APPROVED) => None,
        Some(aws_login::DECLINED) => Some((
            "aws_login_declined",
            format!(
                "{account} applies through AWS login, which was declined: this application cannot be approved \
                 (decline or defer it; prepaid access stays)"
            ),
        )),
        Some(s) => Some((
            "aws_login_pending",
            format!(
                "{account} applies through AWS login, which is {s}: approve the AWS login first (its \
                 aws_login_review task), then this application"
            ),
        )),
        None => Some((
            "aws_login_pending",
            format!("{account} applies through AWS login, but no AWS login request exists for the account"),
        )),
    }
}

/// What the reviewer sees about an application's AWS login: `null` when it does not apply
/// through AWS login; otherwise the account's AWS login (id, state) read now, and whether the
/// application may be approved.
pub async fn application_view(store: &dyn Store, a: &ApplicationRecord) -> Result<Value, StoreError> {
    if !applies_through(store, a.id).await? {
        return Ok(Value::Null);
    }
    let login = of_account(store, &a.account_email).await?;
    let block = approval_block(&a.account_email, login.as_ref().map(|i| i.state.as_str()));
    Ok(json!({
        "applies_through_aws_login": true,
        "id": login.as_ref().map(|i| i.id),
        "state": login.as_ref().map(|i| i.state.clone()),
        "approvable": block.is_none(),
        "blocked": block.map(|(code, why)| json!({ "code": code, "reason": why })),
    }))
}

/// The applications of an AWS login's account that apply through AWS login, newest first,
/// each as `{id, reference, state}`: what the AWS-login reviewer sees.
pub async fn linked_applications(store: &dyn Store, login: &Instance) -> Result<Vec<Value>, StoreError> {
    let Some(account) = login.account_email.as_deref() else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for inst in store.instances_for_account(account, application::WORKFLOW).await? {
        let id = ApplicationId(inst.id.0);
        if !applies_through(store, id).await? {
            continue;
        }
        if let Some(a) = store.application(id).await? {
            out.push(json!({ "id": a.id, "reference": a.reference, "state": inst.state }));
        }
    }
    Ok(out)
}

/// The notes that tell the reviewers of the applications waiting for this AWS login that it
/// was decided (`state`): each open review task of a linked application in review gets
/// `aws_login` in its details.
pub async fn review_notes(
    store: &dyn Store,
    login: &Instance,
    state: &str,
    by: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<TaskUpdate>, StoreError> {
    let mut notes = Vec::new();
    let approvable = state == aws_login::APPROVED;
    for linked in linked_applications(store, login).await? {
        if !linked["state"].as_str().is_some_and(|s| REVIEW_WAITS.contains(&s)) {
            continue;
        }
        let Some(id) = linked["id"].as_str().and_then(|s| s.parse::<ApplicationId>().ok()) else { continue };
        for t in store.tasks_for(id.into()).await? {
            if t.kind != TaskKind::ApplicationReview.as_str() || !task_state::WAITING.contains(&t.state.as_str()) {
                continue;
            }
            let mut details = t.details.clone();
            details["aws_login"] = json!({
                "id": login.id,
                "state": state,
                "decided_by": by,
                "decided_at": at,
                "approvable": approvable,
                "note": if approvable {
                    "AWS login approved: this application may now be approved".to_string()
                } else {
                    "AWS login declined: this application cannot be approved; decline or defer it".to_string()
                },
            });
            notes.push(TaskUpdate {
                id: t.id,
                expected_version: t.version,
                state: t.state.clone(),
                assignee: t.assignee.clone(),
                claimed_at: t.claimed_at,
                details,
            });
        }
    }
    Ok(notes)
}

/// A second open-or-approved AWS login for one account, refused by the database's
/// `one_aws_login_per_account` index: another request committed first.
pub fn is_second_request(e: &StoreError) -> bool {
    // PostgreSQL names the index; SQLite names the column (intake writes no other instance
    // with a unique account, so the column is this index there).
    matches!(e, StoreError::Duplicate(m) if m.contains("one_aws_login_per_account") || m.contains("workflow_instances.account_email"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Policy: "Users apply for AWS login first": an application through AWS login is not
    /// approvable until the AWS login is approved.
    #[test]
    fn only_an_approved_aws_login_lets_the_application_be_approved() {
        assert_eq!(approval_block("a@x.io", Some("approved")), None);
        assert_eq!(approval_block("a@x.io", Some("under_review")).unwrap().0, "aws_login_pending");
        assert_eq!(approval_block("a@x.io", Some("applied")).unwrap().0, "aws_login_pending");
        assert_eq!(approval_block("a@x.io", None).unwrap().0, "aws_login_pending");
        let (code, why) = approval_block("a@x.io", Some("declined")).unwrap();
        assert_eq!(code, "aws_login_declined");
        assert!(why.contains("decline or defer"), "{why}");
    }

    #[test]
    fn a_second_request_is_recognised_on_both_databases() {
        let pg = StoreError::Duplicate(
            "duplicate key value violates unique constraint \"one_aws_login_per_account\"".into(),
        );
        let sqlite = StoreError::Duplicate("UNIQUE constraint failed: workflow_instances.account_email".into());
        assert!(is_second_request(&pg) && is_second_request(&sqlite));
        assert!(!is_second_request(&StoreError::Duplicate("message x already processed".into())));
    }
}

//! Read models shared by the adapters: what the CLI's `--json` and the reviewer API show.

use serde_json::Value;

use crate::domain::{ApplicationId, SubjectId};
use crate::store::{ApplicationFilter, ApplicationRecord, CreditLineFilter, CreditLineRecord, Store, StoreError};

/// Rows a listing reads at a time when a view wants all of them.
pub const PAGE: i64 = 500;

/// Every application of an account, oldest first, read `page` rows at a time: a view shows
/// them all instead of stopping at a cap it does not mention.
pub async fn applications_of(
    store: &dyn Store,
    account: &str,
    page: i64,
) -> Result<Vec<ApplicationRecord>, StoreError> {
    let mut all: Vec<ApplicationRecord> = Vec::new();
    loop {
        let after: Option<ApplicationId> = all.last().map(|a| a.id);
        let filter = ApplicationFilter { account_email: Some(account.to_string()), after, limit: page, state: None };
        let rows = store.list_applications(&filter).await?;
        let done = i64::try_from(rows.len()).unwrap_or(i64::MAX) < page;
        all.extend(rows);
        if done {
            return Ok(all);
        }
    }
}

/// Every credit line of an account (closed ones too), oldest first, `page` rows at a time.
pub async fn credit_lines_of(store: &dyn Store, account: &str, page: i64) -> Result<Vec<CreditLineRecord>, StoreError> {
    let mut all: Vec<CreditLineRecord> = Vec::new();
    loop {
        let after: Option<SubjectId> = all.last().map(|l| l.id);
        let filter =
            CreditLineFilter { account_email: Some(account.to_string()), after, limit: page, ..Default::default() };
        let rows = store.list_credit_lines(&filter).await?;
        let done = i64::try_from(rows.len()).unwrap_or(i64::MAX) < page;
        all.extend(rows);
        if done {
            return Ok(all);
        }
    }
}

/// An application with everything read and decided about it: its own fields at the top,
/// then the extracted `fields` (each with the message and text it came from), `evidence`,
/// rule `decisions`, the `messages` of its thread, its `website_checks` (what the background
/// website check found, [`crate::website::WebsiteEvidence`]) and, when it applies through AWS
/// login, the account's `aws_login` (its state read now, and whether the application may be
/// approved).
pub async fn application(store: &dyn Store, a: &ApplicationRecord) -> Result<Value, StoreError> {
    let encode = |e: serde_json::Error| StoreError::Corrupt(format!("application view: {e}"));
    let mut view = serde_json::to_value(a).map_err(encode)?;
    if let Some(obj) = view.as_object_mut() {
        obj.insert("fields".into(), serde_json::to_value(store.application_fields(a.id).await?).map_err(encode)?);
        obj.insert("evidence".into(), serde_json::to_value(store.evidence_for(a.id).await?).map_err(encode)?);
        obj.insert("decisions".into(), serde_json::to_value(store.decisions_for(a.id.into()).await?).map_err(encode)?);
        obj.insert("messages".into(), serde_json::to_value(store.messages_for(a.id).await?).map_err(encode)?);
        obj.insert("aws_login".into(), super::aws_login::application_view(store, a).await?);
        obj.insert(
            "website_checks".into(),
            serde_json::to_value(store.website_checks_for(a.id).await?).map_err(encode)?,
        );
    }
    Ok(view)
}

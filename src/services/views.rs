//! Read models shared by the adapters: what the CLI's `--json` and the reviewer API show.

use serde_json::Value;

use crate::store::{ApplicationRecord, Store, StoreError};

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

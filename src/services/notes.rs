//! Reviewer notes: internal remarks beside an application, a credit line or an AWS login,
//! for the next reviewer. Never sent to the applicant; each added note is in the audit log.

use serde_json::json;

use super::error::Failure;
use super::tasks::Actor;
use crate::app::App;
use crate::domain::SubjectId;
pub use crate::store::NoteRecord;
use crate::store::{AuditRecord, StoreError};

/// The longest note kept, in characters: a paragraph or two, not a document.
pub const MAX_NOTE_CHARS: usize = 4000;
/// The longest form key accepted (the console sends a UUID).
const MAX_KEY: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    #[error("a note needs some text")]
    Empty,
    #[error("a note holds at most {MAX_NOTE_CHARS} characters; this one has {0}")]
    TooLong(usize),
    #[error("the form's key is missing or too long")]
    BadKey,
    #[error("no application, credit line or login {0}")]
    NoSubject(SubjectId),
    #[error(transparent)]
    Store(#[from] Failure),
}

impl From<StoreError> for NoteError {
    fn from(e: StoreError) -> NoteError {
        NoteError::Store(e.into())
    }
}

/// Adds a note on `subject` (an application, credit line or AWS login). The same author
/// sending the same form `key` again adds nothing and answers `false`.
pub async fn add(app: &App, actor: &Actor<'_>, subject: SubjectId, body: &str, key: &str) -> Result<bool, NoteError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(NoteError::Empty);
    }
    let chars = body.chars().count();
    if chars > MAX_NOTE_CHARS {
        return Err(NoteError::TooLong(chars));
    }
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(NoteError::BadKey);
    }
    if app.store.instance(subject).await?.is_none() {
        return Err(NoteError::NoSubject(subject));
    }
    let note = NoteRecord {
        id: uuid::Uuid::now_v7(),
        subject_id: subject,
        author: actor.caller.name.clone(),
        // NUL cannot be stored by PostgreSQL and no person types one.
        body: body.replace('\0', ""),
        idempotency_key: key.to_string(),
        created_at: actor.now,
    };
    let audit = AuditRecord {
        id: uuid::Uuid::now_v7(),
        actor: actor.caller.name.clone(),
        action: "note.add".into(),
        target: format!("subject:{subject}"),
        version_before: None,
        version_after: None,
        request_id: actor.request_id.to_string(),
        detail: json!({ "note": note.id, "chars": chars }),
        at: actor.now,
    };
    Ok(app.store.add_note(&note, &audit).await?)
}

/// The notes on a subject, oldest first.
pub async fn of(app: &App, subject: SubjectId) -> Result<Vec<NoteRecord>, Failure> {
    Ok(app.store.notes_for(subject).await?)
}

//! A storage failure as the services hand it to their callers: what it means to them (the
//! resource changed, something is missing, or trouble of ours), not what the store said, so
//! the adapters never name the store's own error.

use crate::store::StoreError;

/// A read or write below the services failed.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Failure(#[from] StoreError);

/// What a [`Failure`] means to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind<'a> {
    /// Another writer moved the resource first; nothing was written. Reload and retry.
    Conflict,
    /// What the text names is not there.
    NotFound(&'a str),
    /// The database, stored data that does not read, or a write the store refused: ours to
    /// look into (logged), nothing the caller can change.
    Internal,
}

impl Failure {
    pub fn kind(&self) -> FailureKind<'_> {
        match &self.0 {
            StoreError::Conflict { .. } => FailureKind::Conflict,
            StoreError::NotFound(what) => FailureKind::NotFound(what),
            _ => FailureKind::Internal,
        }
    }
}

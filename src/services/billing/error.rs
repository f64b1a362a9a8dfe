//! What a billing step can fail with.

use chrono::{DateTime, Utc};

use crate::domain::Period;
use crate::services::workflow::ServiceError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error("period {0} has not ended yet; it can be closed from {1}")]
    NotEnded(Period, DateTime<Utc>),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

//! API tokens: creation (the only moment the token text exists outside the caller's hands),
//! revocation, and turning a presented bearer token into a caller with a role.

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::domain::{BearerToken, Role, TOKEN_RANDOM_BYTES};
use crate::store::{Store, StoreError, TokenRecord};

/// Who is calling, once the token checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub token_id: String,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("no valid bearer token")]
    Unauthenticated,
    #[error("a token named {0:?} already exists")]
    NameTaken(String),
    #[error("token names are 1 to 64 letters, digits, '-', '_' or '.'")]
    BadName,
    #[error("the system random source failed: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a token; returns the text to show once, and what was stored.
pub async fn create_token(
    store: &dyn Store,
    name: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<(String, TokenRecord), AccessError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(AccessError::BadName);
    }
    let mut random = [0u8; TOKEN_RANDOM_BYTES];
    getrandom::fill(&mut random).map_err(|e| AccessError::Random(e.to_string()))?;
    let (text, token) = BearerToken::from_random(&random);
    let record = TokenRecord {
        id: token.id.clone(),
        name: name.to_string(),
        role,
        secret_sha256: token.secret_sha256(),
        created_at: now,
        revoked_at: None,
    };
    match store.create_token(&record).await {
        Ok(()) => Ok((text, record)),
        Err(StoreError::Duplicate(_)) => Err(AccessError::NameTaken(name.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// [`create_token`], for the adapters.
pub async fn issue_token(
    app: &App,
    name: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<(String, TokenRecord), AccessError> {
    create_token(app.store.as_ref(), name, role, now).await
}

/// Every token (name, role, when created and revoked); the secrets are not kept.
pub async fn tokens(app: &App) -> Result<Vec<TokenRecord>, AccessError> {
    Ok(app.store.tokens().await?)
}

/// Revokes the active token `name`; false when there is none.
pub async fn revoke_token(app: &App, name: &str, now: DateTime<Utc>) -> Result<bool, AccessError> {
    Ok(app.store.revoke_token(name, now).await?)
}

/// The caller behind an `Authorization` header value (`Bearer clt_...`).
pub async fn authenticate(app: &App, authorization: Option<&str>) -> Result<Caller, AccessError> {
    let store = app.store.as_ref();
    let presented = authorization
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .and_then(BearerToken::parse)
        .ok_or(AccessError::Unauthenticated)?;
    let stored = store.token(&presented.id).await?.ok_or(AccessError::Unauthenticated)?;
    if stored.revoked_at.is_some() || !presented.matches(&stored.secret_sha256) {
        return Err(AccessError::Unauthenticated);
    }
    Ok(Caller { token_id: stored.id, name: stored.name, role: stored.role })
}

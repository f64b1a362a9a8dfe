//! API tokens: creation (the only moment the token text exists outside the caller's hands),
//! revocation, and turning a presented bearer token into a caller with a role.

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::domain::{BearerToken, Role, TOKEN_RANDOM_BYTES};
use crate::store::{LinkRecord, SessionRecord, Store, StoreError, TokenRecord};

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
    #[error("no unrevoked reviewer token is named {0:?} (see `creditline tokens list`)")]
    NoSuchToken(String),
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
    let (text, token) = BearerToken::from_random(&random::<TOKEN_RANDOM_BYTES>()?);
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
    let token = authorization
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .ok_or(AccessError::Unauthenticated)?;
    token_caller(app, token).await
}

/// The caller whose API token this is (as typed into the console's sign-in form).
pub async fn token_caller(app: &App, token: &str) -> Result<Caller, AccessError> {
    let presented = BearerToken::parse(token).ok_or(AccessError::Unauthenticated)?;
    let stored = app.store.token(&presented.id).await?.ok_or(AccessError::Unauthenticated)?;
    if stored.revoked_at.is_some() || !presented.matches(&stored.secret_sha256) {
        return Err(AccessError::Unauthenticated);
    }
    Ok(caller_of(stored))
}

fn caller_of(token: TokenRecord) -> Caller {
    Caller { token_id: token.id, name: token.name, role: token.role }
}

/// Fresh random bytes from the system.
fn random<const N: usize>() -> Result<[u8; N], AccessError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| AccessError::Random(e.to_string()))?;
    Ok(bytes)
}

/// How long a console session lasts: a working day, then the reviewer signs in again.
pub const SESSION_HOURS: i64 = 12;

/// A signed-in console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub caller: Caller,
    /// What every form of the session must send back.
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

impl Session {
    /// Whether a form sent this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.csrf.len() == presented.len() && bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// Signs in with an API token: a new session, and the cookie value that names it (the only
/// moment its secret exists outside the browser).
pub async fn sign_in(app: &App, token: &str, now: DateTime<Utc>) -> Result<(String, Session), AccessError> {
    let caller = token_caller(app, token).await?;
    // The inbox's token feeds mail in; it is no one's to sign in with.
    if caller.role == Role::Inbox {
        return Err(AccessError::Unauthenticated);
    }
    new_session(app, caller, now).await
}

async fn new_session(app: &App, caller: Caller, now: DateTime<Utc>) -> Result<(String, Session), AccessError> {
    let (cookie, key) = BearerToken::session_from_random(&random()?);
    let csrf = hex::encode(random::<32>()?);
    let record = SessionRecord {
        id: key.id.clone(),
        secret_sha256: key.secret_sha256(),
        token_id: caller.token_id.clone(),
        csrf: csrf.clone(),
        created_at: now,
        expires_at: now + chrono::Duration::hours(SESSION_HOURS),
        ended_at: None,
    };
    app.store.create_session(&record).await?;
    Ok((cookie, Session { id: key.id, caller, csrf, expires_at: record.expires_at }))
}

/// The session a cookie names, if it is still good: not expired, not signed out, its API
/// token not revoked.
pub async fn session(app: &App, cookie: &str, now: DateTime<Utc>) -> Result<Session, AccessError> {
    let presented = BearerToken::parse_session(cookie).ok_or(AccessError::Unauthenticated)?;
    let (stored, token) = app.store.session(&presented.id).await?.ok_or(AccessError::Unauthenticated)?;
    let good = presented.matches(&stored.secret_sha256)
        && stored.ended_at.is_none()
        && stored.expires_at > now
        && token.revoked_at.is_none();
    if !good {
        return Err(AccessError::Unauthenticated);
    }
    Ok(Session { id: stored.id, caller: caller_of(token), csrf: stored.csrf, expires_at: stored.expires_at })
}

/// Ends a session (sign-out); false when it had ended already.
pub async fn sign_out(app: &App, session: &Session, now: DateTime<Utc>) -> Result<bool, AccessError> {
    Ok(app.store.end_session(&session.id, now).await?)
}

/// The holder of the unrevoked token named `name`, for commands run on the server (whose
/// operator names who acts, as `--by`).
pub async fn caller_named(app: &App, name: &str) -> Result<Caller, AccessError> {
    let tokens = app.store.tokens().await?;
    let token = tokens.into_iter().find(|t| t.name == name && t.revoked_at.is_none());
    token.map(caller_of).ok_or_else(|| AccessError::NoSuchToken(name.to_string()))
}

/// How long a one-time sign-in link stays good: long enough to open it from a chat message.
pub const LINK_MINUTES: i64 = 15;

/// A one-time sign-in link for the unrevoked API token named `name`: the key the link carries
/// (the path is `/console/link/<key>`), good once, for [`LINK_MINUTES`].
pub async fn create_link(app: &App, name: &str, now: DateTime<Utc>) -> Result<(String, DateTime<Utc>), AccessError> {
    let caller = caller_named(app, name).await?;
    if caller.role == Role::Inbox {
        return Err(AccessError::NoSuchToken(name.to_string()));
    }
    let (text, key) = BearerToken::link_from_random(&random()?);
    let expires_at = now + chrono::Duration::minutes(LINK_MINUTES);
    app.store
        .create_link(&LinkRecord {
            id: key.id.clone(),
            secret_sha256: key.secret_sha256(),
            token_id: caller.token_id,
            created_at: now,
            expires_at,
            used_at: None,
        })
        .await?;
    Ok((text, expires_at))
}

/// Signs in with a one-time link: it is used up whether or not its secret matches, so a
/// guessed id burns the link instead of leaving it open to more guesses.
pub async fn sign_in_by_link(app: &App, link: &str, now: DateTime<Utc>) -> Result<(String, Session), AccessError> {
    let presented = BearerToken::parse_link(link).ok_or(AccessError::Unauthenticated)?;
    let (stored, token) = app.store.use_link(&presented.id, now).await?.ok_or(AccessError::Unauthenticated)?;
    if !presented.matches(&stored.secret_sha256) || token.revoked_at.is_some() || token.role == Role::Inbox {
        return Err(AccessError::Unauthenticated);
    }
    new_session(app, caller_of(token), now).await
}

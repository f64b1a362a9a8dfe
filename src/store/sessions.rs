//! Reviewer console sessions: the cookie's id and secret hash, the API token behind it, the
//! form token (CSRF) and when the session ends.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;

/// A console session as stored: the cookie's secret only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRecord {
    pub id: String,
    pub secret_sha256: String,
    pub token_id: String,
    /// What every form of this session sends back.
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()>;

    /// The session with this id and the API token behind it, ended or not.
    async fn session(&self, id: &str) -> StoreResult<Option<(SessionRecord, TokenRecord)>>;

    /// Ends the session (sign-out); false when it had ended already or does not exist.
    async fn end_session(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool>;

    async fn create_link(&self, link: &LinkRecord) -> StoreResult<()>;

    /// Marks the link used, if it exists, is unused and has not expired at `at`, and answers
    /// it with its API token: one request wins, however many present it at once.
    async fn use_link(&self, id: &str, at: DateTime<Utc>) -> StoreResult<Option<(LinkRecord, TokenRecord)>>;
}

/// A one-time sign-in link as stored: the secret only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkRecord {
    pub id: String,
    pub secret_sha256: String,
    pub token_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// Implements [`SessionStore`] for a backend (see [`super::sql`]).
macro_rules! impl_sessions_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        #[async_trait::async_trait]
        impl crate::store::SessionStore for $store {
            async fn create_session(&self, s: &crate::store::SessionRecord) -> crate::store::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO console_sessions (id, secret_sha256, token_id, csrf, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&s.id)
                .bind(&s.secret_sha256)
                .bind(&s.token_id)
                .bind(&s.csrf)
                .bind(s.created_at)
                .bind(s.expires_at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn session(
                &self,
                id: &str,
            ) -> crate::store::StoreResult<Option<(crate::store::SessionRecord, crate::store::TokenRecord)>> {
                let Some(session) =
                    sqlx::query_as::<_, crate::store::SessionRecord>("SELECT * FROM console_sessions WHERE id = $1")
                        .bind(id)
                        .fetch_optional(self.pool())
                        .await?
                else {
                    return Ok(None);
                };
                let token = sqlx::query_as::<_, crate::store::TokenRecord>("SELECT * FROM api_tokens WHERE id = $1")
                    .bind(&session.token_id)
                    .fetch_one(self.pool())
                    .await?;
                Ok(Some((session, token)))
            }

            async fn end_session(
                &self,
                id: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<bool> {
                let done = sqlx::query("UPDATE console_sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
                    .bind(at)
                    .bind(id)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn create_link(&self, l: &crate::store::LinkRecord) -> crate::store::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO console_links (id, secret_sha256, token_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&l.id)
                .bind(&l.secret_sha256)
                .bind(&l.token_id)
                .bind(l.created_at)
                .bind(l.expires_at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn use_link(
                &self,
                id: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> crate::store::StoreResult<Option<(crate::store::LinkRecord, crate::store::TokenRecord)>> {
                let Some(link) = sqlx::query_as::<_, crate::store::LinkRecord>(
                    "UPDATE console_links SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND expires_at > $1 \
                     RETURNING *",
                )
                .bind(at)
                .bind(id)
                .fetch_optional(self.writer())
                .await?
                else {
                    return Ok(None);
                };
                let token = sqlx::query_as::<_, crate::store::TokenRecord>("SELECT * FROM api_tokens WHERE id = $1")
                    .bind(&link.token_id)
                    .fetch_one(self.pool())
                    .await?;
                Ok(Some((link, token)))
            }
        }
    };
}

pub(crate) use impl_sessions_store;

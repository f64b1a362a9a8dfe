//! The audit log and API tokens: who may act, and what they did.

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;

/// An API token as stored: the secret only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: crate::domain::Role,
    #[serde(skip)]
    pub secret_sha256: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// One mutation, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: uuid::Uuid,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub version_before: Option<i64>,
    pub version_after: Option<i64>,
    pub request_id: String,
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub after: Option<uuid::Uuid>,
    pub limit: i64,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Audit entries matching the filter, oldest first.
    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>>;

    /// Stores a new API token; a name already in use is `Duplicate`.
    async fn create_token(&self, token: &TokenRecord) -> StoreResult<()>;

    /// The token with this id, revoked or not.
    async fn token(&self, id: &str) -> StoreResult<Option<TokenRecord>>;

    /// Every token, oldest first.
    async fn tokens(&self) -> StoreResult<Vec<TokenRecord>>;

    /// Revokes the named token; false when no unrevoked token has that name.
    async fn revoke_token(&self, name: &str, at: chrono::DateTime<chrono::Utc>) -> StoreResult<bool>;
}

/// Implements [`AuditStore`] for a backend (see [`super::sql`]).
macro_rules! impl_audit_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        impl $store {
            async fn insert_audit(tx: &mut Tx, a: &crate::store::AuditRecord) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO audit_log (id, actor, action, target, version_before, version_after, request_id, detail, at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(a.id)
                .bind(&a.actor)
                .bind(&a.action)
                .bind(&a.target)
                .bind(a.version_before)
                .bind(a.version_after)
                .bind(&a.request_id)
                .bind(sqlx::types::Json(&a.detail))
                .bind(a.at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl crate::store::AuditStore for $store {
            async fn list_audit(&self, f: &crate::store::AuditFilter) -> crate::store::StoreResult<Vec<crate::store::AuditRecord>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT * FROM audit_log WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2) \
                     AND ($3 IS NULL OR target = $3) AND ($4 IS NULL OR id > $4) ORDER BY id LIMIT $5",
                )
                .bind(&f.actor)
                .bind(&f.action)
                .bind(&f.target)
                .bind(f.after)
                .bind(f.limit.clamp(1, 10_000))
                .fetch_all(self.pool())
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let detail: sqlx::types::Json<serde_json::Value> = r.try_get("detail")?;
                    out.push(crate::store::AuditRecord {
                        id: r.try_get("id")?,
                        actor: r.try_get("actor")?,
                        action: r.try_get("action")?,
                        target: r.try_get("target")?,
                        version_before: r.try_get("version_before")?,
                        version_after: r.try_get("version_after")?,
                        request_id: r.try_get("request_id")?,
                        detail: detail.0,
                        at: r.try_get("at")?,
                    });
                }
                Ok(out)
            }

            async fn create_token(&self, t: &crate::store::TokenRecord) -> crate::store::StoreResult<()> {
                sqlx::query("INSERT INTO api_tokens (id, name, role, secret_sha256, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&t.id)
                    .bind(&t.name)
                    .bind(t.role.as_str())
                    .bind(&t.secret_sha256)
                    .bind(t.created_at)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn token(&self, id: &str) -> crate::store::StoreResult<Option<crate::store::TokenRecord>> {
                let row = sqlx::query("SELECT * FROM api_tokens WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
                Ok(row.as_ref().map(crate::store::TokenRecord::from_row).transpose()?)
            }

            async fn tokens(&self) -> crate::store::StoreResult<Vec<crate::store::TokenRecord>> {
                let rows = sqlx::query("SELECT * FROM api_tokens ORDER BY created_at, name").fetch_all(self.pool()).await?;
                Ok(rows.iter().map(crate::store::TokenRecord::from_row).collect::<Result<_, _>>()?)
            }

            async fn revoke_token(&self, name: &str, at: chrono::DateTime<chrono::Utc>) -> crate::store::StoreResult<bool> {
                let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
                    .bind(at)
                    .bind(name)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use impl_audit_store;

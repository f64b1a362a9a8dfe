//! Reviewer notes: internal remarks on an application, a credit line or an AWS login.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::*;
use crate::domain::SubjectId;

/// A note as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct NoteRecord {
    pub id: uuid::Uuid,
    pub subject_id: SubjectId,
    pub author: String,
    pub body: String,
    /// The form's key: the same author sending the same form twice adds one note.
    #[serde(skip)]
    pub idempotency_key: String,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait NoteStore: Send + Sync {
    /// Adds the note and its audit entry in one transaction; false (nothing written) when the
    /// author already added a note under this key.
    async fn add_note(&self, note: &NoteRecord, audit: &AuditRecord) -> StoreResult<bool>;

    /// The notes on a subject, oldest first (at most 500).
    async fn notes_for(&self, subject: SubjectId) -> StoreResult<Vec<NoteRecord>>;
}

/// Implements [`NoteStore`] for a backend (see [`super::sql`]).
macro_rules! impl_notes_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        #[async_trait::async_trait]
        impl crate::store::NoteStore for $store {
            async fn add_note(
                &self,
                n: &crate::store::NoteRecord,
                audit: &crate::store::AuditRecord,
            ) -> crate::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let added = sqlx::query(
                    "INSERT INTO reviewer_notes (id, subject_id, author, body, idempotency_key, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (author, idempotency_key) DO NOTHING",
                )
                .bind(n.id)
                .bind(n.subject_id.0)
                .bind(&n.author)
                .bind(&n.body)
                .bind(&n.idempotency_key)
                .bind(n.created_at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if added {
                    Self::insert_audit(&mut tx, audit).await?;
                }
                tx.commit().await?;
                Ok(added)
            }

            async fn notes_for(
                &self,
                subject: crate::domain::SubjectId,
            ) -> crate::store::StoreResult<Vec<crate::store::NoteRecord>> {
                Ok(sqlx::query_as::<_, crate::store::NoteRecord>(
                    "SELECT * FROM reviewer_notes WHERE subject_id = $1 ORDER BY created_at, id LIMIT 500",
                )
                .bind(subject.0)
                .fetch_all(self.pool())
                .await?)
            }
        }
    };
}

pub(crate) use impl_notes_store;

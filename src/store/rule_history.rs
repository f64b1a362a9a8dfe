//! The rules' recorded decisions read in bulk, oldest first: what a backtest replays under
//! candidate rules. (Single subjects' decisions are read through [`super::WorkflowStore`].)

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;
use crate::domain::DecisionId;

/// Which recorded decisions to read, a page at a time.
#[derive(Debug, Clone, Default)]
pub struct DecisionScan {
    /// One rule's decisions only.
    pub rule: Option<String>,
    /// Decided at or after this moment.
    pub since: Option<DateTime<Utc>>,
    /// After this decision (ids are UUIDv7: their order is the order they were made).
    pub after: Option<DecisionId>,
    pub limit: i64,
}

#[async_trait]
pub trait RuleHistoryStore: Send + Sync {
    async fn scan_decisions(&self, scan: &DecisionScan) -> StoreResult<Vec<crate::rules::DecisionRecord>>;
}

/// Implements [`RuleHistoryStore`] for a backend (see [`super::sql`]).
macro_rules! impl_rule_history_store {
    ($store:ty, $db:ty, $backend:literal, $migrator:expr, $fuse:literal, $skip_locked:literal) => {
        #[async_trait::async_trait]
        impl crate::store::RuleHistoryStore for $store {
            async fn scan_decisions(
                &self,
                scan: &crate::store::DecisionScan,
            ) -> crate::store::StoreResult<Vec<crate::rules::DecisionRecord>> {
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM rule_decisions WHERE 1 = 1");
                if let Some(rule) = &scan.rule {
                    q.push(" AND rule = ").push_bind(rule.clone());
                }
                if let Some(since) = scan.since {
                    q.push(" AND decided_at >= ").push_bind(since);
                }
                if let Some(after) = scan.after {
                    q.push(" AND id > ").push_bind(after.0);
                }
                q.push(" ORDER BY id LIMIT ").push_bind(scan.limit);
                let rows = q.build().fetch_all(self.pool()).await?;
                Ok(rows.iter().map(crate::rules::DecisionRecord::from_row).collect::<Result<_, _>>()?)
            }
        }
    };
}

pub(crate) use impl_rule_history_store;

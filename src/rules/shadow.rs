//! Shadow runs: a proposed policy evaluated beside every live decision, on the blocking pool
//! after the live one has its answer (never delaying it), its results kept apart and never
//! acted on. The results wait here until the process's policy watcher stores them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::{DecisionRecord, RuleSet};

/// Shadow results held at most before they are stored; past it new ones are counted and
/// dropped (a stalled database must not grow the process without bound).
pub const MAX_PENDING: usize = 50_000;

/// What the live policy decided and what the shadow policy decided on the same input.
#[derive(Debug, Clone)]
pub struct ShadowRecord {
    pub id: uuid::Uuid,
    pub policy: uuid::Uuid,
    pub live: DecisionRecord,
    pub shadow: DecisionRecord,
}

#[derive(Default)]
pub struct Shadows {
    active: RwLock<Option<(uuid::Uuid, Arc<RuleSet>)>>,
    pending: Arc<Mutex<Vec<ShadowRecord>>>,
    dropped: Arc<AtomicU64>,
}

impl Shadows {
    /// The policy to evaluate in shadow from now on (`None`: no shadow run).
    pub fn set(&self, policy: Option<(uuid::Uuid, Arc<RuleSet>)>) {
        *self.active.write().unwrap_or_else(|p| p.into_inner()) = policy;
    }

    /// The policy in shadow, if any.
    pub fn policy(&self) -> Option<uuid::Uuid> {
        self.active.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(id, _)| *id)
    }

    /// Evaluates the shadow policy on the live decision's input, on the blocking pool, if a
    /// shadow run is on and a runtime is there to run it. The live caller does not wait.
    pub fn after(&self, live: &DecisionRecord) {
        let Some((policy, set)) = self.active.read().unwrap_or_else(|p| p.into_inner()).clone() else { return };
        // An aborted live evaluation has no input to replay.
        if live.version.is_empty() || live.input.is_null() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (live, pending, dropped) = (live.clone(), self.pending.clone(), self.dropped.clone());
        runtime.spawn_blocking(move || {
            let (_, shadow) = set.evaluate(&live.rule, &live.input, live.subject);
            let mut pending = pending.lock().unwrap_or_else(|p| p.into_inner());
            if pending.len() >= MAX_PENDING {
                dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            pending.push(ShadowRecord { id: uuid::Uuid::now_v7(), policy, live, shadow });
        });
    }

    /// The results waiting to be stored, and how many were dropped since the last call.
    pub fn take(&self) -> (Vec<ShadowRecord>, u64) {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        (taken, self.dropped.swap(0, Ordering::Relaxed))
    }
}

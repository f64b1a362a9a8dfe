//! The idempotency keys this process is working on. Apart from the mutations that use them,
//! so that `App` can hold them without knowing the mutations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The key's turn did not come within the wait: another request with it is still running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy(pub String);

/// The idempotency keys this process is working on, one turn at a time per caller and key:
/// a second request with a key waits for the first to finish, then replays its answer.
/// (Across processes the kept answer settles it: see `services::actions::settle`.)
#[derive(Debug, Default)]
pub struct InFlight {
    keys: Mutex<Slots>,
}

/// One lock per caller and key being worked on.
type Slots = HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>;

/// A request's turn with its key; the next one waiting gets it when this is dropped.
pub struct Turn<'a> {
    owner: &'a InFlight,
    slot: (String, String),
    lock: Arc<tokio::sync::Mutex<()>>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl InFlight {
    /// Waits up to `wait` for the caller's `key` to be free.
    pub async fn enter(&self, caller: &str, key: &str, wait: Duration) -> Result<Turn<'_>, Busy> {
        let slot = (caller.to_string(), key.to_string());
        let lock = self.slots().entry(slot.clone()).or_default().clone();
        let guard = tokio::time::timeout(wait, lock.clone().lock_owned()).await.map_err(|_| Busy(key.to_string()))?;
        Ok(Turn { owner: self, slot, lock, _guard: guard })
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        // The map holds no invariant a panicking holder could have broken halfway.
        self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut slots = self.owner.slots();
        // The map, this turn and its guard hold the lock; anyone else is waiting for it.
        if Arc::strong_count(&self.lock) <= 3 {
            slots.remove(&self.slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_request_with_a_key_waits_its_turn_and_gives_up_after_the_wait() {
        let inflight = InFlight::default();
        let wait = Duration::from_millis(20);
        let first = inflight.enter("rita", "k", wait).await.unwrap();
        let Err(e) = inflight.enter("rita", "k", wait).await else { panic!("two turns at once") };
        assert_eq!(e, Busy("k".into()));
        let e = crate::services::actions::ActionError::from(e);
        assert_eq!(e.code(), "idempotency_in_progress");
        assert!(inflight.enter("rob", "k", wait).await.is_ok(), "keys belong to their caller");

        // A waiter gets its turn as soon as the first finishes.
        let waiter = inflight.enter("rita", "k", Duration::from_secs(5));
        let release = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            drop(first);
        };
        let (second, ()) = tokio::join!(waiter, release);
        drop(second.unwrap());
        assert!(inflight.slots().is_empty(), "finished keys are forgotten");
    }
}

//! The queue's counts per kind, kept in memory for a moment (see [`CountCache`]). A module of
//! its own, knowing nothing of the App, so that the App can hold one without an import cycle.

use crate::store::TaskCount;

/// How long counts are served from memory. Counting a queue of 100,000 tasks on every page
/// view would cost more than the page; a few seconds' lag is fine for an overview, and this
/// process's own claims and releases clear it at once.
pub const COUNTS_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(2);

/// The last counts read, and when; at most one reader refreshes them at a time while the
/// others go on with the counts kept (so a slow count never holds up a page view).
#[derive(Debug, Default)]
pub struct CountCache {
    kept: std::sync::Mutex<Option<(std::time::Instant, Vec<TaskCount>)>>,
    refreshing: std::sync::atomic::AtomicBool,
}

impl CountCache {
    /// The counts kept, unless this caller is the one to read them again: they are missing,
    /// or old and nobody else is reading them yet.
    pub fn kept_unless_due(&self) -> Option<Vec<TaskCount>> {
        use std::sync::atomic::Ordering;
        let kept = self.kept.lock().ok()?.clone();
        match kept {
            Some((at, counts)) if at.elapsed() < COUNTS_FRESH_FOR => Some(counts),
            Some((_, counts)) if self.refreshing.swap(true, Ordering::AcqRel) => Some(counts),
            _ => None,
        }
    }

    pub fn keep(&self, counts: Option<&[TaskCount]>) {
        if let (Some(counts), Ok(mut kept)) = (counts, self.kept.lock()) {
            *kept = Some((std::time::Instant::now(), counts.to_vec()));
        }
        self.refreshing.store(false, std::sync::atomic::Ordering::Release);
    }

    /// Forgets the counts (a task changed hands here).
    pub fn clear(&self) {
        if let Ok(mut kept) = self.kept.lock() {
            *kept = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn counts(total: i64) -> Vec<TaskCount> {
        vec![TaskCount { kind: "triage".into(), total, older: 0, unassigned: total }]
    }

    #[test]
    fn one_reader_refreshes_old_counts_while_the_others_keep_them() {
        let cache = CountCache::default();
        assert_eq!(cache.kept_unless_due(), None, "nothing kept: the first reader counts");
        cache.keep(Some(&counts(3)));
        assert_eq!(cache.kept_unless_due(), Some(counts(3)), "fresh");
        let old = Instant::now().checked_sub(Duration::from_secs(60)).expect("a minute ago");
        *cache.kept.lock().unwrap() = Some((old, counts(3)));
        assert_eq!(cache.kept_unless_due(), None, "old: this reader refreshes");
        assert_eq!(cache.kept_unless_due(), Some(counts(3)), "meanwhile the others keep the old counts");
        cache.keep(Some(&counts(4)));
        assert_eq!(cache.kept_unless_due(), Some(counts(4)));
        cache.clear();
        assert_eq!(cache.kept_unless_due(), None, "cleared: counted again");
        cache.keep(None);
        assert_eq!(cache.kept_unless_due(), None, "a failed count keeps nothing and frees the refresh");
    }
}

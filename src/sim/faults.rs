//! Which faults happen on which day (pure): drawn from the seed and the day alone, so a run
//! and its replay meet the same failures at the same points.

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::FaultLevel;

/// The faults of one simulated day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Applicants (by index) whose mail server refuses our email today (451: try again).
    pub smtp_refuse: BTreeSet<usize>,
    /// Applicants whose mail server answers too slowly today (the send times out).
    pub smtp_slow: BTreeSet<usize>,
    /// The SMTP server answers 421 to everyone today.
    pub smtp_down: bool,
    /// The worker is killed (SIGKILL) right after the clock moves: mid cycle close or scan.
    pub kill_worker_morning: bool,
    /// The worker is killed while the day's emails are being sent.
    pub kill_worker_mid_send: bool,
    /// The HTTP server is killed during the reviewers' n-th action (then restarted and the
    /// action sent again under its idempotency key).
    pub kill_server_at_action: Option<usize>,
    /// A second worker runs today.
    pub second_worker: bool,
    /// Every payment webhook today is delivered twice.
    pub duplicate_webhooks: bool,
    /// Today's payment webhooks are delivered in reverse order, the last one tomorrow.
    pub reorder_webhooks: bool,
    /// Every inbound email today is handed over twice.
    pub duplicate_inbound: bool,
    /// An admin reloads the rules with a broken script in them (the reload must be refused and
    /// the rules in force stay).
    pub broken_rules_reload: bool,
    /// The database is held busy (a long write transaction) while the applicants act.
    pub database_busy: bool,
}

impl Plan {
    /// The day's plan; `day` counts from the first simulated day, `applicants` how many there are.
    pub fn draw(seed: u64, day: u32, level: FaultLevel, applicants: usize) -> Plan {
        // One stream per day: adding a fault kind later does not move the other days' draws.
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (u64::from(day) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let p = match level {
            FaultLevel::None => return Plan::default(),
            FaultLevel::Some => 1.0 / 20.0,
            FaultLevel::Many => 1.0 / 4.0,
        };
        let pick = |rng: &mut ChaCha8Rng| -> BTreeSet<usize> {
            if applicants == 0 || !rng.random_bool(p * 2.0) {
                return BTreeSet::new();
            }
            let n = (applicants / 20).clamp(1, 200);
            (0..n).map(|_| rng.random_range(0..applicants)).collect()
        };
        let smtp_refuse = pick(&mut rng);
        let smtp_slow = pick(&mut rng);
        Plan {
            smtp_refuse,
            smtp_slow,
            smtp_down: rng.random_bool(p / 2.0),
            kill_worker_morning: rng.random_bool(p),
            kill_worker_mid_send: rng.random_bool(p),
            kill_server_at_action: rng.random_bool(p).then(|| rng.random_range(0..8)),
            second_worker: rng.random_bool(p * 2.0),
            duplicate_webhooks: rng.random_bool(p),
            reorder_webhooks: rng.random_bool(p),
            duplicate_inbound: rng.random_bool(p),
            broken_rules_reload: rng.random_bool(p / 2.0),
            database_busy: rng.random_bool(p),
        }
    }

    /// The names of the faults in the plan, for the report's counters.
    pub fn names(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let flags = [
            (!self.smtp_refuse.is_empty(), "smtp_refused"),
            (!self.smtp_slow.is_empty(), "smtp_timed_out"),
            (self.smtp_down, "smtp_down"),
            (self.kill_worker_morning, "worker_killed_mid_cycle"),
            (self.kill_worker_mid_send, "worker_killed_mid_send"),
            (self.kill_server_at_action.is_some(), "server_killed"),
            (self.second_worker, "second_worker"),
            (self.duplicate_webhooks, "webhooks_duplicated"),
            (self.reorder_webhooks, "webhooks_reordered"),
            (self.duplicate_inbound, "inbound_duplicated"),
            (self.broken_rules_reload, "broken_rules_reload"),
            (self.database_busy, "database_busy"),
        ];
        for (on, name) in flags {
            if on {
                out.push(name);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seed_one_plan_and_none_means_none() {
        for day in 0..60 {
            assert_eq!(Plan::draw(7, day, FaultLevel::Many, 100), Plan::draw(7, day, FaultLevel::Many, 100));
            assert_eq!(Plan::draw(7, day, FaultLevel::None, 100), Plan::default());
        }
        let many: usize = (0..200).map(|d| Plan::draw(7, d, FaultLevel::Many, 100).names().len()).sum();
        let some: usize = (0..200).map(|d| Plan::draw(7, d, FaultLevel::Some, 100).names().len()).sum();
        assert!(many > some && some > 0, "many {many}, some {some}");
        let seen: BTreeSet<&str> = (0..400).flat_map(|d| Plan::draw(7, d, FaultLevel::Many, 100).names()).collect();
        assert_eq!(seen.len(), 12, "every kind of fault happens in a long run: {seen:?}");
    }
}

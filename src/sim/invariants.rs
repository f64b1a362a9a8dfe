//! (stub until the invariants land)
use super::mailbox::Mail;
use crate::app::App;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
#[derive(Debug, Clone)]
pub struct Violation {
    pub check: &'static str,
    pub subject: String,
    pub detail: String,
    pub trace: Vec<String>,
}
impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.check, self.subject, self.detail)
    }
}
pub struct Observed<'a> {
    pub now: DateTime<Utc>,
    pub mailboxes: &'a BTreeMap<String, Vec<Mail>>,
    pub auto_replies: &'a BTreeSet<String>,
    pub reviewer_max_delay_days: i64,
    pub finishable_kinds: &'a [&'a str],
    pub drained: bool,
}
#[derive(Default)]
pub struct Checker;
impl Checker {
    pub fn new() -> Checker {
        Checker
    }
    pub async fn check(&mut self, _app: &App, _seen: &Observed<'_>) -> anyhow::Result<Vec<Violation>> {
        Ok(Vec::new())
    }
}

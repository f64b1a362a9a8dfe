//! (stub until the report lands)
use super::Spec;
use crate::app::App;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
#[derive(Debug, serde::Serialize)]
pub struct Timings {
    pub total_ms: u64,
    pub phases: BTreeMap<String, u64>,
}
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub spec: Spec,
    pub findings: Vec<String>,
    pub counters: BTreeMap<String, i64>,
    pub timings: Option<Timings>,
}
pub struct Recorder {
    spec: Spec,
    counters: BTreeMap<String, i64>,
    findings: Vec<String>,
}
impl Recorder {
    pub fn new(spec: Spec) -> Recorder {
        Recorder { spec, counters: BTreeMap::new(), findings: Vec::new() }
    }
    pub fn count(&mut self, what: &str, n: i64) {
        *self.counters.entry(what.to_string()).or_default() += n;
    }
    pub fn finding(&mut self, text: String) {
        self.findings.push(text);
    }
    pub async fn end_of_month(
        &mut self,
        _app: &App,
        _period: crate::domain::Period,
        _now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        Ok(())
    }
    pub fn finish(self, timings: Option<Timings>) -> Report {
        Report { spec: self.spec, findings: self.findings, counters: self.counters, timings }
    }
}
impl Report {
    pub fn to_text(&self) -> String {
        format!("{:?}", self.counters)
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

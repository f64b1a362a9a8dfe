//! The simulation's report: what the business looked like at the end of each simulated month,
//! read from the database through [`Store::report_figures`](crate::store::Store::report_figures),
//! then totals over the whole run, the driver's counters and findings, and (optionally) how long
//! the run took.
//!
//! The same seed must give the same report byte for byte (timings aside), so nothing in it is
//! an id or a wall-clock time, every map is a `BTreeMap`, and money is integer cents.
//!
//! What the figures of a month mean (the window is the calendar month, UTC; "now" is the moment
//! [`Recorder::end_of_month`] runs, after the month's last day of work):
//! - `applications`: the applications *received in the month*, by the state they are in now
//!   (a cohort: how January's applicants fared by the end of January). The totals use every
//!   application of the run, by its state at the last recording.
//! - `lines`: every credit line by its state now.
//! - `credit_outstanding_cents`: credit drawn and not paid back now: what unpaid bills still ask
//!   for, plus what months without a bill yet (the month in progress) drew.
//! - `bills`: bills issued in the month; bills with something to pay that *fell due* in the
//!   month, and how they stand now: paid in full at or before their due moment (on time),
//!   paid in full after it (late), or not paid in full (unpaid, with what is left). A month's
//!   bill falls due in the month after it, so January's bills show in February's row.
//! - `increases`: limit increases proposed or requested in the month, by their state now.
//! - `deposits_held_cents`: deposits held as guarantees now, all accounts.
//! - `emails`: emails sent (delivered) in the month, by template.
//! - `tasks`: tasks opened and closed (done or obsolete) in the month by kind, and the tasks
//!   open now by kind and age.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::app::App;
use crate::domain::{Money, Period};
use crate::store::{ReportFigures, ReportWindow, Store};

use super::Spec;

pub use crate::store::ReportBills as BillFigures;

/// Open tasks are bucketed by age at these boundaries (days): under 1, 1 to 3, 3 to 7, 7 to
/// 14, 14 or more.
const AGE_DAYS: [i64; 4] = [1, 3, 7, 14];

/// Everything a run reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub spec: Spec,
    pub months: Vec<Month>,
    pub totals: Totals,
    pub findings: Vec<String>,
    pub counters: BTreeMap<String, i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
}

/// One simulated month (see the module documentation for what each figure counts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Month {
    /// `2027-01`.
    pub period: String,
    pub applications: BTreeMap<String, i64>,
    pub lines: BTreeMap<String, i64>,
    pub credit_outstanding_cents: i64,
    pub bills: BillFigures,
    pub increases: BTreeMap<String, i64>,
    pub deposits_held_cents: i64,
    pub emails: BTreeMap<String, i64>,
    pub tasks: TaskFigures,
}

/// The whole run, read at the last month's end with the run as its window: applications and
/// increases of the run by their state then, bills issued and fallen due during the run, emails
/// and tasks of the run; lines, outstanding credit, deposits and open tasks as they stood then.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// How many months were recorded.
    pub months: usize,
    pub applications: BTreeMap<String, i64>,
    pub lines: BTreeMap<String, i64>,
    pub credit_outstanding_cents: i64,
    pub bills: BillFigures,
    pub increases: BTreeMap<String, i64>,
    pub deposits_held_cents: i64,
    pub emails: BTreeMap<String, i64>,
    pub tasks: TaskFigures,
}

/// Tasks by kind: opened and closed in the window, open at its end by age.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TaskFigures {
    pub opened: BTreeMap<String, i64>,
    pub closed: BTreeMap<String, i64>,
    pub open: BTreeMap<String, TaskAges>,
}

/// Open tasks of one kind by how long they have been open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TaskAges {
    pub under_1d: i64,
    pub d1_to_3: i64,
    pub d3_to_7: i64,
    pub d7_to_14: i64,
    pub d14_plus: i64,
}

impl TaskAges {
    pub fn total(&self) -> i64 {
        self.under_1d + self.d1_to_3 + self.d3_to_7 + self.d7_to_14 + self.d14_plus
    }

    fn slot(&mut self, bucket: i64) -> &mut i64 {
        match bucket {
            0 => &mut self.under_1d,
            1 => &mut self.d1_to_3,
            2 => &mut self.d3_to_7,
            3 => &mut self.d7_to_14,
            _ => &mut self.d14_plus,
        }
    }

    fn labelled(&self) -> [(&'static str, i64); 5] {
        [
            ("<1d", self.under_1d),
            ("1-3d", self.d1_to_3),
            ("3-7d", self.d3_to_7),
            ("7-14d", self.d7_to_14),
            (">=14d", self.d14_plus),
        ]
    }
}

/// Wall-clock durations: never part of the deterministic report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    pub total_ms: u64,
    pub phases: BTreeMap<String, u64>,
}

/// The figures of a month or of the whole run, before they are labelled as either.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Figures {
    applications: BTreeMap<String, i64>,
    lines: BTreeMap<String, i64>,
    credit_outstanding_cents: i64,
    bills: BillFigures,
    increases: BTreeMap<String, i64>,
    deposits_held_cents: i64,
    emails: BTreeMap<String, i64>,
    tasks: TaskFigures,
}

impl Figures {
    fn from_store(f: ReportFigures) -> Figures {
        let mut open: BTreeMap<String, TaskAges> = BTreeMap::new();
        for (kind, bucket, n) in f.tasks_open {
            *open.entry(kind).or_default().slot(bucket) += n;
        }
        Figures {
            applications: f.applications.into_iter().collect(),
            lines: f.lines.into_iter().collect(),
            credit_outstanding_cents: f.billed_unpaid_cents.saturating_add(f.unbilled_cents),
            bills: f.bills,
            increases: f.increases.into_iter().collect(),
            deposits_held_cents: f.deposits_held_cents,
            emails: f.emails_sent.into_iter().collect(),
            tasks: TaskFigures {
                opened: f.tasks_opened.into_iter().collect(),
                closed: f.tasks_closed.into_iter().collect(),
                open,
            },
        }
    }

    fn into_month(self, period: Period) -> Month {
        Month {
            period: period.to_string(),
            applications: self.applications,
            lines: self.lines,
            credit_outstanding_cents: self.credit_outstanding_cents,
            bills: self.bills,
            increases: self.increases,
            deposits_held_cents: self.deposits_held_cents,
            emails: self.emails,
            tasks: self.tasks,
        }
    }

    fn into_totals(self, months: usize) -> Totals {
        Totals {
            months,
            applications: self.applications,
            lines: self.lines,
            credit_outstanding_cents: self.credit_outstanding_cents,
            bills: self.bills,
            increases: self.increases,
            deposits_held_cents: self.deposits_held_cents,
            emails: self.emails,
            tasks: self.tasks,
        }
    }
}

/// Reads the figures of the window `[from, to)` with open tasks aged at `now`.
async fn read(
    store: &dyn Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<Figures> {
    let window = ReportWindow {
        from,
        to,
        open_task_cutoffs: AGE_DAYS.iter().map(|d| now - chrono::Duration::days(*d)).collect(),
    };
    Ok(Figures::from_store(store.report_figures(&window).await?))
}

/// Collects the report while the simulation runs.
#[derive(Debug)]
pub struct Recorder {
    spec: Spec,
    /// By period, so a month recorded again (the driver's last, partial month) replaces itself.
    months: BTreeMap<Period, Month>,
    totals: Totals,
    findings: Vec<String>,
    counters: BTreeMap<String, i64>,
}

impl Recorder {
    pub fn new(spec: Spec) -> Recorder {
        Recorder {
            spec,
            months: BTreeMap::new(),
            totals: Totals::default(),
            findings: Vec::new(),
            counters: BTreeMap::new(),
        }
    }

    /// Adds `n` to the driver's counter `what` (applications sent, faults injected, ...).
    pub fn count(&mut self, what: &str, n: i64) {
        let c = self.counters.entry(what.to_string()).or_insert(0);
        *c = c.saturating_add(n);
    }

    /// Something the driver noticed that a reader should see (kept in the order given).
    pub fn finding(&mut self, text: String) {
        self.findings.push(text);
    }

    /// Records `period` as it stands at `now` (after the month's last day of work), and the
    /// run so far as the totals. Recording a period again replaces it, so the driver may
    /// record the run's last, partial month (the days [`Spec::end`] adds) on its last day.
    /// Two reads of [`Store::report_figures`]: a few hundred milliseconds on SQLite with
    /// 10,000 accounts and a year of bills, emails and tasks.
    pub async fn end_of_month(&mut self, app: &App, period: Period, now: DateTime<Utc>) -> anyhow::Result<()> {
        let store = app.store.as_ref();
        let month = read(store, period.start(), period.end(), now).await?.into_month(period);
        self.months.insert(period, month);
        let first = self.months.keys().next().copied().unwrap_or(period);
        // The run's window: from the simulation's first day (or the first month recorded, if
        // that is earlier) to the end of the latest month recorded.
        let from = first.start().min(self.spec.start.and_time(chrono::NaiveTime::MIN).and_utc());
        let to = self.months.keys().next_back().copied().unwrap_or(period).end();
        self.totals = read(store, from, to, now).await?.into_totals(self.months.len());
        Ok(())
    }

    pub fn finish(self, timings: Option<Timings>) -> Report {
        Report {
            spec: self.spec,
            months: self.months.into_values().collect(),
            totals: self.totals,
            findings: self.findings,
            counters: self.counters,
            timings,
        }
    }
}

/// Width of the label column in the text report.
const LABEL: usize = 22;

fn money(cents: i64) -> String {
    Money::from_cents(cents).to_string()
}

/// "approved 3, declined 1", or "-" when empty.
fn breakdown(map: &BTreeMap<String, i64>) -> String {
    if map.is_empty() {
        return "-".into();
    }
    map.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

fn row(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "  {label:<LABEL$} {value}");
}

fn counted(out: &mut String, label: &str, map: &BTreeMap<String, i64>) {
    let total: i64 = map.values().sum();
    row(out, label, &format!("{total:<6} {}", breakdown(map)));
}

fn figures_text(out: &mut String, f: &Figures) {
    counted(out, "applications", &f.applications);
    counted(out, "credit lines", &f.lines);
    row(out, "credit outstanding", &money(f.credit_outstanding_cents));
    let b = &f.bills;
    row(out, "bills issued", &format!("{:<6} {}", b.issued, money(b.issued_cents)));
    row(
        out,
        "bills due",
        &format!(
            "{:<6} {}: paid on time {}, paid late {}, unpaid {} ({})",
            b.due,
            money(b.due_cents),
            b.paid_on_time,
            b.paid_late,
            b.unpaid,
            money(b.unpaid_cents)
        ),
    );
    counted(out, "limit increases", &f.increases);
    row(out, "deposits held", &money(f.deposits_held_cents));
    counted(out, "emails sent", &f.emails);
    counted(out, "tasks opened", &f.tasks.opened);
    counted(out, "tasks closed", &f.tasks.closed);
    let open_total: i64 = f.tasks.open.values().map(TaskAges::total).sum();
    let open = if f.tasks.open.is_empty() {
        "-".to_string()
    } else {
        f.tasks
            .open
            .iter()
            .map(|(kind, ages)| {
                let by_age: Vec<String> =
                    ages.labelled().iter().filter(|(_, n)| *n > 0).map(|(l, n)| format!("{l} {n}")).collect();
                format!("{kind} {} ({})", ages.total(), by_age.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    row(out, "tasks open", &format!("{open_total:<6} {open}"));
}

impl From<&Month> for Figures {
    fn from(m: &Month) -> Figures {
        Figures {
            applications: m.applications.clone(),
            lines: m.lines.clone(),
            credit_outstanding_cents: m.credit_outstanding_cents,
            bills: m.bills,
            increases: m.increases.clone(),
            deposits_held_cents: m.deposits_held_cents,
            emails: m.emails.clone(),
            tasks: m.tasks.clone(),
        }
    }
}

impl From<&Totals> for Figures {
    fn from(t: &Totals) -> Figures {
        Figures {
            applications: t.applications.clone(),
            lines: t.lines.clone(),
            credit_outstanding_cents: t.credit_outstanding_cents,
            bills: t.bills,
            increases: t.increases.clone(),
            deposits_held_cents: t.deposits_held_cents,
            emails: t.emails.clone(),
            tasks: t.tasks.clone(),
        }
    }
}

impl Report {
    /// A block per month, then the totals, the counters, the findings, and the timings if any.
    pub fn to_text(&self) -> String {
        let s = &self.spec;
        let faults =
            serde_json::to_value(s.faults).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let mut out = format!(
            "creditline simulation: seed {}, {} accounts, {} months from {}, faults {faults}\n",
            s.seed, s.accounts, s.months, s.start
        );
        for m in &self.months {
            let _ = writeln!(out, "\n{}", m.period);
            figures_text(&mut out, &Figures::from(m));
        }
        let _ = writeln!(out, "\ntotals ({} months)", self.totals.months);
        figures_text(&mut out, &Figures::from(&self.totals));
        out.push_str("\ncounters\n");
        if self.counters.is_empty() {
            out.push_str("  none\n");
        }
        for (k, v) in &self.counters {
            row(&mut out, k, &v.to_string());
        }
        out.push_str("\nfindings\n");
        if self.findings.is_empty() {
            out.push_str("  none\n");
        }
        for f in &self.findings {
            let _ = writeln!(out, "  - {f}");
        }
        if let Some(t) = &self.timings {
            out.push_str("\ntimings\n");
            row(&mut out, "total", &format!("{} ms", t.total_ms));
            for (k, v) in &t.phases {
                row(&mut out, k, &format!("{v} ms"));
            }
        }
        out
    }

    /// Pretty JSON: the same fields, keys in a fixed order, `timings` only when given.
    pub fn to_json(&self) -> String {
        // Serializing plain structs and string-keyed maps cannot fail; say so if it ever does.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::FaultLevel;

    fn spec() -> Spec {
        Spec {
            seed: 7,
            accounts: 10,
            months: 2,
            faults: FaultLevel::None,
            start: chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
        }
    }

    fn map(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn store_figures() -> ReportFigures {
        ReportFigures {
            // Out of order on purpose: the report must sort them.
            applications: vec![("pending_review".into(), 2), ("approved".into(), 1)],
            lines: vec![("active".into(), 1)],
            billed_unpaid_cents: 5_000,
            unbilled_cents: 12_345,
            bills: BillFigures {
                issued: 2,
                issued_cents: 20_000,
                due: 2,
                due_cents: 20_000,
                paid_on_time: 1,
                paid_late: 0,
                unpaid: 1,
                unpaid_cents: 5_000,
            },
            increases: vec![("proposed".into(), 1)],
            deposits_held_cents: 0,
            emails_sent: vec![("application_received".into(), 3)],
            tasks_opened: vec![("application_review".into(), 3)],
            tasks_closed: vec![("application_review".into(), 1)],
            tasks_open: vec![
                ("email_failure".into(), 4, 1),
                ("application_review".into(), 0, 1),
                ("application_review".into(), 2, 1),
            ],
        }
    }

    fn report(timings: Option<Timings>) -> Report {
        let mut r = Recorder::new(spec());
        let january = Period::new(2027, 1).unwrap();
        r.months.insert(january, Figures::from_store(store_figures()).into_month(january));
        r.totals = Figures::from_store(store_figures()).into_totals(1);
        r.count("faults", 2);
        r.count("applications_sent", 3);
        r.count("faults", 1);
        r.finding("a bill was paid twice".into());
        r.finish(timings)
    }

    #[test]
    fn store_figures_become_sorted_maps_and_age_buckets() {
        let f = Figures::from_store(store_figures());
        assert_eq!(f.applications, map(&[("approved", 1), ("pending_review", 2)]));
        assert_eq!(f.credit_outstanding_cents, 17_345);
        let review = f.tasks.open["application_review"];
        assert_eq!((review.under_1d, review.d3_to_7, review.total()), (1, 1, 2));
        assert_eq!(f.tasks.open["email_failure"].d14_plus, 1);
        assert_eq!(f.tasks.open.keys().collect::<Vec<_>>(), ["application_review", "email_failure"]);
    }

    #[test]
    fn counters_add_up() {
        let r = report(None);
        assert_eq!(r.counters, map(&[("applications_sent", 3), ("faults", 3)]));
        assert_eq!(r.findings, ["a bill was paid twice"]);
    }

    #[test]
    fn text_lists_months_totals_counters_and_findings() {
        let text = report(None).to_text();
        let expected = "\
creditline simulation: seed 7, 10 accounts, 2 months from 2027-01-01, faults none

2027-01
  applications           3      approved 1, pending_review 2
  credit lines           1      active 1
  credit outstanding     $173.45
  bills issued           2      $200.00
  bills due              2      $200.00: paid on time 1, paid late 0, unpaid 1 ($50.00)
  limit increases        1      proposed 1
  deposits held          $0.00
  emails sent            3      application_received 3
  tasks opened           3      application_review 3
  tasks closed           1      application_review 1
  tasks open             3      application_review 2 (<1d 1, 3-7d 1), email_failure 1 (>=14d 1)

totals (1 months)
  applications           3      approved 1, pending_review 2
  credit lines           1      active 1
  credit outstanding     $173.45
  bills issued           2      $200.00
  bills due              2      $200.00: paid on time 1, paid late 0, unpaid 1 ($50.00)
  limit increases        1      proposed 1
  deposits held          $0.00
  emails sent            3      application_received 3
  tasks opened           3      application_review 3
  tasks closed           1      application_review 1
  tasks open             3      application_review 2 (<1d 1, 3-7d 1), email_failure 1 (>=14d 1)

counters
  applications_sent      3
  faults                 3

findings
  - a bill was paid twice
";
        assert_eq!(text, expected);
        assert!(!text.contains("timings"));
    }

    #[test]
    fn timings_are_shown_only_when_given() {
        let timings = Timings { total_ms: 1234, phases: [("days".to_string(), 1000u64)].into_iter().collect() };
        let r = report(Some(timings));
        assert!(
            r.to_text().ends_with("\ntimings\n  total                  1234 ms\n  days                   1000 ms\n")
        );
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["timings"]["total_ms"], 1234);
        let without: serde_json::Value = serde_json::from_str(&report(None).to_json()).unwrap();
        assert!(without.get("timings").is_none());
    }

    #[test]
    fn json_has_the_documented_shape_in_a_stable_order() {
        let json = report(None).to_json();
        assert_eq!(json, report(None).to_json());
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["counters", "findings", "months", "spec", "totals"]);
        let at = |k: &str| json.find(&format!("\n  \"{k}\":")).unwrap();
        assert!(at("spec") < at("months") && at("months") < at("totals"));
        assert!(at("totals") < at("findings") && at("findings") < at("counters"));
        let m = &v["months"][0];
        assert_eq!(m["period"], "2027-01");
        assert_eq!(m["applications"]["approved"], 1);
        assert_eq!(m["credit_outstanding_cents"], 17_345);
        assert_eq!(m["bills"]["unpaid_cents"], 5_000);
        assert_eq!(m["tasks"]["open"]["application_review"]["d3_to_7"], 1);
        assert_eq!(v["totals"]["months"], 1);
        assert_eq!(v["spec"]["faults"], "none");
        // Field order in the text is the struct's order, maps sorted by key.
        let a = json.find("\"approved\"").unwrap();
        let p = json.find("\"pending_review\"").unwrap();
        assert!(a < p);
        assert!(json.find("\"period\"").unwrap() < json.find("\"applications\"").unwrap());
    }

    #[test]
    fn a_month_recorded_again_replaces_itself_and_months_stay_in_order() {
        let mut r = Recorder::new(spec());
        let (jan, feb) = (Period::new(2027, 1).unwrap(), Period::new(2027, 2).unwrap());
        r.months.insert(feb, Figures::default().into_month(feb));
        r.months.insert(jan, Figures::default().into_month(jan));
        r.months.insert(feb, Figures::from_store(store_figures()).into_month(feb));
        let report = r.finish(None);
        let periods: Vec<&str> = report.months.iter().map(|m| m.period.as_str()).collect();
        assert_eq!(periods, ["2027-01", "2027-02"]);
        assert_eq!(report.months[1].credit_outstanding_cents, 17_345);
    }
}

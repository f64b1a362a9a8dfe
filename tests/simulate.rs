//! `creditline simulate` end to end: real serve, worker and SMTP processes driven by the
//! simulated applicants and reviewers. Short runs on fixed seeds must pass every daily
//! invariant; the same seed must print the same report; planted faults must be caught.

mod common;

use std::process::Output;

use common::{creditline, python_with_aiosmtpd};

/// `None` (skip) when aiosmtpd is missing outside CI; CI must run these.
fn smtp_available() -> bool {
    let ok = python_with_aiosmtpd().is_some();
    if !ok {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "aiosmtpd is not installed; CI must run the simulation");
        eprintln!("aiosmtpd not installed: simulation test skipped");
    }
    ok
}

fn simulate(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    creditline(dir.path()).arg("simulate").args(args).output().expect("run creditline simulate")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn assert_passes(args: &[&str]) -> String {
    let out = simulate(args);
    assert!(out.status.success(), "simulate {args:?} failed:\n{}\n{}", text(&out.stderr), text(&out.stdout));
    text(&out.stdout)
}

#[test]
fn short_runs_on_fixed_seeds_pass_every_invariant() {
    if !smtp_available() {
        return;
    }
    for (seed, faults) in [("1", "none"), ("2", "some"), ("3", "many")] {
        let report = assert_passes(&["--seed", seed, "--accounts", "24", "--months", "2", "--faults", faults]);
        assert!(report.contains("2027-01"), "the report names the months: {report}");
        assert!(
            report.contains("findings\n  none"),
            "a finding is a way the service and its users do not meet: {report}"
        );
    }
}

#[test]
fn the_same_seed_prints_the_same_report_byte_for_byte() {
    if !smtp_available() {
        return;
    }
    // With faults: a kill, a refusal or a second worker must not move any figure.
    let args = ["--seed", "12", "--accounts", "20", "--months", "2", "--faults", "many", "--json", "--no-timings"];
    let first = assert_passes(&args);
    let second = assert_passes(&args);
    assert_eq!(first, second, "one seed, one report");
    let other = assert_passes(&["--seed", "11", "--accounts", "20", "--months", "2", "--json", "--no-timings"]);
    assert_ne!(first, other, "another seed, another run");
    let v: serde_json::Value = serde_json::from_str(&first).expect("--json prints JSON");
    assert!(v.get("timings").is_none_or(|t| t.is_null()), "--no-timings leaves them out");
}

#[test]
fn a_lost_email_is_caught_with_the_seed_and_the_day() {
    if !smtp_available() {
        return;
    }
    let out = simulate(&["--seed", "5", "--accounts", "12", "--months", "1", "--plant", "lost-email"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a planted lost email fails the run:\n{err}");
    assert!(err.contains("seed 5 on day 2027-01-"), "{err}");
    assert!(err.contains("email_delivered"), "{err}");
}

#[test]
fn a_double_bill_is_caught_with_the_seed_and_the_day() {
    if !smtp_available() {
        return;
    }
    let out = simulate(&["--seed", "6", "--accounts", "16", "--months", "2", "--plant", "double-bill"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a planted double bill fails the run:\n{err}");
    assert!(err.contains("seed 6 on day 2027-"), "{err}");
}

#[test]
fn bad_arguments_are_refused_with_a_clear_error() {
    let out = simulate(&["--seed", "1", "--start", "January"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--start must be a month like 2027-01"), "{}", text(&out.stderr));
    let out = simulate(&["--seed", "1", "--database", "mysql://x"]);
    assert!(!out.status.success());
    let out = simulate(&["--accounts", "3"]);
    assert!(!out.status.success(), "--seed is required");
}

mod on_postgres {
    use super::*;

    #[test]
    fn a_short_run_passes_on_postgres() {
        let Some(url) = common::postgres_url() else { return };
        if !smtp_available() {
            return;
        }
        assert_passes(&["--seed", "21", "--accounts", "24", "--months", "2", "--faults", "some", "--database", &url]);
    }
}

/// Processes whose command line names `dir` (the run's server, workers and SMTP server).
#[cfg(target_os = "linux")]
fn processes_in(dir: &std::path::Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .filter(|c| c.contains(&needle))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(target_os = "linux")]
#[test]
fn an_interrupted_run_stops_the_processes_it_started() {
    if !smtp_available() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let keep = tempfile::tempdir().unwrap();
    let dir = keep.path().canonicalize().unwrap();
    let mut child = creditline(home.path())
        .args(["simulate", "--seed", "4", "--accounts", "200", "--months", "6", "--keep"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start creditline simulate");
    // Wait until the run's server and SMTP server are up (their command lines name the folder).
    let started = std::time::Instant::now();
    while processes_in(&dir).len() < 2 {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it was interrupted");
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the run's processes did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let term = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("interrupted"), "{}", text(&out.stderr));
    let left = processes_in(&dir);
    assert!(left.is_empty(), "processes outlived the interrupted run: {left:?}");
}

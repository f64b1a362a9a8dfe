//! `creditline scale-out` on PostgreSQL: a short run with three servers and three workers,
//! a process killed every few seconds, passes every check; the same run with an email the
//! SMTP server swallows fails the email check (the checks can fail). `.ci/run` runs the
//! one-minute form; the README reports the ten-minute one.

mod common;

use std::process::Output;

use common::{creditline, postgres_url, python_with_aiosmtpd};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One run at a time: each holds about 70 of PostgreSQL's 100 connections.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `None` when PostgreSQL is not configured (it is in CI's PostgreSQL suite).
fn scale_out(args: &[&str]) -> Option<Output> {
    let url = postgres_url()?;
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if python_with_aiosmtpd().is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "aiosmtpd is not installed; CI must run this");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let short = ["--seconds", "20", "--accounts", "40", "--kill-every", "5", "--day-seconds", "0.5"];
    Some(
        creditline(dir.path())
            .args(["scale-out", "--database", &url])
            .args(short)
            .args(args)
            .output()
            .expect("run creditline scale-out"),
    )
}

#[test]
fn scale_out_on_postgres_passes_every_check_with_processes_killed() {
    let Some(out) = scale_out(&["--seed", "3"]) else { return };
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "scale-out failed:\n{stdout}\n{stderr}");
    for check in [
        "inbound_one_outcome",
        "billed_once_per_month",
        "ledger_verify",
        "emails_sent_once",
        "no_job_stuck",
        "no_5xx",
        "simulation_invariants",
    ] {
        assert!(stdout.contains(&format!("[ok] {check}")), "{check} not passed:\n{stdout}");
    }
    // Every five seconds of twenty: three or four kills, each process started again.
    let kills = stdout.lines().filter(|l| l.contains("back after")).count();
    assert!(kills >= 3, "{stdout}");
    // A day every half second: January and February closed, with bills.
    assert!(stdout.contains("months closed: 2027-01"), "{stdout}");
}

#[test]
fn scale_out_on_postgres_catches_a_swallowed_email() {
    let Some(out) = scale_out(&["--seed", "4", "--plant", "lost-email"]) else { return };
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a lost email fails the run:\n{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("[FAILED] emails_sent_once"), "{stdout}");
    assert!(stdout.contains("1 sent but not in the SMTP server's Maildir"), "{stdout}");
    assert!(stdout.contains("the run's folder:"), "a failed run keeps its folder: {stdout}");
}

#[test]
fn scale_out_refuses_what_it_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = creditline(dir.path()).args(["scale-out", "--database", "sqlite://x.db"]).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--database must be a postgres:// URL"), "{}", text(&out.stderr));
    let out = creditline(dir.path())
        .args(["scale-out", "--database", "postgres://127.0.0.1/x", "--day-seconds", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--day-seconds must be between"), "{}", text(&out.stderr));
    let out = creditline(dir.path()).args(["scale-out", "--help"]).output().unwrap();
    assert!(text(&out.stdout).contains("--kill-every"));
}

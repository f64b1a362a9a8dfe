//! The deployment files say what the binary understands: the systemd units pass
//! `systemd-analyze verify` (no unknown key, an executable command), and every command line in
//! them and in the container file parses with this build's options; the container's
//! environment is configuration the service accepts and its user is not root. (No container
//! engine runs on the machines that test this, so the image itself is not built here.)

mod common;

use std::path::Path;
use std::process::Command;

const BIN: &str = "/usr/local/bin/creditline";

fn read(path: &str) -> String {
    std::fs::read_to_string(common::repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `ExecStart=` of a unit, split into arguments after the binary.
fn exec_start(unit: &str) -> Vec<String> {
    let line = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("an ExecStart line");
    let mut words = line.split_whitespace().map(str::to_string);
    assert_eq!(words.next().as_deref(), Some(BIN), "the binary where the container and the docs put it");
    words.collect()
}

/// The options parse: clap stops at `--help` after checking everything before it.
fn parses(args: &[String]) {
    let mut all: Vec<String> =
        args.iter().filter(|a| !a.starts_with("--config") && !a.ends_with(".toml")).cloned().collect();
    all.push("--help".into());
    let o = common::run(Path::new(env!("CARGO_TARGET_TMPDIR")), &all.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{all:?}: {}", common::stderr(&o));
}

#[test]
fn the_systemd_units_verify_and_their_commands_parse() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    for (file, instance) in [
        ("creditline-serve.service", "creditline-serve.service"),
        ("creditline-worker@.service", "creditline-worker@1.service"),
    ] {
        let unit = read(&format!("deploy/systemd/{file}"));
        parses(&exec_start(&unit));
        assert!(unit.contains("User=creditline") && unit.contains("NoNewPrivileges=true"), "{file}");
        if !analyze.exists() {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but systemd-analyze is missing");
            eprintln!("systemd-analyze not installed: {file} not verified");
            continue;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(instance), unit.replace(BIN, env!("CARGO_BIN_EXE_creditline"))).expect("write");
        let o = Command::new(analyze).arg("verify").arg(dir.path().join(instance)).output().expect("systemd-analyze");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() && stderr.trim().is_empty(), "{file}: {stderr}");
    }
}

#[test]
fn the_container_runs_as_a_user_with_configuration_the_service_accepts() {
    let file = read("deploy/Containerfile");
    let user = file.lines().rev().find_map(|l| l.strip_prefix("USER ")).expect("a USER line");
    assert!(!user.starts_with("0") && !user.starts_with("root"), "not root: {user}");
    for dir in ["rules", "workflows", "templates"] {
        assert!(file.contains(&format!("COPY {dir} /etc/creditline/{dir}")), "{dir} is in the image");
    }
    // The ENV block, with the folders pointed at this checkout: the service starts with it.
    let mut cmd = common::creditline(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let env_block = file.split("ENV ").nth(1).expect("an ENV block");
    for pair in env_block.lines().take_while(|l| !l.trim().is_empty() && !l.starts_with("USER")) {
        let pair = pair.trim().trim_end_matches('\\').trim();
        let (key, value) = pair.split_once('=').expect("KEY=value");
        if !key.ends_with("_DIR") {
            cmd.env(key, value);
        }
    }
    let o = cmd.args(["rules", "check"]).output().expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cmd_line = file.lines().find_map(|l| l.strip_prefix("CMD ")).expect("a CMD line");
    let args: Vec<String> = serde_json::from_str(cmd_line).expect("CMD in exec form");
    parses(&args);
}

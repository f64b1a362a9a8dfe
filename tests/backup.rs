//! `creditline backup` and `restore` on the embedded SQLite database: backups taken while a
//! server runs and top-ups are written restore into databases that `ledger verify` passes;
//! a backup never overwrites a file, a restore never replaces a database without --force nor
//! takes a damaged file; a PostgreSQL database is pointed to pg_dump.

mod common;

use common::{run, stderr, stdout};

const ACCOUNT: &str = "ops@backup-test.io";

fn top_up(dir: &std::path::Path, n: usize) {
    let txn = format!("txn-{n}");
    let o = run(dir, &["ledger", "top-up", ACCOUNT, "--amount", "5", "--provider", "bank", "--txn", &txn]);
    assert!(o.status.success(), "top-up {n}: {}", stderr(&o));
}

fn prepaid_cents(dir: &std::path::Path) -> i64 {
    let o = run(dir, &["ledger", "balance", ACCOUNT, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("balance JSON");
    v["prepaid_cents"].as_i64().or_else(|| v["balances"]["prepaid_cents"].as_i64()).unwrap_or_else(|| panic!("{v}"))
}

#[test]
fn backups_taken_during_writes_restore_to_a_verified_ledger() {
    let live = tempfile::tempdir().expect("temp dir");
    let o = run(live.path(), &["migrate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    top_up(live.path(), 0);
    let _server = common::serve(live.path());

    // Top-ups keep committing from other processes while three backups are taken.
    let writer = {
        let dir = live.path().to_path_buf();
        std::thread::spawn(move || (1..=30).for_each(|n| top_up(&dir, n)))
    };
    let backups: Vec<_> = (0..3)
        .map(|i| {
            std::thread::sleep(std::time::Duration::from_millis(150));
            let path = live.path().join(format!("backup-{i}.db"));
            let o = run(live.path(), &["backup", &path.display().to_string()]);
            assert!(o.status.success(), "backup {i}: {}", stderr(&o));
            assert!(stdout(&o).contains("integrity ok"), "{}", stdout(&o));
            path
        })
        .collect();
    writer.join().expect("the writer");
    let total = prepaid_cents(live.path());
    assert_eq!(total, 31 * 500);

    // A backup never overwrites a file.
    let o = run(live.path(), &["backup", &backups[0].display().to_string()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));

    for (i, backup) in backups.iter().enumerate() {
        let restored = tempfile::tempdir().expect("temp dir");
        let o = run(restored.path(), &["restore", &backup.display().to_string()]);
        assert!(o.status.success(), "restore {i}: {}", stderr(&o));
        let o = run(restored.path(), &["ledger", "verify"]);
        assert!(o.status.success(), "ledger verify after restoring backup {i}: {}{}", stdout(&o), stderr(&o));
        // A snapshot of some moment: whole top-ups, none beyond what was written.
        let cents = prepaid_cents(restored.path());
        assert!(cents % 500 == 0 && (500..=total).contains(&cents), "backup {i}: {cents}");
        eprintln!("backup {i}: {cents} of {total} cents");

        // Over an existing database only with --force.
        let o = run(restored.path(), &["restore", &backup.display().to_string()]);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("stop serve and the workers"), "{}", stderr(&o));
        let o = run(restored.path(), &["restore", "--force", &backups[2].display().to_string()]);
        assert!(o.status.success(), "{}", stderr(&o));
    }

    // A damaged file is refused before anything is replaced.
    let garbage = live.path().join("garbage.db");
    std::fs::write(&garbage, b"this is not a database").expect("write");
    let target = tempfile::tempdir().expect("temp dir");
    let o = run(target.path(), &["restore", &garbage.display().to_string()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("is not a sound SQLite database"), "{}", stderr(&o));
    assert!(!target.path().join("creditline.db").exists(), "nothing was put in place");
}

#[test]
fn a_postgres_database_is_backed_up_with_pg_dump() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("creditline.toml"),
        "database_url = \"postgres://app:secret@db.internal/creditline\"\n",
    )
    .expect("config");
    let o = run(dir.path(), &["backup", "out.db"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("pg_dump") && e.contains("pg_restore") && !e.contains("secret"), "{e}");
}

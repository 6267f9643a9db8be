//! Logs as an operator configures them: JSON lines (`LOG_FORMAT=json`), the
//! level from `LOG_LEVEL` or the original design's `FLINK_LOG_LEVEL`, a log
//! file (`LOG_FILE`), and failures logged rate-limited, not one line each.

use super::{Dir, enricher, event};
use super::{loaded_db, path};

/// 2,000 payments whose claims do not exist: every one is routed to failed.
fn unknown_claims(dir: &Dir) -> std::path::PathBuf {
    let input = dir.join("unknown.jsonl");
    let lines: Vec<String> = (0..2000)
        .map(|i| event(&format!("PAY-{i}"), &format!("CLM-X{i}")))
        .collect();
    std::fs::write(&input, lines.join("\n")).expect("write events");
    input
}

#[test]
fn json_logs_name_failures_without_a_line_per_record() {
    let dir = Dir::new("logs-json");
    let db = loaded_db(&dir);
    let input = unknown_claims(&dir);
    let log_file = dir.join("logs/enricher.log");
    let mut cmd = enricher(&[
        "run",
        "--input",
        path(&input),
        "--enriched-out",
        path(&dir.join("e.jsonl")),
        "--failed-out",
        path(&dir.join("f.jsonl")),
        "--db",
        path(&db),
    ]);
    cmd.env_remove("RUST_LOG")
        .env("LOG_FORMAT", "json")
        .env("FLINK_LOG_LEVEL", "INFO")
        .env("LOG_FILE", &log_file);
    let out = cmd.output().expect("run enricher");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let failures: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v: &serde_json::Value| v["fields"]["message"] == "record routed to failed")
        .collect();
    assert!(!failures.is_empty(), "no failure logged: {stderr}");
    assert!(
        failures.len() < 200,
        "{} lines for 2,000 failures: not rate-limited",
        failures.len()
    );
    let first = &failures[0]["fields"];
    assert_eq!(first["status"], "CLAIM_NOT_FOUND");
    assert_eq!(first["payment_id"], "PAY-0");
    assert_eq!(failures[0]["level"], "INFO");

    let logs = std::fs::read_dir(dir.join("logs")).expect("log folder");
    let written: String = logs
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("enricher.log"))
        .map(|e| std::fs::read_to_string(e.path()).expect("log file"))
        .collect();
    assert!(
        written.contains("record routed to failed"),
        "the log file holds the same lines: {written}"
    );
}

#[test]
fn a_bad_log_setting_is_refused_by_name() {
    for (name, value, valid) in [
        (
            "FLINK_LOG_LEVEL",
            "LOUD",
            "expected error, warn, info, debug or trace",
        ),
        ("LOG_FORMAT", "xml", "expected text or json"),
    ] {
        let mut cmd = enricher(&["claims", "--help"]);
        cmd.env_remove("RUST_LOG").env(name, value);
        let out = cmd.output().expect("run enricher");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(name) && stderr.contains(valid), "{stderr}");
    }
}

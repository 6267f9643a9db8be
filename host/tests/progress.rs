//! Progress of long commands when stderr is not a terminal (a pipe here):
//! plain `progress:` lines on stderr, every `ENRICHER_PROGRESS_INTERVAL` and
//! once at the end, with the counts the command really reached; stdout keeps
//! only what the command writes there (data, or its own report).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;
use support::{Dir, run_ok as ok};

/// The binary with progress lines every 100 ms.
fn enricher(args: &[&str]) -> Command {
    let mut cmd = support::enricher(args);
    cmd.env("ENRICHER_PROGRESS_INTERVAL", "100ms");
    cmd
}

/// The `progress:` lines of `what`, in order.
fn progress_lines(stderr: &[u8], what: &str) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.starts_with(&format!("progress: {what} ")))
        .map(str::to_owned)
        .collect()
}

/// The number right before `unit` in `line` (`... 250 records, ...`).
fn count_before(line: &str, unit: &str) -> u64 {
    let head = &line[..line
        .find(&format!(" {unit}"))
        .unwrap_or_else(|| panic!("no {unit} in {line:?}"))];
    let digits = head.rsplit(' ').next().expect("a number");
    digits
        .parse()
        .unwrap_or_else(|_| panic!("not a count before {unit}: {line:?}"))
}

fn line_count(path: &Path) -> u64 {
    std::fs::read_to_string(path).expect("file").lines().count() as u64
}

/// Claims (1000) loaded into `dir/claims.duckdb`, and `count` events (a fifth
/// with unknown claims) in `dir/events.jsonl`.
fn fixture(dir: &Dir, count: u64) -> (PathBuf, PathBuf) {
    let (events, claims, db) = (
        dir.join("events.jsonl"),
        dir.join("claims.csv"),
        dir.join("claims.duckdb"),
    );
    ok(enricher(&[
        "generate",
        "--count",
        &count.to_string(),
        "--claims",
        "1000",
        "--valid-claim-rate",
        "0.8",
        "--seed",
        "9",
        "--out",
        events.to_str().expect("path"),
        "--claims-out",
        claims.to_str().expect("path"),
    ]));
    let loaded = ok(enricher(&[
        "claims",
        "load",
        claims.to_str().expect("path"),
        "--db",
        db.to_str().expect("path"),
    ]));
    // 1000 claims and the CSV header: the lines it read.
    let load = progress_lines(&loaded.stderr, "claims load");
    let last = load.last().expect("a final claims load line");
    assert!(
        last.starts_with("progress: claims load done, 1001 lines"),
        "{last}"
    );
    assert!(!String::from_utf8_lossy(&loaded.stdout).contains("progress:"));
    (events, db)
}

#[test]
fn a_file_run_reports_its_progress_on_stderr_with_the_counts_it_reached() {
    let dir = Dir::new("run");
    let (events, db) = fixture(&dir, 250);
    let text = std::fs::read_to_string(&events).expect("events");
    let all: Vec<&str> = text.lines().collect();
    let (enriched, failed) = (dir.join("enriched.jsonl"), dir.join("failed.jsonl"));
    let mut child = enricher(&["run", "--input", "-", "--batch-size", "10", "--db"])
        .arg(&db)
        .arg("--enriched-out")
        .arg(&enriched)
        .arg("--failed-out")
        .arg(&failed)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    // 100 records, then a pause of several progress intervals, then the rest.
    for line in &all[..100] {
        writeln!(stdin, "{line}").expect("write");
    }
    stdin.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(1500));
    for line in &all[100..] {
        writeln!(stdin, "{line}").expect("write");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    let lines = progress_lines(&out.stderr, "run");
    let (last, periodic) = lines.split_last().expect("progress lines");
    // While the input paused, the lines said exactly how far the run was.
    assert!(
        periodic
            .iter()
            .any(|l| count_before(l, "records") == 100 && l.ends_with(" failed")),
        "no periodic line at 100 records:\n{stderr}"
    );
    let counts: Vec<u64> = periodic
        .iter()
        .map(|l| count_before(l, "records"))
        .collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    // The last line: every record, and the failed ones as the failed output holds them.
    assert!(
        last.starts_with("progress: run done, 250 records"),
        "{last}"
    );
    let failed_lines = line_count(&failed);
    assert!(failed_lines > 0, "a fifth of the claims are unknown");
    assert!(
        last.ends_with(&format!(", {failed_lines} failed")),
        "{last}"
    );
    assert_eq!(line_count(&enriched) + failed_lines, 250);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("progress:"),
        "progress never goes to stdout"
    );
}

#[test]
fn generate_to_stdout_writes_only_events_there_and_progress_to_stderr() {
    let out = ok(enricher(&["generate", "--count", "20000", "--seed", "4"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<&str> = stdout.lines().collect();
    assert_eq!(events.len(), 20_000);
    assert!(
        events
            .iter()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "stdout holds only the events"
    );
    let lines = progress_lines(&out.stderr, "generate");
    let last = lines.last().expect("a final progress line");
    assert!(
        last.starts_with("progress: generate done, 20000 events"),
        "{last}"
    );
}

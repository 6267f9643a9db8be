//! SIGTERM, SIGINT or SIGHUP during `enricher run --input ...`: the run stops
//! between two lines with both outputs whole and complete up to the same
//! input line, prints its summary and the command that resumes (`--skip-lines
//! N --append`), and exits 143, 130 or 129. Resumed (and interrupted again), the
//! outputs end up holding every input line exactly once, as one
//! uninterrupted run does.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::checks::{Dir, answers, enricher, ok};

pub const EVENTS: u64 = 100_000;

/// The payment ids of the first `lines` input lines.
pub(super) fn input_ids(dir: &Dir, lines: u64) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("events.jsonl")).expect("input");
    let taken = usize::try_from(lines).expect("line count");
    let mut ids: Vec<String> = text
        .lines()
        .take(taken)
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("generated event");
            value["payment_id"]
                .as_str()
                .expect("payment_id")
                .to_string()
        })
        .collect();
    ids.sort();
    ids
}

/// Every `(payment_id, status)` in the two outputs of a run, by id.
pub(super) fn both_outputs(dir: &Dir, prefix: &str) -> BTreeMap<String, Vec<String>> {
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in ["enriched", "failed"] {
        for (id, status) in answers(&dir.join(&format!("{prefix}{name}.jsonl"))) {
            by_id.entry(id).or_default().push(status);
        }
    }
    by_id
}

/// The ids answered, each once (a duplicate fails the test).
pub(super) fn answered_once(by_id: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    for (id, statuses) in by_id {
        assert_eq!(statuses.len(), 1, "{id} answered {} times", statuses.len());
    }
    by_id.keys().cloned().collect()
}

/// Starts `command`, waits until `output` grows past `past` bytes, sends
/// `signal`; returns the exit code and stderr (the summary and the resume
/// command; stdout stays empty).
pub(super) fn interrupt(
    mut command: Command,
    output: &Path,
    past: u64,
    signal: &str,
) -> (i32, String) {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child: Child = command.spawn().expect("spawn enricher");
    let started = Instant::now();
    while std::fs::metadata(output).map_or(0, |m| m.len()) <= past {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no output after 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().unwrap_or_else(|| {
        panic!(
            "killed outright, not stopped: {:?}\n{stdout}\n{stderr}",
            out.status
        )
    });
    assert!(
        stderr.contains("interrupted by SIG"),
        "exit {code}; the run ended before the signal? {stdout}\n{stderr}"
    );
    assert_eq!(stdout, "", "the summary is not on stdout");
    (code, stderr.into_owned())
}

/// The line N and the arguments of the summary's resume command.
pub(super) fn resume_point(summary: &str) -> (u64, Vec<String>) {
    let command = summary
        .lines()
        .find_map(|line| line.strip_prefix("resume     "))
        .unwrap_or_else(|| panic!("no resume command in {summary}"));
    let args: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    let at = args
        .iter()
        .position(|arg| arg == "--skip-lines")
        .expect("--skip-lines");
    let line = args[at + 1].parse().expect("a line number");
    assert_eq!(
        args.last().map(String::as_str),
        Some("--append"),
        "{command}"
    );
    (line, args[1..].to_vec())
}

pub(super) fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// A file run over `events.jsonl` with no cache (a query per batch of 100):
/// a few seconds for [`EVENTS`], slow enough to be stopped or killed mid-run.
pub const SLOW_RUN: [&str; 13] = [
    "run",
    "--input",
    "events.jsonl",
    "--enriched-out",
    "enriched.jsonl",
    "--failed-out",
    "failed.jsonl",
    "--db",
    "claims.duckdb",
    "--batch-size",
    "100",
    "--cache",
    "none",
];

/// [`EVENTS`] generated events (with `seed`, over 1,000 claims) in
/// `dir/events.jsonl`, their claims loaded into `dir/claims.duckdb`.
pub fn generate_and_load(dir: &Dir, seed: u64) {
    let (count, seed) = (EVENTS.to_string(), seed.to_string());
    ok(enricher(
        dir,
        &[
            "generate",
            "--count",
            &count,
            "--claims",
            "1000",
            "--seed",
            &seed,
            "--out",
            "events.jsonl",
            "--claims-out",
            "claims.csv",
        ],
    ));
    ok(enricher(
        dir,
        &["claims", "load", "claims.csv", "--db", "claims.duckdb"],
    ));
}

#[test]
fn an_interrupted_run_stops_whole_and_resumes_with_nothing_lost_or_doubled() {
    let dir = Dir::new("interrupt");
    generate_and_load(&dir, 5);
    let (code, summary) = interrupt(
        enricher(&dir, &SLOW_RUN),
        &dir.join("enriched.jsonl"),
        0,
        "-TERM",
    );
    assert_eq!(code, 143, "{summary}");
    assert!(summary.contains("interrupted by SIGTERM"), "{summary}");
    assert!(summary.contains("records    "), "the summary: {summary}");
    let (first, resume) = resume_point(&summary);
    assert!(0 < first && first < EVENTS, "stopped at line {first}");
    assert_eq!(
        answered_once(&both_outputs(&dir, "")),
        input_ids(&dir, first)
    );

    // The printed command, stopped again (by SIGINT) further on.
    let size = std::fs::metadata(dir.join("enriched.jsonl"))
        .expect("output")
        .len();
    let (code, summary) = interrupt(
        enricher(&dir, &as_strs(&resume)),
        &dir.join("enriched.jsonl"),
        size,
        "-INT",
    );
    assert_eq!(code, 130, "{summary}");
    assert!(
        summary.contains(&format!("the first {first} input line(s)")),
        "{summary}"
    );
    let (second, resume) = resume_point(&summary);
    assert!(first < second && second < EVENTS, "{first} then {second}");
    assert_eq!(
        answered_once(&both_outputs(&dir, "")),
        input_ids(&dir, second)
    );

    // Again, stopped by SIGHUP (a closed terminal) as by SIGTERM.
    let size = std::fs::metadata(dir.join("enriched.jsonl"))
        .expect("output")
        .len();
    let (code, summary) = interrupt(
        enricher(&dir, &as_strs(&resume)),
        &dir.join("enriched.jsonl"),
        size,
        "-HUP",
    );
    assert_eq!(code, 129, "{summary}");
    assert!(summary.contains("interrupted by SIGHUP"), "{summary}");
    let (third, resume) = resume_point(&summary);
    assert!(second < third && third < EVENTS, "{second} then {third}");
    assert_eq!(
        answered_once(&both_outputs(&dir, "")),
        input_ids(&dir, third)
    );

    // The printed command again, to the end.
    let summary = ok(enricher(&dir, &as_strs(&resume)));
    assert!(!summary.contains("interrupted"), "{summary}");
    let resumed = both_outputs(&dir, "");
    assert_eq!(answered_once(&resumed), input_ids(&dir, EVENTS));

    // The same records, with the same statuses, as one run without a stop.
    ok(enricher(
        &dir,
        &[
            "run",
            "--input",
            "events.jsonl",
            "--enriched-out",
            "whole-enriched.jsonl",
            "--failed-out",
            "whole-failed.jsonl",
            "--db",
            "claims.duckdb",
        ],
    ));
    assert_eq!(resumed, both_outputs(&dir, "whole-"));
}

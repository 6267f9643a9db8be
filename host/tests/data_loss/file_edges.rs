//! Smaller ways a file run could lose or misreport data: an `--input` that is
//! a folder is refused before the outputs are replaced; a `--skip-lines` past
//! the end of the input warns; RECORD_TOO_LARGE reports the record's real
//! size, not the capped length it was read with.

use super::checks::{Dir, claims_db, enricher, event, ok, refused};

#[test]
fn a_folder_as_input_is_refused_before_the_outputs_are_touched() {
    let dir = Dir::new("input-folder");
    claims_db(&dir);
    std::fs::create_dir(dir.join("events")).expect("dir");
    for name in ["e.jsonl", "f.jsonl"] {
        std::fs::write(dir.join(name), "keep me\n").expect("write");
    }
    let stderr = refused(enricher(
        &dir,
        &[
            "run",
            "--input",
            "events",
            "--enriched-out",
            "e.jsonl",
            "--failed-out",
            "f.jsonl",
            "--db",
            "claims.duckdb",
        ],
    ));
    assert!(stderr.contains("--input events is a folder"), "{stderr}");
    for name in ["e.jsonl", "f.jsonl"] {
        let kept = std::fs::read_to_string(dir.join(name)).expect("read");
        assert_eq!(kept, "keep me\n", "{name} untouched");
    }
}

#[test]
fn skip_lines_past_the_end_warns_and_too_large_records_report_their_size() {
    let dir = Dir::new("file-edges");
    claims_db(&dir);
    let big = format!(r#"{{"payment_id":"PAY-BIG","pad":"{}"}}"#, "x".repeat(5000));
    let input = format!("{}\n{big}\n", event("PAY-1", "CLM-001"));
    std::fs::write(dir.join("events.jsonl"), &input).expect("write");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--input",
            "events.jsonl",
            "--enriched-out",
            "e.jsonl",
            "--failed-out",
            "f.jsonl",
            "--db",
            "claims.duckdb",
        ];
        args.extend_from_slice(extra);
        let mut command = enricher(&dir, &args);
        command.env("ENRICHER_MAX_RECORD_BYTES", "1000");
        command
    };
    let summary = ok(run(&[]));
    assert!(summary.contains("2 in, 1 enriched, 1 failed"), "{summary}");
    let failed = std::fs::read_to_string(dir.join("f.jsonl")).expect("read");
    let size = big.len();
    assert!(
        failed.contains("RECORD_TOO_LARGE")
            && failed.contains(&format!(
                "record of {size} bytes exceeds max-record-bytes 1000"
            )),
        "{failed}"
    );

    let summary = ok(run(&["--skip-lines", "5"]));
    assert!(
        summary.contains(
            "warning    --skip-lines 5 is past the end of the input, which has 2 line(s): nothing was read"
        ),
        "{summary}"
    );
    // At the end exactly: nothing left, nothing to warn about.
    let summary = ok(run(&["--skip-lines", "2"]));
    assert!(!summary.contains("warning"), "{summary}");
}

//! Where the binary writes: data on stdout only when asked (`-`), the
//! summary on stderr, `--summary-json` with every counter, and counters that
//! match what the run did in every cache mode.

use std::path::Path;

use super::{Dir, enricher, event, lines};
use super::{loaded_db, path};

/// Runs `cmd`, which must succeed: (stdout, stderr).
fn outputs(mut cmd: std::process::Command) -> (String, String) {
    let out = cmd.output().expect("run enricher");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "enricher failed: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("summary file")).expect("JSON")
}

#[test]
fn a_dash_output_is_stdout_and_holds_only_records_while_the_summary_goes_to_stderr() {
    let dir = Dir::new("out-dash");
    let db = loaded_db(&dir);
    let input = dir.join("events.jsonl");
    let events = [
        event("PAY-1", "CLM-001"),
        event("PAY-2", "CLM-404"),
        event("PAY-3", "CLM-002"),
    ];
    std::fs::write(&input, events.join("\n")).expect("write");
    let failed = dir.join("failed.jsonl");
    let json = dir.join("summary/run.json");
    let (stdout, stderr) = outputs(enricher(&[
        "run",
        "--input",
        path(&input),
        "--enriched-out",
        "-",
        "--failed-out",
        path(&failed),
        "--db",
        path(&db),
        "--summary-json",
        path(&json),
    ]));
    let enriched: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("only JSON records on stdout"))
        .collect();
    let ids: Vec<&str> = enriched
        .iter()
        .map(|v| v["payment_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, ["PAY-1", "PAY-3"]);
    assert_eq!(lines(&failed).len(), 1);
    assert!(stderr.contains("3 in, 2 enriched, 1 failed"), "{stderr}");
    assert!(stderr.contains("output     stdout and "), "{stderr}");
    let summary = read_json(&json);
    assert_eq!(summary["command"], "run");
    assert_eq!(summary["mode"], "file");
    assert_eq!(summary["enriched_out"], "stdout");
    assert_eq!(summary["records"]["records_in"], 3);
    assert_eq!(summary["records"]["enriched"], 2);
    assert_eq!(summary["records"]["failed"], 1);
    assert_eq!(summary["records"]["by_status"]["CLAIM_NOT_FOUND"], 1);
    for counter in [
        "hits",
        "negative_hits",
        "misses",
        "evictions",
        "expirations",
    ] {
        assert!(
            summary["lookup"]["cache"][counter].is_u64(),
            "{counter}: {summary}"
        );
    }
    for counter in [
        "store_queries",
        "store_retries",
        "store_errors",
        "rows_in_memory",
    ] {
        assert!(summary["lookup"][counter].is_u64(), "{counter}: {summary}");
    }

    // stdin to stdout, the failed records to a file: a filter in a pipe.
    let mut cmd = enricher(&[
        "run",
        "--input",
        "-",
        "--enriched-out",
        path(&dir.join("enriched.jsonl")),
        "--failed-out",
        "-",
        "--db",
        path(&db),
    ]);
    cmd.stdin(std::fs::File::open(&input).expect("input"));
    let (stdout, stderr) = outputs(cmd);
    let failed: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("only JSON records on stdout"))
        .collect();
    assert_eq!(failed.len(), 1, "{stdout}");
    assert_eq!(failed[0]["enrichment_status"], "CLAIM_NOT_FOUND");
    assert!(stderr.contains("3 in, 2 enriched, 1 failed"), "{stderr}");
}

#[test]
fn both_outputs_on_stdout_are_refused_before_anything_runs() {
    let dir = Dir::new("out-both-dash");
    let db = loaded_db(&dir);
    let input = dir.join("events.jsonl");
    std::fs::write(&input, event("PAY-1", "CLM-001")).expect("write");
    let out = enricher(&[
        "run",
        "--input",
        path(&input),
        "--enriched-out",
        "-",
        "--failed-out",
        "-",
        "--db",
        path(&db),
    ])
    .output()
    .expect("run");
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--enriched-out - and --failed-out - would both write to stdout"),
        "{stderr}"
    );
    // A JSON summary on stdout beside records on stdout: refused too.
    let out = enricher(&[
        "run",
        "--input",
        path(&input),
        "--enriched-out",
        "-",
        "--failed-out",
        path(&dir.join("failed.jsonl")),
        "--db",
        path(&db),
        "--summary-json",
        "-",
    ])
    .output()
    .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--summary-json -"), "{stderr}");
    // The JSON summary may not overwrite the input either.
    let out = enricher(&[
        "run",
        "--input",
        path(&input),
        "--enriched-out",
        path(&dir.join("enriched.jsonl")),
        "--failed-out",
        path(&dir.join("failed.jsonl")),
        "--db",
        path(&db),
        "--summary-json",
        path(&input),
    ])
    .output()
    .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--summary-json") && stderr.contains("is the same file as --input"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&input).expect("input"),
        event("PAY-1", "CLM-001"),
        "the input is kept"
    );
}

#[test]
fn claims_load_and_generate_summaries_go_to_stderr_and_json() {
    let dir = Dir::new("out-load-generate");
    let events = dir.join("events.jsonl");
    let claims = dir.join("claims.csv");
    let json = dir.join("generate.json");
    let (stdout, stderr) = outputs(enricher(&[
        "generate",
        "--count",
        "50",
        "--claims",
        "20",
        "--invalid-rate",
        "0.1",
        "--claims-out",
        path(&claims),
        "--summary-json",
        path(&json),
    ]));
    assert_eq!(stdout.lines().count(), 50, "the events, only them");
    assert!(stderr.contains("generated 50 events"), "{stderr}");
    let generated = read_json(&json);
    assert_eq!(generated["events"], 50);
    assert_eq!(generated["claims_written"], 20);
    let parts = ["valid_claim", "unknown_claim", "invalid"]
        .iter()
        .map(|k| generated[k].as_u64().expect("a count"))
        .sum::<u64>();
    assert_eq!(parts, 50, "{generated}");
    std::fs::write(&events, stdout).expect("write");

    let db = dir.join("claims.duckdb");
    let (stdout, stderr) = outputs(enricher(&[
        "claims",
        "load",
        path(&claims),
        "--db",
        path(&db),
        "--summary-json",
        "-",
    ]));
    assert!(stderr.contains("loaded 20 claims"), "{stderr}");
    let loaded: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(loaded["command"], "claims load");
    assert_eq!(loaded["rows_loaded"], 20);
    assert_eq!(loaded["rows_rejected"], 0);
}

/// The lookup counters of a run over 100 events (batches of one record, so
/// each event is one lookup of one id) on 2 known claims and 1 unknown one.
fn lookup_counters(dir: &Dir, db: &Path, cache: &str) -> serde_json::Value {
    let input = dir.join("events-100.jsonl");
    let claims = ["CLM-001", "CLM-002", "CLM-404"];
    let events: Vec<String> = (0..100)
        .map(|i| event(&format!("PAY-{i}"), claims[i % 3]))
        .collect();
    std::fs::write(&input, events.join("\n")).expect("write");
    let json = dir.join(&format!("summary-{cache}.json"));
    let (_, stderr) = outputs(enricher(&[
        "run",
        "--input",
        path(&input),
        "--enriched-out",
        path(&dir.join("enriched.jsonl")),
        "--failed-out",
        path(&dir.join("failed.jsonl")),
        "--db",
        path(db),
        "--batch-size",
        "1",
        "--cache",
        cache,
        "--summary-json",
        path(&json),
    ]));
    let summary = read_json(&json);
    assert_eq!(summary["records"]["records_in"], 100, "{stderr}");
    assert_eq!(summary["records"]["by_status"]["CLAIM_NOT_FOUND"], 33);
    let lookup = summary["lookup"].clone();
    // The text summary says the same.
    let c = &lookup["cache"];
    let line = format!(
        "lookup     cache hits {} (missing {}), misses {}",
        c["hits"], c["negative_hits"], c["misses"]
    );
    assert!(stderr.contains(&line), "{line:?} not in {stderr}");
    assert!(
        stderr.contains(&format!("store      queries {}", lookup["store_queries"])),
        "{stderr}"
    );
    lookup
}

#[test]
fn summary_counts_hits_and_misses_right_in_every_cache_mode() {
    let dir = Dir::new("out-cache-modes");
    let db = loaded_db(&dir);

    // No cache: every lookup is a miss the store answers.
    let none = lookup_counters(&dir, &db, "none");
    assert_eq!(none["cache"]["hits"], 0, "{none}");
    assert_eq!(none["cache"]["misses"], 100, "{none}");
    assert_eq!(none["store_queries"], 100, "misses = queries: {none}");

    // Full: the whole table in memory, every lookup a hit (found or not).
    let full = lookup_counters(&dir, &db, "full");
    assert_eq!(full["cache"]["hits"], 100, "{full}");
    assert_eq!(full["cache"]["negative_hits"], 33, "{full}");
    assert_eq!(full["cache"]["misses"], 0, "{full}");
    assert_eq!(full["rows_in_memory"], 2, "{full}");

    // Partial: each of the 3 ids is fetched from the store once, either by
    // the read-ahead prefetch or by the stream's first lookup of it (a miss);
    // which one wins is a race, so the counts must add up either way. The
    // unknown id is cached as missing, so its later lookups are negative hits.
    let partial = lookup_counters(&dir, &db, "partial");
    let count = |v: &serde_json::Value| v.as_u64().expect("a count");
    let misses = count(&partial["cache"]["misses"]);
    let hits = count(&partial["cache"]["hits"]);
    let prefetched = count(&partial["prefetched"]);
    let queries = count(&partial["store_queries"]);
    assert_eq!(
        hits + misses,
        100,
        "every lookup is a hit or a miss: {partial}"
    );
    assert!(misses <= 3, "at most one miss per id: {partial}");
    assert!(
        misses + prefetched >= 3,
        "every id was fetched, by the prefetch or a miss: {partial}"
    );
    assert!((1..=3).contains(&queries), "{partial}");
    let negative = count(&partial["cache"]["negative_hits"]);
    assert!((32..=33).contains(&negative), "{partial}");
}

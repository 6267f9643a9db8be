//! The `enricher` binary as a user runs it: `claims load`, `run`, `generate`
//! and `demo`, on real files.

use std::process::Stdio;

#[path = "support/mod.rs"]
mod support;

#[path = "cli/config_check.rs"]
mod config_check;
#[path = "cli/errors.rs"]
mod errors;
#[path = "cli/logs.rs"]
mod logs;
#[path = "cli/output.rs"]
mod output;
#[path = "cli/signing.rs"]
mod signing;
#[path = "cli/start_caches.rs"]
mod start_caches;

use support::{CLAIMS_CSV as CLAIMS, Dir, enricher, event, lines, loaded_db, ok, path, summary_of};

#[test]
fn claims_load_then_run_routes_every_event() {
    let dir = Dir::new("load-run");
    std::fs::write(dir.join("claims.csv"), CLAIMS).expect("write");
    let db = dir.join("claims.duckdb");
    let db_arg = db.to_str().expect("utf8 path");
    let loaded = summary_of(enricher(&[
        "claims",
        "load",
        dir.join("claims.csv").to_str().expect("path"),
        "--db",
        db_arg,
    ]));
    assert!(loaded.contains("loaded 2 claims"), "{loaded}");

    let input = [
        event("PAY-1", "CLM-001"),
        event("PAY-2", "CLM-404"),
        "{broken".into(),
        event("PAY-3", "CLM-002"),
    ]
    .join("\n");
    std::fs::write(dir.join("events.jsonl"), input).expect("write");
    let (enriched, failed) = (dir.join("out/enriched.jsonl"), dir.join("out/failed.jsonl"));
    let summary = summary_of(enricher(&[
        "run",
        "--input",
        dir.join("events.jsonl").to_str().expect("path"),
        "--enriched-out",
        enriched.to_str().expect("path"),
        "--failed-out",
        failed.to_str().expect("path"),
        "--db",
        db_arg,
    ]));
    assert!(summary.contains("4 in, 2 enriched, 2 failed"), "{summary}");
    assert!(summary.contains("CLAIM_NOT_FOUND"), "{summary}");
    let e = lines(&enriched);
    assert_eq!(
        e.iter()
            .map(|v| v["payment_id"].as_str().unwrap_or(""))
            .collect::<Vec<_>>(),
        ["PAY-1", "PAY-3"]
    );
    let f = lines(&failed);
    assert_eq!(
        f.iter()
            .map(|v| v["enrichment_status"].as_str().unwrap_or(""))
            .collect::<Vec<_>>(),
        ["CLAIM_NOT_FOUND", "INVALID_JSON"]
    );
}

#[test]
fn run_reads_stdin_and_takes_the_database_from_duckdb_url() {
    let dir = Dir::new("stdin");
    std::fs::write(dir.join("claims.csv"), CLAIMS).expect("write");
    let db = dir.join("claims.duckdb");
    ok(enricher(&[
        "claims",
        "load",
        dir.join("claims.csv").to_str().expect("path"),
        "--db",
        db.to_str().expect("path"),
    ]));
    let (enriched, failed) = (dir.join("e.jsonl"), dir.join("f.jsonl"));
    let mut cmd = enricher(&[
        "run",
        "--input",
        "-",
        "--enriched-out",
        enriched.to_str().expect("p"),
        "--failed-out",
        failed.to_str().expect("p"),
    ]);
    cmd.env("DUCKDB_URL", format!("jdbc:duckdb:{}", db.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{}", event("PAY-9", "CLM-002")).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = lines(&enriched);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["member_id"], "MBR-100");
    assert!(
        std::fs::read_to_string(&enriched)
            .expect("read")
            .contains(r#""claim_amount":15.50,"#)
    );
}

#[test]
fn bad_claims_rows_are_rejected_and_the_table_is_kept() {
    let dir = Dir::new("bad-claims");
    let db = dir.join("claims.duckdb");
    std::fs::write(dir.join("good.csv"), CLAIMS).expect("write");
    ok(enricher(&[
        "claims",
        "load",
        dir.join("good.csv").to_str().expect("p"),
        "--db",
        db.to_str().expect("p"),
    ]));
    std::fs::write(
        dir.join("bad.csv"),
        "claim_id,member_id,claim_amount\nCLM-9,MBR-9,not-money\n",
    )
    .expect("write");
    let out = enricher(&[
        "claims",
        "load",
        dir.join("bad.csv").to_str().expect("p"),
        "--db",
        db.to_str().expect("p"),
    ])
    .output()
    .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("not-money"),
        "{stderr}"
    );
    // The earlier table still answers.
    let conn = duckdb::Connection::open(&db).expect("open");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM claims", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 2);
}

#[test]
fn a_missing_database_fails_fast_with_a_clear_message() {
    let dir = Dir::new("no-db");
    std::fs::write(dir.join("events.jsonl"), event("P", "C")).expect("write");
    let out = enricher(&[
        "run",
        "--input",
        dir.join("events.jsonl").to_str().expect("p"),
        "--enriched-out",
        dir.join("e").to_str().expect("p"),
        "--failed-out",
        dir.join("f").to_str().expect("p"),
        "--db",
        dir.join("nowhere.duckdb").to_str().expect("p"),
    ])
    .output()
    .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not exist") && stderr.contains("claims load"),
        "{stderr}"
    );
}

#[test]
fn generate_is_deterministic_for_a_seed() {
    let run = |seed: &str| {
        ok(enricher(&[
            "generate",
            "--count",
            "500",
            "--seed",
            seed,
            "--invalid-rate",
            "0.1",
        ]))
    };
    let (a, b) = (run("9"), run("9"));
    assert_eq!(a, b, "the same seed gives the same events");
    assert_eq!(a.lines().count(), 500);
    let other = run("10");
    assert_eq!(other.lines().count(), 500);
    // Another seed changes the events themselves, not only their ids.
    let without_ids = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| match l.find(r#""claim_id""#) {
                Some(at) => l[at..].to_owned(),
                None => l.to_owned(),
            })
            .collect()
    };
    let differing = without_ids(&a)
        .iter()
        .zip(without_ids(&other))
        .filter(|(x, y)| **x != *y)
        .count();
    assert!(
        differing > 400,
        "seed 10 differs from seed 9 in only {differing} of 500 events"
    );
}

#[test]
fn demo_runs_end_to_end() {
    let dir = Dir::new("demo");
    let out = ok(enricher(&[
        "demo",
        "--dir",
        dir.0.to_str().expect("p"),
        "--events",
        "5000",
    ]));
    assert!(out.contains("5000 in"), "{out}");
    assert!(
        out.contains("SUCCESS") && out.contains("CLAIM_NOT_FOUND"),
        "{out}"
    );
    let enriched = lines(&dir.join("enriched-payments.jsonl"));
    let failed = lines(&dir.join("failed-payments.jsonl"));
    assert_eq!(enriched.len() + failed.len(), 5000);
}

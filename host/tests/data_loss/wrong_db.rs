//! A `--db` that is not a claims database, and settings that would ask for
//! more than the machine has: refused by name before anything is written,
//! never a claims load that "succeeds" into nothing, a run that fails every
//! record, or a panic.

use super::checks::{Dir, claim_ids, claims_db, enricher, event, ok, refused};

#[test]
fn a_db_that_is_not_a_duckdb_database_is_refused_and_left_as_it_was() {
    let dir = Dir::new("wrong-db");
    claims_db(&dir);
    let events = format!(
        "{}\n{}\n",
        event("PAY-1", "CLM-001"),
        event("PAY-2", "CLM-002")
    );
    std::fs::write(dir.join("ev.jsonl"), &events).expect("write");

    let stderr = refused(enricher(
        &dir,
        &["claims", "load", "claims.csv", "--db", "ev.jsonl"],
    ));
    assert!(
        stderr.contains("ev.jsonl exists and is not a DuckDB database"),
        "{stderr}"
    );
    let run = [
        "run",
        "--input",
        "ev.jsonl",
        "--db",
        "ev.jsonl",
        "--enriched-out",
        "e.jsonl",
        "--failed-out",
        "f.jsonl",
    ];
    let stderr = refused(enricher(&dir, &run));
    assert!(stderr.contains("is not a DuckDB database"), "{stderr}");
    let mut with_api = enricher(&dir, &run);
    with_api.env("ENRICHER_ADMIN_BIND", "127.0.0.1:0");
    let stderr = refused(with_api);
    assert!(stderr.contains("is not a DuckDB database"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.join("ev.jsonl")).expect("read"),
        events,
        "the file is left as it was"
    );

    // Control: a database file and a new path are taken.
    ok(enricher(
        &dir,
        &["claims", "load", "claims.csv", "--db", "new.duckdb"],
    ));
    assert_eq!(claim_ids(&dir.join("new.duckdb")), ["CLM-001", "CLM-002"]);
}

#[test]
fn a_motherduck_path_fails_at_once_without_fetching_an_extension() {
    let dir = Dir::new("md-db");
    claims_db(&dir);
    let started = std::time::Instant::now();
    let stderr = refused(enricher(
        &dir,
        &["claims", "load", "claims.csv", "--db", "md:claims"],
    ));
    let lower = stderr.to_ascii_lowercase();
    assert!(
        !lower.contains("download") && !lower.contains("http"),
        "no extension is fetched: {stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn hostile_claim_statuses_and_bidirectional_ids_are_refused_at_load() {
    let dir = Dir::new("hostile-status");
    let db = claims_db(&dir);
    let csv = format!(
        "claim_id,member_id,claim_amount,claim_status\n\
         CLM-GOOD,MBR-1,1.00,APPROVED\n\
         CLM-BIG,MBR-2,2.00,{}\n\
         CLM-\u{202E}3,MBR-3,3.00,APPROVED\n\
         CLM-4,MBR-\u{2066}4,4.00,APPROVED\n",
        "S".repeat(2 << 20)
    );
    std::fs::write(dir.join("hostile.csv"), csv).expect("write");
    let stderr = refused(enricher(
        &dir,
        &["claims", "load", "hostile.csv", "--db", "claims.duckdb"],
    ));
    for expected in [
        "3 bad row(s)",
        "line 3: claim_status is 2097152 bytes long, more than 256",
        "line 4: claim_id holds a bidirectional control character (U+202E at byte 4)",
        "line 5: member_id holds a bidirectional control character (U+2066 at byte 4)",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in {stderr}"
        );
    }
    assert!(
        stderr.len() < 10_000,
        "the huge status is not printed whole"
    );
    assert_eq!(claim_ids(&db), ["CLM-001", "CLM-002"], "the table is kept");
}

#[test]
fn a_cache_larger_than_any_machine_is_refused_by_name() {
    let dir = Dir::new("cache-rows");
    claims_db(&dir);
    std::fs::write(
        dir.join("ev.jsonl"),
        format!("{}\n", event("PAY-1", "CLM-001")),
    )
    .expect("write");
    let run = [
        "run",
        "--input",
        "ev.jsonl",
        "--db",
        "claims.duckdb",
        "--enriched-out",
        "e.jsonl",
        "--failed-out",
        "f.jsonl",
    ];
    for rows in ["18446744073709551615", "1000000000"] {
        let mut command = enricher(&dir, &run);
        command.env("LOOKUP_CACHE_MAX_ROWS", rows);
        let out = command.output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "refused as a setting, not a panic (101) or an abort: {stderr}"
        );
        assert!(
            stderr.contains("lookup.cache-max-rows (LOOKUP_CACHE_MAX_ROWS)"),
            "{stderr}"
        );
    }
    // Control: the largest allowed cache starts at once (nothing allocated up front).
    let mut command = enricher(&dir, &run);
    command.env("LOOKUP_CACHE_MAX_ROWS", "50000000");
    ok(command);
    assert!(
        std::fs::read_to_string(dir.join("e.jsonl"))
            .expect("out")
            .contains("PAY-1")
    );
}

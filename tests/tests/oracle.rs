//! The oracle: for a generated data set, our outputs match, record for record,
//! the original design's enrichment SQL run by DuckDB itself over the same
//! events and claims (`LEFT JOIN claims ... CASE WHEN c.claim_id IS NOT NULL
//! THEN 'SUCCESS' ELSE 'CLAIM_NOT_FOUND' END`).

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;

use enricher::config::CacheMode;
use enricher::generate::{GenerateOptions, write_claims_csv, write_events};
use enricher_tests::*;
use serde_json::value::RawValue;

/// One expected row: status, member_id, claim_amount text, claim_status, payment_amount text.
type Expected = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

fn oracle(db_dir: &TempDir, events: &std::path::Path) -> HashMap<String, Expected> {
    let conn = duckdb::Connection::open(db_dir.join("claims.duckdb")).expect("open db");
    let sql = format!(
        "WITH payment_events AS (
            SELECT * FROM read_json('{}', format = 'newline_delimited', columns = {{
                payment_id: 'VARCHAR', claim_id: 'VARCHAR', payment_amount: 'DECIMAL(10,2)',
                payment_date: 'VARCHAR', processor_id: 'VARCHAR', payment_method: 'VARCHAR', payment_status: 'VARCHAR'}}))
         SELECT p.payment_id,
                CASE WHEN c.claim_id IS NOT NULL THEN 'SUCCESS' ELSE 'CLAIM_NOT_FOUND' END AS enrichment_status,
                c.member_id, CAST(c.claim_amount AS VARCHAR), c.claim_status, CAST(p.payment_amount AS VARCHAR)
         FROM payment_events p
         LEFT JOIN claims c ON p.claim_id = c.claim_id",
        events.display()
    );
    let mut stmt = conn.prepare(&sql).expect("oracle query");
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
            ))
        })
        .expect("run oracle");
    rows.collect::<Result<_, _>>().expect("oracle rows")
}

/// The raw JSON tokens of one output line, so numbers are compared as text.
fn tokens(line: &str) -> HashMap<String, Box<RawValue>> {
    serde_json::from_str(line).expect("output is a JSON object")
}

fn text(t: &HashMap<String, Box<RawValue>>, key: &str) -> Option<String> {
    let raw = t.get(key)?.get();
    if raw == "null" {
        return None;
    }
    Some(serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_owned()))
}

fn check_against_oracle(cache: CacheMode, batch_size: usize, cache_max_rows: usize) {
    let dir = TempDir::new("oracle");
    let (claims, seed) = (3_000, 11);
    let claims_csv = dir.join("claims.csv");
    write_claims_csv(
        &mut BufWriter::new(File::create(&claims_csv).expect("create")),
        claims,
        seed,
    )
    .expect("claims");
    let db = load_claims_file(&dir, &claims_csv);
    let events = dir.join("events.jsonl");
    let options = GenerateOptions {
        count: Some(20_000),
        valid_claim_rate: 0.85,
        claims,
        seed,
        ..GenerateOptions::default()
    };
    write_events(
        &mut BufWriter::new(File::create(&events).expect("create")),
        &options,
    )
    .expect("events");

    let expected = oracle(&dir, &events);
    assert_eq!(expected.len(), 20_000);

    let mut config = config_for(&db);
    config.lookup.cache = cache;
    config.lookup.cache_max_rows = cache_max_rows;
    let mut pipeline = enricher::app::build_pipeline(&config).expect("pipeline");
    let input = std::fs::read(&events).expect("read events");
    let out = run_bytes(&mut pipeline, &input, batch_size);
    assert_eq!(
        out.enriched_raw.len() + out.failed_raw.len(),
        expected.len(),
        "every event answered once"
    );

    let mut seen = 0;
    for line in out.enriched_raw.iter().chain(&out.failed_raw) {
        let t = tokens(line);
        let payment_id = text(&t, "payment_id").expect("payment_id");
        let (status, member, claim_amount, claim_status, payment_amount) = expected
            .get(&payment_id)
            .unwrap_or_else(|| panic!("{payment_id} not in the oracle"));
        assert_eq!(
            text(&t, "enrichment_status").as_ref(),
            Some(status),
            "{line}"
        );
        assert_eq!(&text(&t, "member_id"), member, "{line}");
        assert_eq!(&text(&t, "claim_amount"), claim_amount, "{line}");
        assert_eq!(&text(&t, "claim_status"), claim_status, "{line}");
        assert_eq!(
            t.get("payment_amount").map(|r| r.get()),
            Some(payment_amount.as_str()),
            "{line}"
        );
        seen += 1;
    }
    assert_eq!(seen, expected.len());
    let success = expected.values().filter(|e| e.0 == "SUCCESS").count();
    assert_eq!(out.enriched_raw.len(), success);
    assert!(
        success > 15_000 && success < 19_000,
        "the data set mixes found and missing claims"
    );
}

#[test]
fn matches_the_original_sql_with_a_small_partial_cache() {
    // 500 rows for 3,000 claims: evictions and misses all along.
    check_against_oracle(CacheMode::Partial, 250, 500);
}

#[test]
fn matches_the_original_sql_with_the_full_cache() {
    check_against_oracle(CacheMode::Full, 1000, 100_000);
}

#[test]
fn matches_the_original_sql_with_no_cache_and_tiny_batches() {
    check_against_oracle(CacheMode::None, 3, 100_000);
}

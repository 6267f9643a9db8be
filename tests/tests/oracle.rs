//! The oracle: for a generated data set, invalid events included, our outputs
//! match, record for record, what DuckDB itself computes from the same files:
//! the original design's enrichment SQL (`LEFT JOIN claims ... CASE WHEN
//! c.claim_id IS NOT NULL THEN 'SUCCESS' ELSE 'CLAIM_NOT_FOUND' END`) over the
//! claims CSV read by DuckDB's own `read_csv` (so our loader is checked too),
//! and a classification of each raw line in SQL: not a JSON object →
//! INVALID_JSON; a required field missing, empty or of the wrong type, an
//! amount that is not a decimal with at most two places, or a date DuckDB
//! cannot read → INVALID_EVENT (the rules, for what the generator writes).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use enricher::config::CacheMode;
use enricher::generate::{GenerateOptions, write_claims_csv, write_events};
use enricher_tests::*;
use serde_json::value::RawValue;

/// What the oracle expects for one event.
#[derive(Debug)]
struct Expected {
    status: String,
    member: Option<String>,
    claim_amount: Option<String>,
    claim_status: Option<String>,
    /// The amount as DECIMAL(10,2) text, for a valid event.
    payment_amount: Option<String>,
    /// The input line, which a failure record of invalid input keeps.
    line: String,
}

/// The expected outcome of every event, by payment_id, computed by DuckDB
/// from the events file and the claims CSV (not from our claims database).
fn oracle(events: &Path, claims_csv: &Path) -> HashMap<String, Expected> {
    let conn = duckdb::Connection::open_in_memory().expect("open duckdb");
    let text_ok = |field: &str| {
        format!(
            "coalesce(json_type(line, '$.{field}') = 'VARCHAR' AND trim(line ->> '$.{field}') <> '', false)"
        )
    };
    let sql = format!(
        "WITH lines AS (
            SELECT unnest(string_split(content, chr(10))) AS line FROM read_text('{events}')
         ),
         parsed AS (
            SELECT line,
                   regexp_extract(line, '\"payment_id\":\"([^\"]*)\"', 1) AS payment_id,
                   CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END AS is_object
            FROM lines WHERE line <> ''
         ),
         objects AS (
            SELECT line,
                   line ->> '$.claim_id' AS claim_id,
                   trim(regexp_extract(line, '\"payment_amount\":([^,}}]*)', 1), '\"') AS amount_text,
                   {id_ok} AND {claim_ok} AND {date_ok}
                       AND coalesce(try_cast(line ->> '$.payment_date' AS TIMESTAMP) IS NOT NULL, false)
                       AS fields_ok
            FROM parsed WHERE is_object
         ),
         judged AS (
            SELECT p.payment_id, p.line, o.claim_id, o.amount_text,
                   CASE WHEN NOT p.is_object THEN 'INVALID_JSON'
                        WHEN NOT (o.fields_ok AND regexp_full_match(o.amount_text, '-?[0-9]{{1,8}}(\\.[0-9]{{1,2}})?'))
                            THEN 'INVALID_EVENT'
                   END AS invalid
            FROM parsed p LEFT JOIN objects o USING (line)
         ),
         claims AS (
            SELECT * FROM read_csv('{claims}', header = true, auto_detect = false, columns = {{
                'claim_id': 'VARCHAR', 'member_id': 'VARCHAR', 'claim_amount': 'DECIMAL(10,2)',
                'claim_status': 'VARCHAR', 'created_date': 'TIMESTAMP'}})
         )
         SELECT j.payment_id,
                coalesce(j.invalid, CASE WHEN c.claim_id IS NOT NULL THEN 'SUCCESS' ELSE 'CLAIM_NOT_FOUND' END),
                c.member_id, CAST(c.claim_amount AS VARCHAR), c.claim_status,
                CASE WHEN j.invalid IS NULL THEN CAST(CAST(j.amount_text AS DECIMAL(10,2)) AS VARCHAR) END,
                j.line
         FROM judged j
         LEFT JOIN claims c ON j.invalid IS NULL AND j.claim_id = c.claim_id",
        events = events.display(),
        claims = claims_csv.display(),
        id_ok = text_ok("payment_id"),
        claim_ok = text_ok("claim_id"),
        date_ok = text_ok("payment_date"),
    );
    let mut stmt = conn.prepare(&sql).expect("oracle query");
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Expected {
                    status: r.get(1)?,
                    member: r.get(2)?,
                    claim_amount: r.get(3)?,
                    claim_status: r.get(4)?,
                    payment_amount: r.get(5)?,
                    line: r.get(6)?,
                },
            ))
        })
        .expect("run oracle");
    let mut expected = HashMap::new();
    for row in rows {
        let (payment_id, e) = row.expect("oracle row");
        assert!(
            !payment_id.is_empty(),
            "every generated line names its payment: {}",
            e.line
        );
        let line = e.line.clone();
        assert!(
            expected.insert(payment_id, e).is_none(),
            "payment_ids are unique: {line}"
        );
    }
    expected
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

/// The payment_id of an output: its own field, or (a failure record of
/// unreadable input) the one in the payload it kept.
fn payment_id_of(t: &HashMap<String, Box<RawValue>>) -> String {
    text(t, "payment_id")
        .or_else(|| {
            let payload = text(t, "original_payload")?;
            let rest = &payload[payload.find(r#""payment_id":""#)? + 14..];
            Some(rest[..rest.find('"')?].to_owned())
        })
        .unwrap_or_else(|| panic!("no payment_id in the output or its payload"))
}

fn check_against_oracle(
    plugin: Option<&Path>,
    cache: CacheMode,
    batch_size: usize,
    cache_max_rows: usize,
) {
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
        invalid_rate: 0.05,
        claims,
        seed,
        ..GenerateOptions::default()
    };
    write_events(
        &mut BufWriter::new(File::create(&events).expect("create")),
        &options,
    )
    .expect("events");

    let expected = oracle(&events, &claims_csv);
    assert_eq!(expected.len(), 20_000);
    let mut expected_statuses: BTreeMap<&str, usize> = BTreeMap::new();
    for e in expected.values() {
        *expected_statuses.entry(e.status.as_str()).or_default() += 1;
    }
    assert!(
        expected_statuses
            .get("INVALID_JSON")
            .is_some_and(|n| *n > 100)
            && expected_statuses
                .get("INVALID_EVENT")
                .is_some_and(|n| *n > 400),
        "the data set holds invalid events: {expected_statuses:?}"
    );

    let mut config = config_for(&db);
    config.lookup.cache = cache;
    config.lookup.cache_max_rows = cache_max_rows;
    config.plugin.path = plugin.map(Path::to_owned);
    let mut pipeline = enricher::app::build_pipeline(&config).expect("pipeline");
    if let Some(path) = plugin {
        assert_eq!(
            pipeline.plugin().source(),
            path.display().to_string(),
            "the pipeline runs the plugin under test"
        );
    }
    let input = std::fs::read(&events).expect("read events");
    let out = run_bytes(&mut pipeline, &input, batch_size);
    assert_eq!(
        out.enriched_raw.len() + out.failed_raw.len(),
        expected.len(),
        "every event answered once"
    );

    let mut seen = HashSet::new();
    for line in out.enriched_raw.iter().chain(&out.failed_raw) {
        let t = tokens(line);
        let payment_id = payment_id_of(&t);
        let e = expected
            .get(&payment_id)
            .unwrap_or_else(|| panic!("{payment_id} not in the oracle"));
        assert!(
            seen.insert(payment_id.clone()),
            "{payment_id} answered twice"
        );
        assert_eq!(
            text(&t, "enrichment_status").as_ref(),
            Some(&e.status),
            "{line}\nfor the input {}",
            e.line
        );
        if e.status == "SUCCESS" || e.status == "CLAIM_NOT_FOUND" {
            assert_eq!(text(&t, "member_id"), e.member, "{line}");
            assert_eq!(text(&t, "claim_amount"), e.claim_amount, "{line}");
            assert_eq!(text(&t, "claim_status"), e.claim_status, "{line}");
            assert_eq!(
                t.get("payment_amount").map(|r| r.get().to_owned()),
                e.payment_amount,
                "{line}"
            );
        } else {
            assert_eq!(
                text(&t, "original_payload").as_ref(),
                Some(&e.line),
                "an invalid event keeps its payload: {line}"
            );
            assert!(
                text(&t, "error").is_some_and(|why| !why.is_empty()),
                "an invalid event says why: {line}"
            );
        }
    }
    assert_eq!(seen.len(), expected.len());
    let success = expected_statuses.get("SUCCESS").copied().unwrap_or(0);
    assert_eq!(out.enriched_raw.len(), success);
    assert!(
        success > 15_000 && success < 19_000,
        "the data set mixes found and missing claims: {expected_statuses:?}"
    );
}

#[test]
fn matches_the_original_sql_with_a_small_partial_cache() {
    // 500 rows for 3,000 claims: evictions and misses all along.
    check_against_oracle(None, CacheMode::Partial, 250, 500);
}

#[test]
fn matches_the_original_sql_with_the_full_cache() {
    check_against_oracle(None, CacheMode::Full, 1000, 100_000);
}

#[test]
fn matches_the_original_sql_with_no_cache_and_tiny_batches() {
    check_against_oracle(None, CacheMode::None, 3, 100_000);
}

/// The Python plugin (`plugins/python`, componentize-py) gives the same answers.
#[test]
fn the_python_plugin_matches_the_original_sql() {
    let plugin = polyglot::plugin(polyglot::Lang::Python);
    check_against_oracle(Some(&plugin), CacheMode::Partial, 250, 500);
}

/// The JavaScript plugin (`plugins/js`, componentize-js) gives the same answers.
#[test]
fn the_js_plugin_matches_the_original_sql() {
    let plugin = polyglot::plugin(polyglot::Lang::Js);
    check_against_oracle(Some(&plugin), CacheMode::Partial, 250, 500);
}

/// The raw-bytes build of the enrichment (`guest/`: the plugin parses, looks
/// up and writes; the built-in plugin is the typed one) gives the same
/// answers, with each cache mode.
#[test]
fn the_raw_plugin_matches_the_original_sql() {
    let dir = TempDir::new("oracle-raw");
    let plugin = test_plugins::raw(&dir);
    check_against_oracle(Some(&plugin), CacheMode::Partial, 250, 500);
    check_against_oracle(Some(&plugin), CacheMode::Full, 1000, 100_000);
    check_against_oracle(Some(&plugin), CacheMode::None, 3, 100_000);
}

//! Lookup prefetch (a file run reads a window of records ahead and the lookup
//! resolves their misses while the plugin runs): the same records come out as
//! without it, with unknown ids, bad lines and a failing store, through the
//! real plugin and real DuckDB; a change applied after a prefetch is seen.

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use enricher::config::{CacheMode, Config, LookupConfig};
use enricher::lookup::{ClaimChange, ClaimRow, ClaimsLookup, ClaimsStore, LookupAnswer};
use enricher_tests::claims_db::{FlakyStore, memory_db};
use enricher_tests::*;
use serde_json::Value;

/// 3,000 lines: claims known and unknown (about one in six), repeated ids,
/// a line that is not JSON and one whose claim id has an escape.
fn input() -> String {
    let mut lines: Vec<String> = (0..3000u64)
        .map(|n| {
            event(
                &format!("PAY-{n}"),
                &format!("CLM-{}", (n * 7) % 1200),
                "10.50",
            )
        })
        .collect();
    lines[17] = "not json".into();
    lines[1234] = event("PAY-ESC", "CLM-\\u0031", "1.00");
    lines.join("\n") + "\n"
}

fn config(max_retries: u32) -> Config {
    Config {
        lookup: LookupConfig {
            cache: CacheMode::Partial,
            // A small cache: the window is 500 records at batch 100 (6 windows).
            cache_max_rows: 2000,
            max_retries,
            retry_backoff: Duration::from_millis(1),
            retry_backoff_max: Duration::from_millis(2),
            timeout: Duration::from_secs(30),
            ..LookupConfig::default()
        },
        ..Config::default()
    }
}

/// The outputs without their processing time (the only field that may differ).
fn comparable(values: &[Value]) -> Vec<Value> {
    values
        .iter()
        .map(|v| {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("enrichment_timestamp");
            }
            v
        })
        .collect()
}

fn run(store: Box<dyn ClaimsStore>, prefetch: bool, config: &Config) -> (Outputs, u64) {
    let mut pipeline = pipeline_over_store(store, config);
    if !prefetch {
        pipeline = pipeline.without_prefetch();
    }
    assert_eq!(
        pipeline.prefetch_window(100),
        if prefetch { 500 } else { 0 }
    );
    let out = run_bytes(&mut pipeline, input().as_bytes(), 100);
    (out, pipeline.lookup().stats().prefetched)
}

#[test]
fn a_prefetched_run_gives_the_same_records_as_one_without_prefetch() {
    let config = config(0);
    let (with, prefetched) = run(Box::new(memory_db(1000).0), true, &config);
    let (without, none) = run(Box::new(memory_db(1000).0), false, &config);
    assert!(prefetched > 0, "records read ahead were prefetched");
    assert_eq!(none, 0);
    assert_eq!(with.enriched.len() + with.failed.len(), 3000);
    let not_found = with
        .failed
        .iter()
        .filter(|f| f["enrichment_status"] == "CLAIM_NOT_FOUND")
        .count();
    assert!(not_found > 300, "unknown ids reach failed: {not_found}");
    assert_eq!(comparable(&with.enriched), comparable(&without.enriched));
    assert_eq!(comparable(&with.failed), comparable(&without.failed));
}

#[test]
fn a_failing_store_gives_the_same_db_errors_with_and_without_prefetch() {
    let config = config(1);
    let failing = || {
        Box::new(FlakyStore {
            inner: memory_db(1000).0,
            failures_left: Arc::new(AtomicU32::new(u32::MAX)),
        })
    };
    let (with, prefetched) = run(failing(), true, &config);
    let (without, _) = run(failing(), false, &config);
    assert!(prefetched > 0);
    assert_eq!(with.enriched.len(), 0, "no claim could be read");
    let statuses = |o: &Outputs| -> Vec<String> {
        o.failed
            .iter()
            .map(|f| f["enrichment_status"].as_str().unwrap_or("?").to_owned())
            .collect()
    };
    assert_eq!(statuses(&with), statuses(&without));
    assert_eq!(
        statuses(&with).iter().filter(|s| *s == "DB_ERROR").count(),
        2999,
        "all but the line that is not JSON"
    );
}

#[test]
fn a_change_applied_after_a_prefetch_is_what_the_next_lookup_sees() {
    let (store, writer) = memory_db(100);
    let lookup =
        Arc::new(ClaimsLookup::start(Box::new(store), &config(0).lookup).expect("lookup starts"));
    let ids: Vec<String> = (0..50).map(|n| format!("CLM-{n}")).collect();
    lookup.prefetch(ids.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while lookup.stats().prefetched < 50 {
        assert!(Instant::now() < deadline, "the prefetch never ran");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Wait for the prefetch's answers to be cached, then change one claim.
    while lookup.stats().rows_in_memory < 50 {
        assert!(Instant::now() < deadline, "the prefetch cached nothing");
        std::thread::sleep(Duration::from_millis(5));
    }
    writer
        .execute_batch("UPDATE claims SET member_id = 'MBR-NEW' WHERE claim_id = 'CLM-7'")
        .expect("update");
    lookup.apply_changes(&[ClaimChange {
        claim_id: "CLM-7".into(),
        row: None,
        effective_ms: None,
    }]);
    let answers = lookup.lookup(&ids);
    let member = |a: &LookupAnswer| match a {
        LookupAnswer::Found(row) => row.member_id.clone(),
        other => format!("{other:?}"),
    };
    assert_eq!(member(&answers[7]), "MBR-NEW");
    assert_eq!(member(&answers[8]), "MBR-8");
    let s = lookup.stats();
    assert_eq!(
        s.cache.hits, 49,
        "the prefetched rows answer from the cache"
    );
    assert_eq!(s.store_queries, 2, "the prefetch, then the changed id");
}

#[test]
fn auto_on_a_large_table_serves_partially_while_it_loads_then_from_memory_without_losing_changes() {
    let rows = enricher::lookup::BACKGROUND_LOAD_ROWS as usize + 1000;
    let (store, writer) = memory_db(rows);
    let auto = LookupConfig {
        cache: CacheMode::Auto,
        ..LookupConfig::default()
    };
    let lookup = ClaimsLookup::start(Box::new(store), &auto).expect("starts at once");
    assert_eq!(lookup.cache_choice().mode, "full");
    assert!(
        lookup.cache_choice().reason.contains("background"),
        "{}",
        lookup.cache_choice().reason
    );
    // A change committed and applied while the table may still be loading.
    writer
        .execute_batch("UPDATE claims SET member_id = 'MBR-NEW' WHERE claim_id = 'CLM-5'")
        .expect("update");
    let changed = ClaimRow {
        member_id: "MBR-NEW".into(),
        claim_amount: rust_decimal::Decimal::new(525, 2),
        claim_status: Some("APPROVED".into()),
        created_at_micros: None,
    };
    lookup.apply_changes(&[ClaimChange {
        claim_id: "CLM-5".into(),
        row: Some(changed),
        effective_ms: None,
    }]);
    let ids: Vec<String> = ["CLM-5", "CLM-6", "CLM-199999", "NOPE"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let member = |a: &LookupAnswer| match a {
        LookupAnswer::Found(row) => row.member_id.clone(),
        other => format!("{other:?}"),
    };
    let expected = ["MBR-NEW", "MBR-6", "MBR-199999", "NotFound"];
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // The same answers on the partial cache and, once loaded, from memory.
        let answers = lookup.lookup(&ids);
        let got: Vec<String> = answers.iter().map(member).collect();
        assert_eq!(got, expected);
        if lookup.stats().rows_in_memory == rows as u64 {
            break; // served from the whole table now
        }
        assert!(
            Instant::now() < deadline,
            "the table never finished loading"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let queries = lookup.stats().store_queries;
    assert_eq!(
        lookup.lookup(&ids).iter().map(member).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        lookup.stats().store_queries,
        queries,
        "answered from memory"
    );
}

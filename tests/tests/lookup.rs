//! The claims lookup against real DuckDB databases: partial cache (TTL, LRU,
//! negative caching, counters), full cache and its reload, and store faults
//! (a failing store is retried then DB_ERROR; a slow one is interrupted: DB_TIMEOUT).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use enricher::config::{CacheMode, LookupConfig};
use enricher::error::StoreError;
use enricher::lookup::DuckDbStore;
use enricher::lookup::{ClaimRow, ClaimsLookup, LookupAnswer};
use enricher::lookup::{ClaimsStore, Interrupter};
use enricher_tests::claims_db::{FlakyStore, memory_db};
use enricher_tests::*;

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn config(mode: CacheMode) -> LookupConfig {
    LookupConfig {
        cache: mode,
        ..LookupConfig::default()
    }
}

fn found_member(answer: &LookupAnswer) -> Option<&str> {
    match answer {
        LookupAnswer::Found(row) => Some(row.member_id.as_str()),
        _ => None,
    }
}

#[test]
fn partial_cache_counts_hits_misses_and_remembers_missing_ids() {
    let (store, _w) = memory_db(100);
    let lookup = ClaimsLookup::start(Box::new(store), &config(CacheMode::Partial)).expect("start");
    let first = lookup.lookup(&ids(&["CLM-1", "CLM-2", "NOPE", "CLM-1"]));
    assert_eq!(found_member(&first[0]), Some("MBR-1"));
    assert_eq!(found_member(&first[3]), Some("MBR-1"));
    assert_eq!(first[2], LookupAnswer::NotFound);
    let s = lookup.stats();
    assert_eq!(s.store_queries, 1, "one query for all misses of the batch");
    assert_eq!(s.cache.misses, 4);
    let second = lookup.lookup(&ids(&["CLM-1", "NOPE"]));
    assert_eq!(found_member(&second[0]), Some("MBR-1"));
    assert_eq!(second[1], LookupAnswer::NotFound);
    let s = lookup.stats();
    assert_eq!(s.store_queries, 1, "answered from the cache");
    assert_eq!((s.cache.hits, s.cache.negative_hits), (2, 1));
    if let LookupAnswer::Found(row) = &second[0] {
        assert_eq!(row.claim_amount.to_string(), "1.25");
    }
}

#[test]
fn partial_cache_entries_expire_and_evict() {
    let (store, writer) = memory_db(100);
    let cfg = LookupConfig {
        cache_max_rows: 3,
        cache_ttl: Duration::from_millis(300),
        cache_missing_ttl: Duration::from_millis(300),
        ..config(CacheMode::Partial)
    };
    let lookup = ClaimsLookup::start(Box::new(store), &cfg).expect("start");
    lookup.lookup(&ids(&["CLM-1", "CLM-2", "CLM-3", "CLM-4", "CLM-5"]));
    let s = lookup.stats();
    assert_eq!(s.rows_in_memory, 3, "bounded by max rows");
    assert_eq!(s.cache.evictions, 2);
    // A changed row is seen once its cached copy has expired.
    writer
        .execute_batch("UPDATE claims SET member_id = 'MBR-NEW' WHERE claim_id = 'CLM-5'")
        .expect("update");
    assert_eq!(
        found_member(&lookup.lookup(&ids(&["CLM-5"]))[0]),
        Some("MBR-5"),
        "still cached"
    );
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        found_member(&lookup.lookup(&ids(&["CLM-5"]))[0]),
        Some("MBR-NEW"),
        "expired and re-read"
    );
    assert!(lookup.stats().cache.expirations >= 1);
}

#[test]
fn full_cache_serves_from_memory_and_reloads_on_schedule() {
    let (store, writer) = memory_db(1000);
    let cfg = LookupConfig {
        full_reload_interval: Duration::from_millis(200),
        ..config(CacheMode::Full)
    };
    let lookup = ClaimsLookup::start(Box::new(store), &cfg).expect("start");
    assert_eq!(lookup.stats().rows_in_memory, 1000);
    let queries_after_load = lookup.stats().store_queries;
    let answers = lookup.lookup(&ids(&["CLM-999", "CLM-1000"]));
    assert_eq!(found_member(&answers[0]), Some("MBR-999"));
    assert_eq!(answers[1], LookupAnswer::NotFound);
    assert_eq!(
        lookup.stats().store_queries,
        queries_after_load,
        "no query per lookup"
    );
    writer
        .execute_batch("INSERT INTO claims VALUES ('CLM-1000', 'MBR-LATE', 1.00, NULL, NULL)")
        .expect("insert");
    let deadline = Instant::now() + Duration::from_secs(10);
    while found_member(&lookup.lookup(&ids(&["CLM-1000"]))[0]).is_none() {
        assert!(
            Instant::now() < deadline,
            "the reload never picked the new row up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(lookup.stats().full_reloads >= 1);
}

fn retry_config(max_retries: u32) -> LookupConfig {
    LookupConfig {
        max_retries,
        retry_backoff: Duration::from_millis(5),
        retry_backoff_max: Duration::from_millis(20),
        // These tests are about errors and retries, not timeouts: a loaded
        // machine (the whole suite at once) must not turn an error into DB_TIMEOUT.
        timeout: Duration::from_secs(30),
        ..config(CacheMode::Partial)
    }
}

#[test]
fn transient_failures_are_retried_then_succeed() {
    let (inner, _w) = memory_db(10);
    let failures_left = Arc::new(AtomicU32::new(2));
    let store = FlakyStore {
        inner,
        failures_left: Arc::clone(&failures_left),
    };
    let lookup = ClaimsLookup::start(Box::new(store), &retry_config(3)).expect("start");
    let answers = lookup.lookup(&ids(&["CLM-3"]));
    assert_eq!(found_member(&answers[0]), Some("MBR-3"));
    let s = lookup.stats();
    assert_eq!((s.store_retries, s.store_errors), (2, 0));
}

#[test]
fn persistent_failures_become_db_error_and_are_not_cached() {
    let (inner, _w) = memory_db(10);
    let failures_left = Arc::new(AtomicU32::new(4));
    let store = FlakyStore {
        inner,
        failures_left: Arc::clone(&failures_left),
    };
    let lookup = ClaimsLookup::start(Box::new(store), &retry_config(2)).expect("start");
    let answers = lookup.lookup(&ids(&["CLM-3"]));
    match &answers[0] {
        LookupAnswer::Unavailable(why) => assert!(
            why.contains("injected") && why.contains("3 attempt"),
            "{why}"
        ),
        other => panic!("expected DB_ERROR, got {other:?}"),
    }
    assert_eq!(lookup.stats().store_retries, 2);
    // One injected failure is left: the next lookup retries through it and succeeds.
    assert_eq!(
        found_member(&lookup.lookup(&ids(&["CLM-3"]))[0]),
        Some("MBR-3"),
        "errors are not cached"
    );
}

#[test]
fn a_dropped_table_is_a_db_error_without_retries() {
    let (store, writer) = memory_db(10);
    let lookup = ClaimsLookup::start(Box::new(store), &retry_config(5)).expect("start");
    writer.execute_batch("DROP TABLE claims").expect("drop");
    let answers = lookup.lookup(&ids(&["CLM-1"]));
    assert!(
        matches!(&answers[0], LookupAnswer::Unavailable(why) if why.contains("claims")),
        "{answers:?}"
    );
    assert_eq!(
        lookup.stats().store_retries,
        0,
        "a missing table will not come back by retrying"
    );
}

/// A real store whose queries first run a genuinely slow DuckDB query.
struct SlowStore {
    inner: DuckDbStore,
    slow: duckdb::Connection,
}

impl ClaimsStore for SlowStore {
    fn fetch(&mut self, ids: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        if ids.iter().any(|id| id == "CLM-SLOW") {
            self.slow
                .query_row(
                    "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(enricher::lookup::classify)?;
        }
        self.inner.fetch(ids)
    }
    fn fetch_all(&mut self) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        self.inner.fetch_all()
    }
    fn interrupter(&self) -> Option<Interrupter> {
        let handle = self.slow.interrupt_handle();
        Some(Arc::new(move || handle.interrupt()))
    }
}

#[test]
fn a_slow_store_is_interrupted_and_answers_db_timeout() {
    let (inner, _w) = memory_db(10);
    let slow = duckdb::Connection::open_in_memory().expect("duckdb");
    let cfg = LookupConfig {
        timeout: Duration::from_millis(200),
        ..retry_config(0)
    };
    let lookup = ClaimsLookup::start(Box::new(SlowStore { inner, slow }), &cfg).expect("start");
    let answers = lookup.lookup(&ids(&["CLM-SLOW", "CLM-1"]));
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, LookupAnswer::Timeout(_))),
        "{answers:?}"
    );
    assert_eq!(lookup.stats().store_timeouts, 1);
    // The interrupted query freed the store: a later lookup is answered. (On
    // a busy machine DuckDB may take longer than one 200 ms budget to stop;
    // uninterrupted, the query would run for minutes and every lookup here
    // would time out.)
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut answer = lookup.lookup(&ids(&["CLM-2"]));
    while found_member(&answer[0]).is_none() && std::time::Instant::now() < deadline {
        answer = lookup.lookup(&ids(&["CLM-2"]));
    }
    assert_eq!(found_member(&answer[0]), Some("MBR-2"), "{answer:?}");
}

#[test]
fn db_errors_and_timeouts_reach_the_failed_output_with_their_codes() {
    let (inner, _w) = memory_db(10);
    let slow = duckdb::Connection::open_in_memory().expect("duckdb");
    let cfg = enricher::config::Config {
        lookup: LookupConfig {
            timeout: Duration::from_millis(200),
            ..retry_config(0)
        },
        ..enricher::config::Config::default()
    };
    let mut pipeline = pipeline_over_store(Box::new(SlowStore { inner, slow }), &cfg);
    let input = format!(
        "{}\n{}\n",
        event("PAY-1", "CLM-SLOW", "1"),
        event("PAY-2", "CLM-SLOW", "2")
    );
    let out = run_bytes(&mut pipeline, input.as_bytes(), 10);
    assert_eq!(out.failed.len(), 2);
    assert!(
        out.failed
            .iter()
            .all(|f| f["enrichment_status"] == "DB_TIMEOUT"),
        "{:?}",
        out.failed_raw
    );

    let (inner, _w) = memory_db(10);
    let store = FlakyStore {
        inner,
        failures_left: Arc::new(AtomicU32::new(100)),
    };
    let mut pipeline = pipeline_over_store(Box::new(store), &cfg);
    let out = run_bytes(&mut pipeline, event("PAY-3", "CLM-1", "1").as_bytes(), 10);
    assert_eq!(out.failed[0]["enrichment_status"], "DB_ERROR");
    assert!(
        out.failed[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("injected"))
    );
}

#[test]
fn every_query_shape_returns_the_same_rows() {
    use enricher::lookup::QueryShape;
    use rust_decimal::Decimal;
    // Rows that differ in every column, NULLs included, so that a value taken
    // from another row, a column shifted or a NULL read as a value shows.
    let table = || {
        let conn = duckdb::Connection::open_in_memory().expect("duckdb");
        conn.execute_batch(enricher::claims_load::CLAIMS_DDL)
            .expect("ddl");
        conn.execute_batch(
            "INSERT INTO claims SELECT 'CLM-' || i, 'MBR-' || (i * 37 % 1000), i + 0.25,
                CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN 'APPROVED' ELSE 'PENDING' END,
                CASE WHEN i % 2 = 0 THEN NULL ELSE TIMESTAMP '2024-01-01 00:00:00' + to_minutes(i) END
             FROM range(1000) t(i)",
        )
        .expect("rows");
        DuckDbStore::from_connection(conn)
    };
    let expected_row = |i: i64| ClaimRow {
        member_id: format!("MBR-{}", i * 37 % 1000),
        claim_amount: Decimal::new(i * 100 + 25, 2),
        claim_status: match i % 3 {
            0 => None,
            1 => Some("APPROVED".to_owned()),
            _ => Some("PENDING".to_owned()),
        },
        created_at_micros: (i % 2 == 1).then(|| (1_704_067_200 + i * 60) * 1_000_000),
    };
    let wanted: Vec<String> = (0..300)
        .map(|i| format!("CLM-{}", i * 7))
        .chain(["GONE".to_string()])
        .collect();
    // Ids 0..999 step 7 exist; 1001.. and GONE do not.
    let expected: Vec<(String, ClaimRow)> = (0..1000)
        .step_by(7)
        .map(|i| (format!("CLM-{i}"), expected_row(i)))
        .collect();
    for shape in [
        QueryShape::InList,
        QueryShape::SplitJoin,
        QueryShape::Adaptive { in_list_max: 64 },
    ] {
        let mut store = table().with_shape(shape);
        let mut rows = store.fetch(&wanted).expect("fetch");
        rows.sort_by_key(|(id, _)| id["CLM-".len()..].parse::<i64>().expect("numeric id"));
        assert_eq!(rows.len(), expected.len(), "{shape:?}: ids 0..999 step 7");
        for (got, want) in rows.iter().zip(&expected) {
            assert_eq!(got, want, "{shape:?}");
        }
    }
}

/// A real store that can be switched off (every query fails) and back on.
struct SwitchedStore {
    inner: DuckDbStore,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl ClaimsStore for SwitchedStore {
    fn fetch(&mut self, ids: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Transient(
                "IO Error: store is down (injected)".into(),
            ));
        }
        self.inner.fetch(ids)
    }
    fn fetch_all(&mut self) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        self.inner.fetch_all()
    }
}

#[test]
fn a_store_outage_is_served_stale_within_the_limit_and_db_error_after() {
    let (inner, _w) = memory_db(10);
    let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let store = SwitchedStore {
        inner,
        down: Arc::clone(&down),
    };
    let ttl = Duration::from_millis(200);
    let limit = Duration::from_millis(1500);
    let cfg = enricher::config::Config {
        lookup: LookupConfig {
            cache_ttl: ttl,
            serve_stale_for: limit,
            ..retry_config(0)
        },
        ..enricher::config::Config::default()
    };
    let mut pipeline = pipeline_over_store(Box::new(store), &cfg);
    let cached_at = Instant::now();
    let first = run_bytes(
        &mut pipeline,
        event("PAY-1", "CLM-1", "10.00").as_bytes(),
        10,
    );
    assert_eq!(first.enriched.len(), 1, "{:?}", first.failed_raw);
    assert!(
        first.enriched[0].get("claim_stale").is_none(),
        "a fresh answer is not marked"
    );

    down.store(true, Ordering::SeqCst);
    std::thread::sleep(ttl * 2);
    let input = format!(
        "{}\n{}\n",
        event("PAY-2", "CLM-1", "20.00"),
        event("PAY-3", "CLM-2", "30.00")
    );
    let during = run_bytes(&mut pipeline, input.as_bytes(), 10);
    assert!(
        cached_at.elapsed() < ttl + limit,
        "the machine was too slow for this check"
    );
    assert_eq!(during.enriched.len(), 1, "{:?}", during.failed_raw);
    let stale = &during.enriched[0];
    assert_eq!(stale["payment_id"], "PAY-2");
    assert_eq!(stale["member_id"], "MBR-1", "the expired row's values");
    assert_eq!(stale["claim_stale"], true);
    assert_eq!(
        during.failed.len(),
        1,
        "a never-cached id has nothing stale to serve"
    );
    assert_eq!(during.failed[0]["payment_id"], "PAY-3");
    assert_eq!(during.failed[0]["enrichment_status"], "DB_ERROR");

    std::thread::sleep((ttl + limit).saturating_sub(cached_at.elapsed()) + ttl);
    let after = run_bytes(
        &mut pipeline,
        event("PAY-4", "CLM-1", "40.00").as_bytes(),
        10,
    );
    assert!(after.enriched.is_empty(), "{:?}", after.enriched_raw);
    assert_eq!(after.failed[0]["payment_id"], "PAY-4");
    assert_eq!(after.failed[0]["enrichment_status"], "DB_ERROR");

    let summary = pipeline.summary(Duration::from_secs(1));
    assert_eq!(summary.lookup.stale_served, 1);
    assert_eq!(summary.metrics.stale_outputs, 1);
    assert_eq!(summary.metrics.records_in, 4);
    assert_eq!(
        summary.metrics.enriched + summary.metrics.failed,
        4,
        "nothing lost"
    );

    down.store(false, Ordering::SeqCst);
    let back = run_bytes(
        &mut pipeline,
        event("PAY-5", "CLM-1", "50.00").as_bytes(),
        10,
    );
    assert_eq!(back.enriched.len(), 1);
    assert!(back.enriched[0].get("claim_stale").is_none());
}

/// A real store whose queries take a while, counting them.
struct CountedSlowStore {
    inner: DuckDbStore,
    queries: Arc<AtomicU32>,
}

impl ClaimsStore for CountedSlowStore {
    fn fetch(&mut self, ids: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        self.inner.fetch(ids)
    }
    fn fetch_all(&mut self) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        self.inner.fetch_all()
    }
}

#[test]
fn concurrent_misses_of_one_id_make_one_store_query() {
    // Without a cache every lookup goes to the store: only single flight
    // makes the two concurrent misses share a query.
    for mode in [CacheMode::None, CacheMode::Partial] {
        let (inner, _w) = memory_db(10);
        let queries = Arc::new(AtomicU32::new(0));
        let store = CountedSlowStore {
            inner,
            queries: Arc::clone(&queries),
        };
        let lookup = ClaimsLookup::start(Box::new(store), &config(mode)).expect("start");
        let barrier = std::sync::Barrier::new(2);
        let answers: Vec<Vec<LookupAnswer>> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        lookup.lookup(&ids(&["CLM-4", "CLM-404"]))
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("lookup thread"))
                .collect()
        });
        for answer in &answers {
            assert_eq!(found_member(&answer[0]), Some("MBR-4"), "{mode:?}");
            assert_eq!(answer[1], LookupAnswer::NotFound, "{mode:?}");
        }
        assert_eq!(
            queries.load(Ordering::SeqCst),
            1,
            "{mode:?}: one query for both"
        );
        assert_eq!(
            lookup.stats().store_coalesced,
            2,
            "{mode:?}: two ids waited"
        );
    }
}

#[test]
fn cache_auto_loads_the_table_when_it_fits_the_budget_and_caches_partially_otherwise() {
    let auto = |budget: u64| LookupConfig {
        cache: CacheMode::Auto,
        full_cache_max_bytes: budget,
        ..LookupConfig::default()
    };
    let (store, _writer) = memory_db(1000);
    let lookup = ClaimsLookup::start(Box::new(store), &auto(64 << 20)).expect("start");
    assert_eq!(lookup.cache_choice().mode, "full");
    assert!(lookup.cache_choice().auto);
    assert_eq!(
        lookup.stats().rows_in_memory,
        1000,
        "the whole table loaded"
    );
    let loaded = lookup.stats().store_queries;
    let answers = lookup.lookup(&ids(&["CLM-7", "CLM-nope"]));
    assert_eq!(found_member(&answers[0]), Some("MBR-7"));
    assert_eq!(answers[1], LookupAnswer::NotFound);
    assert_eq!(lookup.stats().store_queries, loaded, "answered from memory");

    // 1,000 rows take ~400 KB in memory: a 100 KB budget is too small.
    let (store, _writer) = memory_db(1000);
    let lookup = ClaimsLookup::start(Box::new(store), &auto(100 << 10)).expect("start");
    let choice = lookup.cache_choice();
    assert_eq!(choice.mode, "partial", "{choice:?}");
    assert!(choice.reason.contains("1000 rows"), "{}", choice.reason);
    assert_eq!(lookup.stats().rows_in_memory, 0, "nothing loaded up front");
    let answers = lookup.lookup(&ids(&["CLM-7"]));
    assert_eq!(found_member(&answers[0]), Some("MBR-7"));
    assert_eq!(lookup.stats().cache.misses, 1, "looked up on demand");
}

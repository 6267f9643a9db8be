//! Late claims on real brokers, with the real DuckDB and plugin: a payment
//! whose claim is missing goes to the retry topic and, once the claim is
//! there, ends enriched (exactly once on Tansu, at least once on nisshi); a
//! claim that never appears ends in `failed` after the last attempt; and the
//! main partitions keep flowing while a retry waits for its due time.
//!
//! The claim "appears" by stopping the host, `claims load`ing a table that has
//! it into the same DuckDB file and starting the host again (the live
//! changelog is another piece of work).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use enricher::config::{CacheMode, Config, DeliveryMode, RetrySchedule};
use enricher::kafka::{
    RETRY_ATTEMPT_HEADER, RETRY_ATTEMPTS_HEADER, RETRY_DUE_HEADER, TailedRecord,
};
use enricher_tests::kafka::*;
use enricher_tests::swap::*;
use enricher_tests::*;

/// The small claims table plus the claim that arrives late.
const WITH_LATE_CLAIM: &str = "claim_id,member_id,claim_amount,claim_status,created_date\n\
CLM-001,MBR-789,2000.00,APPROVED,2024-01-10 09:00:00\n\
CLM-002,MBR-100,0.10,PENDING,\n\
CLM-LATE,MBR-300,50.00,APPROVED,2024-01-12 08:00:00\n";

/// A host config with late claims on (`delays`) and a retry topic of its own.
fn late_config(
    dir: &TempDir,
    broker: &str,
    label: &str,
    mode: DeliveryMode,
    delays: &str,
) -> Config {
    let topics = unique_topics(label);
    create_topics(broker, &topics, 2);
    let mut config = host_config(dir, broker, &topics, mode);
    config.deploy.admin_bind = None;
    config.deploy.topic = "off".into();
    config.kafka.retry_topic = format!("{}-retry", topics[0]);
    config.lookup.retry_not_found = RetrySchedule::parse(delays).expect("schedule");
    // Claims are added to the file while the host runs: the partial cache
    // (not `auto`'s full copy, reloaded every 5 min) sees them at once, and
    // a claim missing at the first try must not be answered from the cache later.
    config.lookup.cache = CacheMode::Partial;
    config.lookup.cache_missing_key = false;
    config
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ids(records: &[TailedRecord]) -> BTreeMap<String, usize> {
    count_by_payment_id(records)
}

/// Payment ids of retry records (their values are the original payloads).
fn header_text<'a>(r: &'a TailedRecord, key: &str) -> &'a str {
    r.header(key)
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or_default()
}

/// `late` payments with the late claim and `known` with a known one.
fn late_and_known(prefix: &str, late: usize, known: usize) -> Vec<String> {
    (0..late)
        .map(|i| event(&format!("{prefix}-LATE-{i}"), "CLM-LATE", "10.00"))
        .chain((0..known).map(|i| event(&format!("{prefix}-OK-{i}"), "CLM-001", "10.00")))
        .collect()
}

/// Run the late-claim story; returns (enriched, failed, retry) as read back.
fn late_claim_story(broker: &str, mode: DeliveryMode, label: &str) -> [Vec<TailedRecord>; 3] {
    let dir = TempDir::new(label);
    // Many short attempts: however long the restart takes, some are left.
    let config = late_config(&dir, broker, label, mode, "2s,2s,2s,2s,2s,2s,2s,2s,2s,2s");
    let k = &config.kafka;
    let input = late_and_known("PAY", 20, 200);
    produce_values(broker, &k.payment_events_topic, &input);

    let host = RunningHost::start(&config, false);
    wait_until(
        Duration::from_secs(120),
        "the known ones enriched and the late ones retried",
        || {
            read_all(broker, &k.enriched_payments_topic, true).len() >= 200
                && ids(&read_all(broker, &k.retry_topic, true)).len() >= 20
        },
    );
    let first = host.stop();
    assert!(first.retries_sent >= 20, "{first:?}");
    assert!(
        read_all(broker, &k.failed_payments_topic, true).is_empty(),
        "a missing claim goes to the retry topic, not to failed"
    );

    // The claim arrives (host stopped, table re-loaded), and the host goes on.
    let csv = dir.join("late.csv");
    std::fs::write(&csv, WITH_LATE_CLAIM).expect("write claims");
    load_claims_file(&dir, &csv);
    let host = RunningHost::start(&config, false);
    wait_until(
        Duration::from_secs(120),
        "the late payments enriched",
        || read_all(broker, &k.enriched_payments_topic, true).len() >= 220,
    );
    // Let a duplicate show up if there were to be one.
    std::thread::sleep(Duration::from_secs(3));
    let second = host.stop();
    assert!(second.retries_taken >= 20, "{second:?}");
    [
        read_all(broker, &k.enriched_payments_topic, true),
        read_all(broker, &k.failed_payments_topic, true),
        read_all(broker, &k.retry_topic, true),
    ]
}

fn assert_retry_records_keep_the_original(retry: &[TailedRecord]) {
    for r in retry {
        let attempt: u32 = header_text(r, RETRY_ATTEMPT_HEADER)
            .parse()
            .expect("attempt header");
        assert!(attempt >= 1);
        let due: i64 = header_text(r, RETRY_DUE_HEADER)
            .parse()
            .expect("due header");
        assert!(due > 0);
        let key = std::str::from_utf8(r.key.as_deref().expect("key kept")).expect("text key");
        assert!(key.starts_with('k'), "the input's key, got {key}");
        let v: serde_json::Value = serde_json::from_slice(&r.value).expect("JSON");
        assert_eq!(v["claim_id"], "CLM-LATE", "the original payload");
    }
}

#[test]
fn a_late_claim_ends_enriched_exactly_once_through_the_retry_topic() {
    let broker = test_txn_broker();
    let [enriched, failed, retry] =
        late_claim_story(&broker, DeliveryMode::ExactlyOnce, "late-eos");
    let counts = ids(&enriched);
    assert_eq!(counts.len(), 220, "every payment enriched");
    assert!(
        counts.values().all(|n| *n == 1),
        "each exactly once: {:?}",
        counts.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    assert!(failed.is_empty(), "{} failed", failed.len());
    assert_retry_records_keep_the_original(&retry);
    for r in &enriched {
        let v: serde_json::Value = serde_json::from_slice(&r.value).expect("JSON");
        if v["payment_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("PAY-LATE-"))
        {
            assert_eq!(
                v["member_id"], "MBR-300",
                "enriched with the late claim: {v}"
            );
        }
    }
}

#[test]
fn a_late_claim_ends_enriched_and_is_never_lost_at_least_once() {
    let broker = test_broker();
    let [enriched, failed, retry] =
        late_claim_story(&broker, DeliveryMode::AtLeastOnce, "late-alo");
    let counts = ids(&enriched);
    assert_eq!(counts.len(), 220, "every payment enriched, none lost");
    assert!(failed.is_empty(), "{} failed", failed.len());
    assert_retry_records_keep_the_original(&retry);
}

#[test]
fn a_claim_that_never_appears_ends_in_failed_after_the_last_attempt() {
    let broker = test_broker();
    let dir = TempDir::new("late-never");
    let config = late_config(
        &dir,
        &broker,
        "late-never",
        DeliveryMode::AtLeastOnce,
        "1s,1s",
    );
    let k = &config.kafka;
    let input: Vec<String> = (0..10)
        .map(|i| event(&format!("PAY-NEVER-{i}"), "CLM-404", "10.00"))
        .collect();
    produce_values(&broker, &k.payment_events_topic, &input);
    let host = RunningHost::start(&config, false);
    wait_until(Duration::from_secs(120), "the final failures", || {
        read_all(&broker, &k.failed_payments_topic, true).len() >= 10
    });
    std::thread::sleep(Duration::from_secs(2));
    let report = host.stop();
    let failed = read_all(&broker, &k.failed_payments_topic, true);
    let counts = ids(&failed);
    assert_eq!(counts.len(), 10);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    for r in &failed {
        let v: serde_json::Value = serde_json::from_slice(&r.value).expect("JSON");
        assert_eq!(v["enrichment_status"], "CLAIM_NOT_FOUND");
        assert_eq!(v["retry_attempts"], 2, "{v}");
        assert_eq!(header_text(r, RETRY_ATTEMPTS_HEADER), "2");
    }
    // Each payment went through the retry topic once per attempt.
    let retry = read_all(&broker, &k.retry_topic, true);
    let mut attempts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &retry {
        *attempts
            .entry(header_text(r, RETRY_ATTEMPT_HEADER))
            .or_default() += 1;
    }
    assert_eq!(attempts, BTreeMap::from([("1", 10), ("2", 10)]));
    assert_eq!((report.retries_sent, report.retries_taken), (20, 20));
    assert!(read_all(&broker, &k.enriched_payments_topic, true).is_empty());
}

#[test]
fn main_partitions_keep_flowing_while_a_retry_waits() {
    let broker = test_broker();
    let dir = TempDir::new("late-flow");
    let config = late_config(
        &dir,
        &broker,
        "late-flow",
        DeliveryMode::AtLeastOnce,
        "10min",
    );
    let k = &config.kafka;
    let host = RunningHost::start(&config, false);
    produce_values(
        &broker,
        &k.payment_events_topic,
        &late_and_known("FLOW", 1, 0),
    );
    wait_until(Duration::from_secs(60), "the retry record", || {
        !read_all(&broker, &k.retry_topic, true).is_empty()
    });
    let retry = read_all(&broker, &k.retry_topic, true);
    let due: i64 = header_text(&retry[0], RETRY_DUE_HEADER)
        .parse()
        .expect("due");
    // Behind the waiting retry (same consumer), new payments are enriched.
    let more: Vec<String> = (0..300)
        .map(|i| event(&format!("FLOW-MORE-{i}"), "CLM-001", "10.00"))
        .collect();
    produce_values(&broker, &k.payment_events_topic, &more);
    wait_until(
        Duration::from_secs(120),
        "payments behind the retry enriched",
        || read_all(&broker, &k.enriched_payments_topic, true).len() >= 300,
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .expect("clock");
    assert!(now < due, "enriched before the retry was due");
    let report = host.stop();
    assert_eq!(report.retries_taken, 0, "the retry waited: {report:?}");
    assert!(read_all(&broker, &k.failed_payments_topic, true).is_empty());
    assert_eq!(read_all(&broker, &k.retry_topic, true).len(), 1);
}

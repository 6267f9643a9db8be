//! `enricher redrive` on real brokers, with the real DuckDB and plugin: after
//! the missing claims are added, re-driving CLAIM_NOT_FOUND moves exactly
//! those payments to `enriched-payments`, once (exactly once on Tansu); a
//! second redrive moves nothing; a dry run moves nothing and says what would.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use enricher::config::{Config, DeliveryMode};
use enricher::kafka::redrive::{Moved, RedriveFilter, dry_run, redrive};
use enricher_tests::kafka::*;
use enricher_tests::swap::*;
use enricher_tests::*;

/// The small claims table plus the claim that was missing.
const WITH_MISSING_CLAIM: &str = "claim_id,member_id,claim_amount,claim_status,created_date\n\
CLM-001,MBR-789,2000.00,APPROVED,2024-01-10 09:00:00\n\
CLM-LATE,MBR-300,50.00,APPROVED,2024-01-12 08:00:00\n";

fn not_found_only() -> RedriveFilter {
    RedriveFilter {
        reasons: vec!["CLAIM_NOT_FOUND".into()],
        ..RedriveFilter::default()
    }
}

fn redrive_now(config: &Config, filter: RedriveFilter) -> enricher::kafka::redrive::RedriveReport {
    let mut pipeline = enricher::app::build_pipeline(config).expect("pipeline");
    redrive(
        &mut pipeline,
        &config.kafka,
        100,
        filter,
        &AtomicBool::new(false),
    )
    .expect("redrive")
}

fn redrive_story(broker: &str, mode: DeliveryMode, label: &str) {
    let dir = TempDir::new(label);
    let topics = unique_topics(label);
    create_topics(broker, &topics, 2);
    let mut config = host_config(&dir, broker, &topics, mode);
    config.deploy.admin_bind = None;
    config.deploy.topic = "off".into();
    // 30 missing claims, 10 malformed, 100 fine.
    let mut input: Vec<String> = (0..30)
        .map(|i| event(&format!("RD-LATE-{i}"), "CLM-LATE", "10.00"))
        .collect();
    input.extend((0..10).map(|i| format!("{{not json {i}")));
    input.extend((0..100).map(|i| event(&format!("RD-OK-{i}"), "CLM-001", "10.00")));
    produce_values(broker, &topics[0], &input);
    let host = RunningHost::start(&config, false);
    let [enriched, failed] = [&topics[1], &topics[2]].map(|t| t.as_str());
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while read_all(broker, enriched, true).len() + read_all(broker, failed, true).len() < 140 {
        assert!(
            std::time::Instant::now() < deadline,
            "outputs of the first run"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    host.stop();
    assert_eq!(read_all(broker, failed, true).len(), 40);

    // The missing claims are added (offline load; the host is stopped).
    let csv = dir.join("more.csv");
    std::fs::write(&csv, WITH_MISSING_CLAIM).expect("write claims");
    load_claims_file(&dir, &csv);

    let dry = dry_run(&config.kafka, &not_found_only()).expect("dry run");
    assert_eq!(
        dry.by_reason.get("CLAIM_NOT_FOUND").map(|m| m.redriven),
        Some(30)
    );
    assert_eq!(dry.passed_over, 10, "the INVALID_JSON ones are left out");
    assert_eq!(
        read_all(broker, enriched, true).len(),
        100,
        "a dry run moves nothing"
    );

    let report = redrive_now(&config, not_found_only());
    assert_eq!(
        report.by_reason.get("CLAIM_NOT_FOUND"),
        Some(&Moved {
            redriven: 30,
            enriched: 30,
            failed_again: 0
        }),
        "{report:?}"
    );
    assert_eq!(report.passed_over, 10);
    let out = read_all(broker, enriched, true);
    let counts = count_by_payment_id(&out);
    assert_eq!(counts.len(), 130, "the 30 joined the 100");
    assert!(counts.values().all(|n| *n == 1), "each once");
    assert!((0..30).all(|i| counts.contains_key(&format!("RD-LATE-{i}"))));
    let moved = out
        .iter()
        .find(|r| std::str::from_utf8(r.key.as_deref().unwrap_or_default()) == Ok("k0"))
        .expect("RD-LATE-0 keeps its key");
    let v: serde_json::Value = serde_json::from_slice(&moved.value).expect("JSON");
    assert_eq!(v["member_id"], "MBR-300");
    assert_eq!(
        read_all(broker, failed, true).len(),
        40,
        "nothing failed again"
    );

    let again = redrive_now(&config, not_found_only());
    assert!(
        again.by_reason.is_empty(),
        "a second redrive moves nothing: {again:?}"
    );
    assert_eq!(read_all(broker, enriched, true).len(), 130);
    let dry = dry_run(&config.kafka, &not_found_only()).expect("dry run");
    assert!(dry.by_reason.is_empty(), "{dry:?}");
}

#[test]
fn redrive_moves_the_not_found_payments_once_exactly_once() {
    redrive_story(&test_txn_broker(), DeliveryMode::ExactlyOnce, "redrive-eos");
}

#[test]
fn redrive_moves_the_not_found_payments_once_at_least_once() {
    redrive_story(&test_broker(), DeliveryMode::AtLeastOnce, "redrive-alo");
}

//! Exactly-once mode on a real broker that speaks the transactional API
//! (Tansu, started by `scripts/test` through `scripts/txn-broker-up`): init,
//! begin, produce, send offsets with the group metadata and commit run end to
//! end, and a hot swap keeps one plugin version per transaction. No fault is
//! injected here, and Tansu shows aborted records to read_committed consumers,
//! so these are happy paths, not the proof of exactly-once: an aborted
//! transaction's rewind is checked on the mock cluster (`kafka_mock.rs`,
//! `an_aborted_transaction_is_rewound_...`), and crashes by `scripts/eos-check`
//! on Kafka or Redpanda.

use std::time::Duration;

use enricher::config::{Config, DeliveryMode};
use enricher::deploy::PluginAdmin;
use enricher_tests::kafka::*;
use enricher_tests::swap::*;
use enricher_tests::test_plugins::V2;
use enricher_tests::*;

fn events(n: usize, prefix: &str) -> Vec<String> {
    (0..n)
        .map(|i| match i % 5 {
            4 => event(&format!("{prefix}-{i}"), "CLM-404", "10.00"),
            _ => event(&format!("{prefix}-{i}"), "CLM-001", "10.00"),
        })
        .collect()
}

fn eos_config(dir: &TempDir, broker: &str, topics: &[String; 3]) -> Config {
    let mut config = host_config(dir, broker, topics, DeliveryMode::ExactlyOnce);
    config.deploy.admin_bind = None;
    config.deploy.topic = "off".into();
    config
}

fn outputs(broker: &str, topics: &[String; 3]) -> [Vec<enricher::kafka::TailedRecord>; 2] {
    read_outputs(broker, &topics[1], &topics[2])
}

#[test]
fn exactly_once_on_a_real_transactional_broker_routes_every_event_once_on_the_happy_path() {
    let broker = test_txn_broker();
    let dir = TempDir::new("txn-e2e");
    let topics = unique_topics("txn-e2e");
    create_topics(&broker, &topics, 3);
    let input = events(5_000, "PAY-TXN");
    produce_values(&broker, &topics[0], &input);
    let config = eos_config(&dir, &broker, &topics);
    // Run until the outputs are all there (Tansu's start-of-run watermarks are
    // not reliable enough for --stop-at-end), then stop as SIGTERM would.
    let host = RunningHost::start(&config, false);
    wait_for_outputs(
        &broker,
        &[&topics[1], &topics[2]],
        5_000,
        Duration::from_secs(180),
    );
    let report = host.stop();
    assert_eq!(report.consumed, 5_000);
    assert!(report.commits.commits >= 1, "{report:?}");
    assert_eq!(report.commits.rewinds, 0);
    let [enriched, failed] = outputs(&broker, &topics);
    assert_eq!((enriched.len(), failed.len()), (4_000, 1_000));
    let counts = count_by_payment_id(enriched.iter().chain(&failed));
    assert_eq!(counts.len(), 5_000);
    assert!(
        counts.values().all(|n| *n == 1),
        "each payment_id exactly once"
    );
}

#[test]
fn hot_swap_in_exactly_once_mode_on_a_real_broker_keeps_one_version_per_transaction() {
    let broker = test_txn_broker();
    let dir = TempDir::new("txn-swap");
    let topics = unique_topics("txn-swap");
    create_topics(&broker, &topics, 3);
    let config = eos_config(&dir, &broker, &topics);
    let host = RunningHost::start(&config, false);
    let v2 = std::fs::read(V2).expect("v2 plugin");
    let input = events(20_000, "PAY-TXS");
    let stream = Stream {
        bootstrap: &broker,
        input: &topics[0],
        outputs: &[&topics[1], &topics[2]],
    };
    feed_while_swapping(
        &stream,
        &input,
        500,
        input.len(),
        Duration::from_millis(60),
        |i| {
            if i % 2 == 0 {
                host.deployer.deploy(&v2, None).expect("deploy v2");
            } else {
                host.deployer.rollback().expect("rollback");
            }
        },
    );
    let swaps = host.deployer.status().swaps;
    let report = host.stop();
    assert_eq!(report.commits.rewinds, 0);
    let topics_out = outputs(&broker, &topics);
    let counts = count_by_payment_id(topics_out.iter().flatten());
    assert_eq!(
        counts.len(),
        input.len(),
        "every payment_id is in the output"
    );
    assert!(counts.values().all(|n| *n == 1), "no duplicates");
    let (units, changes) = assert_versions_change_only_between_units(&topics_out);
    eprintln!(
        "exactly-once on Tansu: {swaps} swaps, {changes} version changes over {units} transactions, {} commits",
        report.commits.commits
    );
    assert!(
        changes >= 2,
        "{changes} version changes over {units} transactions"
    );
}

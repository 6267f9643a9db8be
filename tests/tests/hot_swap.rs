//! Hot swap on the real test broker (nisshi, at-least-once): plugin versions
//! change under load without losing or duplicating an event and only between
//! commit units; hosts of one group converge on a deployed version through the
//! fleet topic, and a host that starts later starts on it.

use std::collections::BTreeMap;
use std::time::Duration;

use enricher::admin::AdminClient;
use enricher::config::{Config, DeliveryMode};
use enricher::deploy::PluginAdmin;
use enricher_tests::kafka::*;
use enricher_tests::swap::*;
use enricher_tests::test_plugins::{CHAOS, V2};
use enricher_tests::*;

const V1_KEY: &str = "payment-enrichment@0.1.1";
const V2_KEY: &str = "payment-enrichment@0.2.0";

fn events(n: usize, prefix: &str) -> Vec<String> {
    (0..n)
        .map(|i| match i % 10 {
            9 => format!(r#"{{"payment_id":"{prefix}-{i}","claim_id":"CLM-001","payment_amount":"abc","payment_date":"2024-01-15T10:30:00"}}"#),
            n if n % 3 == 0 => event(&format!("{prefix}-{i}"), "CLM-404", "10.00"),
            _ => event(&format!("{prefix}-{i}"), "CLM-001", "10.00"),
        })
        .collect()
}

fn admin_config(dir: &TempDir, broker: &str, topics: &[String; 3]) -> Config {
    let mut config = host_config(dir, broker, topics, DeliveryMode::AtLeastOnce);
    config.deploy.admin_bind = "127.0.0.1:0".parse().ok();
    config
}

type Records = Vec<enricher::kafka::TailedRecord>;

/// Every output of a run: (counts by payment_id, [enriched records, failed records]).
fn outputs(broker: &str, topics: &[String; 3]) -> (BTreeMap<String, usize>, [Records; 2]) {
    let records = read_outputs(broker, &topics[1], &topics[2]);
    (count_by_payment_id(records.iter().flatten()), records)
}

fn duplicates(counts: &BTreeMap<String, usize>) -> usize {
    counts.values().map(|n| n - 1).sum()
}

/// Run `events` through one host, deploying v2 and rolling back between
/// chunks. Returns (counts, records per output topic, swaps the host made).
fn run_chunks(label: &str, events: &[String]) -> (BTreeMap<String, usize>, [Records; 2], u64) {
    let broker = test_broker();
    let dir = TempDir::new(label);
    let topics = unique_topics(label);
    create_topics(&broker, &topics, 3);
    let config = admin_config(&dir, &broker, &topics);
    let host = RunningHost::start(&config, false);
    let admin = AdminClient::new(&host.admin.expect("admin API").to_string());
    let v2 = std::fs::read(V2).expect("v2 plugin");
    let every = Duration::from_millis(80);
    let stream = Stream {
        bootstrap: &broker,
        input: &topics[0],
        outputs: &[&topics[1], &topics[2]],
    };
    feed_while_swapping(&stream, events, 1000, events.len(), every, |i| {
        if i % 2 == 0 {
            let report = admin.deploy(&v2, None).expect("deploy v2");
            assert_eq!(report.deployed.key, V2_KEY);
            assert!(host.wait_running(V2_KEY, Duration::from_secs(10)));
        } else {
            let back = admin.rollback().expect("rollback");
            assert_eq!(back.to, V1_KEY);
            assert!(host.wait_running(V1_KEY, Duration::from_secs(10)));
        }
    });
    let swaps = host.deployer.status().swaps;
    host.stop();
    let (counts, records) = outputs(&broker, &topics);
    (counts, records, swaps)
}

/// Every id of `expected` exactly once in `counts`, and no other.
fn assert_each_once(counts: &BTreeMap<String, usize>, expected: &[String], what: &str) {
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: {} payment_ids lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let duplicated: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "{what}: {} duplicates, e.g. {:?}",
        duplicates(counts),
        &duplicated[..duplicated.len().min(5)]
    );
    assert_eq!(counts.len(), expected.len(), "{what}: no unexpected ids");
}

#[test]
fn swaps_under_load_lose_nothing_add_no_duplicates_and_change_versions_only_between_units() {
    let events = events(100_000, "PAY-SWAP");
    let (counts, records, swaps) = run_chunks("swap-load", &events);

    assert!(swaps >= 10, "only {swaps} swaps happened");
    let expected: Vec<String> = (0..events.len()).map(|i| format!("PAY-SWAP-{i}")).collect();
    // One host, no crash, no rebalance: at-least-once duplicates nothing here,
    // and a swap (between batches) must not either.
    assert_each_once(&counts, &expected, "hot swap under load");
    let (units, changes) = assert_versions_change_only_between_units(&records);
    eprintln!(
        "hot swap under load: {swaps} swaps, {changes} version changes over {units} commit units"
    );
    assert!(
        changes >= 10,
        "the output shows only {changes} version changes over {units} units"
    );
    let versions: std::collections::BTreeSet<&[u8]> = records
        .iter()
        .flatten()
        .filter_map(|r| r.header("plugin-version"))
        .collect();
    assert_eq!(versions.len(), 2, "both versions produced output");
}

#[test]
fn hosts_of_a_group_converge_on_a_deployed_version_and_a_late_host_starts_on_it() {
    let broker = test_broker();
    let dir = TempDir::new("converge");
    let topics = unique_topics("converge");
    create_topics(&broker, &topics, 3);
    let config = admin_config(&dir, &broker, &topics);
    let a = RunningHost::start(&config, false);
    let b = RunningHost::start(&config, false);
    // The second round waits for len(first + second) outputs, so the first is counted there.
    produce_values(&broker, &topics[0], &events(500, "PAY-C1"));

    let admin_a = AdminClient::new(&a.admin.expect("admin").to_string());
    let report = admin_a
        .deploy(&std::fs::read(V2).expect("v2"), None)
        .expect("deploy");
    assert!(report.fleet, "deployed through the fleet topic");
    for (name, host) in [("a", &a), ("b", &b)] {
        assert!(
            host.wait_running(V2_KEY, Duration::from_secs(30)),
            "host {name} runs v2"
        );
    }
    let late = enricher::app::build_kafka_host(&config).expect("late host");
    assert_eq!(
        late.deployer.desired_key(),
        V2_KEY,
        "a late host starts on the fleet's version"
    );
    assert_eq!(late.pipeline.plugin().key(), V2_KEY);
    drop(late);

    let admin_b = AdminClient::new(&b.admin.expect("admin").to_string());
    let back = admin_b.rollback().expect("rollback from the other host");
    assert_eq!(back.to, V1_KEY);
    for (name, host) in [("a", &a), ("b", &b)] {
        assert!(
            host.wait_running(V1_KEY, Duration::from_secs(30)),
            "host {name} rolled back"
        );
    }
    let status = admin_a.status().expect("status");
    assert_eq!(status.active.key, V1_KEY);
    assert_eq!(status.swaps, 2);
    let more = events(500, "PAY-C2");
    let mut all = events(500, "PAY-C1");
    all.extend(more.iter().cloned());
    produce_values(&broker, &topics[0], &more);
    wait_for_outputs(
        &broker,
        &[&topics[1], &topics[2]],
        all.len(),
        Duration::from_secs(120),
    );
    a.stop();
    b.stop();
    let (counts, _) = outputs(&broker, &topics);
    let expected: Vec<String> = (0..500)
        .map(|i| format!("PAY-C1-{i}"))
        .chain((0..500).map(|i| format!("PAY-C2-{i}")))
        .collect();
    // Two hosts sharing the partitions, swapping twice: each event once.
    assert_each_once(&counts, &expected, "two hosts converging");
}

/// Issue 26 item 18: a deployed version that traps on every record is rolled
/// back inside its first batch (after `rollback-min-records`, 100, of the
/// batch of 1,000), and the records it failed are re-run through the
/// previous version before the commit: no payment lands in `failed`.
#[test]
fn a_version_trapping_on_every_record_is_rolled_back_without_failing_a_payment() {
    let broker = test_broker();
    let dir = TempDir::new("rerun-kafka");
    let topics = unique_topics("rerun-kafka");
    create_topics(&broker, &topics, 1);
    let config = admin_config(&dir, &broker, &topics);
    assert_eq!(config.deploy.rollback_min_records, 100);
    let host = RunningHost::start(&config, false);
    host.deployer
        .deploy(&std::fs::read(CHAOS).expect("chaos plugin"), None)
        .expect("chaos passes its canaries");
    assert!(host.wait_running("chaos@1.0.0", Duration::from_secs(30)));

    // Every event asks the chaos plugin to trap; the built-in one enriches it.
    let ids: Vec<String> = (0..3_000).map(|i| format!("PAY-RR-{i}")).collect();
    let events: Vec<String> = ids
        .iter()
        .map(|id| {
            let e = event(id, "CLM-001", "10.00");
            format!("{},\"chaos\":\"panic\"}}", &e[..e.len() - 1])
        })
        .collect();
    produce_values_in_large_batches(&broker, &topics[0], &events);
    wait_for_outputs(
        &broker,
        &[&topics[1], &topics[2]],
        ids.len(),
        Duration::from_secs(120),
    );
    assert!(host.wait_running(V1_KEY, Duration::from_secs(10)));
    let status = host.deployer.status();
    host.stop();

    let (counts, [enriched, failed]) = outputs(&broker, &topics);
    let traps = failed
        .iter()
        .filter(|r| r.header("enrichment-status") == Some(&b"PLUGIN_TRAP"[..]))
        .count();
    assert_eq!(traps, 0, "{} failed, {traps} as PLUGIN_TRAP", failed.len());
    assert!(failed.is_empty(), "{} payments failed", failed.len());
    assert_each_once(&counts, &ids, "rolled back inside the batch");
    for r in &enriched {
        assert_eq!(only_header(r, "plugin-version"), "0.1.1");
    }
    assert_eq!(status.rollbacks, 1, "{status:?}");
    assert_eq!(status.active.key, V1_KEY);
    let event = status.last_event.unwrap_or_default();
    assert!(event.contains("re-run through"), "{event}");
}

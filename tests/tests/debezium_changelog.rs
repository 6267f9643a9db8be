//! Debezium change events on the claims changelog (`claims.changelog-format =
//! debezium`) on the real test broker: each op, both wrappers and both
//! decimal encodings, and the tombstone after a delete, apply exactly as the
//! same changes in our own format do; a record that is no valid change is
//! skipped (`claims.bad-change = skip`) or stops the applying there (`stop`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use enricher::app::open_changelog_lookup;
use enricher::changelog::{ChangelogApplier, publish};
use enricher::claims_load::Claim;
use enricher::config::{BadChange, CacheMode, ChangelogFormat, Config};
use enricher::lookup::{ClaimRow, ClaimsLookup, LookupAnswer};
use enricher_tests::kafka::*;
use enricher_tests::*;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rust_decimal::Decimal;

fn changelog_topic(broker: &str, label: &str) -> String {
    let topic = format!("{}-changelog", unique_topics(label)[0]);
    create_topics(broker, std::slice::from_ref(&topic), 1);
    topic
}

fn config(dir: &TempDir, broker: &str, topic: &str, format: ChangelogFormat) -> Config {
    let db = claims_db(dir, SMALL_CLAIMS_CSV);
    let mut config = config_for(&db);
    config.kafka.bootstrap_servers = broker.to_owned();
    config.claims.changelog_topic = topic.to_owned();
    config.claims.changelog_format = format;
    config.lookup.cache = CacheMode::Partial;
    config.lookup.cache_ttl = Duration::from_secs(3600);
    config.lookup.cache_missing_ttl = Duration::from_secs(3600);
    config
}

fn start(config: &Config) -> (Arc<ClaimsLookup>, ChangelogApplier) {
    open_changelog_lookup(config)
        .expect("starts")
        .expect("the changelog topic exists, so it is applied")
}

/// Records as Debezium writes them: a JSON key, and a value or none (a tombstone).
fn produce(broker: &str, topic: &str, records: &[(String, Option<String>)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .create()
        .expect("producer");
    for (key, value) in records {
        let mut record = BaseRecord::<String, String>::to(topic).key(key);
        if let Some(value) = value {
            record = record.payload(value);
        }
        producer.send(record).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

fn key(id: &str) -> String {
    format!(r#"{{"claim_id":"{id}"}}"#)
}

/// A change event without the schema wrapper, amount as a decimal string.
fn event(op: &str, id: &str, amount: &str, status: &str, ts_ms: i64) -> String {
    let row = format!(
        r#"{{"claim_id":"{id}","member_id":"MBR-{id}","claim_amount":"{amount}","claim_status":"{status}","created_date":1704877200000000}}"#
    );
    let (before, after) = match op {
        "d" => (row, "null".to_owned()),
        _ => ("null".to_owned(), row),
    };
    format!(
        r#"{{"before":{before},"after":{after},"source":{{"connector":"postgresql","ts_ms":{ts_ms},"lsn":1}},"op":"{op}","ts_ms":{ts_ms}}}"#
    )
}

/// An update of CLM-001 with the schema wrapper, amount 1234.56 in
/// Debezium's precise encoding (base64 of the unscaled 123456, scale 2).
const WRAPPED_UPDATE: &str = r#"{"schema":{"type":"struct","fields":[{"type":"struct","optional":true,"field":"after","fields":[{"type":"string","field":"claim_id"},{"type":"string","field":"member_id"},{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"claim_amount"},{"type":"string","optional":true,"field":"claim_status"},{"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","field":"created_date"}]},{"type":"string","field":"op"}]},"payload":{"before":null,"after":{"claim_id":"CLM-001","member_id":"MBR-789","claim_amount":"AeJA","claim_status":"PAID","created_date":1704877200000000},"source":{"ts_ms":1733560000000},"op":"u","ts_ms":1733560000100}}"#;

fn row(lookup: &ClaimsLookup, id: &str) -> Option<ClaimRow> {
    match lookup.lookup(&[id.to_owned()]).remove(0) {
        LookupAnswer::Found(row) => Some((*row).clone()),
        LookupAnswer::NotFound => None,
        other => panic!("lookup of {id} failed: {other:?}"),
    }
}

fn wait_applied(lookup: &ClaimsLookup, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = lookup.changelog().expect("changelog tracked");
        if status.applied >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "applied {n} changes in time: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn claim(id: &str, member: &str, cents: i64, status: &str) -> Claim {
    Claim {
        claim_id: id.into(),
        member_id: member.into(),
        claim_amount: Decimal::new(cents, 2),
        claim_status: Some(status.into()),
        created_micros: Some(1_704_877_200_000_000),
    }
}

#[test]
fn debezium_events_apply_like_the_same_changes_in_our_format() {
    let broker = test_broker();
    let dezium_dir = TempDir::new("debezium-host");
    let dezium_topic = changelog_topic(&broker, "debezium");
    let ours_dir = TempDir::new("debezium-ours");
    let ours_topic = changelog_topic(&broker, "debezium-ours");
    let (dezium, _a) = start(&config(
        &dezium_dir,
        &broker,
        &dezium_topic,
        ChangelogFormat::Debezium,
    ));
    let (ours, _b) = start(&config(
        &ours_dir,
        &broker,
        &ours_topic,
        ChangelogFormat::Enricher,
    ));
    let ids = ["CLM-001", "CLM-002", "CLM-003", "CLM-NEW", "CLM-SNAP"];
    for id in ids {
        row(&dezium, id); // cached for an hour: only the changelog can change them
    }

    produce(
        &broker,
        &dezium_topic,
        &[
            (
                key("CLM-SNAP"),
                Some(event("r", "CLM-SNAP", "10.00", "APPROVED", 1)),
            ),
            (
                key("CLM-NEW"),
                Some(event("c", "CLM-NEW", "77.7", "PENDING", 2)),
            ),
            (
                r#"{"schema":{},"payload":{"claim_id":"CLM-001"}}"#.into(),
                Some(WRAPPED_UPDATE.into()),
            ),
            (
                key("CLM-002"),
                Some(event("d", "CLM-002", "0.10", "PENDING", 4)),
            ),
            (key("CLM-002"), None),
        ],
    );
    publish(
        &at(&broker),
        &ours_topic,
        &[
            claim("CLM-SNAP", "MBR-CLM-SNAP", 1000, "APPROVED"),
            claim("CLM-NEW", "MBR-CLM-NEW", 7770, "PENDING"),
            claim("CLM-001", "MBR-789", 123_456, "PAID"),
        ],
        false,
    )
    .expect("publish");
    publish(
        &at(&broker),
        &ours_topic,
        &[claim("CLM-002", "MBR-100", 10, "PENDING")],
        true,
    )
    .expect("publish the delete");
    wait_applied(&dezium, 4);
    wait_applied(&ours, 4);

    for id in ids {
        assert_eq!(row(&dezium, id), row(&ours, id), "{id}");
    }
    let updated = row(&dezium, "CLM-001").expect("CLM-001");
    assert_eq!(
        (updated.claim_amount, updated.claim_status.as_deref()),
        (Decimal::new(123_456, 2), Some("PAID"))
    );
    assert_eq!(
        row(&dezium, "CLM-002"),
        None,
        "deleted; the tombstone changed nothing"
    );
    assert_eq!(
        row(&dezium, "CLM-NEW").map(|r| r.claim_amount.to_string()),
        Some("77.70".into())
    );
    let status = dezium.changelog().expect("tracked");
    assert_eq!(
        (status.applied, status.deleted, status.rejected),
        (4, 1, 0),
        "{status:?}"
    );
}

#[test]
fn a_bad_change_is_skipped_or_stops_the_applying_by_policy() {
    let broker = test_broker();
    for policy in [BadChange::Skip, BadChange::Stop] {
        let dir = TempDir::new("debezium-bad");
        let topic = changelog_topic(&broker, "debezium-bad");
        let mut config = config(&dir, &broker, &topic, ChangelogFormat::Debezium);
        config.claims.bad_change = policy;
        let (lookup, _applier) = start(&config);
        let double = event("c", "CLM-BAD", "1.5", "APPROVED", 2).replace(r#""1.5""#, "1.5");
        produce(
            &broker,
            &topic,
            &[
                (
                    key("CLM-A"),
                    Some(event("c", "CLM-A", "1.00", "APPROVED", 1)),
                ),
                (key("CLM-BAD"), Some(double)),
                (
                    key("CLM-B"),
                    Some(event("c", "CLM-B", "2.00", "APPROVED", 3)),
                ),
            ],
        );
        wait_applied(&lookup, 1);
        let status = match policy {
            BadChange::Skip => {
                wait_applied(&lookup, 2);
                assert!(row(&lookup, "CLM-B").is_some(), "after the bad one");
                lookup.changelog().expect("tracked")
            }
            BadChange::Stop => {
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    let status = lookup.changelog().expect("tracked");
                    if status.last_error.is_some() {
                        break status;
                    }
                    assert!(Instant::now() < deadline, "stopped in time: {status:?}");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        assert!(
            row(&lookup, "CLM-A").is_some(),
            "{policy:?}: before the bad one"
        );
        assert_eq!(row(&lookup, "CLM-BAD"), None, "{policy:?}: never applied");
        match policy {
            BadChange::Skip => assert_eq!((status.applied, status.rejected), (2, 1), "{status:?}"),
            BadChange::Stop => {
                let why = status.last_error.clone().unwrap_or_default();
                assert!(
                    why.contains("partition 0 offset 1")
                        && why.contains("decimal.handling.mode=double"),
                    "{why}"
                );
                std::thread::sleep(Duration::from_millis(500));
                assert_eq!(row(&lookup, "CLM-B"), None, "nothing after it is applied");
                let status = lookup.changelog().expect("tracked");
                assert_eq!(status.applied, 1, "{status:?}");
                assert_eq!(
                    status.next_offsets,
                    vec![(0, 1)],
                    "a restart reads the bad record again"
                );
            }
        }
    }
}

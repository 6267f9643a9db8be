//! Kafka mode on a real Kafka-protocol broker (nisshi, started by
//! `scripts/test` through `scripts/kafka-up`), at-least-once since nisshi has
//! no transactions: outputs equal file mode's and keep their input's key and
//! timestamp, a consumer group shares and hands over partitions, and an output
//! too large for the producer is routed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use enricher::config::DeliveryMode;
use enricher::kafka::{RunOptions, run};
use enricher_tests::kafka::*;
use enricher_tests::*;
use serde_json::Value;

/// Each output value without its processing time, sorted: comparable across runs.
fn normalized(values: impl IntoIterator<Item = Vec<u8>>) -> Vec<String> {
    let mut out: Vec<String> = values
        .into_iter()
        .map(|v| {
            let mut json: Value = serde_json::from_slice(&v).expect("JSON output");
            if let Some(o) = json.as_object_mut() {
                o.remove("enrichment_timestamp");
            }
            json.to_string()
        })
        .collect();
    out.sort();
    out
}

fn mixed_events(n: usize, prefix: &str) -> Vec<String> {
    (0..n)
        .map(|i| match i % 20 {
            19 => "{not json".to_string(),
            17 => format!(r#"{{"payment_id":"{prefix}-{i}","claim_id":"CLM-002","payment_amount":1.005,"payment_date":"2024-01-15T10:30:00"}}"#),
            n if n % 4 == 0 => event(&format!("{prefix}-{i}"), "CLM-404", "10.00"),
            n if n % 2 == 0 => event(&format!("{prefix}-{i}"), "CLM-002", "0.10"),
            _ => event(&format!("{prefix}-{i}"), "CLM-001", "1500.00"),
        })
        .collect()
}

/// An at-least-once Kafka run over `topics` (input, enriched, failed), grouped by the input's name.
fn at_least_once(
    db: &std::path::Path,
    broker: &str,
    topics: &[String; 3],
) -> enricher::config::Config {
    with_topics(
        kafka_config(
            config_for(db),
            broker,
            DeliveryMode::AtLeastOnce,
            &topics[0],
        ),
        topics,
    )
}

#[test]
fn at_least_once_outputs_equal_file_mode_for_the_same_input() {
    let broker = test_broker();
    let dir = TempDir::new("kafka-e2e");
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let topics = unique_topics("e2e");
    create_topics(&broker, &topics, 3);
    let events = mixed_events(3000, "PAY-E2E");
    // Event times in 2020, one second apart: outputs must keep them, not take the time of the run.
    let event_time = |i: usize| 1_600_000_000_000 + 1_000 * i as i64;
    produce_values_at(&broker, &topics[0], &events, event_time);

    let config = at_least_once(&db, &broker, &topics);
    let report = run_to_end(&config, Duration::from_secs(120)).expect("kafka run");
    assert_eq!(report.consumed, 3000);

    let enriched = read_all(&broker, &topics[1], true);
    let failed = read_all(&broker, &topics[2], true);
    assert_eq!(
        enriched.len() + failed.len(),
        3000,
        "every input answered once"
    );

    let mut file_pipeline = enricher::app::build_pipeline(&config_for(&db)).expect("pipeline");
    let file = run_bytes(&mut file_pipeline, events.join("\n").as_bytes(), 200);
    let values = |lines: &[String]| {
        lines
            .iter()
            .map(|l| l.as_bytes().to_vec())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        normalized(enriched.iter().map(|r| r.value.clone())),
        normalized(values(&file.enriched_raw))
    );
    assert_eq!(
        normalized(failed.iter().map(|r| r.value.clone())),
        normalized(values(&file.failed_raw))
    );
    // Each output keeps its input's key (`k<index>`) and timestamp.
    for r in enriched.iter().chain(&failed) {
        let key = r.key.as_deref().expect("the input key is kept");
        let index: usize = std::str::from_utf8(key)
            .ok()
            .and_then(|k| k.strip_prefix('k')?.parse().ok())
            .unwrap_or_else(|| panic!("an input key, got {key:?}"));
        assert_eq!(
            r.timestamp_ms,
            Some(event_time(index)),
            "output of input {index} at partition {} offset {}",
            r.partition,
            r.offset
        );
    }
    // Keys survive, statuses and the plugin are in headers.
    let sample = &failed[0];
    assert!(sample.key.is_some());
    assert!(
        sample
            .header("enrichment-status")
            .is_some_and(|s| s != b"SUCCESS")
    );
    assert_eq!(
        sample.header("plugin-version"),
        Some(test_plugins::BUILTIN_VERSION.as_bytes())
    );
}

#[test]
fn two_instances_share_the_partitions_and_hand_them_over() {
    let broker = test_broker();
    let dir = TempDir::new("kafka-group");
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let topics = unique_topics("group");
    create_topics(&broker, &topics, 6);
    let config = at_least_once(&db, &broker, &topics);

    // Two hosts, each with its own instance id (two in one process would
    // otherwise share this process's default, hence one static membership).
    let start_instance = |stop: Arc<AtomicBool>, id: &str| {
        let mut config = config.clone();
        config.kafka.instance_id = Some(id.to_owned());
        std::thread::spawn(move || {
            let mut pipeline = enricher::app::build_pipeline(&config).expect("pipeline");
            let options = RunOptions {
                batch_size: 100,
                stop_at_end: false,
                retry_not_found: Default::default(),
            };
            run(&mut pipeline, &config.kafka, options, &stop).expect("instance run")
        })
    };
    let (stop_a, stop_b) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let a = start_instance(Arc::clone(&stop_a), "host-a");
    // Events keep coming while the group changes: 20 rounds of 500.
    let total = 10_000;
    let mut b = None;
    for round in 0..20 {
        let events = mixed_events(500, &format!("PAY-G{round}"));
        produce_values(&broker, &topics[0], &events);
        if round == 4 {
            b = Some(start_instance(Arc::clone(&stop_b), "host-b"));
        }
        if round == 12 {
            stop_a.store(true, Ordering::Relaxed); // A leaves; B takes over its partitions
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    let report_a = a.join().expect("instance A");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    while Instant::now() < deadline {
        let mut out = read_all(&broker, &topics[1], true);
        out.extend(read_all(&broker, &topics[2], true));
        seen = count_by_payment_id(&out);
        if out.len() >= total {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    stop_b.store(true, Ordering::Relaxed);
    let report_b = b.expect("B started").join().expect("instance B");
    assert!(
        report_a.consumed > 0 && report_b.consumed > 0,
        "both worked: {report_a:?} {report_b:?}"
    );
    let expected_ids = (0..20).flat_map(|r| {
        (0..500)
            .filter(|i| i % 20 != 19)
            .map(move |i| format!("PAY-G{r}-{i}"))
    });
    for id in expected_ids {
        assert!(seen.contains_key(&id), "{id} was lost in the hand-over");
    }
    // Invalid JSON has no payment_id: 25 such lines per round.
    assert_eq!(seen.get("<none>").copied(), Some(20 * 25));
    let duplicates: usize = seen
        .iter()
        .filter(|(id, _)| *id != "<none>")
        .map(|(_, n)| n.saturating_sub(1))
        .sum();
    // Leaving and joining commit before revocation: a graceful hand-over duplicates nothing.
    assert_eq!(duplicates, 0);
    eprintln!(
        "hand-over: A consumed {}, B consumed {}, duplicates {duplicates}",
        report_a.consumed, report_b.consumed
    );
}

#[test]
fn an_output_too_large_for_the_producer_goes_to_failed() {
    let broker = test_broker();
    let dir = TempDir::new("kafka-large");
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let topics = unique_topics("large");
    create_topics(&broker, &topics, 1);
    let big = format!(
        r#"{{"payment_id":"PAY-BIG","claim_id":"CLM-001","payment_amount":1,"payment_date":"2024-01-15T10:30:00","processor_id":"{}"}}"#,
        "P".repeat(5000)
    );
    produce_values(
        &broker,
        &topics[0],
        &[event("PAY-SMALL", "CLM-001", "1"), big],
    );
    let mut config = at_least_once(&db, &broker, &topics);
    config
        .kafka
        .properties
        .insert("message.max.bytes".into(), "4000".into());
    run_to_end(&config, Duration::from_secs(60)).expect("run");
    let enriched = read_all(&broker, &topics[1], true);
    let failed = read_all(&broker, &topics[2], true);
    assert_eq!(enriched.len(), 1);
    assert_eq!(failed.len(), 1);
    let f: Value = serde_json::from_slice(&failed[0].value).expect("json");
    assert_eq!(f["enrichment_status"], "RECORD_TOO_LARGE");
    assert_eq!(f["payment_id"], "PAY-BIG");
}

/// Records carrying the host's own header names (`enrichment-status: SUCCESS`,
/// `plugin-version: 9.9.9`, `commit-unit: forged/1`...) reach the outputs
/// with those values under `original-<name>` only: each host header is
/// carried once, with the host's value.
#[test]
fn forged_host_headers_on_inputs_never_pass_for_the_hosts_own() {
    use rdkafka::ClientConfig;
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    let broker = test_broker();
    let dir = TempDir::new("kafka-forged-headers");
    let db = claims_db(&dir, SMALL_CLAIMS_CSV);
    let topics = unique_topics("forged");
    create_topics(&broker, &topics, 1);
    let events = [
        event("PAY-F-1", "CLM-001", "1500.00"),
        event("PAY-F-2", "CLM-404", "10.00"),
        "{not json".to_owned(),
    ];
    let forged = [
        ("enrichment-status", "SUCCESS"),
        ("plugin-name", "evil"),
        ("plugin-version", "9.9.9"),
        ("commit-unit", "forged/1"),
        ("Enrichment-Status", "SUCCESS"),
        ("trace-id", "t-1"),
    ];
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker)
        .create()
        .expect("producer");
    for (i, value) in events.iter().enumerate() {
        let mut headers = OwnedHeaders::new();
        for (key, value) in forged {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let key = format!("k{i}");
        let record = BaseRecord::to(&topics[0])
            .key(&key)
            .payload(value)
            .headers(headers);
        producer.send(record).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");

    let config = at_least_once(&db, &broker, &topics);
    let report = run_to_end(&config, Duration::from_secs(120)).expect("kafka run");
    assert_eq!(report.consumed, 3);
    let enriched = read_all(&broker, &topics[1], true);
    let failed = read_all(&broker, &topics[2], true);
    assert_eq!(
        (enriched.len(), failed.len()),
        (1, 2),
        "routed by the real outcome"
    );
    let values = |r: &enricher::kafka::TailedRecord, key: &str| -> Vec<String> {
        r.header_values(key)
            .into_iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    };
    for r in enriched.iter().chain(&failed) {
        let value: Value = serde_json::from_slice(&r.value).expect("JSON output");
        let status = value["enrichment_status"].as_str().expect("a status");
        assert_eq!(values(r, "enrichment-status"), [status], "{value}");
        assert_eq!(values(r, "plugin-name"), ["payment-enrichment"]);
        assert_eq!(values(r, "plugin-version"), ["0.1.1"]);
        let unit = values(r, "commit-unit");
        assert_eq!(unit.len(), 1, "one commit unit: {unit:?}");
        assert_ne!(unit[0], "forged/1");
        // The forged values are kept, under names that are not the host's.
        assert_eq!(values(r, "original-enrichment-status"), ["SUCCESS"]);
        assert_eq!(values(r, "original-Enrichment-Status"), ["SUCCESS"]);
        assert_eq!(values(r, "original-plugin-version"), ["9.9.9"]);
        assert_eq!(values(r, "original-commit-unit"), ["forged/1"]);
        assert_eq!(values(r, "trace-id"), ["t-1"]);
        assert!(values(r, "Enrichment-Status").is_empty());
    }
    let statuses: Vec<String> = failed
        .iter()
        .map(|r| values(r, "enrichment-status").join(","))
        .collect();
    assert!(
        statuses.contains(&"CLAIM_NOT_FOUND".to_owned()),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&"INVALID_JSON".to_owned()),
        "{statuses:?}"
    );
}

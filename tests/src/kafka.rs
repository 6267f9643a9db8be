//! Kafka fixtures: put events on a topic, run the host's Kafka loop in a
//! thread with a watchdog, and read output topics back by payment_id.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use enricher::config::{Config, DeliveryMode, KafkaConfig};
use enricher::kafka::KafkaRunError;
use enricher::kafka::{KafkaRunReport, RunOptions, run};
use enricher::kafka::{TailOptions, TailedRecord, tail_topic};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// Produce `values` to `topic`, keyed by index, and wait for them to be acknowledged.
pub fn produce_values(bootstrap: &str, topic: &str, values: &[String]) {
    produce(bootstrap, topic, values, |_| None);
}

/// Like [`produce_values`], in record batches of up to 10,000 (a 500 ms
/// linger), as a busy upstream producer writes them.
pub fn produce_values_in_large_batches(bootstrap: &str, topic: &str, values: &[String]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "500")
        .set("batch.num.messages", "10000")
        .set("batch.size", "16000000")
        .create()
        .expect("producer");
    send_all(&producer, topic, values, |_| None);
}

/// Like [`produce_values`], with the record timestamp `timestamp_ms(i)` for value `i`.
pub fn produce_values_at(
    bootstrap: &str,
    topic: &str,
    values: &[String],
    timestamp_ms: impl Fn(usize) -> i64,
) {
    produce(bootstrap, topic, values, |i| Some(timestamp_ms(i)));
}

fn produce(
    bootstrap: &str,
    topic: &str,
    values: &[String],
    timestamp_ms: impl Fn(usize) -> Option<i64>,
) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    send_all(&producer, topic, values, timestamp_ms);
}

/// Send `values` keyed by index and wait for them to be acknowledged.
fn send_all(
    producer: &BaseProducer,
    topic: &str,
    values: &[String],
    timestamp_ms: impl Fn(usize) -> Option<i64>,
) {
    for (i, v) in values.iter().enumerate() {
        let key = format!("k{i}");
        let mut record = BaseRecord::to(topic).key(&key).payload(v);
        if let Some(ts) = timestamp_ms(i) {
            record = record.timestamp(ts);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    producer.poll(Duration::from_millis(10));
                    record = back;
                }
            }
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

/// A config for `bootstrap` with fast commits and the given delivery mode.
pub fn kafka_config(base: Config, bootstrap: &str, delivery: DeliveryMode, group: &str) -> Config {
    let mut config = base;
    config.kafka.bootstrap_servers = bootstrap.to_owned();
    config.kafka.delivery = delivery;
    config.kafka.group_id = group.to_owned();
    config.kafka.transactional_id = Some(format!("{group}-txn"));
    config.kafka.commit_interval = Duration::from_millis(50);
    config.pipeline.batch_size = 200;
    config
}

/// Run the Kafka loop with `--stop-at-end` semantics; a watchdog stops it after `limit`.
pub fn run_to_end(config: &Config, limit: Duration) -> Result<KafkaRunReport, KafkaRunError> {
    let shutdown = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let shutdown = Arc::clone(&shutdown);
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + limit;
            while std::time::Instant::now() < deadline && !shutdown.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            shutdown.store(true, Ordering::Relaxed);
        })
    };
    let mut pipeline = enricher::app::build_pipeline(config).expect("pipeline");
    let options = RunOptions {
        batch_size: config.pipeline.batch_size,
        stop_at_end: true,
        retry_not_found: config.lookup.retry_not_found.clone(),
    };
    let result = run(&mut pipeline, &config.kafka, options, &shutdown);
    shutdown.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    result
}

/// Every record of `topic`.
pub fn read_all(bootstrap: &str, topic: &str, read_committed: bool) -> Vec<TailedRecord> {
    let mut out = Vec::new();
    let options = TailOptions {
        read_committed,
        ..TailOptions::default()
    };
    tail_topic(&at(bootstrap), topic, &options, |r| out.push(r)).expect("tail");
    out
}

/// How many times each payment_id appears across records (values parsed as JSON).
pub fn count_by_payment_id<'a>(
    records: impl IntoIterator<Item = &'a TailedRecord>,
) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in records {
        let v: serde_json::Value = serde_json::from_slice(&r.value).expect("output is JSON");
        let id = v["payment_id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| "<none>".into());
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

/// The test broker `scripts/test` starts (`scripts/kafka-up`), from `ENRICHER_TEST_KAFKA`.
pub fn test_broker() -> String {
    std::env::var("ENRICHER_TEST_KAFKA").unwrap_or_else(|_| {
        panic!("no test broker: run the suite with scripts/test, or start one with scripts/kafka-up and set ENRICHER_TEST_KAFKA=127.0.0.1:9092")
    })
}

/// The broker with the transactional API `scripts/test` starts
/// (`scripts/txn-broker-up`), from `ENRICHER_TEST_KAFKA_TXN`.
pub fn test_txn_broker() -> String {
    std::env::var("ENRICHER_TEST_KAFKA_TXN").unwrap_or_else(|_| {
        panic!("no transactional test broker: run the suite with scripts/test, or start one with scripts/txn-broker-up and set ENRICHER_TEST_KAFKA_TXN=127.0.0.1:19094")
    })
}

/// Topic names unique to one test: (input, enriched, failed).
pub fn unique_topics(label: &str) -> [String; 3] {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    ["in", "enriched", "failed"].map(|t| format!("{label}-{t}-{}-{n}", std::process::id()))
}

/// Create topics with `partitions` partitions each.
pub fn create_topics(bootstrap: &str, names: &[String], partitions: i32) {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    enricher::kafka::create_topics(&at(bootstrap), &names, partitions, 1).expect("create topics");
}

/// The Kafka settings of a client of `bootstrap` (defaults otherwise).
pub fn at(bootstrap: &str) -> KafkaConfig {
    KafkaConfig {
        bootstrap_servers: bootstrap.to_owned(),
        ..KafkaConfig::default()
    }
}

/// Point a config at unique topics.
pub fn with_topics(mut config: Config, topics: &[String; 3]) -> Config {
    config.kafka.payment_events_topic = topics[0].clone();
    config.kafka.enriched_payments_topic = topics[1].clone();
    config.kafka.failed_payments_topic = topics[2].clone();
    config
}

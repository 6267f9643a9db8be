//! Fixtures for plugin-version tests: a Kafka-mode host (deployer, optional
//! fleet topic and admin API) run in a thread, and the check that plugin
//! versions change only between commit units in the output.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use enricher::app::{KafkaHost, build_kafka_host};
use enricher::config::Config;
use enricher::config::DeliveryMode;
use enricher::deploy::Deployer;
use enricher::kafka::COMMIT_UNIT_HEADER;
use enricher::kafka::KafkaRunError;
use enricher::kafka::TailedRecord;
use enricher::kafka::partition_watermarks;
use enricher::kafka::{KafkaRunReport, RunOptions, run};

/// A Kafka-mode config over the small claims table in `dir`, reading
/// `topics[0]` and writing `topics[1]` / `topics[2]` on `broker`.
pub fn host_config(
    dir: &crate::TempDir,
    broker: &str,
    topics: &[String; 3],
    delivery: DeliveryMode,
) -> Config {
    let db = crate::claims_db(dir, crate::SMALL_CLAIMS_CSV);
    let mut config = crate::kafka::with_topics(
        crate::kafka::kafka_config(crate::config_for(&db), broker, delivery, &topics[0]),
        topics,
    );
    // Plugin tests run several hosts on one claims file, read-only: no changelog
    // (a host applying it needs its own file). Claims tests set their own topic.
    config.claims.changelog_topic = "off".into();
    config
}

/// Every record of the enriched and of the failed output topic.
pub fn read_outputs(broker: &str, enriched: &str, failed: &str) -> [Vec<TailedRecord>; 2] {
    [
        crate::kafka::read_all(broker, enriched, true),
        crate::kafka::read_all(broker, failed, true),
    ]
}

/// A Kafka-mode host running on its own thread until stopped (or, with
/// `stop_at_end`, until the input is drained).
pub struct RunningHost {
    pub deployer: Arc<Deployer>,
    pub admin: Option<std::net::SocketAddr>,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<KafkaRunReport, KafkaRunError>>>,
}

impl RunningHost {
    pub fn start(config: &Config, stop_at_end: bool) -> Self {
        let host: KafkaHost = build_kafka_host(config).expect("kafka host");
        let deployer = Arc::clone(&host.deployer);
        let admin = host.admin_addr();
        let shutdown = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&shutdown);
        let kafka = config.kafka.clone();
        let options = RunOptions {
            batch_size: config.pipeline.batch_size,
            stop_at_end,
            retry_not_found: config.lookup.retry_not_found.clone(),
        };
        let thread = std::thread::spawn(move || {
            let mut host = host;
            run(&mut host.pipeline, &kafka, options, &flag)
        });
        Self {
            deployer,
            admin,
            shutdown,
            thread: Some(thread),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Wait for the run to end on its own (a watchdog stops it after `limit`).
    pub fn join(mut self, limit: Duration) -> KafkaRunReport {
        let deadline = std::time::Instant::now() + limit;
        while !self.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.shutdown.store(true, Ordering::Relaxed);
        let thread = self.thread.take().expect("joined once");
        thread.join().expect("host thread").expect("kafka run")
    }

    /// Ask it to stop (SIGTERM's path) and wait.
    pub fn stop(self) -> KafkaRunReport {
        self.shutdown.store(true, Ordering::Relaxed);
        self.join(Duration::from_secs(60))
    }

    /// Wait until this host runs `key`.
    pub fn wait_running(&self, key: &str, limit: Duration) -> bool {
        self.deployer.wait_running(key, limit)
    }
}

impl Drop for RunningHost {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn text(bytes: Option<&[u8]>) -> String {
    String::from_utf8_lossy(bytes.unwrap_or(b"<none>")).into_owned()
}

/// The one value of header `key` on `r`: every value is read, and a name
/// carried twice (a forged copy beside the host's) fails the test.
pub fn only_header(r: &TailedRecord, key: &str) -> String {
    let values = r.header_values(key);
    assert!(
        values.len() <= 1,
        "partition {} offset {}: header {key} carried {} times: {:?}",
        r.partition,
        r.offset,
        values.len(),
        values
            .iter()
            .map(|v| String::from_utf8_lossy(v))
            .collect::<Vec<_>>()
    );
    text(values.first().copied())
}

/// Reads each partition of each output topic (one list per topic) in offset
/// order and checks that every commit unit was produced by one plugin version,
/// so the version changes only where the unit changes. Returns (units seen,
/// version changes seen).
pub fn assert_versions_change_only_between_units(topics: &[Vec<TailedRecord>]) -> (usize, usize) {
    let mut version_of_unit: BTreeMap<String, String> = BTreeMap::new();
    let mut changes = 0;
    for (topic, records) in topics.iter().enumerate() {
        let mut by_partition: BTreeMap<i32, Vec<&TailedRecord>> = BTreeMap::new();
        for r in records {
            by_partition.entry(r.partition).or_default().push(r);
        }
        for (partition, mut list) in by_partition {
            list.sort_by_key(|r| r.offset);
            let mut last: Option<(String, String)> = None;
            for r in list {
                let place = format!("topic {topic} partition {partition} offset {}", r.offset);
                let unit = only_header(r, COMMIT_UNIT_HEADER);
                let version = only_header(r, "plugin-version");
                assert!(unit != "<none>", "{place}: no commit-unit header");
                let seen = version_of_unit
                    .entry(unit.clone())
                    .or_insert_with(|| version.clone());
                assert_eq!(
                    *seen, version,
                    "{place}: commit unit {unit} holds outputs of two plugin versions"
                );
                if let Some((last_unit, last_version)) = &last
                    && *last_version != version
                {
                    assert_ne!(
                        *last_unit, unit,
                        "{place}: the version changed inside unit {unit}"
                    );
                    changes += 1;
                }
                last = Some((unit, version));
            }
        }
    }
    (version_of_unit.len(), changes)
}

/// How many records `topic` holds (the sum of its partitions' high watermarks).
pub fn topic_len(bootstrap: &str, topic: &str) -> i64 {
    let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "enricher-tests-watermarks")
        .create()
        .expect("consumer");
    // Not there yet (or the broker is busy) reads as empty; callers poll.
    partition_watermarks(&consumer, topic).map_or(0, |parts| {
        parts.iter().map(|(_, low, high)| high - low).sum()
    })
}

/// Wait until the `outputs` topics hold at least `expected` records.
pub fn wait_for_outputs(bootstrap: &str, outputs: &[&str], expected: usize, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let produced: i64 = outputs.iter().map(|t| topic_len(bootstrap, t)).sum();
        if produced >= expected as i64 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {produced} of {expected} outputs after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stream `events` onto the input topic (`chunk` records at a time, 20 ms
/// apart) while calling `swap(i)` every `swap_every`, so versions change while
/// records are in flight; then wait until the outputs hold `expected` records.
/// The first chunk goes alone, and swapping starts once the host answers it.
/// Returns how many times `swap` was called.
/// Where a test's stream runs: the broker, the input topic and the output topics.
pub struct Stream<'a> {
    pub bootstrap: &'a str,
    pub input: &'a str,
    pub outputs: &'a [&'a str],
}

pub fn feed_while_swapping(
    stream: &Stream<'_>,
    events: &[String],
    chunk: usize,
    expected: usize,
    swap_every: Duration,
    mut swap: impl FnMut(usize),
) -> usize {
    let Stream {
        bootstrap,
        input,
        outputs,
    } = *stream;
    let (first, rest) = events.split_at(chunk.min(events.len()));
    crate::kafka::produce_values(bootstrap, input, first);
    wait_for_outputs(bootstrap, outputs, 1, Duration::from_secs(120));
    let (b, t, rest, size) = (
        bootstrap.to_owned(),
        input.to_owned(),
        rest.to_vec(),
        chunk.max(1),
    );
    let producer = std::thread::spawn(move || {
        for piece in rest.chunks(size) {
            crate::kafka::produce_values(&b, &t, piece);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let mut calls = 0;
    while !producer.is_finished() {
        swap(calls);
        calls += 1;
        std::thread::sleep(swap_every);
    }
    producer.join().expect("producer thread");
    wait_for_outputs(bootstrap, outputs, expected, Duration::from_secs(180));
    calls
}

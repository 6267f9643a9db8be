//! Fixtures of the `claims sync` tests: a claims table to follow, `claims
//! sync` running in a thread, the changelog's records, and the changelog
//! applied into a fresh DuckDB file, to compare with the table (the SQL
//! client and the test server are `postgres`'s). The binary's tests in
//! host/tests include it by path, beside `postgres.rs` (both at their crate's root).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use enricher::claims_sync::{SyncError, SyncOptions, SyncProgress, SyncReport};
use enricher::config::KafkaConfig;

use crate::postgres::{ClaimText, Pg};

/// A claims table `name` with the columns a claims table has.
pub fn create_claims_table(pg: &Pg, name: &str) {
    pg.execute(&format!(
        "CREATE TABLE {name} (claim_id text PRIMARY KEY, member_id text NOT NULL, \
         claim_amount numeric(10,2) NOT NULL, claim_status text, created_date timestamp)"
    ));
}

/// `claims sync` running in a thread, as the binary runs it.
pub struct SyncRun {
    stop: Arc<AtomicBool>,
    pub progress: Arc<SyncProgress>,
    thread: Option<JoinHandle<Result<SyncReport, SyncError>>>,
}

impl SyncRun {
    /// Sync table `name` (slot and publication `name` too) to `topic` on `broker`.
    pub fn start(url: &str, name: &str, broker: &str, topic: &str) -> Self {
        let options = SyncOptions {
            from: url.to_owned(),
            table: Some(name.to_owned()),
            slot: name.to_owned(),
            publication: name.to_owned(),
            status_every: Some(Duration::from_secs(2)),
        };
        let kafka = at(broker);
        let topic = topic.to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(SyncProgress::new());
        let (flag, shared) = (Arc::clone(&stop), Arc::clone(&progress));
        let thread = std::thread::spawn(move || {
            enricher::claims_sync::run(&kafka, &topic, &options, &flag, shared)
        });
        Self {
            stop,
            progress,
            thread: Some(thread),
        }
    }

    /// Wait until the snapshot is published and the stream runs.
    pub fn wait_streaming(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.progress.status().streaming {
            let finished = self.thread.as_ref().is_none_or(|t| t.is_finished());
            assert!(!finished, "claims sync stopped before streaming");
            assert!(
                Instant::now() < deadline,
                "claims sync streaming in time: {:?}",
                self.progress.status()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop it as SIGTERM does and return its report.
    pub fn stop(mut self) -> SyncReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .expect("running")
            .join()
            .expect("no panic")
            .expect("a clean stop")
    }
}

impl Drop for SyncRun {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn at(broker: &str) -> KafkaConfig {
    KafkaConfig {
        bootstrap_servers: broker.to_owned(),
        ..KafkaConfig::default()
    }
}

/// The end offset of partition 0 of `topic` (on Tansu it counts batches, not records).
pub fn topic_end(broker: &str, topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker)
        .create()
        .expect("consumer");
    consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .expect("watermarks")
        .1
}

/// The records of `topic` (counted by reading them) and the key of the last one.
pub fn topic_records(broker: &str, topic: &str) -> (u64, Option<String>) {
    let options = enricher::kafka::TailOptions::default();
    let (mut n, mut last) = (0u64, None);
    let read = enricher::kafka::tail_topic(&at(broker), topic, &options, |r| {
        n += 1;
        last = r.key;
    });
    match read {
        Ok(_) => {}
        // Polled before `claims sync` made the topic (brokers that do not create topics on
        // a metadata request, like nisshi): nothing is on it yet.
        Err(enricher::kafka::KafkaRunError::NoSuchTopic(_)) => return (0, None),
        Err(e) => panic!("tail {topic}: {e:?}"),
    }
    (n, last.map(|k| String::from_utf8_lossy(&k).into_owned()))
}

/// Apply the whole changelog `topic` into a new DuckDB file in `dir`, as a
/// host bootstrapping from it does; the file's path once it is closed.
pub fn changelog_into_fresh_duckdb(
    broker: &str,
    topic: &str,
    dir: &Path,
    limit: Duration,
) -> PathBuf {
    let db = dir.join("fresh-from-changelog.duckdb");
    let mut config = enricher::config::Config::default();
    config.duckdb.url = db.display().to_string();
    config.kafka.bootstrap_servers = broker.to_owned();
    config.claims.changelog_topic = topic.to_owned();
    // Counted by reading them: some brokers' end offsets count batches, not records.
    let records = topic_records(broker, topic).0;
    let (lookup, applier) = enricher::app::open_changelog_lookup(&config)
        .expect("starts")
        .expect("the changelog exists");
    let deadline = Instant::now() + limit;
    loop {
        let status = lookup.changelog().expect("tracked");
        if status.applied + status.rejected >= records {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "applied the changelog in time: {status:?} of {records}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(applier);
    drop(lookup);
    db
}

/// Every claim of the DuckDB file at `db`.
pub fn duckdb_claims(db: &Path) -> BTreeMap<String, ClaimText> {
    let conn = duckdb::Connection::open(db).expect("open");
    let mut stmt = conn
        .prepare(
            "SELECT claim_id, member_id, claim_amount::VARCHAR, claim_status, \
             epoch_us(created_date)::VARCHAR FROM claims",
        )
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
            ))
        })
        .expect("query");
    rows.collect::<Result<_, _>>().expect("rows")
}

//! The changelog side of `claims sync`: a thread of its own with one
//! idempotent producer (`acks=all`, so per-partition order is kept across
//! retries). It takes steps (a committed transaction's records, or a chunk of
//! the snapshot) in order, hands them to the producer, and flushes whenever
//! nothing more is waiting (or enough is unflushed); only once a flush has
//! returned with no record refused does it report the steps durable, with
//! the WAL position they reach. The stream acknowledges nothing beyond that.
//! Any refusal or failed flush stops the thread: nothing more is reported
//! durable, and the run ends with the error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use tokio::sync::mpsc::{self, error::TryRecvError};

use super::SyncError;
use super::status::SyncProgress;
use crate::config::KafkaConfig;
use crate::kafka::{KafkaRunError, Refusals};

/// Steps waiting for the thread (backpressure on the stream beyond that); a
/// step holds up to a few thousand records.
const QUEUED_STEPS: usize = 16;
/// Records handed to the producer before a flush, at most.
const MAX_UNFLUSHED: u64 = 50_000;
/// How long a flush may take before the run gives up (and acknowledges nothing more).
const FLUSH_LIMIT: Duration = Duration::from_secs(60);

/// One changelog record: key = `claim_id`, value = the claim (`None`: a tombstone).
pub(super) struct Record {
    pub key: String,
    pub value: Option<Vec<u8>>,
    /// The Kafka timestamp: the commit time of its transaction (ms since the epoch).
    pub timestamp_ms: i64,
}

/// Records that become durable together (one or more whole transactions, or a snapshot chunk).
#[derive(Default)]
pub(super) struct Step {
    pub records: Vec<Record>,
    /// The WAL position reached once they are durable (0: none, a snapshot chunk).
    pub lsn: u64,
    /// The commit time of the last transaction (ms since the epoch), for the lag.
    pub commit_ms: i64,
    pub snapshot: bool,
}

/// The running producer thread.
pub(super) struct Sink {
    steps: Option<mpsc::Sender<Step>>,
    thread: Option<JoinHandle<Result<(), KafkaRunError>>>,
    sent: u64,
    durable: Arc<AtomicU64>,
}

impl Sink {
    pub(super) fn start(
        kafka: &KafkaConfig,
        topic: &str,
        progress: Arc<SyncProgress>,
    ) -> Result<Self, SyncError> {
        // The load producer's settings (every user property included), idempotent, all replicas.
        let mut config = crate::kafka::load_producer_config(kafka);
        config.set("enable.idempotence", "true").set("acks", "all");
        let producer: BaseProducer<Refusals> = config
            .create_with_context(Refusals::new("a claims changelog record"))
            .map_err(|e| KafkaRunError::Client(e.to_string()))?;
        let (steps, incoming) = mpsc::channel(QUEUED_STEPS);
        let durable = Arc::new(AtomicU64::new(0));
        let mut thread = SinkThread {
            producer,
            topic: topic.to_owned(),
            progress,
            durable: Arc::clone(&durable),
            unflushed: Vec::new(),
            unflushed_records: 0,
        };
        let thread = std::thread::Builder::new()
            .name("claims-sync-produce".into())
            .spawn(move || thread.run(incoming))
            .map_err(|e| SyncError::Setup(format!("starting the producer thread: {e}")))?;
        Ok(Self {
            steps: Some(steps),
            thread: Some(thread),
            sent: 0,
            durable,
        })
    }

    /// Queue `step` (waits while the queue is full). Fails when the thread stopped on an error.
    pub(super) async fn send(&mut self, step: Step) -> Result<(), SyncError> {
        let steps = self.steps.as_ref().ok_or_else(stopped)?;
        if steps.send(step).await.is_err() {
            return Err(self.failure());
        }
        self.sent += 1;
        Ok(())
    }

    /// Whether every step sent is durable.
    pub(super) fn all_durable(&self) -> bool {
        self.durable.load(Ordering::Acquire) >= self.sent
    }

    /// Wait until every step sent is durable.
    pub(super) async fn wait_durable(&mut self) -> Result<(), SyncError> {
        while !self.all_durable() {
            if self.thread.as_ref().is_none_or(|t| t.is_finished()) {
                return Err(self.failure());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Flush what is queued and stop the thread.
    pub(super) fn finish(mut self) -> Result<(), SyncError> {
        drop(self.steps.take());
        self.join()
    }

    fn failure(&mut self) -> SyncError {
        drop(self.steps.take());
        self.join().err().unwrap_or_else(stopped)
    }

    fn join(&mut self) -> Result<(), SyncError> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result.map_err(SyncError::from),
            Some(Err(_)) => Err(SyncError::Setup("the producer thread panicked".into())),
            None => Ok(()),
        }
    }
}

fn stopped() -> SyncError {
    SyncError::Setup("the producer thread has stopped".into())
}

struct SinkThread {
    producer: BaseProducer<Refusals>,
    topic: String,
    progress: Arc<SyncProgress>,
    /// Steps done, for [`Sink::all_durable`].
    durable: Arc<AtomicU64>,
    /// `(snapshot, records, deleted, lsn, commit_ms)` of the steps handed over since the last flush.
    unflushed: Vec<(bool, u64, u64, u64, i64)>,
    unflushed_records: u64,
}

impl SinkThread {
    fn run(&mut self, mut incoming: mpsc::Receiver<Step>) -> Result<(), KafkaRunError> {
        while let Some(step) = incoming.blocking_recv() {
            self.produce(step)?;
            // Take what else is waiting, then flush once for all of it.
            while self.unflushed_records < MAX_UNFLUSHED {
                match incoming.try_recv() {
                    Ok(step) => self.produce(step)?,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.flush()?;
        }
        self.flush()
    }

    fn produce(&mut self, step: Step) -> Result<(), KafkaRunError> {
        let topic = self.topic.as_str();
        let mut deleted = 0;
        for record in &step.records {
            let mut out: BaseRecord<'_, str, [u8]> = BaseRecord::to(topic)
                .key(record.key.as_str())
                .timestamp(record.timestamp_ms);
            match &record.value {
                Some(value) => out = out.payload(value.as_slice()),
                None => deleted += 1,
            }
            crate::kafka::send_when_room(&self.producer, out)
                .map_err(|e| KafkaRunError::GaveUp(format!("producing to {topic}: {e}")))?;
        }
        self.producer.poll(Duration::ZERO);
        let n = step.records.len() as u64;
        self.unflushed_records += n;
        self.unflushed
            .push((step.snapshot, n, deleted, step.lsn, step.commit_ms));
        Ok(())
    }

    /// Wait for every record handed over; then (and only then) report the steps durable.
    fn flush(&mut self) -> Result<(), KafkaRunError> {
        if self.unflushed.is_empty() {
            return Ok(());
        }
        if self.unflushed_records > 0 {
            self.producer
                .flush(FLUSH_LIMIT)
                .map_err(|e| KafkaRunError::GaveUp(format!("flushing to {}: {e}", self.topic)))?;
        }
        // Any refusal since the start: a refused record is never followed by an acknowledgement.
        let refused = self.producer.context().count();
        if refused > 0 {
            return Err(KafkaRunError::GaveUp(format!(
                "{refused} changelog record(s) were refused by the broker (see the warning \
                 above); nothing after the last acknowledged position is acknowledged"
            )));
        }
        let steps = self.unflushed.len() as u64;
        for (snapshot, records, deleted, lsn, commit_ms) in self.unflushed.drain(..) {
            self.progress
                .add_durable(snapshot, records, deleted, lsn, commit_ms);
        }
        self.unflushed_records = 0;
        self.durable.fetch_add(steps, Ordering::AcqRel);
        Ok(())
    }
}

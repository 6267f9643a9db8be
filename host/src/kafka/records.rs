//! Kafka messages in, routed records out: an input keeps its key, headers and
//! timestamp; an output keeps the key (so partitioning by key survives) and the
//! headers the pipeline stamped (status, plugin name and version) and the
//! input's timestamp.
//!
//! Producing waits when the producer's queue is full (backpressure: the loop
//! stops consuming instead of buffering), and a record too large for the
//! producer goes to `failed` as RECORD_TOO_LARGE instead of failing forever.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{
    BorrowedMessage, DeliveryResult, Header as KafkaHeader, Headers, Message, OwnedHeaders,
};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Timestamp};

use crate::bindings::{Header, InputRecord, Output};
use crate::clock::now_ms;
use enricher_model::Status;

use crate::pipeline::{Routed, host_failure};

/// Counts what the broker acknowledged or refused, per batch (a batch's
/// sequence number travels with each of its records as the delivery opaque),
/// so at-least-once commits a batch's offsets once all its outputs are in,
/// without stopping to flush.
#[derive(Default)]
pub struct DeliveryTracker {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    /// Nanoseconds spent waiting for room in a full producer queue.
    pub blocked_ns: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// Outputs not yet acknowledged, per batch.
    outstanding: Mutex<HashMap<usize, usize>>,
}

impl DeliveryTracker {
    /// The first delivery error since the last call, if any.
    pub fn take_error(&self) -> Option<String> {
        self.first_error.lock().ok().and_then(|mut e| e.take())
    }

    /// Batch `seq` is about to send `n` records.
    pub fn expect(&self, seq: usize, n: usize) {
        if let Ok(mut o) = self.outstanding.lock() {
            *o.entry(seq).or_insert(0) += n;
        }
    }

    /// Whether every record of batch `seq` has been answered by the broker.
    pub fn is_done(&self, seq: usize) -> bool {
        self.outstanding
            .lock()
            .map(|o| o.get(&seq).is_none_or(|n| *n == 0))
            .unwrap_or(false)
    }

    /// Forget batches (after a rewind, or once committed).
    pub fn forget(&self, seqs: impl IntoIterator<Item = usize>) {
        if let Ok(mut o) = self.outstanding.lock() {
            for seq in seqs {
                o.remove(&seq);
            }
        }
    }

    fn answered(&self, seq: usize) {
        if let Ok(mut o) = self.outstanding.lock()
            && let Some(n) = o.get_mut(&seq)
        {
            *n = n.saturating_sub(1);
        }
    }
}

impl ClientContext for DeliveryTracker {
    fn error(&self, error: KafkaError, reason: &str) {
        super::clients::log_client_error(error, reason);
    }
}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, batch: usize) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
        self.answered(batch);
    }
}

pub type EnricherProducer = ThreadedProducer<DeliveryTracker>;

/// A consumed message as the pipeline's input.
pub fn to_input(msg: &BorrowedMessage<'_>) -> InputRecord {
    let headers = msg
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| Header {
                    key: h.key.to_owned(),
                    value: h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let timestamp_ms = match msg.timestamp() {
        Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => Some(t),
        Timestamp::NotAvailable => None,
    };
    InputRecord {
        key: msg.key().map(<[u8]>::to_vec),
        value: msg.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        headers,
        timestamp_ms,
    }
}

/// Header naming the commit unit (transaction, or at-least-once batch) an
/// output was produced in: `<instance>/<n>`. Every output of one unit was made
/// by one plugin version.
pub const COMMIT_UNIT_HEADER: &str = enricher_model::header::COMMIT_UNIT;

/// Where routed records go.
pub struct Topics<'a> {
    pub enriched: &'a str,
    pub failed: &'a str,
    /// Late claims' retry topic (when retries are on).
    pub retry: &'a str,
}

/// Which of the [`Topics`] a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Enriched,
    Failed,
    Retry,
}

impl Target {
    /// Where the plugin (or host) routed `r`.
    pub fn of(r: &Routed) -> Self {
        if r.output == Output::Enriched {
            Self::Enriched
        } else {
            Self::Failed
        }
    }

    fn topic<'a>(self, topics: &Topics<'a>) -> &'a str {
        match self {
            Self::Enriched => topics.enriched,
            Self::Failed => topics.failed,
            Self::Retry => topics.retry,
        }
    }
}

/// Send every routed record of a batch. Blocks (serving delivery reports)
/// while the producer queue is full, asking `keep_waiting` every few
/// milliseconds (it beats the heartbeat; `false`, at shutdown, gives up the
/// batch with `KafkaError::Canceled`).
#[allow(clippy::too_many_arguments)]
pub fn produce_batch(
    producer: &EnricherProducer,
    topics: &Topics<'_>,
    inputs: &[InputRecord],
    routed: Vec<(Target, Routed)>,
    max_message_bytes: usize,
    batch: usize,
    unit: &str,
    keep_waiting: &mut dyn FnMut() -> bool,
) -> Result<u64, KafkaError> {
    let mut sent = 0;
    producer.context().expect(batch, routed.len());
    for (target, r) in routed {
        let size = r.value.len()
            + r.key.as_ref().map_or(0, Vec::len)
            + r.headers
                .iter()
                .map(|h| h.key.len() + h.value.len())
                .sum::<usize>();
        let (target, r) = if size + 512 > max_message_bytes {
            let why = format!(
                "output record of {size} bytes exceeds the producer's message.max.bytes {max_message_bytes}"
            );
            let failure = host_failure(
                r.input_index,
                &inputs[r.input_index],
                Status::RecordTooLarge,
                &why,
                now_ms(),
            );
            (Target::Failed, failure)
        } else {
            (target, r)
        };
        send_one(
            producer,
            target.topic(topics),
            &r,
            inputs[r.input_index].timestamp_ms,
            batch,
            unit,
            keep_waiting,
        )?;
        sent += 1;
    }
    Ok(sent)
}

/// Outputs keep their input's timestamp (event time), as Kafka Streams does,
/// so "record timestamp → visible downstream" measures the whole path.
fn send_one(
    producer: &EnricherProducer,
    topic: &str,
    r: &Routed,
    timestamp_ms: Option<i64>,
    batch: usize,
    unit: &str,
    keep_waiting: &mut dyn FnMut() -> bool,
) -> Result<(), KafkaError> {
    let mut headers = OwnedHeaders::new_with_capacity(r.headers.len() + 1);
    // The commit unit is the host's alone (a plugin's own copy is dropped).
    for h in r.headers.iter().filter(|h| h.key != COMMIT_UNIT_HEADER) {
        headers = headers.insert(KafkaHeader {
            key: &h.key,
            value: Some(&h.value),
        });
    }
    headers = headers.insert(KafkaHeader {
        key: COMMIT_UNIT_HEADER,
        value: Some(unit.as_bytes()),
    });
    let mut record: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(topic, batch)
        .payload(&r.value[..])
        .headers(headers);
    if let Some(key) = &r.key {
        record = record.key(&key[..]);
    }
    if let Some(ts) = timestamp_ms {
        record = record.timestamp(ts);
    }
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                // Backpressure: wait for the broker to acknowledge and make room.
                if !keep_waiting() {
                    return Err(KafkaError::Canceled);
                }
                let pause = Duration::from_millis(2);
                std::thread::sleep(pause);
                let ns = pause.as_nanos() as u64;
                producer
                    .context()
                    .blocked_ns
                    .fetch_add(ns, Ordering::Relaxed);
                record = back;
            }
            Err((e, _)) => return Err(e),
        }
    }
}

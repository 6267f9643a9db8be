//! Reading a topic back: every partition from the beginning, as a
//! `read_committed` consumer outside any group (nothing is committed). Used by
//! `enricher topic tail` and by the tests; works with any Kafka-protocol broker.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaRunError;
use super::clients::{log_client_error, tail_config};
use crate::config::KafkaConfig;

/// The tail consumer's context: end-of-partition events are expected.
struct TailContext;

impl rdkafka::ClientContext for TailContext {
    fn error(&self, error: KafkaError, reason: &str) {
        log_client_error(error, reason);
    }
}

impl rdkafka::consumer::ConsumerContext for TailContext {}

/// One record read from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailedRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub timestamp_ms: Option<i64>,
}

impl TailedRecord {
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// Every value of header `key`, in order (a name may repeat).
    pub fn header_values(&self, key: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

/// Options of a read.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// Keep reading after the end (until `max` records or `idle_stop`).
    pub follow: bool,
    pub max: Option<usize>,
    /// With `follow`, stop after this long without a record.
    pub idle_stop: Option<Duration>,
    /// `read_committed` (default) or `read_uncommitted`.
    pub read_committed: bool,
}

impl Default for TailOptions {
    fn default() -> Self {
        Self {
            follow: false,
            max: None,
            idle_stop: None,
            read_committed: true,
        }
    }
}

/// Read `topic` from the beginning; `on_record` sees each record. Without
/// `follow`, stops once every partition has been read to its end.
pub fn tail_topic(
    config: &KafkaConfig,
    topic: &str,
    options: &TailOptions,
    mut on_record: impl FnMut(TailedRecord),
) -> Result<usize, KafkaRunError> {
    let consumer: BaseConsumer<TailContext> = tail_config(config, options.read_committed)
        .create_with_context(TailContext)
        .map_err(|e| KafkaRunError::Client(e.to_string()))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| KafkaRunError::GaveUp(format!("metadata of {topic}: {e}")))?;
    let mut tpl = TopicPartitionList::new();
    let mut open: BTreeSet<i32> = BTreeSet::new();
    for p in metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions())
    {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .map_err(|e| KafkaRunError::Client(e.to_string()))?;
        open.insert(p.id());
    }
    if open.is_empty() {
        return Err(KafkaRunError::NoSuchTopic(topic.to_owned()));
    }
    consumer
        .assign(&tpl)
        .map_err(|e| KafkaRunError::Client(e.to_string()))?;
    let mut seen = 0usize;
    let mut last_record = Instant::now();
    loop {
        if options.max.is_some_and(|m| seen >= m) || (!options.follow && open.is_empty()) {
            break;
        }
        if options.follow
            && options
                .idle_stop
                .is_some_and(|idle| last_record.elapsed() >= idle)
        {
            break;
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(msg)) => {
                seen += 1;
                last_record = Instant::now();
                on_record(TailedRecord {
                    partition: msg.partition(),
                    offset: msg.offset(),
                    key: msg.key().map(<[u8]>::to_vec),
                    value: msg.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    headers: msg
                        .headers()
                        .map(|hs| {
                            hs.iter()
                                .map(|h| {
                                    (
                                        h.key.to_owned(),
                                        h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    timestamp_ms: msg.timestamp().to_millis(),
                });
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => return Err(KafkaRunError::GaveUp(format!("reading {topic}: {e}"))),
        }
    }
    Ok(seen)
}

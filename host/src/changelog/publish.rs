//! `enricher claims publish` (and `POST /v1/claims` on a Kafka-mode host):
//! claims (or tombstones for their ids) onto the changelog topic, keyed by
//! `claim_id`, every write acknowledged by all replicas; the topic is created
//! compacted when it does not exist (by a publisher, or by a starting host:
//! [`create_topic`]). A producer that went fatal (a broker restarted without
//! its state answers `UnknownProducerId`) is replaced before the next send.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::codec::encode;
use crate::admin::{ClaimsAdmin, ClaimsReport};
use crate::claims_load::Claim;
use crate::config::KafkaConfig;
use crate::deploy::AdminError;
use crate::kafka::topics::create_compacted_topic;
use crate::kafka::{KafkaRunError, Refusals};

/// Largest changelog record (a claim is a few hundred bytes).
const MAX_RECORD_BYTES: usize = 1 << 20;

/// A producer of one changelog topic (created compacted if missing).
pub struct Publisher {
    /// Replaced when it goes fatal.
    producer: RwLock<Arc<BaseProducer<Refusals>>>,
    /// The last flush timed out: the producer may be stuck (a broker
    /// restarted without its state); the next send makes a new one.
    stale: AtomicBool,
    kafka: KafkaConfig,
    topic: String,
}

fn make_producer(kafka: &KafkaConfig) -> Result<BaseProducer<Refusals>, KafkaRunError> {
    // The load producer's settings (every user property included), waiting for all replicas.
    let mut config = crate::kafka::load_producer_config(kafka);
    config.set("acks", "all");
    config
        .create_with_context(Refusals::new("a claims changelog record"))
        .map_err(|e| KafkaRunError::Client(e.to_string()))
}

/// Create the changelog `topic` (compacted, one partition, the broker's
/// replication) unless it exists: what a publisher and a starting host do.
pub fn create_topic(kafka: &KafkaConfig, topic: &str) -> Result<(), KafkaRunError> {
    let shape = crate::config::TopicShape {
        partitions: 1,
        replication: -1, // the broker's default
    };
    create_compacted_topic(kafka, topic, shape, MAX_RECORD_BYTES)
}

impl Publisher {
    pub fn connect(kafka: &KafkaConfig, topic: &str) -> Result<Self, KafkaRunError> {
        create_topic(kafka, topic)?;
        Ok(Self {
            producer: RwLock::new(Arc::new(make_producer(kafka)?)),
            stale: AtomicBool::new(false),
            kafka: kafka.clone(),
            topic: topic.to_owned(),
        })
    }

    /// The producer, replaced first if it went fatal.
    fn producer(&self) -> Result<Arc<BaseProducer<Refusals>>, KafkaRunError> {
        let current = Arc::clone(
            &self
                .producer
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let why = match current.client().fatal_error() {
            Some((code, why)) => format!("is fatal ({code:?}: {why})"),
            None if self.stale.swap(false, Ordering::Relaxed) => {
                "did not deliver within its flush timeout".to_owned()
            }
            None => return Ok(current),
        };
        tracing::warn!(
            topic = %self.topic,
            "the claims changelog producer {why}; making a new one"
        );
        let fresh = Arc::new(make_producer(&self.kafka)?);
        *self
            .producer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::clone(&fresh);
        Ok(fresh)
    }

    /// The topic it publishes to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Publish `claims` (or, with `delete`, a tombstone for each id) and wait
    /// for every acknowledgement; returns how many were sent. Fails when any
    /// was refused (during this call, or one made at the same time).
    pub fn send(&self, claims: &[Claim], delete: bool) -> Result<u64, KafkaRunError> {
        self.send_counted(claims, delete, &AtomicU64::new(0))
    }

    /// [`Publisher::send`], adding each record handed to the producer to `sent`.
    pub fn send_counted(
        &self,
        claims: &[Claim],
        delete: bool,
        sent: &AtomicU64,
    ) -> Result<u64, KafkaRunError> {
        let topic = self.topic.as_str();
        let producer = self.producer()?;
        let refused_before = producer.context().count();
        for claim in claims {
            let value = (!delete).then(|| encode(claim));
            let mut record: BaseRecord<'_, str, [u8]> =
                BaseRecord::to(topic).key(claim.claim_id.as_str());
            if let Some(value) = &value {
                record = record.payload(value.as_slice());
            }
            crate::kafka::send_when_room(&producer, record)
                .map_err(|e| KafkaRunError::GaveUp(format!("producing to {topic}: {e}")))?;
            producer.poll(Duration::ZERO);
            sent.fetch_add(1, Ordering::Relaxed);
        }
        producer.flush(Duration::from_secs(30)).map_err(|e| {
            self.stale.store(true, Ordering::Relaxed);
            KafkaRunError::GaveUp(format!(
                "flushing to {topic}: {e} (the next try uses a new producer)"
            ))
        })?;
        if let Some((code, why)) = producer.client().fatal_error() {
            return Err(KafkaRunError::GaveUp(format!(
                "producing to {topic}: the producer is fatal ({code:?}: {why}); the next try uses a new one"
            )));
        }
        match producer.context().count() - refused_before {
            0 => Ok(claims.len() as u64),
            n => Err(KafkaRunError::GaveUp(format!(
                "{n} record(s) were refused by the broker (see the warning above); \
                 the others of the {} were published",
                claims.len()
            ))),
        }
    }
}

/// A Kafka-mode host's `POST /v1/claims`: the claims go to the changelog, so
/// every host (this one too) applies them, within about a second.
impl ClaimsAdmin for Publisher {
    fn submit(&self, claims: Vec<Claim>, delete: bool) -> Result<ClaimsReport, AdminError> {
        let rows = self
            .send(&claims, delete)
            .map_err(|e| AdminError::Unavailable(e.to_string()))?;
        Ok(ClaimsReport {
            rows,
            delete,
            applied_to: format!("changelog {}", self.topic),
            ..ClaimsReport::default()
        })
    }
}

/// Publish `claims` (or, with `delete`, a tombstone for each id) to `topic`;
/// returns how many were acknowledged. Fails when any was refused.
pub fn publish(
    kafka: &KafkaConfig,
    topic: &str,
    claims: &[Claim],
    delete: bool,
) -> Result<u64, KafkaRunError> {
    Publisher::connect(kafka, topic)?.send(claims, delete)
}

//! Creating topics (`enricher topic create`, tests, demos) through the Kafka
//! admin API, so it works against any broker. An existing topic is fine.
//! The retry topic of late claims is created at start when missing, shaped
//! like the input topic.

use std::time::Duration;

use futures_executor::block_on;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaRunError;
use super::clients::admin_config;
use crate::config::{KafkaConfig, TopicShape};

/// Create `names` with `partitions` partitions each (replication factor 1
/// unless `replication` says otherwise); topics that exist already are kept.
pub fn create_topics(
    config: &KafkaConfig,
    names: &[&str],
    partitions: i32,
    replication: i32,
) -> Result<(), KafkaRunError> {
    let new: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(replication)))
        .collect();
    match create(config, &new)?.into_iter().next() {
        None => Ok(()),
        Some((topic, code)) => Err(KafkaRunError::GaveUp(format!("creating {topic}: {code}"))),
    }
}

/// Create `name` as a compacted topic (the fleet's plugin topic), allowing
/// records of `max_bytes`. A broker that refuses topic settings gets a plain
/// topic: readers take the latest record of each key anyway.
pub fn create_compacted_topic(
    config: &KafkaConfig,
    name: &str,
    shape: TopicShape,
    max_bytes: usize,
) -> Result<(), KafkaRunError> {
    let max_bytes = max_bytes.to_string();
    let topic = NewTopic::new(
        name,
        shape.partitions,
        TopicReplication::Fixed(shape.replication),
    )
    .set("cleanup.policy", "compact")
    .set("max.message.bytes", &max_bytes);
    match create(config, &[topic])?.into_iter().next() {
        None => Ok(()),
        Some((_, code)) => {
            tracing::warn!(
                topic = name,
                "broker refused a compacted topic ({code}); creating a plain one"
            );
            create_topics(config, &[name], shape.partitions, shape.replication)
        }
    }
}

/// Make sure `name` exists; if not, create it with as many partitions (and
/// replicas) as `like` has (the retry topic, like the input topic).
pub(crate) fn ensure_topic_like<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    config: &KafkaConfig,
    name: &str,
    like: &str,
) -> Result<(), KafkaRunError> {
    let shape = |topic: &str| -> Result<Option<(i32, i32)>, KafkaRunError> {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .map_err(|e| KafkaRunError::GaveUp(format!("metadata of {topic}: {e}")))?;
        Ok(metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && !t.partitions().is_empty())
            .map(|t| {
                let replicas = t.partitions()[0].replicas().len().max(1);
                (t.partitions().len() as i32, replicas as i32)
            }))
    };
    if shape(name)?.is_some() {
        return Ok(());
    }
    let (partitions, replicas) = shape(like)?.unwrap_or((1, 1));
    tracing::info!(topic = name, partitions, "creating the retry topic");
    create_topics(config, &[name], partitions, replicas)
}

/// Ask the broker to create `topics`; returns the ones it refused (an
/// existing topic is not a refusal).
fn create(
    config: &KafkaConfig,
    topics: &[NewTopic<'_>],
) -> Result<Vec<(String, RDKafkaErrorCode)>, KafkaRunError> {
    let admin: AdminClient<DefaultClientContext> = admin_config(config)
        .create()
        .map_err(|e| KafkaRunError::Client(e.to_string()))?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    // librdkafka's own threads complete the admin futures: no async runtime is needed.
    let results = block_on(admin.create_topics(topics, &options))
        .map_err(|e| KafkaRunError::GaveUp(format!("create topics: {e}")))?;
    Ok(results
        .into_iter()
        .filter_map(|r| match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => None,
            Err(refused) => Some(refused),
        })
        .collect())
}

//! Keeping the fleet's plugin topic while a host follows it (on the
//! `plugin-topic` thread, never the stream's): every few seconds it asks
//! where the topic ends. A topic gone from the broker (restarted without its
//! data) is recreated compacted, this host's running version published as
//! the new baseline (the deploy history went with the topic), and read again
//! from its start; a topic that ends below this host's position (recreated
//! by another host) is read again from its start. What cannot be done is
//! kept as the problem `/readyz` names ([`FleetWatcher::problem_handle`]).
//!
//! Also here, for the watcher's start as well: reading the topic from its
//! start, and publishing this host's version as the fleet's baseline.
//!
//! [`FleetWatcher::problem_handle`]: super::FleetWatcher::problem_handle

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::deployer::Deployer;
use super::fleet::Fleet;
use crate::config::{KafkaConfig, TopicShape};
use crate::kafka::clients::MAX_PLUGIN_BYTES;
use crate::kafka::topics::create_compacted_topic;
use crate::kafka::{KafkaRunError, partition_watermarks};

/// How often the topic is looked at.
const LOOK_EVERY: Duration = Duration::from_secs(5);
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the fleet topic cannot be followed now (shared with readiness).
pub(super) type Problem = Arc<Mutex<Option<String>>>;

pub(super) struct TopicKeeper {
    /// Where the baseline is published (the fleet topic's publisher).
    publisher: Arc<dyn Fleet>,
    topic: String,
    config: KafkaConfig,
    shape: TopicShape,
    deployer: Arc<Deployer>,
    looked: Instant,
    problem: Problem,
}

impl TopicKeeper {
    pub(super) fn new(
        publisher: Arc<dyn Fleet>,
        (config, shape): (&KafkaConfig, TopicShape),
        deployer: Arc<Deployer>,
        problem: Problem,
    ) -> Self {
        Self {
            topic: publisher.topic().unwrap_or_default().to_owned(),
            config: config.clone(),
            shape,
            publisher,
            deployer,
            looked: Instant::now(),
            problem,
        }
    }

    fn set_problem(&self, why: Option<String>) {
        *self
            .problem
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = why;
    }

    /// Called each turn of the thread: cheap unless a look is due.
    pub(super) fn look(&mut self, consumer: &BaseConsumer) {
        if self.looked.elapsed() < LOOK_EVERY {
            return;
        }
        self.looked = Instant::now();
        let topic = self.topic.clone();
        match consumer.fetch_watermarks(&topic, 0, ASK_TIMEOUT) {
            Ok((_, high)) => {
                let at = consumer.position().ok().and_then(|p| {
                    p.find_partition(&topic, 0)
                        .and_then(|e| e.offset().to_raw())
                });
                if at.is_some_and(|at| at > high) {
                    tracing::warn!(
                        topic,
                        "plugin topic {topic} ends below this host's position (recreated?): \
                         reading it again from its start"
                    );
                    self.read_again(consumer, &topic);
                } else {
                    self.set_problem(None);
                }
            }
            Err(e) => self.cannot_read(consumer, &topic, &e.to_string()),
        }
    }

    fn cannot_read(&self, consumer: &BaseConsumer, topic: &str, why: &str) {
        let exists = consumer.fetch_metadata(Some(topic), ASK_TIMEOUT).map(|m| {
            m.topics()
                .iter()
                .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        });
        if !matches!(exists, Ok(false)) {
            self.set_problem(Some(format!("cannot read plugin topic {topic}: {why}")));
            return;
        }
        match create_compacted_topic(&self.config, topic, self.shape, MAX_PLUGIN_BYTES) {
            Ok(()) => {
                tracing::warn!(
                    topic,
                    version = %self.deployer.desired_key(),
                    "plugin topic {topic} was gone from the broker (restarted without its data?): \
                     recreated it with this host's running version as the baseline (the deploy \
                     history went with the topic)"
                );
                publish_baseline(&self.deployer, self.publisher.as_ref());
                self.read_again(consumer, topic);
            }
            Err(e) => {
                let why = format!(
                    "plugin topic {topic} is gone from the broker and cannot be recreated: {e}"
                );
                tracing::warn!(topic, "{why}");
                self.set_problem(Some(why));
            }
        }
    }

    fn read_again(&self, consumer: &BaseConsumer, topic: &str) {
        match assign_all(consumer, topic) {
            Ok(_) => self.set_problem(None),
            Err(e) => self.set_problem(Some(format!("reading plugin topic {topic} again: {e}"))),
        }
    }
}

/// Assign every partition of `topic` from the beginning; returns (partition, end offset).
pub(super) fn assign_all(
    consumer: &BaseConsumer,
    topic: &str,
) -> Result<Vec<(i32, i64)>, KafkaRunError> {
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for (p, low, high) in partition_watermarks(consumer, topic)? {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| KafkaRunError::Client(e.to_string()))?;
        if high > low {
            ends.push((p, high));
        }
    }
    consumer
        .assign(&tpl)
        .map_err(|e| KafkaRunError::Client(format!("assign {topic}: {e}")))?;
    Ok(ends)
}

/// The first host of a fleet makes its own plugin the fleet's baseline, so a
/// rollback to it works on every host.
pub(super) fn publish_baseline(deployer: &Deployer, publisher: &dyn Fleet) {
    let key = deployer.desired_key();
    let Some((bytes, signature)) = deployer.bytes_and_signature(&key) else {
        return;
    };
    let published = publisher
        .publish_plugin(&key, None, &bytes, signature.as_deref())
        .and_then(|()| {
            publisher.publish_active(
                std::slice::from_ref(&key),
                "baseline: first host of the fleet",
            )
        });
    if let Err(e) = published {
        tracing::warn!("publishing the baseline plugin {key}: {e}");
    }
}

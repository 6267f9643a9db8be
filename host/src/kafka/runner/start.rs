//! Opening a run: the consumer and producer, the delivery mode, the end
//! marks of `--stop-at-end`, and the subscription (input topic, and with
//! late claims on the retry topic as well).

use std::sync::Arc;
use std::time::Instant;

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::{KafkaRunReport, Loop, RunOptions, Source};
use crate::config::{DeliveryMode, KafkaConfig};
use crate::health::Health;
use crate::kafka::KafkaRunError;
use crate::kafka::broker_watch::BrokerWatch;
use crate::kafka::clients::{consumer_config, max_message_bytes, producer_config};
use crate::kafka::delivery::for_mode;
use crate::kafka::faults::Faults;
use crate::kafka::group::GroupContext;
use crate::kafka::group_watch::GroupWatch;
use crate::kafka::held::Held;
use crate::kafka::progress::EndMarks;
use crate::kafka::records::{DeliveryTracker, EnricherProducer};
use crate::kafka::topics::ensure_topic_like;
use crate::observe::StreamMeter;

impl<'a> Loop<'a> {
    /// Create the clients, prepare the delivery mode and subscribe.
    pub(super) fn start(
        config: &'a KafkaConfig,
        options: RunOptions,
        source: Source,
        health: &Health,
        meter: Arc<StreamMeter>,
    ) -> Result<Self, KafkaRunError> {
        let started = Instant::now();
        let consumer: BaseConsumer<GroupContext> = consumer_config(config)
            .create_with_context(GroupContext::default())
            .map_err(|e| KafkaRunError::Client(e.to_string()))?;
        let watch = Arc::new(
            BrokerWatch::new(
                &config.bootstrap_servers,
                config.stall_warning,
                health.clone(),
            )
            .with_limits(config.delivery_timeout, &config.group_id),
        );
        consumer.context().watch_brokers(Arc::clone(&watch));
        let producer: EnricherProducer = producer_config(config)
            .create_with_context(DeliveryTracker::default())
            .map_err(|e| KafkaRunError::Client(e.to_string()))?;
        let delivery = for_mode(config.delivery, Arc::new(producer), Arc::clone(&watch));
        consumer.context().attach(Arc::clone(&delivery));
        consumer.context().report_lag_to(Arc::clone(&meter));
        delivery.init()?;
        let input_topic = match &source {
            Source::Stream(_) => config.payment_events_topic.clone(),
            Source::Redrive(_) => config.failed_payments_topic.clone(),
        };
        let end = if options.stop_at_end {
            Some(EndMarks::capture(config, &input_topic)?)
        } else {
            None
        };
        let mut topics = vec![input_topic.as_str()];
        if let Source::Stream(Some(late)) = &source {
            ensure_topic_like(&consumer, config, &late.topic, &input_topic)?;
            topics.push(late.topic.as_str());
        }
        consumer
            .subscribe(&topics)
            .map_err(|e| KafkaRunError::Client(format!("subscribe to {topics:?}: {e}")))?;
        tracing::info!(
            topics = ?topics,
            group = %config.group_id,
            group_instance_id = ?config.group_instance_id(),
            delivery = ?config.delivery,
            "consuming"
        );
        // Management work beside the stream: missing topics, foreign members.
        let group_watch = match &source {
            Source::Stream(_) => GroupWatch::start(
                config,
                topics.iter().map(|t| (*t).to_owned()).collect(),
                health.clone(),
                Arc::clone(&meter),
            ),
            Source::Redrive(_) => None,
        };
        let seen_generation = delivery.generation();
        let batch_size = options.batch_size;
        Ok(Self {
            consumer,
            delivery,
            config,
            options,
            source,
            input_topic,
            held: Held::default(),
            held_generation: seen_generation,
            end,
            max_bytes: max_message_bytes(config),
            instance: instance_tag(config),
            batch: Vec::with_capacity(batch_size),
            positions: Vec::with_capacity(batch_size),
            last_commit: Instant::now(),
            since_commit: 0,
            seen_generation,
            report: KafkaRunReport::default(),
            started,
            faults: Faults::new(health.clone(), watch, &config.group_id),
            _group_watch: group_watch,
            abandoned: false,
            last_progress: Instant::now(),
            meter,
        })
    }
}

/// Names this run in commit-unit headers: the transactional id (or, in
/// at-least-once mode, the group), the process id and the start time, so units
/// of a restarted instance (or of another in the same process) never collide.
fn instance_tag(config: &KafkaConfig) -> String {
    let base = match config.delivery {
        DeliveryMode::ExactlyOnce => config.transactional_id(),
        DeliveryMode::AtLeastOnce => config.group_id.clone(),
    };
    let started_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() % 1_000_000_000);
    format!("{base}-{}-{started_us}", std::process::id())
}

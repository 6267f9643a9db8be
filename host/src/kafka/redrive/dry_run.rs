//! `enricher redrive --dry-run`: what a redrive would take, from where its
//! group stands (committed offsets, or the beginning) to the topic's end,
//! counted by reason. Reads with the group's name but outside the group
//! (assigned partitions, no commit), so nothing moves.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use super::{RedriveCounts, RedriveFilter, RedriveReport, Redriven, failure_to_input};
use crate::config::KafkaConfig;
use crate::kafka::KafkaRunError;
use crate::kafka::clients::consumer_config;
use crate::kafka::partition_ends;
use crate::kafka::records::to_input;

const TIMEOUT: Duration = Duration::from_secs(10);
/// A dry run that sees no progress for this long stops with what it has.
const STALL: Duration = Duration::from_secs(30);

/// Count what `redrive` would take from the host's failed topic, from where its group stands.
pub fn dry_run(host: &KafkaConfig, filter: &RedriveFilter) -> Result<RedriveReport, KafkaRunError> {
    let config = super::redrive_config(host, filter);
    let topic = config.failed_payments_topic.as_str();
    let consumer: BaseConsumer = consumer_config(&config)
        .create()
        .map_err(|e| KafkaRunError::Client(e.to_string()))?;
    // The ends confirmed by reading: a broker's ListOffsets may stop a batch short (Tansu).
    let marks = partition_ends(&config, topic)?;
    let mut tpl = TopicPartitionList::new();
    for (p, _, _) in &marks {
        tpl.add_partition(topic, *p);
    }
    let committed = consumer
        .committed_offsets(tpl, TIMEOUT)
        .map_err(|e| KafkaRunError::GaveUp(format!("committed offsets of {topic}: {e}")))?;
    let mut start = TopicPartitionList::new();
    let mut end: BTreeMap<i32, i64> = BTreeMap::new();
    for (p, _, high) in &marks {
        let from = committed
            .find_partition(topic, *p)
            .map(|e| e.offset())
            .filter(|o| matches!(o, Offset::Offset(_)))
            .unwrap_or(Offset::Beginning);
        let at = match from {
            Offset::Offset(n) => n,
            _ => 0,
        };
        if at < *high {
            end.insert(*p, *high);
        }
        start
            .add_partition_offset(topic, *p, from)
            .map_err(|e| KafkaRunError::Fatal(format!("offset list: {e}")))?;
    }
    consumer
        .assign(&start)
        .map_err(|e| KafkaRunError::Client(format!("assign {topic}: {e}")))?;
    let mut report = RedriveCounts::default();
    let mut consumed = 0;
    let mut last_progress = Instant::now();
    while !end.is_empty() && last_progress.elapsed() < STALL {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(msg)) => {
                last_progress = Instant::now();
                use rdkafka::message::Message;
                let (p, offset) = (msg.partition(), msg.offset());
                consumed += 1;
                match failure_to_input(to_input(&msg), filter) {
                    Redriven::Input { reason, .. } => {
                        report.by_reason.entry(reason).or_default().redriven += 1;
                    }
                    Redriven::PassedOver => report.passed_over += 1,
                    Redriven::Unusable(why) => {
                        *report.not_redrivable.entry(why).or_default() += 1;
                    }
                }
                if end.get(&p).is_some_and(|high| offset + 1 >= *high) {
                    end.remove(&p);
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                end.remove(&p);
            }
            Some(Err(e)) => tracing::warn!("dry run: {e}"),
            None => {}
        }
    }
    let mut report = RedriveReport::new(Default::default(), report);
    report.run.consumed = consumed;
    Ok(report)
}

//! The applied lag of the claims changelog (records between what is applied
//! and the topic's end, and for how long this host has not been caught up),
//! and what happens when the topic cannot be read: the reason is published
//! (`read_error`: `/readyz` and the status line say so instead of "lag 0");
//! a topic gone from the broker (restarted without its data) is recreated,
//! every few seconds until that works; and a topic that ends below the
//! offsets applied (recreated) is read again from its start, so claims
//! published to the new topic are never passed over.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

use super::ApplyLoop;
use crate::changelog::create_topic;

/// How long one question to the broker may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a topic that cannot be read is looked for (and recreated when gone).
const LOOK_EVERY: Duration = Duration::from_secs(5);

impl ApplyLoop {
    /// Records between what is applied and the topic's end, and for how long
    /// this host has not been caught up.
    pub(super) fn update_lag(&mut self) {
        let mut behind = 0u64;
        let mut starts_over = Vec::new();
        let positions: Vec<(i32, i64)> = self.next.iter().map(|(&p, &o)| (p, o)).collect();
        for (partition, next) in positions {
            match self
                .consumer
                .fetch_watermarks(&self.topic, partition, ASK_TIMEOUT)
            {
                Ok((low, high)) if high < next => starts_over.push((partition, low)),
                Ok((low, high)) => {
                    behind += u64::try_from(high - next.max(low)).unwrap_or(0);
                    if !self.caught_up.load(Ordering::Relaxed) && next.max(low) >= high {
                        self.end_at_start.insert(partition, next);
                    }
                }
                Err(e) => {
                    self.cannot_read(&e.to_string());
                    return;
                }
            }
        }
        if !starts_over.is_empty() {
            self.read_again(&starts_over);
            return;
        }
        self.check_caught_up();
        if behind == 0 {
            self.last_caught_up = Instant::now();
        }
        let seconds = if behind == 0 {
            0.0
        } else {
            self.last_caught_up.elapsed().as_secs_f64()
        };
        self.looked_for_topic = None;
        self.progress.update(|s| {
            s.lag_records = behind;
            s.lag_seconds = seconds;
            s.read_error = None;
        });
    }

    /// The topic's end cannot be asked: say why; if the topic is gone,
    /// recreate it (every few seconds until that works).
    fn cannot_read(&mut self, why: &str) {
        let topic = self.topic.clone();
        let mut error = format!("cannot read claims changelog {topic}: {why}");
        if self
            .looked_for_topic
            .is_none_or(|at| at.elapsed() >= LOOK_EVERY)
        {
            self.looked_for_topic = Some(Instant::now());
            let exists = self
                .consumer
                .fetch_metadata(Some(&topic), ASK_TIMEOUT)
                .map(|m| {
                    m.topics().iter().any(|t| {
                        t.name() == topic && t.error().is_none() && !t.partitions().is_empty()
                    })
                });
            if let Ok(false) = exists {
                match create_topic(&self.kafka, &topic) {
                    Ok(()) => tracing::warn!(
                        topic,
                        "claims changelog {topic} was gone from the broker (restarted without its \
                         data?): recreated it; claims published from now on are applied"
                    ),
                    Err(e) => {
                        error = format!(
                            "claims changelog {topic} is gone from the broker and cannot be \
                             recreated: {e}"
                        );
                        tracing::warn!(topic, "{error}");
                    }
                }
            }
        }
        self.progress.update(|s| s.read_error = Some(error));
    }

    /// Partitions that end below the offsets applied (the topic was
    /// recreated): read them again from their start (`low`).
    fn read_again(&mut self, starts_over: &[(i32, i64)]) {
        tracing::warn!(
            topic = %self.topic,
            partitions = ?starts_over,
            "claims changelog {} ends below the offsets applied (recreated?): reading it again \
             from its start",
            self.topic
        );
        for &(partition, low) in starts_over {
            self.next.insert(partition, low);
        }
        let mut assignment = TopicPartitionList::new();
        for (&partition, &next) in &self.next {
            if let Err(e) =
                assignment.add_partition_offset(&self.topic, partition, Offset::Offset(next))
            {
                tracing::warn!(topic = %self.topic, partition, "{e}");
            }
        }
        if let Err(e) = self.consumer.assign(&assignment) {
            let why = format!("assigning {} again: {e}", self.topic);
            self.progress.update(|s| s.read_error = Some(why));
        }
    }
}

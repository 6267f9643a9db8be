//! The stream consumer's context: logs client errors and commits (or aborts)
//! through the delivery mode before partitions are revoked, so a rebalance
//! never hands another member inputs whose outputs are in flight here; and
//! feeds librdkafka's statistics and errors to the [`BrokerWatch`].

use std::sync::{Arc, OnceLock};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;

use rdkafka::types::RDKafkaErrorCode;

use super::broker_watch::{ANSWER_WINDOW, BrokerWatch};
use super::clients::log_client_error;
use super::delivery::Delivery;
use crate::observe::StreamMeter;

/// The consumer's context: commits (or aborts) before partitions are revoked.
#[derive(Default)]
pub(crate) struct GroupContext {
    delivery: OnceLock<Arc<dyn Delivery<GroupContext>>>,
    /// Broker reachability, from this consumer's statistics and errors.
    watch: OnceLock<Arc<BrokerWatch>>,
    /// Where the consumer's statistics put the lag of each assigned partition.
    meter: OnceLock<Arc<StreamMeter>>,
}

impl GroupContext {
    /// Revocations commit through `delivery` from now on.
    pub(crate) fn attach(&self, delivery: Arc<dyn Delivery<GroupContext>>) {
        let _ = self.delivery.set(delivery);
    }

    /// Statistics and broker errors go to `watch` from now on.
    pub(crate) fn watch_brokers(&self, watch: Arc<BrokerWatch>) {
        let _ = self.watch.set(watch);
    }

    /// Report each assigned partition's lag to `meter` from now on.
    pub(crate) fn report_lag_to(&self, meter: Arc<StreamMeter>) {
        let _ = self.meter.set(meter);
    }
}

impl ClientContext for GroupContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if let (KafkaError::Global(RDKafkaErrorCode::AllBrokersDown), Some(watch)) =
            (&error, self.watch.get())
        {
            watch.saw_down(reason);
        }
        log_client_error(error, reason);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        if let Some(watch) = self.watch.get() {
            watch.saw_stats(statistics);
        }
        if self.meter.get().is_some() {
            match serde_json::from_slice::<Statistics>(statistics) {
                Ok(statistics) => self.stats(statistics),
                Err(e) => tracing::debug!("librdkafka statistics: {e}"),
            }
        }
    }

    /// librdkafka's periodic statistics (`statistics.interval.ms`, served by
    /// the stream's own poll): keep the lag of the partitions this member
    /// fetches. Lag is the last stable offset (what `read_committed` can read)
    /// minus the position handed to the loop, so it means the same in both
    /// delivery modes (transactional commits do not show as `committed_offset`);
    /// before the first record, librdkafka's own `consumer_lag`; unknown is
    /// left out, and all of it is unknown while the broker does not answer.
    fn stats(&self, statistics: Statistics) {
        let Some(meter) = self.meter.get() else {
            return;
        };
        if let Some(watch) = self.watch.get()
            && !watch.answering(ANSWER_WINDOW)
        {
            // The offsets are the last the broker told: stale, so unknown.
            meter.set_lag(Vec::new());
            return;
        }
        let mut lag = Vec::new();
        for (topic, t) in &statistics.topics {
            for (&partition, p) in &t.partitions {
                if partition < 0 || !p.desired {
                    continue;
                }
                let end = if p.ls_offset >= 0 {
                    p.ls_offset
                } else {
                    p.hi_offset
                };
                let behind = if p.app_offset >= 0 && end >= 0 {
                    (end - p.app_offset).max(0)
                } else if p.consumer_lag >= 0 {
                    p.consumer_lag
                } else {
                    continue;
                };
                lag.push((topic.clone(), partition, behind));
            }
        }
        lag.sort();
        meter.set_lag(lag);
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                tracing::info!(
                    partitions = partitions.count(),
                    "partitions revoked: committing first"
                );
                if let Some(delivery) = self.delivery.get() {
                    delivery.on_revoke(consumer);
                }
            }
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = partitions.count(), "partitions assigned")
            }
            Rebalance::Error(e) => tracing::warn!("rebalance error: {e}"),
        }
    }
}

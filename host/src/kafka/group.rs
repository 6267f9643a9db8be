//! The stream consumer's context: logs client errors and commits (or aborts)
//! through the delivery mode before partitions are revoked, so a rebalance
//! never hands another member inputs whose outputs are in flight here; and
//! feeds librdkafka's statistics and errors to the [`BrokerWatch`].

use std::sync::{Arc, OnceLock};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;

use rdkafka::types::RDKafkaErrorCode;

use super::broker_watch::BrokerWatch;
use super::clients::log_client_error;
use super::delivery::Delivery;

/// The consumer's context: commits (or aborts) before partitions are revoked.
#[derive(Default)]
pub(crate) struct GroupContext {
    delivery: OnceLock<Arc<dyn Delivery<GroupContext>>>,
    /// Broker reachability, from this consumer's statistics and errors.
    watch: OnceLock<Arc<BrokerWatch>>,
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

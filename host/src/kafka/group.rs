//! The stream consumer's context: logs client errors and commits (or aborts)
//! through the delivery mode before partitions are revoked, so a rebalance
//! never hands another member inputs whose outputs are in flight here.

use std::sync::{Arc, OnceLock};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;

use super::clients::log_client_error;
use super::delivery::Delivery;

/// The consumer's context: commits (or aborts) before partitions are revoked.
#[derive(Default)]
pub(crate) struct GroupContext {
    delivery: OnceLock<Arc<dyn Delivery<GroupContext>>>,
}

impl GroupContext {
    /// Revocations commit through `delivery` from now on.
    pub(crate) fn attach(&self, delivery: Arc<dyn Delivery<GroupContext>>) {
        let _ = self.delivery.set(delivery);
    }
}

impl ClientContext for GroupContext {
    fn error(&self, error: KafkaError, reason: &str) {
        log_client_error(error, reason);
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

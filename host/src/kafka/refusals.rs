//! A producer context that counts the records the broker refused and logs
//! the first, for the producers outside the stream (changelog publish,
//! `generate --topic`), so no record is lost without a word.

use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::ClientContext;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::ProducerContext;

/// Refused deliveries of one producer; `what` names its records in the log.
pub struct Refusals {
    what: &'static str,
    count: AtomicU64,
}

impl Refusals {
    /// `what`: the records, as the warning names them (e.g. "a record").
    pub fn new(what: &'static str) -> Self {
        Self {
            what,
            count: AtomicU64::new(0),
        }
    }

    /// How many deliveries the broker refused so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl ClientContext for Refusals {}

impl ProducerContext for Refusals {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result
            && self.count.fetch_add(1, Ordering::Relaxed) == 0
        {
            tracing::warn!("{} was refused by the broker: {e}", self.what);
        }
    }
}

//! The producer a delivery mode writes with, replaced whole when it goes
//! fatal (see `Delivery::replace_producer`): callers take the current one
//! for each step, so a step never mixes two producers.

use std::sync::{Arc, PoisonError, RwLock};

use super::super::records::EnricherProducer;

pub(super) struct SwappableProducer(RwLock<Arc<EnricherProducer>>);

impl SwappableProducer {
    pub(super) fn new(producer: Arc<EnricherProducer>) -> Self {
        Self(RwLock::new(producer))
    }

    /// The producer to use now.
    pub(super) fn current(&self) -> Arc<EnricherProducer> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Use `fresh` from now on.
    pub(super) fn swap(&self, fresh: Arc<EnricherProducer>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = fresh;
    }
}

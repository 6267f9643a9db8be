//! The claims store behind the cache: a small trait, so the DuckDB store and
//! the fault-injecting stores of tests and benchmarks plug in the same way.

use std::sync::Arc;

use super::ClaimRow;
use crate::error::StoreError;

/// Stops the query a store is running right now (called from another thread
/// when a lookup runs out of time).
pub type Interrupter = Arc<dyn Fn() + Send + Sync>;

/// A source of claim rows. Runs on the lookup's own worker thread.
pub trait ClaimsStore: Send {
    /// The rows for those of `ids` that exist, in any order, in ONE query.
    fn fetch(&mut self, ids: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError>;

    /// Every row (for the full cache).
    fn fetch_all(&mut self) -> Result<Vec<(String, ClaimRow)>, StoreError>;

    /// A way to interrupt a running query, if the store has one.
    fn interrupter(&self) -> Option<Interrupter> {
        None
    }
}

impl<S: ClaimsStore + ?Sized> ClaimsStore for Box<S> {
    fn fetch(&mut self, ids: &[String]) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        (**self).fetch(ids)
    }

    fn fetch_all(&mut self) -> Result<Vec<(String, ClaimRow)>, StoreError> {
        (**self).fetch_all()
    }

    fn interrupter(&self) -> Option<Interrupter> {
        (**self).interrupter()
    }
}

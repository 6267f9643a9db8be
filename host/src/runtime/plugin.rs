//! A loaded plugin ([`Plugin`]: a compiled, linked, pre-instantiated
//! component and what it reported about itself) and its instances
//! ([`PluginInstance`]: one store each, the sandbox armed per call).
//!
//! Instantiating takes ~0.1 ms, so a trapped instance is simply thrown away
//! and replaced by the caller.

use std::sync::Arc;

use wasmtime::Store;

use super::imports::HostState;
use super::sandbox::EpochTicker;
use super::settings::PluginSettings;
use super::world::WitVersion;
use crate::bindings::{
    BatchContext, BatchError, Enricher, EnricherPre, InputRecord, OutputRecord, PluginInfo,
};
use crate::error::PluginError;
use crate::lookup::ClaimsLookup;

/// A loaded plugin, ready to instantiate.
#[derive(Clone)]
pub struct Plugin {
    pub(super) pre: EnricherPre<HostState>,
    /// Keeps the epoch ticking while this plugin may run.
    pub(super) _ticker: Arc<EpochTicker>,
    pub(super) settings: PluginSettings,
    pub(super) info: PluginInfo,
    /// The WIT package version it was built against.
    pub(super) world: WitVersion,
    /// Where it came from (a path, "built-in", a deployment), for messages.
    pub(super) source: String,
}

/// One live instance: a store plus the world's exports in it.
pub struct PluginInstance {
    store: Store<HostState>,
    bindings: Enricher,
}

impl Plugin {
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The WIT package version it was built against.
    pub fn world(&self) -> WitVersion {
        self.world
    }

    /// `name@version`, how deployments name it.
    pub fn key(&self) -> String {
        format!("{}@{}", self.info.name, self.info.version)
    }

    /// The same plugin under another name (`enricher plugin deploy --name`).
    pub fn renamed(mut self, name: &str) -> Self {
        self.info.name = name.to_owned();
        self
    }

    /// A fresh instance whose `claims` import is served by `lookup`
    /// (without one, every lookup answers "unavailable").
    pub fn instantiate(
        &self,
        lookup: Option<Arc<ClaimsLookup>>,
    ) -> Result<PluginInstance, PluginError> {
        let state = HostState::new(lookup, self.info.name.clone(), &self.settings);
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_callback(|ctx| Ok(ctx.data().clock.on_tick()));
        store.data_mut().clock.restart();
        store.set_epoch_deadline(store.data().clock.ticks_left());
        if self.settings.count_operators {
            store
                .set_fuel(u64::MAX)
                .map_err(|e| PluginError::Trap(format!("counting operators: {e:#}")))?;
        }
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| PluginError::Trap(format!("instantiating {}: {e:#}", self.source)))?;
        Ok(PluginInstance { store, bindings })
    }
}

impl PluginInstance {
    /// Start the CPU clock of a call.
    fn begin_call(&mut self) {
        self.store.data_mut().limits.reset();
        self.store.data_mut().stale_claims.clear();
        self.store.data_mut().clock.restart();
        let ticks = self.store.data().clock.ticks_left();
        self.store.set_epoch_deadline(ticks);
    }

    pub fn info(&mut self) -> Result<PluginInfo, PluginError> {
        self.begin_call();
        let result = self
            .bindings
            .payments_enrichment_transform()
            .call_info(&mut self.store);
        result.map_err(|e| self.trap(&e))
    }

    /// Run one batch. `Err(Trap)` means this instance is unusable: drop it.
    pub fn process_batch(
        &mut self,
        context: BatchContext,
        records: &[InputRecord],
    ) -> Result<Vec<OutputRecord>, PluginError> {
        self.begin_call();
        let result = self
            .bindings
            .payments_enrichment_transform()
            .call_process_batch(&mut self.store, context, records);
        result
            .map_err(|e| self.trap(&e))?
            .map_err(|BatchError::Internal(why)| PluginError::Batch(why))
    }

    /// WASM operators run so far in this instance, when the engine counts them
    /// (`PluginSettings::count_operators`).
    pub fn operators_run(&self) -> Option<u64> {
        self.store.get_fuel().ok().map(|left| u64::MAX - left)
    }

    /// The claim ids the last call was answered from expired cache rows
    /// (serve-stale: the store was failing), each once.
    pub fn take_stale_claims(&mut self) -> Vec<String> {
        let mut ids = std::mem::take(&mut self.store.data_mut().stale_claims);
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// A trap of the current call, naming the memory cap if a growth past it was refused.
    fn trap(&self, e: &wasmtime::Error) -> PluginError {
        match self.store.data().limits.refusal() {
            Some(cap) => PluginError::Trap(format!("{cap}: {e:#}")),
            None => PluginError::Trap(format!("{e:#}")),
        }
    }
}

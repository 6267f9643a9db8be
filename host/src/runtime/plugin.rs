//! A loaded plugin ([`Plugin`]: a compiled, linked, pre-instantiated
//! component and what it reported about itself) and its instances
//! ([`PluginInstance`]: one store each, the sandbox armed per call).
//!
//! Instantiating takes ~0.1 ms, so a trapped instance is simply thrown away
//! and replaced by the caller.
//!
//! Both forms run a batch of input records into output records: a raw
//! plugin (`transform`) itself, a typed one (`typed-transform`) between the
//! host's [`TypedBatch`] read and write, so the caller sees one path.

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::InstancePre;

use super::imports::HostState;
use super::sandbox::EpochTicker;
use super::settings::PluginSettings;
use super::world::{PluginForm, WitVersion};
use crate::bindings::exports::payments::enrichment::{transform, typed_transform};
use crate::bindings::{BatchContext, BatchError, InputRecord, OutputRecord, PluginInfo};
use crate::error::PluginError;
use crate::lookup::ClaimsLookup;
use crate::typed::TypedBatch;

/// Where a component's transform is, by form.
#[derive(Clone)]
pub(super) enum Exports {
    Raw(transform::GuestIndices),
    Typed(typed_transform::GuestIndices),
}

/// A live instance's transform.
enum Bound {
    Raw(transform::Guest),
    /// With the buffers of its calls.
    Typed(typed_transform::Guest, Box<TypedBatch>),
}

/// A loaded plugin, ready to instantiate.
#[derive(Clone)]
pub struct Plugin {
    pub(super) pre: InstancePre<HostState>,
    pub(super) exports: Exports,
    /// Raw bytes or typed records.
    pub(super) form: PluginForm,
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
    bound: Bound,
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

    /// Whether it is a raw-bytes or a typed plugin.
    pub fn form(&self) -> PluginForm {
        self.form
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
        let failed =
            |e: wasmtime::Error| PluginError::Trap(format!("instantiating {}: {e:#}", self.source));
        let instance = self.pre.instantiate(&mut store).map_err(failed)?;
        let bound = match &self.exports {
            Exports::Raw(indices) => {
                Bound::Raw(indices.load(&mut store, &instance).map_err(failed)?)
            }
            Exports::Typed(indices) => Bound::Typed(
                indices.load(&mut store, &instance).map_err(failed)?,
                Box::default(),
            ),
        };
        Ok(PluginInstance { store, bound })
    }
}

impl PluginInstance {
    pub fn info(&mut self) -> Result<PluginInfo, PluginError> {
        begin_call(&mut self.store);
        let result = match &self.bound {
            Bound::Raw(guest) => guest.call_info(&mut self.store),
            Bound::Typed(guest, _) => guest.call_info(&mut self.store),
        };
        result.map_err(|e| trap(&self.store, &e))
    }

    /// Run one batch. `Err(Trap)` means this instance is unusable: drop it.
    pub fn process_batch(
        &mut self,
        context: BatchContext,
        records: &[InputRecord],
    ) -> Result<Vec<OutputRecord>, PluginError> {
        let store = &mut self.store;
        match &mut self.bound {
            Bound::Raw(guest) => {
                begin_call(store);
                let result = guest.call_process_batch(&mut *store, context, records);
                result
                    .map_err(|e| trap(store, &e))?
                    .map_err(|BatchError::Internal(why)| PluginError::Batch(why))
            }
            Bound::Typed(guest, batch) => {
                // Parsing and the lookup are the host's: not on the plugin's CPU clock.
                batch.read(records, store.data().lookup.as_deref());
                begin_call(store);
                store.data_mut().stale_claims.extend(batch.take_stale());
                let result = guest.call_process_payments(
                    &mut *store,
                    context,
                    batch.text(),
                    batch.payments(),
                );
                let outcomes = result.map_err(|e| trap(store, &e))?.map_err(
                    |typed_transform::BatchError::Internal(why)| PluginError::Batch(why),
                )?;
                Ok(batch.write(records, &outcomes, context.processing_time_ms))
            }
        }
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
}

/// Start the CPU clock of a call.
fn begin_call(store: &mut Store<HostState>) {
    store.data_mut().limits.reset();
    store.data_mut().stale_claims.clear();
    store.data_mut().clock.restart();
    let ticks = store.data().clock.ticks_left();
    store.set_epoch_deadline(ticks);
}

/// A trap of the current call, naming the memory cap if a growth past it was refused.
fn trap(store: &Store<HostState>, e: &wasmtime::Error) -> PluginError {
    match store.data().limits.refusal() {
        Some(cap) => PluginError::Trap(format!("{cap}: {e:#}")),
        None => PluginError::Trap(format!("{e:#}")),
    }
}

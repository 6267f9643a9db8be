//! Plugins: one wasmtime engine, loading and checking a component against the
//! world, pre-instantiating it once, and cheap instances that run batches.
//!
//! A [`Plugin`] is a compiled, linked component (`EnricherPre`): instantiating
//! it takes ~0.1 ms, so a trapped instance is simply thrown away and replaced.

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store};

use crate::bindings::{BatchContext, Enricher, EnricherPre, InputRecord, OutputRecord, PluginInfo};
use crate::error::PluginError;
use crate::host_api::HostState;
use crate::lookup::ClaimsLookup;

/// The plugin built with this host (`guest/`), compiled by `host/build.rs`.
pub const DEFAULT_PLUGIN: &[u8] = include_bytes!(env!("ENRICHER_DEFAULT_PLUGIN"));

/// The wasmtime engine and the linker holding the host's imports.
pub struct PluginEngine {
    engine: Engine,
    linker: Linker<HostState>,
}

/// A loaded plugin, ready to instantiate.
#[derive(Clone)]
pub struct Plugin {
    pre: EnricherPre<HostState>,
    info: PluginInfo,
    /// Where it came from (a path, or "built-in"), for messages.
    source: String,
}

/// One live instance: a store plus the world's exports in it.
pub struct PluginInstance {
    store: Store<HostState>,
    bindings: Enricher,
}

impl PluginEngine {
    pub fn new() -> Result<Self, PluginError> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        // `perf` can name JIT-compiled plugin functions with a perf map (for profiling).
        if std::env::var_os("ENRICHER_PERF_MAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(|e| incompatible("engine", &e))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| incompatible("wasi", &e))?;
        Enricher::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| incompatible("linker", &e))?;
        Ok(Self { engine, linker })
    }

    /// Load a `.wasm` component from a file.
    pub fn load_file(&self, path: &Path) -> Result<Plugin, PluginError> {
        let bytes = std::fs::read(path).map_err(|source| PluginError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.load_bytes(&path.display().to_string(), &bytes)
    }

    /// The plugin built with this host.
    pub fn load_default(&self) -> Result<Plugin, PluginError> {
        self.load_bytes("built-in", DEFAULT_PLUGIN)
    }

    /// Compile, link against the world, instantiate once and ask for its name and version.
    pub fn load_bytes(&self, source: &str, bytes: &[u8]) -> Result<Plugin, PluginError> {
        let component =
            Component::new(&self.engine, bytes).map_err(|e| incompatible(source, &e))?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| incompatible(source, &e))?;
        let pre = EnricherPre::new(instance_pre).map_err(|e| incompatible(source, &e))?;
        let mut plugin = Plugin {
            pre,
            info: PluginInfo {
                name: source.to_owned(),
                version: "unknown".into(),
            },
            source: source.to_owned(),
        };
        let mut probe = plugin.instantiate(None)?;
        plugin.info = probe.info()?;
        Ok(plugin)
    }
}

impl Plugin {
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// A fresh instance whose `claims` import is served by `lookup`
    /// (without one, every lookup answers "unavailable").
    pub fn instantiate(
        &self,
        lookup: Option<Arc<ClaimsLookup>>,
    ) -> Result<PluginInstance, PluginError> {
        let state = HostState::new(lookup, self.info.name.clone());
        let mut store = Store::new(self.pre.engine(), state);
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| PluginError::Trap(format!("instantiating {}: {e:#}", self.source)))?;
        Ok(PluginInstance { store, bindings })
    }
}

impl PluginInstance {
    pub fn info(&mut self) -> Result<PluginInfo, PluginError> {
        self.bindings
            .payments_enrichment_transform()
            .call_info(&mut self.store)
            .map_err(|e| PluginError::Trap(format!("{e:#}")))
    }

    /// Run one batch. `Err(Trap)` means this instance is unusable: drop it.
    pub fn process_batch(
        &mut self,
        context: BatchContext,
        records: &[InputRecord],
    ) -> Result<Vec<OutputRecord>, PluginError> {
        self.bindings
            .payments_enrichment_transform()
            .call_process_batch(&mut self.store, context, records)
            .map_err(|e| PluginError::Trap(format!("{e:#}")))?
            .map_err(|crate::bindings::BatchError::Internal(why)| PluginError::Batch(why))
    }
}

fn incompatible(source: &str, e: &wasmtime::Error) -> PluginError {
    PluginError::Incompatible {
        name: source.to_owned(),
        message: format!("{e:#}"),
    }
}

//! Plugins: one wasmtime engine, loading and checking a component against the
//! world, pre-instantiating it once, and cheap instances that run batches.
//!
//! A [`Plugin`] is a compiled, linked component (`EnricherPre`): instantiating
//! it takes ~0.1 ms, so a trapped instance is simply thrown away and replaced.
//! Every instance runs in the sandbox of [`crate::sandbox`] and gets the
//! operator's plugin parameters ([`PluginSettings`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store};

use crate::bindings::{BatchContext, Enricher, EnricherPre, InputRecord, OutputRecord, PluginInfo};
use crate::config::PluginConfig;
use crate::error::PluginError;
use crate::host_api::HostState;
use crate::lookup::ClaimsLookup;
use crate::sandbox::{EpochTicker, SandboxLimits};

mod world;
pub use world::{PACKAGE as WIT_PACKAGE, WitVersion, check_world};

/// The plugin built with this host (`guest/`), compiled by `host/build.rs`.
pub const DEFAULT_PLUGIN: &[u8] = include_bytes!(env!("ENRICHER_DEFAULT_PLUGIN"));

/// The wasmtime engine and the linker holding the host's imports.
pub struct PluginEngine {
    engine: Engine,
    linker: Linker<HostState>,
    /// Drives the CPU deadline; lives as long as any plugin of this engine.
    ticker: Arc<EpochTicker>,
    settings: PluginSettings,
}

/// What every instance gets: its sandbox limits and the operator's parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginSettings {
    pub limits: SandboxLimits,
    /// `[plugin.params]`, answered by the `config` import.
    pub params: Arc<BTreeMap<String, String>>,
}

impl From<&PluginConfig> for PluginSettings {
    fn from(c: &PluginConfig) -> Self {
        Self {
            limits: c.into(),
            params: Arc::new(c.params.clone()),
        }
    }
}

/// A loaded plugin, ready to instantiate.
#[derive(Clone)]
pub struct Plugin {
    pre: EnricherPre<HostState>,
    _ticker: Arc<EpochTicker>,
    settings: PluginSettings,
    info: PluginInfo,
    /// The WIT package version it was built against.
    world: WitVersion,
    /// Where it came from (a path, "built-in", a deployment), for messages.
    source: String,
}

/// One live instance: a store plus the world's exports in it.
pub struct PluginInstance {
    store: Store<HostState>,
    bindings: Enricher,
}

impl PluginEngine {
    /// An engine with the default sandbox limits and no plugin parameters.
    pub fn new() -> Result<Self, PluginError> {
        Self::with_settings(PluginSettings::default())
    }

    pub fn with_settings(settings: PluginSettings) -> Result<Self, PluginError> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        // `perf` can name JIT-compiled plugin functions with a perf map (for profiling).
        if std::env::var_os("ENRICHER_PERF_MAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(|e| incompatible("engine", &e))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| incompatible("wasi", &e))?;
        Enricher::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| incompatible("linker", &e))?;
        let ticker = Arc::new(EpochTicker::start(&engine));
        Ok(Self {
            engine,
            linker,
            ticker,
            settings,
        })
    }

    /// Load a `.wasm` component from a file.
    pub fn load_file(&self, path: &Path) -> Result<Plugin, PluginError> {
        self.load_bytes(&path.display().to_string(), &read_component(path)?)
    }

    /// The plugin built with this host.
    pub fn load_default(&self) -> Result<Plugin, PluginError> {
        self.load_bytes("built-in", DEFAULT_PLUGIN)
    }

    /// Compile, link against the world, instantiate once and ask for its name and version.
    pub fn load_bytes(&self, source: &str, bytes: &[u8]) -> Result<Plugin, PluginError> {
        let component =
            Component::new(&self.engine, bytes).map_err(|e| incompatible(source, &e))?;
        let world =
            check_world(&self.engine, &component).map_err(|message| PluginError::Incompatible {
                name: source.to_owned(),
                message,
            })?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| incompatible(source, &e))?;
        let pre = EnricherPre::new(instance_pre).map_err(|e| incompatible(source, &e))?;
        let mut plugin = Plugin {
            pre,
            _ticker: Arc::clone(&self.ticker),
            settings: self.settings.clone(),
            world,
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
        self.store.data_mut().clock.restart();
        let ticks = self.store.data().clock.ticks_left();
        self.store.set_epoch_deadline(ticks);
    }

    pub fn info(&mut self) -> Result<PluginInfo, PluginError> {
        self.begin_call();
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
        self.begin_call();
        self.bindings
            .payments_enrichment_transform()
            .call_process_batch(&mut self.store, context, records)
            .map_err(|e| PluginError::Trap(format!("{e:#}")))?
            .map_err(|crate::bindings::BatchError::Internal(why)| PluginError::Batch(why))
    }
}

/// The bytes of a `.wasm` component file.
pub fn read_component(path: &Path) -> Result<Vec<u8>, PluginError> {
    std::fs::read(path).map_err(|source| PluginError::Read {
        path: path.to_owned(),
        source,
    })
}

fn incompatible(source: &str, e: &wasmtime::Error) -> PluginError {
    PluginError::Incompatible {
        name: source.to_owned(),
        message: format!("{e:#}"),
    }
}

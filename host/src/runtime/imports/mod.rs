//! The host side of the world's imports, one file per imported interface,
//! and [`HostState`], the per-instance store data they share.
//!
//! - [`claims`]: `claims.lookup`, served by the cached claims lookup;
//! - [`logging`]: `logging.log`, into the host's `tracing` logs;
//! - [`config`]: `config.get`, the operator's `[plugin.params]`;
//! - [`wasi`]: the WASI p2 a `wasm32-wasip2` guest imports, and what it grants.

mod claims;
mod config;
mod logging;
mod wasi;

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::WasiCtx;

use super::sandbox::{CallClock, MemoryCap};
use super::settings::PluginSettings;
use crate::bindings::{PluginHost, payments};
use crate::log_limit::LogLimit;
use crate::lookup::ClaimsLookup;

/// A plugin instance's log lines: this many per second after a burst of `PLUGIN_LOG_BURST`.
const PLUGIN_LOG_LINES_PER_SECOND: f64 = 20.0;
const PLUGIN_LOG_BURST: u32 = 100;

/// Store data of one plugin instance.
pub(crate) struct HostState {
    /// The claims lookup the `claims` import is served from (shared by all instances).
    pub(crate) lookup: Option<Arc<ClaimsLookup>>,
    /// The plugin's name, for log lines.
    plugin_name: String,
    /// The operator's `[plugin.params]`, answered by `config.get`.
    params: Arc<BTreeMap<String, String>>,
    /// WASI as [`wasi`] describes it: no files, network, env or args; fixed clocks and random.
    wasi: WasiCtx,
    table: ResourceTable,
    /// The memory cap (wasmtime asks it before each growth).
    pub(crate) limits: MemoryCap,
    /// CPU time of the current call, host calls excluded.
    pub(crate) clock: CallClock,
    /// Claim ids answered from an expired cache row during the current call
    /// (serve-stale), so the outputs that used them can be marked.
    pub(crate) stale_claims: Vec<String>,
    /// How many of the plugin's log lines reach the host's log.
    log_limit: LogLimit,
}

impl HostState {
    pub(crate) fn new(
        lookup: Option<Arc<ClaimsLookup>>,
        plugin_name: String,
        settings: &PluginSettings,
    ) -> Self {
        Self {
            lookup,
            plugin_name,
            params: Arc::clone(&settings.params),
            wasi: wasi::deterministic_ctx(),
            table: ResourceTable::new(),
            limits: MemoryCap::new(&settings.limits),
            clock: CallClock::new(settings.limits.cpu_deadline),
            stale_claims: Vec::new(),
            log_limit: LogLimit::new(PLUGIN_LOG_LINES_PER_SECOND, PLUGIN_LOG_BURST),
        }
    }
}

/// Put the world's imports (and the WASI a std guest imports) into `linker`.
pub(crate) fn add_imports(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasi::add_to_linker(linker)?;
    PluginHost::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

impl payments::enrichment::types::Host for HostState {}

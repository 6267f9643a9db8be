//! The wasmtime engine and the linker holding the host's imports: loading a
//! component, checking its world version, pre-instantiating it once and
//! asking its name and version ([`PluginEngine::load_bytes`]); compiled
//! components come from the on-disk cache when one is configured.

use std::path::Path;
use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::compile_cache::{CacheRefused, CompileCache, DEFAULT_MAX_BYTES};
use super::imports::{HostState, add_imports};
use super::plugin::Exports;
use super::plugin::Plugin;
use super::sandbox::EpochTicker;
use super::settings::PluginSettings;
use super::world::{PluginForm, check_world};
use crate::bindings::PluginInfo;
use crate::bindings::exports::payments::enrichment::{transform, typed_transform};
use crate::error::PluginError;

/// The plugin built with this host, run when no other is given: the
/// enrichment on the typed world (`plugins/typed/`, `payment-enrichment@0.1.1`),
/// compiled by `host/build.rs`.
pub const DEFAULT_PLUGIN: &[u8] = include_bytes!(env!("ENRICHER_DEFAULT_PLUGIN"));
/// The same enrichment as a raw-bytes plugin on the SDK (`guest/`,
/// `payment-enrichment@0.1.1+raw`): the reference the typed one is checked
/// and benchmarked against, compiled by `host/build.rs`.
pub const RAW_PLUGIN: &[u8] = include_bytes!(env!("ENRICHER_RAW_PLUGIN"));

/// The wasmtime engine and the linker holding the host's imports.
pub struct PluginEngine {
    engine: Engine,
    linker: Linker<HostState>,
    /// Drives the CPU deadline; lives as long as any plugin of this engine.
    ticker: Arc<EpochTicker>,
    settings: PluginSettings,
    /// Compiled components on disk (`settings.compile_cache`), if any.
    cache: Option<CompileCache>,
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
        let perf_map = std::env::var_os("ENRICHER_PERF_MAP").is_some();
        if perf_map {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if settings.count_operators {
            config.consume_fuel(true);
        }
        let engine = Engine::new(&config).map_err(|e| incompatible("engine", &e))?;
        // Every setting above, so a change to them keys other cache entries.
        let mut flags = format!("component-model,epoch-interruption,perf-map={perf_map}");
        if settings.count_operators {
            flags.push_str(",fuel");
        }
        let cache = match settings.compile_cache.clone() {
            None => None,
            Some(dir) => match CompileCache::new(dir.clone(), &engine, &flags, DEFAULT_MAX_BYTES) {
                Ok(cache) => Some(cache),
                Err(CacheRefused::Unsafe(why)) => return Err(PluginError::UnsafeCache(why)),
                Err(CacheRefused::Unavailable(why)) => {
                    tracing::warn!(dir = %dir.display(), %why, "no compiled plugin cache: compiling every plugin");
                    None
                }
            },
        };
        let mut linker = Linker::new(&engine);
        add_imports(&mut linker).map_err(|e| incompatible("linker", &e))?;
        let ticker = Arc::new(EpochTicker::start(&engine));
        Ok(Self {
            engine,
            linker,
            ticker,
            settings,
            cache,
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

    /// The built-in enrichment as a raw-bytes plugin ([`RAW_PLUGIN`]).
    pub fn load_raw(&self) -> Result<Plugin, PluginError> {
        self.load_bytes("built-in raw", RAW_PLUGIN)
    }

    /// Compile, check its world (raw or typed, and the version), link,
    /// instantiate once and ask for its name and version.
    pub fn load_bytes(&self, source: &str, bytes: &[u8]) -> Result<Plugin, PluginError> {
        let component = self
            .compile(source, bytes)
            .map_err(|e| incompatible(source, &e))?;
        let (form, world) =
            check_world(&self.engine, &component).map_err(|message| PluginError::Incompatible {
                name: source.to_owned(),
                message,
            })?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| incompatible(source, &e))?;
        let exports = match form {
            PluginForm::Raw => transform::GuestIndices::new(&pre).map(Exports::Raw),
            PluginForm::Typed => typed_transform::GuestIndices::new(&pre).map(Exports::Typed),
        }
        .map_err(|e| incompatible(source, &e))?;
        let mut plugin = Plugin {
            pre,
            exports,
            form,
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

    /// The compiled component: from the cache when there is one, else compiled now.
    fn compile(&self, source: &str, bytes: &[u8]) -> wasmtime::Result<Component> {
        let Some(cache) = &self.cache else {
            return Component::new(&self.engine, bytes);
        };
        let started = std::time::Instant::now();
        let (component, outcome) = cache.load(&self.engine, bytes)?;
        tracing::debug!(plugin = source, ?outcome, took_ms = started.elapsed().as_millis() as u64,
            cache = %cache.dir().display(), "compiled plugin");
        Ok(component)
    }
}

/// The bytes of a `.wasm` component file.
pub fn read_component(path: &Path) -> Result<Vec<u8>, PluginError> {
    std::fs::read(path).map_err(|error| PluginError::Read {
        path: path.to_owned(),
        error,
    })
}

fn incompatible(source: &str, e: &wasmtime::Error) -> PluginError {
    PluginError::Incompatible {
        name: source.to_owned(),
        message: one_line(&format!("{e:#}")),
    }
}

/// wasmtime's messages may span lines (a parser's context, "Caused by:"
/// sections): one line, for a 422 answer and a log line.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "Caused by:")
        .collect();
    lines.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_bytes_are_refused_in_one_line() {
        let engine = PluginEngine::with_settings(PluginSettings::default()).expect("engine");
        for garbage in [
            &b"garbage bytes, not a component"[..],
            b"\0asm\x01\0\0\0\xff\xff",
            b"",
        ] {
            let Err(PluginError::Incompatible { message, .. }) =
                engine.load_bytes("upload", garbage)
            else {
                panic!("{garbage:?} was taken");
            };
            assert!(
                !message.is_empty() && !message.contains('\n'),
                "{garbage:?}: {message:?}"
            );
        }
        assert_eq!(one_line("a\n\nCaused by:\n    b\n"), "a; b");
    }
}

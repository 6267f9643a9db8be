//! Wiring shared by the commands: config → claims lookup → plugin → pipeline.

use std::sync::Arc;

use crate::config::Config;
use crate::error::StartError;
use crate::lookup::ClaimsLookup;
use crate::lookup::duckdb_store::DuckDbStore;
use crate::lookup::fetch::FetchError;
use crate::pipeline::Pipeline;
use crate::plugin::{Plugin, PluginEngine};

/// Open the claims database the config names and start the lookup over it.
pub fn open_lookup(config: &Config) -> Result<Arc<ClaimsLookup>, StartError> {
    let path = config.duckdb.path()?;
    let store = DuckDbStore::open(path.as_deref(), config.duckdb.threads)?;
    // Fail fast on a database without a usable claims table.
    let rows = store.count()?;
    tracing::info!(db = %config.duckdb.url, rows, cache = ?config.lookup.cache, "claims store opened");
    let lookup = ClaimsLookup::start(Box::new(store), &config.lookup).map_err(|e| match e {
        FetchError::Unavailable(why) | FetchError::Timeout(why) => StartError::Lookup(why),
    })?;
    Ok(Arc::new(lookup))
}

/// The plugin the config names, or the one built with the host.
pub fn load_plugin(engine: &PluginEngine, config: &Config) -> Result<Plugin, StartError> {
    let plugin = match &config.plugin.path {
        Some(path) => engine.load_file(path)?,
        None => engine.load_default()?,
    };
    let info = plugin.info();
    tracing::info!(name = %info.name, version = %info.version, source = plugin.source(), "plugin loaded");
    Ok(plugin)
}

/// Everything `enricher run` needs.
pub fn build_pipeline(config: &Config) -> Result<Pipeline, StartError> {
    let engine = PluginEngine::new()?;
    let plugin = load_plugin(&engine, config)?;
    let lookup = open_lookup(config)?;
    Ok(Pipeline::new(
        plugin,
        lookup,
        config.pipeline.max_record_bytes,
    ))
}

/// The pipeline for file mode, where headers are not kept.
pub fn build_file_pipeline(config: &Config) -> Result<Pipeline, StartError> {
    Ok(build_pipeline(config)?.without_plugin_headers())
}

//! The plugin a run starts on: the component the config names (or the one
//! built with the host), its signature checked when signed plugins are
//! required, loaded into an engine, and the pipeline over it and the claims
//! lookup.

use super::StartError;
use super::claims::open_lookup;
use crate::config::Config;
use crate::deploy::signature::{TrustedKeys, signature_path};
use crate::pipeline::{NativeStep, Pipeline};
use crate::runtime::{DEFAULT_PLUGIN, Plugin, PluginEngine, read_component};

/// The component bytes the config names, or those of the plugin built with the host.
pub fn plugin_bytes(config: &Config) -> Result<(String, Vec<u8>), StartError> {
    match &config.plugin.path {
        Some(path) => Ok((path.display().to_string(), read_component(path)?)),
        None => Ok(("built-in".into(), DEFAULT_PLUGIN.to_vec())),
    }
}

/// The startup plugin's trust: the keys of `deploy.trusted-keys`, the
/// plugin's signature (`<plugin>.sig`, if there is one) and the key it
/// verified under. When keys are configured, a `--plugin` file must verify;
/// the built-in plugin is trusted as part of the binary.
pub struct StartupTrust {
    pub keys: TrustedKeys,
    pub signature: Option<Vec<u8>>,
    pub signed_by: Option<String>,
}

/// Check the startup plugin (`bytes`) against `deploy.trusted-keys`.
pub fn startup_trust(config: &Config, bytes: &[u8]) -> Result<StartupTrust, StartError> {
    let keys = TrustedKeys::load(&config.deploy.trusted_keys).map_err(StartError::TrustedKeys)?;
    let Some(path) = &config.plugin.path else {
        if keys.required() {
            tracing::info!(keys = ?keys.fingerprints(), "signed plugins required; the built-in plugin is trusted as part of the binary");
        }
        return Ok(StartupTrust {
            keys,
            signature: None,
            signed_by: None,
        });
    };
    let signature = std::fs::read(signature_path(path)).ok();
    let signed_by =
        keys.verify(bytes, signature.as_deref())
            .map_err(|error| StartError::Unsigned {
                plugin: path.display().to_string(),
                error,
            })?;
    if let Some(key) = &signed_by {
        tracing::info!(plugin = %path.display(), signed_by = %key, "plugin signature verified");
    }
    Ok(StartupTrust {
        keys,
        signature,
        signed_by,
    })
}

/// The plugin the config names, or the one built with the host.
pub fn load_plugin(engine: &PluginEngine, config: &Config) -> Result<Plugin, StartError> {
    let (source, bytes) = plugin_bytes(config)?;
    startup_trust(config, &bytes)?;
    let plugin = engine.load_bytes(&source, &bytes)?;
    let info = plugin.info();
    tracing::info!(name = %info.name, version = %info.version, source = plugin.source(), "plugin loaded");
    Ok(plugin)
}

/// Everything `enricher run` needs.
pub fn build_pipeline(config: &Config) -> Result<Pipeline, StartError> {
    let engine = PluginEngine::with_settings((&config.plugin).into())?;
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

/// The file-mode pipeline with `step` run in place of the configured
/// plugin's component (the benchmarks' native baseline, `enricher-bench`);
/// the plugin still names the run in its summary.
pub fn build_native_file_pipeline(
    config: &Config,
    step: NativeStep,
) -> Result<Pipeline, StartError> {
    let engine = PluginEngine::with_settings((&config.plugin).into())?;
    let plugin = load_plugin(&engine, config)?;
    let lookup = open_lookup(config)?;
    Ok(
        Pipeline::native(plugin, step, lookup, config.pipeline.max_record_bytes)
            .without_plugin_headers(),
    )
}

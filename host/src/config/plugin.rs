//! The pipeline and plugin parts of the configuration: batching, record size
//! limit, which plugin runs and its sandbox, with the environment variable of
//! each setting.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::values::duration_text;

/// Environment variable of each pipeline and plugin setting: (name, key in the file).
pub(super) const ENV: &[(&str, &str)] = &[
    ("ENRICHER_BATCH_SIZE", "pipeline.batch-size"),
    ("ENRICHER_MAX_RECORD_BYTES", "pipeline.max-record-bytes"),
    ("ENRICHER_MAX_BATCH_WAIT", "pipeline.max-batch-wait"),
    ("ENRICHER_PLUGIN", "plugin.path"),
    (
        "ENRICHER_PLUGIN_MAX_MEMORY_BYTES",
        "plugin.max-memory-bytes",
    ),
    ("ENRICHER_PLUGIN_CPU_DEADLINE", "plugin.cpu-deadline"),
    ("ENRICHER_CACHE_DIR", "plugin.cache-dir"),
    ("ENRICHER_TOOLCHAINS", "plugin.toolchains"),
];

/// Batching and limits on the way through the plugin.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct PipelineConfig {
    /// Records per plugin call. env `ENRICHER_BATCH_SIZE`
    pub batch_size: usize,
    /// Larger input records go to `failed` as RECORD_TOO_LARGE. env `ENRICHER_MAX_RECORD_BYTES`
    pub max_record_bytes: usize,
    /// File mode: records of a slow input wait at most this long for a full
    /// batch, then run and are written (like a Kafka linger). env `ENRICHER_MAX_BATCH_WAIT`
    #[serde(with = "duration_text")]
    pub max_batch_wait: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            max_record_bytes: 1 << 20,
            max_batch_wait: Duration::from_millis(100),
        }
    }
}

/// Which plugin to run, and the sandbox it runs in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginConfig {
    /// A `.wasm` component; unset runs the plugin built with the host. env `ENRICHER_PLUGIN`
    pub path: Option<PathBuf>,
    /// Linear memory one plugin instance may grow to. env `ENRICHER_PLUGIN_MAX_MEMORY_BYTES`
    pub max_memory_bytes: usize,
    /// CPU time one call may spend inside the plugin (host calls such as lookups
    /// excluded); past it the call traps. env `ENRICHER_PLUGIN_CPU_DEADLINE`
    #[serde(with = "duration_text")]
    pub cpu_deadline: Duration,
    /// Parameters the plugin reads through the `config` import (WIT 1.1.0).
    pub params: BTreeMap<String, String>,
    /// Where compiled plugins are cached, so a restart or a deploy check of a
    /// plugin seen before skips compiling; unset: `$XDG_CACHE_HOME/enricher`
    /// (else `$HOME/.cache/enricher`); `off` compiles every time. env `ENRICHER_CACHE_DIR`
    pub cache_dir: Option<PathBuf>,
    /// Where `scripts/plugin-toolchains` installed componentize-py and jco,
    /// for `plugin build` of Python and JS projects (its `--toolchains` wins);
    /// unset: `$HOME/.cache/enricher-toolchains`. env `ENRICHER_TOOLCHAINS`
    pub toolchains: Option<PathBuf>,
}

impl Default for PluginConfig {
    fn default() -> Self {
        // Generous next to real work (a batch of 1,000 takes ~2 ms and a few MiB),
        // tight enough that a runaway plugin is stopped within a second.
        Self {
            path: None,
            max_memory_bytes: 256 << 20,
            cpu_deadline: Duration::from_secs(1),
            params: BTreeMap::new(),
            cache_dir: None,
            toolchains: None,
        }
    }
}

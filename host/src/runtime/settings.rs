//! What every plugin instance gets from the operator: its sandbox limits and
//! the `[plugin.params]` answered by the `config` import.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::sandbox::SandboxLimits;
use crate::config::PluginConfig;

/// What every instance gets: its sandbox limits and the operator's parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginSettings {
    pub limits: SandboxLimits,
    /// `[plugin.params]`, answered by the `config` import.
    pub params: Arc<BTreeMap<String, String>>,
    /// Where compiled components are cached (`None`: compile every time).
    pub compile_cache: Option<PathBuf>,
    /// Count the WASM operators each instance runs (wasmtime's fuel, never
    /// exhausted), for `enricher-bench step --compare`; a measuring aid, not a limit.
    #[doc(hidden)]
    pub count_operators: bool,
}

impl From<&PluginConfig> for PluginSettings {
    fn from(c: &PluginConfig) -> Self {
        Self {
            limits: c.into(),
            params: Arc::new(c.params.clone()),
            compile_cache: match &c.cache_dir {
                Some(dir) if dir.as_os_str() == "off" => None,
                Some(dir) => Some(dir.clone()),
                None => super::compile_cache::default_dir(),
            },
            count_operators: false,
        }
    }
}
